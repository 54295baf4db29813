"""Loads the default model's weights (models/digits/unet.onnx) into a PyTorch UNet2DModel.

The exporter keeps most parameters under their names (`unet.conv_in.weight`) but renames some
(GroupNorm scale/shift reshaped to [C, 1, 1], attention projections transposed for MatMul). To map
those back without guessing, a model of the same architecture is filled with distinct random values,
exported the same way, and every anonymous initializer is matched to the parameter whose values it
holds (directly, reshaped or transposed). The caller checks the result against ONNX Runtime.
"""
import io

import numpy as np
import onnx
import torch
from onnx import numpy_helper


class Exported(torch.nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep):
        return self.unet(sample, timestep).sample


def _export(model):
    buffer = io.BytesIO()
    torch.onnx.export(Exported(model), (torch.randn(2, 1, 8, 8), torch.tensor([999, 0])), buffer,
                      input_names=["sample", "timestep"], output_names=["out_sample"],
                      dynamic_axes={"sample": {0: "batch"}, "timestep": {0: "batch"}, "out_sample": {0: "batch"}},
                      opset_version=17, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())


def _candidates(value):
    yield value
    if value.ndim == 2:
        yield value.T
    yield value.reshape(-1)


def parameter_map(make_model):
    """{onnx initializer name: (parameter name, transposed)} for the exporter's graph of make_model()."""
    probe = make_model()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in probe.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
    params = {name: p.detach().numpy() for name, p in probe.named_parameters()}
    mapping = {}
    for init in _export(probe).graph.initializer:
        value = numpy_helper.to_array(init)
        found = []
        for name, p in params.items():
            if p.size != value.size:
                continue
            if np.array_equal(p.reshape(value.shape), value):
                found.append((name, False))
            elif p.ndim == 2 and p.T.shape == value.shape and np.array_equal(p.T, value):
                found.append((name, True))
        if len(found) != 1:
            raise SystemExit(f"initializer {init.name}: {len(found)} matching parameters")
        mapping[init.name] = found[0]
    missing = set(params) - {name for name, _ in mapping.values()}
    return mapping, missing


def load_unconditional(onnx_path, make_unconditional_model):
    """The state dict of the unconditional model stored in onnx_path."""
    mapping, missing = parameter_map(make_unconditional_model)
    if missing:
        raise SystemExit(f"parameters not in the exported graph: {sorted(missing)}")
    model = make_unconditional_model()
    state = {}
    shapes = {name: p.shape for name, p in model.named_parameters()}
    for init in onnx.load(onnx_path).graph.initializer:
        if init.name not in mapping:
            raise SystemExit(f"{onnx_path}: unexpected initializer {init.name}")
        name, transposed = mapping[init.name]
        value = numpy_helper.to_array(init)
        value = value.T if transposed else value
        state[name] = torch.from_numpy(np.ascontiguousarray(value).reshape(shapes[name]))
    return state
