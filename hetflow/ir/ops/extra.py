"""Ops that do not decompose into the other families: grid sampling, cumulative product, bit
reinterpretation, non-maximum suppression, the determinant and the discrete Fourier transform.

Each is either data-dependent in a way no composition of the other ops expresses (the boxes NMS
keeps, the taps GridSample reads) or would decompose only into something much slower and less
exact than its NumPy definition (a running product through logarithms, a determinant by cofactors,
an O(n^2) DFT matrix in place of an FFT).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from hetflow.ir.dtypes import DType
from hetflow.ir.graph import Node
from hetflow.ir.ops._util import in_type, norm_axis, numel
from hetflow.ir.registry import REQUIRED, IRError, defop
from hetflow.ir.types import TensorType

# ------------------------------------------------------------------ cumulative product


def _cumprod_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    if x.shape is not None:
        norm_axis(node.attrs["axis"], len(x.shape), node)
    return [x]


@defop("cumprod", family="reduce", infer=_cumprod_infer, flops=lambda n: numel(in_type(n, 0).shape),
       attrs={"axis": 0, "exclusive": False, "reverse": False})
def cumprod(x: np.ndarray, *, axis: int, exclusive: bool, reverse: bool) -> np.ndarray:
    """Running product along ``axis``; ``exclusive`` leaves out the current element, ``reverse`` runs from the end."""
    axis = axis % max(x.ndim, 1)
    y = np.flip(x, axis) if reverse else x
    out = np.cumprod(y, axis=axis, dtype=x.dtype)
    if exclusive:
        out = np.roll(out, 1, axis=axis)
        np.moveaxis(out, axis, 0)[:1] = 1
    return np.flip(out, axis) if reverse else out


# ------------------------------------------------------------------ bit reinterpretation


def _bitcast_infer(node: Node) -> list[TensorType]:
    x, to = in_type(node, 0), DType.of(node.attrs["to"])
    if DType.string in (x.dtype, to) or x.dtype.itemsize != to.itemsize:
        raise IRError(f"node {node.name!r} (bitcast): cannot reinterpret {x.dtype} as {to}; "
                      "both types must be numeric and of the same width")
    return [x.with_dtype(to)]


@defop("bitcast", family="elementwise", infer=_bitcast_infer, elementwise=True, attrs={"to": REQUIRED})
def bitcast(x: np.ndarray, *, to: str) -> np.ndarray:
    """The bits of each element read as type ``to`` (of the same width); no value conversion."""
    return x.copy(order="C").view(DType.of(to).numpy)


# ------------------------------------------------------------------ grid sampling


def _grid_sample_infer(node: Node) -> list[TensorType]:
    x, grid = in_type(node, 0), in_type(node, 1)
    if x.shape is None or grid.shape is None:
        return [TensorType(x.dtype, None)]
    r = len(x.shape) - 2
    last = grid.shape[-1] if grid.shape else None
    if r < 1 or len(grid.shape) != r + 2 or (isinstance(last, int) and last != r):
        raise IRError(f"node {node.name!r} (grid_sample): grid {grid} does not fit input {x} "
                      f"(expected [N, *out, {max(r, 0)}])")
    n, m = x.shape[0], grid.shape[0]
    if isinstance(n, int) and isinstance(m, int) and n != m:
        raise IRError(f"node {node.name!r} (grid_sample): batch of input {x} and grid {grid} differ")
    return [TensorType(x.dtype, (n if isinstance(n, int) else m, x.shape[1], *grid.shape[1:-1]))]


def _reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold coordinates outside [lo, hi] back inside by reflecting at the borders, repeatedly."""
    span = hi - lo
    if span <= 0:
        return np.full_like(x, lo)
    below, above = x < lo, x > hi
    dist = np.where(below, lo - x, x - hi)
    n = np.trunc(dist / span)
    rem = dist - n * span
    even = np.fmod(n, 2) == 0
    inside_from_low = np.where(even, lo + rem, hi - rem)
    inside_from_high = np.where(even, hi - rem, lo + rem)
    return np.where(below, inside_from_low, np.where(above, inside_from_high, x))


