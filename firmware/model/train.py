#!/usr/bin/env python3
"""Trains the firmware's tiny ε-model on a ring of 8 Gaussians and writes its weights as Rust
constants (src/weights.rs). PyTorch, fixed seeds, about a minute on 2 CPU cores:

    .venv/bin/python firmware/model/train.py

Model (must match src/lib.rs): input [x, y, emb(t)] with emb(t) = sin(t·f_k), cos(t·f_k),
f_k = 10000^(-k/8), k = 0..7; Linear(18, 64) → ReLU → Linear(64, 64) → ReLU → Linear(64, 2).
Schedule: linear betas 1e-4 → 0.02, T = 1000 (ε-prediction), as the firmware samples it.
Data: 8 modes at radius 2, angles 2πk/8, each isotropic with std 0.1.
"""
import math
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
T, HIDDEN, FREQUENCIES = 1000, 64, 8
RADIUS, MODE_STD, MODES = 2.0, 0.1, 8


def embedding(t):
    k = torch.arange(FREQUENCIES, dtype=torch.float32)
    f = torch.pow(torch.tensor(10000.0), -k / FREQUENCIES)
    angle = t[:, None].float() * f[None, :]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


def data(n, generator):
    mode = torch.randint(0, MODES, (n,), generator=generator)
    angle = 2 * math.pi * mode.float() / MODES
    centers = torch.stack([RADIUS * torch.cos(angle), RADIUS * torch.sin(angle)], dim=1)
    return centers + MODE_STD * torch.randn(n, 2, generator=generator)


def main():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(2 + 2 * FREQUENCIES, HIDDEN), torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, 2),
    )
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    alphas_cumprod = torch.cumprod(1 - betas, 0).float()
    steps = 30000
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for step in range(steps):
        x0 = data(2048, generator)
        t = torch.randint(0, T, (2048,), generator=generator)
        noise = torch.randn(2048, 2, generator=generator)
        a = alphas_cumprod[t][:, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        loss = torch.mean((model(torch.cat([xt, embedding(t)], dim=1)) - noise) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 5000 == 0 or step == steps - 1:
            print(f"step {step}: loss {loss.item():.4f}")
    write_weights(model, loss.item())


def rust_array(name, tensor):
    values = tensor.detach().numpy().astype(np.float32)
    def literal(v):
        return f"{float(v):.9e}"
    if values.ndim == 1:
        body = ", ".join(literal(v) for v in values)
        return f"pub const {name}: [f32; {values.shape[0]}] = [{body}];\n"
    rows = ",\n    ".join("[" + ", ".join(literal(v) for v in row) + "]" for row in values)
    return f"pub const {name}: [[f32; {values.shape[1]}]; {values.shape[0]}] = [\n    {rows},\n];\n"


def write_weights(model, loss):
    layers = [m for m in model if isinstance(m, torch.nn.Linear)]
    parameters = sum(p.numel() for p in model.parameters())
    text = (
        "//! Weights of the tiny ε-model, written by `train.py` (do not edit).\n"
        f"//! {parameters} parameters; final training loss {loss:.4f}.\n"
        "//! Layout: `W[out][in]` (PyTorch's Linear), 9 significant digits (exact f32 round trip).\n\n"
        "#![allow(clippy::excessive_precision, clippy::approx_constant)]\n\n"
    )
    for index, layer in enumerate(layers, start=1):
        text += f"/// Layer {index} weights.\n" + rust_array(f"W{index}", layer.weight)
        text += f"/// Layer {index} biases.\n" + rust_array(f"B{index}", layer.bias)
    path = os.path.join(HERE, "src", "weights.rs")
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}: {parameters} parameters")


if __name__ == "__main__":
    main()
