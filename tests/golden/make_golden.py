#!/usr/bin/env python3
"""Writes the golden vectors that tests/tests/golden.rs compares diffusion-core against.

Peer: diffusers 0.42.1 on torch 2.15.0 (requirements.txt). Run through make_golden.sh.

Files (JSON, float32 values written exactly):
  schedules.json  diffusers' alphas_cumprod for every schedule, plus an independent float64 reference
  timesteps.json  diffusers' timestep arrays (DDIM and DDPM) and DDIM's stride-based previous timesteps
  steps.json      single DDPM/DDIM steps on fixed inputs with injected noise
  noise.json      noise v1 words and normals from the numpy reference (tests/noise/noise_v1.py)
  loops.json      whole 10/13/25-step loops with the stand-in model eps(x, t) = 0.5*sin(x + 0.01*t),
                  x_T and noise drawn from noise v1 (tests/noise/noise_v1.py)
"""
import json
import math
import os
import sys

import numpy as np
import torch
import diffusers
from diffusers import DDIMScheduler, DDPMScheduler
import diffusers.schedulers.scheduling_ddpm as ddpm_module

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "noise"))
from noise_v1 import NoiseStream  # noqa: E402

assert diffusers.__version__ == "0.42.1", diffusers.__version__
torch.manual_seed(0)

SCHEDULES = {
    "linear": dict(beta_schedule="linear", beta_start=0.0001, beta_end=0.02),
    "scaled_linear": dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012),
    "squaredcos_cap_v2": dict(beta_schedule="squaredcos_cap_v2"),
    "sigmoid": dict(beta_schedule="sigmoid", beta_start=0.0001, beta_end=0.02),
}


def f32_list(tensor):
    return [float(v) for v in np.asarray(tensor, dtype=np.float32).ravel()]


def reference_alphas_cumprod(name, params, T, rescale):
    """float64 reference, written from the papers' formulas (not from diffusers' code)."""
    t = np.arange(T, dtype=np.float64)
    frac = t / (T - 1) if T > 1 else np.zeros(T)
    if name == "linear":
        betas = params["beta_start"] + (params["beta_end"] - params["beta_start"]) * frac
    elif name == "scaled_linear":
        lo, hi = math.sqrt(params["beta_start"]), math.sqrt(params["beta_end"])
        betas = (lo + (hi - lo) * frac) ** 2
    elif name == "squaredcos_cap_v2":
        f = lambda u: np.cos((u + 0.008) / 1.008 * np.pi / 2) ** 2
        betas = np.minimum(1 - f((t + 1) / T) / f(t / T), 0.999)
    elif name == "sigmoid":
        betas = 1 / (1 + np.exp(-(-6 + 12 * frac))) * (params["beta_end"] - params["beta_start"]) + params["beta_start"]
    alphas_cumprod = np.cumprod(1 - betas)
    if rescale:
        root = np.sqrt(alphas_cumprod)
        first, last = root[0], root[-1]
        alphas_cumprod = ((root - last) * first / (first - last)) ** 2
    return alphas_cumprod


def schedules():
    cases = []
    for T in (1000, 777):
        for name, params in SCHEDULES.items():
            for rescale in (False, True):
                if rescale and name not in ("linear", "scaled_linear"):
                    continue
                scheduler = DDPMScheduler(num_train_timesteps=T, rescale_betas_zero_snr=rescale, **params)
                cases.append(dict(
                    schedule=name, num_train_timesteps=T, rescale_betas_zero_snr=rescale,
                    beta_start=params.get("beta_start", 0.0), beta_end=params.get("beta_end", 0.0),
                    diffusers=f32_list(scheduler.alphas_cumprod),
                    reference_f64=[float(v) for v in reference_alphas_cumprod(name, params, T, rescale)],
                ))
    return cases


