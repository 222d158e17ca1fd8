"""The gpu_triton mapping table: IR op -> Triton kernel template. This table *is* the backend's capability.

Entries are of five kinds:

* ``Pointwise`` — a Triton expression over float32 operands ``{0}``, ``{1}``, … and attribute fields
  ``{name}``. Chains of these (with broadcasting) fuse into one kernel, or into the epilogue of the
  kernel that produced their first operand (matmul, conv, pooling).
* ``Movement`` — data movement (transpose, slice, pad, concat, expand): each input is read at the output's
  coordinates through an affine ``LoadMap``; it is a copy kernel, and fuses with pointwise consumers.
* ``View`` — no kernel: the output aliases the input's memory (reshape and friends on contiguous data).
* ``Template`` — one of the kernel templates in ``templates.py`` (matmul, conv, window, reduce, rownorm).

``supports(node)`` is the only capability question the partitioner asks: None, or why not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from hetflow.ir import DType, Node

FLOATS = frozenset({DType.float32, DType.float16, DType.bfloat16})
INTS = frozenset({DType.int32, DType.int64})
"""Integer tensors the pointwise kernels take, computed in their own type: it wraps on overflow exactly as NumPy's."""
INDICES = INTS
TL_TYPES = {DType.float32: "tl.float32", DType.float16: "tl.float16", DType.bfloat16: "tl.bfloat16",
            DType.int32: "tl.int32", DType.int64: "tl.int64"}
Check = Callable[[Node], "str | None"]


def lit(x: float) -> str:
    """A Python float literal Triton's front end accepts (inf and nan spelled out)."""
    x = float(x)
    if math.isnan(x):
        return "float('nan')"
    if math.isinf(x):
        return "float('inf')" if x > 0 else "float('-inf')"
    return repr(x)


@dataclass(frozen=True)
class Pointwise:
    """A scalar expression; ``params`` turns attributes into ``{name}`` fields (default: numeric attributes)."""

    expr: str
    params: Callable[[Node], dict[str, str]] | None = None
    check: Check | None = None

    def render(self, node: Node, operands: list[str]) -> str:
        fields = self.params(node) if self.params else {k: lit(v) for k, v in node.attrs.items()
                                                          if isinstance(v, (int, float)) and not isinstance(v, bool)}
        return "(" + self.expr.format(*operands, **fields) + ")"


@dataclass(frozen=True)
class LoadMap:
    """Where output coordinate vector c reads one input: ``offset + sum(coefs[i] * c[i])``, valid where every
    ``(axis, lo, hi)`` in ``bounds`` has lo <= c[axis] < hi (elsewhere the value is ``other``)."""

    coefs: tuple[int, ...]
    offset: int = 0
    bounds: tuple[tuple[int, int, int], ...] = ()
    other: float = 0.0


@dataclass(frozen=True)
class Movement:
    """Data movement: one load map per input; with several, the first whose bounds hold is taken (concat)."""

    maps: Callable[[Node], list[LoadMap]]
    check: Check | None = None


@dataclass(frozen=True)
class View:
    """The output is the input's memory under another shape."""


@dataclass(frozen=True)
class Template:
    """A kernel template by name (``templates.TEMPLATES``) with the checks its configuration needs."""

    name: str
    check: Check | None = None
    epilogue: bool = False
    """Whether pointwise consumers fuse into its output tiles."""


Entry = Pointwise | Movement | View | Template


def _clip_params(node: Node) -> dict[str, str]:
    lo, hi = node.attrs.get("min"), node.attrs.get("max")
    return {"lo": lit(-math.inf if lo is None else lo), "hi": lit(math.inf if hi is None else hi)}


def _sigmoid(x: str) -> str:
    return f"(1.0 / (1.0 + tl.exp(-({x}))))"


def _tanh(x: str) -> str:
    # tanh(x) = 2 sigmoid(2x) - 1, exact in float32 to rounding and the same on both Triton versions
    return f"(2.0 * {_sigmoid('2.0 * ' + x)} - 1.0)"


def _gelu_check(node: Node) -> str | None:
    return None if node.attrs.get("approximate") in ("none", "tanh") else "unknown gelu approximation"


def _gelu_params(node: Node) -> dict[str, str]:
    return {}


