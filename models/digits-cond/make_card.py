#!/usr/bin/env python3
"""Measures the class-conditional model's model card: for each guidance scale S, N samples of every
digit K (class label K), DDIM eta = 0, classifier-free guidance eps = eps_u + S (eps_c - eps_u)
with eps_u the null label's prediction; scored by models/eval/evaluate.py (Frechet distance of the
pooled samples, per-class accuracy of the project's classifier against the asked label). The
unconditional default model (models/digits) is sampled from the same noise with the same loop as
the paired baseline. Rewrites the table in README.md, table.json, guidance.svg and grid.png (one row
per digit at the recommended scale of guidance.json).

Sampling is onnxruntime on unet.onnx with diffusers' DDIMScheduler (scheduler_config.json) for the
update; S = 0 needs only the null-label call and S = 1 only the conditional one, other scales run
both halves in one call of twice the batch. With --host, the acceptance check runs the project's
own program as a user would, `host --onnx models/digits-cond/unet.onnx --class-label K
--num-samples N --seed K` with no other flag (guidance.json gives the null label and the scale; 25
DDIM steps, host's default), and scores those samples too.

    cargo build --release -p host
    .venv/bin/python models/digits-cond/make_card.py --host target/release/host   # ~6 min on 2 cores
"""
import subprocess
import tempfile
import argparse
import json
import os
import sys
import time

import numpy as np
import onnxruntime
import torch
from diffusers import DDIMScheduler
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "models", "eval"))
import evaluate  # noqa: E402

BEGIN, END = "<!-- card: written by make_card.py -->", "<!-- end of card -->"


def session(path, threads):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def ddim(model, noise, labels, scale, steps, null_label, batch, config=HERE):
    """DDIM (eta 0) from `noise`, with the scheduler_config.json in `config`; labels None samples
    an unconditional model (no class_labels input)."""
    out = np.empty_like(noise)
    for start in range(0, len(noise), batch):
        scheduler = DDIMScheduler.from_pretrained(config)
        scheduler.set_timesteps(steps)
        x = noise[start:start + batch]
        k = None if labels is None else labels[start:start + batch]
        null = None if labels is None else np.full_like(k, null_label)
        for t in scheduler.timesteps:
            ts = np.full(len(x), int(t), np.int64)
            if labels is None:
                eps = model.run(None, {"sample": x, "timestep": ts})[0]
            elif scale == 0:
                eps = model.run(None, {"sample": x, "timestep": ts, "class_labels": null})[0]
            elif scale == 1:
                eps = model.run(None, {"sample": x, "timestep": ts, "class_labels": k})[0]
            else:
                both = model.run(None, {"sample": np.concatenate([x, x]), "timestep": np.concatenate([ts, ts]),
                                        "class_labels": np.concatenate([k, null])})[0]
                eps_c, eps_u = both[:len(x)], both[len(x):]
                eps = eps_u + np.float32(scale) * (eps_c - eps_u)
            x = scheduler.step(torch.from_numpy(eps), t, torch.from_numpy(x), eta=0.0).prev_sample.numpy()
        out[start:start + batch] = x
    return out


