#!/usr/bin/env bash
# The project's test command (README.md; CI runs it through .ci/run). Works on a fresh machine with
# the Rust toolchain, python3 with pip, a C compiler with AddressSanitizer (cc), and apt (for QEMU
# and arm-none-eabi-gcc): it fetches what the tests need first (cbindgen through cargo install).
# Property tests draw the same cases on every run (a fixed seed); a deeper run:
#   PROPTEST_CASES=100000 cargo test --release -p tests --test properties
# The tests must leave the source tree as they found it: checked at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

# What git sees (ignored paths such as target/, .ort/ and .qemu/ excepted); empty outside a clone.
tree_state() { git status --porcelain --untracked-files=all 2>/dev/null || true; }
tree_before=$(tree_state)

echo "== setup"
rustup target add thumbv7em-none-eabihf >/dev/null
rustup component add clippy rustfmt llvm-tools >/dev/null 2>&1 || true

echo "== ONNX Runtime 1.31.1 (CPU build from PyPI, into .ort/)"
scripts/fetch-ort.sh >/dev/null

echo "== format and lints"
python3 scripts/import-cycles.py core/src host/src   # no import cycle; host's stages never reach back
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
(cd firmware && cargo fmt --check && cargo clippy --release -- -D warnings)
(cd firmware/model && cargo fmt --check)
cargo clippy --manifest-path firmware/model/Cargo.toml --all-targets -- -D warnings

echo "== tests"
cargo test --workspace

echo "== examples (Slurm, Kubernetes): parse, fields, flags against the host just built"
CHECK_HOST=target/debug/host examples/check.sh

echo "== core builds for Cortex-M4F (no_std, no alloc)"
cargo build -p diffusion-core --target thumbv7em-none-eabihf --release

echo "== the core without its default features (sigma-schedules off, as the firmwares build it)"
cargo clippy -p diffusion-core --no-default-features --all-targets -- -D warnings
cargo test -p diffusion-core --no-default-features --lib

echo "== firmware on Cortex-M4F (QEMU) vs host: bits, flash, stack"
scripts/firmware-check.sh
scripts/edge-digits-check.sh   # digits on Cortex-M4F (QEMU) vs host twin: bits, flash <= 256 KiB, RAM <= 64 KiB

echo "== C interface: header drift, sanitizer test, C firmware under QEMU vs the Rust firmware"
scripts/capi-check.sh

echo "== the tests left the source tree unchanged"
tree_after=$(tree_state)
if [ "$tree_before" != "$tree_after" ]; then
  echo "FAIL: the source tree changed while the tests ran (git status before, after):"
  diff <(echo "$tree_before") <(echo "$tree_after") || true
  exit 1
fi

echo "== all tests passed"
