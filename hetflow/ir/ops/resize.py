"""ONNX Resize as one IR op: per-axis output sizes and scales (static, or given to the op when it runs), every
coordinate transformation mode, and the tap tables code generators (cpu_c) write out."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from hetflow.ir.errors import InputError
from hetflow.ir.graph import Node
from hetflow.ir.ops._util import const_of, in_type
from hetflow.ir.ops.shape import _new_dim
from hetflow.ir.registry import REQUIRED, IRError, defop
from hetflow.ir.types import MAX_DIM, Dim, TensorType, dim_floordiv, dim_mul


def _resize_extent(attrs: dict, axis: int, rank: int) -> float:
    """The fraction of input ``axis`` the output spans: the roi box's width for tf_crop_and_resize, else 1."""
    roi = attrs.get("roi")
    return float(roi[axis + rank] - roi[axis]) if roi else 1.0


def scaled_size(n: int, scale: float, extent: float = 1.0) -> int:
    """ONNX Resize's output size from scales: floor(input size * roi extent * scale)."""
    return math.floor(n * extent * scale)


def _scaled_dim(node: Node, axis: int, d: Dim, scale: float, extent: float) -> Dim:
    """Output dim ``axis`` of a resize whose size follows from its scale: exact when the scale is a small fraction
    p/q (floor(d * p / q) == (d * p) // q), a fresh symbol otherwise."""
    if isinstance(d, int):
        return scaled_size(d, scale, extent)
    factor = scale * extent
    ratio = Fraction(factor)
    if factor <= 0 or ratio.denominator > 1024 or ratio.numerator > 1024:
        return _new_dim(node, axis)
    scaled = dim_floordiv(dim_mul(d, ratio.numerator), ratio.denominator)
    return _new_dim(node, axis) if scaled is None else scaled


RUN_SIZE, RUN_SCALE = 0.0, -1.0
"""Entries of a resize's ``scales`` (with size -1) saying the axis takes, at run time, its size (RUN_SIZE: the
scale is then size / input size) or its scale (RUN_SCALE) from the optional second input."""


def _run_time_scales_infer(node: Node, x: TensorType) -> list[TensorType]:
    """A resize whose scales the graph computes at run time (a float second input): folded into ``scales`` once it
    is constant (a specialization folded the computation), else each such axis's size is known when it runs."""
    sizes, scales = node.attrs["sizes"], node.attrs["scales"]
    r = len(sizes)
    t = in_type(node, 1)
    length = t.shape[0] if t.shape is not None and len(t.shape) == 1 else None
    if t.dtype.numpy.kind != "f" or t.rank not in (None, 1) or (isinstance(length, int) and length != r):
        raise IRError(f"node {node.name!r} (resize): the run-time scales must be {r} floats, got {t}")
    given = const_of(node, 1)
    if given is None:
        shape = x.shape or (None,) * r
        return [x.with_shape(tuple(_new_dim(node, a) if sc == RUN_SCALE else d
                                   for a, (d, sc) in enumerate(zip(shape, scales))))]
    node.attrs["scales"] = tuple(run_scale(given, a, node.name) if sc == RUN_SCALE else sc for a, sc in enumerate(scales))
    del node.inputs[1]
    return _resize_infer(node)


def run_scale(values: np.ndarray, axis: int, where: str) -> float:
    """Entry ``axis`` of a resize's run-time scales, checked: a positive finite float."""
    flat = np.asarray(values).reshape(-1)
    scale = float(flat[axis]) if axis < flat.size and flat.dtype.kind == "f" else float("nan")
    if not (math.isfinite(scale) and scale > 0):
        raise InputError(f"resize {where!r}: the scales computed at run time must be positive finite floats, one "
                         f"per axis; got {flat.tolist()[:8]}")
    return scale


def _resize_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    sizes, scales = node.attrs["sizes"], node.attrs["scales"]
    if len(scales) != len(sizes) or (x.shape is not None and len(sizes) != len(x.shape)):
        raise IRError(f"node {node.name!r} (resize): {len(sizes)} sizes and {len(scales)} scales for rank "
                      f"{len(x.shape) if x.shape is not None else len(sizes)}")
    if len(node.inputs) > 1 and RUN_SCALE in scales:
        return _run_time_scales_infer(node, x)
    given = const_of(node, 1) if len(node.inputs) > 1 else None
    wrong_size = given is not None and given.size != len(sizes)
    if len(node.inputs) > 1 and (in_type(node, 1).dtype.numpy.kind not in "iu" or wrong_size):
        raise IRError(f"node {node.name!r} (resize): the run-time sizes must be {len(sizes)} integers")
    r = len(sizes)
    shape = x.shape or (None,) * r
    if given is not None and all(isinstance(d, int) and d > 0 for a, d in enumerate(shape) if scales[a] == 0):
        # The run-time sizes are known now (a specialization folded them): the plain static form, one input.
        fixed = [(int(given.reshape(-1)[a]), int(given.reshape(-1)[a]) / d) if sc == 0 else (s, sc)
                 for a, (d, s, sc) in enumerate(zip(shape, sizes, scales))]
        node.attrs["sizes"], node.attrs["scales"] = tuple(f[0] for f in fixed), tuple(f[1] for f in fixed)
        del node.inputs[1]
        return _resize_infer(node)

    def dim(a: int, d: Dim | None, s: int, scale: float) -> Dim:
        if s != -1:
            return int(s)
        if scale == 0:  # from the sizes input at run time
            return int(given.reshape(-1)[a]) if given is not None else _new_dim(node, a)
        return _new_dim(node, a) if d is None else _scaled_dim(node, a, d, scale, _resize_extent(node.attrs, a, r))

    return [x.with_shape(tuple(dim(a, d, s, sc) for a, (d, s, sc) in enumerate(zip(shape, sizes, scales))))]


