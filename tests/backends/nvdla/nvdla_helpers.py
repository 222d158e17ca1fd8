"""Small quantized graphs for the NVDLA tests, built directly in the int8 IR (no calibration needed)."""

from __future__ import annotations

import numpy as np

from hetflow.backends.nvdla import NvdlaExecutable
from hetflow.backends.nvdla.hw import NvdlaConfig, from_description
from hetflow.backends.nvdla.lower import lower
from hetflow.backends.reference import ReferenceBackend
from hetflow.ir import Graph, Value
from hetflow.ir.ops.quant import fixed_point
from hetflow.targets import get_preset


def config(preset: str = "nvidia/nvdla-full") -> NvdlaConfig:
    return from_description(get_preset(preset))


def int8(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-128, 128, shape).astype(np.int8)


def conv_requant(g: Graph, x: Value, k: int, kernel: int, stride: int, pad: int, rng: np.random.Generator, *,
                 relu: bool = False, name: str = "conv") -> Value:
    """A conv_requant with random int8 weights, int32 bias and per-channel multipliers scaled to keep outputs in range."""
    c = x.type.shape[1]
    w = int8(rng, (k, c, kernel, kernel))
    bias = rng.integers(-5000, 5000, k).astype(np.int32)
    mult, shift = fixed_point(rng.uniform(0.5, 2.0, k) / (c * kernel * kernel * 60))
    return g.add_node("conv_requant", [x, g.constant(w, f"{name}_w"), g.constant(bias, f"{name}_b"),
                                       g.constant(mult.astype(np.int32), f"{name}_m"),
                                       g.constant(shift.astype(np.int32), f"{name}_s")],
                      {"strides": (stride, stride), "pads": (pad,) * 4, "dilations": (1, 1), "relu": relu},
                      name=name).outputs[0]


def run_both(graph: Graph, feeds: dict[str, np.ndarray], cfg: NvdlaConfig) -> tuple[dict, dict, NvdlaExecutable]:
    """(reference outputs, NVDLA engine-model outputs, the executable)."""
    loadable, blobs = lower(graph, cfg)
    exe = NvdlaExecutable(graph, loadable, blobs, cfg)
    return ReferenceBackend().compile(graph).run(feeds), exe.run(feeds), exe
