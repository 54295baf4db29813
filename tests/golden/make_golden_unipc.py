#!/usr/bin/env python3
"""Writes tests/golden/unipc.json, the golden vectors that tests/tests/golden_unipc.rs compares
diffusion-core's UniPcPlan against.

Peer: diffusers 0.42.1 on torch 2.15.0 (requirements.txt), UniPCMultistepScheduler. Run with the
virtualenv that make_golden.sh creates: .venv/bin/python tests/golden/make_golden_unipc.py

Cases (float32 values written exactly), each with "kind":
  sequences  step-by-step checks of 8-step runs: at every step an independent random sample and
             model output go in, and diffusers' result of that one step comes out. The solver's
             memory (earlier converted outputs and the last corrected sample, which the corrector
             starts from) comes from the earlier steps, so the corrector chains through them.
  loops      whole 10- and 25-step runs with the stand-in model eps(x, t) = 0.5*sin(x + 0.01*t)
             from x_T drawn by noise v1 (tests/noise/noise_v1.py): every solver_order x
             solver_type x spacing x prediction_type x final_sigmas_type x lower_order_final with
             predict_x0, the same at 10 steps with lower_order_final for predict_x0=False, and
             disable_corrector, thresholding and zero-terminal-SNR runs; Karras, exponential and
             beta sigmas (use_*_sigmas, "schedule", with sigma_min/sigma_max in a few). Each case
             also records diffusers' timesteps and sigmas.

Where diffusers itself fails, and what is recorded instead:
  * final_sigmas_type="zero" with bh1 (predict_x0), or with predict_x0=False: the last step is
    NaN in diffusers (-inf*0 from B(h) = -h, or 0*inf from sigma_t*expm1(h)). The case is run
    again with the final sigma replaced by FINAL_SIGMA_STANDIN = 1e-10 (recorded as
    "final_sigma"); diffusers then converges to the limit the core computes (x0 of the last step)
    to about 1e-9. The script asserts that the exact-zero run is NaN.
  * final_sigmas_type="zero" with lower_order_final=False and solver_order >= 2: the last step has
    no limit (diffusers returns +-inf, or fails on a singular matrix at order 3); the core takes
    it at order 1. No golden case; the script asserts diffusers' failure.
"""
import itertools
import json
import os
import sys

import numpy as np
import torch
import diffusers
from diffusers import UniPCMultistepScheduler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "noise"))
from noise_v1 import NoiseStream  # noqa: E402

assert diffusers.__version__ == "0.42.1", diffusers.__version__
torch.manual_seed(0)

SPACINGS = (("linspace", 0), ("leading", 1), ("trailing", 0))
PREDICTIONS = ("epsilon", "v_prediction", "sample")
SIGMA_SCHEDULES = ("karras", "exponential", "beta")
FINAL_SIGMA_STANDIN = 1e-10


def f32_list(tensor):
    """float32 values, each written as its shortest decimal that reads back as the same float32."""
    return [float(str(v)) for v in np.asarray(tensor, dtype=np.float32).ravel()]


def options_of(solver_order=2, solver_type="bh2", predict_x0=True, lower_order_final=True, disable_corrector=(),
               final_sigmas_type="zero", prediction_type="epsilon", spacing="trailing", steps_offset=0,
               thresholding=False, rescale_betas_zero_snr=False, steps=10, schedule="interpolated",
               sigma_min=None, sigma_max=None):
    return dict(solver_order=solver_order, solver_type=solver_type, predict_x0=predict_x0,
                lower_order_final=lower_order_final, disable_corrector=list(disable_corrector),
                final_sigmas_type=final_sigmas_type, prediction_type=prediction_type, spacing=spacing,
                steps_offset=steps_offset, thresholding=thresholding,
                rescale_betas_zero_snr=rescale_betas_zero_snr, steps=steps, schedule=schedule,
                sigma_min=sigma_min, sigma_max=sigma_max)


def make_scheduler(options, final_sigma=None):
    """options: our names for the case, which are diffusers' config keys. final_sigma replaces the
    last element of diffusers' sigmas (the stand-in for 0 where diffusers' own step is NaN)."""
    config = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0001, beta_end=0.02,
                  solver_order=options["solver_order"], solver_type=options["solver_type"],
                  predict_x0=options["predict_x0"], lower_order_final=options["lower_order_final"],
                  disable_corrector=list(options["disable_corrector"]),
                  final_sigmas_type=options["final_sigmas_type"], prediction_type=options["prediction_type"],
                  timestep_spacing=options["spacing"], steps_offset=options["steps_offset"],
                  rescale_betas_zero_snr=options["rescale_betas_zero_snr"],
                  use_karras_sigmas=options["schedule"] == "karras",
                  use_exponential_sigmas=options["schedule"] == "exponential",
                  use_beta_sigmas=options["schedule"] == "beta",
                  sigma_min=options["sigma_min"], sigma_max=options["sigma_max"])
    if options["thresholding"]:
        config.update(thresholding=True, dynamic_thresholding_ratio=0.9, sample_max_value=1.5)
    scheduler = UniPCMultistepScheduler(**config)
    scheduler.set_timesteps(options["steps"])
    if final_sigma is not None:
        assert scheduler.sigmas[-1] == 0
        scheduler.sigmas[-1] = final_sigma
    return scheduler