GELU_EXACT = "0.5 * {0} * (1.0 + tl.erf({0} * 0.7071067811865476))"
GELU_TANH = "0.5 * {0} * (1.0 + " + _tanh("0.7978845608028654 * ({0} + 0.044715 * {0} * {0} * {0})") + ")"

POINTWISE: dict[str, Pointwise] = {
    "add": Pointwise("{0} + {1}"),
    "sub": Pointwise("{0} - {1}"),
    "mul": Pointwise("{0} * {1}"),
    "div": Pointwise("{0} / {1}"),
    "pow": Pointwise("tl.exp({1} * tl.log({0}))", check=lambda n: "pow of a non-constant exponent"
                     if n.inputs[1] is None or n.inputs[1].const is None or n.inputs[1].const.size != 1 else None),
    "max": Pointwise("tl.maximum({0}, {1})"),
    "min": Pointwise("tl.minimum({0}, {1})"),
    "relu": Pointwise("tl.maximum({0}, 0.0)"),
    "leaky_relu": Pointwise("tl.where({0} >= 0.0, {0}, {0} * {alpha})"),
    "elu": Pointwise("tl.where({0} > 0.0, {0}, {alpha} * (tl.exp({0}) - 1.0))"),
    "selu": Pointwise("{gamma} * tl.where({0} > 0.0, {0}, {alpha} * (tl.exp({0}) - 1.0))"),
    "celu": Pointwise("tl.maximum({0}, 0.0) + tl.minimum(0.0, {alpha} * (tl.exp({0} / {alpha}) - 1.0))"),
    "clip": Pointwise("tl.minimum(tl.maximum({0}, {lo}), {hi})", params=_clip_params),
    "sigmoid": Pointwise(_sigmoid("{0}")),
    "hard_sigmoid": Pointwise("tl.minimum(tl.maximum({alpha} * {0} + {beta}, 0.0), 1.0)"),
    "tanh": Pointwise(_tanh("{0}")),
    "exp": Pointwise("tl.exp({0})"),
    "log": Pointwise("tl.log({0})"),
    "sqrt": Pointwise("tl.sqrt({0})"),
    "reciprocal": Pointwise("1.0 / {0}"),
    "neg": Pointwise("-{0}"),
    "abs": Pointwise("tl.abs({0})"),
    "erf": Pointwise("tl.erf({0})"),
    "gelu": Pointwise("{0}", params=_gelu_params, check=_gelu_check),  # expression chosen in render_pointwise
    "softplus": Pointwise("tl.log(1.0 + tl.exp({0}))"),
    "softsign": Pointwise("{0} / (1.0 + tl.abs({0}))"),
    "identity": Pointwise("{0}"),
    "cast": Pointwise("({0}).to(tl.float32)", params=lambda n: {}, check=lambda n: None
                      if DType.of(n.attrs["to"]) in FLOATS else f"cast to {n.attrs['to']}"),
    "prelu": Pointwise("tl.where({0} >= 0.0, {0}, {0} * {1})"),
    "where": Pointwise("tl.where({0} != 0.0, {1}, {2})"),
    "batch_norm": Pointwise("({0} - {3}) / tl.sqrt({4} + {epsilon}) * {1} + {2}"),
}


INT_POINTWISE: dict[str, Pointwise] = {
    # Integer arithmetic in the tensors' own type. div is left out: C truncation and the interpreter's floor differ.
    "add": Pointwise("{0} + {1}"),
    "sub": Pointwise("{0} - {1}"),
    "mul": Pointwise("{0} * {1}"),
    "max": Pointwise("tl.maximum({0}, {1})"),
    "min": Pointwise("tl.minimum({0}, {1})"),
    "neg": Pointwise("-{0}"),
    "abs": Pointwise("tl.where({0} < 0, -{0}, {0})"),
    "relu": Pointwise("tl.maximum({0}, 0)"),
    "identity": Pointwise("{0}"),
    "cast": Pointwise("({0}).to({ty})", params=lambda n: {"ty": TL_TYPES[DType.of(n.attrs["to"])]}),
}


def integer(node: Node) -> bool:
    """Whether ``node`` computes on integers (its output is an integer tensor)."""
    return node.outputs[0].type.dtype in INTS


