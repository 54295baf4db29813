#!/usr/bin/env python3
"""Trains the microcontroller digits model: a residual MLP ε-model for the 8x8 digits
(models/digits/data.py's training split, [-1, 1]), linear betas 1e-4 -> 0.02, T = 1000.

    ε̂(x, t) = W_out·h_D + b_out,   h_0 = silu(W_0·x + A_0·emb(t) + b_0),
    h_l = h_{l-1} + silu(W_l·h_{l-1} + A_l·emb(t) + b_l)  (l = 1 .. D-1),
    emb(t) = (sin t·f_k, cos t·f_k), f_k = 10000^(-k/16), k = 0..15

PyTorch on CPU (1 thread), fixed seeds. Writes checkpoint-H<hidden>-D<depth>.pt next to this file
(ignored) and prints the quality of a quick numpy DDIM run (η = 0, 10 and 20 steps, leading, clip
1, ε̂ recomputed from the clipped x̂₀ as the firmware's DDIM; 1000 samples; models/eval metrics) of the float weights and of their int8 per-row rounding,
which is how the size was chosen (see ../README.md).

    python3 firmware-digits/model/train.py --hidden 256 --depth 3
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "models", "digits"))
sys.path.insert(0, os.path.join(ROOT, "models", "eval"))
import data  # noqa: E402

FREQUENCIES = 16
PIXELS = 64
T = 1000


def embedding(t):
    """emb(t) for a float tensor of timesteps: [B, 2·FREQUENCIES]."""
    k = torch.arange(FREQUENCIES, dtype=torch.float32)
    frequency = torch.pow(torch.tensor(10000.0), -k / FREQUENCIES)
    angle = t.float()[:, None] * frequency[None, :]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


class Denoiser(torch.nn.Module):
    def __init__(self, hidden, depth):
        super().__init__()
        self.inputs = torch.nn.ModuleList(
            [torch.nn.Linear(PIXELS, hidden)] + [torch.nn.Linear(hidden, hidden) for _ in range(depth - 1)])
        self.times = torch.nn.ModuleList(
            [torch.nn.Linear(2 * FREQUENCIES, hidden, bias=False) for _ in range(depth)])
        self.output = torch.nn.Linear(hidden, PIXELS)

    def forward(self, x, t):
        e = embedding(t)
        h = None
        for layer, time_layer in zip(self.inputs, self.times):
            z = torch.nn.functional.silu(layer(x if h is None else h) + time_layer(e))
            h = z if h is None else h + z
        return self.output(h)


def alphas_cumprod():
    betas = np.linspace(1e-4, 0.02, T, dtype=np.float64)
    return np.cumprod(1.0 - betas)


def quantize_rows(w):
    """Symmetric int8 per output row: w ≈ q·s with s = max|row|/127."""
    scale = np.abs(w).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(w / scale[:, None]), -127, 127)
    return q * scale[:, None]


def ddim_numpy(model, n, steps, seed):
    """DDIM η = 0, leading spacing, clip x̂₀ to [-1, 1] and recompute ε̂ from it, ᾱ_prev = 1 at the end."""
    ac = alphas_cumprod()
    ratio = T // steps
    timesteps = (np.arange(steps) * ratio)[::-1]
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((n, PIXELS)).astype(np.float32))
    with torch.no_grad():
        for i, t in enumerate(timesteps):
            eps = model(x, torch.full((n,), int(t)))
            a = float(ac[t])
            a_prev = float(ac[t - ratio]) if t - ratio >= 0 else 1.0
            x0 = ((x - math.sqrt(1 - a) * eps) / math.sqrt(a)).clamp(-1, 1)
            eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
            x = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
    return x.numpy().reshape(n, 1, 8, 8)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(args.threads)
    train_x, _, _, _ = data.load()
    images = torch.from_numpy(train_x.reshape(len(train_x), PIXELS))
    model = Denoiser(args.hidden, args.depth)
    ema = Denoiser(args.hidden, args.depth)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"hidden {args.hidden}, depth {args.depth}: {parameters} parameters", flush=True)
    ac = torch.from_numpy(alphas_cumprod().astype(np.float32))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    warmup = 300
    lr = lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, args.steps) / args.steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr)
    generator = torch.Generator().manual_seed(0)
    started = time.time()
    running = None
    for step in range(args.steps):
        index = torch.randint(0, len(images), (args.batch,), generator=generator)
        x0 = images[index]
        t = torch.randint(0, T, (args.batch,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        a = ac[t].view(-1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        loss = torch.mean((model(xt, t) - noise) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), model.parameters()):
                p_ema.mul_(0.999).add_(p, alpha=0.001)
        running = loss.item() if running is None else 0.99 * running + 0.01 * loss.item()
        if step % 1000 == 0 or step == args.steps - 1:
            print(f"step {step}: loss {running:.4f} ({time.time() - started:.0f} s)", flush=True)
    minutes = (time.time() - started) / 60
    path = os.path.join(HERE, f"checkpoint-H{args.hidden}-D{args.depth}.pt")
    torch.save({"ema": ema.state_dict(), "hidden": args.hidden, "depth": args.depth, "final_loss": running,
                "minutes": minutes, "steps": args.steps, "parameters": parameters}, path)
    print(f"done: {args.steps} steps in {minutes:.1f} min, final loss {running:.4f}; wrote {path}", flush=True)

    import evaluate  # noqa: E402
    classifier, _, _, held_x = evaluate.classifier()
    quantized = Denoiser(args.hidden, args.depth)
    state = {k: v.clone() for k, v in ema.state_dict().items()}
    for k, v in state.items():
        if v.ndim == 2:
            state[k] = torch.from_numpy(quantize_rows(v.numpy().astype(np.float64)).astype(np.float32))
    quantized.load_state_dict(state)
    for name, m in [("f32", ema), ("int8", quantized)]:
        for steps in (10, 20):
            result = evaluate.metrics(classifier, ddim_numpy(m, 1000, steps, 0), held_x)
            print(f"quick DDIM {steps} ({name}): fd {result['fd']:.2f} confident {result['confident']:.3f} "
                  f"entropy {result['entropy']:.2f} min_share {result['min_share']:.3f}", flush=True)


if __name__ == "__main__":
    main()
