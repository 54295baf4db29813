#!/usr/bin/env bash
# The demo: fetches ONNX Runtime if needed, builds host, and samples 64 digits from the shipped
# model (models/digits) with UniPC in 10 steps, writing demo.png (each pixel shown 4x4) and
# printing the run summary. UniPC at 10 model calls matches DDIM at 25 on this model
# (models/digits/README.md: Fréchet distance 1.00 ± 0.03 against 1.01 ± 0.04, two seeds). The
# first run takes about 3 minutes on 2 cores (mostly the release build of host); later runs take
# seconds.
#
# Extra flags go to host. One of the demo's own flags given again replaces it (--out mine.png,
# --steps 50, --scheduler ddim, --num-samples 16, --png-scale 8, --onnx other.onnx); any other
# flag is added (--seed 7, --save-npy x0.npy, --out-dir samples/).
set -euo pipefail
cd "$(dirname "$0")/.."

defaults=(--onnx models/digits/unet.onnx --scheduler unipc --steps 10 --num-samples 64 --png-scale 4 --out demo.png)

# Whether flag $1 is among the remaining arguments (as `--flag value` or `--flag=value`).
given() {
  local flag=$1 arg
  shift
  for arg in "$@"; do
    case "$arg" in "$flag" | "$flag"=*) return 0 ;; esac
  done
  return 1
}

args=()
for ((i = 0; i < ${#defaults[@]}; i += 2)); do
  given "${defaults[i]}" "$@" || args+=("${defaults[i]}" "${defaults[i + 1]}")
done
args+=("$@")

echo "== ONNX Runtime 1.31.1, CPU build (fetched from PyPI into .ort/, 68 MB, on the first run)"
scripts/fetch-ort.sh | sed 's/^/   /'

echo "== building host (release; about 3 minutes on 2 cores the first time)"
cargo build --release -p host

echo "== sampling: target/release/host ${args[*]}"
target/release/host "${args[@]}"

echo "== done. The program is target/release/host (README.md: install, flags, outputs)"
