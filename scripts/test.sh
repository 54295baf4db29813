#!/usr/bin/env bash
# The project's test command (README.md). Works on a fresh machine with only the Rust toolchain:
# it installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== setup"
rustup target add thumbv7em-none-eabihf >/dev/null
rustup component add clippy rustfmt llvm-tools >/dev/null 2>&1 || true

echo "== ONNX Runtime 1.31.1 (CPU build from PyPI, into .ort/)"
scripts/fetch-ort.sh >/dev/null

echo "== format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
(cd firmware && cargo fmt --check && cargo clippy --release -- -D warnings)
(cd firmware/model && cargo fmt --check)
cargo clippy --manifest-path firmware/model/Cargo.toml --all-targets -- -D warnings

echo "== tests"
cargo test --workspace

echo "== core builds for Cortex-M4F (no_std, no alloc)"
cargo build -p diffusion-core --target thumbv7em-none-eabihf --release

echo "== firmware on Cortex-M4F (QEMU) vs host: bits, flash, stack"
scripts/firmware-check.sh

echo "== all tests passed"