def _cubic_weights(t: np.ndarray) -> list[np.ndarray]:
    """Keys' cubic convolution (a = -0.75) weights of taps -1, 0, 1, 2 at fractional offset t."""
    a = -0.75

    def near(d: np.ndarray) -> np.ndarray:
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d: np.ndarray) -> np.ndarray:
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _grid_taps(coord: np.ndarray, size: int, mode: str, padding_mode: str, align_corners: bool,
               dtype: np.dtype) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """For one spatial axis: (index, weight, in-range mask or None) of every tap each output reads."""
    if align_corners:
        x = (coord + 1) / 2 * (size - 1)
        lo, hi = 0.0, size - 1.0
    else:
        x = ((coord + 1) * size - 1) / 2
        lo, hi = -0.5, size - 0.5
    x = x.astype(np.float32)
    if mode == "nearest":
        x = np.rint(x)
    if padding_mode == "border":
        x = np.where((x < lo) | (x > hi), np.clip(x, 0, size - 1), x)
    elif padding_mode == "reflection":
        x = _reflect(x, lo, hi)
    if mode == "nearest":
        offsets, weights = [np.trunc(x)], [np.ones_like(x, dtype)]
    else:
        base = np.floor(x)
        t = (x - base).astype(dtype)
        if mode == "linear":
            offsets, weights = [base, base + 1], [1 - t, t]
        else:
            offsets, weights = [base - 1, base, base + 1, base + 2], _cubic_weights(t)
    taps = []
    for idx, w in zip(offsets, weights):
        valid = None
        if padding_mode == "zeros":
            valid = (idx >= 0) & (idx < size)
        elif padding_mode == "border":
            idx = np.clip(idx, 0, size - 1)
        else:
            idx = np.trunc(_reflect(idx, lo, hi))
        taps.append((np.clip(idx, 0, size - 1).astype(np.intp), w.astype(dtype), valid))
    return taps


@defop("grid_sample", family="nn", infer=_grid_sample_infer,
       flops=lambda n: 8 * numel(n.outputs[0].type.shape) * 2 ** max((in_type(n, 0).rank or 2) - 2, 0),
       attrs={"mode": "linear", "padding_mode": "zeros", "align_corners": False})
def grid_sample(x: np.ndarray, grid: np.ndarray, *, mode: str, padding_mode: str, align_corners: bool) -> np.ndarray:
    """Sample x[N, C, *D] at grid[N, *out, r] (normalized coordinates in [-1, 1], x first) -> [N, C, *out].

    ``mode`` nearest, linear or cubic (Keys, a = -0.75); ``padding_mode`` zeros, border or reflection
    says what a tap outside the input reads."""
    if mode not in ("nearest", "linear", "cubic"):
        raise IRError(f"grid_sample mode must be nearest, linear or cubic; got {mode!r}")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise IRError(f"grid_sample padding_mode must be zeros, border or reflection; got {padding_mode!r}")
    spatial = x.shape[2:]
    r = len(spatial)
    if x.shape[0] != grid.shape[0]:  # a symbolic batch meets its size only here
        raise IRError(f"grid_sample: input batch {x.shape[0]} and grid batch {grid.shape[0]} differ")
    out_sp = grid.shape[1:-1]
    batch = np.arange(x.shape[0]).reshape((-1,) + (1,) * len(out_sp))
    axes_taps = [_grid_taps(grid[..., r - 1 - i].astype(np.float64), spatial[i], mode, padding_mode,
                            bool(align_corners), x.dtype) for i in range(r)]
    acc = np.zeros(grid.shape[:-1] + (x.shape[1],), dtype=x.dtype)
    for combo in itertools.product(*axes_taps):
        weight = np.prod([w for _, w, _ in combo], axis=0).astype(x.dtype)
        for _, _, valid in combo:
            if valid is not None:
                weight = np.where(valid, weight, 0).astype(x.dtype)
        # Advanced indices around a slice put the [N, *out] dims first: [N, *out, C].
        picked = x[(batch, slice(None)) + tuple(idx for idx, _, _ in combo)]
        acc += picked * weight[..., None]
    return np.ascontiguousarray(np.moveaxis(acc, -1, 1))


# ------------------------------------------------------------------ non-maximum suppression