def nan_at_zero(options):
    """Whether diffusers' last step to sigma = 0 is NaN (bh1's -inf*0, or 0*inf without predict_x0)."""
    return options["final_sigmas_type"] == "zero" and (options["solver_type"] == "bh1" or not options["predict_x0"])


def no_limit_at_zero(options):
    return (options["final_sigmas_type"] == "zero" and not options["lower_order_final"]
            and options["solver_order"] >= 2)


def orders_used(scheduler):
    """The predictor's order diffusers' step uses at each index (its own conditions, evaluated here)."""
    n, config = len(scheduler.timesteps), scheduler.config
    orders = []
    for i in range(n):
        order = min(config.solver_order, n - i) if config.lower_order_final else config.solver_order
        orders.append(min(order, i + 1))
    return orders


def correctors_used(scheduler):
    return [i > 0 and (i - 1) not in scheduler.config.disable_corrector for i in range(len(scheduler.timesteps))]


def run_steps(scheduler, inputs):
    """inputs: (sample, model_output) per step; returns each step's prev_sample."""
    return [scheduler.step(output, t, sample).prev_sample for t, (sample, output) in zip(scheduler.timesteps, inputs)]


def sequences():
    shape = (2, 1, 3, 3)
    generator = torch.Generator().manual_seed(4321)
    configs = []
    for predict_x0, order, solver_type, prediction, final in itertools.product(
            (True, False), (1, 2, 3), ("bh1", "bh2"), PREDICTIONS, ("zero", "sigma_min")):
        if not predict_x0 and prediction == "sample":
            continue
        configs.append(options_of(predict_x0=predict_x0, solver_order=order, solver_type=solver_type,
                                  prediction_type=prediction, final_sigmas_type=final))
    for order, prediction in itertools.product((2, 3), PREDICTIONS):
        configs.append(options_of(solver_order=order, prediction_type=prediction, thresholding=True,
                                  final_sigmas_type="sigma_min"))
    for order, disabled in itertools.product((2, 3), ((0,), (2, 3, 5))):
        configs.append(options_of(solver_order=order, disable_corrector=disabled))
    for options in configs:
        options.update(spacing="leading", steps_offset=1)
    # Karras, exponential and beta sigmas (their spacing is unused).
    for schedule, order, solver_type, prediction, final in itertools.product(
            SIGMA_SCHEDULES, (2, 3), ("bh1", "bh2"), PREDICTIONS, ("zero", "sigma_min")):
        # Beta sigmas start with nearly equal sigmas, where the order-3 weights are ill-conditioned:
        # diffusers' own float32 step differs from its float64 step by 1.1e-5 to 1.5e-5 at step 3
        # (more than the step tolerance), so those steps are checked in the loops only.
        if schedule == "beta" and order == 3:
            continue
        configs.append(options_of(solver_order=order, solver_type=solver_type, prediction_type=prediction,
                                  final_sigmas_type=final, schedule=schedule))
    cases = []
    for options in configs:
        options.update(steps=8)
        scheduler = make_scheduler(options)
        inputs = [(torch.randn(shape, generator=generator), torch.randn(shape, generator=generator))
                  for _ in scheduler.timesteps]
        expected = run_steps(scheduler, inputs)
        final_sigma = None
        if nan_at_zero(options):
            assert all(torch.isfinite(x).all() for x in expected[:-1])
            assert torch.isnan(expected[-1]).all(), options
            final_sigma = FINAL_SIGMA_STANDIN
            expected = run_steps(make_scheduler(options, final_sigma), inputs)
        assert all(torch.isfinite(x).all() for x in expected), options
        cases.append(dict(kind="sequence", options=options, final_sigma=final_sigma, shape=list(shape),
                          timesteps=[int(t) for t in scheduler.timesteps], orders=orders_used(scheduler),
                          correctors=correctors_used(scheduler),
                          samples=[f32_list(s) for s, _ in inputs], model_outputs=[f32_list(o) for _, o in inputs],
                          expected=[f32_list(x) for x in expected]))
    return cases


def stand_in_model(x, t):
    return 0.5 * torch.sin(x + 0.01 * t)


