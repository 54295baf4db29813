#!/usr/bin/env python3
"""Writes tests/golden/dpm_solver.json, the golden vectors that tests/tests/golden_dpm_solver.rs
compares diffusion-core's DpmSolverPlan against.

Peer: diffusers 0.42.1 on torch 2.15.0 (requirements.txt), DPMSolverMultistepScheduler. Run with
the virtualenv that make_golden.sh creates: .venv/bin/python tests/golden/make_golden_dpm.py

Cases (float32 values written exactly), each with "kind":
  sequences  step-by-step checks: at every step k of a 10-step run, an independent random sample
             and model output go in, and diffusers' result of that one step comes out. The solver's
             memory (earlier converted outputs) comes from the earlier steps' inputs, so each step
             is checked alone, without the error of the steps before it.
  (both also with use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas: "schedule"; and
  sde-dpmsolver++, orders 1 and 2, whose noise is given: "noises" per step in sequences, noise v1
  in loops, x_T first and then each step's noise from the stream of each sample)
  loops      whole 10- and 25-step runs with the stand-in model eps(x, t) = 0.5*sin(x + 0.01*t)
             from x_T drawn by noise v1 (tests/noise/noise_v1.py), as loops.json: every
             solver_order x solver_type x spacing x prediction_type x final_sigmas_type x
             lower_order_final for dpmsolver++, the same with sigma_min for dpmsolver (diffusers
             refuses dpmsolver with final sigma 0), and euler_at_final, thresholding and
             zero-terminal-SNR runs. Each case also records diffusers' timesteps and sigmas.
"""
import itertools
import json
import os
import sys

import numpy as np
import torch
import diffusers
from diffusers import DPMSolverMultistepScheduler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "noise"))
from noise_v1 import NoiseStream  # noqa: E402

assert diffusers.__version__ == "0.42.1", diffusers.__version__
torch.manual_seed(0)

SPACINGS = (("linspace", 0), ("leading", 1), ("trailing", 0))
PREDICTIONS = ("epsilon", "v_prediction", "sample")
SIGMA_SCHEDULES = ("karras", "exponential", "beta")


def f32_list(tensor):
    """float32 values, each written as its shortest decimal that reads back as the same float32."""
    return [float(str(v)) for v in np.asarray(tensor, dtype=np.float32).ravel()]


def make_scheduler(options):
    """options: our names for the case, which are diffusers' config keys."""
    config = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0001, beta_end=0.02,
                  algorithm_type=options["algorithm_type"], solver_order=options["solver_order"],
                  solver_type=options["solver_type"], lower_order_final=options["lower_order_final"],
                  euler_at_final=options["euler_at_final"], final_sigmas_type=options["final_sigmas_type"],
                  prediction_type=options["prediction_type"], timestep_spacing=options["spacing"],
                  steps_offset=options["steps_offset"],
                  rescale_betas_zero_snr=options["rescale_betas_zero_snr"],
                  use_karras_sigmas=options["schedule"] == "karras",
                  use_exponential_sigmas=options["schedule"] == "exponential",
                  use_beta_sigmas=options["schedule"] == "beta")
    if options["thresholding"]:
        config.update(thresholding=True, dynamic_thresholding_ratio=0.9, sample_max_value=1.5)
    return DPMSolverMultistepScheduler(**config)


def options_of(algorithm_type="dpmsolver++", solver_order=2, solver_type="midpoint", lower_order_final=True,
               euler_at_final=False, final_sigmas_type="zero", prediction_type="epsilon", spacing="trailing",
               steps_offset=0, thresholding=False, rescale_betas_zero_snr=False, steps=10,
               schedule="interpolated"):
    return dict(algorithm_type=algorithm_type, solver_order=solver_order, solver_type=solver_type,
                lower_order_final=lower_order_final, euler_at_final=euler_at_final,
                final_sigmas_type=final_sigmas_type, prediction_type=prediction_type, spacing=spacing,
                steps_offset=steps_offset, thresholding=thresholding,
                rescale_betas_zero_snr=rescale_betas_zero_snr, steps=steps, schedule=schedule)


def orders_used(scheduler):
    """The order diffusers' step uses at each index (its own conditions, evaluated here)."""
    n, config, orders = len(scheduler.timesteps), scheduler.config, []
    for i in range(n):
        lower_final = i == n - 1 and (config.euler_at_final or (config.lower_order_final and n < 15)
                                      or config.final_sigmas_type == "zero")
        lower_second = i == n - 2 and config.lower_order_final and n < 15
        if config.solver_order == 1 or i < 1 or lower_final:
            orders.append(1)
        elif config.solver_order == 2 or i < 2 or lower_second:
            orders.append(2)
        else:
            orders.append(3)
    return orders


