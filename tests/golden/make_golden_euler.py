#!/usr/bin/env python3
"""Writes tests/golden/euler.json, the golden vectors that tests/tests/golden_euler.rs compares
diffusion-core's EulerPlan against.

Peer: diffusers 0.42.1 on torch 2.15.0 with scipy 1.17.1 (requirements.txt; scipy for
use_beta_sigmas), EulerDiscreteScheduler and EulerAncestralDiscreteScheduler. Run with the
virtualenv that make_golden.sh creates: .venv/bin/python tests/golden/make_golden_euler.py

The schedulers run on the core's alphas_cumprod: diffusers' own, a float32 cumprod of float32 betas,
drifts from the float64 value by up to 3.8e-5 relative (tests/tests/golden.rs), and its float32
1 - alphas_cumprod turns an ulp of that drift at t = 1 into 1.4e-4 in sigma. So each scheduler's
alphas_cumprod is replaced by the float64 schedule rounded to float32 (make_golden.py's
reference_alphas_cumprod, which the core's fill_alphas_cumprod equals bit for bit) before
set_timesteps; everything after that is diffusers' code. A few loops ("alphas_cumprod":
"diffusers") keep diffusers' own values end to end.

Cases (float32 values written exactly), each with "kind":
  plan       set_timesteps only: diffusers' timesteps (and the int64 timesteps its ONNX pipelines
             make of them), sigmas, init_noise_sigma and the factor scale_model_input applies at
             each step (a tensor of ones scaled), for every spacing x
             sigma schedule (interpolated, Karras, exponential, beta) x final_sigmas_type x N,
             other beta schedules, zero terminal SNR, sigma_min/sigma_max and continuous timesteps.
  sequence   step-by-step checks: at every step k of a 10-step run an independent random sample
             (scaled by sqrt(sigma^2 + 1)), model output and (ancestral) noise go in, diffusers'
             result of that one step comes out.
  loop       whole runs with the stand-in model eps(x_in, t) = 0.5*sin(x_in + 0.01*t) of the
             scaled input x_in = scale_model_input(x) and the float timestep t, from
             x_T = init_noise_sigma * z, z and the ancestral noise drawn by noise v1
             (tests/noise/noise_v1.py) in order, noise only on steps whose sigma_up > 0.

heun_plan, heun_loop, heun_sequence: the same for HeunDiscreteScheduler (2N - 1 model evaluations;
             the sequence feeds each second stage the first stage's output), with clip_sample.

EulerAncestralDiscreteScheduler has no use_*_sigmas, final_sigmas_type or timestep_type: for those
cases its sigmas and timesteps are replaced by EulerDiscreteScheduler's ("ancestral on Euler's
sigmas"), so the step is still diffusers' own code. It refuses prediction_type "sample".
"""
import itertools
import json
import os
import sys

import numpy as np
import scipy
import torch
import diffusers
from diffusers import EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, HeunDiscreteScheduler
import diffusers.schedulers.scheduling_euler_ancestral_discrete as ancestral_module

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "noise"))
from noise_v1 import NoiseStream  # noqa: E402
from make_golden import reference_alphas_cumprod  # noqa: E402

assert diffusers.__version__ == "0.42.1", diffusers.__version__
torch.manual_seed(0)

SPACINGS = (("linspace", 0), ("leading", 1), ("trailing", 0))
SCHEDULES = ("interpolated", "karras", "exponential", "beta")
PREDICTIONS = ("epsilon", "v_prediction", "sample")
BETAS = {
    "linear": dict(beta_schedule="linear", beta_start=0.0001, beta_end=0.02),
    "scaled_linear": dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012),
    "squaredcos_cap_v2": dict(beta_schedule="squaredcos_cap_v2"),
}


def f32_list(tensor):
    """float32 values, each written as its shortest decimal that reads back as the same float32."""
    return [float(str(v)) for v in np.asarray(tensor, dtype=np.float32).ravel()]