def host_samples(host, per_class):
    """Every digit K sampled by `host --class-label K` with nothing else but the count and a seed,
    in label order."""
    images = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(10):
            out = os.path.join(tmp, f"{k}.npy")
            subprocess.run([host, "--onnx", os.path.join(HERE, "unet.onnx"), "--class-label", str(k),
                            "--num-samples", str(per_class), "--seed", str(k), "--save-npy", out],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            images.append(np.load(out))
    return np.concatenate(images).astype(np.float32)


def grid(samples, labels, columns, path, scale=4, gap=2):
    rows = []
    for k in range(10):
        picked = samples[labels == k][:columns]
        rows.append(picked)
    height = 10 * (8 * scale + gap) + gap
    width = columns * (8 * scale + gap) + gap
    canvas = np.full((height, width), 255, np.uint8)
    for r, picked in enumerate(rows):
        for c, image in enumerate(picked):
            pixels = np.clip(np.round((image[0] + 1.0) * 127.5), 0, 255).astype(np.uint8)
            pixels = np.kron(pixels, np.ones((scale, scale), np.uint8))
            y, x = gap + r * (8 * scale + gap), gap + c * (8 * scale + gap)
            canvas[y:y + 8 * scale, x:x + 8 * scale] = pixels
    Image.fromarray(canvas, "L").save(path)


def svg(scales, results, baseline, floor, path):
    """Two panels: Frechet distance and classifier accuracy against the guidance scale."""
    width, height, margin = 360, 260, 50
    xs = lambda s: margin + (width - margin - 20) * s / max(scales)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">', f'<rect width="{2 * width}" height="{height}" fill="white"/>']

    def panel(offset, title, values, lines, low, high, fmt):
        ys = lambda v: height - margin - (height - margin - 30) * (v - low) / (high - low)
        g = [f'<g transform="translate({offset},0)">', f'<text x="{width / 2}" y="18" text-anchor="middle">{title}</text>',
             f'<line x1="{margin}" y1="{height - margin}" x2="{width - 20}" y2="{height - margin}" stroke="black"/>',
             f'<line x1="{margin}" y1="{height - margin}" x2="{margin}" y2="30" stroke="black"/>',
             f'<text x="{(width + margin) / 2}" y="{height - 12}" text-anchor="middle">guidance scale S</text>']
        for s in scales:
            g.append(f'<text x="{xs(s):.1f}" y="{height - margin + 16}" text-anchor="middle">{s:g}</text>')
        for i in range(5):
            v = low + (high - low) * i / 4
            g.append(f'<text x="{margin - 6}" y="{ys(v) + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
            g.append(f'<line x1="{margin}" y1="{ys(v):.1f}" x2="{width - 20}" y2="{ys(v):.1f}" stroke="#ddd"/>')
        for value, label, colour in lines:
            g.append(f'<line x1="{margin}" y1="{ys(value):.1f}" x2="{width - 20}" y2="{ys(value):.1f}" '
                     f'stroke="{colour}" stroke-dasharray="5,4"/>')
            g.append(f'<text x="{width - 22}" y="{ys(value) - 4:.1f}" text-anchor="end" fill="{colour}">{label}</text>')
        points = " ".join(f"{xs(s):.1f},{ys(v):.1f}" for s, v in zip(scales, values))
        g.append(f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
        for s, v in zip(scales, values):
            g.append(f'<circle cx="{xs(s):.1f}" cy="{ys(v):.1f}" r="3.5" fill="#1f77b4"/>')
        g.append("</g>")
        return g

    fds = [results[s]["fd"] for s in scales]
    top = max(fds + [baseline["fd"]]) * 1.1
    parts += panel(0, "Fréchet distance (lower is better)", fds,
                   [(baseline["fd"], "unconditional model", "#d62728"), (floor["fd"], "floor (real vs real)", "#2ca02c")],
                   0.0, top, lambda v: f"{v:.1f}")
    accuracies = [100 * results[s]["accuracy"] for s in scales]
    low = min(accuracies + [90.0]) // 10 * 10
    parts += panel(width, "classified as the asked digit (%)", accuracies, [(97.0, "97% target", "#d62728")],
                   low, 100.0, lambda v: f"{v:.0f}")
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=200, help="samples per digit and scale")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps (25: host's default)")
    parser.add_argument("--host", help="the host binary: also sample every digit with host --class-label K")
    parser.add_argument("--scales", default="0,1,2,3,5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", help=".npz of the samples: written after sampling, read instead of sampling "
                                         "if it exists (to re-render after changing guidance.json)")
    args = parser.parse_args()
    with open(os.path.join(HERE, "guidance.json")) as f:
        guidance = json.load(f)
    null_label, recommended = guidance["null_class_label"], float(guidance["guidance_scale"])
    scales = sorted({float(s) for s in args.scales.split(",")} | {recommended})

    classifier, held_accuracy, train_x, held_x = evaluate.classifier()
    floor = evaluate.metrics(classifier, train_x, held_x)
    labels = np.repeat(np.arange(10, dtype=np.int64), args.per_class)
    noise = np.random.default_rng(args.seed).standard_normal((len(labels), 1, 8, 8)).astype(np.float32)

    cached = dict(np.load(args.cache)) if args.cache and os.path.exists(args.cache) else {}
    if cached and not np.array_equal(cached["noise"], noise):
        sys.exit(f"{args.cache}: made with other settings")
    started = time.time()
    unconditional = os.path.join(ROOT, "models", "digits")  # sampled with its own scheduler (clip_sample on)
    if "baseline" not in cached:
        cached["baseline"] = ddim(session(os.path.join(unconditional, "unet.onnx"), args.threads),
                                  noise, None, None, args.steps, null_label, args.batch, unconditional)
    baseline = evaluate.metrics(classifier, cached["baseline"], held_x)
    print(f"unconditional models/digits: {baseline} ({time.time() - started:.0f} s)", flush=True)
    if "baseline_unclipped" not in cached:  # the same model with this model's scheduler (clip_sample off)
        cached["baseline_unclipped"] = ddim(session(os.path.join(unconditional, "unet.onnx"), args.threads),
                                            noise, None, None, args.steps, null_label, args.batch)
    baseline_unclipped = evaluate.metrics(classifier, cached["baseline_unclipped"], held_x)
    print(f"unconditional models/digits, clip_sample off: {baseline_unclipped}", flush=True)

    model = session(os.path.join(HERE, "unet.onnx"), args.threads)
    results, samples = {}, {}
    for scale in scales:
        started = time.time()
        key = f"S={scale:g}"
        if key not in cached:
            cached[key] = ddim(model, noise, labels, scale, args.steps, null_label, args.batch)
        samples[scale] = cached[key]
        row = evaluate.metrics(classifier, samples[scale], held_x)
        row["accuracy"], row["per_class"] = evaluate.class_accuracy(classifier, samples[scale], labels)
        results[scale] = row
        print(f"S = {scale:g}: {row} ({time.time() - started:.0f} s)", flush=True)

    by_host = None
    if args.host:
        started = time.time()
        images = host_samples(args.host, args.per_class)
        by_host = evaluate.metrics(classifier, images, held_x)
        by_host["accuracy"], by_host["per_class"] = evaluate.class_accuracy(classifier, images, labels)
        print(f"host --class-label K: {by_host} ({time.time() - started:.0f} s)", flush=True)

    if args.cache:
        np.savez(args.cache, noise=noise, **{k: v for k, v in cached.items() if k != "noise"})
    grid(samples[recommended], labels, 16, os.path.join(HERE, "grid.png"))
    svg(scales, results, baseline, floor, os.path.join(HERE, "guidance.svg"))
    with open(os.path.join(HERE, "table.json"), "w") as f:
        json.dump({"settings": {"per_class": args.per_class, "steps": args.steps, "seed": args.seed, "sampler": "DDIM eta=0",
                                "recommended_scale": recommended},
                   "floor": floor, "unconditional": baseline, "unconditional_unclipped": baseline_unclipped,
                   "classifier_heldout_accuracy": held_accuracy,
                   "scales": {f"{s:g}": results[s] for s in scales}, "host": by_host}, f, indent=1)

    n = len(labels)
    lines = [BEGIN,
             f"{n} samples per scale ({args.per_class} of each digit), DDIM η = 0, {args.steps} steps, seed {args.seed}; "
             f"the unconditional default model sampled from the same noise: Fréchet distance {baseline['fd']:.2f}; "
             f"floor (held-out real vs training real) {floor['fd']:.2f}.", "",
             "| guidance scale S | Fréchet distance | classified as K | worst digit | confidence (p > 0.9) | class entropy (bits) |",
             "|---|---|---|---|---|---|"]
    for s in scales:
        r = results[s]
        worst = int(np.argmin(r["per_class"]))
        mark = " (recommended)" if s == recommended else ""
        lines.append(f"| {s:g}{mark} | {r['fd']:.2f} | {100 * r['accuracy']:.1f}% | {worst}: {100 * r['per_class'][worst]:.1f}% "
                     f"| {100 * r['confident']:.1f}% | {r['entropy']:.2f} |")
    lines.append(f"| unconditional model (models/digits) | {baseline['fd']:.2f} | | | {100 * baseline['confident']:.1f}% "
                 f"| {baseline['entropy']:.2f} |")
    lines.append(f"| the same with clip_sample off, as this model samples | {baseline_unclipped['fd']:.2f} | | | "
                 f"{100 * baseline_unclipped['confident']:.1f}% | {baseline_unclipped['entropy']:.2f} |")
    lines += ["", "Per digit: the share of the samples asked for digit K that the classifier assigns to K:", "",
              "| S | " + " | ".join(f"K = {k}" for k in range(10)) + " | all |", "|---|" + "---|" * 11]
    for s in scales:
        r = results[s]
        mark = " (recommended)" if s == recommended else ""
        lines.append(f"| {s:g}{mark} | " + " | ".join(f"{100 * v:.1f}%" for v in r["per_class"]) + f" | {100 * r['accuracy']:.1f}% |")
    if by_host is not None:
        lines.append(f"| host --class-label K (S = {recommended:g}, seed K; Fréchet distance {by_host['fd']:.2f}) | "
                     + " | ".join(f"{100 * v:.1f}%" for v in by_host["per_class"]) + f" | {100 * by_host['accuracy']:.1f}% |")
    lines += ["", f"(classifier accuracy on the held-out real split: {100 * held_accuracy:.1f}%)", END]
    readme = os.path.join(HERE, "README.md")
    with open(readme) as f:
        content = f.read()
    start, end = content.index(BEGIN), content.index(END)
    with open(readme, "w") as f:
        f.write(content[:start] + "\n".join(lines) + content[end + len(END):])
    print("updated", readme)


if __name__ == "__main__":
    main()
