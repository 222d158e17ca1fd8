"""Per-op cost models for host backends, calibrated by timing the backend itself on a fixed suite.

A backend that runs on this host (the reference interpreter, cpu_c) times its own artifacts on a
small synthetic suite — never on the model being placed — once per process: per op class (GEMM,
convolution, depthwise convolution, pooling, streaming elementwise, transposition) tiny kernels for
its fixed cost per op, and representative shapes for the fraction of the host's roofline it reaches.
A node is then ``overhead[class] + per_item[class] * items + max(flops / (peak * compute_eff[class]),
bytes / (bandwidth * memory_eff[class]))``, where ``items`` counts the outer iterations a kernel sets up
one by one (the planes of a depthwise convolution or a pooling, the contiguous runs a row-keeping
permutation copies): on small feature maps that setup, not the arithmetic, is the time (ShuffleNet's
7 x 7 stages). Each class with such a term is timed at a large and a small plane size, and the two
unknowns are fitted to both. The fixed cost is per class because it differs by an order of magnitude
between classes in the interpreter (a NumPy pooling call builds strided windows and pads; a ReLU is
one ufunc call) and by the OpenMP work-sharing a cpu_c kernel sets up. Streaming elementwise work
and transposition are separate memory classes: a transpose walks one side with a large stride and
reaches a fraction of the bandwidth a streaming loop does.
Only for this host: efficiencies measured here (under this host's load) say nothing of another CPU,
whose description's roofline stands.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hetflow.backends.base import Artifact, Estimate, compute_dtype
from hetflow.ir import Graph, Node, get_op
from hetflow.ir.dtypes import DType
from hetflow.targets import MachineDescription

Compile = Callable[[Graph], Artifact]

VIEWS = frozenset({"reshape", "flatten", "squeeze", "unsqueeze", "identity", "dropout"})
"""Ops that move no data in either host backend (an alias of their input)."""


_CLASS_OF_OP = {"matmul": "matmul", "gemm": "matmul", "conv": "conv", "conv_transpose": "conv",
                "matmul_integer": "matmul", "matmul_requant": "matmul", "conv_integer": "conv", "conv_requant": "conv",
                "conv_transpose_requant": "conv",
                "max_pool": "pool", "avg_pool": "pool", "global_average_pool": "pool", "global_max_pool": "pool",
                "transpose": "permute"}
"""Ops by calibration class; any other op is costed as streaming memory work (``memory``)."""
MEMORY_CLASSES = ("memory", "permute")
"""Classes whose efficiency is a fraction of memory bandwidth (the others: of peak arithmetic)."""


def _keeps_rows(perm: object) -> bool:
    """Whether a permutation keeps the innermost axis innermost: it then moves whole contiguous rows (ShuffleNet's
    channel shuffle moves feature-map planes), a streaming copy, not the element-by-element gather of a transpose."""
    return isinstance(perm, (tuple, list)) and len(perm) > 1 and perm[-1] == len(perm) - 1


def _run_length(shape: tuple[int, ...], perm: tuple[int, ...]) -> int:
    """Elements of the longest contiguous run a permutation copies: the trailing axes it keeps in place."""
    run, axis = 1, len(perm) - 1
    while axis >= 0 and perm[axis] == axis:
        run, axis = run * shape[axis], axis - 1
    return run


def op_items(node: Node, cls: str | None = None) -> int:
    """Outer iterations the host kernels set up one at a time for ``node`` (0 where the cost is all throughput):
    output planes of a depthwise convolution or a pooling, contiguous runs of a row-keeping permutation."""
    shape = node.outputs[0].type.shape if node.outputs else None
    if not shape or not all(isinstance(d, int) for d in shape):
        return 0
    cls = cls or op_class(node)
    if cls in ("depthwise", "pool") and len(shape) >= 3:
        return int(np.prod(shape[:2]))
    if node.op == "transpose" and cls == "memory":
        return int(np.prod(shape)) // max(_run_length(node.inputs[0].type.shape, tuple(node.attrs["perm"])), 1)
    return 0


def op_class(node: Node) -> str:
    """The calibration class a node is costed as."""
    cls = _CLASS_OF_OP.get(node.op, "memory")
    if cls == "permute" and _keeps_rows(node.attrs.get("perm")):
        return "memory"
    if cls == "conv":
        channels = node.inputs[0].type.shape[1] if node.inputs[0].type.shape else None
        group = node.attrs.get("group", 1)
        return "depthwise" if group > 1 and group == channels else "conv"
    return cls


@dataclass(frozen=True)
class Calibration:
    """What a backend reaches on this host, per op class: fixed seconds per op, and fractions of the roofline
    (of peak arithmetic for the compute classes, of memory bandwidth for ``MEMORY_CLASSES``)."""

    overhead: dict[str, float]
    compute_eff: dict[str, float]
    memory_eff: dict[str, float]
    per_item: dict[str, float] = field(default_factory=dict)

    def arithmetic(self, node: Node, desc: MachineDescription) -> float:
        """Seconds of ``node``'s arithmetic alone, at the vector rate the generated loops reach (the conv class)."""
        peak = desc.peak(compute_dtype(node)) or min(desc.peak_ops.values())
        return get_op(node.op).flop_count(node) / (peak * self.compute_eff["conv"])

    def estimate(self, node: Node, desc: MachineDescription, source: str, dtype: DType | None = None) -> Estimate:
        """``dtype``: what the backend really computes in when that is not the node's own (default) dtype."""
        if node.op in VIEWS:
            return Estimate(0.0, source)
        opdef = get_op(node.op)
        read, written = opdef.bytes_moved(node)
        peak = desc.peak(dtype or compute_dtype(node)) or min(desc.peak_ops.values())
        cls = op_class(node)
        compute = opdef.flop_count(node) / (peak * self.compute_eff.get(cls, self.compute_eff["conv"]))
        memory = (read + written) / (desc.memory.bandwidth * self.memory_eff.get(cls, self.memory_eff["memory"]))
        setup = self.per_item[cls] * op_items(node, cls) if cls in self.per_item else 0.0
        return Estimate(self.overhead[cls] + setup + max(compute, memory), source)


