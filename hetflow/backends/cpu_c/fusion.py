"""Fusion for cpu_c: lower, fold affine ops into weights, group elementwise chains, attach epilogues.

The result is a list of ``Unit``s in execution order: each is one piece of generated code (a
kernel call with its fused epilogue, one loop over a chain of elementwise ops, a view), or a node
left to the reference backend. Every IR node of the input graph is accounted for in ``Fusion.fate``
so that the executable can say where each one ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from hetflow.backends.cpu_c.table import TABLE, Elementwise, Kernel, Lower, View, supports
from hetflow.ir import Graph, Node, Value

UnitKind = Literal["kernel", "elementwise", "view", "reference"]


@dataclass(eq=False)
class Group:
    """Elementwise nodes computed together, element by element; ``output`` is the only value they export.

    As an epilogue, ``acc`` is the producing kernel's raw output, which the group receives in registers.
    """

    nodes: list[Node]
    output: Value
    acc: Value | None = None

    def operands(self) -> list[Value]:
        """External inputs (constants included, ``acc`` excluded), each once, in order of first use."""
        inside = {id(o) for n in self.nodes for o in n.outputs}
        seen: dict[int, Value] = {}
        for n in self.nodes:
            for v in n.inputs:
                if v is not None and id(v) not in inside and v is not self.acc:
                    seen.setdefault(id(v), v)
        return list(seen.values())


@dataclass(eq=False)
class Unit:
    """One scheduled piece of work."""

    kind: UnitKind
    nodes: list[Node]
    anchor: Node | None = None
    group: Group | None = None
    reason: str | None = None

    @property
    def inputs(self) -> list[Value]:
        if self.kind == "elementwise":
            assert self.group is not None
            return self.group.operands()
        assert self.anchor is not None
        ins = [v for v in self.anchor.inputs if v is not None]
        if self.group is not None:
            ins += [v for v in self.group.operands() if all(v is not w for w in ins)]
        return ins

    @property
    def outputs(self) -> list[Value]:
        if self.kind == "elementwise" or self.group is not None:
            assert self.group is not None
            if self.kind == "kernel" and self.anchor is not None:
                return [self.group.output, *self.anchor.outputs[1:]]
            return [self.group.output]
        assert self.anchor is not None
        return list(self.anchor.outputs)


@dataclass
class Fusion:
    """Units in execution order, and what became of every original node (by name)."""

    graph: Graph
    units: list[Unit]
    fate: dict[str, str] = field(default_factory=dict)
    """Original node name -> the node it was folded into (for nodes that no longer exist)."""
    origin: dict[str, str] = field(default_factory=dict)
    """Name of a node created here -> the original node it came from."""


def fuse(graph: Graph) -> Fusion:
    """Rewrite ``graph`` (a private copy) for cpu_c and cut it into units."""
    result = Fusion(graph, [])
    _lower(graph, result)
    _fold_affine(graph, result)
    result.units = _units(graph)
    return result


# ------------------------------------------------------------------ lowering
def _lower(graph: Graph, result: Fusion) -> None:
    """batch_norm with constant statistics -> mul and add by per-channel constants."""
    kept: list[Node] = []
    for node in graph.nodes:
        entry = TABLE.get(node.op)
        if not (isinstance(entry, Lower) and supports(node) is None):
            kept.append(node)
            continue
        x, scale, bias, mean, var = node.inputs
        assert x is not None and scale is not None and bias is not None and mean is not None and var is not None
        eps = np.float32(node.attrs["epsilon"])
        a = (scale.const / np.sqrt(var.const + eps)).astype(np.float32)
        c = (bias.const - mean.const * a).astype(np.float32)
        shape = (-1,) + (1,) * (len(x.type.shape or ()) - 2)
        mul = graph.add_node("mul", [x, graph.constant(a.reshape(shape), f"{node.name}_a")], name=f"{node.name}/scale")
        add = graph.add_node("add", [mul.outputs[0], graph.constant(c.reshape(shape), f"{node.name}_c")],
                             name=f"{node.name}/shift")
        del graph.nodes[-2:]
        kept += [mul, add]
        result.origin[mul.name] = result.origin[add.name] = node.name
        _replace(graph, node.outputs[0], add.outputs[0])
    graph.nodes = kept


def _replace(graph: Graph, old: Value, new: Value) -> None:
    graph.replace_uses(old, new)


# ------------------------------------------------------------------ folding into weights
def _consumers(graph: Graph) -> dict[int, list[Node]]:
    return graph.users()


def _channel_vector(c: np.ndarray, rank: int, axis: int, size: int) -> np.ndarray | None:
    """``c`` as a length-``size`` vector along ``axis`` of a rank-``rank`` tensor, if it broadcasts that way."""
    if c.ndim > rank:
        return None
    shape = (1,) * (rank - c.ndim) + c.shape
    if any(d != 1 for i, d in enumerate(shape) if i != axis) or shape[axis] not in (1, size):
        return None
    return np.broadcast_to(c.reshape(-1) if c.size > 1 else c.reshape(1), (size,)).astype(np.float32)


def _fold_affine(graph: Graph, result: Fusion) -> None:
    """conv -> mul/add/sub by a per-channel constant: fold into the conv's weights and bias.
    matmul with a constant 2-D B -> mul by a per-column constant: fold into B."""
    users = _consumers(graph)
    outputs = {id(v) for v in graph.outputs}
    removed: set[int] = set()
    for node in graph.nodes:
        if node.op not in ("mul", "add", "sub") or len(node.inputs) != 2:
            continue
        for i in (0, 1):
            x, c = node.inputs[i], node.inputs[1 - i]
            if x is None or c is None or c.const is None or x.producer is None or id(x.producer) in removed:
                continue
            if node.op == "sub" and i != 0:
                continue
            p = x.producer
            if id(x) in outputs or len(users.get(id(x), [])) != 1 or x is not p.outputs[0]:
                continue
            if x.type.dtype.value != "float32" or node.outputs[0].type.shape != x.type.shape:
                continue
            if supports(p) is not None or supports(node) is not None:
                continue
            if p.op == "conv" and _fold_conv(graph, p, node.op, c.const):
                pass
            elif p.op == "matmul" and node.op == "mul" and _fold_matmul(graph, p, c.const):
                pass
            else:
                continue
            removed.add(id(node))
            result.fate[node.name] = p.name
            graph.replace_uses(node.outputs[0], x)
            node.inputs = []  # gone: it no longer counts as a user of x
            users = _consumers(graph)
            break
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]


def _fold_conv(graph: Graph, conv: Node, op: str, c: np.ndarray) -> bool:
    w, b = conv.inputs[1], conv.inputs[2] if len(conv.inputs) > 2 else None
    assert w is not None and w.const is not None
    m = w.type.shape[0]  # type: ignore[index]
    rank = len(conv.outputs[0].type.shape or ())
    vec = _channel_vector(c, rank, 1, m)
    if vec is None:
        return False
    bias = b.const.astype(np.float32) if b is not None and b.const is not None else np.zeros(m, np.float32)
    if op == "mul":
        weight = (w.const * vec.reshape((-1,) + (1,) * (w.const.ndim - 1))).astype(np.float32)
        conv.inputs[1] = graph.constant(weight, f"{conv.name}_w")
        bias = bias * vec
    else:
        bias = bias + vec if op == "add" else bias - vec
    new_b = graph.constant(bias.astype(np.float32), f"{conv.name}_b")
    if len(conv.inputs) > 2:
        conv.inputs[2] = new_b
    else:
        conv.inputs.append(new_b)
    return True


def _fold_matmul(graph: Graph, mm: Node, c: np.ndarray) -> bool:
    b = mm.inputs[1]
    if b is None or b.const is None or b.const.ndim != 2:
        return False
    n = b.const.shape[1]
    out_rank = len(mm.outputs[0].type.shape or ())
    vec = _channel_vector(c, out_rank, out_rank - 1, n)
    if vec is None:
        return False
    mm.inputs[1] = graph.constant((b.const * vec[None, :]).astype(np.float32), f"{mm.name}_b")
    return True


# ------------------------------------------------------------------ grouping
def linear_stride(shape: tuple[int, ...], strides: tuple[int, ...], dims: tuple[int, ...]) -> int | None:
    """The single stride that walks ``dims`` (row-major) of a tensor with these strides, or None."""
    live = [d for d in dims if shape[d] != 1]
    if not live:
        return 0
    for a, b in zip(live, live[1:]):
        if strides[a] != strides[b] * shape[b]:
            return None
    return strides[live[-1]]


def broadcast_strides(value_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of a contiguous ``value_shape`` tensor broadcast to ``out_shape`` (0 on broadcast dims)."""
    rank = len(out_shape)
    shape = (1,) * (rank - len(value_shape)) + tuple(value_shape)
    strides = [0] * rank
    step = 1
    for d in range(rank - 1, -1, -1):
        strides[d] = step if shape[d] != 1 else 0
        step *= shape[d]
    return tuple(strides)


