"""cpu_c's time per node on a CPU: its generated kernels calibrated on this host (``calibrate.py``).

Elementwise nodes that cpu_c fuses into the output tiles of the convolution or matmul producing
their input, or into the loop of the elementwise node producing their input (cpu_c runs a chain of
elementwise nodes as one loop: a batch norm and the ReLU after it, before a convolution, read and
write the tensor once), cost no pass over memory of their own: they are charged their arithmetic only.
The grouping itself (``passes.fusion``) also asks that the value be read by that one node; a node sees
only its inputs, not their other readers, so a value read by two elementwise nodes is charged one pass
where cpu_c makes two.
"""

from __future__ import annotations

import functools

import numpy as np

from hetflow.backends.base import Estimate, compute_dtype
from hetflow.backends.calibrate import Calibration, calibrate, time_artifacts
from hetflow.backends.cpu_c.render_extra import direct_conv
from hetflow.ir import Graph, Node, Value, get_op
from hetflow.targets import MachineDescription, detect_host, is_this_host

SOURCE = "model:cpu_c-calibrated"
_ANCHORS = frozenset({"conv", "matmul", "gemm"})
_EPILOGUE = frozenset({"batch_norm"})
"""Not elementwise in the IR, but folded into the producing kernel's weights or epilogue by cpu_c."""
_PLACED = frozenset({"concat"})
"""Written in place: memory planning lays each operand out inside the concatenated buffer."""


def is_direct(node: Node) -> bool:
    """Whether cpu_c runs ``node`` as a direct loop nest (no packed GEMM): transposed and 3-D convolution, one whose
    weight is computed at run time, 3-D pooling. Those reach a fraction of the GEMM-based conv class's rate,
    calibrated apart (``direct_efficiency``)."""
    if node.op == "conv_transpose" or node.op == "conv" and direct_conv(node):
        return True
    out = node.outputs[0].type.shape if node.outputs else None
    return node.op in ("max_pool", "avg_pool") and out is not None and len(out) == 5


def _direct_chain(depth: int) -> Graph:
    """``depth`` transposed 3x3 convolutions, 32 -> 32 channels on 16 x 16 (stride 1, the size kept)."""
    rng = np.random.default_rng(0)
    g = Graph(f"calibrate.direct.{depth}")
    h = g.add_input("x", "float32", (1, 32, 16, 16))
    attrs = {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1), "output_padding": (0, 0), "group": 1}
    for i in range(depth):
        w = g.constant((rng.random((32, 32, 3, 3), np.float32) - 0.5) / np.float32(17), f"w{i}")
        h = g.add_node("conv_transpose", [h, w], dict(attrs), name=f"direct{i}").outputs[0]
    g.outputs.append(h)
    return g


@functools.cache
def direct_efficiency(threads: int) -> float:
    """The fraction of this host's peak that cpu_c's direct loop nests reach at ``threads`` threads (measured: a chain
    of one op and of three, half the difference being one op, as ``calibrate`` times its classes)."""
    from hetflow.backends.cpu_c import CpuCBackend

    backend = CpuCBackend()
    graphs = [_direct_chain(1), _direct_chain(3)]
    t1, t3 = time_artifacts([(backend.compile(g, threads=threads), g) for g in graphs], repeats=6)
    node = graphs[0].nodes[0]
    host = detect_host()
    seconds = max((t3 - t1) / 2, 1e-9)
    return min(1.0, get_op(node.op).flop_count(node) / (host.peak(compute_dtype(node)) or 1.0) / seconds)


@functools.cache
def host_calibration(threads: int) -> Calibration:
    """cpu_c's kernels at ``threads`` OpenMP threads timed on the calibration suite on this host, once per process
    and thread count (builds are cached)."""
    from hetflow.backends.cpu_c import CpuCBackend

    backend = CpuCBackend()
    return calibrate(lambda graph: backend.compile(graph, threads=threads), detect_host())


def device_threads(description: MachineDescription) -> int:
    """The threads cpu_c's driver gives a device of ``description`` (as ``CpuCDevice`` does)."""
    return description.compute.threads or description.compute.units


def _epilogue_op(node: Node) -> bool:
    return get_op(node.op).family == "elementwise" or node.op in _EPILOGUE


def _from_kernel(value: Value | None) -> bool:
    """Whether ``value`` is a kernel's output, possibly through other epilogue work."""
    producer = value.producer if value is not None else None
    while producer is not None and _epilogue_op(producer) and producer.inputs and producer.inputs[0] is not None:
        producer = producer.inputs[0].producer
    return producer is not None and producer.op in _ANCHORS


def _in_loop(value: Value | None, shape: object) -> bool:
    """Whether ``value`` is made element by element, at ``shape``, by a loop the reader can join."""
    producer = value.producer if value is not None else None
    return producer is not None and _epilogue_op(producer) and value.type.shape == shape  # type: ignore[union-attr]


def fused_into_producer(node: Node) -> bool:
    """Whether ``node`` is epilogue work on a kernel's output (an activation, a folded batch norm, a residual sum),
    which cpu_c does inside that kernel's output tiles, or the next step of an elementwise loop."""
    if not _epilogue_op(node):
        return False
    shape = node.outputs[0].type.shape
    return any(_from_kernel(v) or _in_loop(v, shape) for v in node.inputs[:2])


def kernel_estimate(node: Node, description: MachineDescription) -> Estimate | None:
    """Seconds cpu_c's code takes for ``node`` on this host's CPU; None for any other chip
    (the partitioner then uses that description's roofline)."""
    if not is_this_host(description):  # measured here: it says nothing of another CPU
        return None
    calibration = host_calibration(device_threads(description))
    if node.op in _PLACED:
        return Estimate(0.0, SOURCE)
    if fused_into_producer(node):
        return Estimate(calibration.arithmetic(node, description), SOURCE)
    if is_direct(node):
        peak = description.peak(compute_dtype(node)) or min(description.peak_ops.values())
        eff = direct_efficiency(device_threads(description))
        return Estimate(calibration.overhead["conv"] + get_op(node.op).flop_count(node) / (peak * eff), SOURCE)
    return calibration.estimate(node, description, SOURCE)
