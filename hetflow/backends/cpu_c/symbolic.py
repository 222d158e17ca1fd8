"""Symbolic leading dims in cpu_c: one compiled library for every batch size.

A value's shape may carry a symbol in its *leading* dim only, as ``N`` or ``N*c`` (a batch of ``N`` samples of
``c`` rows each); every other dim is a number. cpu_c then generates code for one sample (the graph specialized
at every symbol = 1) and wraps each unit that touches a batched value in a loop ``for b < N``, with the
sample's block at ``b * (bytes of one sample)``: the symbol is a run-time parameter of the generated function,
bound from the feeds' shapes at call time. Arena offsets are planned for one sample and scaled at run time by
``max(N, 1)`` (the product over symbols), so every batch size fits the same plan.

This is only right for a node that treats its samples independently (a convolution, an activation, a
softmax over a later axis); ``node_reason`` says why a node is not, e.g. one that reduces over the batch or
has a symbolic spatial dim, and such a node stays on the reference backend with that reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from hetflow.ir import Graph, Node, TensorType, Value, get_op
from hetflow.ir.ops.control import CONTROL_OPS
from hetflow.ir.types import Dim

_LEAD = re.compile(r"^\s*(?:([A-Za-z_]\w*)\s*\*\s*(\d+)|(\d+)\s*\*\s*([A-Za-z_]\w*)|([A-Za-z_]\w*))\s*$")


@dataclass(frozen=True)
class Lead:
    """A leading dim ``per * symbol``."""

    symbol: str
    per: int


class NotLeading(ValueError):
    """A symbolic dim cpu_c cannot keep symbolic (not the leading dim, or not ``sym`` / ``sym*c``)."""


def parse_lead(d: Dim) -> Lead | None:
    """``N`` -> Lead(N, 1); ``N*8`` or ``8*N`` -> Lead(N, 8); a number -> None; anything else raises NotLeading."""
    if isinstance(d, int):
        return None
    m = _LEAD.match(d)
    if m is None:
        raise NotLeading(f"symbolic dim '{d}' is not of the form N or N*c")
    if m.group(5):
        return Lead(m.group(5), 1)
    if m.group(1):
        return Lead(m.group(1), int(m.group(2)))
    return Lead(m.group(4), int(m.group(3)))


def lead_of(t: TensorType) -> Lead | None:
    """How ``t``'s leading dim depends on a symbol (None: static); raises NotLeading for any other symbolic dim."""
    if t.shape is None:
        raise NotLeading("the rank is unknown")
    for i, d in enumerate(t.shape[1:], start=1):
        if not isinstance(d, int):
            raise NotLeading(f"symbolic dim '{d}' at axis {i}: cpu_c keeps only the leading dim symbolic")
    lead = parse_lead(t.shape[0]) if t.shape else None
    if lead is not None and lead.per < 1:
        raise NotLeading(f"leading dim '{t.shape[0]}' has a zero multiplier")
    return lead


def at_one(t: TensorType) -> TensorType:
    """``t`` for one sample: the leading symbol taken as 1."""
    lead = lead_of(t)
    if lead is None:
        return t
    return t.with_shape((lead.per, *t.shape[1:]))  # type: ignore[index]


def full_shape(t: TensorType, binding: dict[str, int]) -> tuple[int, ...]:
    """``t``'s shape with its symbol bound."""
    lead = lead_of(t)
    shape = tuple(t.shape or ())
    if lead is None:
        return shape  # type: ignore[return-value]
    return (lead.per * binding[lead.symbol], *shape[1:])  # type: ignore[return-value]


# ------------------------------------------------------------------ which nodes treat samples independently
def _rank(v: Value | None) -> int:
    return len(v.type.shape or ()) if v is not None else 0


def _norm(axis: int, rank: int) -> int:
    return axis % rank if rank else 0


def _elementwise_rule(node: Node, leads: list[Lead | None]) -> str | None:
    """Every batched operand lines its leading dim up with the output's; the others broadcast over it."""
    out_rank, out_lead = _rank(node.outputs[0]), leads[len(node.inputs)]
    for v, lead in zip(node.inputs, leads):
        if v is None:
            continue
        if lead is not None and (_rank(v) != out_rank or lead != out_lead):
            return f"operand '{v.name}' broadcasts its symbolic dim to another axis"
        if lead is None and _rank(v) == out_rank and out_rank and v.type.shape[0] != 1:  # type: ignore[index]
            return f"operand '{v.name}' has a fixed leading dim where the output's is symbolic"
    return None


