#!/usr/bin/env bash
# The demo: fetches ONNX Runtime if needed, builds host, and samples 64 digits from the shipped
# model (models/digits) with DDIM in 25 steps, writing demo.png (each pixel shown 4x4) and
# printing the run summary. Extra flags go to host (e.g. --seed 7, --scheduler ddpm --steps 1000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-ort.sh >/dev/null
cargo build --release -p host --quiet
target/release/host --onnx models/digits/unet.onnx --steps 25 --num-samples 64 --png-scale 4 --out demo.png "$@"
