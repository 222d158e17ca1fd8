"""ONNX neural-network ops -> IR nn ops.

ONNX ``auto_pad`` is resolved here into explicit pads (the IR has none), so SAME padding needs
the input's spatial dims at import time. Gemm, Dropout, the global pools and
MeanVarianceNormalization become compositions of existing IR ops.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hetflow.frontends.context import Ctx
from hetflow.frontends.onnx.table import onnx_op
from hetflow.ir import Value
from hetflow.ir.types import Dim

Ints = Sequence[int] | None


@onnx_op()
def MatMul(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("matmul", [a, b])


@onnx_op(since=12)
def Einsum(ctx: Ctx, *inputs: Value, equation: str) -> Value:
    return ctx.emit("einsum", list(inputs), equation=equation)


# ------------------------------------------------------------------ helpers


def _rank(ctx: Ctx, x: Value, what: str) -> int:
    if x.type.shape is None:
        raise ctx.fail(f"{what} needs the rank of input %{x.name}, which is unknown")
    return len(x.type.shape)


def _static_spatial(ctx: Ctx, x: Value, what: str) -> list[int]:
    shape = x.type.shape
    if shape is None or not all(isinstance(d, int) for d in shape[2:]):
        raise ctx.fail(f"{what} needs static spatial dims, input %{x.name} is {x.type}")
    return [int(d) for d in shape[2:]]  # type: ignore[arg-type]


def _ints(ctx: Ctx, name: str, given: Ints, default: int, n: int) -> tuple[int, ...]:
    value = tuple(int(v) for v in given) if given else (default,) * n
    if len(value) != n:
        raise ctx.fail(f"attribute '{name}' has {len(value)} entries, expected {n}")
    return value


def _window(ctx: Ctx, x: Value, kernel: Sequence[int], strides: Ints, pads: Ints, dilations: Ints,
            auto_pad: str) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(strides, pads, dilations) with auto_pad resolved into explicit begin/end pads."""
    r = len(kernel)
    st = _ints(ctx, "strides", strides, 1, r)
    dil = _ints(ctx, "dilations", dilations, 1, r)
    for name, values, least in (("kernel_shape", kernel, 1), ("strides", st, 1), ("dilations", dil, 1)):
        if any(v < least for v in values):
            raise ctx.fail(f"attribute '{name}' {list(values)} has an entry below {least}")
    if x.type.shape is not None and len(x.type.shape) != r + 2:
        raise ctx.fail(f"a {r}-D window does not fit input %{x.name} of rank {len(x.type.shape)} ({x.type})")
    if auto_pad in ("NOTSET", ""):
        pad = _ints(ctx, "pads", pads, 0, 2 * r)
        if any(p < 0 for p in pad):
            raise ctx.fail(f"attribute 'pads' {list(pad)} has a negative entry")
        return st, pad, dil
    if auto_pad == "VALID":
        return st, (0,) * (2 * r), dil
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise ctx.fail(f"auto_pad {auto_pad!r} is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
    begins, ends = [], []
    for i, n in enumerate(_static_spatial(ctx, x, f"auto_pad={auto_pad}")):
        out = -(-n // st[i])
        total = max(0, (out - 1) * st[i] + (kernel[i] - 1) * dil[i] + 1 - n)
        small, big = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else big)
        ends.append(big if auto_pad == "SAME_UPPER" else small)
    return st, tuple(begins + ends), dil


def _kernel_of(ctx: Ctx, w: Value, kernel_shape: Ints) -> tuple[int, ...]:
    shape = w.type.shape
    if shape is None or not all(isinstance(d, int) for d in shape[2:]):
        if kernel_shape:
            return tuple(kernel_shape)
        raise ctx.fail(f"the kernel shape of weight %{w.name} ({w.type}) is unknown and kernel_shape is not given")
    kernel = tuple(int(d) for d in shape[2:])  # type: ignore[arg-type]
    if kernel_shape and tuple(kernel_shape) != kernel:
        raise ctx.fail(f"kernel_shape {list(kernel_shape)} disagrees with weight %{w.name} ({w.type})")
    return kernel


def _present(*inputs: Value | None) -> list[Value | None]:
    """Inputs with trailing absent optionals dropped."""
    items = list(inputs)
    while items and items[-1] is None:
        items.pop()
    return items


def _scalar(ctx: Ctx, value: float, like: Value) -> Value:
    return ctx.const(value, dtype=like.type.dtype.numpy, name="scalar")


# ------------------------------------------------------------------ convolution


@onnx_op()
def Conv(ctx: Ctx, x: Value, w: Value, b: Value | None = None, *, auto_pad: str = "NOTSET", dilations: Ints = None,
         group: int = 1, kernel_shape: Ints = None, pads: Ints = None, strides: Ints = None) -> Value:
    kernel = _kernel_of(ctx, w, kernel_shape)
    st, pd, dil = _window(ctx, x, kernel, strides, pads, dilations, auto_pad)
    return ctx.emit("conv", _present(x, w, b), strides=st, pads=pd, dilations=dil, group=int(group))


def _transpose_pads(ctx: Ctx, x: Value, kernel: Sequence[int], st: Sequence[int], dil: Sequence[int],
                    out_pad: Sequence[int], output_shape: Sequence[int], auto_pad: str) -> tuple[int, ...]:
    """Pads that make a transposed convolution produce ``output_shape``, split as the ONNX spec says.

    SAME_UPPER puts the odd unit at the end, NOTSET and SAME_LOWER at the start; a negative total
    (an output larger than the full result) becomes negative pads, i.e. zeros added. onnxruntime
    splits odd totals the other way round and treats SAME without output_shape as VALID.
    """
    spatial = _static_spatial(ctx, x, "output_shape / auto_pad")
    if not len(spatial) == len(kernel) == len(output_shape) == len(out_pad):
        raise ctx.fail(f"output_shape {list(output_shape)}, output_padding {list(out_pad)} and input {x.type} "
                       f"do not all have {len(kernel)} spatial dims")
    begins, ends = [], []
    for i, n in enumerate(spatial):
        total = st[i] * (n - 1) + out_pad[i] + (kernel[i] - 1) * dil[i] + 1 - output_shape[i]
        small, big = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else big)
        ends.append(big if auto_pad == "SAME_UPPER" else small)
    return tuple(begins + ends)