def _nms_infer(node: Node) -> list[TensorType]:
    boxes, scores = in_type(node, 0), in_type(node, 1)
    if boxes.shape is not None and (len(boxes.shape) != 3 or isinstance(boxes.shape[-1], int) and boxes.shape[-1] != 4):
        raise IRError(f"node {node.name!r} (non_max_suppression): boxes must be [batch, boxes, 4], got {boxes}")
    if scores.shape is not None and len(scores.shape) != 3:
        raise IRError(f"node {node.name!r} (non_max_suppression): scores must be [batch, classes, boxes], got {scores}")
    return [TensorType(DType.int64, (f"{node.name}_selected", 3))]


def _corners(boxes: np.ndarray, center_point_box: int) -> np.ndarray:
    """[..., 4] boxes as (y_min, x_min, y_max, x_max), whatever corner order or centre form they came in."""
    if center_point_box:
        xc, yc, w, h = (boxes[..., i] for i in range(4))
        return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=-1)
    y0, x0, y1, x1 = (boxes[..., i] for i in range(4))
    return np.stack([np.minimum(y0, y1), np.minimum(x0, x1), np.maximum(y0, y1), np.maximum(x0, x1)], axis=-1)


def _iou_exceeds(box: np.ndarray, others: np.ndarray, threshold: float) -> np.ndarray:
    """Whether ``box`` overlaps each of ``others`` with an IoU above ``threshold``."""
    iy = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    ix = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    inter = np.where((iy > 0) & (ix > 0), iy * ix, 0)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return (inter > 0) & (area > 0) & (areas > 0) & (union > 0) & (iou > threshold)


@defop("non_max_suppression", family="nn", infer=_nms_infer,
       attrs={"max_output_boxes_per_class": 0, "iou_threshold": 0.0, "score_threshold": None, "center_point_box": 0})
def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, *, max_output_boxes_per_class: int,
                        iou_threshold: float, score_threshold: float | None, center_point_box: int) -> np.ndarray:
    """Per batch and class, greedily keep the best-scoring boxes that overlap no kept box by IoU above the
    threshold; [selected, 3] rows of (batch, class, box), in that order. Equal scores go to the lower index."""
    rows: list[tuple[int, int, int]] = []
    corners = _corners(boxes, center_point_box)
    for b, c in itertools.product(range(scores.shape[0]), range(scores.shape[1])):
        s = scores[b, c]
        order = np.argsort(-s, kind="stable")
        if score_threshold is not None:
            order = order[s[order] > score_threshold]
        kept: list[int] = []
        for i in order:
            if len(kept) >= max_output_boxes_per_class:
                break
            if not kept or not _iou_exceeds(corners[b, i], corners[b, kept], iou_threshold).any():
                kept.append(int(i))
        rows.extend((b, c, i) for i in kept)
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


# ------------------------------------------------------------------ linear algebra


def _det_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    if x.shape is None:
        return [x]
    if len(x.shape) < 2 or (isinstance(x.shape[-1], int) and isinstance(x.shape[-2], int)
                            and x.shape[-1] != x.shape[-2]):
        raise IRError(f"node {node.name!r} (det): input must be [..., M, M], got {x}")
    return [x.with_shape(x.shape[:-2])]


def _det_flops(node: Node) -> int:
    shape: Sequence = in_type(node, 0).shape or (1, 1)
    m = shape[-1] if isinstance(shape[-1], int) else 1
    return numel(shape[:-2]) * (2 * m**3) // 3


@defop("det", family="nn", infer=_det_infer, flops=_det_flops)
def det(x: np.ndarray) -> np.ndarray:
    """Determinant of each square matrix in the last two dims (by LU factorization)."""
    wide = x.astype(np.float64) if x.dtype in (np.dtype(np.float16), DType.bfloat16.numpy) else x
    return np.asarray(np.linalg.det(wide)).astype(x.dtype)


# ------------------------------------------------------------------ discrete Fourier transform


