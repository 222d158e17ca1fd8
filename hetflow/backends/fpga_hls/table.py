"""The fpga_hls mapping table: IR op -> template of the C++ library, capability check, layer builder.

``supports(node)`` is the capability question the partitioner asks before anything is lowered:
None when the table covers the node, else the reason it does not (the node then stays on a CPU).
Adding an op is adding one ``Entry`` here, a builder, and its template in ``include/hetflow_hls``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hetflow.backends.fpga_hls import fixedpoint as fx
from hetflow.backends.fpga_hls import layers as L
from hetflow.ir import DType, Node, Value
from hetflow.ir.ops.nn import window_out_sizes
from hetflow.passes.affine import batch_norm_affine

if TYPE_CHECKING:
    from hetflow.backends.fpga_hls.lower import Builder

Check = Callable[[Node], "str | None"]
Build = Callable[[Node, "Builder"], None]

LUT_RANGE_LOG2 = {"sigmoid": 3, "tanh": 2, "exp": 3}
"""Lookup tables cover [-2**r, 2**r) (exp: [-2**r, 0)); outside, the end entries hold."""


@dataclass(frozen=True)
class Entry:
    template: str
    """The template(s) in include/hetflow_hls, or "alias" for ops that move no data."""
    build: Build
    check: Check | None = None


# ---------------------------------------------------------------- helpers


def _act(node: Node, i: int = 0) -> Value:
    v = node.inputs[i]
    assert v is not None
    return v


def _const(node: Node, i: int) -> np.ndarray | None:
    v = node.inputs[i] if i < len(node.inputs) else None
    return None if v is None else v.const


def _shape(v: Value) -> tuple[int, ...]:
    """The shape of one sample: a symbolic leading (batch) dim counts as 1."""
    assert v.type.shape is not None
    return tuple(d if isinstance(d, int) else 1 for d in v.type.shape)


def const_pattern(out_shape: tuple[int, ...], const_shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(n_const, inner) when a constant broadcasts over ``out_shape`` as c[(i / inner) % n_const], else None."""
    if len(const_shape) > len(out_shape):
        return None
    aligned = (1,) * (len(out_shape) - len(const_shape)) + tuple(const_shape)
    axes = [k for k, d in enumerate(aligned) if d != 1]
    if not axes:
        return 1, 1
    lo, hi = axes[0], axes[-1] + 1
    if any(aligned[k] != out_shape[k] for k in range(lo, hi)):
        return None
    return math.prod(out_shape[lo:hi]), math.prod(out_shape[hi:])


def _static_per_sample(node: Node) -> str | None:
    for v in [*node.inputs, *node.outputs]:
        if v is None or v.type.shape is None:
            return f"%{v.name if v else '?'} has an unknown shape; HLS kernels are synthesized for fixed sizes"
        if any(not isinstance(d, int) for d in v.type.shape[1:]):
            return f"%{v.name} ({v.type}) has a symbolic dim past the batch; HLS kernels are synthesized for fixed sizes"
    return None


def _check_dtypes(node: Node) -> str | None:
    for v in [*node.inputs, *node.outputs]:
        if v is not None and v.type.dtype is not DType.float32:
            return (f"%{v.name} is {v.type.dtype}; fpga_hls runs float32 graphs, quantized to fixed point "
                    f"(ap_fixed) on the fabric")
    return None


# ---------------------------------------------------------------- dense and convolution


def _quantized_affine(b: Builder, node: Node, w: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray, Value]:
    """Fold the per-channel maps lowering left to ``node``'s layer into its weights ``w[..., channel]`` and bias."""
    w, bias = w.astype(np.float64), bias.astype(np.float64)
    for scale, shift in b.absorbed(node):
        w, bias = w * scale, bias * scale + shift
    return w, bias, b.layer_output(node)


def _accum(b: Builder, node: Node, x: fx.FixedType, w: fx.FixedType, terms: int, bias: fx.FixedType) -> fx.FixedType:
    exact = fx.accumulator(x, w, terms, bias)
    chosen = b.settings(node).accum
    if chosen is None:
        b.check_width(node, exact, "accum")
        return exact
    if chosen.frac < exact.frac or chosen.overflow != "AP_WRAP" or chosen.rounding != "AP_TRN":
        raise b.error(node, f"accum precision {chosen} drops fractional bits or saturates; an accumulator needs at "
                            f"least {exact.frac} fractional bits and AP_TRN/AP_WRAP (exact would be {exact})")
    b.check_width(node, chosen, "accum")
    return chosen


