"""Quantized-tensor ops: quantize / dequantize, integer convolution and matmul, and requantization.

A quantized tensor is an integer tensor plus a scale and a zero point (``real = scale * (q - zero_point)``),
per tensor or per channel along ``axis``. The scale and zero point travel as operands of
``quantize_linear`` / ``dequantize_linear`` (as in ONNX QDQ); the integer ops in between take integers
only, so their semantics are exact and a chip's engine models can be compared with them bit for bit.

Rounding, stated once for every op here:

* ``quantize_linear``: ``x / scale`` in float32, rounded half to even (ONNX QuantizeLinear), plus the zero
  point, saturated to the target type.
* ``conv_integer`` / ``matmul_integer``: exact integer sums (int8 x int8 products accumulated in int32; the
  NumPy semantics sum in float64, which is exact below 2**53, then wrap to int32 as hardware does).
* ``requantize`` / ``qadd``: fixed-point rescaling by an integer multiplier and a right shift, rounded half
  up (add ``2**(shift-1)`` then shift arithmetically right), plus the output zero point, optional ReLU
  (clamp at the zero point), saturated. This is the NVDLA SDP's multiply-shift-round datapath, so the
  same op is both the IR's definition and the engine's contract.
"""

from __future__ import annotations

import numpy as np

from hetflow.ir.dtypes import DType
from hetflow.ir.errors import InputError
from hetflow.ir.graph import Node
from hetflow.ir.ops._util import broadcast_infer, in_type
from hetflow.ir.ops.nn import _conv_infer, _conv_transpose_infer, _matmul_infer, conv, conv_transpose, matmul
from hetflow.ir.registry import REQUIRED, IRError, defop
from hetflow.ir.types import TensorType

QUANT_RANGES: dict[DType, tuple[int, int]] = {
    DType.int8: (-128, 127), DType.uint8: (0, 255), DType.int16: (-32768, 32767), DType.uint16: (0, 65535),
    DType.int32: (-(2 ** 31), 2 ** 31 - 1),
}
"""Integer types a quantized tensor may have, with their saturation ranges."""


def quant_range(dtype: str | DType, where: str) -> tuple[int, int]:
    """The saturation range of ``dtype``; an IRError naming ``where`` for a type that is not a quantized one."""
    try:
        return QUANT_RANGES[DType.of(dtype)]
    except (KeyError, ValueError):
        raise IRError(f"{where}: {dtype!r} is not a quantized type; use one of "
                      f"{', '.join(str(d) for d in QUANT_RANGES)}") from None


def _param(p: np.ndarray | None, rank: int, axis: int, default: float = 0) -> np.ndarray:
    """A scale or zero point (scalar or 1-D along ``axis``) shaped to broadcast against a rank-``rank`` tensor."""
    if p is None:
        return np.asarray(default)
    p = np.asarray(p)
    if p.size == 1:
        return p.reshape(())
    return p.reshape(tuple(-1 if i == axis % rank else 1 for i in range(rank)))


def _saturate(y: np.ndarray, dtype: str) -> np.ndarray:
    lo, hi = QUANT_RANGES[DType.of(dtype)]
    return np.clip(y, lo, hi).astype(DType.of(dtype).numpy)


# ------------------------------------------------------------------ quantize / dequantize


def _quantize_infer(node: Node) -> list[TensorType]:
    quant_range(node.attrs["dtype"], f"node {node.name!r} (quantize_linear)")
    return [in_type(node, 0).with_dtype(node.attrs["dtype"])]


@defop("quantize_linear", family="quant", infer=_quantize_infer, elementwise=True,
       attrs={"axis": 1, "dtype": "int8"})
def quantize_linear(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None = None, *, axis: int,
                    dtype: str) -> np.ndarray:
    """``saturate(round_half_even(x / scale) + zero_point)``; scale and zero point per tensor or along ``axis``."""
    s = _param(scale, x.ndim, axis).astype(np.float32)
    zp = _param(zero_point, x.ndim, axis).astype(np.int64)
    q = np.rint(x.astype(np.float32) / s).astype(np.int64) + zp
    return _saturate(q, dtype)


def _dequantize_infer(node: Node) -> list[TensorType]:
    return [in_type(node, 0).with_dtype(in_type(node, 1).dtype)]


@defop("dequantize_linear", family="quant", infer=_dequantize_infer, elementwise=True, attrs={"axis": 1})
def dequantize_linear(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None = None, *,
                      axis: int) -> np.ndarray:
    """``(q - zero_point) * scale`` in the scale's type."""
    s = _param(scale, q.ndim, axis)
    zp = _param(zero_point, q.ndim, axis).astype(np.int64)
    return ((q.astype(np.int64) - zp).astype(s.dtype) * s).astype(np.asarray(scale).dtype)


