"""Fusion for cpu_c: the shared affine folding and fusion grouping (hetflow.passes), under cpu_c's rules.

The result is a list of ``Unit``s in execution order: each is one piece of generated code (a
kernel call with its fused epilogue, one loop over a chain of elementwise ops, a view), or a node
left to the reference backend. Every IR node of the input graph is accounted for in ``Fusion.fate``
so that the executable can say where each one ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from hetflow.backends.cpu_c.table import TABLE, Elementwise, Kernel, Lower, View, supports
from hetflow.ir import Graph, Node, Value
from hetflow.ir.ops.control import CONTROL_OPS
from hetflow.passes.affine import batch_norm_affine, fold_affine_into
from hetflow.passes.fusion import FusionRules, Group, describe, group_fusion
from hetflow.passes.manager import dump_if_asked

UnitKind = Literal["kernel", "elementwise", "view", "host", "reference"]
"""``host``: a control-flow node whose iteration runs in the host code, its bodies compiled (``bodies.py``)."""


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


def fuse(graph: Graph, refused: Mapping[str, str] | None = None) -> Fusion:
    """Rewrite ``graph`` (a private copy) for cpu_c and cut it into units. ``refused`` (node name -> reason)
    keeps nodes on the reference backend that the table would take in this graph but not in the one it came
    from (a symbolic graph generated for one sample)."""
    result = Fusion(graph, [])
    refused = refused or {}
    result.fate.update(fold_affine_into(graph))
    dump_if_asked("fold_affine", graph)
    _lower(graph, result)
    result.units = _units(graph, refused)
    return result


# ------------------------------------------------------------------ lowering
def _lower(graph: Graph, result: Fusion) -> None:
    """A batch norm left after folding (constant statistics) -> mul and add by per-channel constants."""
    kept: list[Node] = []
    for node in graph.nodes:
        entry = TABLE.get(node.op)
        affine = batch_norm_affine(node) if isinstance(entry, Lower) and supports(node) is None else None
        x = node.inputs[0] if node.inputs else None  # a node may take no input (a body's "unreachable")
        if affine is None or x is None:
            kept.append(node)
            continue
        shape = (-1,) + (1,) * (len(x.type.shape or ()) - 2)
        a, c = (v.astype(np.float32).reshape(shape) for v in affine)
        mul = graph.add_node("mul", [x, graph.constant(a, f"{node.name}_a")], name=f"{node.name}/scale")
        add = graph.add_node("add", [mul.outputs[0], graph.constant(c, f"{node.name}_c")], name=f"{node.name}/shift")
        del graph.nodes[-2:]
        kept += [mul, add]
        result.origin[mul.name] = result.origin[add.name] = node.name
        graph.replace_uses(node.outputs[0], add.outputs[0])
    graph.nodes = kept


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


def _epilogue_ok(anchor: Node, group: Group) -> bool:
    """Every operand of the epilogue walks each dim group of the kernel's tile view with one stride; all float32."""
    entry = TABLE[anchor.op]
    assert isinstance(entry, Kernel) and entry.epilogue is not None and group.acc is not None
    view = entry.epilogue(anchor)
    if view is None:
        return False
    out_shape = tuple(group.acc.type.shape or ())  # type: ignore[arg-type]
    for v in group.operands():
        if v.type.shape is None or len(v.type.shape) > len(out_shape):
            return False
        st = broadcast_strides(tuple(v.type.shape), out_shape)  # type: ignore[arg-type]
        if any(linear_stride(out_shape, st, dims) is None for dims in view):
            return False
    return all(n.outputs[0].type.dtype.value == "float32" for n in group.nodes)


def _rules(refused: Mapping[str, str]) -> FusionRules:
    """cpu_c fuses what it generates element by element, into kernels whose tiles an epilogue can walk linearly."""
    def reason(node: Node) -> str | None:
        return refused.get(node.name) or supports(node)

    def elementwise(node: Node) -> bool:
        return reason(node) is None and isinstance(TABLE.get(node.op), Elementwise)

    def anchor(node: Node) -> bool:
        entry = TABLE.get(node.op)
        return reason(node) is None and isinstance(entry, Kernel) and entry.epilogue is not None

    return FusionRules(elementwise, anchor, _epilogue_ok)


RULES = _rules({})


def _units(graph: Graph, refused: Mapping[str, str]) -> list[Unit]:
    """The shared grouping, cut into units in execution order (a unit runs at its last node's place)."""
    index = {id(n): i for i, n in enumerate(graph.nodes)}
    grouping = group_fusion(graph, _rules(refused) if refused else RULES)
    dump_if_asked("group_epilogues", graph, "// cpu_c fusion groups:\n" + describe(graph, grouping))
    in_epilogue = grouping.in_epilogue()
    placed: dict[int, Unit] = {}  # unit by the index of the node it runs at
    for node in graph.nodes:
        reason = refused.get(node.name) or supports(node)
        if id(node) in in_epilogue:
            continue
        if reason is not None:
            placed[index[id(node)]] = Unit("reference", [node], anchor=node, reason=reason)
            continue
        if node.op in CONTROL_OPS:
            placed[index[id(node)]] = Unit("host", [node], anchor=node)
            continue
        entry = TABLE[node.op]
        epilogue = grouping.epilogue(node)
        if isinstance(entry, Elementwise):
            group = grouping.group_of[id(node)]
            if node is group.nodes[-1]:
                placed[index[id(node)]] = Unit("elementwise", group.nodes, group=group)
        elif isinstance(entry, View):
            placed[index[id(node)]] = Unit("view", [node], anchor=node)
        elif epilogue is not None:
            placed[index[id(epilogue.nodes[-1])]] = Unit("kernel", [node, *epilogue.nodes], anchor=node, group=epilogue)
        else:
            placed[index[id(node)]] = Unit("kernel", [node], anchor=node)
    return [placed[i] for i in sorted(placed)]
