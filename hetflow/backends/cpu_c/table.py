"""The cpu_c mapping table: IR op -> C template. This table *is* the backend's capability.

Three kinds of entry:

* ``Elementwise`` — a C expression over the operands ``{0}``, ``{1}``, … (locals already loaded)
  and the node's attributes ``{name}``. Chains of these fuse into one loop, or into the output
  tiles of a matmul or convolution.
* ``Kernel`` — a call into the runtime library (``templates/*.c``); ``render`` writes the call with
  the node's shapes fixed. ``epilogue`` says how the output indexes as GEMM rows and columns, for
  kernels that can finish elementwise work inside their output tiles.
* ``View`` — no code: the output aliases the input's memory (reshape, contiguous slices).
* ``Lower`` — rewritten into other entries before code generation (batch_norm -> mul, add).

``supports(node)`` is the only capability question the partitioner asks: None, or why not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hetflow.backends.cpu_c import render, render_extra, symbolic
from hetflow.backends.cpu_c.render import c_float
from hetflow.ir import DType, Node
from hetflow.ir.ops.control import CONTROL_OPS

if TYPE_CHECKING:
    from hetflow.backends.cpu_c.codegen import Emitter

Check = Callable[[Node], "str | None"]

F32 = frozenset({DType.float32})
NUMERIC = frozenset({DType.float32, DType.int32, DType.int64})
INTS = frozenset({DType.int32, DType.int64})
BOOL = frozenset({DType.bool})
SCALARS = NUMERIC | BOOL
MOVABLE = frozenset(d for d in DType if d is not DType.string)
"""Data movement copies bytes, so any fixed-size element type moves."""

C_TYPES = {DType.float32: "float", DType.int32: "int32_t", DType.int64: "int64_t", DType.bool: "uint8_t"}


@dataclass(frozen=True)
class Elementwise:
    """A scalar C expression. ``params`` turns the node's attributes into the ``{name}`` fields; ``ints``, when
    set, is the expression for integer operands (wrapping, and defined for every value: no division traps)."""

    template: str
    inputs: tuple[frozenset[DType], ...] = (F32,)
    params: Callable[[Node], dict[str, str]] | None = None
    check: Check | None = None
    ints: str | None = None

    def expr(self, node: Node, operands: list[str]) -> str:
        fields = self.params(node) if self.params else {k: c_float(v) for k, v in node.attrs.items()
                                                          if isinstance(v, (int, float)) and not isinstance(v, bool)}
        first = node.inputs[0]
        integer = self.ints is not None and first is not None and first.type.dtype in INTS
        return (self.ints if integer else self.template).format(*operands, **fields)  # type: ignore[union-attr]


@dataclass(frozen=True)
class Kernel:
    """A call into the runtime library."""

    render: Callable[[Node, Emitter, Any], str]
    check: Check | None = None
    epilogue: Callable[[Node], tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None] | None = None
    """(outer, row, column) output dims, when the kernel can run a fused elementwise epilogue."""
    dtypes: frozenset[DType] = F32
    input_slots: Callable[[Node], list[int] | None] | None = None
    """Byte offsets inside the output where each input may be produced in place (concat)."""
    output_slots: Callable[[Node], list[int] | None] | None = None
    """Byte offsets inside the input where each output may alias it (split)."""
    scratch: Callable[[Node, tuple[int, ...], int], int] | None = None
    """Arena bytes the kernel needs while it runs, given the runtime's MR variants and NR."""


@dataclass(frozen=True)
class View:
    """No code: the output is the input's memory at a byte offset (``offset(node)``; None: must copy)."""

    offset: Callable[[Node], int | None]
    copy: Callable[[Node, Emitter, Any], str] = field(default=render.copy_view)
    dtypes: frozenset[DType] = MOVABLE


@dataclass(frozen=True)
class Lower:
    """Rewritten into other table ops before code generation; ``check`` says when it can be."""

    check: Check


Entry = Elementwise | Kernel | View | Lower


def _unary(template: str) -> Elementwise:
    return Elementwise(template, (F32,))


def _binary(template: str, dtypes: frozenset[DType] = F32, ints: str | None = None) -> Elementwise:
    return Elementwise(template, (dtypes, dtypes), ints=ints)