def check_matmul(node: Node) -> str | None:
    w = _const(node, 1)
    if _const(node, 0) is not None or w is None:
        return "only a matmul by a constant weight (a dense layer) is in the template library; the first operand " \
               "must be the activation and the second a constant"
    if w.ndim != 2:
        return f"the weight is {w.ndim}-D; the dense template takes a 2-D weight [K, M]"
    if len(_shape(_act(node))) < 1:
        return "the activation is a scalar"
    return None


def build_matmul(node: Node, b: Builder) -> None:
    x = b.tensor(_act(node))
    w = _const(node, 1)
    assert w is not None
    n_in, n_out = w.shape
    s = b.settings(node)
    wf, bias, out = _quantized_affine(b, node, w, np.zeros(n_out))
    wp = L.Param(f"w{b.index}", fx.quantize(wf, s.weight).reshape(-1), s.weight)
    bp = L.Param(f"b{b.index}", fx.quantize(bias, s.bias), s.bias)
    accum = _accum(b, node, x.type, s.weight, n_in, s.bias)
    rows = x.size // n_in
    b.add(L.Dense(node.name, node.op, [x], b.output(out, s.result), [wp, bp], n_rows=rows, n_in=n_in, n_out=n_out,
                  accum=accum, reuse_factor=b.reuse(node, s.reuse_factor, n_in * n_out)))


def check_conv(node: Node) -> str | None:
    w = _const(node, 1)
    if w is None or (len(node.inputs) > 2 and node.inputs[2] is not None and _const(node, 2) is None):
        return "the weight and bias must be constants"
    if w.ndim != 4:
        return f"a {w.ndim - 2}-D convolution; the template library has conv2d only"
    if node.attrs["group"] != 1:
        return f"grouped convolution (group={node.attrs['group']}) is not in the template library"
    if any(d != 1 for d in node.attrs["dilations"]):
        return f"dilations {list(node.attrs['dilations'])} are not supported (conv2d takes dilation 1)"
    if _shape(_act(node))[0] != 1:
        return "a static batch of several images; give the input a symbolic batch dim so that one image runs at a time"
    return None


def build_conv(node: Node, b: Builder) -> None:
    x = b.tensor(_act(node))
    w = _const(node, 1)
    assert w is not None
    bias0 = _const(node, 2)
    m, c, kh, kw = w.shape
    _, _, h, wd = _shape(_act(node))
    s = b.settings(node)
    wf, bias, out = _quantized_affine(b, node, w.transpose(1, 2, 3, 0), np.zeros(m) if bias0 is None else bias0)
    n_in = c * kh * kw
    wp = L.Param(f"w{b.index}", fx.quantize(wf.reshape(n_in, m), s.weight).reshape(-1), s.weight)
    bp = L.Param(f"b{b.index}", fx.quantize(bias, s.bias), s.bias)
    strides, pads = node.attrs["strides"], node.attrs["pads"]
    oh, ow = window_out_sizes((h, wd), (kh, kw), strides, pads, (1, 1))
    accum = _accum(b, node, x.type, s.weight, n_in, s.bias)
    b.add(L.Conv2D(node.name, node.op, [x], b.output(out, s.result), [wp, bp], n_rows=1, n_in=n_in, n_out=m,
                   accum=accum, reuse_factor=b.reuse(node, s.reuse_factor, n_in * m),
                   geometry=(c, h, wd, m, kh, kw, strides[0], strides[1], pads[0], pads[1], oh, ow)))


# ---------------------------------------------------------------- pooling


def check_pool(node: Node) -> str | None:
    kernel = node.attrs["kernel"]
    if len(kernel) != 2:
        return f"{len(kernel)}-D pooling; the template library pools 2-D"
    if any(d != 1 for d in node.attrs.get("dilations") or ()):
        return "dilated pooling is not supported"
    if node.attrs.get("with_indices"):
        return "max_pool with indices is not supported"
    if _shape(_act(node))[0] != 1:
        return "a static batch of several images; give the input a symbolic batch dim so that one image runs at a time"
    return None