def render_pointwise(node: Node, operands: list[str]) -> str:
    """The Triton expression of a pointwise node over float32 (integer nodes: their own type) operands."""
    if integer(node):
        return INT_POINTWISE[node.op].render(node, operands)
    if node.op == "gelu":
        return "(" + (GELU_TANH if node.attrs["approximate"] == "tanh" else GELU_EXACT).format(*operands) + ")"
    return POINTWISE[node.op].render(node, operands)


# ---------------------------------------------------------------- data movement maps


def strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major element strides."""
    out, step = [], 1
    for d in reversed(shape):
        out.append(step)
        step *= d
    return tuple(reversed(out))


def broadcast_map(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> LoadMap:
    """Read an input broadcast (right-aligned, size-1 dims repeated) to the output's shape."""
    st = strides(in_shape)
    lead = len(out_shape) - len(in_shape)
    coefs = [0] * lead + [0 if d == 1 and o != 1 else s for d, o, s in zip(in_shape, out_shape[lead:], st)]
    return LoadMap(tuple(coefs))


def _shape(v: object) -> tuple[int, ...]:
    return tuple(v.type.shape)  # type: ignore[attr-defined]


def _transpose(node: Node) -> list[LoadMap]:
    in_shape = _shape(node.inputs[0])
    perm = node.attrs.get("perm") or list(reversed(range(len(in_shape))))
    st = strides(in_shape)
    return [LoadMap(tuple(st[p] for p in perm))]


def _slice(node: Node) -> list[LoadMap]:
    in_shape, out_shape = _shape(node.inputs[0]), _shape(node.outputs[0])
    st = strides(in_shape)
    starts, axes, steps = node.attrs["starts"], node.attrs.get("axes"), node.attrs.get("steps")
    axes = list(axes) if axes is not None else list(range(len(starts)))
    steps = list(steps) if steps is not None else [1] * len(starts)
    coefs, offset = list(st), 0
    for a, s, k in zip(axes, starts, steps):
        a %= len(in_shape)
        dim = in_shape[a]
        s = s + dim if s < 0 else s
        s = min(max(s, 0), dim - 1 if k < 0 else dim)
        offset += s * st[a]
        coefs[a] = st[a] * k
    del out_shape
    return [LoadMap(tuple(coefs), offset)]


def _pad(node: Node) -> list[LoadMap]:
    in_shape = _shape(node.inputs[0])
    st = strides(in_shape)
    pads = node.attrs["pads"]
    rank = len(in_shape)
    begins = pads[:rank]
    offset = -sum(b * s for b, s in zip(begins, st))
    bounds = tuple((a, begins[a], begins[a] + in_shape[a]) for a in range(rank) if pads[a] or pads[a + rank])
    return [LoadMap(st, offset, bounds, float(node.attrs.get("value") or 0.0))]


def _concat(node: Node) -> list[LoadMap]:
    out_shape = _shape(node.outputs[0])
    axis = node.attrs["axis"] % len(out_shape)
    maps, start = [], 0
    for v in node.inputs:
        shape = _shape(v)
        st = strides(shape)
        maps.append(LoadMap(st, -start * st[axis], ((axis, start, start + shape[axis]),)))
        start += shape[axis]
    return maps


def _expand(node: Node) -> list[LoadMap]:
    return [broadcast_map(_shape(node.inputs[0]), _shape(node.outputs[0]))]


def _pad_check(node: Node) -> str | None:
    if node.attrs.get("mode", "constant") != "constant":
        return f"pad mode {node.attrs['mode']!r} (only constant)"
    if len(node.inputs) > 1 and any(v is not None for v in node.inputs[1:]):
        return "pad with run-time pads"
    return None


def _slice_check(node: Node) -> str | None:
    if any(v is not None for v in node.inputs[1:]):
        return "slice with run-time bounds"
    return None


MOVEMENT: dict[str, Movement] = {
    "transpose": Movement(_transpose),
    "slice": Movement(_slice, check=_slice_check),
    "pad": Movement(_pad, check=_pad_check),
    "concat": Movement(_concat),
    "expand": Movement(_expand, check=lambda n: "expand with a run-time shape"
                       if len(n.inputs) > 1 and n.inputs[1] is not None and n.inputs[1].const is None else None),
}

VIEWS = frozenset({"reshape"})


# ---------------------------------------------------------------- kernel templates


def _conv_check(node: Node) -> str | None:
    if len(_shape(node.inputs[0])) != 4:
        return "conv that is not 2-D (NCHW)"
    return None


