#!/usr/bin/env python3
"""Trains the default model: a diffusers UNet2DModel on the 8x8 digits, epsilon prediction, linear
betas 1e-4 -> 0.02, T = 1000 (the DDPM/DDIM papers' setting). PyTorch on CPU, fixed seeds.

    .venv/bin/python models/digits/train.py            # ~35 min on 2 cores; writes checkpoint.pt
    .venv/bin/python models/digits/export.py           # writes unet.onnx + scheduler_config.json

Why 8x8: it is the data's native size. Upsampling to 16x16 adds no information and makes every
model call ~4x dearer, and the evaluation table (13 cells of 2 000 samples, DDPM at 1 000 steps
among them) has to run in minutes on 2 cores.
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
from diffusers import DDPMScheduler, UNet2DModel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402

STEPS = 9000
BATCH = 128
LEARNING_RATE = 1e-3
WARMUP = 300
EMA_DECAY = 0.999


def make_model():
    return UNet2DModel(
        sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8, attention_head_dim=8,
    )


def main():
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(2)
    train_x, _, _, _ = data.load()
    images = torch.from_numpy(train_x)
    model = make_model()
    ema = make_model()
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0001, beta_end=0.02)
    alphas_cumprod = scheduler.alphas_cumprod
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
    lr = lambda step: min(1.0, (step + 1) / WARMUP) * 0.5 * (1 + math.cos(math.pi * min(step, STEPS) / STEPS))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr)
    generator = torch.Generator().manual_seed(0)
    started = time.time()
    running = None
    for step in range(STEPS):
        index = torch.randint(0, len(images), (BATCH,), generator=generator)
        x0 = images[index]
        t = torch.randint(0, 1000, (BATCH,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        a = alphas_cumprod[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        loss = torch.mean((model(xt, t).sample - noise) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), model.parameters()):
                p_ema.mul_(EMA_DECAY).add_(p, alpha=1 - EMA_DECAY)
        running = loss.item() if running is None else 0.99 * running + 0.01 * loss.item()
        if step % 500 == 0 or step == STEPS - 1:
            print(f"step {step}: loss {running:.4f} ({time.time() - started:.0f} s)", flush=True)
    minutes = (time.time() - started) / 60
    torch.save({"ema": ema.state_dict(), "final_loss": running, "minutes": minutes, "steps": STEPS,
                "parameters": sum(p.numel() for p in model.parameters())}, os.path.join(HERE, "checkpoint.pt"))
    print(f"done: {STEPS} steps in {minutes:.1f} min, final loss (EMA of batch losses) {running:.4f}")


if __name__ == "__main__":
    main()
