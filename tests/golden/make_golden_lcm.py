#!/usr/bin/env python3
"""Writes tests/golden/lcm.json, the golden vectors that tests/tests/golden_lcm.rs compares
diffusion-core's LcmPlan against.

Peer: diffusers 0.42.1 on torch 2.15.0 (requirements.txt), LCMScheduler. Run with the virtualenv
that make_golden.sh creates: .venv/bin/python tests/golden/make_golden_lcm.py

Every case runs diffusers' own LCMScheduler end to end, its float32 alphas_cumprod included (on
LCM's default scaled_linear betas it is within 1e-6 relative of the float64 schedule). Unless a
case says otherwise the config is LCMScheduler's default: scaled_linear betas from 0.00085 to
0.012, T = 1000, original_inference_steps 50, timestep_scaling 10, epsilon, no clipping.

LCMScheduler.set_timesteps reads neither timestep_spacing nor steps_offset, and its final
alpha_cumprod (set_alpha_to_one) is never used (the last step returns `denoised`): the script
asserts that the timesteps are the same under every spacing and offset, and some step and loop
cases set those keys to non-defaults ("ignored" in their options) to show that the result does
not change with them.

Cases (float32 values written exactly), each with "kind":
  timesteps  set_timesteps(N, original_inference_steps=K) for T in (1000, 777), K in
             (50, 20, 7, T) and N in (1, 2, 3, 4, 7, 8), N <= K.
  step       one step alone: a random sample, model output and noise (torch, seed 1234) go in at
             step index k of an N-step run (the scheduler's step index set to k), diffusers' result
             comes out; every prediction type x clipping (none, clip_sample, thresholding), the
             first, a middle and the last index, timestep_scaling 0.1 (where c_skip is far from
             0), linear betas, K = 20 with N = 8.
  loop       whole runs of 4 and 8 steps with the stand-in model eps(x, t) = 0.5*sin(x + 0.01*t)
             of the integer timestep t, from x_T = z; z and each step's noise (every step but the
             last) drawn by noise v1 (tests/noise/noise_v1.py) in order, one stream per sample.
"""
import json
import os
import sys

import numpy as np
import torch
import diffusers
from diffusers import LCMScheduler
import diffusers.schedulers.scheduling_lcm as lcm_module

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "noise"))
from noise_v1 import NoiseStream  # noqa: E402

assert diffusers.__version__ == "0.42.1", diffusers.__version__
torch.manual_seed(0)

BETAS = {
    "scaled_linear": dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012),
    "linear": dict(beta_schedule="linear", beta_start=0.0001, beta_end=0.02),
}
PREDICTIONS = ("epsilon", "v_prediction", "sample")
CLIPPINGS = ("none", "clip", "threshold")
# Keys LCMScheduler accepts but never reads for these results.
IGNORED = dict(timestep_spacing="trailing", steps_offset=1, set_alpha_to_one=False)


def f32_list(tensor):
    """float32 values, each written as its shortest decimal that reads back as the same float32."""
    return [float(str(v)) for v in np.asarray(tensor, dtype=np.float32).ravel()]


class InjectedNoise:
    """Replaces LCMScheduler's randn_tensor so that a step uses the noise we give it."""

    def __init__(self):
        self.next = None

    def __call__(self, shape, generator=None, device=None, dtype=None, **_):
        assert self.next is not None and tuple(self.next.shape) == tuple(shape), (shape,)
        value, self.next = self.next, None
        return value


INJECT = InjectedNoise()
lcm_module.randn_tensor = INJECT


def options_of(steps=4, original_inference_steps=50, prediction_type="epsilon", clipping="none",
               clip_sample_range=1.0, dynamic_thresholding_ratio=0.9, sample_max_value=1.5,
               timestep_scaling=10.0, betas="scaled_linear", rescale_betas_zero_snr=False, ignored=False):
    return dict(steps=steps, original_inference_steps=original_inference_steps, prediction_type=prediction_type,
                clipping=clipping, clip_sample_range=clip_sample_range,
                dynamic_thresholding_ratio=dynamic_thresholding_ratio, sample_max_value=sample_max_value,
                timestep_scaling=timestep_scaling, betas=betas, rescale_betas_zero_snr=rescale_betas_zero_snr,
                ignored=ignored)


def scheduler_of(options):
    config = dict(num_train_timesteps=1000, **BETAS[options["betas"]],
                  original_inference_steps=options["original_inference_steps"],
                  prediction_type=options["prediction_type"], timestep_scaling=options["timestep_scaling"],
                  rescale_betas_zero_snr=options["rescale_betas_zero_snr"])
    if options["clipping"] == "clip":
        config.update(clip_sample=True, clip_sample_range=options["clip_sample_range"])
    elif options["clipping"] == "threshold":
        # clip_sample as well: thresholding takes precedence in diffusers.
        config.update(thresholding=True, clip_sample=True,
                      dynamic_thresholding_ratio=options["dynamic_thresholding_ratio"],
                      sample_max_value=options["sample_max_value"])
    if options["ignored"]:
        config.update(IGNORED)
    scheduler = LCMScheduler(**config)
    scheduler.set_timesteps(options["steps"])
    return scheduler


