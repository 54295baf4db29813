#!/usr/bin/env python3
"""The Python peer: diffusers' scheduler + an onnxruntime InferenceSession, the loop a diffusers
user writes. Prints one JSON line: wall time per step and the part inside session.run.

    peer_loop.py MODEL.onnx --scheduler ddim|ddpm|dpm-solver --steps 25 --batch 1 --threads 2 [--sample-size 32]

dpm-solver is DPMSolverMultistepScheduler with the model's scheduler_config.json (diffusers'
defaults for its own keys: DPM-Solver++ 2M), as `host --scheduler dpm-solver` runs it.
"""
import argparse
import json
import os
import time

import numpy as np
import onnxruntime
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

SCHEDULERS = {"ddim": DDIMScheduler, "ddpm": DDPMScheduler, "dpm-solver": DPMSolverMultistepScheduler}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--scheduler", default="ddim", choices=sorted(SCHEDULERS))
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sample-size", type=int)
    args = parser.parse_args()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = onnxruntime.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    sample_input, timestep_input = session.get_inputs()[0], session.get_inputs()[1]
    _, channels, height, width = sample_input.shape
    height = height if isinstance(height, int) else args.sample_size
    width = width if isinstance(width, int) else args.sample_size
    config_path = os.path.join(os.path.dirname(args.model), "scheduler_config.json")
    config = json.load(open(config_path)) if os.path.exists(config_path) else {}
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    scheduler = SCHEDULERS[args.scheduler].from_config(config)
    scheduler.set_timesteps(args.steps)
    timestep_dtype = np.int64 if "int64" in timestep_input.type else np.float32
    x = torch.randn(args.batch, channels, height, width, generator=torch.Generator().manual_seed(0))
    inside = 0.0
    started = time.perf_counter()
    for t in scheduler.timesteps:
        before = time.perf_counter()
        timesteps = np.full((args.batch,), int(t), dtype=timestep_dtype)
        if len(timestep_input.shape) == 0:
            timesteps = timesteps[0]
        output = session.run(None, {sample_input.name: x.numpy(), timestep_input.name: timesteps})[0]
        inside += time.perf_counter() - before
        x = scheduler.step(torch.from_numpy(output), t, x).prev_sample
    wall = time.perf_counter() - started
    print(json.dumps({"wall_ms_per_step": 1e3 * wall / args.steps, "run_ms_per_step": 1e3 * inside / args.steps}))


if __name__ == "__main__":
    main()
