"""Group a static graph's nodes into kernel units: what one generated kernel computes.

A unit is a producer (a template kernel, a data-movement copy, or the first pointwise op) followed by the
pointwise chain that consumes it at the same shape: that chain becomes the producer kernel's epilogue
(bias, batch norm, residual add, activation, clip), so its intermediates never reach memory. The
attention pattern (matmul -> scale -> softmax over the last axis -> matmul) becomes one unit, computed by
the fused attention template with an online softmax. Reshapes are views; nodes outside the table are
host units, run by the reference backend between kernels.

Until the shared epilogue-fusion groups land in ``hetflow.passes``, this is the backend's adapter for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hetflow.backends.gpu_triton import table
from hetflow.ir import Graph, Node, Value

KIND_OF_TEMPLATE = {"matmul": "matmul", "conv": "conv", "window": "window", "reduce": "reduce", "rownorm": "rownorm"}


@dataclass
class Unit:
    """Nodes one kernel computes. ``kind``: pointwise, movement, matmul, conv, window, reduce, rownorm,
    attention, view or host; ``reason`` says why a host unit is not a kernel."""

    kind: str
    nodes: list[Node]
    reason: str | None = None
    stores: list[Value] = field(default_factory=list)
    """Values the kernel writes to memory: the chain's last value and any intermediate used elsewhere."""

    @property
    def head(self) -> Node:
        return self.nodes[0]

    @property
    def label(self) -> str:
        return " + ".join(f"{n.name} ({n.op})" for n in self.nodes)


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


def fuse(graph: Graph, fallback_reason: dict[str, str]) -> list[Unit]:
    """Units in execution order. ``fallback_reason``: node name -> why it runs on the host (filled here)."""
    users = graph.users()
    outputs = {id(v) for v in graph.outputs}
    done: set[int] = set()  # ids of nodes already in a unit
    produced: set[int] = {id(v) for v in graph.inputs}
    units: list[Unit] = []
    for node in graph.nodes:
        if id(node) in done:
            continue
        reason = table.supports(node)
        if reason is not None:
            fallback_reason[node.name] = reason
            unit = Unit("host", [node], reason)
        else:
            unit = _attention(node, users, outputs) or Unit(_kind(node), [node])
            if unit.kind in ("pointwise", "movement", "matmul", "conv", "window"):
                _extend(unit, users, outputs, produced, done)
        for n in unit.nodes:
            done.add(id(n))
            produced.update(id(o) for o in n.outputs)
        unit.stores = _stores(unit, users, outputs)
        units.append(unit)
    return units


def _single_user(v: Value, users: dict[int, list[Node]], outputs: set[int]) -> Node | None:
    found = users.get(id(v), [])
    if len(found) != 1 or id(v) in outputs:
        return None
    return found[0]


def _extend(unit: Unit, users: dict[int, list[Node]], outputs: set[int], produced: set[int], done: set[int]) -> None:
    """Append the pointwise chain that consumes the unit's last value at its shape."""
    inside = {id(o) for n in unit.nodes for o in n.outputs}
    while True:
        tail = unit.nodes[-1].outputs[0]
        nxt = _single_user(tail, users, outputs)
        if nxt is None or id(nxt) in done or _kind_or_none(nxt) != "pointwise":
            return
        if nxt.outputs[0].type.shape != tail.type.shape or nxt.outputs[0].type.dtype != tail.type.dtype:
            return
        others = [v for v in nxt.inputs if v is not None and v is not tail]
        if any(not (v.is_const or id(v) in produced or id(v) in inside) for v in others):
            return  # an operand computed later: fusing would read it before it exists
        if any(v is tail for v in others):
            return  # x op x: keep it simple, one operand slot per value
        unit.nodes.append(nxt)
        inside.update(id(o) for o in nxt.outputs)


def _kind_or_none(node: Node) -> str | None:
    return _kind(node) if table.supports(node) is None else None


def _stores(unit: Unit, users: dict[int, list[Node]], outputs: set[int]) -> list[Value]:
    if unit.kind in ("view", "host"):
        return []
    members = {id(n) for n in unit.nodes}
    out = []
    for n in unit.nodes:
        for v in n.outputs:
            escapes = id(v) in outputs or any(id(u) not in members for u in users.get(id(v), []))
            if escapes or v is unit.nodes[-1].outputs[0]:
                out.append(v)
    return out


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