def sequences():
    shape = (2, 1, 4, 4)
    generator = torch.Generator().manual_seed(4321)
    cases = []
    configs = []
    for algorithm, order, solver_type, prediction, thresholding in itertools.product(
            ("dpmsolver++", "dpmsolver"), (1, 2, 3), ("midpoint", "heun"), PREDICTIONS, (False, True)):
        if order == 1 and solver_type == "heun":
            continue
        finals = ("zero", "sigma_min") if algorithm == "dpmsolver++" else ("sigma_min",)
        for final in finals:
            configs.append(options_of(algorithm_type=algorithm, solver_order=order, solver_type=solver_type,
                                      prediction_type=prediction, thresholding=thresholding,
                                      final_sigmas_type=final, spacing="leading", steps_offset=1,
                                      lower_order_final=final == "zero"))
    # Karras, exponential and beta sigmas (use_*_sigmas): their timesteps, and weights from their
    # sigmas rather than from the training ᾱ.
    for schedule, algorithm, order, solver_type, prediction in itertools.product(
            SIGMA_SCHEDULES, ("dpmsolver++", "dpmsolver"), (2, 3), ("midpoint", "heun"), PREDICTIONS):
        # Beta sigmas start with nearly equal sigmas, where dpmsolver's order-3 weights are
        # ill-conditioned: diffusers' own float32 step differs from its float64 step by 1.0e-5 at
        # step 2 (more than the step tolerance), so those steps are checked in the loops only.
        if schedule == "beta" and algorithm == "dpmsolver" and order == 3:
            continue
        finals = ("zero", "sigma_min") if algorithm == "dpmsolver++" else ("sigma_min",)
        for final in finals:
            configs.append(options_of(algorithm_type=algorithm, solver_order=order, solver_type=solver_type,
                                      prediction_type=prediction, final_sigmas_type=final, schedule=schedule))
    # SDE-DPM-Solver++ (orders 1 and 2): each step also gets its noise.
    for schedule, order, solver_type, prediction, final in itertools.product(
            ("interpolated", "karras"), (1, 2), ("midpoint", "heun"), PREDICTIONS, ("zero", "sigma_min")):
        if order == 1 and solver_type == "heun":
            continue
        configs.append(options_of(algorithm_type="sde-dpmsolver++", solver_order=order, solver_type=solver_type,
                                  prediction_type=prediction, final_sigmas_type=final, schedule=schedule))
    for options in configs:
        scheduler = make_scheduler(options)
        scheduler.set_timesteps(options["steps"])
        samples, outputs, expected, noises = [], [], [], []
        sde = options["algorithm_type"] == "sde-dpmsolver++"
        for t in scheduler.timesteps:
            sample = torch.randn(shape, generator=generator)
            output = torch.randn(shape, generator=generator)
            noise = torch.randn(shape, generator=generator) if sde else None
            prev = scheduler.step(output, t, sample, variance_noise=noise).prev_sample
            if sde:
                noises.append(f32_list(noise))
            assert torch.isfinite(prev).all(), options
            samples.append(f32_list(sample))
            outputs.append(f32_list(output))
            expected.append(f32_list(prev))
        cases.append(dict(kind="sequence", options=options, shape=list(shape), timesteps=[int(t) for t in scheduler.timesteps],
                          orders=orders_used(scheduler), samples=samples, model_outputs=outputs,
                          expected=expected, noises=noises))
    return cases


def stand_in_model(x, t):
    return 0.5 * torch.sin(x + 0.01 * t)