def _epilogue_ok(anchor: Node, group: Group, acc: Value) -> bool:
    entry = TABLE[anchor.op]
    assert isinstance(entry, Kernel) and entry.epilogue is not None
    view = entry.epilogue(anchor)
    if view is None:
        return False
    out_shape = tuple(acc.type.shape or ())  # type: ignore[arg-type]
    for v in group.operands():
        if v.type.shape is None or len(v.type.shape) > len(out_shape):
            return False
        st = broadcast_strides(tuple(v.type.shape), out_shape)  # type: ignore[arg-type]
        if any(linear_stride(out_shape, st, dims) is None for dims in view):
            return False
    return all(n.outputs[0].type.dtype.value == "float32" for n in group.nodes)


def _units(graph: Graph) -> list[Unit]:
    users = graph.users()
    outputs = {id(v) for v in graph.outputs}
    index = {id(n): i for i, n in enumerate(graph.nodes)}
    ok = {id(n): supports(n) for n in graph.nodes}

    def private(v: Value) -> bool:
        """Used by exactly one node and not a graph output: it may live in registers."""
        return id(v) not in outputs and len(users.get(id(v), [])) == 1

    group_of: dict[int, Group] = {}  # id(node) -> its elementwise group
    for node in graph.nodes:
        if ok[id(node)] is not None or not isinstance(TABLE[node.op], Elementwise):
            continue
        group = Group([node], node.outputs[0])
        for v in dict.fromkeys(v for v in node.inputs if v is not None):
            prev = group_of.get(id(v.producer)) if v.producer is not None else None
            if prev is not None and prev.output is v and private(v) and v.type.shape == node.outputs[0].type.shape:
                group.nodes = prev.nodes + group.nodes
        group.nodes.sort(key=lambda n: index[id(n)])
        for n in group.nodes:
            group_of[id(n)] = group

    # a group whose output is read several times, all of them inside one other group, joins that group
    changed = True
    while changed:
        changed = False
        for group in dict.fromkeys(group_of.values()):
            inside = {id(n) for n in group.nodes}
            for v in group.operands():
                prev = group_of.get(id(v.producer)) if v.producer is not None else None
                if (prev is None or prev is group or prev.output is not v or id(v) in outputs
                        or v.type.shape != group.output.type.shape
                        or not all(id(u) in inside for u in users.get(id(v), []))):
                    continue
                group.nodes = sorted(prev.nodes + group.nodes, key=lambda n: index[id(n)])
                for n in group.nodes:
                    group_of[id(n)] = group
                changed = True
                break

    epilogue_of: dict[int, Group] = {}  # id(anchor) -> its epilogue
    for group in dict.fromkeys(group_of.values()):
        for v in group.operands():
            p = v.producer
            if p is None or ok[id(p)] is not None or id(p) in epilogue_of or v is not p.outputs[0]:
                continue
            entry = TABLE[p.op]
            inside = {id(n) for n in group.nodes}
            only_here = id(v) not in outputs and all(id(u) in inside for u in users.get(id(v), []))
            if not (isinstance(entry, Kernel) and entry.epilogue is not None and only_here):
                continue
            if v.type.shape != group.output.type.shape or v.type.dtype != group.output.type.dtype:
                continue
            group.acc = v
            if _epilogue_ok(p, group, v):
                epilogue_of[id(p)] = group
                break
            group.acc = None

    placed: dict[int, Unit] = {}  # unit by the index of the node it runs at
    in_epilogue = {id(n) for g in epilogue_of.values() for n in g.nodes}
    for node in graph.nodes:
        reason = ok[id(node)]
        if id(node) in in_epilogue:
            continue
        if reason is not None:
            placed[index[id(node)]] = Unit("reference", [node], anchor=node, reason=reason)
            continue
        entry = TABLE[node.op]
        if isinstance(entry, Elementwise):
            group = group_of[id(node)]
            if node is group.nodes[-1]:
                placed[index[id(node)]] = Unit("elementwise", group.nodes, group=group)
        elif isinstance(entry, View):
            placed[index[id(node)]] = Unit("view", [node], anchor=node)
        elif id(node) in epilogue_of:
            group = epilogue_of[id(node)]
            placed[index[id(group.nodes[-1])]] = Unit("kernel", [node, *group.nodes], anchor=node, group=group)
        else:
            placed[index[id(node)]] = Unit("kernel", [node], anchor=node)
    return [placed[i] for i in sorted(placed)]