def _chain(name: str, depth: int, shape: tuple[int, ...], op: str, weight: tuple[int, ...] | None = None,
           view: bool = False, **attrs: object) -> Graph:
    """A chain of ``depth`` copies of one op, shapes kept from op to op. ``view``: a reshape after each op, so
    that no backend fuses one elementwise op into the loop of the one before (each stays a pass over memory)."""
    rng = np.random.default_rng(0)
    g = Graph(f"calibrate.{name}.{depth}")
    h = g.add_input("x", "float32", shape)
    for i in range(depth):
        # weights scaled by fan-in keep values in range along the chain (no overflow, no denormals)
        scale = np.float32(2 / np.sqrt(np.prod(weight[1:]))) if weight else None
        inputs = [h] if weight is None else [h, g.constant((rng.random(weight, np.float32) - 0.5) * scale, f"w{i}")]
        h = g.add_node(op, inputs, dict(attrs), name=f"{name}{i}").outputs[0]
        if view:
            h = g.add_node("reshape", [h], {"shape": shape}, name=f"{name}{i}.view").outputs[0]
    g.outputs.append(h)
    return g


_SAME = {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1)}
_POINT = {"strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1)}


def _suite(depth: int) -> list[tuple[str, str, Graph]]:
    """(class, kind, graph): per class a chain of tiny ops (kind "tiny": its fixed cost per op), then chains of
    ``depth`` ops at shapes typical of CNN layers (kind "busy": the fraction of the roofline it reaches), small
    planes among them where a class has a cost per plane (``op_items``), and for matmul one bound by reading its
    weights (kind "streams": a matrix-vector product, the fraction of the bandwidth it reaches)."""
    pool = {"kernel": (3, 3), "strides": (1, 1), "pads": (1, 1, 1, 1)}
    return [
        ("conv", "tiny", _chain("tiny_conv", depth, (1, 1, 2, 2), "conv", (1, 1, 1, 1), **_POINT)),
        ("depthwise", "tiny", _chain("tiny_depthwise", depth, (1, 2, 2, 2), "conv", (2, 1, 3, 3), group=2, **_SAME)),
        ("matmul", "tiny", _chain("tiny_matmul", depth, (2, 2), "matmul", (2, 2))),
        ("pool", "tiny", _chain("tiny_pool", depth, (1, 1, 2, 2), "max_pool", **pool)),
        ("memory", "tiny", _chain("tiny_memory", depth, (2, 2), "relu", view=True)),
        ("permute", "tiny", _chain("tiny_permute", depth, (2, 2), "transpose", perm=(1, 0))),
        ("memory", "busy", _chain("memory", depth, (256, 3136), "relu", view=True)),
        ("memory", "busy", _chain("shuffle", depth, (1, 16, 16, 14, 14), "transpose", perm=(0, 2, 1, 3, 4))),
        ("permute", "busy", _chain("permute", depth, (1024, 1024), "transpose", perm=(1, 0))),
        ("matmul", "busy", _chain("matmul", depth, (256, 256), "matmul", (256, 256))),
        ("matmul", "streams", _chain("gemv", depth, (1, 1024), "matmul", (1024, 1024))),
        ("conv", "busy", _chain("conv3x3", depth, (1, 64, 28, 28), "conv", (64, 64, 3, 3), **_SAME)),
        ("conv", "busy", _chain("conv1x1", depth, (1, 128, 28, 28), "conv", (128, 128, 1, 1), **_POINT)),
        ("conv", "busy", _chain("conv3x3_wide", depth, (1, 16, 56, 56), "conv", (16, 16, 3, 3), **_SAME)),
        ("depthwise", "busy", _chain("depthwise", depth, (1, 128, 28, 28), "conv", (128, 1, 3, 3), group=128,
                                     **_SAME)),
        ("depthwise", "busy", _chain("depthwise_small", depth, (1, 512, 7, 7), "conv", (512, 1, 3, 3), group=512,
                                     **_SAME)),
        ("pool", "busy", _chain("pool", depth, (1, 64, 56, 56), "max_pool", **pool)),
        ("pool", "busy", _chain("pool_small", depth, (1, 512, 7, 7), "max_pool", **pool)),
    ]


@dataclass(frozen=True)
class _Sample:
    """One busy shape of a class: its outer iterations, its roofline seconds at full efficiency, and its time."""

    items: int
    ideal: float
    seconds: float


def _fit(samples: list[_Sample]) -> tuple[float, float]:
    """(seconds per item, efficiency) of a class from its busy shapes: ``seconds = per_item * items + ideal /
    efficiency``, least squares over the shapes when their item counts differ, else the median efficiency (no
    item term). A fit that comes out negative (noise on a term too small to see) drops the item term."""
    median = statistics.median(s.ideal / s.seconds for s in samples)
    if len({s.items for s in samples}) < 2:
        return 0.0, median
    a = np.array([[s.items, s.ideal] for s in samples], np.float64)
    (per_item, inverse), *_ = np.linalg.lstsq(a, np.array([s.seconds for s in samples]), rcond=None)
    if per_item < 0 or inverse <= 0:
        return 0.0, median
    return float(per_item), float(1 / inverse)


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


def calibrate(compile: Compile, host: MachineDescription, repeats: int = 60) -> Calibration:
    """Time ``compile``'s artifacts on the suite; efficiencies are relative to ``host``'s roofline figures.

    Each shape is timed as a chain of one op and of three: half the difference is one op inside a graph, without
    what a whole run adds once (checking inputs, copying outputs back).
    """
    short, long = _suite(1), _suite(3)
    seconds = time_artifacts([(compile(g), g) for _, _, g in short + long], repeats, rounds=6)
    per_op = [max((t3 - t1) / 2, 1e-9) for t1, t3 in zip(seconds[:len(short)], seconds[len(short):])]
    overhead = {cls: t for (cls, kind, _), t in zip(short, per_op) if kind == "tiny"}
    samples: dict[tuple[str, bool], list[_Sample]] = {}
    for (cls, kind, graph), t in zip(short, per_op):
        if kind == "tiny":
            continue
        node = next(n for n in graph.nodes if n.op != "reshape")
        opdef = get_op(node.op)
        by_bytes = cls in MEMORY_CLASSES or kind == "streams"
        ideal = (sum(opdef.bytes_moved(node)) / host.memory.bandwidth if by_bytes
                 else opdef.flop_count(node) / (host.peak(compute_dtype(node)) or 1.0))
        samples.setdefault((cls, by_bytes), []).append(_Sample(op_items(node, cls), ideal, max(t - overhead[cls], 1e-9)))
    per_item: dict[str, float] = {}
    compute_eff: dict[str, float] = {}
    memory_eff: dict[str, float] = {}
    for (cls, by_bytes), rows in samples.items():
        item, eff = _fit(rows)
        if item:
            per_item[cls] = item
        # arithmetic cannot beat the peak; memory work can beat the description's DRAM bandwidth (an estimate)
        # when its working set stays in cache, as a layer's activations often do, so it is not capped
        (memory_eff if by_bytes else compute_eff)[cls] = eff if by_bytes else min(1.0, eff)
    return Calibration(overhead, compute_eff, memory_eff, per_item)