def loop_configs():
    configs = []
    for steps, order, solver_type, (spacing, offset), prediction, final, lower in itertools.product(
            (10, 25), (1, 2, 3), ("midpoint", "heun"), SPACINGS, PREDICTIONS, ("zero", "sigma_min"),
            (True, False)):
        if order == 1 and solver_type == "heun":
            continue
        common = dict(solver_order=order, solver_type=solver_type, spacing=spacing, steps_offset=offset,
                      prediction_type=prediction, final_sigmas_type=final, lower_order_final=lower, steps=steps)
        configs.append(options_of(algorithm_type="dpmsolver++", **common))
        if final == "sigma_min":
            configs.append(options_of(algorithm_type="dpmsolver", **common))
    # euler_at_final: first order at the last step even with sigma_min and N >= 15.
    for algorithm, order in itertools.product(("dpmsolver++", "dpmsolver"), (2, 3)):
        configs.append(options_of(algorithm_type=algorithm, solver_order=order, euler_at_final=True,
                                  final_sigmas_type="sigma_min", lower_order_final=False, steps=25))
    # Dynamic thresholding of x0 (dpmsolver++) or of the x0 behind eps (dpmsolver).
    for algorithm, order, prediction in itertools.product(("dpmsolver++", "dpmsolver"), (2, 3), PREDICTIONS):
        configs.append(options_of(algorithm_type=algorithm, solver_order=order, thresholding=True,
                                  prediction_type=prediction, final_sigmas_type="sigma_min", steps=25))
    # Zero terminal SNR: diffusers sets alphas_cumprod[-1] = 2**-24.
    for algorithm, order, prediction in itertools.product(("dpmsolver++", "dpmsolver"), (2, 3),
                                                          ("v_prediction", "sample")):
        configs.append(options_of(algorithm_type=algorithm, solver_order=order, rescale_betas_zero_snr=True,
                                  prediction_type=prediction, final_sigmas_type="sigma_min", steps=25))
    # Karras, exponential and beta sigmas.
    for steps, schedule, order, prediction, final in itertools.product(
            (10, 25), SIGMA_SCHEDULES, (1, 2, 3), PREDICTIONS, ("zero", "sigma_min")):
        common = dict(solver_order=order, prediction_type=prediction, final_sigmas_type=final, steps=steps,
                      schedule=schedule)
        # With final sigma sigma_min the last step goes from the schedule's last sigma (sigma_min) to
        # itself, h = 0: at order 2 (heun) or 3, diffusers computes 0/0 and returns NaN, which is no
        # reference (the core's limit is the identity; core/src/dpm_solver.rs tests it). Those runs
        # end at order 1 here (10 steps, lower_order_final) or use order 2 midpoint.
        degenerate = final == "sigma_min" and steps >= 15 and order >= 2
        if not (degenerate and order == 3):
            configs.append(options_of(algorithm_type="dpmsolver++", **common))
        if final == "sigma_min" and not degenerate:
            configs.append(options_of(algorithm_type="dpmsolver", solver_type="heun", **common))
    # SDE-DPM-Solver++: x_T and then each step's noise from noise v1, sample i from stream i.
    for steps, schedule, order, solver_type, prediction, final in itertools.product(
            (10, 25), ("interpolated", "karras"), (1, 2), ("midpoint", "heun"), PREDICTIONS, ("zero", "sigma_min")):
        if order == 1 and solver_type == "heun":
            continue
        if final == "sigma_min" and schedule == "karras" and steps >= 15 and solver_type == "heun":
            continue  # the last step's h = 0: NaN in diffusers, as above
        configs.append(options_of(algorithm_type="sde-dpmsolver++", solver_order=order, solver_type=solver_type,
                                  prediction_type=prediction, final_sigmas_type=final, schedule=schedule,
                                  steps=steps))
    return configs


def loops():
    shape = (2, 1, 4, 4)
    per_sample = int(np.prod(shape[1:]))
    seed = 2024
    cases = []
    for options in loop_configs():
        scheduler = make_scheduler(options)
        scheduler.set_timesteps(options["steps"])
        timesteps = [int(t) for t in scheduler.timesteps]
        assert len(timesteps) == options["steps"], timesteps
        # diffusers' first step starts at the second match of a repeated first timestep.
        assert timesteps.count(timesteps[0]) == 1, timesteps
        streams = [NoiseStream(seed, i) for i in range(shape[0])]
        x_T = torch.from_numpy(np.stack([s.normals(per_sample) for s in streams]).reshape(shape))
        x = x_T.clone()
        sde = options["algorithm_type"] == "sde-dpmsolver++"
        for t in scheduler.timesteps:
            noise = None
            if sde:
                noise = torch.from_numpy(np.stack([s.normals(per_sample) for s in streams]).reshape(shape))
            x = scheduler.step(stand_in_model(x, int(t)), t, x, variance_noise=noise).prev_sample
        assert torch.isfinite(x).all(), options
        cases.append(dict(kind="loop", options=options, seed=seed, shape=list(shape), timesteps=timesteps,
                          sigmas=f32_list(scheduler.sigmas), orders=orders_used(scheduler),
                          x_T=f32_list(x_T), diffusers=f32_list(x)))
    return cases


def write(name, data):
    path = os.path.join(HERE, name)
    with open(path, "w") as f:
        json.dump(dict(peer=f"diffusers {diffusers.__version__}, torch {torch.__version__.split('+')[0]}",
                       cases=data), f)
    print(f"wrote {path} ({len(data)} cases, {os.path.getsize(path) // 1024} KiB)")


if __name__ == "__main__":
    write("dpm_solver.json", sequences() + loops())
