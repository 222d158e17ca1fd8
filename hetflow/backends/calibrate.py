"""Per-op cost models for host backends, calibrated by timing the backend itself on a fixed suite.

A backend that runs on this host (the reference interpreter, cpu_c) times its own artifacts on a
small synthetic suite — never on the model being placed — once per process: tiny kernels for its
fixed cost per op, and representative ops per class (GEMM, convolution, depthwise convolution,
pooling, streaming elementwise) for the fraction of the host's roofline it reaches. A node is then
``overhead + max(flops / (peak * compute_eff), bytes / (bandwidth * memory_eff))`` for its class.
Only for this host: efficiencies measured here (under this host's load) say nothing of another CPU,
whose description's roofline stands.
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


def _suite(depth: int) -> list[tuple[str, Graph]]:
    """(class, graph) pairs: a chain of ``depth`` copies of one op per shape typical of CNN layers (shapes kept
    from op to op), and a chain of tiny ops for the fixed cost per op."""
    rng = np.random.default_rng(0)

    def chain(name: str, shape: tuple[int, ...], op: str, weight: tuple[int, ...] | None = None,
              **attrs: object) -> Graph:
        g = Graph(f"calibrate.{name}.{depth}")
        h = g.add_input("x", "float32", shape)
        for i in range(depth):
            # weights scaled by fan-in keep values in range along the chain (no overflow, no denormals)
            scale = np.float32(2 / np.sqrt(np.prod(weight[1:]))) if weight else None
            inputs = [h] if weight is None else [h, g.constant((rng.random(weight, np.float32) - 0.5) * scale, f"w{i}")]
            h = g.add_node(op, inputs, dict(attrs), name=f"{name}{i}").outputs[0]
        g.outputs.append(h)
        return g

    same = {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1)}
    point = {"strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1)}
    return [
        ("tiny", chain("tiny", (1, 1, 2, 2), "conv", (1, 1, 1, 1), **point)),
        ("memory", chain("memory", (1024, 1024), "transpose", perm=(1, 0))),
        ("matmul", chain("matmul", (256, 256), "matmul", (256, 256))),
        ("conv", chain("conv3x3", (1, 64, 28, 28), "conv", (64, 64, 3, 3), **same)),
        ("conv", chain("conv1x1", (1, 128, 28, 28), "conv", (128, 128, 1, 1), **point)),
        ("conv", chain("conv3x3_wide", (1, 16, 56, 56), "conv", (16, 16, 3, 3), **same)),
        ("depthwise", chain("depthwise", (1, 128, 28, 28), "conv", (128, 1, 3, 3), group=128, **same)),
        ("pool", chain("pool", (1, 64, 56, 56), "max_pool", kernel=(3, 3), strides=(1, 1), pads=(1, 1, 1, 1))),
    ]


def time_artifacts(artifacts: list[tuple[Artifact, Graph]], repeats: int, rounds: int = 3) -> list[float]:
    """Median seconds of each artifact's ``run``, the artifacts taking turns over ``rounds`` so that a change in
    the machine's load reaches all of them alike."""
    rng = np.random.default_rng(0)
    feeds = [{v.name: rng.random(v.type.shape, np.float32) for v in g.inputs} for _, g in artifacts]  # type: ignore[arg-type]
    samples: list[list[float]] = [[] for _ in artifacts]
    for _ in range(rounds):
        for (artifact, _), feed, out in zip(artifacts, feeds, samples):
            artifact.run(feed)  # warm: caches, pages, thread pool
            for _ in range(max(repeats // rounds, 1)):
                start = time.perf_counter()
                artifact.run(feed)
                out.append(time.perf_counter() - start)
    return [statistics.median(s) for s in samples]


def calibrate(compile: Compile, host: MachineDescription, repeats: int = 15) -> Calibration:
    """Time ``compile``'s artifacts on the suite; efficiencies are relative to ``host``'s roofline figures.

    Each shape is timed as a chain of one op and of three: half the difference is one op inside a graph, without
    what a whole run adds once (checking inputs, copying outputs back).
    """
    short, long = _suite(1), _suite(3)
    seconds = time_artifacts([(compile(g), g) for _, g in short + long], repeats)
    per_op = [max((t3 - t1) / 2, 1e-9) for t1, t3 in zip(seconds[:len(short)], seconds[len(short):])]
    overhead = per_op[0]
    effs: dict[str, list[float]] = {}
    for (cls, graph), t in list(zip(short, per_op))[1:]:
        node = graph.nodes[-1]
        opdef = get_op(node.op)
        busy = max(t - overhead, 1e-9)
        if cls == "memory":
            effs.setdefault(cls, []).append(sum(opdef.bytes_moved(node)) / host.memory.bandwidth / busy)
        else:
            effs.setdefault(cls, []).append(opdef.flop_count(node) / (host.peak(compute_dtype(node)) or 1.0) / busy)
    eff = {cls: min(1.0, statistics.median(values)) for cls, values in effs.items()}
    memory_eff = eff.pop("memory")
    return Calibration(overhead, eff, memory_eff)