def timesteps():
    cases = []
    for T in (1000, 777):
        for original in (50, 20, 7, T):
            for steps in (1, 2, 3, 4, 7, 8):
                if steps > original:
                    continue
                arrays = []
                for spacing in ("leading", "trailing", "linspace"):
                    for offset in (0, 1):
                        scheduler = LCMScheduler(num_train_timesteps=T, original_inference_steps=original,
                                                 timestep_spacing=spacing, steps_offset=offset)
                        scheduler.set_timesteps(steps)
                        arrays.append([int(t) for t in scheduler.timesteps])
                # The same array under every spacing and offset.
                assert all(array == arrays[0] for array in arrays), (T, original, steps, arrays)
                # original_inference_steps as set_timesteps' argument gives the config's result.
                scheduler = LCMScheduler(num_train_timesteps=T)
                scheduler.set_timesteps(steps, original_inference_steps=original)
                assert [int(t) for t in scheduler.timesteps] == arrays[0]
                cases.append(dict(kind="timesteps", num_train_timesteps=T, original_inference_steps=original,
                                  steps=steps, timesteps=arrays[0]))
    return cases


def step_configs():
    configs = []
    for prediction in PREDICTIONS:
        for clipping in CLIPPINGS:
            configs.append((options_of(prediction_type=prediction, clipping=clipping), (0, 2, 3)))
        configs.append((options_of(prediction_type=prediction, timestep_scaling=0.1), (0, 2, 3)))
        configs.append((options_of(prediction_type=prediction, betas="linear"), (1, 3)))
        configs.append((options_of(prediction_type=prediction, steps=8, original_inference_steps=20), (0, 5, 7)))
    # LCMScheduler's own thresholding defaults (ratio 0.995, max 1.0) and the ignored keys.
    configs.append((options_of(clipping="threshold", dynamic_thresholding_ratio=0.995, sample_max_value=1.0),
                    (0, 3)))
    configs.append((options_of(ignored=True), (0, 3)))
    return configs


def steps():
    shape = (2, 2, 4, 4)
    generator = torch.Generator().manual_seed(1234)
    cases = []
    for options, indices in step_configs():
        for index in indices:
            scheduler = scheduler_of(options)
            t = scheduler.timesteps[index]
            sample = torch.randn(shape, generator=generator)
            output = torch.randn(shape, generator=generator)
            noise = torch.randn(shape, generator=generator)
            last = index + 1 == options["steps"]
            scheduler._step_index = index
            INJECT.next = None if last else noise.clone()
            prev = scheduler.step(output, t, sample).prev_sample
            assert INJECT.next is None
            cases.append(dict(kind="step", options=options, index=index, timestep=int(t), shape=list(shape),
                              sample=f32_list(sample), model_output=f32_list(output),
                              noise=[] if last else f32_list(noise), expected=f32_list(prev)))
    return cases


def stand_in_model(x, t):
    return 0.5 * torch.sin(x + 0.01 * t)


def loop_configs():
    configs = []
    for steps in (4, 8):
        for prediction in PREDICTIONS:
            for original in (50, 20):
                configs.append(options_of(steps=steps, prediction_type=prediction, original_inference_steps=original))
        configs.append(options_of(steps=steps, clipping="clip"))
        configs.append(options_of(steps=steps, clipping="threshold"))
        configs.append(options_of(steps=steps, timestep_scaling=0.1))
        configs.append(options_of(steps=steps, prediction_type="v_prediction", rescale_betas_zero_snr=True))
        configs.append(options_of(steps=steps, betas="linear"))
        configs.append(options_of(steps=steps, original_inference_steps=1000))
        configs.append(options_of(steps=steps, ignored=True))
    return configs


def loops():
    shape = (2, 3, 4, 4)
    per_sample = int(np.prod(shape[1:]))
    seed = 2024
    cases = []
    for options in loop_configs():
        scheduler = scheduler_of(options)
        assert scheduler.init_noise_sigma == 1.0
        streams = [NoiseStream(seed, i) for i in range(shape[0])]
        draw = lambda: torch.from_numpy(np.stack([s.normals(per_sample) for s in streams]).reshape(shape))
        z = draw()
        x = z * scheduler.init_noise_sigma
        timesteps = [int(t) for t in scheduler.timesteps]
        for k, t in enumerate(scheduler.timesteps):
            x_in = scheduler.scale_model_input(x, t)
            output = stand_in_model(x_in, int(t))
            last = k + 1 == len(timesteps)
            INJECT.next = None if last else draw()
            x, denoised = scheduler.step(output, t, x, return_dict=False)
            assert INJECT.next is None
            if last:
                assert torch.equal(x, denoised)
        assert torch.isfinite(x).all(), options
        cases.append(dict(kind="loop", options=options, seed=seed, shape=list(shape), timesteps=timesteps,
                          x_T=f32_list(z), diffusers=f32_list(x)))
    return cases


def write(name, data):
    path = os.path.join(HERE, name)
    with open(path, "w") as f:
        json.dump(dict(peer=f"diffusers {diffusers.__version__}, torch {torch.__version__.split('+')[0]}",
                       cases=data), f)
    print(f"wrote {path} ({len(data)} cases, {os.path.getsize(path) // 1024} KiB)")


if __name__ == "__main__":
    write("lcm.json", timesteps() + steps() + loops())
