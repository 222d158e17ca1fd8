"""ATen neural-network ops -> IR nn ops (convolution, normalization, pooling, softmax, matmul family)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hetflow.frontends.torch.context import TorchCtx
from hetflow.frontends.torch.table import aten_op
from hetflow.ir import Value

Ints = Sequence[int] | int


def _per_dim(ctx: TorchCtx, name: str, value: Ints, n: int) -> list[int]:
    """An int-or-list argument as ``n`` ints (PyTorch repeats a single value across spatial dims)."""
    values = [int(value)] * n if isinstance(value, int) else [int(v) for v in value]
    if len(values) == 1:
        values *= n
    if len(values) != n:
        raise ctx.fail(f"{name} has {len(values)} entries for {n} spatial dims")
    return values


def _spatial_rank(ctx: TorchCtx, x: Value, batched: int = 2) -> int:
    if x.type.shape is None:
        raise ctx.fail(f"the rank of input %{x.name} is unknown")
    return len(x.type.shape) - batched


def _ones(ctx: TorchCtx, n: int, like: Value, fill: float = 1.0) -> Value:
    return ctx.const(np.full(n, fill, dtype=like.type.dtype.numpy), name="ones" if fill else "zeros")


@aten_op()
def convolution(ctx: TorchCtx, input: Value, weight: Value, bias: Value | None, stride: Ints, padding: Ints,  # noqa: A002
                dilation: Ints, transposed: bool, output_padding: Ints, groups: int) -> Value:
    r = _spatial_rank(ctx, weight)
    st, dil = _per_dim(ctx, "stride", stride, r), _per_dim(ctx, "dilation", dilation, r)
    pads = _per_dim(ctx, "padding", padding, r) * 2
    inputs = [input, weight] + ([bias] if bias is not None else [])
    if transposed:
        return ctx.emit("conv_transpose", inputs, strides=st, pads=pads, dilations=dil, group=int(groups),
                        output_padding=_per_dim(ctx, "output_padding", output_padding, r))
    return ctx.emit("conv", inputs, strides=st, pads=pads, dilations=dil, group=int(groups))


def _channels(ctx: TorchCtx, x: Value) -> int:
    shape = x.type.shape
    if shape is None or len(shape) < 2 or not isinstance(shape[1], int):
        raise ctx.fail(f"the channel dim of input %{x.name} ({x.type}) must be static")
    return int(shape[1])


@aten_op()
def _native_batch_norm_legit_no_training(ctx: TorchCtx, input: Value, weight: Value | None, bias: Value | None,  # noqa: A002
                                         running_mean: Value, running_var: Value, momentum: float,
                                         eps: float) -> list[Value | None]:
    c = _channels(ctx, input)
    scale = weight if weight is not None else _ones(ctx, c, input)
    shift = bias if bias is not None else _ones(ctx, c, input, 0.0)
    out = ctx.emit("batch_norm", [input, scale, shift, running_mean, running_var], epsilon=float(eps))
    return [out, None, None]  # the saved mean and rstd are training outputs; nothing at inference uses them


@aten_op()
def native_layer_norm(ctx: TorchCtx, input: Value, normalized_shape: Sequence[int], weight: Value | None,  # noqa: A002
                      bias: Value | None, eps: float) -> list[Value | None]:
    rank = _spatial_rank(ctx, input, 0)
    size = int(np.prod(ctx.static(normalized_shape, "normalized_shape")))
    scale = weight if weight is not None else _ones(ctx, size, input)
    inputs = [input, ctx.reshape(scale, list(normalized_shape))] + ([bias] if bias is not None else [])
    out = ctx.emit("layer_norm", inputs, axis=rank - len(normalized_shape), epsilon=float(eps))
    return [out, None, None]


@aten_op()
def native_group_norm(ctx: TorchCtx, input: Value, weight: Value | None, bias: Value | None, N: int, C: int,  # noqa: A002
                      HxW: int, group: int, eps: float) -> list[Value | None]:
    c = _channels(ctx, input)
    scale = weight if weight is not None else _ones(ctx, c, input)
    shift = bias if bias is not None else _ones(ctx, c, input, 0.0)
    out = ctx.emit("group_norm", [input, scale, shift], num_groups=int(group), epsilon=float(eps))
    return [out, None, None]


@aten_op()
def _softmax(ctx: TorchCtx, self: Value, dim: int, half_to_float: bool) -> Value:
    return ctx.emit("softmax", [ctx.tensor(self, ctx.result.dtype)], axis=int(dim))


@aten_op()
def _log_softmax(ctx: TorchCtx, self: Value, dim: int, half_to_float: bool) -> Value:
    return ctx.emit("log_softmax", [ctx.tensor(self, ctx.result.dtype)], axis=int(dim))


def _pool_window(ctx: TorchCtx, x: Value, kernel_size: Ints, stride: Ints, padding: Ints) -> tuple[list[int], ...]:
    r = 2 if isinstance(kernel_size, int) else len(kernel_size)
    kernel = _per_dim(ctx, "kernel_size", kernel_size, r)
    strides = _per_dim(ctx, "stride", stride, r) if stride not in ([], (), None) else kernel
    return kernel, strides, _per_dim(ctx, "padding", padding, r) * 2


@aten_op()
def max_pool2d_with_indices(ctx: TorchCtx, self: Value, kernel_size: Ints, stride: Ints = (), padding: Ints = (0, 0),
                            dilation: Ints = (1, 1), ceil_mode: bool = False) -> list[Value | None]:
    if ctx.wants_output(1):
        raise ctx.fail("the indices output of max_pool2d is not supported (only the pooled values)")
    kernel, strides, pads = _pool_window(ctx, self, kernel_size, stride, padding)
    out = ctx.emit("max_pool", [self], kernel=kernel, strides=strides, pads=pads,
                   dilations=_per_dim(ctx, "dilation", dilation, len(kernel)), ceil_mode=bool(ceil_mode))
    return [out, None]


@aten_op()
def avg_pool2d(ctx: TorchCtx, self: Value, kernel_size: Ints, stride: Ints = (), padding: Ints = (0, 0),
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> Value:
    if divisor_override is not None:
        raise ctx.fail("avg_pool2d with divisor_override is not supported")
    kernel, strides, pads = _pool_window(ctx, self, kernel_size, stride, padding)
    return ctx.emit("avg_pool", [self], kernel=kernel, strides=strides, pads=pads, ceil_mode=bool(ceil_mode),
                    count_include_pad=bool(count_include_pad))


@aten_op()
def _adaptive_avg_pool2d(ctx: TorchCtx, self: Value, output_size: Sequence[int]) -> Value:
    spatial = ctx.static(list((self.type.shape or ())[2:]), "input spatial size")
    out = _per_dim(ctx, "output_size", output_size, len(spatial))
    if out == [1] * len(spatial):
        return ctx.emit("reduce_mean", [self], axes=tuple(range(2, 2 + len(spatial))), keepdims=True)
    if any(n % o for n, o in zip(spatial, out)):
        raise ctx.fail(f"adaptive pooling of {spatial} to {out} (not a whole window per output) is not supported")
    kernel = [n // o for n, o in zip(spatial, out)]
    return ctx.emit("avg_pool", [self], kernel=kernel, strides=kernel, pads=[0] * 2 * len(kernel))


@aten_op()
def mm(ctx: TorchCtx, self: Value, mat2: Value) -> Value:
    return ctx.emit("matmul", [self, mat2])


@aten_op()
def bmm(ctx: TorchCtx, self: Value, mat2: Value) -> Value:
    return ctx.emit("matmul", [self, mat2])


@aten_op()
def addmm(ctx: TorchCtx, self: Value, mat1: Value, mat2: Value, *, beta: float = 1, alpha: float = 1) -> Value:
    product = ctx.emit("matmul", [mat1, mat2])
    if alpha != 1:
        product = ctx.emit("mul", [product, ctx.tensor(alpha, product.type.dtype)])
    if beta == 0:
        return product
    bias = self if beta == 1 else ctx.emit("mul", [self, ctx.tensor(beta, self.type.dtype)])
    return ctx.emit("add", [product, bias])


@aten_op()
def embedding(ctx: TorchCtx, weight: Value, indices: Value, padding_idx: int = -1, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Value:
    return ctx.emit("gather", [weight, indices], axis=0)


@aten_op()
def constant_pad_nd(ctx: TorchCtx, self: Value, pad: Sequence[int], value: float = 0) -> Value:
    rank = _spatial_rank(ctx, self, 0)
    pad = ctx.static(pad, "pad")
    begins, ends = [0] * rank, [0] * rank
    for i in range(len(pad) // 2):  # pairs run from the last dim backwards
        begins[rank - 1 - i], ends[rank - 1 - i] = pad[2 * i], pad[2 * i + 1]
    return ctx.emit("pad", [self], pads=tuple(begins + ends), mode="constant", value=value)
