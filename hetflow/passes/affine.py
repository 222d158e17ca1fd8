"""Affine folding: batch norm and per-channel mul / add / sub by a constant, folded into the weights and
bias of the convolution or matmul before them.

``conv -> batch_norm`` becomes one conv with scaled weights and a shifted bias; ``matmul(x, B) -> mul``
by a per-column constant becomes ``matmul(x, B * c)``. A fold happens only when the weights are
constants and the intermediate value has no other consumer (and is not a graph output), so the graph
computes the same function. The map it returns (folded node -> the node it went into) lets a backend
say where every original node ran. Every backend consumes this one rewrite; ``channel_affine`` and
``batch_norm_affine`` are the per-channel algebra a backend reuses where it keeps an affine node whole
(fpga_hls's dense bias, its scale_shift layer; cpu_c's lowering of a lone batch norm).
"""

from __future__ import annotations

import numpy as np

from hetflow.ir import DType, Graph, Node, Value
from hetflow.passes.manager import graph_pass

AFFINE_OPS = frozenset({"batch_norm", "mul", "add", "sub"})
"""Ops that may be a per-channel affine map of one activation."""

Affine = tuple[np.ndarray, np.ndarray]
"""(scale, shift) per channel, float64: y = x * scale + shift."""


def batch_norm_affine(node: Node) -> Affine | None:
    """(scale, shift) of an inference batch norm along its channel axis, or None when a parameter is not constant."""
    params = [v.const if v is not None else None for v in node.inputs[1:5]]
    if len(params) != 4 or any(p is None for p in params):
        return None
    scale, bias, mean, var = (np.asarray(p, np.float64).reshape(-1) for p in params)  # type: ignore[arg-type]
    a = scale / np.sqrt(var + float(node.attrs["epsilon"]))
    return a, bias - mean * a


def _channel_vector(c: np.ndarray, rank: int, axis: int, channels: int) -> np.ndarray | None:
    """``c`` as a length-``channels`` float64 vector along ``axis`` of a rank-``rank`` result, if it broadcasts so."""
    if c.ndim > rank:
        return None
    aligned = (1,) * (rank - c.ndim) + tuple(c.shape)
    if any(d != 1 for j, d in enumerate(aligned) if j != axis) or aligned[axis] not in (1, channels):
        return None
    return np.broadcast_to(np.asarray(c, np.float64).reshape(-1), (channels,)).copy()


def channel_affine(node: Node, x: Value, channels: int, axis: int) -> Affine | None:
    """(scale, shift) when ``node`` maps ``x`` per channel along ``axis`` (negative counts from the end), else None.

    A batch norm of ``x`` (its channel axis is 1), or an add / sub / mul of ``x`` and a constant that
    varies only along ``axis`` and does not broadcast ``x`` to a larger shape.
    """
    out = node.outputs[0]
    if node.op not in AFFINE_OPS or out.type.shape is None or out.type.shape != x.type.shape:
        return None
    rank = len(out.type.shape)
    axis = axis % rank if rank else 0
    if node.op == "batch_norm":
        if node.inputs[0] is not x or axis != 1:
            return None
        found = batch_norm_affine(node)
        return None if found is None or found[0].size != channels else found
    if len(node.inputs) != 2 or not any(v is x for v in node.inputs):
        return None
    k = 1 if node.inputs[0] is x else 0
    c = node.inputs[k]
    if c is None or c.const is None or (node.op == "sub" and k == 0):
        return None
    vec = _channel_vector(c.const, rank, axis, channels)
    if vec is None:
        return None
    if node.op == "mul":
        return vec, np.zeros(channels)
    return np.ones(channels), (vec if node.op == "add" else -vec)


# ------------------------------------------------------------------ folding into the producer
def _conv_fold(graph: Graph, conv: Node, affine: Affine) -> None:
    """Scale the conv's output channels (weight rows) and shift its bias."""
    scale, shift = affine
    w = conv.inputs[1]
    assert w is not None and w.const is not None
    bias_in = conv.inputs[2] if len(conv.inputs) > 2 else None
    bias = np.zeros(scale.size) if bias_in is None else np.asarray(bias_in.const, np.float64)
    if np.any(scale != 1):
        weight = np.asarray(w.const, np.float64) * scale.reshape((-1,) + (1,) * (w.const.ndim - 1))
        conv.inputs[1] = graph.constant(weight.astype(w.const.dtype), f"{conv.name}_w")
    new_bias = graph.constant((bias * scale + shift).astype(w.const.dtype), f"{conv.name}_b")
    if len(conv.inputs) > 2:
        conv.inputs[2] = new_bias
    else:
        conv.inputs.append(new_bias)


def _matmul_fold(graph: Graph, mm: Node, affine: Affine) -> None:
    """Scale the columns of the constant B (a matmul has no bias, so only a pure scale folds)."""
    b = mm.inputs[1]
    assert b is not None and b.const is not None
    scaled = np.asarray(b.const, np.float64) * affine[0][None, :]
    mm.inputs[1] = graph.constant(scaled.astype(b.const.dtype), f"{mm.name}_b")


def _fold_target(node: Node, outputs: set[int], users: dict[int, list[Node]]) -> tuple[Node, Affine] | None:
    """The conv / matmul ``node`` folds into, and the per-channel map, or None."""
    for x in node.inputs:
        p = x.producer if x is not None else None
        if x is None or p is None or x is not p.outputs[0] or id(x) in outputs or len(users.get(id(x), [])) != 1:
            continue
        if x.type.dtype is not DType.float32 or len(p.inputs) < 2 or p.inputs[1] is None or p.inputs[1].const is None:
            continue
        w = p.inputs[1].const
        if p.op == "conv" and w.ndim >= 3 and (len(p.inputs) < 3 or p.inputs[2] is None or p.inputs[2].const is not None):
            affine = channel_affine(node, x, w.shape[0], 1)
        elif p.op == "matmul" and w.ndim == 2 and (p.inputs[0] is None or p.inputs[0].const is None):
            affine = channel_affine(node, x, w.shape[1], -1)
            affine = affine if affine is not None and not np.any(affine[1]) else None
        else:
            continue
        if affine is not None:
            return p, affine
    return None


_FOLDERS = {"conv": _conv_fold, "matmul": _matmul_fold}


def fold_affine_into(graph: Graph) -> dict[str, str]:
    """Fold every per-channel affine node into the conv / matmul before it; returns folded node -> that node."""
    users = graph.users()
    outputs = {id(v) for v in graph.outputs}
    folded: dict[str, str] = {}
    removed: set[int] = set()
    for node in graph.nodes:
        if node.op not in AFFINE_OPS:
            continue
        target = _fold_target(node, outputs, users)
        if target is None:
            continue
        producer, affine = target
        _FOLDERS[producer.op](graph, producer, affine)
        # the producer now computes the folded node's value (its name, its consumers, its place among
        # the graph outputs stay); the producer's own output had no other consumer and goes away
        out = node.outputs[0]
        out.producer = producer
        producer.outputs[0] = out
        node.inputs = []  # no longer a user of anything
        removed.add(id(node))
        folded[node.name] = producer.name
        users = graph.users()
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]
    return folded


@graph_pass("fold_affine")
def fold_affine(graph: Graph) -> Graph:
    """Fold batch norm and per-channel mul / add / sub by constants into the conv or matmul weights before them."""
    fold_affine_into(graph)
    return graph
