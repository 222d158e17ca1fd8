"""Signal, image-geometry, detection and text ops: DFT, STFT, the spectral windows, MelWeightMatrix,
GridSample, AffineGrid, Col2Im, CenterCropPad, MaxUnpool, DeformConv, RoiAlign, NonMaxSuppression,
TfIdfVectorizer; and CumProd, BitCast, Det.

Most map onto the IR's ``extra`` ops (dft, grid_sample, roi_align, non_max_suppression,
tfidf_vectorizer, cumprod, bitcast, det). Col2Im (a transposed convolution), CenterCropPad, AffineGrid,
MaxUnpool and DeformConv (one grid_sample and a matmul) decompose into existing IR ops; the windows and
the mel filter bank are constants computed from their import-time parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hetflow.frontends.context import Ctx
from hetflow.frontends.onnx.importer import onnx_dtype
from hetflow.frontends.onnx.mappings.composite import _dim, _narrow, _rank
from hetflow.frontends.onnx.mappings.nn import Ints
from hetflow.frontends.onnx.table import onnx_op
from hetflow.ir import DType, Value

# ------------------------------------------------------------------ sampling, detection, scans, bits

_GRID_MODES_V16 = {"bilinear": "linear", "bicubic": "cubic", "nearest": "nearest"}


def _grid_sample(ctx: Ctx, x: Value, grid: Value, mode: str, padding_mode: str, align_corners: int) -> Value:
    if mode not in ("nearest", "linear", "cubic"):
        raise ctx.fail(f"mode must be nearest, linear or cubic, got {mode!r}")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ctx.fail(f"padding_mode must be zeros, border or reflection, got {padding_mode!r}")
    return ctx.emit("grid_sample", [x, grid], mode=mode, padding_mode=padding_mode, align_corners=bool(align_corners))


@onnx_op(since=16)
def GridSample_v16(ctx: Ctx, x: Value, grid: Value, *, align_corners: int = 0, mode: str = "bilinear",
                   padding_mode: str = "zeros") -> Value:
    if x.type.rank not in (None, 4):
        raise ctx.fail(f"before opset 20 the input must be 4-D, got {x.type}")
    if mode not in _GRID_MODES_V16:
        raise ctx.fail(f"mode must be bilinear, bicubic or nearest, got {mode!r}")
    return _grid_sample(ctx, x, grid, _GRID_MODES_V16[mode], padding_mode, align_corners)


@onnx_op(since=20)
def GridSample_v20(ctx: Ctx, x: Value, grid: Value, *, align_corners: int = 0, mode: str = "linear",
                   padding_mode: str = "zeros") -> Value:
    return _grid_sample(ctx, x, grid, mode, padding_mode, align_corners)


@onnx_op(since=26)
def CumProd(ctx: Ctx, x: Value, axis: Value, *, exclusive: int = 0, reverse: int = 0) -> Value:
    axes = ctx.ints_of(axis, "the axis") or []
    if len(axes) != 1:
        raise ctx.fail(f"axis must hold one value, got {axes}")
    return ctx.emit("cumprod", [x], axis=axes[0], exclusive=bool(exclusive), reverse=bool(reverse))


@onnx_op(since=26)
def BitCast(ctx: Ctx, x: Value, *, to: int) -> Value:
    target = onnx_dtype(to, ctx.where)
    if DType.string in (target, x.type.dtype) or target.itemsize != x.type.dtype.itemsize:
        raise ctx.fail(f"cannot reinterpret {x.type.dtype} as {target}: the widths must match and neither be string")
    return ctx.emit("bitcast", [x], to=target.value)


def _first(ctx: Ctx, v: Value | None, what: str) -> float | None:
    """The single value of an optional scalar input (None when absent or empty)."""
    array = ctx.value_of(v, what)
    if array is None or array.size == 0:
        return None
    return array.reshape(-1)[0].item()


@onnx_op(since=10)
def NonMaxSuppression(ctx: Ctx, boxes: Value, scores: Value, max_output_boxes_per_class: Value | None = None,
                      iou_threshold: Value | None = None, score_threshold: Value | None = None, *,
                      center_point_box: int = 0) -> Value:
    limit = _first(ctx, max_output_boxes_per_class, "max_output_boxes_per_class")
    iou = _first(ctx, iou_threshold, "iou_threshold")
    return ctx.emit("non_max_suppression", [boxes, scores], max_output_boxes_per_class=max(int(limit or 0), 0),
                    iou_threshold=float(iou or 0.0), score_threshold=_first(ctx, score_threshold, "score_threshold"),
                    center_point_box=int(center_point_box))


@onnx_op(since=11)
def Det(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("det", [x])


# ------------------------------------------------------------------ signal processing


def _dft(ctx: Ctx, x: Value, dft_length: Value | None, axis: int, inverse: int, onesided: int) -> Value:
    rank = _rank(ctx, x, "DFT")
    length = _dim(ctx, x, axis, "DFT") if -rank <= axis < rank else 0
    given = ctx.ints_of(dft_length, "dft_length")
    n = given[0] if given else (2 * (length - 1) if inverse and onesided else length)
    if n < 1:
        raise ctx.fail(f"the DFT length must be positive, got {n}")
    return ctx.emit("dft", [x], axis=axis, length=n, inverse=bool(inverse), onesided=bool(onesided))


@onnx_op(since=17)
def DFT_v17(ctx: Ctx, x: Value, dft_length: Value | None = None, *, axis: int = 1, inverse: int = 0,
            onesided: int = 0) -> Value:
    return _dft(ctx, x, dft_length, axis, inverse, onesided)


@onnx_op(since=20)
def DFT_v20(ctx: Ctx, x: Value, dft_length: Value | None = None, axis: Value | None = None, *, inverse: int = 0,
            onesided: int = 0) -> Value:
    given = ctx.ints_of(axis, "the axis")
    return _dft(ctx, x, dft_length, given[0] if given else -2, inverse, onesided)


@onnx_op(since=17)
def STFT(ctx: Ctx, signal: Value, frame_step: Value, window: Value | None = None, frame_length: Value | None = None,
         *, onesided: int = 1) -> Value:
    if _rank(ctx, signal, "STFT") != 3:
        raise ctx.fail(f"signal must be [batch, length, 1 or 2], got {signal.type}")
    length = _dim(ctx, signal, 1, "STFT")
    step = (ctx.ints_of(frame_step, "frame_step") or [0])[0]
    given = ctx.ints_of(frame_length, "frame_length")
    size = given[0] if given else (_dim(ctx, window, 0, "STFT") if window is not None else length)
    if step < 1 or not 0 < size <= length:
        raise ctx.fail(f"frame_step {step} and frame_length {size} do not frame a signal of length {length}")
    frames = 1 + (length - size) // step
    starts = np.arange(frames, dtype=np.int64)[:, None] * step + np.arange(size, dtype=np.int64)[None, :]
    framed = ctx.emit("gather", [signal, ctx.const(starts, name="frame_samples")], axis=1)  # [B, frames, size, c]
    if window is not None:
        framed = ctx.emit("mul", [framed, ctx.emit("reshape", [window], shape=(size, 1), allowzero=False)])
    return ctx.emit("dft", [framed], axis=2, length=size, inverse=False, onesided=bool(onesided))


def _window_const(ctx: Ctx, size: Value, periodic: int, output_datatype: int,
                  terms: tuple[float, ...]) -> Value:
    """sum_i terms[i] * cos(2 pi i n / N) for n < size, N = size (periodic) or size - 1 (symmetric)."""
    n = (ctx.ints_of(size, "the window size") or [0])[0]
    denom = n if periodic else n - 1
    k = np.arange(n, dtype=np.float64)
    w = sum(c * np.cos(2 * np.pi * i * k / denom) for i, c in enumerate(terms)) if denom else np.ones(n)
    return ctx.const(np.asarray(w).astype(onnx_dtype(output_datatype, ctx.where).numpy), name=ctx.node_name)


@onnx_op(since=17)
def HannWindow(ctx: Ctx, size: Value, *, output_datatype: int = 1, periodic: int = 1) -> Value:
    return _window_const(ctx, size, periodic, output_datatype, (0.5, -0.5))


@onnx_op(since=17)
def HammingWindow(ctx: Ctx, size: Value, *, output_datatype: int = 1, periodic: int = 1) -> Value:
    return _window_const(ctx, size, periodic, output_datatype, (25 / 46, -21 / 46))


@onnx_op(since=17)
def BlackmanWindow(ctx: Ctx, size: Value, *, output_datatype: int = 1, periodic: int = 1) -> Value:
    return _window_const(ctx, size, periodic, output_datatype, (0.42, -0.5, 0.08))


@onnx_op(since=17)
def MelWeightMatrix(ctx: Ctx, num_mel_bins: Value, dft_length: Value, sample_rate: Value, lower_edge_hertz: Value,
                    upper_edge_hertz: Value, *, output_datatype: int = 1) -> Value:
    """Triangular filters on the mel scale, [dft_length / 2 + 1, num_mel_bins], as the ONNX definition."""
    mels = int(ctx.value_of(num_mel_bins, "num_mel_bins").reshape(-1)[0])  # type: ignore[union-attr]
    n = int(ctx.value_of(dft_length, "dft_length").reshape(-1)[0])  # type: ignore[union-attr]
    rate = ctx.value_of(sample_rate, "sample_rate").reshape(-1)[0]  # type: ignore[union-attr]
    lo, hi = (ctx.value_of(v, "the edge frequencies").reshape(-1)[0]  # type: ignore[union-attr]
              for v in (lower_edge_hertz, upper_edge_hertz))
    lo_mel, hi_mel = (2595 * np.log1p(f / 700) / np.log(10) for f in (lo, hi))
    points = np.arange(mels + 2) * ((hi_mel - lo_mel) / (mels + 2)) + lo_mel
    edges = (((n + 1) * (700 * np.expm1(points / 2595 * np.log(10)))) // rate).astype(int)
    out = np.zeros((n // 2 + 1, mels))
    j = np.arange(n // 2 + 1)[:, None]
    left, centre, right = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    rising = (j >= left) & (j <= centre) & (centre > left)
    falling = (j >= centre) & (j < right)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(rising, (j - left) / (centre - left), out)
        out = np.where(falling, (right - j) / (right - centre), out)
    out = np.where((j == centre) & (centre == left), 1.0, out)
    return ctx.const(out.astype(onnx_dtype(output_datatype, ctx.where).numpy), name=ctx.node_name)


# ------------------------------------------------------------------ image geometry


@onnx_op(since=18)
def Col2Im(ctx: Ctx, x: Value, image_shape: Value, block_shape: Value, *, dilations: Ints = None, pads: Ints = None,
           strides: Ints = None) -> Value:
    """Sum the sliding blocks of x[N, C * prod(block), L] back into an image: a transposed convolution,
    one group per channel, whose kernel routes block position k of a column to kernel tap k."""
    image = ctx.ints_of(image_shape, "image_shape") or []
    block = ctx.ints_of(block_shape, "block_shape") or []
    r = len(image)
    if r < 1 or len(block) != r:
        raise ctx.fail(f"image_shape {image} and block_shape {block} must be non-empty and of one length")
    dil = tuple(dilations) if dilations else (1,) * r
    st = tuple(strides) if strides else (1,) * r
    pd = tuple(pads) if pads else (0,) * (2 * r)
    k = int(np.prod(block))
    cols = _dim(ctx, x, 1, "Col2Im")
    if cols % k:
        raise ctx.fail(f"dim 1 of the input ({cols}) is not a multiple of the block size {k}")
    blocks = [(image[i] + pd[i] + pd[r + i] - (block[i] - 1) * dil[i] - 1) // st[i] + 1 for i in range(r)]
    if min(blocks) < 1 or int(np.prod(blocks)) != _dim(ctx, x, 2, "Col2Im"):
        raise ctx.fail(f"{_dim(ctx, x, 2, 'Col2Im')} columns do not tile image {image} with blocks {block}")
    natural = [(blocks[i] - 1) * st[i] + (block[i] - 1) * dil[i] + 1 for i in range(r)]
    channels = cols // k
    route = np.tile(np.eye(k).reshape((k, 1, *block)), (channels,) + (1,) * (r + 1))
    return ctx.emit("conv_transpose", [ctx.emit("reshape", [x], shape=(0, 0, *blocks), allowzero=False),
                                       ctx.const(route.astype(x.type.dtype.numpy), name="col2im_route")],
                    strides=st, pads=pd, dilations=dil, group=channels,
                    output_padding=tuple(image[i] + pd[i] + pd[r + i] - natural[i] for i in range(r)))


@onnx_op(since=18)
def CenterCropPad(ctx: Ctx, x: Value, shape: Value, *, axes: Ints = None) -> Value:
    rank = _rank(ctx, x, "CenterCropPad")
    sizes = ctx.ints_of(shape, "the target shape") or []
    picked = [a % rank for a in axes] if axes else list(range(rank))
    if len(sizes) != len(picked):
        raise ctx.fail(f"shape has {len(sizes)} entries for {len(picked)} axes")
    starts, ends, cut, pads = [], [], [], [0] * (2 * rank)
    for a, size in zip(picked, sizes):
        dim = _dim(ctx, x, a, "CenterCropPad")
        if size < dim:  # crop, the odd element off the end
            begin = (dim - size) // 2
            starts.append(begin)
            ends.append(begin + size)
            cut.append(a)
        elif size > dim:  # pad with zeros, the odd element at the end
            pads[a] = (size - dim) // 2
            pads[rank + a] = size - dim - pads[a]
    y = ctx.emit("slice", [x], starts=tuple(starts), ends=tuple(ends), axes=tuple(cut),
                 steps=(1,) * len(cut)) if cut else x
    return ctx.emit("pad", [y], pads=tuple(pads), mode="constant", value=0) if any(pads) else \
        ctx.emit("identity", [y])


@onnx_op(since=20)
def AffineGrid(ctx: Ctx, theta: Value, size: Value, *, align_corners: int = 0) -> Value:
    """grid[n, *out] = theta[n] @ (x, y[, z], 1) over the normalized output coordinates."""
    dims = ctx.ints_of(size, "size") or []
    spatial = dims[2:]
    if len(spatial) not in (2, 3):
        raise ctx.fail(f"size must be [N, C, H, W] or [N, C, D, H, W], got {dims}")
    axes = []
    for n in spatial:
        i = np.arange(n, dtype=np.float64)
        axes.append(-1 + 2 * i / (n - 1) if align_corners and n > 1 else
                    np.zeros(n) if align_corners else -1 + (2 * i + 1) / n)
    mesh = np.meshgrid(*axes, indexing="ij")  # (z,) y, x over the output positions
    homogeneous = np.stack([*mesh[::-1], np.ones_like(mesh[0])], axis=-1).reshape(-1, len(spatial) + 1)
    wide = ctx.emit("cast", [theta], to="float64") if theta.type.dtype is not DType.float64 else theta
    points = ctx.const(homogeneous.T.copy(), name="affine_points")  # [r + 1, P]
    grid = ctx.emit("transpose", [ctx.emit("matmul", [wide, points])], perm=(0, 2, 1))  # [N, P, r]
    grid = ctx.emit("reshape", [grid], shape=(0, *spatial, len(spatial)), allowzero=False)
    return _narrow(ctx, grid, theta.type.dtype)


def _max_unpool(ctx: Ctx, x: Value, indices: Value, output_shape: Value | None, kernel_shape: Sequence[int],
                pads: Ints, strides: Ints) -> Value:
    """Scatter x to the flat positions its MaxPool took it from, in a zero tensor of the unpooled shape;
    a larger output_shape pads that with zeros at the end of each dim, as the ONNX reference does."""
    rank = _rank(ctx, x, "MaxUnpool")
    r = len(kernel_shape)
    if rank != r + 2:
        raise ctx.fail(f"kernel_shape {list(kernel_shape)} does not fit input {x.type}")
    _window_attrs(ctx, r, strides=strides, pads=pads)
    st = tuple(strides) if strides else (1,) * r
    pd = tuple(pads) if pads else (0,) * (2 * r)
    spatial = [(_dim(ctx, x, 2 + i, "MaxUnpool") - 1) * st[i] - pd[i] - pd[r + i] + kernel_shape[i] for i in range(r)]
    inferred = (_dim(ctx, x, 0, "MaxUnpool"), _dim(ctx, x, 1, "MaxUnpool"), *spatial)
    out = tuple(ctx.ints_of(output_shape, "output_shape") or inferred)
    if len(out) != rank or any(o < i for o, i in zip(out, inferred)) or min(inferred) < 1:
        raise ctx.fail(f"output_shape {list(out)} must have rank {rank} and hold the unpooled {list(inferred)}")
    # the zeros are made when the graph runs: a constant would hold them in the graph (and a damaged shape in
    # the file would allocate them at import)
    size = ctx.const(np.array([math.prod(inferred)], np.int64), name="unpool_size")
    zeros = ctx.emit("constant_of_shape", [size], value=0, dtype=x.type.dtype.value)
    flat = ctx.emit("scatter_elements", [zeros, ctx.emit("reshape", [indices], shape=(-1,), allowzero=False),
                                         ctx.emit("reshape", [x], shape=(-1,), allowzero=False)],
                    axis=0, reduction="none")
    y = ctx.emit("reshape", [flat], shape=inferred, allowzero=True)
    if out == inferred:
        return y
    return ctx.emit("pad", [y], pads=(0,) * rank + tuple(o - i for o, i in zip(out, inferred)), mode="constant",
                    value=0)


@onnx_op(since=9)
def MaxUnpool_v9(ctx: Ctx, x: Value, indices: Value, output_shape: Value | None = None, *,
                 kernel_shape: Sequence[int], pads: Ints = None, strides: Ints = None) -> Value:
    return _max_unpool(ctx, x, indices, output_shape, kernel_shape, pads, strides)


def _roi_align(ctx: Ctx, x: Value, rois: Value, batch_indices: Value, mode: str, output_height: int,
               output_width: int, sampling_ratio: int, spatial_scale: float, half_pixel: bool) -> Value:
    if mode not in ("avg", "max"):
        raise ctx.fail(f"mode must be avg or max, got {mode!r}")
    return ctx.emit("roi_align", [x, rois, batch_indices], mode=mode, output_height=int(output_height),
                    output_width=int(output_width), sampling_ratio=int(sampling_ratio),
                    spatial_scale=float(spatial_scale), half_pixel=half_pixel)


@onnx_op(since=10)
def RoiAlign_v10(ctx: Ctx, x: Value, rois: Value, batch_indices: Value, *, mode: str = "avg", output_height: int = 1,
                 output_width: int = 1, sampling_ratio: int = 0, spatial_scale: float = 1.0) -> Value:
    return _roi_align(ctx, x, rois, batch_indices, mode, output_height, output_width, sampling_ratio, spatial_scale,
                      False)


@onnx_op(since=16)
def RoiAlign_v16(ctx: Ctx, x: Value, rois: Value, batch_indices: Value, *,
                 coordinate_transformation_mode: str = "half_pixel", mode: str = "avg", output_height: int = 1,
                 output_width: int = 1, sampling_ratio: int = 0, spatial_scale: float = 1.0) -> Value:
    if coordinate_transformation_mode not in ("half_pixel", "output_half_pixel"):
        raise ctx.fail(f"coordinate_transformation_mode must be half_pixel or output_half_pixel, "
                       f"got {coordinate_transformation_mode!r}")
    return _roi_align(ctx, x, rois, batch_indices, mode, output_height, output_width, sampling_ratio, spatial_scale,
                      coordinate_transformation_mode == "half_pixel")


def _window_attrs(ctx: Ctx, spatial: int, **attrs: Ints) -> None:
    """Window attributes given with one entry per spatial dim (pads: two)."""
    for key, value in attrs.items():
        want = 2 * spatial if key == "pads" else spatial
        if value and len(value) != want:
            raise ctx.fail(f"attribute '{key}' has {len(value)} entries, expected {want} for {spatial} spatial dim(s)")


@onnx_op(since=19)
def DeformConv(ctx: Ctx, x: Value, w: Value, offset: Value, b: Value | None = None, mask: Value | None = None, *,
               dilations: Ints = None, group: int = 1, kernel_shape: Ints = None, offset_group: int = 1,
               pads: Ints = None, strides: Ints = None) -> Value:
    """2-D deformable convolution: every kernel tap reads x bilinearly (zero outside) at its offset
    position, one grid_sample for all taps; the masked columns then meet the weights in one matmul."""
    if _rank(ctx, x, "DeformConv") != 4:
        raise ctx.fail(f"only 2-D deformable convolution is supported, input is {x.type}")
    n, c, height, width = (_dim(ctx, x, i, "DeformConv") for i in range(4))
    oc, kh, kw = _dim(ctx, w, 0, "DeformConv"), _dim(ctx, w, 2, "DeformConv"), _dim(ctx, w, 3, "DeformConv")
    if kernel_shape and tuple(kernel_shape) != (kh, kw):
        raise ctx.fail(f"kernel_shape {list(kernel_shape)} disagrees with weight {w.type}")
    oh, ow = _dim(ctx, offset, 2, "DeformConv"), _dim(ctx, offset, 3, "DeformConv")
    g, k = int(offset_group), kh * kw
    if g < 1 or group < 1:
        raise ctx.fail(f"group ({group}) and offset_group ({g}) must be positive")
    if c % g or c % group or oc % group or _dim(ctx, offset, 1, "DeformConv") != 2 * g * k:
        raise ctx.fail(f"channels {c}, offset_group {g}, group {group} and offset {offset.type} do not fit")
    _window_attrs(ctx, 2, strides=strides, dilations=dilations, pads=pads)
    (sh, sw), (dh, dw) = tuple(strides or (1, 1)), tuple(dilations or (1, 1))
    pad_h, pad_w = tuple(pads or (0, 0, 0, 0))[:2]
    dtype = x.type.dtype
    # Absolute sampling positions: the tap's place in the undeformed window plus its learned offset.
    base_h = (-pad_h + sh * np.arange(oh))[None, :, None] + dh * np.arange(kh).repeat(kw)[:, None, None]
    base_w = (-pad_w + sw * np.arange(ow))[None, None, :] + dw * np.tile(np.arange(kw), kh)[:, None, None]
    off = ctx.emit("reshape", [offset], shape=(n, g, k, 2, oh, ow), allowzero=False)
    coords = []
    for axis, base, size in ((1, base_w, width), (0, base_h, height)):  # grid_sample wants (x, y)
        pos = ctx.emit("add", [ctx.emit("reshape", [ctx.emit("slice", [off], starts=(axis,), ends=(axis + 1,), axes=(3,),
                                                                steps=(1,))], shape=(n, g, k, oh, ow, 1), allowzero=False),
                               ctx.const(base[..., None].astype(dtype.numpy), name="tap_pos")])
        # Normalize for align_corners=1: -1 is pixel 0, 1 is pixel size - 1.
        coords.append(ctx.emit("sub", [ctx.emit("mul", [pos, ctx.const(np.asarray(2 / max(size - 1, 1), dtype.numpy))]),
                                       ctx.const(np.asarray(1, dtype.numpy))]))
    grid = ctx.emit("reshape", [ctx.emit("concat", coords, axis=-1)], shape=(n * g, k * oh, ow, 2), allowzero=False)
    per_group = ctx.emit("reshape", [x], shape=(n * g, c // g, height, width), allowzero=False)
    cols = ctx.emit("grid_sample", [per_group, grid], mode="linear", padding_mode="zeros", align_corners=True)
    cols = ctx.emit("reshape", [cols], shape=(n, g, c // g, k, oh, ow), allowzero=False)
    if mask is not None:
        cols = ctx.emit("mul", [cols, ctx.emit("reshape", [mask], shape=(n, g, 1, k, oh, ow), allowzero=False)])
    cols = ctx.emit("reshape", [cols], shape=(n, group, (c // group) * k, oh * ow), allowzero=False)
    weights = ctx.emit("reshape", [w], shape=(group, oc // group, (c // group) * k), allowzero=False)
    y = ctx.emit("reshape", [ctx.emit("matmul", [weights, cols])], shape=(n, oc, oh, ow), allowzero=False)
    return y if b is None else ctx.emit("add", [y, ctx.emit("reshape", [b], shape=(oc, 1, 1), allowzero=False)])


@onnx_op(since=9)
def TfIdfVectorizer(ctx: Ctx, x: Value, *, max_gram_length: int, max_skip_count: int, min_gram_length: int, mode: str,
                    ngram_counts: Sequence[int], ngram_indexes: Sequence[int], pool_int64s: Ints = None,
                    pool_strings: Sequence[str] | None = None, weights: Sequence[float] | None = None) -> Value:
    pool = list(pool_int64s) if pool_int64s is not None else list(pool_strings or [])
    if mode not in ("TF", "IDF", "TFIDF"):
        raise ctx.fail(f"mode must be TF, IDF or TFIDF, got {mode!r}")
    # ngram_counts[i] is where the (i + 1)-grams start in the pool.
    bounds = list(ngram_counts) + [len(pool)]
    grams = tuple(tuple(pool[j:j + n]) for n, (lo, hi) in enumerate(zip(bounds, bounds[1:]), start=1)
                  for j in range(lo, hi, n))
    if len(grams) != len(ngram_indexes):
        raise ctx.fail(f"the pool holds {len(grams)} n-grams but ngram_indexes has {len(ngram_indexes)} entries")
    return ctx.emit("tfidf_vectorizer", [x], ngrams=grams, indexes=tuple(int(i) for i in ngram_indexes),
                    output_size=max(ngram_indexes) + 1 if ngram_indexes else 0, min_gram_length=int(min_gram_length),
                    max_gram_length=int(max_gram_length), max_skip_count=int(max_skip_count), mode=mode,
                    weights=tuple(float(w) for w in weights) if weights is not None else None)