def _axis_rule(attr: str) -> Callable[[Node, list[Lead | None]], str | None]:
    def rule(node: Node, leads: list[Lead | None]) -> str | None:
        axis = node.attrs[attr]
        if _norm(int(axis), _rank(node.inputs[0])) == 0:
            return f"{node.op} along axis 0, the symbolic dim"
        return None
    return rule


def _first_only(node: Node, leads: list[Lead | None]) -> str | None:
    """Only the data input (input 0) may be batched: weights, scales and statistics are per model."""
    for v, lead in zip(node.inputs[1:], leads[1:]):
        if lead is not None:
            return f"input '{v.name}' of {node.op} is batched"  # type: ignore[union-attr]
    return None


def _matmul_rule(node: Node, leads: list[Lead | None]) -> str | None:
    a, b = node.inputs[0], node.inputs[1]
    if leads[0] is not None and _rank(a) < 2:
        return "matmul contracts over the symbolic dim"
    if leads[1] is not None and _rank(b) < 3:
        return "matmul's right operand has its symbolic dim in a matrix dim"
    batch_dims = _rank(a) == _rank(b) and _rank(a) >= 3  # then dim 0 is a batch dim of both: they line up
    return _elementwise_rule(node, leads) if batch_dims else None


def _reduce_rule(node: Node, leads: list[Lead | None]) -> str | None:
    axes = node.attrs["axes"]
    rank = _rank(node.inputs[0])
    if axes is None or any(_norm(int(a), rank) == 0 for a in axes):
        return f"{node.op} over the symbolic dim"
    return None


def _transpose_rule(node: Node, leads: list[Lead | None]) -> str | None:
    return None if node.attrs["perm"][0] == 0 else "transpose moves the symbolic dim"


def _slice_rule(node: Node, leads: list[Lead | None]) -> str | None:
    rank = _rank(node.inputs[0])
    return "slice cuts the symbolic dim" if any(_norm(int(a), rank) == 0 for a in node.attrs["axes"]) else None


def _pad_rule(node: Node, leads: list[Lead | None]) -> str | None:
    pads, rank = node.attrs["pads"], _rank(node.inputs[0])
    return "pad pads the symbolic dim" if pads[0] or pads[rank] else None


def _gather_rule(node: Node, leads: list[Lead | None]) -> str | None:
    axis = _norm(int(node.attrs["axis"]), _rank(node.inputs[0]))
    if leads[0] is not None:
        return "gather along the symbolic dim" if axis == 0 or leads[1] is not None else None
    if leads[1] is not None and (axis != 0 or _rank(node.inputs[1]) == 0):
        return "gather with batched indices on a later axis"
    return None


def _resize_rule(node: Node, leads: list[Lead | None]) -> str | None:
    sizes, scales = node.attrs["sizes"], node.attrs["scales"]
    if (sizes and sizes[0] not in (-1, leads[0].per if leads[0] else -1)) or (scales and scales[0] != 1):
        return "resize scales the symbolic dim"
    return None


def _per_sample(node: Node, leads: list[Lead | None]) -> str | None:
    return None


RULES: dict[str, Callable[[Node, list[Lead | None]], str | None]] = {
    "matmul": _matmul_rule,
    "softmax": _axis_rule("axis"), "log_softmax": _axis_rule("axis"), "layer_norm": _axis_rule("axis"),
    "concat": _axis_rule("axis"), "split": _axis_rule("axis"),
    "reduce_sum": _reduce_rule, "reduce_mean": _reduce_rule, "reduce_max": _reduce_rule,
    "reduce_min": _reduce_rule, "reduce_prod": _reduce_rule,
    "transpose": _transpose_rule, "slice": _slice_rule, "pad": _pad_rule, "gather": _gather_rule,
    "resize": _resize_rule, "expand": _elementwise_rule,
    "reshape": _per_sample, "identity": _per_sample,
}
"""Op -> why it does not treat samples independently (None: it does). Ops in PER_SAMPLE_NN batch on input 0."""

PER_SAMPLE_NN = frozenset({"conv", "conv_transpose", "max_pool", "avg_pool", "lrn", "batch_norm", "instance_norm",
                           "group_norm"})