def _dft_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    a = node.attrs
    if x.shape is None:
        return [x]
    rank = len(x.shape)
    axis = norm_axis(a["axis"], rank, node)
    if axis == rank - 1 or (isinstance(x.shape[-1], int) and x.shape[-1] not in (1, 2)):
        raise IRError(f"node {node.name!r} (dft): input {x} must end in a real (1) or complex (2) dim, "
                      f"and axis {a['axis']} must name another")
    n = a["length"]
    if a["inverse"] and a["onesided"]:
        size, parts = n, 1
    else:
        size, parts = (n // 2 + 1 if a["onesided"] else n), 2
    return [x.with_shape(x.shape[:axis] + (size,) + x.shape[axis + 1:-1] + (parts,))]


def _dft_flops(node: Node) -> int:
    n = max(node.attrs["length"], 2)
    return 5 * numel(node.outputs[0].type.shape) * int(np.ceil(np.log2(n)))


@defop("dft", family="nn", infer=_dft_infer, flops=_dft_flops,
       attrs={"axis": REQUIRED, "length": REQUIRED, "inverse": False, "onesided": False})
def dft(x: np.ndarray, *, axis: int, length: int, inverse: bool, onesided: bool) -> np.ndarray:
    """FFT of x[..., re (, im)] along ``axis``, zero-padded or truncated to ``length``; the result ends in
    (re, im). ``onesided`` keeps bins 0..length/2 (forward) or reads them as a Hermitian spectrum and
    returns the real signal (inverse, [..., 1]). The inverse divides by ``length``. Computed in the input's
    precision (single for float32) as NumPy's FFT does."""
    axis %= x.ndim
    signal = x[..., 0] if x.shape[-1] == 1 else x[..., 0] + 1j * x[..., 1]
    if inverse and onesided:
        return np.fft.irfft(signal, n=length, axis=axis)[..., None].astype(x.dtype)
    y = np.fft.ifft(signal, n=length, axis=axis) if inverse else np.fft.fft(signal, n=length, axis=axis)
    if onesided:
        y = np.take(y, np.arange(length // 2 + 1), axis=axis)
    return np.stack([y.real, y.imag], axis=-1).astype(x.dtype)


# ------------------------------------------------------------------ region-of-interest pooling


def _roi_align_infer(node: Node) -> list[TensorType]:
    x, rois = in_type(node, 0), in_type(node, 1)
    if x.shape is not None and len(x.shape) != 4:
        raise IRError(f"node {node.name!r} (roi_align): input must be [N, C, H, W], got {x}")
    n = rois.shape[0] if rois.shape else f"{node.name}_rois"
    c = x.shape[1] if x.shape else f"{node.name}_c"
    return [TensorType(x.dtype, (n, c, node.attrs["output_height"], node.attrs["output_width"]))]


def _roi_samples(start: float, size: float, bins: int, grid: int, limit: int) -> tuple[np.ndarray, ...]:
    """Along one axis: per sample (bin-major), the low and high pixel, the weight of each, and whether it counts."""
    pos = start + np.arange(bins)[:, None] * size + (np.arange(grid)[None, :] + 0.5) * size / grid
    pos = pos.reshape(-1)
    outside = (pos < -1.0) | (pos > limit)
    pos = np.maximum(pos, 0)
    low = pos.astype(np.int64)
    at_edge = low >= limit - 1
    low = np.where(at_edge, limit - 1, low)
    high = np.where(at_edge, limit - 1, low + 1)
    frac = np.where(at_edge, 0.0, pos - low)
    return low, high, 1.0 - frac, frac, ~outside


@defop("roi_align", family="nn", infer=_roi_align_infer,
       attrs={"mode": "avg", "output_height": 1, "output_width": 1, "sampling_ratio": 0, "spatial_scale": 1.0,
              "half_pixel": True})
def roi_align(x: np.ndarray, rois: np.ndarray, batch_indices: np.ndarray, *, mode: str, output_height: int,
              output_width: int, sampling_ratio: int, spatial_scale: float, half_pixel: bool) -> np.ndarray:
    """Pool each box rois[r] = (x1, y1, x2, y2) of image batch_indices[r] into [C, out_h, out_w] bins, each
    the average (or max) of bilinear samples on a regular grid (sampling_ratio per side, or adaptive)."""
    if mode not in ("avg", "max"):
        raise IRError(f"roi_align mode must be avg or max; got {mode!r}")
    height, width = x.shape[2:]
    out = np.zeros((rois.shape[0], x.shape[1], output_height, output_width), dtype=x.dtype)
    shift = 0.5 if half_pixel else 0.0
    for r, (box, b) in enumerate(zip(rois.astype(np.float64), batch_indices.reshape(-1))):
        x0, y0, x1, y1 = box[:4] * spatial_scale - shift
        roi_w, roi_h = x1 - x0, y1 - y0
        if not half_pixel:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        gh = sampling_ratio if sampling_ratio > 0 else int(np.ceil(roi_h / output_height))
        gw = sampling_ratio if sampling_ratio > 0 else int(np.ceil(roi_w / output_width))
        ylo, yhi, wyl, wyh, yok = _roi_samples(y0, roi_h / output_height, output_height, gh, height)
        xlo, xhi, wxl, wxh, xok = _roi_samples(x0, roi_w / output_width, output_width, gw, width)
        image = x[int(b)].astype(np.float64)  # [C, H, W]
        ok = (yok[:, None] & xok[None, :]).astype(np.float64)  # a sample outside the image reads 0
        corners = [image[:, ya][:, :, xa] * (wy[:, None] * wx[None, :] * ok)
                   for ya, wy in ((ylo, wyl), (yhi, wyh)) for xa, wx in ((xlo, wxl), (xhi, wxh))]
        shape = (x.shape[1], output_height, gh, output_width, gw)
        if mode == "avg":
            pooled = sum(corners).reshape(shape).sum(axis=(2, 4)) / max(gh * gw, 1)
        else:  # the maximum, over samples, of the largest weighted corner
            pooled = np.max(corners, axis=0).reshape(shape).max(axis=(2, 4))
        out[r] = pooled
    return out


# ------------------------------------------------------------------ n-gram counting


def _tfidf_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    size, a = node.attrs["output_size"], node.attrs
    if not 1 <= a["min_gram_length"] <= a["max_gram_length"] or a["max_skip_count"] < 0:
        raise IRError(f"node {node.name!r} (tfidf_vectorizer): needs 1 <= min_gram_length <= max_gram_length and "
                      f"max_skip_count >= 0, got {a['min_gram_length']}, {a['max_gram_length']}, "
                      f"{a['max_skip_count']}")
    if x.shape is not None and len(x.shape) not in (1, 2):
        raise IRError(f"node {node.name!r} (tfidf_vectorizer): input must be [T] or [B, T], got {x}")
    shape = None if x.shape is None else ((size,) if len(x.shape) == 1 else (x.shape[0], size))
    return [TensorType(DType.float32, shape)]


@defop("tfidf_vectorizer", family="nn", infer=_tfidf_infer,
       attrs={"ngrams": REQUIRED, "indexes": REQUIRED, "output_size": REQUIRED, "min_gram_length": 1,
              "max_gram_length": 1, "max_skip_count": 0, "mode": "TF", "weights": None})
def tfidf_vectorizer(x: np.ndarray, *, ngrams: tuple, indexes: tuple[int, ...], output_size: int,
                     min_gram_length: int, max_gram_length: int, max_skip_count: int, mode: str,
                     weights: tuple[float, ...] | None) -> np.ndarray:
    """Per row of x, count each n-gram of ``ngrams`` (output slot indexes[i]), its tokens taken every
    1..max_skip_count+1 positions; unigrams count once. Mode TF gives counts, IDF weights[i] where the
    count is positive, TFIDF count * weights[i] (weights default to 1)."""
    pool = {tuple(g): i for i, g in enumerate(ngrams) if min_gram_length <= len(g) <= max_gram_length}
    rows = x.reshape(1, -1) if x.ndim == 1 else x
    counts = np.zeros((rows.shape[0], output_size), np.float32)
    for r, row in enumerate(rows.tolist()):
        first = min_gram_length
        # a skip past the row's length finds nothing: stop there (the attribute may be any size)
        for skip in range(1, min(max_skip_count + 1, max(len(row) - 1, 1)) + 1):
            for start in range(len(row)):
                if start + skip * (first - 1) >= len(row):
                    break
                for n in range(first, max_gram_length + 1):
                    last = start + skip * (n - 1)
                    if last >= len(row):
                        break
                    hit = pool.get(tuple(row[start:last + 1:skip]))
                    if hit is not None:
                        counts[r, indexes[hit]] += 1
            if first == 1:  # unigrams do not depend on the skip
                first = 2
                if first > max_gram_length:
                    break
    scale = np.ones(output_size, np.float32)
    if weights is not None:
        for i, w in enumerate(weights):
            scale[indexes[i]] = w
    if mode == "IDF":
        counts = (counts > 0) * scale
    elif mode == "TFIDF":
        counts = counts * scale
    elif mode != "TF":
        raise IRError(f"tfidf_vectorizer mode must be TF, IDF or TFIDF; got {mode!r}")
    return counts.reshape(-1) if x.ndim == 1 else counts
