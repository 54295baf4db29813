#!/usr/bin/env python3
"""Exports a small randomly initialised diffusers UNet2DModel (3x32x32) to .bench/unet32/ for
scripts/bench-peer, with a DDIM scheduler_config.json."""
import json
import os

import torch
from diffusers import DDIMScheduler, UNet2DModel

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, ".bench", "unet32")


class Exported(torch.nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep):
        return self.unet(sample, timestep).sample


torch.manual_seed(0)
model = UNet2DModel(sample_size=32, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(32, 64),
                    down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
                    norm_num_groups=8).eval()
os.makedirs(OUT, exist_ok=True)
torch.onnx.export(Exported(model), (torch.randn(2, 3, 32, 32), torch.tensor([999, 500])), os.path.join(OUT, "unet.onnx"),
                  input_names=["sample", "timestep"], output_names=["out_sample"], opset_version=17, dynamo=False,
                  dynamic_axes={"sample": {0: "B"}, "timestep": {0: "B"}, "out_sample": {0: "B"}})
config = DDIMScheduler(num_train_timesteps=1000, steps_offset=1, clip_sample=False).config
json.dump({"_class_name": "DDIMScheduler", **{k: v for k, v in dict(config).items() if not k.startswith("_")}},
          open(os.path.join(OUT, "scheduler_config.json"), "w"), indent=2)
print("wrote", OUT)