def build_pool(node: Node, b: Builder) -> None:
    x = b.tensor(_act(node))
    a = node.attrs
    _, c, h, w = _shape(_act(node))
    kh, kw = a["kernel"]
    pads = a["pads"]
    oh, ow = window_out_sizes((h, w), (kh, kw), a["strides"], pads, (1, 1), bool(a["ceil_mode"]))
    geometry = (c, h, w, oh, ow, kh, kw, a["strides"][0], a["strides"][1], pads[0], pads[1])
    s = b.settings(node)
    out = b.output(node.outputs[0], s.result)
    if node.op == "max_pool":
        b.add(_pool("max_pool2d", node, [x], out, [], geometry))
        return
    box = (-pads[0], h + pads[2], -pads[1], w + pads[3]) if a["count_include_pad"] else (0, h, 0, w)
    inv = np.array([0.0] + [1.0 / n for n in range(1, kh * kw + 1)])
    table = L.Param(f"inv{b.index}", fx.quantize(inv, s.table.with_modes(overflow="AP_SAT")), s.table)
    b.add(_pool("avg_pool2d", node, [x], out, [table], geometry, box, fx.sum_type(x.type, kh * kw)))


def _pool(template: str, node: Node, ins: list[L.Tensor], out: L.Tensor, params: list[L.Param],
          geometry: tuple[int, ...], box: tuple[int, int, int, int] = (0, 1, 0, 1),
          accum: fx.FixedType | None = None) -> L.Pool2D:
    return L.Pool2D(node.name, node.op, ins, out, params, template=template, geometry=geometry, count_box=box,
                    accum=accum)


def check_reduce_mean(node: Node) -> str | None:
    shape = _shape(_act(node))
    axes = node.attrs["axes"]
    if axes is None:
        return "a mean over every axis including the batch; give the axes"
    norm = sorted(a % len(shape) for a in axes)
    if norm != list(range(len(shape) - len(norm), len(shape))) or 0 in norm:
        return f"reduce_mean over axes {list(axes)}: the template takes the trailing axes only (e.g. H, W of NCHW)"
    return None


def build_reduce_mean(node: Node, b: Builder) -> None:
    x = b.tensor(_act(node))
    shape = _shape(_act(node))
    cols = math.prod(shape[len(shape) - len(node.attrs["axes"]):])
    s = b.settings(node)
    inv = L.Param(f"inv{b.index}", fx.quantize(np.array([1.0 / cols]), s.table.with_modes(overflow="AP_SAT")), s.table)
    b.add(L.MeanRows(node.name, node.op, [x], b.output(node.outputs[0], s.result), [inv], n_rows=x.size // cols,
                     n_cols=cols, accum=fx.sum_type(x.type, cols)))


# ---------------------------------------------------------------- activations


def build_activation(node: Node, b: Builder) -> None:
    x = b.tensor(_act(node))
    s = b.settings(node)
    a = node.attrs
    params: list[L.Param] = []
    extra: dict[str, object] = {}
    template = node.op
    if node.op == "leaky_relu":
        params = [L.Param(f"alpha{b.index}", fx.quantize(np.array([a["alpha"]]), s.weight), s.weight)]
    elif node.op == "clip":
        lim = [a["min"] if a["min"] is not None else 0.0, a["max"] if a["max"] is not None else 0.0]
        params = [L.Param(f"lim{b.index}", fx.quantize(np.array(lim), s.weight), s.weight)]
        extra = {"has_min": a["min"] is not None, "has_max": a["max"] is not None}
    elif node.op == "hard_sigmoid":
        params = [L.Param(f"ab{b.index}", fx.quantize(np.array([a["alpha"], a["beta"]]), s.weight), s.weight)]
    elif node.op in ("sigmoid", "tanh"):
        template = "lut_activation"
        params, extra = _lut(node, b, x.type, s.table, s.table_size)
    b.add(L.Activation(node.name, node.op, [x], b.output(node.outputs[0], s.result), params, template=template,
                       **extra))  # type: ignore[arg-type]


_LUT_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"sigmoid": lambda v: 1 / (1 + np.exp(-v)),
                                                                  "tanh": np.tanh}


def _lut(node: Node, b: Builder, t: fx.FixedType, table_t: fx.FixedType, size: int) -> tuple[list[L.Param], dict]:
    r, k = LUT_RANGE_LOG2[node.op], size.bit_length() - 1
    if t.frac + r < 0:
        raise b.error(node, f"input precision {t} is too coarse for the lookup table over [-{2 ** r}, {2 ** r})")
    centres = -(2.0 ** r) + (np.arange(size) + 0.5) * 2.0 ** (r + 1) / size
    table = L.Param(f"table{b.index}", fx.quantize(_LUT_FUNCTIONS[node.op](centres), table_t.with_modes(overflow="AP_SAT")),
                    table_t)
    return [table], {"index_shift": t.frac + r + 1 - k, "index_offset": 1 << (t.frac + r)}


# ---------------------------------------------------------------- elementwise arithmetic


_TWO_TENSORS = {"add": "add", "sub": "sub", "mul": "mul", "max": "maximum", "min": "minimum"}
_WITH_CONST = {"add": "add_const", "sub": "sub_const", "mul": "mul_const"}