def _source_coords(ctm: str, out_len: int, in_len: int, scale: float, roi: tuple[float, float]) -> np.ndarray:
    """Where each output index samples the input, per ONNX coordinate_transformation_mode.

    Computed in float32, as onnxruntime does, so that a coordinate landing on .5 rounds as it does there.
    """
    f = np.float32
    y = np.arange(out_len, dtype=f)
    s = f(scale)
    if ctm in ("half_pixel", "pytorch_half_pixel"):
        if ctm == "pytorch_half_pixel" and out_len <= 1:
            return np.zeros(out_len, f)
        return (y + f(0.5)) / s - f(0.5)
    if ctm == "half_pixel_symmetric":
        offset = f(in_len / 2) * (f(1) - f(out_len) / (s * f(in_len)))
        # onnxruntime adds the shift in double precision here, rounding once at the end.
        return (np.float64(offset) + (y.astype(np.float64) + 0.5) / np.float64(s) - 0.5).astype(f)
    if ctm == "align_corners":
        # As the ONNX reference (and so the conformance data): divide by the fractional target width
        # scale * in_len in double precision; it is out_len when the scale came from sizes.
        # onnxruntime divides by out_len - 1 instead.
        width = scale * in_len
        return np.zeros(out_len) if width == 1 else np.arange(out_len) * (in_len - 1) / (width - 1)
    if ctm == "asymmetric":
        return y / s
    if ctm == "tf_half_pixel_for_nn":  # Resize-11 to -18 only
        return (y + f(0.5)) / s
    if ctm == "tf_crop_and_resize":
        lo, hi = f(roi[0]), f(roi[1])
        if out_len <= 1:
            return np.full(out_len, f(0.5) * (lo + hi) * f(in_len - 1), f)
        return lo * f(in_len - 1) + y * (hi - lo) * f(in_len - 1) / f(out_len - 1)
    raise IRError(f"resize coordinate_transformation_mode {ctm!r} is not one of the ONNX modes")


def _nearest_index(x: np.ndarray, nearest_mode: str) -> np.ndarray:
    lo = np.floor(x)
    frac = x - lo
    if nearest_mode == "round_prefer_floor":
        return np.where(frac <= 0.5, lo, lo + 1)
    if nearest_mode == "round_prefer_ceil":
        return np.where(frac < 0.5, lo, lo + 1)
    if nearest_mode == "floor":
        return lo
    if nearest_mode == "ceil":
        return np.ceil(x)
    raise IRError(f"resize nearest_mode {nearest_mode!r} is not one of round_prefer_floor, round_prefer_ceil, floor, ceil")