def node_reason(node: Node) -> str | None:
    """Why cpu_c cannot run ``node`` one sample at a time (None: it can, or nothing about it is symbolic)."""
    if node.op in CONTROL_OPS:  # runs on the host on whole arrays; its bodies compile for the shapes they meet
        return None
    values = [*node.inputs, *node.outputs]
    if all(v is None or v.type.is_static for v in values):
        return None
    leads: list[Lead | None] = []
    for v in values:
        try:
            leads.append(None if v is None else lead_of(v.type))
        except NotLeading as exc:
            return f"value '{v.name}' ({v.type}): {exc}"  # type: ignore[union-attr]
    symbols = {lead.symbol for lead in leads if lead is not None}
    if len(symbols) > 1:
        return f"mixes the symbolic dims {', '.join(sorted(symbols))}"
    outs = leads[len(node.inputs):]
    if any(lead is None for lead in outs):
        return "an output does not keep the symbolic leading dim (the node reduces over it)"
    rule = RULES.get(node.op)
    if rule is not None:
        return rule(node, leads)
    if node.op in PER_SAMPLE_NN:
        return _first_only(node, leads)
    if get_op(node.op).elementwise:
        return _elementwise_rule(node, leads)
    return f"cpu_c does not know how {node.op} treats the symbolic dim"


def node_at_one(node: Node) -> Node:
    """A detached copy of ``node`` with every value at one sample (for the table's shape checks)."""
    def value(v: Value | None) -> Value | None:
        return None if v is None else Value(v.name, at_one(v.type), None, v.const)
    copy = Node(node.op, [value(v) for v in node.inputs], [], dict(node.attrs), node.name, node.region)
    copy.outputs = [value(v) for v in node.outputs]  # type: ignore[misc]
    for out in copy.outputs:
        out.producer = copy
    return copy


# ------------------------------------------------------------------ the whole graph
@dataclass(frozen=True)
class Binding:
    """How the symbols are bound from the inputs: input index -> its lead (None: a static input)."""

    symbols: tuple[str, ...]
    inputs: tuple[Lead | None, ...]
    leads: dict[str, Lead]
    """Value name -> lead, for every batched value of the graph."""
    names: frozenset[str]
    """Every value name of the graph (values a backend's rewrite adds are not among them)."""

    def bind(self, shapes: list[tuple[int, ...]]) -> dict[str, int] | str:
        """Symbol values from the feeds' shapes, or why they do not fit."""
        binding: dict[str, int] = {}
        for i, (lead, shape) in enumerate(zip(self.inputs, shapes)):
            if lead is None or not shape:
                continue
            n, rest = divmod(shape[0], lead.per)
            if rest:
                return f"input {i}: leading dim {shape[0]} is not a multiple of {lead.per} ({lead.per}*{lead.symbol})"
            if binding.setdefault(lead.symbol, n) != n:
                return f"input {i}: {lead.symbol} = {n}, but an earlier input gives {lead.symbol} = {binding[lead.symbol]}"
        return binding

    def scale(self, binding: dict[str, int]) -> int:
        """What the one-sample arena plan is multiplied by: every value fits in its offset * scale."""
        return math.prod(max(binding[s], 1) for s in self.symbols)


def graph_binding(graph: Graph) -> Binding | str:
    """The binding of a graph cpu_c can compile once for every batch size, or why it cannot."""
    leads: dict[str, Lead] = {}
    inputs: list[Lead | None] = []
    for v in graph.inputs:
        try:
            lead = lead_of(v.type)
        except NotLeading as exc:
            return f"input '{v.name}' ({v.type}): {exc}"
        inputs.append(lead)
    symbols = tuple(dict.fromkeys(lead.symbol for lead in inputs if lead is not None))
    values = [v for n in graph.nodes for v in (*n.inputs, *n.outputs) if v is not None] + list(graph.outputs)
    for v in values:
        try:
            lead = lead_of(v.type)
        except NotLeading as exc:
            return f"value '{v.name}' ({v.type}): {exc}"
        if lead is None:
            continue
        if lead.symbol not in symbols:
            return f"value '{v.name}' ({v.type}): symbol {lead.symbol} is not an input's leading dim"
        leads[v.name] = lead
    return Binding(symbols, tuple(inputs), leads, frozenset(v.name for v in values) | {v.name for v in graph.inputs})


def shapes_at_one(graph: Graph) -> list[tuple[int, ...]]:
    """The input shapes of one sample."""
    return [tuple(at_one(v.type).shape or ()) for v in graph.inputs]  # type: ignore[misc]