@onnx_op()
def ConvTranspose(ctx: Ctx, x: Value, w: Value, b: Value | None = None, *, auto_pad: str = "NOTSET",
                  dilations: Ints = None, group: int = 1, kernel_shape: Ints = None, output_padding: Ints = None,
                  output_shape: Ints = None, pads: Ints = None, strides: Ints = None) -> Value:
    kernel = _kernel_of(ctx, w, kernel_shape)
    r = len(kernel)
    st = _ints(ctx, "strides", strides, 1, r)
    dil = _ints(ctx, "dilations", dilations, 1, r)
    out_pad = _ints(ctx, "output_padding", output_padding, 0, r)
    if output_shape:
        pd = _transpose_pads(ctx, x, kernel, st, dil, out_pad, tuple(output_shape)[-r:], auto_pad)
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = [n * s for n, s in zip(_static_spatial(ctx, x, f"auto_pad={auto_pad}"), st)]
        pd = _transpose_pads(ctx, x, kernel, st, dil, out_pad, target, auto_pad)
    elif auto_pad == "VALID":
        pd = (0,) * (2 * r)
    elif auto_pad in ("NOTSET", ""):
        pd = _ints(ctx, "pads", pads, 0, 2 * r)
    else:
        raise ctx.fail(f"auto_pad {auto_pad!r} is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
    return ctx.emit("conv_transpose", _present(x, w, b), strides=st, pads=pd, dilations=dil, group=int(group),
                    output_padding=out_pad)


# ------------------------------------------------------------------ pooling


def _max_pool(ctx: Ctx, x: Value, kernel_shape: Sequence[int], auto_pad: str, pads: Ints, strides: Ints,
              dilations: Ints = None, ceil_mode: int = 0, storage_order: int = 0) -> Value | list[Value]:
    kernel = tuple(int(k) for k in kernel_shape)
    st, pd, dil = _window(ctx, x, kernel, strides, pads, dilations, auto_pad)
    with_indices = ctx.wants_output(1)
    return ctx.emit("max_pool", [x], kernel=kernel, strides=st, pads=pd, dilations=dil, ceil_mode=bool(ceil_mode),
                    with_indices=with_indices, storage_order=int(storage_order))


@onnx_op(since=1)
def MaxPool_v1(ctx: Ctx, x: Value, *, auto_pad: str = "NOTSET", kernel_shape: Sequence[int], pads: Ints = None,
               strides: Ints = None) -> Value | list[Value]:
    return _max_pool(ctx, x, kernel_shape, auto_pad, pads, strides)


@onnx_op(since=8)
def MaxPool_v8(ctx: Ctx, x: Value, *, auto_pad: str = "NOTSET", kernel_shape: Sequence[int], pads: Ints = None,
               storage_order: int = 0, strides: Ints = None) -> Value | list[Value]:
    return _max_pool(ctx, x, kernel_shape, auto_pad, pads, strides, storage_order=storage_order)


@onnx_op(since=10)
def MaxPool_v10(ctx: Ctx, x: Value, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, dilations: Ints = None,
                kernel_shape: Sequence[int], pads: Ints = None, storage_order: int = 0,
                strides: Ints = None) -> Value | list[Value]:
    return _max_pool(ctx, x, kernel_shape, auto_pad, pads, strides, dilations, ceil_mode, storage_order)


def _avg_pool(ctx: Ctx, x: Value, kernel_shape: Sequence[int], auto_pad: str, pads: Ints, strides: Ints,
              count_include_pad: int = 0, ceil_mode: int = 0, dilations: Ints = None) -> Value:
    kernel = tuple(int(k) for k in kernel_shape)
    st, pd, dil = _window(ctx, x, kernel, strides, pads, dilations, auto_pad)
    return ctx.emit("avg_pool", [x], kernel=kernel, strides=st, pads=pd, ceil_mode=bool(ceil_mode),
                    count_include_pad=bool(count_include_pad), dilations=None if all(d == 1 for d in dil) else dil)


@onnx_op(since=1)
def AveragePool_v1(ctx: Ctx, x: Value, *, auto_pad: str = "NOTSET", kernel_shape: Sequence[int], pads: Ints = None,
                   strides: Ints = None) -> Value:
    return _avg_pool(ctx, x, kernel_shape, auto_pad, pads, strides)


@onnx_op(since=7)
def AveragePool_v7(ctx: Ctx, x: Value, *, auto_pad: str = "NOTSET", count_include_pad: int = 0,
                   kernel_shape: Sequence[int], pads: Ints = None, strides: Ints = None) -> Value:
    return _avg_pool(ctx, x, kernel_shape, auto_pad, pads, strides, count_include_pad)


@onnx_op(since=10)
def AveragePool_v10(ctx: Ctx, x: Value, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                    kernel_shape: Sequence[int], pads: Ints = None, strides: Ints = None) -> Value:
    return _avg_pool(ctx, x, kernel_shape, auto_pad, pads, strides, count_include_pad, ceil_mode)


@onnx_op(since=19)
def AveragePool_v19(ctx: Ctx, x: Value, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                    dilations: Ints = None, kernel_shape: Sequence[int], pads: Ints = None,
                    strides: Ints = None) -> Value:
    return _avg_pool(ctx, x, kernel_shape, auto_pad, pads, strides, count_include_pad, ceil_mode, dilations)


def _lp_pool(ctx: Ctx, x: Value, kernel_shape: Sequence[int], auto_pad: str, pads: Ints, strides: Ints, p: float,
             ceil_mode: int = 0, dilations: Ints = None) -> Value:
    kernel = tuple(int(k) for k in kernel_shape)
    st, pd, dil = _window(ctx, x, kernel, strides, pads, dilations, auto_pad)
    return ctx.emit("lp_pool", [x], kernel=kernel, strides=st, pads=pd, p=p, ceil_mode=bool(ceil_mode),
                    dilations=None if all(d == 1 for d in dil) else dil)


@onnx_op(since=1)
def LpPool_v1(ctx: Ctx, x: Value, *, auto_pad: str = "NOTSET", kernel_shape: Sequence[int], p: float = 2.0,
              pads: Ints = None, strides: Ints = None) -> Value:
    return _lp_pool(ctx, x, kernel_shape, auto_pad, pads, strides, float(p))


@onnx_op(since=2)
def LpPool_v2(ctx: Ctx, x: Value, *, auto_pad: str = "NOTSET", kernel_shape: Sequence[int], p: int = 2,
              pads: Ints = None, strides: Ints = None) -> Value:
    return _lp_pool(ctx, x, kernel_shape, auto_pad, pads, strides, int(p))


@onnx_op(since=18)
def LpPool_v18(ctx: Ctx, x: Value, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, dilations: Ints = None,
               kernel_shape: Sequence[int], p: int = 2, pads: Ints = None, strides: Ints = None) -> Value:
    return _lp_pool(ctx, x, kernel_shape, auto_pad, pads, strides, int(p), ceil_mode, dilations)


def _spatial_axes(ctx: Ctx, x: Value) -> tuple[int, ...]:
    rank = _rank(ctx, x, ctx.op_type)
    if rank < 3:
        raise ctx.fail(f"input %{x.name} ({x.type}) has no spatial dims")
    return tuple(range(2, rank))


@onnx_op()
def GlobalAveragePool(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("reduce_mean", [x], axes=_spatial_axes(ctx, x), keepdims=True)


@onnx_op()
def GlobalMaxPool(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("reduce_max", [x], axes=_spatial_axes(ctx, x), keepdims=True)


def _global_lp_pool(ctx: Ctx, x: Value, p: float) -> Value:
    axes = _spatial_axes(ctx, x)
    if p == 2:
        return ctx.emit("sqrt", [ctx.emit("reduce_sum", [ctx.emit("mul", [x, x])], axes=axes, keepdims=True)])
    powered = ctx.emit("pow", [ctx.emit("abs", [x]), _scalar(ctx, p, x)])
    total = ctx.emit("reduce_sum", [powered], axes=axes, keepdims=True)
    return ctx.emit("pow", [total, _scalar(ctx, 1.0 / p, x)])


@onnx_op(since=1)
def GlobalLpPool_v1(ctx: Ctx, x: Value, *, p: float = 2.0) -> Value:
    return _global_lp_pool(ctx, x, float(p))


@onnx_op(since=2)
def GlobalLpPool_v2(ctx: Ctx, x: Value, *, p: int = 2) -> Value:
    return _global_lp_pool(ctx, x, int(p))


# ------------------------------------------------------------------ normalization


def _batch_norm(ctx: Ctx, x: Value, scale: Value, bias: Value, mean: Value, var: Value, epsilon: float,
                spatial: int = 1) -> Value:
    if not spatial:
        raise ctx.fail("spatial=0 (per-activation statistics) is not supported")
    if any(ctx.wants_output(i) for i in range(1, 5)):
        raise ctx.fail("before opset 14 the mean and variance outputs exist only in training; ask for Y alone")
    return ctx.emit("batch_norm", [x, scale, bias, mean, var], epsilon=float(epsilon))


@onnx_op(since=1)
def BatchNormalization_v1(ctx: Ctx, x: Value, scale: Value, bias: Value, mean: Value, var: Value, *,
                          consumed_inputs: Ints = None, epsilon: float = 1e-5, is_test: int = 0,
                          momentum: float = 0.9, spatial: int = 1) -> Value:
    return _batch_norm(ctx, x, scale, bias, mean, var, epsilon, spatial=spatial)


@onnx_op(since=6)
def BatchNormalization_v6(ctx: Ctx, x: Value, scale: Value, bias: Value, mean: Value, var: Value, *,
                          epsilon: float = 1e-5, is_test: int = 0, momentum: float = 0.9, spatial: int = 1) -> Value:
    return _batch_norm(ctx, x, scale, bias, mean, var, epsilon, spatial=spatial)


@onnx_op(since=7)
def BatchNormalization_v7(ctx: Ctx, x: Value, scale: Value, bias: Value, mean: Value, var: Value, *,
                          epsilon: float = 1e-5, momentum: float = 0.9, spatial: int = 1) -> Value:
    return _batch_norm(ctx, x, scale, bias, mean, var, epsilon, spatial=spatial)


@onnx_op(since=9)
def BatchNormalization_v9(ctx: Ctx, x: Value, scale: Value, bias: Value, mean: Value, var: Value, *,
                          epsilon: float = 1e-5, momentum: float = 0.9) -> Value:
    return _batch_norm(ctx, x, scale, bias, mean, var, epsilon)


def _batch_norm_training(ctx: Ctx, x: Value, scale: Value, bias: Value, mean: Value, var: Value, epsilon: float,
                         momentum: float) -> list[Value]:
    """Training mode: normalize by the batch's own statistics (biased variance) and return the running
    mean and variance updated with ``momentum``; deterministic, so it composes from existing ops."""
    rank = _rank(ctx, x, "training-mode BatchNormalization")
    axes = (0,) + tuple(range(2, rank))
    batch_mean = ctx.emit("reduce_mean", [x], axes=axes, keepdims=False)
    per_channel = ctx.emit("reshape", [batch_mean], shape=(1, -1) + (1,) * (rank - 2), allowzero=False)
    centered = ctx.emit("sub", [x, per_channel])
    batch_var = ctx.emit("reduce_mean", [ctx.emit("mul", [centered, centered])], axes=axes, keepdims=False)
    y = ctx.emit("batch_norm", [x, scale, bias, batch_mean, batch_var], epsilon=float(epsilon))

    def running(old: Value, batch: Value) -> Value:
        kept = ctx.emit("mul", [old, _scalar(ctx, momentum, old)])
        return ctx.emit("add", [kept, ctx.emit("mul", [batch, _scalar(ctx, 1.0 - momentum, batch)])])

    return [y, running(mean, batch_mean), running(var, batch_var)]


@onnx_op(since=14)
def BatchNormalization_v14(ctx: Ctx, x: Value, scale: Value, bias: Value, mean: Value, var: Value, *,
                           epsilon: float = 1e-5, momentum: float = 0.9, training_mode: int = 0) -> Value | list[Value]:
    if training_mode:
        return _batch_norm_training(ctx, x, scale, bias, mean, var, epsilon, momentum)
    return _batch_norm(ctx, x, scale, bias, mean, var, epsilon)


@onnx_op(since=1)
def InstanceNormalization_v1(ctx: Ctx, x: Value, scale: Value, bias: Value, *, consumed_inputs: Ints = None,
                             epsilon: float = 1e-5) -> Value:
    return ctx.emit("instance_norm", [x, scale, bias], epsilon=float(epsilon))


@onnx_op(since=6)
def InstanceNormalization_v6(ctx: Ctx, x: Value, scale: Value, bias: Value, *, epsilon: float = 1e-5) -> Value:
    return ctx.emit("instance_norm", [x, scale, bias], epsilon=float(epsilon))


@onnx_op(since=17)
def LayerNormalization(ctx: Ctx, x: Value, scale: Value, bias: Value | None = None, *, axis: int = -1,
                       epsilon: float = 1e-5, stash_type: int = 1) -> Value | list[Value]:
    if stash_type != 1:
        raise ctx.fail(f"stash_type={stash_type} is not supported; hetflow keeps statistics in float32")
    n_out = 3 if ctx.wants_output(1) or ctx.wants_output(2) else 1
    return ctx.emit("layer_norm", _present(x, scale, bias), num_outputs=n_out if n_out > 1 else None,
                    axis=int(axis), epsilon=float(epsilon))


@onnx_op(since=18)
def GroupNormalization_v18(ctx: Ctx, x: Value, scale: Value, bias: Value, *, epsilon: float = 1e-5,
                           num_groups: int) -> Value:
    # v18 scales per group; the IR (like v21) scales per channel, so repeat each group's value.
    shape = x.type.shape
    if shape is None or len(shape) < 2 or not isinstance(shape[1], int):
        raise ctx.fail(f"per-group scale needs the channel count of %{x.name} ({x.type})")
    per_group = shape[1] // num_groups
    ones = ctx.const(np.ones((1, per_group)), dtype=x.type.dtype.numpy, name="ones")

    def per_channel(v: Value) -> Value:
        grid = ctx.emit("mul", [ctx.emit("reshape", [v], shape=(num_groups, 1), allowzero=False), ones])
        return ctx.emit("reshape", [grid], shape=(num_groups * per_group,), allowzero=False)

    return ctx.emit("group_norm", [x, per_channel(scale), per_channel(bias)], num_groups=int(num_groups),
                    epsilon=float(epsilon))


@onnx_op(since=21)
def GroupNormalization_v21(ctx: Ctx, x: Value, scale: Value, bias: Value, *, epsilon: float = 1e-5,
                           num_groups: int, stash_type: int = 1) -> Value:
    if stash_type != 1:
        raise ctx.fail(f"stash_type={stash_type} is not supported; hetflow keeps statistics in float32")
    return ctx.emit("group_norm", [x, scale, bias], num_groups=int(num_groups), epsilon=float(epsilon))


@onnx_op()
def LRN(ctx: Ctx, x: Value, *, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0, size: int) -> Value:
    return ctx.emit("lrn", [x], size=int(size), alpha=float(alpha), beta=float(beta), bias=float(bias))


def _mvn(ctx: Ctx, x: Value, axes: Sequence[int]) -> Value:
    # The ONNX function body: (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9); the variance is taken
    # from the centred values, which is the same quantity without the cancellation.
    axes = tuple(int(a) for a in axes)
    mean = ctx.emit("reduce_mean", [x], axes=axes, keepdims=True)
    centered = ctx.emit("sub", [x, mean])
    var = ctx.emit("reduce_mean", [ctx.emit("mul", [centered, centered])], axes=axes, keepdims=True)
    std = ctx.emit("add", [ctx.emit("sqrt", [var]), _scalar(ctx, 1e-9, x)])
    return ctx.emit("div", [centered, std])


@onnx_op(since=9)
def MeanVarianceNormalization(ctx: Ctx, x: Value, *, axes: Sequence[int] = (0, 2, 3)) -> Value:
    return _mvn(ctx, x, axes)


# ------------------------------------------------------------------ softmax family


def _flattened(ctx: Ctx, op: str, x: Value, axis: int) -> Value:
    """Opset < 13 semantics: the op acts on x flattened to 2-D at ``axis``, not along one axis."""
    shape = x.type.shape
    if shape is None:
        raise ctx.fail(f"{ctx.op_type} before opset 13 needs the rank of input %{x.name}")
    rank = len(shape)
    if not -rank <= axis < max(rank, 1):
        raise ctx.fail(f"axis {axis} is out of range for rank {rank}")
    axis %= max(rank, 1)
    if axis >= rank - 1:
        return ctx.emit(op, [x], axis=-1)
    trailing: tuple[Dim, ...] = shape[axis:]
    if not all(isinstance(d, int) for d in trailing):
        raise ctx.fail(f"{ctx.op_type} before opset 13 needs static dims from axis {axis} on, input is {x.type}")
    flat = ctx.emit("reshape", [x], shape=(0,) * axis + (-1,), allowzero=False)
    y = ctx.emit(op, [flat], axis=-1)
    return ctx.emit("reshape", [y], shape=(0,) * axis + tuple(trailing), allowzero=False)  # type: ignore[arg-type]


@onnx_op(since=1)
def Softmax_v1(ctx: Ctx, x: Value, *, axis: int = 1) -> Value:
    return _flattened(ctx, "softmax", x, axis)


@onnx_op(since=13)
def Softmax_v13(ctx: Ctx, x: Value, *, axis: int = -1) -> Value:
    return ctx.emit("softmax", [x], axis=int(axis))


@onnx_op(since=1)
def LogSoftmax_v1(ctx: Ctx, x: Value, *, axis: int = 1) -> Value:
    return _flattened(ctx, "log_softmax", x, axis)


@onnx_op(since=13)
def LogSoftmax_v13(ctx: Ctx, x: Value, *, axis: int = -1) -> Value:
    return ctx.emit("log_softmax", [x], axis=int(axis))


@onnx_op(since=1)
def Hardmax_v1(ctx: Ctx, x: Value, *, axis: int = 1) -> Value:
    return _flattened(ctx, "hardmax", x, axis)


@onnx_op(since=13)
def Hardmax_v13(ctx: Ctx, x: Value, *, axis: int = -1) -> Value:
    return ctx.emit("hardmax", [x], axis=int(axis))


# ------------------------------------------------------------------ Gemm, Dropout


def _gemm(ctx: Ctx, a: Value, b: Value, c: Value | None, alpha: float, beta: float, trans_a: int,
          trans_b: int) -> Value:
    # alpha scales B, not the product, so that it folds into a constant weight at import.
    if trans_a:
        a = ctx.emit("transpose", [a], perm=(1, 0))
    if trans_b:
        b = ctx.emit("transpose", [b], perm=(1, 0))
    if alpha != 1.0:
        b = ctx.emit("mul", [b, _scalar(ctx, alpha, b)])
    y = ctx.emit("matmul", [a, b])
    if c is None or beta == 0.0:
        return y
    if beta != 1.0:
        c = ctx.emit("mul", [c, _scalar(ctx, beta, c)])
    return ctx.emit("add", [y, c])


@onnx_op(since=1)
def Gemm_v1(ctx: Ctx, a: Value, b: Value, c: Value, *, alpha: float = 1.0, beta: float = 1.0, broadcast: int = 0,
            transA: int = 0, transB: int = 0) -> Value:
    return _gemm(ctx, a, b, c, alpha, beta, transA, transB)


@onnx_op(since=7)
def Gemm_v7(ctx: Ctx, a: Value, b: Value, c: Value, *, alpha: float = 1.0, beta: float = 1.0, transA: int = 0,
            transB: int = 0) -> Value:
    return _gemm(ctx, a, b, c, alpha, beta, transA, transB)


@onnx_op(since=11)
def Gemm_v11(ctx: Ctx, a: Value, b: Value, c: Value | None = None, *, alpha: float = 1.0, beta: float = 1.0,
             transA: int = 0, transB: int = 0) -> Value:
    return _gemm(ctx, a, b, c, alpha, beta, transA, transB)


def _dropout(ctx: Ctx, x: Value, bool_mask: bool = True) -> Value | list[Value]:
    """Inference dropout: the input itself, and an all-kept mask when the node asks for one.

    The mask is bool from opset 10 on and has the input's type before (1.0 for kept).
    """
    y = ctx.emit("identity", [x])  # a node of its own, so that naming its output never renames x
    if not ctx.wants_output(1):
        return y
    if x.type.is_static:  # folded to a constant as it is emitted when small; a large one is made when it runs
        dims = ctx.const(np.array(x.type.shape, np.int64).reshape(-1), name="mask_shape")
        mask = ctx.emit("constant_of_shape", [dims], value=True if bool_mask else 1.0,
                        dtype="bool" if bool_mask else x.type.dtype.value)
    else:  # shape known only at run time: a test that is true for every element, NaN included
        nan = ctx.emit("isnan", [x])
        mask = ctx.emit("logical_or", [nan, ctx.emit("logical_not", [nan])])
        if not bool_mask:
            mask = ctx.emit("cast", [mask], to=x.type.dtype.value)
    return [y, mask]


@onnx_op(since=1)
def Dropout_v1(ctx: Ctx, x: Value, *, consumed_inputs: Ints = None, is_test: int = 0,
               ratio: float = 0.5) -> Value | list[Value]:
    return _dropout(ctx, x, bool_mask=False)


@onnx_op(since=6)
def Dropout_v6(ctx: Ctx, x: Value, *, is_test: int = 0, ratio: float = 0.5) -> Value | list[Value]:
    return _dropout(ctx, x, bool_mask=False)


@onnx_op(since=7)
def Dropout_v7(ctx: Ctx, x: Value, *, ratio: float = 0.5) -> Value | list[Value]:
    return _dropout(ctx, x, bool_mask=False)


@onnx_op(since=10)
def Dropout_v10(ctx: Ctx, x: Value, *, ratio: float = 0.5) -> Value | list[Value]:
    return _dropout(ctx, x)


@onnx_op(since=12)
def Dropout_v12(ctx: Ctx, x: Value, ratio: Value | None = None, training_mode: Value | None = None, *,
                seed: int | None = None) -> Value | list[Value]:
    training = ctx.value_of(training_mode, "Dropout's training_mode")
    rate = ctx.value_of(ratio, "Dropout's ratio") if training is not None and bool(training) else None
    if rate is not None and float(rate) != 0.0:
        raise ctx.fail("training-mode Dropout (random masking) is not supported; hetflow imports for inference")
    return _dropout(ctx, x)