# Integer arithmetic wraps (as NumPy's does) through unsigned 64-bit math; the result is cast back to the
# output's type. Division and remainder by 0 give 0 and INT_MIN / -1 wraps, as in the reference, never a trap.
_WRAP = "((uint64_t)(int64_t){0} {op} (uint64_t)(int64_t){1})"


def _conv_check(node: Node) -> str | None:
    if render_extra.direct_conv(node):
        return None if all(v is None or v.type.dtype is DType.float32 for v in node.inputs) else \
            "conv operands must be float32"
    return render.conv_check(node)


def _conv(node: Node, em: Emitter, _: Any = None) -> str:
    return render_extra.conv3d(node, em) if render_extra.direct_conv(node) else render.conv(node, em)


def _conv_epilogue(node: Node) -> render.View3 | None:
    """The GEMM convolutions finish elementwise work in their output tiles; the direct loop nest does not."""
    return None if render_extra.direct_conv(node) else render.conv_epilogue(node)


def _conv_scratch(node: Node, variants: tuple[int, ...], nr: int) -> int:
    return 0 if render_extra.direct_conv(node) else render.conv_scratch(node, variants, nr)


def _pool_check(node: Node) -> str | None:
    if len(node.attrs["kernel"]) == 3:
        return "max_pool with indices" if node.attrs.get("with_indices") else None
    return render.pool_check(node)


def _pool(node: Node, em: Emitter, _: Any = None) -> str:
    if len(node.attrs["kernel"]) == 3:
        return render_extra.pool3d(node, em)
    return render.max_pool(node, em) if node.op == "max_pool" else render.avg_pool(node, em)


def _pad_check(node: Node) -> str | None:
    return render_extra.pad_check(node) if render_extra.pad_needs_kernel(node) else render.pad_check(node)


def _pad(node: Node, em: Emitter, _: Any = None) -> str:
    return render_extra.pad(node, em) if render_extra.pad_needs_kernel(node) else render.pad(node, em)


def _clip_params(node: Node) -> dict[str, str]:
    lo, hi = node.attrs["min"], node.attrs["max"]
    return {"lo": "(-HUGE_VALF)" if lo is None else c_float(lo), "hi": "HUGE_VALF" if hi is None else c_float(hi)}


def _gelu_check(node: Node) -> str | None:
    return None if node.attrs["approximate"] in ("none", "tanh") else f"gelu approximate={node.attrs['approximate']!r}"


def _cast_check(node: Node) -> str | None:
    to = DType.of(node.attrs["to"])
    return None if to in SCALARS else f"cast to {to} is not generated"


def _cast_template(node: Node) -> dict[str, str]:
    to = DType.of(node.attrs["to"])
    if to is DType.bool:  # any nonzero is true, as NumPy's astype(bool)
        return {"pre": "(uint8_t)((", "post": ") != 0)"}
    return {"pre": f"({C_TYPES[to]})(", "post": ")"}


_MAX = "(({0} > {1} || {0} != {0}) ? {0} : {1})"
_MIN = "(({0} < {1} || {0} != {0}) ? {0} : {1})"

