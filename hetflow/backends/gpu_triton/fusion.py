"""Group a static graph's nodes into kernel units: what one generated kernel computes.

The grouping is the shared one (``hetflow.passes.fusion``, after the shared ``fold_affine`` folds batch
norms and per-channel affine ops into conv / matmul weights), with this backend's rules: every pointwise
op of the table fuses, and matmul, conv and pooling take epilogues (bias, residual add, activation, clip),
so an epilogue's intermediates never reach memory. On top of it this backend finds the attention pattern
(matmul -> scale -> softmax over the last axis -> matmul), computed by one fused kernel with an online
softmax. Data-movement ops are copy kernels, reshapes are views, and nodes outside the table are host
units, run by the reference backend between kernels. A unit runs where its last node was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hetflow.backends.gpu_triton import table
from hetflow.ir import Graph, Node, Value
from hetflow.passes.affine import fold_affine_into
from hetflow.passes.fusion import FusionRules, describe, group_fusion
from hetflow.passes.manager import dump_if_asked

KIND_OF_TEMPLATE = {"matmul": "matmul", "conv": "conv", "window": "window", "reduce": "reduce", "rownorm": "rownorm",
                    "gather": "gather"}
EPILOGUE_KINDS = frozenset({"matmul", "conv", "window", "gather"})


@dataclass
class Unit:
    """Nodes one kernel computes. ``kind``: pointwise, movement, matmul, conv, window, reduce, rownorm,
    attention, view or host; ``reason`` says why a host unit is not a kernel."""

    kind: str
    nodes: list[Node]
    reason: str | None = None
    stores: list[Value] = field(default_factory=list)
    """Values the kernel writes to memory (a group exports one value)."""

    @property
    def head(self) -> Node:
        return self.nodes[0]

    @property
    def label(self) -> str:
        return " + ".join(f"{n.name} ({n.op})" for n in self.nodes)


@dataclass
class Fusion:
    """Units in execution order; ``folded``: node folded away by ``fold_affine`` -> the node it went into."""

    units: list[Unit]
    folded: dict[str, str]


def _kind(node: Node) -> str:
    found = table.entry(node.op)
    if isinstance(found, table.Pointwise):
        return "pointwise"
    if isinstance(found, table.Movement):
        return "movement"
    if isinstance(found, table.View):
        return "view"
    assert isinstance(found, table.Template)
    return KIND_OF_TEMPLATE[found.name]


def _rules(excluded: set[int]) -> FusionRules:
    def pointwise(node: Node) -> bool:
        return id(node) not in excluded and table.supports(node) is None and _kind(node) == "pointwise"

    def anchor(node: Node) -> bool:
        return id(node) not in excluded and table.supports(node) is None and _kind(node) in EPILOGUE_KINDS

    return FusionRules(pointwise, anchor)


def fuse(graph: Graph, fallback_reason: dict[str, str]) -> Fusion:
    """Rewrite ``graph`` (the caller's private copy) and cut it into units in execution order.
    ``fallback_reason``: node name -> why it runs on the host (filled here)."""
    folded = fold_affine_into(graph)
    dump_if_asked("fold_affine", graph)
    users = graph.users()
    outputs = {id(v) for v in graph.outputs}
    attention = [u for u in (_attention(n, users, outputs) for n in graph.nodes) if u is not None]
    excluded = {id(n) for u in attention for n in u.nodes}
    grouping = group_fusion(graph, _rules(excluded))
    dump_if_asked("group_epilogues", graph, "// gpu_triton fusion groups:\n" + describe(graph, grouping))
    unit_of: dict[int, Unit] = {}
    for u in attention:
        u.stores = [u.nodes[-1].outputs[0]]
        for n in u.nodes:
            unit_of[id(n)] = u
    for group in grouping.groups:
        anchor = group.acc.producer if group.acc is not None else None
        if anchor is not None:
            unit = Unit(_kind(anchor), [anchor, *group.nodes], stores=[group.output])
        else:
            unit = Unit("pointwise", list(group.nodes), stores=[group.output])
        for n in unit.nodes:
            unit_of[id(n)] = unit
    for node in graph.nodes:
        if id(node) in unit_of:
            continue
        reason = table.supports(node)
        if reason is not None:
            fallback_reason[node.name] = reason
            unit_of[id(node)] = Unit("host", [node], reason)
            continue
        kind = _kind(node)
        stores = [] if kind == "view" else [node.outputs[0]]
        unit_of[id(node)] = Unit(kind, [node], stores=stores)
    last = {}
    for i, node in enumerate(graph.nodes):
        last[id(unit_of[id(node)])] = (i, unit_of[id(node)])
    return Fusion([u for _, u in sorted(last.values(), key=lambda x: x[0])], folded)


def _single_user(v: Value, users: dict[int, list[Node]], outputs: set[int]) -> Node | None:
    found = users.get(id(v), [])
    if len(found) != 1 or id(v) in outputs:
        return None
    return found[0]


def _const_scalar(v: Value | None) -> float | None:
    if v is None or v.const is None or v.const.size != 1:
        return None
    return float(v.const.reshape(()))


def attention_scale(nodes: list[Node]) -> float:
    """The factor the attention scores are scaled by (mul by, or div by, a constant scalar)."""
    scale_node = nodes[1]
    value = _const_scalar(scale_node.inputs[1])
    assert value is not None
    return value if scale_node.op == "mul" else 1.0 / value


def _attention(node: Node, users: dict[int, list[Node]], outputs: set[int]) -> Unit | None:
    """matmul(q, kT) -> mul/div by a constant scalar -> softmax(last axis) -> matmul(., v), as one unit."""
    if node.op != "matmul":
        return None
    scale = _single_user(node.outputs[0], users, outputs)
    if scale is None or scale.op not in ("mul", "div") or scale.inputs[0] is not node.outputs[0] \
            or _const_scalar(scale.inputs[1]) is None:
        return None
    soft = _single_user(scale.outputs[0], users, outputs)
    if soft is None or soft.op != "softmax" or soft.attrs["axis"] not in (-1, len(soft.outputs[0].type.shape) - 1):
        return None
    pv = _single_user(soft.outputs[0], users, outputs)
    if pv is None or pv.op != "matmul" or pv.inputs[0] is not soft.outputs[0]:
        return None
    q, kt, v = node.inputs[0], node.inputs[1], pv.inputs[1]
    shapes = [tuple(x.type.shape) for x in (q, kt, v)]  # type: ignore[union-attr]
    if any(len(s) < 2 for s in shapes) or not (shapes[0][:-2] == shapes[1][:-2] == shapes[2][:-2]):
        return None  # batch dims must agree exactly (no broadcasting inside the fused kernel)
    if shapes[0][-1] > 256 or any(table.supports(n) for n in (node, scale, soft, pv)):
        return None
    return Unit("attention", [node, scale, soft, pv])