class InjectedNoise:
    """Replaces the ancestral scheduler's randn_tensor so that a step uses the noise we give it."""

    def __init__(self):
        self.next = None

    def __call__(self, shape, generator=None, device=None, dtype=None, **_):
        assert self.next is not None and tuple(self.next.shape) == tuple(shape), (shape,)
        value, self.next = self.next, None
        return value


INJECT = InjectedNoise()
ancestral_module.randn_tensor = INJECT


def options_of(variant="euler", schedule="interpolated", spacing="linspace", steps_offset=0, steps=10,
               final_sigmas_type="zero", prediction_type="epsilon", timestep_type="discrete", betas="linear",
               rescale_betas_zero_snr=False, sigma_min=None, sigma_max=None, alphas_cumprod="f64",
               clip_sample=None):
    return dict(variant=variant, schedule=schedule, spacing=spacing, steps_offset=steps_offset, steps=steps,
                final_sigmas_type=final_sigmas_type, prediction_type=prediction_type,
                timestep_type=timestep_type, betas=betas, rescale_betas_zero_snr=rescale_betas_zero_snr,
                sigma_min=sigma_min, sigma_max=sigma_max, alphas_cumprod=alphas_cumprod, clip_sample=clip_sample)


def use_core_alphas_cumprod(scheduler, options):
    """The float64 schedule rounded to float32, in place of diffusers' float32 cumprod."""
    if options["alphas_cumprod"] == "diffusers":
        return
    params = BETAS[options["betas"]]
    values = reference_alphas_cumprod(params["beta_schedule"], params, 1000, options["rescale_betas_zero_snr"])
    scheduler.alphas_cumprod = torch.from_numpy(values.astype(np.float32))
    if options["rescale_betas_zero_snr"]:
        scheduler.alphas_cumprod[-1] = 2**-24  # as diffusers' __init__


def euler_scheduler(options):
    config = dict(num_train_timesteps=1000, **BETAS[options["betas"]],
                  prediction_type=options["prediction_type"], timestep_spacing=options["spacing"],
                  steps_offset=options["steps_offset"], rescale_betas_zero_snr=options["rescale_betas_zero_snr"],
                  use_karras_sigmas=options["schedule"] == "karras",
                  use_exponential_sigmas=options["schedule"] == "exponential",
                  use_beta_sigmas=options["schedule"] == "beta",
                  final_sigmas_type=options["final_sigmas_type"], timestep_type=options["timestep_type"],
                  sigma_min=options["sigma_min"], sigma_max=options["sigma_max"])
    scheduler = EulerDiscreteScheduler(**config)
    use_core_alphas_cumprod(scheduler, options)
    scheduler.set_timesteps(options["steps"])
    return scheduler


def scheduler_of(options):
    """The scheduler a case steps with, its timesteps set."""
    euler = euler_scheduler(options)
    if options["variant"] == "euler":
        return euler
    ancestral = EulerAncestralDiscreteScheduler(
        num_train_timesteps=1000, **BETAS[options["betas"]], prediction_type=options["prediction_type"],
        timestep_spacing=options["spacing"], steps_offset=options["steps_offset"],
        rescale_betas_zero_snr=options["rescale_betas_zero_snr"])
    use_core_alphas_cumprod(ancestral, options)
    ancestral.set_timesteps(options["steps"])
    native = (options["schedule"] == "interpolated" and options["final_sigmas_type"] == "zero"
              and options["timestep_type"] == "discrete")
    if native:
        assert torch.equal(ancestral.sigmas, euler.sigmas) and torch.equal(ancestral.timesteps, euler.timesteps)
    else:
        ancestral.sigmas, ancestral.timesteps = euler.sigmas.clone(), euler.timesteps.clone()
    return ancestral


