#!/usr/bin/env python3
"""Golden vectors of classifier-free guidance (tests/tests/golden_guidance.rs): diffusers 0.42.1's
StableDiffusionPipeline combine `uncond + s * (text - uncond)` and its `rescale_noise_cfg`, in float32
torch, on predictions drawn from noise v1 (unconditional: seed 100, conditional: seed 101, sample i of
the batch from stream i), stored as float32 bits. Also prints how often the guided result differs
when σ is accumulated as the core does (f64, two passes) and in float32 (as a naive port would).
"""
import ast
import inspect
import json
import os
import sys

import numpy as np
import torch
import diffusers

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "noise"))
from noise_v1 import NoiseStream  # noqa: E402

assert diffusers.__version__ == "0.42.1"
PIPELINE = os.path.join(os.path.dirname(inspect.getfile(diffusers)), "pipelines", "stable_diffusion",
                        "pipeline_stable_diffusion.py")
# rescale_noise_cfg from diffusers' source (importing the pipeline module needs transformers).
(FUNCTION,) = [n for n in ast.parse(open(PIPELINE).read()).body
               if isinstance(n, ast.FunctionDef) and n.name == "rescale_noise_cfg"]
NAMESPACE = {"torch": torch}
exec(compile(ast.Module([FUNCTION], []), PIPELINE, "exec"), NAMESPACE)
rescale_noise_cfg = NAMESPACE["rescale_noise_cfg"]

# (shape [B, ...], guidance scale, guidance rescale)
CASES = [
    ([3, 4, 8, 8], 7.5, 0.7),
    ([3, 4, 8, 8], 7.5, 0.0),
    ([2, 3, 16, 16], 3.0, 1.0),
    ([2, 4, 16, 16], 5.0, 0.5),
    ([4, 1, 8, 8], 0.0, 0.0),
    ([1, 4, 16, 16], 1.7, 0.3),
]


def draw(seed, shape):
    n = int(np.prod(shape[1:]))
    return np.stack([NoiseStream(seed, i).normals(n) for i in range(shape[0])]).reshape(shape).astype(np.float32)


def guide(uncond, text, scale, rescale):
    """StableDiffusionPipeline's lines, as they are."""
    noise_pred = uncond + scale * (text - uncond)
    if rescale > 0.0:
        noise_pred = rescale_noise_cfg(noise_pred, text, guidance_rescale=rescale)
    return noise_pred


def std(values, accumulate):
    flat = values.reshape(values.shape[0], -1).astype(accumulate)
    mean = flat.sum(axis=1, dtype=accumulate) / accumulate(flat.shape[1])
    squares = ((flat - mean[:, None]) ** 2).sum(axis=1, dtype=accumulate)
    return np.sqrt(squares / accumulate(flat.shape[1] - 1)).astype(np.float32)


def port(uncond, text, scale, rescale, accumulate):
    guided = uncond + np.float32(scale) * (text - uncond)
    if rescale > 0.0:
        ratio = std(text, accumulate) / std(guided, accumulate)
        shape = (-1,) + (1,) * (guided.ndim - 1)
        guided = np.float32(rescale) * (guided * ratio.reshape(shape)) + np.float32(1 - rescale) * guided
    return guided


cases = []
for shape, scale, rescale in CASES:
    uncond, text = draw(100, shape), draw(101, shape)
    expected = guide(torch.from_numpy(uncond), torch.from_numpy(text), scale, rescale).numpy()
    for name, accumulate in (("f64 two-pass (the core)", np.float64), ("float32 two-pass", np.float32)):
        got = port(uncond, text, scale, rescale, accumulate)
        print(f"{shape} s={scale} phi={rescale}: {name}: {(got != expected).sum()} of {expected.size} "
              f"elements differ from diffusers, max relative {np.max(np.abs(got - expected) / np.maximum(np.abs(expected), 1e-30)):.1e}")
    cases.append(dict(shape=shape, scale=scale, rescale=rescale, unconditional_seed=100, conditional_seed=101,
                      expected_bits=expected.view(np.uint32).ravel().tolist()))

path = os.path.join(HERE, "guidance.json")
with open(path, "w") as f:
    json.dump({"peer": f"diffusers {diffusers.__version__}, torch {torch.__version__}", "cases": cases}, f)
print("wrote", path, os.path.getsize(path) // 1024, "KiB")
