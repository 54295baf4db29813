#!/usr/bin/env bash
# scripts/sampler-bits.sh HOST OUTDIR: runs HOST (a path) over a fixed list of jobs, one per sampler
# and key family at 10 steps on the shipped models and fixtures, writing OUTDIR/<name>.npy. Run it
# with the host of two commits and `cmp` the files: a refactor must leave every one byte-identical.
# Not part of the tests (about 30 s with a release build).
set -u
HOST=$(realpath "$1"); mkdir -p "$2"; OUT=$(realpath "$2")
cd "$(dirname "$0")/.."
D=models/digits/unet.onnx
run() { name=$1; shift; "$HOST" "$@" --save-npy "$OUT/$name.npy" --ep cpu >"$OUT/$name.log" 2>&1 || echo "FAIL $name: $(tail -1 $OUT/$name.log)"; }
for s in ddim ddpm dpm-solver unipc euler euler-ancestral heun; do
  run digits-$s --onnx $D --scheduler $s --steps 10 --num-samples 6 --batch 4 --seed 3
done
run ddim-eta --onnx $D --scheduler ddim --eta 0.7 --steps 10 --num-samples 4 --seed 1
run ddim-thresh --onnx $D --scheduler ddim --thresholding true --clip-sample false --steps 10 --num-samples 4
run ddim-trailing --onnx $D --scheduler ddim --timestep-spacing trailing --set-alpha-to-one false --steps 10 --num-samples 4
run dpm-karras --onnx $D --scheduler dpm-solver --use-karras-sigmas true --steps 10 --num-samples 4
run dpm-sde --onnx $D --scheduler dpm-solver --algorithm-type sde-dpmsolver++ --steps 10 --num-samples 4
run dpm-3m --onnx $D --scheduler dpm-solver --solver-order 3 --solver-type heun --steps 10 --num-samples 4
run unipc-bh1 --onnx $D --scheduler unipc --solver-type bh1 --solver-order 3 --disable-corrector 0,2 --steps 10 --num-samples 4
run unipc-karras --onnx $D --scheduler unipc --use-karras-sigmas true --sigma-min 0.1 --steps 10 --num-samples 4
run euler-exp --onnx $D --scheduler euler --use-exponential-sigmas true --final-sigmas-type sigma_min --steps 10 --num-samples 4
run heun-beta --onnx $D --scheduler heun --use-beta-sigmas true --steps 10 --num-samples 4
run ddpm-scaled --onnx $D --scheduler ddpm --beta-schedule scaled_linear --rescale-betas-zero-snr true --prediction-type v_prediction --timestep-spacing trailing --steps 10 --num-samples 4
run cond-guided --onnx models/digits-cond/unet.onnx --class-label 3 --steps 10 --num-samples 4
run cond-guided-unipc --onnx models/digits-cond/unet.onnx --class-label 7 --guidance-scale 3 --guidance-rescale 0.5 --scheduler unipc --steps 10 --num-samples 4
run learned --onnx tests/fixtures/gaussian-learned-variance/unet.onnx --scheduler ddpm --variance-type learned_range --steps 10 --num-samples 2
run latent --onnx tests/fixtures/latent-tiny --steps 10 --num-samples 3
F=tests/fixtures/cond-latent-tiny/reference
run cond-latent --onnx tests/fixtures/cond-latent-tiny --input encoder_hidden_states=$F/prompt.npy --uncond-input encoder_hidden_states=$F/negative.npy --guidance-scale 4 --steps 10 --num-samples 2
run lcm --onnx tests/fixtures/unet-tiny/unet.onnx --scheduler lcm --scheduler-config tests/fixtures/unet-tiny/lcm/scheduler_config.json --steps 4 --num-samples 3 --seed 7
ls "$OUT"/*.npy | wc -l