def check_binary(node: Node) -> str | None:
    if len(node.inputs) != 2:
        return "expects two operands"
    consts = [_const(node, k) is not None for k in (0, 1)]
    if all(consts):
        return "both operands are constants (constant folding computes it)"
    out = _shape(node.outputs[0])
    if not any(consts):
        if _shape(_act(node, 0)) != out or _shape(_act(node, 1)) != out:
            return "broadcasting between two activations is not supported; operands must have one shape"
        return None
    if node.op not in _WITH_CONST:
        return f"'{node.op}' with a constant operand is not in the template library"
    c = _const(node, 1 if consts[1] else 0)
    assert c is not None
    if _shape(_act(node, 0 if consts[1] else 1)) != out:
        return "the constant broadcasts the activation to a larger shape"
    if const_pattern(out, tuple(c.shape)) is None:
        return f"a constant of shape {list(c.shape)} does not broadcast along one block of axes of {list(out)}"
    return None


def build_binary(node: Node, b: Builder) -> None:
    s = b.settings(node)
    k = 1 if _const(node, 1) is not None else (0 if _const(node, 0) is not None else None)
    if k is None:
        ins = [b.tensor(_act(node, 0)), b.tensor(_act(node, 1))]
        b.add(L.Binary(node.name, node.op, ins, b.output(node.outputs[0], s.result), template=_TWO_TENSORS[node.op]))
        return
    c = _const(node, k)
    assert c is not None
    x = b.tensor(_act(node, 1 - k))
    shape = _shape(_act(node, 1 - k))  # the IR value's shape (a tensor may be an alias of another shape)
    n_const, inner = const_pattern(shape, tuple(c.shape))  # type: ignore[misc]
    ptype = s.weight if node.op == "mul" else s.bias
    flat = np.broadcast_to(c, (1,) * (len(shape) - c.ndim) + tuple(c.shape)).reshape(-1)
    values = flat if flat.size == n_const else np.broadcast_to(c.reshape(-1), (n_const,))
    param = L.Param(f"c{b.index}", fx.quantize(values, ptype), ptype)
    b.add(L.BinaryConst(node.name, node.op, [x], b.output(node.outputs[0], s.result), [param],
                        template=_WITH_CONST[node.op], inner=inner, const_first=(k == 0)))


def check_batch_norm(node: Node) -> str | None:
    if any(_const(node, k) is None for k in range(1, 5)):
        return "batch norm parameters must be constants (inference)"
    return None


def build_batch_norm(node: Node, b: Builder) -> None:
    x = b.tensor(_act(node))
    shape = _shape(_act(node))
    s = b.settings(node)
    affine = batch_norm_affine(node)
    assert affine is not None  # check_batch_norm: constant parameters
    scale, shift = affine
    inner = math.prod(shape[2:])
    b.add(L.BinaryConst(node.name, node.op, [x], b.output(node.outputs[0], s.result),
                        [L.Param(f"s{b.index}", fx.quantize(scale, s.weight), s.weight),
                         L.Param(f"t{b.index}", fx.quantize(shift, s.bias), s.bias)], template="scale_shift", inner=inner))


# ---------------------------------------------------------------- data movement and softmax


def check_concat(node: Node) -> str | None:
    if any(v is None or v.const is not None for v in node.inputs):
        return "concatenating a constant is not supported"
    return None