def sigma_up(scheduler, k):
    sigma_from, sigma_to = scheduler.sigmas[k], scheduler.sigmas[k + 1]
    return float((sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5)


def plan_record(scheduler, options):
    n = options["steps"]
    timesteps = scheduler.timesteps[:n]
    sigmas = torch.cat([scheduler.sigmas[:n], scheduler.sigmas[-1:]])
    scales = []
    for k, t in enumerate(timesteps):
        # A pipeline's step index at step k (a lookup by t would find the second of two equal
        # timesteps, as Karras sigmas below sigma(0) give).
        scheduler._step_index = k
        scales.append(float(scheduler.scale_model_input(torch.ones(1), t)[0]))
    scheduler._step_index = None
    # What diffusers' ONNX pipelines (pipeline_onnx_stable_diffusion.py) feed a model whose timestep
    # input is int64: np.array([t], dtype=timestep_dtype) of the float32 timestep.
    onnx_int64 = [int(np.array([t], dtype=np.int64)[0]) for t in timesteps]
    return dict(timesteps=f32_list(timesteps), onnx_int64_timesteps=onnx_int64, sigmas=f32_list(sigmas),
                init_noise_sigma=float(np.float32(scheduler.init_noise_sigma)), input_scales=f32_list(scales),
                diffusers_steps=len(scheduler.timesteps))


def plan_configs():
    configs = []
    for (spacing, offset), schedule, final, steps in itertools.product(
            SPACINGS, SCHEDULES, ("zero", "sigma_min"), (1, 7, 10, 25, 50)):
        configs.append(options_of(schedule=schedule, spacing=spacing, steps_offset=offset, steps=steps,
                                  final_sigmas_type=final))
    for betas, schedule, (spacing, offset) in itertools.product(("scaled_linear", "squaredcos_cap_v2"),
                                                                SCHEDULES, SPACINGS):
        configs.append(options_of(betas=betas, schedule=schedule, spacing=spacing, steps_offset=offset, steps=20))
    for schedule, spacing in itertools.product(SCHEDULES, ("linspace", "trailing")):
        configs.append(options_of(schedule=schedule, spacing=spacing, rescale_betas_zero_snr=True,
                                  prediction_type="v_prediction", steps=20))
    # Zero terminal SNR: sigma(T - 1) = 4096 (alphas_cumprod 2**-24) is below sigma(T - 2), so sigmas
    # between them bracket between T - 2 and T - 1 (diffusers' last index with log sigma_i <= log sigma).
    for schedule, high in itertools.product(SCHEDULES[1:], (5000.0, 8000.0, 20000.0)):
        configs.append(options_of(schedule=schedule, spacing="trailing", rescale_betas_zero_snr=True,
                                  prediction_type="v_prediction", sigma_max=high, steps=10))
    for schedule, (low, high) in itertools.product(SCHEDULES[1:], ((0.03, 80.0), (0.002, 14.6), (None, 20.0),
                                                                   (0.5, None))):
        configs.append(options_of(schedule=schedule, sigma_min=low, sigma_max=high, steps=15))
    for schedule, prediction, (spacing, offset) in itertools.product(SCHEDULES, ("v_prediction", "epsilon"),
                                                                     SPACINGS):
        configs.append(options_of(schedule=schedule, timestep_type="continuous", prediction_type=prediction,
                                  spacing=spacing, steps_offset=offset, steps=12))
    # N where diffusers' trailing numpy.arange makes N + 1 timesteps: the core takes the first N.
    for schedule in ("interpolated", "karras"):
        configs.append(options_of(schedule=schedule, spacing="trailing", steps=61))
    return configs


def plans():
    cases = []
    for options in plan_configs():
        scheduler = euler_scheduler(options)
        cases.append(dict(kind="plan", options=options, **plan_record(scheduler, options)))
    return cases


def sequence_configs():
    configs = []
    for variant, prediction, (schedule, spacing, offset), final in itertools.product(
            ("euler", "ancestral"), PREDICTIONS,
            (("interpolated", "linspace", 0), ("karras", "leading", 1), ("exponential", "trailing", 0),
             ("beta", "linspace", 0)),
            ("zero", "sigma_min")):
        if variant == "ancestral" and prediction == "sample":
            continue  # diffusers: NotImplementedError
        configs.append(options_of(variant=variant, prediction_type=prediction, schedule=schedule, spacing=spacing,
                                  steps_offset=offset, final_sigmas_type=final))
    return configs


def sequences():
    shape = (2, 1, 4, 4)
    generator = torch.Generator().manual_seed(4321)
    cases = []
    for options in sequence_configs():
        scheduler = scheduler_of(options)
        scheduler.is_scale_input_called = True  # the step alone; its input is given
        samples, outputs, noises, expected = [], [], [], []
        for k, t in enumerate(scheduler.timesteps):
            sigma = float(scheduler.sigmas[k])
            sample = torch.randn(shape, generator=generator) * (sigma**2 + 1) ** 0.5
            output = torch.randn(shape, generator=generator)
            noise = torch.randn(shape, generator=generator)
            INJECT.next = noise.clone()
            prev = scheduler.step(output, t, sample).prev_sample
            INJECT.next = None
            samples.append(f32_list(sample))
            outputs.append(f32_list(output))
            noises.append(f32_list(noise) if options["variant"] == "ancestral" else [])
            expected.append(f32_list(prev))
        cases.append(dict(kind="sequence", options=options, shape=list(shape),
                          timesteps=f32_list(scheduler.timesteps), sigmas=f32_list(scheduler.sigmas),
                          samples=samples, model_outputs=outputs, noises=noises, expected=expected))
    return cases


def stand_in_model(x_in, t):
    return 0.5 * torch.sin(x_in + 0.01 * t)


def loop_configs():
    configs = []
    for variant, steps, (spacing, offset), schedule, prediction, final in itertools.product(
            ("euler", "ancestral"), (10, 25), SPACINGS, SCHEDULES, PREDICTIONS, ("zero", "sigma_min")):
        if variant == "ancestral" and prediction == "sample":
            continue
        configs.append(options_of(variant=variant, steps=steps, spacing=spacing, steps_offset=offset,
                                  schedule=schedule, prediction_type=prediction, final_sigmas_type=final))
    for variant, schedule in itertools.product(("euler", "ancestral"), SCHEDULES):
        configs.append(options_of(variant=variant, schedule=schedule, prediction_type="v_prediction",
                                  timestep_type="continuous", spacing="trailing", steps=20))
        configs.append(options_of(variant=variant, schedule=schedule, prediction_type="v_prediction",
                                  rescale_betas_zero_snr=True, spacing="trailing", steps=20))
        configs.append(options_of(variant=variant, schedule=schedule, betas="scaled_linear", spacing="leading",
                                  steps_offset=1, steps=20))
    # diffusers' own alphas_cumprod, end to end.
    for variant, schedule, (spacing, offset) in itertools.product(("euler", "ancestral"), SCHEDULES, SPACINGS):
        configs.append(options_of(variant=variant, schedule=schedule, spacing=spacing, steps_offset=offset,
                                  steps=25, alphas_cumprod="diffusers"))
    return configs


def loops():
    shape = (2, 1, 4, 4)
    per_sample = int(np.prod(shape[1:]))
    seed = 2024
    cases = []
    for options in loop_configs():
        scheduler = scheduler_of(options)
        n = options["steps"]
        streams = [NoiseStream(seed, i) for i in range(shape[0])]
        draw = lambda: torch.from_numpy(np.stack([s.normals(per_sample) for s in streams]).reshape(shape))
        z = draw()
        x = z * scheduler.init_noise_sigma
        for k, t in enumerate(scheduler.timesteps[:n]):
            x_in = scheduler.scale_model_input(x, t)
            output = stand_in_model(x_in, float(t))
            if options["variant"] == "ancestral":
                INJECT.next = draw() if sigma_up(scheduler, k) > 0 else torch.zeros(shape)
            x = scheduler.step(output, t, x).prev_sample
            INJECT.next = None
        cases.append(dict(kind="loop", options=options, seed=seed, shape=list(shape),
                          timesteps=f32_list(scheduler.timesteps[:n]), x_T=f32_list(z), diffusers=f32_list(x)))
    return cases


def heun_scheduler(options):
    """HeunDiscreteScheduler (no final_sigmas_type, timestep_type, sigma_min/max or rescale)."""
    clip = options["clip_sample"]
    scheduler = HeunDiscreteScheduler(
        num_train_timesteps=1000, **BETAS[options["betas"]], prediction_type=options["prediction_type"],
        use_karras_sigmas=options["schedule"] == "karras",
        use_exponential_sigmas=options["schedule"] == "exponential",
        use_beta_sigmas=options["schedule"] == "beta", clip_sample=clip is not None,
        clip_sample_range=clip if clip is not None else 1.0, timestep_spacing=options["spacing"],
        steps_offset=options["steps_offset"])
    use_core_alphas_cumprod(scheduler, options)
    scheduler.set_timesteps(options["steps"])
    return scheduler


def heun_options():
    configs = []
    for (spacing, offset), schedule, prediction, steps in itertools.product(
            SPACINGS, SCHEDULES, PREDICTIONS, (1, 10, 25)):
        configs.append(options_of(variant="heun", schedule=schedule, spacing=spacing, steps_offset=offset,
                                  prediction_type=prediction, steps=steps))
    for schedule, prediction in itertools.product(SCHEDULES, PREDICTIONS):
        configs.append(options_of(variant="heun", schedule=schedule, prediction_type=prediction,
                                  clip_sample=1.0, steps=10))
    for schedule in SCHEDULES:
        configs.append(options_of(variant="heun", schedule=schedule, betas="scaled_linear", spacing="leading",
                                  steps_offset=1, steps=15))
    return configs


def heun_cases():
    shape = (2, 1, 4, 4)
    per_sample = int(np.prod(shape[1:]))
    seed = 2024
    generator = torch.Generator().manual_seed(8765)
    cases = []
    for options in heun_options():
        scheduler = heun_scheduler(options)
        evaluations = len(scheduler.timesteps)
        assert evaluations == 2 * options["steps"] - 1, evaluations
        record = plan_record(scheduler, dict(options, steps=evaluations))
        record["sigmas"] = f32_list(scheduler.sigmas)
        cases.append(dict(kind="heun_plan", options=options, **record))
        # The whole run with the stand-in model, from x_T = init_noise_sigma * z (noise v1).
        scheduler = heun_scheduler(options)
        streams = [NoiseStream(seed, i) for i in range(shape[0])]
        z = torch.from_numpy(np.stack([s.normals(per_sample) for s in streams]).reshape(shape))
        x = z * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            x_in = scheduler.scale_model_input(x, t)
            x = scheduler.step(stand_in_model(x_in, float(t)), t, x).prev_sample
        cases.append(dict(kind="heun_loop", options=options, seed=seed, shape=list(shape), x_T=f32_list(z),
                          diffusers=f32_list(x)))
        if options["steps"] != 10 or options["spacing"] != "linspace" or options["clip_sample"] is not None:
            continue  # (the file's size)
        # Every evaluation alone: random samples into first stages (the second gets the first's
        # output), random model outputs.
        scheduler = heun_scheduler(options)
        scheduler.is_scale_input_called = True
        samples, outputs, expected = [], [], []
        x = None
        for k, t in enumerate(scheduler.timesteps):
            if k % 2 == 0:
                x = torch.randn(shape, generator=generator) * (float(scheduler.sigmas[k]) ** 2 + 1) ** 0.5
            output = torch.randn(shape, generator=generator)
            samples.append(f32_list(x))
            outputs.append(f32_list(output))
            x = scheduler.step(output, t, x).prev_sample
            expected.append(f32_list(x))
        cases.append(dict(kind="heun_sequence", options=options, shape=list(shape), samples=samples,
                          model_outputs=outputs, expected=expected))
    return cases


def write(name, data):
    path = os.path.join(HERE, name)
    with open(path, "w") as f:
        json.dump(dict(peer=f"diffusers {diffusers.__version__}, torch {torch.__version__.split('+')[0]}, "
                            f"scipy {scipy.__version__}", cases=data), f)
    print(f"wrote {path} ({len(data)} cases, {os.path.getsize(path) // 1024} KiB)")


if __name__ == "__main__":
    write("euler.json", plans() + sequences() + loops() + heun_cases())
