#!/usr/bin/env python3
"""Trains the class-conditional digits model: the default model's UNet2DModel (models/digits) with a
class embedding of 10 digits + 1 null label (10), epsilon prediction, linear betas 1e-4 -> 0.02,
T = 1000. During training each label is replaced by the null label with probability 0.1, so one
network gives both the conditional eps(x, t, k) and the unconditional eps(x, t, null) that
classifier-free guidance combines. Training starts from the unconditional default model's weights
(read from the committed models/digits/unet.onnx by onnx_weights.py) with a zero class embedding:
on a CPU shared by many jobs that is far cheaper than training from scratch. PyTorch on CPU,
threads from DIGITS_COND_THREADS (default 2; the shipped model: 1), fixed seeds.

    DIGITS_COND_THREADS=1 .venv/bin/python models/digits-cond/train.py   # checkpoint.pt; 26.5 min on a shared 2-core machine
    .venv/bin/python models/digits-cond/export.py      # unet.onnx, scheduler_config.json (guidance.json: by hand, from the card)
"""
import math
import os
import sys
import time

import numpy as np
import torch
from diffusers import DDPMScheduler, UNet2DModel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "digits"))
import data  # noqa: E402

sys.path.insert(0, HERE)
from onnx_weights import load_unconditional  # noqa: E402

STEPS = int(os.environ.get("DIGITS_COND_STEPS", "3000"))
BATCH = 128
LEARNING_RATE = 1e-3  # the pretrained network: the unconditional training's peak rate, so it learns to read the label
EMBEDDING_LEARNING_RATE = 2e-2  # the new class embedding, from zero to the scale of the time embedding (~0.2-0.8)
WARMUP = 20
EMA_DECAY = 0.995
SAVE_EVERY = 250
NUM_CLASSES = 10
NULL_LABEL = 10  # the unconditional label, one past the digits
DROP_PROBABILITY = 0.1


def make_model(num_class_embeds=NUM_CLASSES + 1):
    """The default model's architecture; num_class_embeds=None gives the unconditional model itself."""
    return UNet2DModel(
        sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8, attention_head_dim=8, num_class_embeds=num_class_embeds,
    )


def save(ema, model, step, running, started, path):
    torch.save({"ema": ema.state_dict(), "final_loss": running, "minutes": (time.time() - started) / 60,
                "steps": step, "planned_steps": STEPS,
                "parameters": sum(p.numel() for p in model.parameters())}, path)


def main():
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(int(os.environ.get("DIGITS_COND_THREADS", "2")))  # 1 on a shared machine: 2 threads fighting other jobs crawl
    train_x, train_y, _, _ = data.load()
    images = torch.from_numpy(train_x)
    labels = torch.from_numpy(train_y.astype(np.int64))
    model = make_model()
    # Start from the unconditional default model with a zero class embedding, so that step 0 is
    # exactly models/digits for every label; training then only has to learn the labels.
    state = load_unconditional(os.path.join(HERE, "..", "digits", "unet.onnx"), lambda: make_model(None))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["class_embedding.weight"] and not unexpected, (missing, unexpected)
    with torch.no_grad():
        model.class_embedding.weight.zero_()
    ema = make_model()
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0001, beta_end=0.02)
    alphas_cumprod = scheduler.alphas_cumprod
    embedding = [model.class_embedding.weight]
    network = [p for name, p in model.named_parameters() if name != "class_embedding.weight"]
    optimizer = torch.optim.AdamW([{"params": network, "lr": LEARNING_RATE},
                                   {"params": embedding, "lr": EMBEDDING_LEARNING_RATE}], weight_decay=0.0)
    lr = lambda step: min(1.0, (step + 1) / WARMUP) * 0.5 * (1 + math.cos(math.pi * min(step, STEPS) / STEPS))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr)
    generator = torch.Generator().manual_seed(0)
    started = time.time()
    running = None
    for step in range(STEPS):
        index = torch.randint(0, len(images), (BATCH,), generator=generator)
        x0 = images[index]
        k = labels[index].clone()
        k[torch.rand(BATCH, generator=generator) < DROP_PROBABILITY] = NULL_LABEL
        t = torch.randint(0, 1000, (BATCH,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        a = alphas_cumprod[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        loss = torch.mean((model(xt, t, class_labels=k).sample - noise) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), model.parameters()):
                p_ema.mul_(EMA_DECAY).add_(p, alpha=1 - EMA_DECAY)
        running = loss.item() if running is None else 0.99 * running + 0.01 * loss.item()
        if step % 25 == 0 or step == STEPS - 1:
            size = model.class_embedding.weight[:NUM_CLASSES].abs().mean().item()
            print(f"step {step}: loss {running:.4f}, class embedding mean |w| {size:.3f} ({time.time() - started:.0f} s)",
                  flush=True)
        if step > 0 and step % SAVE_EVERY == 0:
            save(ema, model, step, running, started, os.path.join(HERE, f"checkpoint-{step}.pt"))
    minutes = (time.time() - started) / 60
    save(ema, model, STEPS, running, started, os.path.join(HERE, "checkpoint.pt"))
    print(f"done: {STEPS} steps in {minutes:.1f} min, final loss (EMA of batch losses) {running:.4f}")


if __name__ == "__main__":
    main()