def build_concat(node: Node, b: Builder) -> None:
    s = b.settings(node)
    values = [v for v in node.inputs if v is not None]
    ins = [b.tensor(v) for v in values]
    shapes = [_shape(v) for v in values]
    axis = node.attrs["axis"] % len(shapes[0])
    outer = math.prod(shapes[0][:axis])
    acc, acc_shape = ins[0], shapes[0]
    for k, nxt in enumerate(ins[1:], 1):
        last = k == len(ins) - 1
        acc_shape = tuple(d if j != axis else acc_shape[axis] + shapes[k][axis] for j, d in enumerate(acc_shape))
        out = b.output(node.outputs[0], s.result) if last else b.temp(f"{node.name}_part{k}", acc_shape, s.result)
        b.add(L.Concat2(node.name, node.op, [acc, nxt], out, n_outer=outer,
                        inner=(acc.size // outer, nxt.size // outer)))
        acc = out


def check_transpose(node: Node) -> str | None:
    if len(node.attrs["perm"]) > 4:
        return "the transpose template permutes up to 4 dims"
    return None


def build_transpose(node: Node, b: Builder) -> None:
    x = b.tensor(_act(node))
    shape = _shape(_act(node))
    perm = list(node.attrs["perm"])
    in_strides = [math.prod(shape[k + 1:]) for k in range(len(shape))]
    dims = [1] * (4 - len(perm)) + [shape[p] for p in perm]
    strides = [0] * (4 - len(perm)) + [in_strides[p] for p in perm]
    s = b.settings(node)
    b.add(L.Transpose(node.name, node.op, [x], b.output(node.outputs[0], s.result), dims=tuple(dims),  # type: ignore[arg-type]
                      strides=tuple(strides)))  # type: ignore[arg-type]


def check_softmax(node: Node) -> str | None:
    shape = _shape(_act(node))
    axis = node.attrs["axis"] % len(shape)
    if any(d != 1 for d in shape[axis + 1:]):
        return f"softmax over axis {node.attrs['axis']} of {list(shape)}: the template normalizes the last axis only"
    return None


def build_softmax(node: Node, b: Builder) -> None:
    x = b.tensor(_act(node))
    shape = _shape(_act(node))
    axis = node.attrs["axis"] % len(shape)
    n = shape[axis]
    s = b.settings(node)
    size, t = s.table_size, s.table
    r, k = LUT_RANGE_LOG2["exp"], size.bit_length() - 1
    if x.type.frac + r < 0:
        raise b.error(node, f"input precision {x.type} is too coarse for the exp table over [-{2 ** r}, 0)")
    upper = -(2.0 ** r) + (np.arange(size) + 1) * 2.0 ** r / size  # upper bin edge: exp(0) is exactly 1
    sat = t.with_modes(overflow="AP_SAT")
    exp_table = L.Param(f"exptab{b.index}", fx.quantize(np.exp(upper), sat), t)
    mant = 1 + (np.arange(size) + 0.5) / size
    inv_table = L.Param(f"inv{b.index}", fx.quantize(1 / mant, sat), t)
    accum = fx.sum_type(t, n)
    prod = fx.mult_type(t, t)
    scale = accum.integer + 1
    wide = fx.FixedType(prod.width + scale, prod.integer)
    b.check_width(node, wide, "softmax normalization")
    b.add(L.Softmax(node.name, node.op, [x], b.output(node.outputs[0], s.result), [exp_table, inv_table],
                    n_rows=x.size // n, n_in=n, exp_shift=x.type.frac + r - k, exp_offset=1 << (x.type.frac + r),
                    inv_bits=k, accum=accum, wide=wide))


def build_alias(node: Node, b: Builder) -> None:
    b.alias(node.outputs[0], b.tensor(_act(node)))


# ---------------------------------------------------------------- the table

TABLE: dict[str, Entry] = {
    "matmul": Entry("dense", build_matmul, check_matmul),
    "conv": Entry("conv2d", build_conv, check_conv),
    "max_pool": Entry("max_pool2d", build_pool, check_pool),
    "avg_pool": Entry("avg_pool2d", build_pool, check_pool),
    "reduce_mean": Entry("mean_rows", build_reduce_mean, check_reduce_mean),
    "batch_norm": Entry("scale_shift", build_batch_norm, check_batch_norm),
    "relu": Entry("relu", build_activation),
    "leaky_relu": Entry("leaky_relu", build_activation),
    "clip": Entry("clip", build_activation),
    "hard_sigmoid": Entry("hard_sigmoid", build_activation),
    "sigmoid": Entry("lut_activation", build_activation),
    "tanh": Entry("lut_activation", build_activation),
    "add": Entry("add, add_const", build_binary, check_binary),
    "sub": Entry("sub, sub_const", build_binary, check_binary),
    "mul": Entry("mul, mul_const", build_binary, check_binary),
    "max": Entry("maximum", build_binary, check_binary),
    "min": Entry("minimum", build_binary, check_binary),
    "concat": Entry("concat2", build_concat, check_concat),
    "transpose": Entry("transpose", build_transpose, check_transpose),
    "softmax": Entry("softmax", build_softmax, check_softmax),
    "reshape": Entry("alias", build_alias),
    "identity": Entry("alias", build_alias),
}


def supports(node: Node) -> str | None:
    """None if the fpga_hls table covers ``node``; otherwise why not (the node then stays on a CPU)."""
    entry = TABLE.get(node.op)
    if entry is None:
        return f"op '{node.op}' is not in the fpga_hls kernel table (it covers {', '.join(sorted(TABLE))})"
    reason = _check_dtypes(node) or _static_per_sample(node)
    if reason is None and entry.check is not None:
        reason = entry.check(node)
    return reason