def timesteps():
    cases = []
    for T in (1000, 777):
        for spacing, offset in (("linspace", 0), ("leading", 0), ("leading", 1), ("trailing", 0)):
            for steps in (1, 7, 10, 13, 25, 50, 1000):
                if steps > T or (spacing == "leading" and offset + (T // steps) * (steps - 1) >= T):
                    continue
                ddim = DDIMScheduler(num_train_timesteps=T, timestep_spacing=spacing, steps_offset=offset)
                ddim.set_timesteps(steps)
                ddpm = DDPMScheduler(num_train_timesteps=T, timestep_spacing=spacing, steps_offset=offset)
                ddpm.set_timesteps(steps)
                array = [int(t) for t in ddim.timesteps]
                cases.append(dict(
                    num_train_timesteps=T, spacing=spacing, steps_offset=offset, steps=steps,
                    ddim=array, ddpm=[int(t) for t in ddpm.timesteps],
                    ddim_stride_prev=[t - T // steps for t in array],
                ))
    # trailing: numpy.arange(T, 0, -T/N) has N + 1 elements for some N (its length is
    # ceil(T / (T/N)) in float64, 61.000000000000007 for T = 1000, N = 61), and the extra one
    # rounds to 0, giving timestep -1. Every such N <= 250, for both T.
    for T in (1000, 777):
        for steps in range(1, 251):
            ddim = DDIMScheduler(num_train_timesteps=T, timestep_spacing="trailing")
            ddim.set_timesteps(steps)
            if len(ddim.timesteps) == steps:
                continue
            ddpm = DDPMScheduler(num_train_timesteps=T, timestep_spacing="trailing")
            ddpm.set_timesteps(steps)
            array = [int(t) for t in ddim.timesteps]
            cases.append(dict(
                num_train_timesteps=T, spacing="trailing", steps_offset=0, steps=steps,
                ddim=array, ddpm=[int(t) for t in ddpm.timesteps],
                ddim_stride_prev=[t - T // steps for t in array],
            ))
    return cases


def make_scheduler(kind, prediction_type, clipping, T=1000, **extra):
    common = dict(num_train_timesteps=T, beta_schedule="linear", beta_start=0.0001, beta_end=0.02,
                  prediction_type=prediction_type, timestep_spacing=extra.pop("spacing", "leading"),
                  steps_offset=extra.pop("steps_offset", 1))
    if clipping == "none":
        common.update(clip_sample=False)
    elif clipping == "clip":
        common.update(clip_sample=True, clip_sample_range=1.0)
    elif clipping == "threshold":
        common.update(clip_sample=False, thresholding=True, dynamic_thresholding_ratio=0.9, sample_max_value=1.5)
    common.update(extra)
    if kind == "ddim":
        return DDIMScheduler(**common)
    return DDPMScheduler(**common)


class InjectedNoise:
    """Replaces diffusers' DDPM randn_tensor so that a step uses the noise we give it."""

    def __init__(self):
        self.next = None

    def __call__(self, shape, generator=None, device=None, dtype=None, **_):
        assert self.next is not None and tuple(self.next.shape) == tuple(shape), (shape,)
        value, self.next = self.next, None
        return value


INJECT = InjectedNoise()
ddpm_module.randn_tensor = INJECT


def steps():
    shape = (2, 2, 4, 4)
    generator = torch.Generator().manual_seed(1234)
    sample = torch.randn(shape, generator=generator)
    model_output = torch.randn(shape, generator=generator)
    variance_channels = torch.tanh(torch.randn(shape, generator=generator))
    noise = torch.randn(shape, generator=generator)
    # `learned`: the channel is sigma^2 itself, so it must be positive (about the size of beta~).
    learned_variance = torch.exp(torch.randn(shape, generator=generator) - 4.5)
    cases = []
    variance_types = ("fixed_small", "fixed_small_log", "fixed_large", "learned", "learned_range")
    # (sampler, scheduler options, eta, use_clipped_model_output, clippings, indices)
    configs = [("ddpm", dict(variance_type=v), 0.0, False, ("none", "clip", "threshold"), (5, 30))
               for v in variance_types]
    configs += [("ddim", {}, eta, False, ("none", "clip", "threshold"), (5, 30)) for eta in (0.0, 0.5, 1.0)]
    # use_clipped_model_output only matters when x0 is clipped.
    configs += [("ddim", {}, eta, True, ("clip", "threshold"), (5, 30)) for eta in (0.0, 0.5)]
    # The last step (t = 1 -> the final alpha_cumprod): 1 or alpha_cumprod[0]. Not with `sample`
    # prediction: there eps = (x - sqrt(a)*x0)/sqrt(1 - a) at a = alpha_cumprod[1], where
    # diffusers' f32 cumprod is 1 ULP below the correctly rounded value (0.99978006 vs
    # 0.9997801), and 1/(1 - a) turns that ULP into 1.4e-4 relative.
    configs += [("ddim", dict(set_alpha_to_one=one), eta, False, ("none",), (49,))
                for one in (True, False) for eta in (0.0, 0.5)]
    for kind, extra, eta, use_clipped, clippings, indices in configs:
        predictions = ("epsilon", "v_prediction") if 49 in indices else ("epsilon", "v_prediction", "sample")
        for prediction_type in predictions:
            for clipping in clippings:
                for index in indices:
                    scheduler = make_scheduler(kind, prediction_type, clipping, **dict(extra))
                    scheduler.set_timesteps(50)
                    t = int(scheduler.timesteps[index])
                    last = index + 1 == len(scheduler.timesteps)
                    output = model_output
                    if extra.get("variance_type") == "learned_range":
                        output = torch.cat([model_output, variance_channels], dim=1)
                    if extra.get("variance_type") == "learned":
                        output = torch.cat([model_output, learned_variance], dim=1)
                    diffusers_eta = None
                    if kind == "ddpm":
                        INJECT.next = noise.clone()
                        prev = scheduler.step(output, t, sample).prev_sample
                    else:
                        # Our last step is the eta = 0 step (it adds no noise). With a final
                        # alpha_cumprod of 1 diffusers' sigma vanishes there anyway; with
                        # alpha_cumprod[0] it does not: keep diffusers' eta result to show the gap.
                        step_eta = 0.0 if last else eta
                        prev = scheduler.step(output, t, sample, eta=step_eta, use_clipped_model_output=use_clipped,
                                              variance_noise=noise.clone()).prev_sample
                        if last and eta > 0:
                            diffusers_eta = f32_list(scheduler.step(
                                output, t, sample, eta=eta, use_clipped_model_output=use_clipped,
                                variance_noise=noise.clone()).prev_sample)
                    cases.append(dict(
                        sampler=kind, variance_type=extra.get("variance_type", ""), eta=eta,
                        use_clipped_model_output=use_clipped, set_alpha_to_one=extra.get("set_alpha_to_one", True),
                        prediction_type=prediction_type, clipping=clipping, steps=50, spacing="leading",
                        steps_offset=1, index=index, timestep=t, shape=list(shape),
                        sample=f32_list(sample), model_output=f32_list(output), noise=f32_list(noise),
                        expected=f32_list(prev), diffusers_eta=diffusers_eta,
                    ))
    return cases


def stand_in_model(x, t):
    return 0.5 * torch.sin(x + 0.01 * t)


def stand_in_variance(x, t, variance_type):
    """The variance channel of the learned-variance loops: v = cos(x - 0.01*t) in [-1, 1] for
    `learned_range`; sigma^2 = 0.01*(1.5 + v), positive and about beta~'s size, for `learned`."""
    v = torch.cos(x - 0.01 * t)
    return 0.01 * (1.5 + v) if variance_type == "learned" else v


def array_following_ddim(scheduler, timesteps, x, eta, draw, prediction="epsilon"):
    """DDIM taking ᾱ_prev from the next element of the timestep array (float64, numpy)."""
    ac = scheduler.alphas_cumprod.double().numpy()
    final = float(scheduler.final_alpha_cumprod)
    x = x.double().numpy()
    for k, t in enumerate(timesteps):
        a = ac[t]
        ap = ac[timesteps[k + 1]] if k + 1 < len(timesteps) else final
        m = 0.5 * np.sin(x + 0.01 * t)
        if prediction == "epsilon":
            eps = m
            x0 = (x - np.sqrt(1 - a) * eps) / np.sqrt(a)
        else:
            assert prediction == "v_prediction", prediction
            x0 = np.sqrt(a) * x - np.sqrt(1 - a) * m
            eps = np.sqrt(a) * m + np.sqrt(1 - a) * x
        last = k + 1 == len(timesteps)
        sigma = 0.0 if last else eta * np.sqrt((1 - ap) / (1 - a) * (1 - a / ap))
        x = np.sqrt(ap) * x0 + np.sqrt(1 - ap - sigma**2) * eps
        if sigma > 0:
            x = x + sigma * draw().double().numpy()
    return x


def loops():
    shape = (2, 3, 4, 4)
    per_sample = int(np.prod(shape[1:]))
    seed = 2024
    cases = []
    plans = [
        # (sampler, eta, variance_type, prediction, spacing, offset, steps, clipping, rescale[, options])
        ("ddim", 0.0, "", "epsilon", "leading", 1, 10, "none", False),
        ("ddim", 0.0, "", "epsilon", "leading", 1, 25, "none", False),
        ("ddim", 0.0, "", "v_prediction", "leading", 1, 25, "none", False),
        ("ddim", 0.0, "", "sample", "leading", 1, 10, "clip", False),
        ("ddim", 0.0, "", "epsilon", "leading", 1, 25, "clip", False),
        ("ddim", 0.0, "", "epsilon", "trailing", 0, 10, "none", False),
        ("ddim", 0.0, "", "epsilon", "trailing", 0, 25, "none", False),
        ("ddim", 0.0, "", "v_prediction", "trailing", 0, 25, "none", True),
        ("ddim", 1.0, "", "epsilon", "leading", 1, 10, "none", False),
        ("ddim", 1.0, "", "epsilon", "leading", 1, 25, "none", False),
        ("ddpm", 0.0, "fixed_small", "epsilon", "linspace", 0, 10, "none", False),
        ("ddpm", 0.0, "fixed_small", "epsilon", "linspace", 0, 25, "none", False),
        ("ddpm", 0.0, "fixed_small", "v_prediction", "leading", 1, 10, "none", False),
        ("ddpm", 0.0, "fixed_large", "epsilon", "leading", 1, 25, "clip", False),
        ("ddpm", 0.0, "fixed_small", "epsilon", "trailing", 0, 25, "threshold", False),
        # diffusers' DDIM pairs these timesteps with stride-based ᾱ_prev: see array_following
        ("ddim", 0.0, "", "epsilon", "linspace", 0, 10, "none", False),
        ("ddim", 0.0, "", "epsilon", "trailing", 0, 13, "none", False),
        # use_clipped_model_output: epsilon recomputed from the clipped x0
        ("ddim", 0.0, "", "epsilon", "leading", 1, 25, "clip", False, dict(use_clipped_model_output=True)),
        ("ddim", 1.0, "", "epsilon", "leading", 1, 10, "threshold", False, dict(use_clipped_model_output=True)),
        ("ddim", 0.5, "", "sample", "leading", 1, 25, "clip", False, dict(use_clipped_model_output=True)),
        # set_alpha_to_one = False: the last step lands on alpha_cumprod[0]
        ("ddim", 0.0, "", "epsilon", "leading", 1, 10, "none", False, dict(set_alpha_to_one=False)),
        ("ddim", 1.0, "", "v_prediction", "leading", 1, 25, "none", False, dict(set_alpha_to_one=False)),
        # DDPM variance types that take sigma from elsewhere
        ("ddpm", 0.0, "fixed_small_log", "epsilon", "leading", 1, 25, "none", False),
        ("ddpm", 0.0, "learned", "epsilon", "leading", 1, 10, "none", False),
        ("ddpm", 0.0, "learned", "v_prediction", "trailing", 0, 25, "clip", False),
        ("ddpm", 0.0, "learned_range", "epsilon", "leading", 1, 25, "none", False),
        # trailing N = 61: diffusers' array has 62 elements ending in -1; we run the first 61
        ("ddpm", 0.0, "fixed_small", "epsilon", "trailing", 0, 61, "none", False),
        ("ddim", 0.0, "", "epsilon", "trailing", 0, 61, "none", False),
    ]
    for kind, eta, variance_type, prediction, spacing, offset, n, clipping, rescale, *options in plans:
        options = options[0] if options else {}
        use_clipped = options.get("use_clipped_model_output", False)
        extra = dict(spacing=spacing, steps_offset=offset, rescale_betas_zero_snr=rescale)
        if kind == "ddpm":
            extra["variance_type"] = variance_type
        if "set_alpha_to_one" in options:
            extra["set_alpha_to_one"] = options["set_alpha_to_one"]
        scheduler = make_scheduler(kind, prediction, clipping, **extra)
        scheduler.set_timesteps(n)
        diffusers_timesteps = [int(t) for t in scheduler.timesteps]
        # The core realizes exactly N timesteps; see timesteps() for diffusers' extra -1.
        timesteps = diffusers_timesteps[:n]
        learned = variance_type in ("learned", "learned_range")
        streams = [NoiseStream(seed, i) for i in range(shape[0])]
        draw = lambda: torch.from_numpy(np.stack([s.normals(per_sample) for s in streams]).reshape(shape))
        x_T = draw()
        x = x_T.clone()
        for k, t in enumerate(timesteps):
            last = k + 1 == len(timesteps)
            output = stand_in_model(x, t)
            if learned:
                output = torch.cat([output, stand_in_variance(x, t, variance_type)], dim=1)
            adds_noise = not last and (kind == "ddpm" or eta > 0)
            # Our convention: the last step adds no noise and draws none. diffusers' DDPM adds
            # noise whenever t > 0 (trailing, leading + offset), so it gets zeros there; its DDIM
            # gets eta = 0 there (the same unless the final alpha_cumprod is below 1).
            noise = draw() if adds_noise else torch.zeros(shape)
            if kind == "ddpm":
                INJECT.next = noise
                x = scheduler.step(output, t, x).prev_sample
                INJECT.next = None
            else:
                x = scheduler.step(output, t, x, eta=0.0 if last else eta, use_clipped_model_output=use_clipped,
                                   variance_noise=noise).prev_sample
        case = dict(
            sampler=kind, eta=eta, variance_type=variance_type, prediction_type=prediction,
            spacing=spacing, steps_offset=offset, steps=n, clipping=clipping, rescale_betas_zero_snr=rescale,
            use_clipped_model_output=use_clipped, set_alpha_to_one=options.get("set_alpha_to_one", True),
            seed=seed, shape=list(shape), timesteps=timesteps, diffusers_timesteps=diffusers_timesteps,
            x_T=f32_list(x_T), diffusers=f32_list(x),
        )
        stride_differs = kind == "ddim" and any(
            (timesteps[k] - 1000 // n) != (timesteps[k + 1] if k + 1 < n else -1) and not (k + 1 == n and timesteps[k] - 1000 // n < 0)
            for k in range(n))
        if stride_differs:
            assert not use_clipped and clipping == "none", "array_following_ddim has no clipping"
            streams = [NoiseStream(seed, i) for i in range(shape[0])]
            x_T = draw()
            case["array_following"] = f32_list(array_following_ddim(scheduler, timesteps, x_T, eta, draw, prediction))
        cases.append(case)
    return cases


def noise():
    """noise v1 from the numpy reference: raw words and one odd-sized request of normals."""
    cases = []
    for seed, index in ((0, 0), (0, 1), (1, 0), (42, 7), (2**64 - 1, 2**40)):
        words = NoiseStream(seed, index).next_u32(8)
        cases.append(dict(seed=str(seed), sample_index=str(index), u32=[int(w) for w in words],
                          normals=f32_list(NoiseStream(seed, index).normals(1001))))
    return cases


def write(name, data):
    path = os.path.join(HERE, name)
    with open(path, "w") as f:
        json.dump(dict(peer=f"diffusers {diffusers.__version__}, torch {torch.__version__.split('+')[0]}", cases=data), f)
    print(f"wrote {path} ({len(data)} cases, {os.path.getsize(path) // 1024} KiB)")


if __name__ == "__main__":
    write("schedules.json", schedules())
    write("timesteps.json", timesteps())
    write("steps.json", steps())
    write("loops.json", loops())
    write("noise.json", noise())
