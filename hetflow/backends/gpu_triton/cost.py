"""The GPU cost model: what one node costs on a GPU described with a ``[gpu]`` section.

    seconds = launch + max(flops / (peak[dtype] * efficiency[class]),
                           bytes / (bandwidth * efficiency[class])) * wave_tail

* ``launch``: the per-kernel cost inside a replayed CUDA graph (the executable captures one; a subgraph
  with host steps launches eagerly and costs more, ``launch_eager``, which the estimate does not know of);
  zero for a node that fuses into its producer's epilogue
  (a pointwise op after matmul, conv, pooling or another pointwise op) and for views.
* ``efficiency[class]``: achievable fraction of peak, per op class: GEMM-like (matmul, conv),
  bandwidth-bound (pointwise, data movement), reductions (softmax, norms, pooling, reduce_*).
* ``wave_tail``: work is issued in thread blocks, one wave fills the SMs; a grid of B blocks takes
  ceil(B / SMs) waves, each as long as a full one, so a grid smaller than a wave runs at B / SMs of
  the chip (a block cannot use more than its SM). Block counts follow the templates' default tiles.
  The tail stretches compute time; memory time is stretched only below ``SATURATING_SM_FRACTION`` of the
  SMs busy (fewer blocks than that cannot keep enough loads in flight to reach the achievable bandwidth)
  -- an estimate, like the fraction itself.

Every figure comes from the description (cited there); the source is ``model:gpu-cost``.
"""

from __future__ import annotations

import math

from hetflow.backends.gpu_triton import table
from hetflow.ir import DType, Node, get_op
from hetflow.targets import MachineDescription

SOURCE = "model:gpu-cost"
FUSES_INTO = frozenset({"matmul", "conv", "max_pool", "avg_pool", "gather", *table.POINTWISE})
"""Producers whose output tiles a following pointwise node is fused into (no launch, no round trip)."""
REDUCTIONS = frozenset({"softmax", "log_softmax", "layer_norm", "group_norm", "instance_norm", "max_pool",
                        "avg_pool", "reduce_sum", "reduce_mean", "reduce_max", "reduce_min"})
SATURATING_SM_FRACTION = 0.5
POINTWISE_BLOCK = 1024
REDUCE_ROWS_PER_BLOCK = 1


def _numel(shape: tuple[object, ...] | None) -> int:
    if shape is None:
        return 1
    return math.prod(d if isinstance(d, int) else 1 for d in shape)


def _dtype(node: Node) -> DType:
    for v in (*node.inputs, *node.outputs):
        if v is not None and v.type.dtype is not DType.bool:
            return v.type.dtype
    return DType.float32


def _blocks(node: Node, half: bool) -> int:
    """Thread blocks the node's kernel launches with the default tiles."""
    out = node.outputs[0].type.shape
    if node.op in ("matmul", "conv"):
        tile = 128 if half else 64
        if node.op == "matmul":
            rows = _numel(out[:-1]) if out else 1
            cols = out[-1] if out and isinstance(out[-1], int) else 1
        else:
            rows = _numel((out[0], *out[2:])) if out else 1
            cols = out[1] if out and isinstance(out[1], int) else 1
        return math.ceil(rows / tile) * math.ceil(cols / tile)
    if node.op in REDUCTIONS and node.op not in ("max_pool", "avg_pool"):
        x = node.inputs[0].type.shape if node.inputs[0] is not None else None
        rows = _numel(out) if node.op.startswith("reduce_") else max(_numel(x) // max(_row_length(node), 1), 1)
        return math.ceil(rows / REDUCE_ROWS_PER_BLOCK)
    return math.ceil(_numel(out) / POINTWISE_BLOCK)


def _row_length(node: Node) -> int:
    x = node.inputs[0].type.shape if node.inputs[0] is not None else None
    if not x:
        return 1
    if node.op in ("softmax", "log_softmax"):
        axis = node.attrs["axis"] % len(x)
        return _numel(x[axis:axis + 1])
    if node.op == "layer_norm":
        return _numel(x[node.attrs["axis"] % len(x):])
    return _numel(x[2:])


def fuses_into_producer(node: Node) -> bool:
    """Whether the code generator folds ``node`` into its producer's kernel (it has no launch of its own)."""
    if node.op not in table.POINTWISE or not node.inputs or node.inputs[0] is None:
        return False
    producer = node.inputs[0].producer
    return producer is not None and producer.op in FUSES_INTO


def estimate_node(node: Node, desc: MachineDescription) -> tuple[float, str] | None:
    """Seconds for ``node`` on the GPU ``desc`` describes, or None when it has no ``[gpu]`` figures."""
    gpu = desc.gpu
    if gpu is None:
        return None
    if node.op in table.VIEWS:
        return 0.0, SOURCE
    opdef = get_op(node.op)
    dtype = _dtype(node)
    flops = opdef.flop_count(node)
    read, written = opdef.bytes_moved(node)
    fused = fuses_into_producer(node)
    if fused:  # its producer's tile is still in registers: only its other operands are read
        first = node.inputs[0]
        read -= (first.type.nbytes or 0) if first is not None else 0
    gemm = node.op in ("matmul", "conv")
    efficiency = gpu.efficiency_gemm if gemm else gpu.efficiency_reduction if node.op in REDUCTIONS \
        else gpu.efficiency_bandwidth
    peak = desc.peak(dtype) or min(desc.peak_ops.values())
    slots = desc.compute.units
    blocks = max(_blocks(node, dtype in (DType.float16, DType.bfloat16)), 1)
    tail = math.ceil(blocks / slots) * slots / blocks
    bandwidth_eff = gpu.efficiency_bandwidth if gemm else efficiency
    starved = max(1.0, desc.compute.units * SATURATING_SM_FRACTION / blocks)
    body = max(flops / (peak * efficiency) * tail, (read + written) / (desc.memory.bandwidth * bandwidth_eff) * starved)
    launch = 0.0 if fused else gpu.launch_graph
    return launch + body, SOURCE
