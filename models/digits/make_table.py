#!/usr/bin/env python3
"""Measures the DDIM paper's Table 1 on the default model: Frechet distance (and the other
metrics of models/eval/evaluate.py) for DDIM with eta in {0, 0.2, 0.5, 1} x steps in {10, 20, 50,
100}, plus DDPM with 1000 steps, 2 000 samples per cell, and the floor. Runs `host` for every
cell and rewrites the table between the markers in models/digits/README.md.

    cargo build --release -p host && .venv/bin/python models/digits/make_table.py
"""
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

SAMPLES, BATCH, SEED = 2000, 100, 0
ETAS = [0.0, 0.2, 0.5, 1.0]
STEPS = [10, 20, 50, 100]


def sample(args, path):
    command = [os.path.join(ROOT, "target", "release", "host"), "--onnx", os.path.join(HERE, "unet.onnx"),
               "--num-samples", str(SAMPLES), "--batch", str(BATCH), "--seed", str(SEED), "--save-npy", path, *args]
    started = time.time()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.time() - started


def main():
    model, accuracy, train_x, held_x = evaluate.classifier()
    floor = evaluate.metrics(model, train_x, held_x)
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        for eta in ETAS:
            for steps in STEPS:
                path = os.path.join(directory, f"ddim_{eta}_{steps}.npy")
                seconds = sample(["--scheduler", "ddim", "--eta", str(eta), "--steps", str(steps)], path)
                results[(eta, steps)] = evaluate.metrics(model, np.load(path), held_x)
                print(f"DDIM eta={eta} steps={steps}: {results[(eta, steps)]} ({seconds:.0f} s)", flush=True)
        path = os.path.join(directory, "ddpm_1000.npy")
        seconds = sample(["--scheduler", "ddpm", "--steps", "1000"], path)
        ddpm = evaluate.metrics(model, np.load(path), held_x)
        print(f"DDPM 1000: {ddpm} ({seconds:.0f} s)", flush=True)

    def table(key, fmt):
        lines = ["| sampler | " + " | ".join(f"S = {s}" for s in STEPS) + " |", "|---|" + "---|" * len(STEPS)]
        for eta in ETAS:
            lines.append(f"| DDIM η = {eta} | " + " | ".join(fmt(results[(eta, s)][key]) for s in STEPS) + " |")
        lines.append(f"| DDPM, 1000 steps | {fmt(ddpm[key])} | | | |")
        lines.append(f"| floor: held-out real vs training real | {fmt(floor[key])} | | | |")
        return "\n".join(lines)

    text = "\n".join([
        "<!-- table: written by make_table.py -->",
        f"Fréchet distance in the classifier's feature space (lower is better; {SAMPLES} samples per cell, seed {SEED}):",
        "", table("fd", lambda v: f"{v:.2f}"), "",
        "Digit confidence (share of samples with a class probability > 0.9):",
        "", table("confident", lambda v: f"{100 * v:.1f}%"), "",
        "Class coverage: entropy of the predicted classes in bits (uniform: 3.32) / smallest class share (uniform: 10%):",
        "", table("entropy", lambda v: f"{v:.2f}"), "",
        "", table("min_share", lambda v: f"{100 * v:.1f}%"), "",
        f"(classifier accuracy on the held-out split: {100 * accuracy:.1f}%)",
        "<!-- end of table -->",
    ])
    readme = os.path.join(HERE, "README.md")
    with open(readme) as f:
        content = f.read()
    start, end = content.index("<!-- table: written by make_table.py -->"), content.index("<!-- end of table -->")
    with open(readme, "w") as f:
        f.write(content[:start] + text + content[end + len("<!-- end of table -->"):])
    with open(os.path.join(HERE, "table.json"), "w") as f:
        json.dump({"floor": floor, "ddpm_1000": ddpm,
                   "ddim": {f"eta={e},steps={s}": v for (e, s), v in results.items()}}, f, indent=1)
    print("updated", readme)


if __name__ == "__main__":
    main()