def loop_configs():
    configs = []
    for steps, order, solver_type, (spacing, offset), prediction, final, lower in itertools.product(
            (10, 25), (1, 2, 3), ("bh1", "bh2"), SPACINGS, PREDICTIONS, ("zero", "sigma_min"), (True, False)):
        configs.append(options_of(solver_order=order, solver_type=solver_type, spacing=spacing, steps_offset=offset,
                                  prediction_type=prediction, final_sigmas_type=final, lower_order_final=lower,
                                  steps=steps))
    # predict_x0 = False: the solver combines eps.
    for order, solver_type, (spacing, offset), prediction, final in itertools.product(
            (1, 2, 3), ("bh1", "bh2"), SPACINGS, PREDICTIONS, ("zero", "sigma_min")):
        configs.append(options_of(predict_x0=False, solver_order=order, solver_type=solver_type, spacing=spacing,
                                  steps_offset=offset, prediction_type=prediction, final_sigmas_type=final))
    # disable_corrector: no correction of the listed steps' results.
    for order, solver_type, disabled in itertools.product((1, 2, 3), ("bh1", "bh2"),
                                                          ((0,), (0, 1, 2), (4, 7, 9), tuple(range(25)))):
        configs.append(options_of(solver_order=order, solver_type=solver_type, disable_corrector=disabled, steps=25))
    # Dynamic thresholding of x0.
    for order, solver_type, prediction, final in itertools.product((2, 3), ("bh1", "bh2"), PREDICTIONS,
                                                                   ("zero", "sigma_min")):
        configs.append(options_of(solver_order=order, solver_type=solver_type, thresholding=True,
                                  prediction_type=prediction, final_sigmas_type=final, steps=25))
    # Zero terminal SNR: diffusers sets alphas_cumprod[-1] = 2**-24.
    for predict_x0, order, prediction in itertools.product((True, False), (2, 3), ("v_prediction", "sample")):
        configs.append(options_of(predict_x0=predict_x0, solver_order=order, rescale_betas_zero_snr=True,
                                  prediction_type=prediction, final_sigmas_type="sigma_min", steps=25))
    # Karras, exponential and beta sigmas; with sigma_min the last step goes from the schedule's last
    # sigma to itself (h = 0, the identity at order 1).
    for steps, schedule, order, solver_type, prediction, final in itertools.product(
            (10, 25), SIGMA_SCHEDULES, (1, 2, 3), ("bh1", "bh2"), PREDICTIONS, ("zero", "sigma_min")):
        configs.append(options_of(solver_order=order, solver_type=solver_type, prediction_type=prediction,
                                  final_sigmas_type=final, schedule=schedule, steps=steps))
    for schedule, final in itertools.product(SIGMA_SCHEDULES, ("zero", "sigma_min")):
        configs.append(options_of(predict_x0=False, final_sigmas_type=final, schedule=schedule))
        configs.append(options_of(final_sigmas_type=final, schedule=schedule, sigma_min=0.03, sigma_max=80.0))
    return configs


def run_loop(scheduler, x_T):
    x = x_T.clone()
    for t in scheduler.timesteps:
        x = scheduler.step(stand_in_model(x, int(t)), t, x).prev_sample
    return x


def loops():
    shape = (2, 1, 4, 4)
    per_sample = int(np.prod(shape[1:]))
    seed = 2024
    cases = []
    without_limit = 0
    for options in loop_configs():
        scheduler = make_scheduler(options)
        timesteps = [int(t) for t in scheduler.timesteps]
        assert len(timesteps) == options["steps"], timesteps
        # diffusers' first step starts at the second match of a repeated first timestep.
        assert timesteps.count(timesteps[0]) == 1, timesteps
        streams = [NoiseStream(seed, i) for i in range(shape[0])]
        x_T = torch.from_numpy(np.stack([s.normals(per_sample) for s in streams]).reshape(shape))
        if no_limit_at_zero(options):
            try:
                x = run_loop(scheduler, x_T)
                assert not torch.isfinite(x).all(), options
            except torch._C._LinAlgError:
                assert options["solver_order"] == 3, options
            without_limit += 1
            continue
        x = run_loop(scheduler, x_T)
        final_sigma = None
        if nan_at_zero(options):
            assert torch.isnan(x).all(), options
            final_sigma = FINAL_SIGMA_STANDIN
            x = run_loop(make_scheduler(options, final_sigma), x_T)
        assert torch.isfinite(x).all(), options
        cases.append(dict(kind="loop", options=options, final_sigma=final_sigma, seed=seed, shape=list(shape),
                          timesteps=timesteps, sigmas=f32_list(scheduler.sigmas), orders=orders_used(scheduler),
                          correctors=correctors_used(scheduler), x_T=f32_list(x_T), diffusers=f32_list(x)))
    print(f"{without_limit} loops to sigma 0 at order >= 2 are not finite in diffusers (no golden case)")
    return cases


def write(name, data):
    path = os.path.join(HERE, name)
    with open(path, "w") as f:
        json.dump(dict(peer=f"diffusers {diffusers.__version__}, torch {torch.__version__.split('+')[0]}",
                       final_sigma_standin=FINAL_SIGMA_STANDIN, cases=data), f)
    print(f"wrote {path} ({len(data)} cases, {os.path.getsize(path) // 1024} KiB)")


if __name__ == "__main__":
    write("unipc.json", sequences() + loops())