def _cubic(t: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel with parameter ``a``."""
    t = np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def _tap_weights(ratio: np.ndarray, mode: str, scale: float, a: float, antialias: bool) -> np.ndarray:
    """Weights (out, taps) of the taps left of and right of each source point, ``ratio`` its offset in (0, 1]."""
    if not antialias or scale >= 1:
        offsets = np.arange(-1, 3) if mode == "cubic" else np.arange(0, 2)
        s = 1.0
    else:
        # Downsampling with antialias widens the kernel by 1/scale (ONNX Resize-18).
        s = scale
        start = math.floor((-2 if mode == "cubic" else -1) / s) + 1
        offsets = np.arange(start, 2 - start)
    t = (offsets[None, :] - ratio[:, None]) * s
    w = _cubic(t, a) if mode == "cubic" else np.clip(1 - np.abs(t), 0, 1)
    return w / w.sum(axis=1, keepdims=True) if antialias and scale < 1 else w


def resize_taps(in_len: int, out_len: int, scale: float, roi: tuple[float, float],
                attrs: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Along one axis, per output position: the input indices it reads ``[out, taps]`` (clipped into the axis),
    their weights, and where tf_crop_and_resize falls outside the input (None for the other modes).

    The reference applies these below; code generators (cpu_c) write them into tables."""
    src = _source_coords(attrs["coordinate_transformation_mode"], out_len, in_len, scale, roi).astype(np.float64)
    if attrs["mode"] == "nearest":
        idx = np.clip(_nearest_index(src, attrs["nearest_mode"]), 0, in_len - 1).astype(np.intp)
        taps, w = idx[:, None], np.ones((out_len, 1))
    elif attrs["mode"] in ("linear", "cubic"):
        base = np.floor(src)
        ratio = np.where(src == base, 1.0, src - base)  # an exact source point is the right tap of its left pair
        w = _tap_weights(ratio, attrs["mode"], scale, attrs["cubic_coeff_a"], attrs["antialias"])
        n = w.shape[1]
        first = np.where(src == base, base - 1, base) - (n // 2 - 1)
        taps = first[:, None].astype(np.int64) + np.arange(n)[None, :]
        if attrs["exclude_outside"]:
            w = np.where((taps < 0) | (taps >= in_len), 0.0, w)
            total = w.sum(axis=1, keepdims=True)
            w = w / np.where(total == 0, 1.0, total)
        taps = np.clip(taps, 0, in_len - 1).astype(np.intp)
    else:
        raise IRError(f"resize mode must be nearest, linear or cubic; got {attrs['mode']!r}")
    outside = (src < 0) | (src > in_len - 1) if attrs["coordinate_transformation_mode"] == "tf_crop_and_resize" else None
    return taps, w, outside


def resize_axes(shape: tuple[int, ...], attrs: dict, run_sizes: np.ndarray | None = None
                ) -> list[tuple[int, int, float, tuple[float, float]]]:
    """(axis, output size, scale, roi box) of every axis the resize changes, in order (``run_sizes``: the optional
    second input of a resize whose sizes, or scales, are given at run time)."""
    r = len(shape)
    roi = attrs["roi"] or (0.0,) * r + (1.0,) * r
    axes = []
    for axis, (size, scale) in enumerate(zip(attrs["sizes"], attrs["scales"])):
        box = (roi[axis], roi[axis + r])
        if size == -1 and scale == RUN_SIZE:  # ONNX's sizes given at run time: the scale is output / input
            size = int(np.asarray(run_sizes).reshape(-1)[axis])
            scale = size / shape[axis] if shape[axis] else 1.0
        elif size == -1 and scale == RUN_SCALE:  # ONNX's scales computed at run time
            scale = run_scale(np.asarray(run_sizes), axis, "resize")
            if scaled_size(shape[axis], scale, box[1] - box[0]) > MAX_DIM:
                raise InputError(f"resize: scale {scale} computed at run time makes axis {axis} of {list(shape)} "
                                 f"larger than any tensor ({MAX_DIM})")
        size = scaled_size(shape[axis], float(scale), box[1] - box[0]) if size == -1 else int(size)
        if size == shape[axis] and math.isclose(scale, 1.0) and box == (0.0, 1.0):
            continue
        axes.append((axis, size, float(scale), box))
    return axes


def _resize_axis(x: np.ndarray, axis: int, out_len: int, scale: float, roi: tuple[float, float],
                 attrs: dict) -> np.ndarray:
    taps, w, outside = resize_taps(x.shape[axis], out_len, scale, roi, attrs)
    bshape = (1,) * axis + (out_len,) + (1,) * (x.ndim - axis - 1)
    if attrs["mode"] == "nearest":
        y = np.take(x, taps[:, 0], axis=axis)
    else:
        y = sum(np.take(x, taps[:, t], axis=axis) * w[:, t].reshape(bshape) for t in range(w.shape[1]))
    if outside is not None:
        y = np.where(outside.reshape(bshape), attrs["extrapolation_value"], y)
    return y


@defop("resize", family="shape", infer=_resize_infer,
       attrs={"sizes": REQUIRED, "scales": REQUIRED, "roi": None, "mode": "nearest",
              "coordinate_transformation_mode": "half_pixel", "nearest_mode": "round_prefer_floor",
              "cubic_coeff_a": -0.75, "exclude_outside": False, "extrapolation_value": 0.0, "antialias": False})
def resize(x: np.ndarray, run_sizes: np.ndarray | None = None, **attrs: object) -> np.ndarray:
    """ONNX Resize (opset 19 semantics), axis by axis. ``sizes`` is the output shape (-1: the size follows from
    the input's at run time, floor(input size * roi extent * scale); with scale 1, the input's size; with scale
    0, it is the optional second input's entry for that axis, and the scale is that size / the input's; with
    scale -1, the scale is that input's entry),
    ``scales`` the per-axis scale that the coordinate transform divides by, ``roi`` (starts..., ends...)
    the crop box for tf_crop_and_resize."""
    y = x.astype(np.float64)
    for axis, size, scale, box in resize_axes(x.shape, attrs, run_sizes):
        y = _resize_axis(y, axis, size, scale, box, attrs)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        return np.clip(np.round(y), info.min, info.max).astype(x.dtype)
    return y.astype(x.dtype)