TABLE: dict[str, Entry] = {
    # ---------------------------------------------------------------- unary math
    "abs": _unary("fabsf({0})"),
    "neg": _unary("(-{0})"),
    "exp": _unary("hf_exp({0})"),
    "log": _unary("hf_log({0})"),
    "sqrt": _unary("sqrtf({0})"),
    "reciprocal": _unary("(1.0f / {0})"),
    "sin": _unary("sinf({0})"),
    "cos": _unary("cosf({0})"),
    "tan": _unary("tanf({0})"),
    "asin": _unary("asinf({0})"),
    "acos": _unary("acosf({0})"),
    "atan": _unary("atanf({0})"),
    "sinh": _unary("sinhf({0})"),
    "cosh": _unary("coshf({0})"),
    "asinh": _unary("asinhf({0})"),
    "acosh": _unary("acoshf({0})"),
    "atanh": _unary("atanhf({0})"),
    "floor": _unary("floorf({0})"),
    "ceil": _unary("ceilf({0})"),
    "round": _unary("nearbyintf({0})"),
    "sign": _unary("({0} > 0.0f ? 1.0f : ({0} < 0.0f ? -1.0f : {0}))"),
    "erf": _unary("hf_erf({0})"),
    "tanh": _unary("hf_tanh({0})"),
    "sigmoid": _unary("hf_sigmoid({0})"),
    "relu": _unary("({0} < 0.0f ? 0.0f : {0})"),
    "softplus": _unary("(({0} > 0.0f ? {0} : 0.0f) + log1pf(hf_exp(-fabsf({0}))))"),
    "softsign": _unary("({0} / (1.0f + fabsf({0})))"),
    "isnan": _unary("({0} != {0})"),
    "isinf": Elementwise("(isinf({0}) && (({0} > 0.0f && {pos}) || ({0} < 0.0f && {neg})))",
                         params=lambda n: {"pos": str(int(bool(n.attrs["detect_positive"]))),
                                           "neg": str(int(bool(n.attrs["detect_negative"])))}),
    # ---------------------------------------------------------------- parametric activations
    "leaky_relu": _unary("({0} >= 0.0f ? {0} : {0} * {alpha})"),
    "elu": _unary("({0} > 0.0f ? {0} : {alpha} * (hf_exp({0}) - 1.0f))"),
    "selu": _unary("({gamma} * ({0} > 0.0f ? {0} : {alpha} * (hf_exp({0}) - 1.0f)))"),
    "celu": _unary("(({0} > 0.0f ? {0} : 0.0f) + fminf(0.0f, {alpha} * (hf_exp({0} / {alpha}) - 1.0f)))"),
    "thresholded_relu": _unary("({0} > {alpha} ? {0} : 0.0f)"),
    "hard_sigmoid": _unary("fminf(fmaxf({alpha} * {0} + {beta}, 0.0f), 1.0f)"),
    "gelu": Elementwise(
        "({0} * 0.5f * (1.0f + ({approx} ? hf_tanh(0.7978845608f * ({0} + 0.044715f * {0} * {0} * {0}))"
        " : hf_erf({0} * 0.70710678118654752f))))",
        params=lambda n: {"approx": "1" if n.attrs["approximate"] == "tanh" else "0"}, check=_gelu_check),
    "clip": Elementwise("({0} < {lo} ? {lo} : ({0} > {hi} ? {hi} : {0}))", params=_clip_params),
    # ---------------------------------------------------------------- binary arithmetic
    "add": _binary("({0} + {1})", NUMERIC, _WRAP.replace("{op}", "+")),
    "sub": _binary("({0} - {1})", NUMERIC, _WRAP.replace("{op}", "-")),
    "mul": _binary("({0} * {1})", NUMERIC, _WRAP.replace("{op}", "*")),
    "div": _binary("({0} / {1})", NUMERIC, "hf_idiv({0}, {1})"),
    "pow": _binary("powf({0}, {1})"),
    "max": _binary(_MAX, NUMERIC),
    "min": _binary(_MIN, NUMERIC),
    "prelu": _binary("({0} < 0.0f ? {0} * {1} : {0})"),
    "mod": Elementwise("({fmod} ? fmodf({0}, {1}) : hf_pymod({0}, {1}))", (NUMERIC, NUMERIC),
                       params=lambda n: {"fmod": "1" if n.attrs["fmod"] else "0"},
                       ints="({fmod} ? hf_ifmod({0}, {1}) : hf_imod({0}, {1}))"),
    # ---------------------------------------------------------------- comparison and logic
    "equal": _binary("({0} == {1})", NUMERIC),
    "less": _binary("({0} < {1})", NUMERIC),
    "less_equal": _binary("({0} <= {1})", NUMERIC),
    "greater": _binary("({0} > {1})", NUMERIC),
    "greater_equal": _binary("({0} >= {1})", NUMERIC),
    "logical_and": _binary("({0} && {1})", BOOL),
    "logical_or": _binary("({0} || {1})", BOOL),
    "logical_xor": _binary("(!{0} != !{1})", BOOL),
    "logical_not": Elementwise("(!{0})", (BOOL,)),
    "where": Elementwise("({0} ? {1} : {2})", (BOOL, SCALARS, SCALARS)),
    "cast": Elementwise("({pre}{0}{post})", (SCALARS,), params=_cast_template, check=_cast_check),
    # ---------------------------------------------------------------- nn
    "matmul": Kernel(render.matmul, render.matmul_check, render.matmul_epilogue),
    "conv": Kernel(_conv, _conv_check, _conv_epilogue, scratch=_conv_scratch),
    "conv_transpose": Kernel(render_extra.conv_transpose, render_extra.conv_transpose_check),
    "max_pool": Kernel(_pool, _pool_check),
    "avg_pool": Kernel(_pool, _pool_check),
    "instance_norm": Kernel(render_extra.group_norm, render_extra.norm_check),
    "group_norm": Kernel(render_extra.group_norm, render_extra.norm_check),
    "resize": Kernel(render_extra.resize, render_extra.resize_check),
    "softmax": Kernel(render.softmax),
    "log_softmax": Kernel(render.softmax),
    "layer_norm": Kernel(render.layer_norm, render.layer_norm_check),
    "lrn": Kernel(render.lrn, render.lrn_check),
    "batch_norm": Lower(render.batch_norm_check),
    # ---------------------------------------------------------------- reductions
    "reduce_sum": Kernel(render.reduce, render.reduce_check),
    "reduce_mean": Kernel(render.reduce, render.reduce_check),
    "reduce_max": Kernel(render.reduce, render.reduce_check),
    "reduce_min": Kernel(render.reduce, render.reduce_check),
    "reduce_prod": Kernel(render.reduce, render.reduce_check),
    # ---------------------------------------------------------------- data movement
    "reshape": View(render.whole_view),
    "identity": View(render.whole_view),
    "transpose": Kernel(render.transpose, dtypes=MOVABLE),
    "concat": Kernel(render.concat, dtypes=MOVABLE, input_slots=render.concat_slots),
    "split": Kernel(render.split, dtypes=MOVABLE, output_slots=render.split_slots),
    "slice": View(render.slice_view, render.slice_copy),
    "expand": Kernel(render.expand, dtypes=MOVABLE),
    "pad": Kernel(_pad, _pad_check, dtypes=MOVABLE),
    "gather": Kernel(render_extra.gather, render_extra.gather_check, dtypes=MOVABLE),
    "gather_elements": Kernel(render_extra.gather_elements, render_extra.gather_elements_check, dtypes=MOVABLE),
}


