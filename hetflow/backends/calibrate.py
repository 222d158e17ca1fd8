"""Per-op cost models for host backends, calibrated by timing the backend itself on a fixed suite.

A backend that runs on this host (the reference interpreter, cpu_c) times its own artifacts on a
small synthetic suite — never on the model being placed — once per process: one tiny kernel for its
fixed cost per op, and one representative op per class (GEMM, convolution, depthwise convolution,
pooling, streaming elementwise) for the fraction of the host's roofline it reaches. A node is then
``overhead + max(flops / (peak * compute_eff), bytes / (bandwidth * memory_eff))`` for its class,
on any CPU description (the efficiencies carry over; the peaks and bandwidth are that CPU's).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hetflow.backends.base import Artifact, Estimate, compute_dtype
from hetflow.ir import Graph, Node, get_op
from hetflow.targets import MachineDescription

Compile = Callable[[Graph], Artifact]

VIEWS = frozenset({"reshape", "flatten", "squeeze", "unsqueeze", "identity", "dropout"})
"""Ops that move no data in either host backend (an alias of their input)."""


def op_class(node: Node) -> str:
    """The calibration class a node is costed as."""
    if node.op in ("matmul", "gemm"):
        return "matmul"
    if node.op in ("conv", "conv_transpose"):
        channels = node.inputs[0].type.shape[1] if node.inputs[0].type.shape else None
        group = node.attrs.get("group", 1)
        return "depthwise" if group > 1 and group == channels else "conv"
    if node.op in ("max_pool", "avg_pool", "global_average_pool", "global_max_pool"):
        return "pool"
    return "memory"


@dataclass(frozen=True)
class Calibration:
    """What a backend reaches on this host: fixed seconds per op and fractions of the roofline per class."""

    overhead: float
    compute_eff: dict[str, float]
    memory_eff: float

    def arithmetic(self, node: Node, desc: MachineDescription) -> float:
        """Seconds of ``node``'s arithmetic alone, at the vector rate the generated loops reach (the conv class)."""
        peak = desc.peak(compute_dtype(node)) or min(desc.peak_ops.values())
        return get_op(node.op).flop_count(node) / (peak * self.compute_eff["conv"])

    def estimate(self, node: Node, desc: MachineDescription, source: str) -> Estimate:
        if node.op in VIEWS:
            return Estimate(0.0, source)
        opdef = get_op(node.op)
        read, written = opdef.bytes_moved(node)
        peak = desc.peak(compute_dtype(node)) or min(desc.peak_ops.values())
        eff = self.compute_eff.get(op_class(node), self.compute_eff["conv"])
        compute = opdef.flop_count(node) / (peak * eff)
        memory = (read + written) / (desc.memory.bandwidth * self.memory_eff)
        return Estimate(self.overhead + max(compute, memory), source)


def _suite() -> dict[str, Graph]:
    """One graph per class, plus a tiny op for the fixed cost; shapes typical of CNN layers."""
    rng = np.random.default_rng(0)

    def single(name: str, shape: tuple[int, ...], op: str, weight: tuple[int, ...] | None = None,
               **attrs: object) -> Graph:
        g = Graph(f"calibrate.{name}")
        x = g.add_input("x", "float32", shape)
        inputs = [x] if weight is None else [x, g.constant(rng.random(weight, np.float32) - 0.5, "w")]
        g.outputs.append(g.add_node(op, inputs, dict(attrs), name=name).outputs[0])
        return g

    conv = {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1)}
    return {
        "tiny": single("tiny", (1,), "relu"),
        "memory": single("memory", (1 << 21,), "relu"),
        "matmul": single("matmul", (256, 256), "matmul", (256, 256)),
        "conv": single("conv", (1, 64, 28, 28), "conv", (64, 64, 3, 3), **conv),
        "depthwise": single("depthwise", (1, 128, 28, 28), "conv", (128, 1, 3, 3), group=128, **conv),
        "pool": single("pool", (1, 64, 56, 56), "max_pool", kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1)),
    }


def time_artifact(artifact: Artifact, graph: Graph, repeats: int) -> float:
    """Median seconds of ``artifact.run`` on random inputs, after one warm-up run."""
    rng = np.random.default_rng(0)
    feeds = {v.name: rng.random(v.type.shape, np.float32) for v in graph.inputs}  # type: ignore[arg-type]
    artifact.run(feeds)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        artifact.run(feeds)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def calibrate(compile: Compile, host: MachineDescription, repeats: int = 7) -> Calibration:
    """Time ``compile``'s artifacts on the suite; efficiencies are relative to ``host``'s roofline figures."""
    seconds = {name: time_artifact(compile(g), g, repeats) for name, g in _suite().items()}
    overhead = seconds.pop("tiny")
    suite = _suite()
    compute_eff: dict[str, float] = {}
    memory_eff = 1.0
    for name, t in seconds.items():
        node = suite[name].nodes[-1]
        opdef = get_op(node.op)
        busy = max(t - overhead, 1e-9)
        if name == "memory":
            memory_eff = min(1.0, sum(opdef.bytes_moved(node)) / host.memory.bandwidth / busy)
        else:
            compute_eff[name] = min(1.0, opdef.flop_count(node) / (host.peak(compute_dtype(node)) or 1.0) / busy)
    return Calibration(overhead, compute_eff, memory_eff)
