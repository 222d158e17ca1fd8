"""Fusion grouping: chains of elementwise nodes, and the epilogue a matmul / conv takes with them.

One algorithm for every backend. The backend says, through ``FusionRules``, which nodes it can
compute element by element, which nodes can take an epilogue, and whether it accepts a given
epilogue (cpu_c checks that every operand is linear in its GEMM tile view). The result, a
``Grouping``, is what the backend takes whole (cpu_c: one kernel call with the epilogue in
registers, one loop per elementwise group) or splits (fpga_hls: the per-channel affine prefix of an
epilogue goes into the dense / conv bias; the rest stay layers of their own).

Groups are formed like this: an elementwise node joins the group of an input when that input is
the group's only export, is used by this node alone, and has the node's shape; a group whose export
is read several times, all inside one other group, joins that group; finally a group whose operand
is the first output of an anchor, read by nothing outside the group and of the group's shape and
type, becomes that anchor's epilogue if the rules accept it (a residual add with another activation
is simply one more operand of the group).

The named pass ``group_epilogues`` runs the grouping with the IR's own rules (every elementwise op,
conv / matmul anchors) and reports it after the IR in ``HETFLOW_DUMP=after:group_epilogues``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from hetflow.ir import DType, Graph, Node, Value, get_op
from hetflow.passes.manager import graph_pass

ANCHOR_OPS = frozenset({"conv", "matmul"})
"""Ops whose result an epilogue may finish: their output is computed in tiles a fused chain can read."""

_log = logging.getLogger("hetflow.passes.fusion")


@dataclass(eq=False)
class Group:
    """Elementwise nodes computed together, element by element; ``output`` is the only value they export.

    As an epilogue, ``acc`` is the anchor's raw output, which the group receives directly (in registers).
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


@dataclass(frozen=True)
class FusionRules:
    """What a backend can fuse: elementwise members, epilogue anchors, and its final say on an epilogue."""

    elementwise: Callable[[Node], bool]
    anchor: Callable[[Node], bool]
    accept: Callable[[Node, Group], bool] = lambda anchor, group: True


@dataclass
class Grouping:
    """Elementwise groups (in the order of their first node) and the epilogue each anchor takes."""

    groups: list[Group] = field(default_factory=list)
    group_of: dict[int, Group] = field(default_factory=dict)
    """id(node) -> its group, for every elementwise member."""
    epilogue_of: dict[int, Group] = field(default_factory=dict)
    """id(anchor) -> the group it finishes."""

    def epilogue(self, anchor: Node) -> Group | None:
        return self.epilogue_of.get(id(anchor))

    def in_epilogue(self) -> set[int]:
        """id() of every node some anchor computes in its epilogue."""
        return {id(n) for g in self.epilogue_of.values() for n in g.nodes}


class _Uses:
    """Who reads each value, and which values leave the graph."""

    def __init__(self, graph: Graph) -> None:
        self.users = graph.users()
        self.outputs = {id(v) for v in graph.outputs}
        self.index = {id(n): i for i, n in enumerate(graph.nodes)}

    def private(self, v: Value) -> bool:
        """Used by exactly one node and not a graph output: it may live in registers."""
        return id(v) not in self.outputs and len(self.users.get(id(v), [])) == 1

    def only_inside(self, v: Value, group: Group) -> bool:
        inside = {id(n) for n in group.nodes}
        return id(v) not in self.outputs and all(id(u) in inside for u in self.users.get(id(v), []))

    def order(self, nodes: list[Node]) -> list[Node]:
        return sorted(nodes, key=lambda n: self.index[id(n)])