def entry_dtypes(entry: Entry, node: Node) -> str | None:
    """Why the node's element types are outside the entry's, or None."""
    if isinstance(entry, Elementwise):
        for i, (v, allowed) in enumerate(zip(node.inputs, entry.inputs)):
            if v is not None and v.type.dtype not in allowed:
                return f"input {i} has type {v.type.dtype}; cpu_c generates {node.op} for {_names(allowed)}"
        return None
    allowed = entry.dtypes if isinstance(entry, (Kernel, View)) else MOVABLE
    for v in [*node.inputs[:1], *node.outputs]:
        if v is not None and v.type.dtype not in allowed:
            return f"type {v.type.dtype}; cpu_c generates {node.op} for {_names(allowed)}"
    return None


def _names(dtypes: frozenset[DType]) -> str:
    return ", ".join(sorted(d.value for d in dtypes))


def supports(node: Node) -> str | None:
    """None when cpu_c generates code for ``node``; otherwise the reason it does not."""
    if node.op in CONTROL_OPS:  # iterated by the host code, each body compiled by cpu_c (bodies.py)
        return None
    entry = TABLE.get(node.op)
    if entry is None:
        return f"op '{node.op}' is not in the cpu_c table"
    if any(v is not None and not v.type.is_static for v in [*node.inputs, *node.outputs]):
        reason = symbolic.node_reason(node)
        if reason:
            return reason
        node = symbolic.node_at_one(node)  # the code is generated for one sample
    reason = entry_dtypes(entry, node)
    if reason:
        return reason
    check = entry.check if isinstance(entry, (Elementwise, Kernel, Lower)) else None
    return check(node) if check else None
