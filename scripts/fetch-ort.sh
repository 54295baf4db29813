#!/usr/bin/env bash
# Fetches ONNX Runtime 1.31.1 (CPU build) from PyPI into .ort/ (ignored), where `host` finds it.
# The GPU build: `scripts/fetch-ort.sh gpu` (onnxruntime-gpu, 256 MB; needs CUDA 13, cuDNN 9, TensorRT 10).
set -euo pipefail
cd "$(dirname "$0")/.."
package=onnxruntime
target=.ort
if [ "${1:-}" = gpu ]; then package=onnxruntime-gpu; target=.ort-gpu; fi
lib=$(ls "$target"/onnxruntime/capi/libonnxruntime.so.1.31.1 2>/dev/null || true)
if [ -z "$lib" ]; then
  python3 -m pip install --quiet --root-user-action=ignore --no-deps --only-binary=:all: --target "$target" "$package==1.31.1"
fi
ls "$target"/onnxruntime/capi/libonnxruntime.so.1.31.1
