"""Measuring gpu_triton's kernels on a real GPU, for ``hetflow profile`` to replace the GPU cost model with.

A node is compiled alone (with the executable's CUDA graph) and run several times; each run's time is what the
CUDA events around its kernels measured (device time, no copies), and the median is kept. Only a CUDA GPU of the
very chip a description names is measured: Triton's interpreter, or another GPU, says nothing about that chip,
so there the description keeps its modelled costs and ``gpu_timer`` says why in one line.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import numpy as np

from hetflow.backends.gpu_triton.cost import fuses_into_producer
from hetflow.backends.gpu_triton.runtime import GpuExtraMissingError, load_runtime
from hetflow.ir import Graph, Node
from hetflow.ir.subgraph import extract
from hetflow.targets import MachineDescription

NodeTimer = Callable[[Graph, Node], "float | None"]
"""Seconds one node of a graph takes on the chip, measured now; None: the node has no kernel of its own."""


def chip_token(description: MachineDescription) -> str:
    """The part of a description's model that a CUDA device name carries ("H200" for "H200 SXM 141GB")."""
    return (description.model or description.name.rsplit("/", 1)[-1]).split()[0]


def absent_reason(description: MachineDescription) -> str | None:
    """None when a CUDA GPU of ``description``'s chip is here to measure; else why not, in one phrase."""
    try:
        rt = load_runtime()
    except GpuExtraMissingError as exc:
        return str(exc)
    if rt.interpret:
        return ("no CUDA GPU on this machine (kernels would run in Triton's interpreter, whose times are host "
                "times, not GPU times)")
    found = str(rt.torch.cuda.get_device_name())
    if chip_token(description).lower() not in found.lower():
        return f"this machine's GPU is {found!r}, not {description.name} ({description.model})"
    return None


def gpu_timer(description: MachineDescription, repeats: int = 20, warmup: int = 3) -> tuple[NodeTimer | None, str | None]:
    """(a timer measuring nodes on this machine's GPU, None) or (None, why ``description`` cannot be measured here)."""
    reason = absent_reason(description)
    if reason is not None:
        return None, reason

    def measure(graph: Graph, node: Node) -> float | None:
        if fuses_into_producer(node):  # it runs in its producer's epilogue: no kernel to time alone
            return None
        return time_node(graph, node, description, repeats, warmup)

    return measure, None


def time_node(graph: Graph, node: Node, description: MachineDescription, repeats: int, warmup: int) -> float:
    """Median CUDA-event seconds of ``node`` compiled alone by gpu_triton for ``description``."""
    from hetflow.backends.gpu_triton import GpuTritonBackend

    sub = extract(graph, [node], {id(o) for o in node.outputs}, f"profile.{node.name}")
    exe = GpuTritonBackend().compile(sub, description)
    rng = np.random.default_rng(0)
    feeds = {v.name: _random(tuple(v.type.shape), v.type.dtype.numpy, rng) for v in sub.inputs}  # type: ignore[arg-type]
    samples: list[float] = []
    for i in range(warmup + repeats):
        exe.run(feeds)
        if i >= warmup and exe.last_seconds is not None:
            samples.append(exe.last_seconds)
    if not samples:  # cannot happen on a GPU (absent_reason checked); never report host time as GPU time
        raise RuntimeError("gpu_triton returned no CUDA-event time")
    return statistics.median(samples)


def _random(shape: tuple[int, ...], dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    if dtype.kind == "f":
        return rng.random(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    return rng.integers(0, 4, shape).astype(dtype)
