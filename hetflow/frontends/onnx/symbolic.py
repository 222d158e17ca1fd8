"""What the importer knows about the contents of small integer tensors computed from shapes.

Exported models compute Reshape / Expand targets at run time: ``Shape -> Gather / Slice -> Add / Mul / Div
-> Unsqueeze -> Concat -> Reshape``. When the input shape holds symbolic dims, none of those values is a
constant, but each one's contents are known as symbolic dims (``N``, ``N*8``, ``(H+1)//2``). The importer
records them here after every node (one rule per ONNX op, below), and the Reshape / Expand mappings read a
target from them where a constant is not available.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hetflow.ir import Value
from hetflow.ir.types import MAX_RANK, Dim, dim_add, dim_floordiv, dim_mul, dim_sub


@dataclass(frozen=True)
class Known:
    """The contents of a 0-D (``scalar``) or 1-D integer tensor, each entry a size or a symbolic dim."""

    dims: tuple[Dim, ...]
    scalar: bool = False


_KNOWN: weakref.WeakKeyDictionary[Value, Known] = weakref.WeakKeyDictionary()


def known(v: Value | None) -> Known | None:
    """The known contents of ``v``: from its constant, or recorded by a rule; None when not known."""
    if v is None:
        return None
    if v.const is not None:
        array = np.asarray(v.const)
        if array.ndim > 1 or array.size > MAX_RANK or array.dtype.kind not in "iuf":
            return None
        if array.dtype.kind == "f" and not (np.isfinite(array).all() and (array == np.round(array)).all()):
            return None  # a float holds a size only when it is a whole number (a Range bound, a cast dim)
        return Known(tuple(int(x) for x in array.reshape(-1)), array.ndim == 0)
    return _KNOWN.get(v)


def remember(v: Value, contents: Known) -> None:
    _KNOWN[v] = contents


def name_dims(out: Value, dims: Sequence[Dim]) -> Value:
    """Name ``out``'s fresh symbols by the expressions a shape computation gave (``N*8``, not ``node_d1``).

    A 0 or -1 entry names nothing: in a Reshape target they mean "copy" and "infer", not sizes."""
    shape = out.type.shape
    if shape is not None and len(shape) == len(dims):
        named = tuple(d if isinstance(s, str) and (isinstance(d, str) or d > 0) else s for s, d in zip(shape, dims))
        out.type = out.type.with_shape(named)
    return out


ANONYMOUS_DIMS = frozenset({"", "?"})
"""``dim_param`` texts exporters write for "any size" (paddle2onnx writes ``?`` for every one): each such dim is a
symbol of its own, not one symbol shared by every dim that says ``?``."""


def input_dim(value_name: str, axis: int, dim_value: int | None, dim_param: str) -> Dim:
    """The dim a graph input declares: a size, its named symbol, or a fresh symbol for -1, 0 or no dim at all.

    Exporters write -1 or 0 for "any size" (a real input has no empty dim), and ``?`` or nothing for the same."""
    if dim_value is not None and dim_value > 0:
        return dim_value
    if dim_param.strip() in ANONYMOUS_DIMS:
        return f"{value_name}_{axis}"
    return dim_param


Rule = Callable[[Value | None, list[Known | None], dict[str, Any]], Known | None]
"""(the node's first input value, the known contents of its inputs, its attributes) -> its output's contents."""


def _shape(x: Value | None, ins: list[Known | None], attrs: dict[str, Any]) -> Known | None:
    if x is None or x.type.shape is None:
        return None
    return Known(tuple(x.type.shape[attrs.get("start", 0): attrs.get("end")]))


def _gather(x: Value | None, ins: list[Known | None], attrs: dict[str, Any]) -> Known | None:
    data, index = (ins + [None, None])[:2]
    if data is None or index is None or data.scalar or attrs.get("axis", 0) not in (0, -1):
        return None
    n = len(data.dims)
    if any(not -n <= int(i) < n for i in index.dims):  # type: ignore[arg-type]
        return None
    return Known(tuple(data.dims[int(i)] for i in index.dims), index.scalar)  # type: ignore[arg-type]


def _slice(x: Value | None, ins: list[Known | None], attrs: dict[str, Any]) -> Known | None:
    data, starts, ends = (ins + [None] * 5)[:3]
    axes, steps = (ins + [None] * 5)[3:5]
    if data is None or starts is None or ends is None or data.scalar or len(starts.dims) != 1:
        return None
    if (axes is not None and axes.dims not in ((0,), (-1,))) or (steps is not None and len(steps.dims) != 1):
        return None
    step = 1 if steps is None else steps.dims[0]
    if not all(isinstance(d, int) for d in (starts.dims[0], ends.dims[0], step)) or step == 0:
        return None
    return Known(data.dims[slice(starts.dims[0], ends.dims[0], step)])  # type: ignore[misc]


def _concat(x: Value | None, ins: list[Known | None], attrs: dict[str, Any]) -> Known | None:
    if not ins or any(k is None or k.scalar for k in ins):
        return None
    return Known(tuple(d for k in ins for d in k.dims))  # type: ignore[union-attr]


def _unsqueeze(x: Value | None, ins: list[Known | None], attrs: dict[str, Any]) -> Known | None:
    axes = attrs.get("axes", ins[1].dims if len(ins) > 1 and ins[1] is not None else None)
    return Known(ins[0].dims) if ins and ins[0] is not None and ins[0].scalar and list(axes or ()) in ([0], [-1]) else None


def _squeeze(x: Value | None, ins: list[Known | None], attrs: dict[str, Any]) -> Known | None:
    return Known(ins[0].dims, True) if ins and ins[0] is not None and len(ins[0].dims) == 1 else None


def _same(x: Value | None, ins: list[Known | None], attrs: dict[str, Any]) -> Known | None:
    return ins[0] if ins else None


def _elementwise(op: Callable[[Dim, Dim], Dim | None]) -> Rule:
    def rule(x: Value | None, ins: list[Known | None], attrs: dict[str, Any]) -> Known | None:
        if len(ins) != 2 or ins[0] is None or ins[1] is None:
            return None
        a, b = ins
        n = max(len(a.dims), len(b.dims))
        if {len(a.dims), len(b.dims)} - {1, n}:
            return None
        results = [op(a.dims[i % len(a.dims)], b.dims[i % len(b.dims)]) for i in range(n)]
        if any(r is None for r in results):
            return None
        return Known(tuple(results), a.scalar and b.scalar)  # type: ignore[arg-type]

    return rule


def _onnx_div(a: Dim, b: Dim) -> Dim | None:
    """ONNX integer Div truncates toward zero; symbolic sizes are non-negative, where that is floor division."""
    if isinstance(a, int) and isinstance(b, int):
        return None if b == 0 else int(a / b) if abs(a) < 2**52 and abs(b) < 2**52 else None
    return dim_floordiv(a, b)


RULES: dict[str, Rule] = {
    "Shape": _shape, "Gather": _gather, "Slice": _slice, "Concat": _concat,
    "Unsqueeze": _unsqueeze, "Squeeze": _squeeze, "Cast": _same, "Identity": _same,
    "Add": _elementwise(dim_add), "Sub": _elementwise(dim_sub), "Mul": _elementwise(dim_mul),
    "Div": _elementwise(_onnx_div),
}
"""ONNX op -> how the contents of its output follow from its inputs'."""


FLOAT_RULES = frozenset({"Cast", "Identity"})
"""Ops whose float output still holds sizes exactly: exporters cast a dim to float before a ``Range`` or a scale."""


def range_length(start: Known | None, limit: Known | None, delta: Known | None) -> Dim | None:
    """The length of ``Range(start, limit, delta)``, ceil((limit - start) / delta), for a positive integer delta."""
    if start is None or limit is None or delta is None or not all(len(k.dims) == 1 for k in (start, limit, delta)):
        return None
    step = delta.dims[0]
    if not isinstance(step, int) or step <= 0:
        return None
    span = dim_sub(limit.dims[0], start.dims[0])
    if isinstance(span, int):
        return max(-(-span // step), 0)
    return span if step == 1 else dim_floordiv(dim_add(span, step - 1), step)


def propagate(op_type: str, inputs: Sequence[Value | None], output: Value | None, attrs: dict[str, Any]) -> None:
    """Record ``output``'s contents when the op has a rule and the rule can tell; never raises on odd inputs."""
    rule = RULES.get(op_type)
    if rule is None or output is None or output.const is not None:
        return
    if output.type.dtype.numpy.kind not in "iu" and (op_type not in FLOAT_RULES or output.type.dtype.numpy.kind != "f"):
        return
    ins = [known(v) for v in inputs]
    result = rule(inputs[0] if inputs else None, ins, attrs)
    if result is not None and len(result.dims) <= MAX_RANK:  # all-int too: a static dim read through Shape
        remember(output, result)