# ------------------------------------------------------------------ integer convolution and matmul


WIDENED_OPS = frozenset({"conv_integer", "matmul_integer", "conv_requant", "matmul_requant", "conv_transpose_requant"})
"""Ops whose NumPy semantics sum integer products in float64 (exact): what an interpreter running them computes
in, whatever the integer types of their operands (an int8 kernel is a chip's or a code generator's, not this)."""


def _exact_int32(acc: np.ndarray) -> np.ndarray:
    """A float64 sum of integers (exact below 2**53) as int32, wrapping as a 32-bit accumulator does."""
    return np.rint(acc).astype(np.int64).astype(np.int32)


def _centered(x: np.ndarray, zp: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """x - its zero point: one value, or one per entry of the axis where ``shape`` has -1 (checked: a symbolic
    length is known only now)."""
    axis = shape.index(-1) if -1 in shape else None
    if np.size(zp) > 1 and (axis is None or np.size(zp) != x.shape[axis - len(shape) + x.ndim]):
        raise InputError(f"a zero point of {np.size(zp)} values does not fit operand {list(x.shape)}")
    z = np.zeros(()) if zp is None else np.asarray(zp, np.float64).reshape(shape if np.size(zp) > 1 else ())
    return x.astype(np.float64) - z


def _int_infer(node: Node) -> list[TensorType]:
    for i in (0, 1):
        if not in_type(node, i).dtype.is_int:
            raise IRError(f"node {node.name!r} ({node.op}): operand {i} is {in_type(node, i)}, expected an integer type")
    for i, (operand, axis) in _ZERO_POINT_AXES.get(node.op, {}).items():
        _check_zero_point(node, i, operand, axis)
    return [t.with_dtype(DType.int32) for t in _FLOAT_INFER[node.op](node)]


_ZERO_POINT_AXES = {"conv_integer": {2: (0, 1), 3: (1, 0)}, "matmul_integer": {2: (0, None), 3: (1, -1)}}
"""Per op, zero-point input -> (the operand it centres, the axis it may have one entry per; None: one value)."""


def _check_zero_point(node: Node, i: int, operand: int, axis: int | None) -> None:
    """A zero point is one value, or (where the op allows) a vector of one per entry of the operand's axis."""
    if i >= len(node.inputs) or node.inputs[i] is None or in_type(node, i).shape is None:
        return
    shape, of = in_type(node, i).shape, in_type(node, operand).shape
    per = of[axis] if axis is not None and of is not None and -len(of) <= axis < len(of) else None
    if len(shape) > 1 or (len(shape) == 1 and isinstance(shape[0], int) and shape[0] != 1
                          and isinstance(per, int) and shape[0] != per):
        raise IRError(f"node {node.name!r} ({node.op}): zero point {in_type(node, i)} must be one value"
                      + ("" if axis is None else f" or one per entry of axis {axis} of operand {operand}"))


_FLOAT_INFER = {"conv_integer": _conv_infer, "matmul_integer": _matmul_infer}


def _conv_int_flops(node: Node) -> int:
    w = in_type(node, 1)
    per_out = int(np.prod([d for d in (w.shape or ())[1:] if isinstance(d, int)]))
    out = node.outputs[0].type.shape or ()
    return 2 * per_out * int(np.prod([d if isinstance(d, int) else 1 for d in out]))


@defop("conv_integer", family="quant", infer=_int_infer, flops=_conv_int_flops,
       attrs={"strides": REQUIRED, "pads": REQUIRED, "dilations": REQUIRED, "group": 1})
def conv_integer(x: np.ndarray, w: np.ndarray, x_zero_point: np.ndarray | None = None,
                 w_zero_point: np.ndarray | None = None, *, strides: tuple[int, ...], pads: tuple[int, ...],
                 dilations: tuple[int, ...], group: int) -> np.ndarray:
    """Convolution of zero-point-centred integers, accumulated exactly in int32 (no bias: requantize adds it)."""
    xc = _centered(x, x_zero_point, (1, -1) + (1,) * (x.ndim - 2))
    wc = _centered(w, w_zero_point, (-1,) + (1,) * (w.ndim - 1))
    return _exact_int32(conv(xc, wc, None, strides=strides, pads=pads, dilations=dilations, group=group))


@defop("matmul_integer", family="quant", infer=_int_infer,
       flops=lambda n: 2 * int(np.prod([d for d in (n.outputs[0].type.shape or ()) if isinstance(d, int)]))
       * int(in_type(n, 0).shape[-1] if in_type(n, 0).shape else 1))
def matmul_integer(a: np.ndarray, b: np.ndarray, a_zero_point: np.ndarray | None = None,
                   b_zero_point: np.ndarray | None = None) -> np.ndarray:
    """Matmul of zero-point-centred integers (b's zero point per column), exact in int32."""
    return _exact_int32(matmul(_centered(a, a_zero_point, ()), _centered(b, b_zero_point, (1, -1))))


# ------------------------------------------------------------------ requantization


def _rescale(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``(acc * multiplier + 2**(shift-1)) >> shift`` in int64: fixed-point scaling rounded half up."""
    m = multiplier.astype(np.int64)
    s = shift.astype(np.int64)
    half = np.where(s > 0, np.left_shift(np.int64(1), np.maximum(s - 1, 0)), 0)
    return np.right_shift(acc.astype(np.int64) * m + half, s)


def _finish(y: np.ndarray, zero_point: int, relu: bool, dtype: str) -> np.ndarray:
    if relu:
        y = np.maximum(y, 0)
    return _saturate(y + zero_point, dtype)


def _requant_infer(node: Node) -> list[TensorType]:
    quant_range(node.attrs["dtype"], f"node {node.name!r} ({node.op})")
    if in_type(node, 0).dtype is not DType.int32:
        raise IRError(f"node {node.name!r} (requantize): the accumulator is {in_type(node, 0)}, expected int32")
    return [in_type(node, 0).with_dtype(node.attrs["dtype"])]


@defop("requantize", family="quant", infer=_requant_infer, elementwise=True,
       attrs={"axis": 1, "zero_point": 0, "relu": False, "dtype": "int8"})
def requantize(acc: np.ndarray, bias: np.ndarray | None, multiplier: np.ndarray, shift: np.ndarray, *, axis: int,
               zero_point: int, relu: bool, dtype: str) -> np.ndarray:
    """``saturate(relu?((acc + bias) * multiplier >> shift, rounded half up) + zero_point)``.

    ``bias`` (int32), ``multiplier`` and ``shift`` are per tensor or per channel along ``axis``; the real
    rescale factor is ``multiplier / 2**shift`` (see ``fixed_point``).
    """
    total = acc.astype(np.int64)
    if bias is not None:
        total = total + _param(bias, acc.ndim, axis).astype(np.int64)
    y = _rescale(total, _param(multiplier, acc.ndim, axis), _param(shift, acc.ndim, axis))
    return _finish(y, zero_point, relu, dtype)


def _qadd_infer(node: Node) -> list[TensorType]:
    quant_range(node.attrs["dtype"], f"node {node.name!r} (qadd)")
    return [broadcast_infer(node)[0].with_dtype(node.attrs["dtype"])]


@defop("qadd", family="quant", infer=_qadd_infer, elementwise=True,
       attrs={"a_zero_point": 0, "b_zero_point": 0, "a_multiplier": REQUIRED, "b_multiplier": REQUIRED,
              "shift": REQUIRED, "zero_point": 0, "relu": False, "dtype": "int8"})
def qadd(a: np.ndarray, b: np.ndarray, *, a_zero_point: int, b_zero_point: int, a_multiplier: int,
         b_multiplier: int, shift: int, zero_point: int, relu: bool, dtype: str) -> np.ndarray:
    """Quantized element-wise sum: ``((a - za) * ma + (b - zb) * mb) >> shift`` rounded half up, + zero point."""
    total = (a.astype(np.int64) - a_zero_point) * a_multiplier + (b.astype(np.int64) - b_zero_point) * b_multiplier
    y = _rescale(total, np.asarray(1), np.asarray(shift))
    return _finish(y, zero_point, relu, dtype)


MULTIPLIER_BITS = 15
"""Magnitude bits of a fixed-point multiplier: NVDLA's SDP multipliers are signed 16-bit."""
MAX_SHIFT = 63


def fixed_point(real: np.ndarray | float, bits: int = MULTIPLIER_BITS) -> tuple[np.ndarray, np.ndarray]:
    """(multiplier, shift) with ``multiplier / 2**shift`` nearest to ``real``, ``|multiplier| < 2**bits``.

    The shift is the largest that keeps the multiplier in range (most precision); zero maps to (0, 0).
    """
    r = np.atleast_1d(np.asarray(real, np.float64))
    mult = np.zeros(r.shape, np.int64)
    shift = np.zeros(r.shape, np.int64)
    for i, v in enumerate(r):
        if v == 0 or not np.isfinite(v):
            continue
        _, exp = np.frexp(abs(v))  # |v| = f * 2**exp, 0.5 <= f < 1
        s = int(np.clip(bits - exp, 0, MAX_SHIFT))
        m = int(np.rint(v * 2.0 ** s))
        if abs(m) >= 2 ** bits:  # rounding reached 2**bits: one bit less
            s -= 1
            m = int(np.rint(v * 2.0 ** s))
        mult[i], shift[i] = m, s
    return mult, shift


# ------------------------------------------------------------------ accumulate-and-rescale as one node


def _requant_pair_infer(node: Node) -> list[TensorType]:
    quant_range(node.attrs["dtype"], f"node {node.name!r} ({node.op})")
    return [t.with_dtype(node.attrs["dtype"]) for t in _int_infer(node)]


@defop("conv_requant", family="quant", infer=_requant_pair_infer, flops=_conv_int_flops,
       attrs={"strides": REQUIRED, "pads": REQUIRED, "dilations": REQUIRED, "group": 1, "zero_point": 0,
              "relu": False, "dtype": "int8"})
def conv_requant(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, multiplier: np.ndarray, shift: np.ndarray,
                 *, strides: tuple[int, ...], pads: tuple[int, ...], dilations: tuple[int, ...], group: int,
                 zero_point: int, relu: bool, dtype: str) -> np.ndarray:
    """``requantize(conv_integer(x, w), bias, multiplier, shift)`` per output channel: int32 accumulation, then the
    explicit rescale, as one node, so that no placement separates an accumulator from its rescale (an int8
    accelerator never writes its int32 accumulators to memory)."""
    acc = conv_integer(x, w, strides=strides, pads=pads, dilations=dilations, group=group)
    return requantize(acc, bias, multiplier, shift, axis=1, zero_point=zero_point, relu=relu, dtype=dtype)


_FLOAT_INFER["conv_requant"] = _conv_infer
_FLOAT_INFER["matmul_requant"] = _matmul_infer


@defop("matmul_requant", family="quant", infer=_requant_pair_infer,
       attrs={"zero_point": 0, "relu": False, "dtype": "int8"},
       flops=lambda n: 2 * int(np.prod([d for d in (n.outputs[0].type.shape or ()) if isinstance(d, int)]))
       * int(in_type(n, 0).shape[-1] if in_type(n, 0).shape else 1))
def matmul_requant(a: np.ndarray, b: np.ndarray, bias: np.ndarray | None, multiplier: np.ndarray, shift: np.ndarray,
                   *, zero_point: int, relu: bool, dtype: str) -> np.ndarray:
    """``requantize(matmul_integer(a, b), bias, multiplier, shift)`` per output column, as one node."""
    return requantize(matmul_integer(a, b), bias, multiplier, shift, axis=-1, zero_point=zero_point, relu=relu,
                      dtype=dtype)


# ------------------------------------------------------------------ local response normalization by table

LRN_LUT_ENTRIES = 257
"""Entries of the LRN table: 256 linearly interpolated intervals, the size of NVDLA CDP's LO lookup table."""
LRN_LUT_MAX = 2 ** 15 - 1
"""Table entries are signed 16-bit, as NVDLA's LUT entries are."""


def _qlrn_infer(node: Node) -> list[TensorType]:
    x, lut = in_type(node, 0), in_type(node, 1)
    if x.dtype is not DType.int8 or x.rank is None or x.rank < 2:
        raise IRError(f"node {node.name!r} (qlrn): input is {x}, expected int8 with channels on dim 1")
    if lut.dtype is not DType.int16 or lut.shape != (LRN_LUT_ENTRIES,):
        raise IRError(f"node {node.name!r} (qlrn): the table is {lut}, expected int16[{LRN_LUT_ENTRIES}]")
    quant_range(node.attrs["dtype"], f"node {node.name!r} (qlrn)")
    return [x.with_dtype(node.attrs["dtype"])]


@defop("qlrn", family="quant", infer=_qlrn_infer,
       flops=lambda n: (n.attrs["size"] + 4) * int(np.prod([d for d in (n.outputs[0].type.shape or ()) if isinstance(d, int)])),
       attrs={"size": REQUIRED, "index_shift": REQUIRED, "multiplier": REQUIRED, "shift": REQUIRED, "dtype": "int8"})
def qlrn(x: np.ndarray, lut: np.ndarray, *, size: int, index_shift: int, multiplier: int, shift: int,
         dtype: str) -> np.ndarray:
    """int8 local response normalization across channels, by an interpolated table.

    ``s`` = the sum of ``x**2`` over the ``size`` channels around each one (ONNX LRN's window), exact in int32;
    ``i = s >> index_shift``, ``f = s - (i << index_shift)``; ``v = lut[i] + ((lut[i+1] - lut[i]) * f +
    2**(index_shift-1)) >> index_shift`` (the last entry beyond the table); ``y = saturate((x * v *
    multiplier + 2**(shift-1)) >> shift)``: every shift rounds half up. ``lrn_table`` builds the table.
    """
    xi = x.astype(np.int64)
    before = (size - 1) // 2
    c = x.shape[1]
    sq = np.zeros((x.shape[0], c + size - 1) + x.shape[2:], np.int64)
    sq[:, before:before + c] = xi * xi
    s = sum(sq[:, i:i + c] for i in range(size))
    last = LRN_LUT_ENTRIES - 1
    i = np.minimum(s >> index_shift, last)
    f = np.where(s >> index_shift >= last, 0, s - (i << index_shift))
    t = lut.astype(np.int64)
    v = t[i] + _rescale((t[np.minimum(i + 1, last)] - t[i]) * f, np.asarray(1), np.asarray(index_shift))
    return _saturate(_rescale(xi * v, np.asarray(multiplier), np.asarray(shift)), dtype)


def lrn_table(size: int, alpha: float, beta: float, bias: float, x_scale: float) -> tuple[np.ndarray, int, int]:
    """(int16 table, index shift, fraction bits) of ``(bias + alpha / size * s * x_scale**2) ** -beta`` over the
    window sums ``s`` an int8 input can reach (up to ``size * 128**2``): entry ``k`` holds the value at
    ``s = k << index_shift`` times ``2**bits``, with the most fraction bits that keep every entry in 16 bits."""
    index_shift = max(0, int(np.ceil(np.log2(size * 128 ** 2 / (LRN_LUT_ENTRIES - 1)))))
    s = np.arange(LRN_LUT_ENTRIES, dtype=np.float64) * 2.0 ** index_shift
    f = (bias + alpha / size * s * x_scale ** 2) ** -beta
    bits = int(np.floor(np.log2(LRN_LUT_MAX / f.max())))
    return np.clip(np.rint(f * 2.0 ** bits), -LRN_LUT_MAX, LRN_LUT_MAX).astype(np.int16), index_shift, bits


# ------------------------------------------------------------------ transposed convolution


def _conv_transpose_requant_infer(node: Node) -> list[TensorType]:
    quant_range(node.attrs["dtype"], f"node {node.name!r} (conv_transpose_requant)")
    for i in (0, 1):
        if not in_type(node, i).dtype.is_int:
            raise IRError(f"node {node.name!r} (conv_transpose_requant): operand {i} is {in_type(node, i)}, "
                          f"expected an integer type")
    return [t.with_dtype(node.attrs["dtype"]) for t in _conv_transpose_infer(node)]


@defop("conv_transpose_requant", family="quant", infer=_conv_transpose_requant_infer,
       flops=lambda n: 2 * int(np.prod([d for d in (in_type(n, 0).shape or ()) if isinstance(d, int)]))
       * int(np.prod([d for d in (in_type(n, 1).shape or ())[1:] if isinstance(d, int)])),
       attrs={"strides": REQUIRED, "pads": REQUIRED, "dilations": REQUIRED, "group": 1, "output_padding": REQUIRED,
              "zero_point": 0, "relu": False, "dtype": "int8"})
def conv_transpose_requant(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, multiplier: np.ndarray,
                           shift: np.ndarray, *, strides: tuple[int, ...], pads: tuple[int, ...],
                           dilations: tuple[int, ...], group: int, output_padding: tuple[int, ...], zero_point: int,
                           relu: bool, dtype: str) -> np.ndarray:
    """Transposed convolution of integers (weight ``[C, M/group, *K]``) summed exactly in int32, then the
    per-output-channel ``requantize``, as one node (the accumulators never reach memory)."""
    acc = _exact_int32(conv_transpose(x.astype(np.float64), w.astype(np.float64), None, strides=strides, pads=pads,
                                      dilations=dilations, group=group, output_padding=output_padding))
    return requantize(acc, bias, multiplier, shift, axis=1, zero_point=zero_point, relu=relu, dtype=dtype)