def _chains(graph: Graph, rules: FusionRules, uses: _Uses) -> dict[int, Group]:
    """Each elementwise node joins the group of an input that only it reads and that has its shape."""
    group_of: dict[int, Group] = {}
    for node in graph.nodes:
        if not rules.elementwise(node):
            continue
        group = Group([node], node.outputs[0])
        for v in dict.fromkeys(v for v in node.inputs if v is not None):
            prev = group_of.get(id(v.producer)) if v.producer is not None else None
            if prev is not None and prev.output is v and uses.private(v) and v.type.shape == node.outputs[0].type.shape:
                group.nodes = prev.nodes + group.nodes
        group.nodes = uses.order(group.nodes)
        for n in group.nodes:
            group_of[id(n)] = group
    return group_of


def _merge_shared(group_of: dict[int, Group], uses: _Uses) -> None:
    """A group whose export is read several times, all inside one other group, joins that group."""
    changed = True
    while changed:
        changed = False
        for group in dict.fromkeys(group_of.values()):
            for v in group.operands():
                prev = group_of.get(id(v.producer)) if v.producer is not None else None
                if (prev is None or prev is group or prev.output is not v or v.type.shape != group.output.type.shape
                        or not uses.only_inside(v, group)):
                    continue
                group.nodes = uses.order(prev.nodes + group.nodes)
                for n in group.nodes:
                    group_of[id(n)] = group
                changed = True
                break


def _attach_epilogues(groups: list[Group], rules: FusionRules, uses: _Uses) -> dict[int, Group]:
    """Give each group to the anchor that produces one of its operands, when that value is the group's alone."""
    epilogue_of: dict[int, Group] = {}
    for group in groups:
        for v in group.operands():
            p = v.producer
            if p is None or id(p) in epilogue_of or v is not p.outputs[0] or not rules.anchor(p):
                continue
            if not uses.only_inside(v, group):
                continue
            if v.type.shape != group.output.type.shape or v.type.dtype != group.output.type.dtype:
                continue
            group.acc = v
            if rules.accept(p, group):
                epilogue_of[id(p)] = group
                break
            group.acc = None
    return epilogue_of


def group_fusion(graph: Graph, rules: FusionRules) -> Grouping:
    """Group ``graph``'s elementwise nodes and attach epilogues to anchors, as ``rules`` allow (reads only)."""
    uses = _Uses(graph)
    group_of = _chains(graph, rules, uses)
    _merge_shared(group_of, uses)
    groups = list(dict.fromkeys(group_of.values()))
    return Grouping(groups, group_of, _attach_epilogues(groups, rules, uses))


# ------------------------------------------------------------------ the IR's own rules, and the pass
def _ir_elementwise(node: Node) -> bool:
    return get_op(node.op).elementwise and len(node.outputs) == 1 and node.outputs[0].type.dtype is DType.float32


def _ir_anchor(node: Node) -> bool:
    return node.op in ANCHOR_OPS


IR_RULES = FusionRules(_ir_elementwise, _ir_anchor)
"""Any float32 elementwise op fuses; conv and matmul take epilogues. Backends narrow these to what they compute."""


def describe(graph: Graph, grouping: Grouping) -> str:
    """One line per fused group: ``anchor + a, b, c -> output`` or ``a, b -> output``."""
    lines = []
    anchors = {id(g): n for n in graph.nodes if (g := grouping.epilogue(n)) is not None}
    for group in grouping.groups:
        members = ", ".join(n.name for n in group.nodes)
        anchor = anchors.get(id(group))
        head = f"{anchor.name} ({anchor.op}) + " if anchor is not None else ""
        lines.append(f"//   {head}{members} -> %{group.output.name}")
    return "\n".join(lines)


@graph_pass("group_epilogues", report=lambda graph: "// fusion groups:\n" + describe(graph, group_fusion(graph, IR_RULES)))
def group_epilogues(graph: Graph) -> Graph:
    """Find the fusion groups the IR allows (an analysis: the graph is unchanged; backends group with their rules)."""
    grouping = group_fusion(graph, IR_RULES)
    _log.info("group_epilogues: %d groups, %d epilogues", len(grouping.groups), len(grouping.epilogue_of))
    return graph
