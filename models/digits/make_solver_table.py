#!/usr/bin/env python3
"""Sample quality of the fast samplers on the default model: Frechet distance and confidence
(models/eval/evaluate.py) against the number of model calls (5, 10, 20) for DDIM (eta = 0),
DPM-Solver++ 2M, UniPC bh2 and Euler, each cell over two seeds of 2 000 samples, plus DDIM with the
demo's 25 steps. Every sampler runs with the model's scheduler_config.json (linear betas 1e-4 to
0.02, T = 1000, epsilon, leading spacing) and its diffusers defaults otherwise; one step is one
model call for all of them. Runs `host` for every cell and rewrites the table between the markers
in models/digits/README.md (and solver_table.json).

    cargo build --release -p host && .venv/bin/python models/digits/make_solver_table.py [--samples DIR]

--samples keeps the .npy files in DIR and reuses those already there (a cell is written under a
temporary name and renamed when complete), so an interrupted run resumes.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "models", "eval"))
import evaluate  # noqa: E402

import numpy as np

SAMPLES, BATCH = 2000, 100
SEEDS = [0, 1]
CALLS = [5, 10, 20]
DEMO_STEPS = 25
# (key, label, host flags); DDIM first: the ratios are to it.
SAMPLERS = [
    ("ddim", "DDIM η = 0", ["--scheduler", "ddim", "--eta", "0"]),
    ("dpm2m", "DPM-Solver++ 2M", ["--scheduler", "dpm-solver", "--algorithm-type", "dpmsolver++", "--solver-order", "2"]),
    ("unipc", "UniPC bh2", ["--scheduler", "unipc", "--solver-type", "bh2", "--solver-order", "2"]),
    ("euler", "Euler", ["--scheduler", "euler"]),
]
MARK_START, MARK_END = "<!-- solver table: written by make_solver_table.py -->", "<!-- end of solver table -->"


def cells():
    """Every (sampler key, flags, calls, seed) in the order they are sampled: the 10-call cells of
    the issue's target first, then 5 calls, the demo's DDIM, 20 calls; Euler last."""
    flags = {key: args for key, _, args in SAMPLERS}
    order = []
    for calls in [10, 5]:
        for key in ["ddim", "dpm2m", "unipc"]:
            order += [(key, flags[key], calls, seed) for seed in SEEDS]
    order += [("ddim", flags["ddim"], DEMO_STEPS, seed) for seed in SEEDS]
    for key in ["ddim", "dpm2m", "unipc"]:
        order += [(key, flags[key], 20, seed) for seed in SEEDS]
    for calls in [10, 5, 20]:
        order += [("euler", flags["euler"], calls, seed) for seed in SEEDS]
    return order


def sample(args, steps, seed, path):
    """Runs host for one cell into `path` (written as path.part and renamed); its wall seconds."""
    if os.path.exists(path):
        return 0.0
    partial = path + ".part.npy"
    command = [os.path.join(ROOT, "target", "release", "host"), "--onnx", os.path.join(HERE, "unet.onnx"),
               "--num-samples", str(SAMPLES), "--batch", str(BATCH), "--seed", str(seed),
               "--steps", str(steps), "--save-npy", partial, *args]
    started = time.time()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.replace(partial, path)
    if os.path.exists(partial + ".json"):  # host's manifest of the run
        os.replace(partial + ".json", path + ".json")
    return time.time() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", help="keep (and reuse) the samples in this directory")
    parser.add_argument("--existing", action="store_true",
                        help="only tabulate the cells already in --samples (the others show as —)")
    args = parser.parse_args()
    model, _, _, held_x = evaluate.classifier()
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.samples or scratch
        os.makedirs(directory, exist_ok=True)
        results = {}
        for key, flags, calls, seed in cells():
            path = os.path.join(directory, f"{key}_{calls}_seed{seed}.npy")
            if args.existing and not os.path.exists(path):
                continue
            seconds = sample(flags, calls, seed, path)
            results[(key, calls, seed)] = evaluate.metrics(model, np.load(path), held_x)
            print(f"{key} calls={calls} seed={seed}: {results[(key, calls, seed)]} ({seconds:.0f} s)", flush=True)

    def values(key, calls, metric):
        """The metric over the seeds; None if some seed's cell is missing (with --existing)."""
        found = [results[(key, calls, seed)][metric] for seed in SEEDS if (key, calls, seed) in results]
        return found if len(found) == len(SEEDS) else None

    def mean(key, calls, metric):
        return float(np.mean(values(key, calls, metric)))

    def spread(found, fmt, suffix=""):
        """mean ± half the range of the seeds' values, or — for a cell not measured."""
        if found is None:
            return "—"
        middle, half = float(np.mean(found)), (max(found) - min(found)) / 2
        return f"{fmt(middle)} ± {fmt(half)}{suffix}"

    def ratio(key, calls):
        if values(key, calls, "fd") is None or values("ddim", calls, "fd") is None:
            return "—"
        return f"{mean(key, calls, 'fd') / mean('ddim', calls, 'fd'):.2f}×"

    def percent(found):
        return None if found is None else [100 * v for v in found]

    header = ["| sampler | " + " | ".join(f"{c} calls" for c in CALLS) + " |", "|---|" + "---|" * len(CALLS)]
    fd_rows, ratio_rows, confident_rows = list(header), list(header), list(header)
    for key, label, _ in SAMPLERS:
        fd_rows.append(f"| {label} | " + " | ".join(spread(values(key, c, "fd"), lambda v: f"{v:.2f}") for c in CALLS) + " |")
        ratio_rows.append(f"| {label} | " + " | ".join(ratio(key, c) for c in CALLS) + " |")
        confident_rows.append(f"| {label} | " + " | ".join(
            spread(percent(values(key, c, "confident")), lambda v: f"{v:.1f}", "%") for c in CALLS) + " |")
    demo_fd = spread(values("ddim", DEMO_STEPS, "fd"), lambda v: f"{v:.2f}")
    demo_confident = spread(percent(values("ddim", DEMO_STEPS, "confident")), lambda v: f"{v:.1f}", "%")
    text = "\n".join([
        MARK_START,
        f"Fréchet distance (lower is better; each cell: mean ± half the range over seeds {', '.join(map(str, SEEDS))}, "
        f"{SAMPLES} samples per seed; one step is one model call for every sampler here):",
        "", *fd_rows, "",
        "Fréchet distance as a multiple of DDIM's at the same number of calls (the means above):",
        "", *ratio_rows, "",
        "Digit confidence (share of samples with a class probability > 0.9; mean ± half the range):",
        "", *confident_rows, "",
        f"DDIM η = 0 with {DEMO_STEPS} steps (the demo's sampler before UniPC with 10): Fréchet distance {demo_fd}, confidence {demo_confident}.",
        MARK_END,
    ])
    readme = os.path.join(HERE, "README.md")
    with open(readme) as f:
        content = f.read()
    start, end = content.index(MARK_START), content.index(MARK_END)
    with open(readme, "w") as f:
        f.write(content[:start] + text + content[end + len(MARK_END):])
    with open(os.path.join(HERE, "solver_table.json"), "w") as f:
        json.dump({f"{key},calls={calls},seed={seed}": v for (key, calls, seed), v in results.items()}, f, indent=1)
    print("updated", readme)


if __name__ == "__main__":
    main()
