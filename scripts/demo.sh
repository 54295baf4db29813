#!/usr/bin/env bash
# The demo: fetches ONNX Runtime if needed, builds host, and samples 16 images with DDIM (25 steps)
# from the analytic Gaussian denoiser, writing demo.png and printing the run summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-ort.sh >/dev/null
cargo build --release -p host --quiet
target/release/host --onnx tests/fixtures/gaussian/unet.onnx --steps 25 --num-samples 16 --out demo.png "$@"