def _pool_check(node: Node) -> str | None:
    if len(_shape(node.inputs[0])) != 4:
        return f"{node.op} that is not 2-D (NCHW)"
    if node.attrs.get("with_indices") or len(node.outputs) > 1:
        return "max_pool with indices"
    return None


def _matmul_check(node: Node) -> str | None:
    a, b = _shape(node.inputs[0]), _shape(node.inputs[1])
    if len(a) < 2 or len(b) < 2:
        return "matmul of a 1-D operand"
    return None


def _one_output(node: Node) -> str | None:
    if len(node.outputs) > 1:
        return f"{node.op} whose statistics outputs are used"
    return None


def _static_axes(node: Node) -> str | None:
    if len(node.inputs) > 1 and node.inputs[1] is not None and node.inputs[1].const is None:
        return f"{node.op} with run-time axes"
    return None


def _gather_check(node: Node) -> str | None:
    x, idx = node.inputs[0], node.inputs[1]
    if x is None or idx is None:
        return "gather without data or indices"
    if idx.type.dtype not in INDICES:
        return f"gather with {idx.type.dtype} indices"
    if x.type.dtype not in FLOATS:  # integer gathers are shape arithmetic: they stay with the host's shapes
        return f"gather of {x.type.dtype} data (gpu_triton gathers float rows: an embedding lookup)"
    return None


TEMPLATES: dict[str, Template] = {
    "gather": Template("gather", _gather_check, epilogue=True),  # an embedding lookup: one row read per index
    "matmul": Template("matmul", _matmul_check, epilogue=True),
    "conv": Template("conv", _conv_check, epilogue=True),
    "max_pool": Template("window", _pool_check, epilogue=True),
    "avg_pool": Template("window", _pool_check, epilogue=True),
    "reduce_sum": Template("reduce", _static_axes),
    "reduce_mean": Template("reduce", _static_axes),
    "reduce_max": Template("reduce", _static_axes),
    "reduce_min": Template("reduce", _static_axes),
    "softmax": Template("rownorm"),  # any axis: a non-last one is read strided in place
    "log_softmax": Template("rownorm"),
    "layer_norm": Template("rownorm", _one_output),
    "group_norm": Template("rownorm"),
    "instance_norm": Template("rownorm"),
}


def entry(op: str) -> Entry | None:
    """The table's entry for ``op``, or None."""
    if op in POINTWISE:
        return POINTWISE[op]
    if op in MOVEMENT:
        return MOVEMENT[op]
    if op in VIEWS:
        return View()
    return TEMPLATES.get(op)


def supported_ops() -> list[str]:
    """Every op the table maps."""
    return sorted({*POINTWISE, *MOVEMENT, *VIEWS, *TEMPLATES})


def _dtype_refusal(node: Node) -> str | None:
    """Why the operand dtypes rule ``node`` out, or None: floats everywhere; integer pointwise ops of
    ``INT_POINTWISE`` and integer data movement; a cast from an integer to a float; gather (its own check)."""
    if node.op == "gather":
        return None
    values = [v for v in (*node.inputs, *node.outputs) if v is not None]
    if node.op in ("reshape", "expand", "slice", "pad"):
        values = [node.inputs[0], *node.outputs]  # shape operands are read at compile time
    dtypes = {v.type.dtype for v in values if v is not None}
    if dtypes <= FLOATS:
        return None
    if (node.op in INT_POINTWISE or node.op in MOVEMENT or node.op in VIEWS) and dtypes <= INTS:
        return None  # data movement copies integers exactly (loaded as int64)
    if node.op == "cast" and dtypes <= FLOATS | INTS and node.outputs[0].type.dtype in FLOATS:
        return None
    odd = sorted(str(d) for d in dtypes - FLOATS)
    return (f"dtype {', '.join(odd)} (gpu_triton kernels take float32, float16 and bfloat16; int32/int64 for "
            f"{', '.join(sorted(INT_POINTWISE))} and gather indices)")


def supports(node: Node) -> str | None:
    """None if a generated kernel runs ``node``; otherwise why not."""
    found = entry(node.op)
    if found is None:
        return f"op {node.op!r} has no gpu_triton kernel template"
    why = _dtype_refusal(node)
    if why is not None:
        return why
    check = found.check if isinstance(found, (Pointwise, Movement, Template)) else None
    return check(node) if check is not None else None
