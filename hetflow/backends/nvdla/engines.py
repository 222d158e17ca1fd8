"""Functional models of the NVDLA engines in NumPy, bit-exact to the stated precision rules.

int8 in, int32 accumulate, per-kernel output rescale:

* CONV (CDMA + CSC + CMAC + CACC): input channels zero-padded to the atomic-C and kernels to the atomic-K
  (the padded MAC cells compute zeros that are dropped), one multiply-accumulate pass per kernel tap over
  every output pixel, summed in a 32-bit accumulator. Products of int8 are summed here in float64, which
  holds every partial sum of int8 products exactly (below 2**53), then wrapped to int32 as CACC does.
* SDP: ``(acc + bias) * multiplier >> shift`` rounded half up (add ``2**(shift-1)``), optional element-wise
  sum of a second operand rescaled the same way, ReLU, plus the output offset, saturated to int8.
* PDP: max pooling over int8 with the padding at the int8 minimum (it never wins a maximum).
* RUBIK contract: channel blocks moved into ``b x b`` spatial blocks (depth-to-space, CRD or DCR channel
  order), then the output window starting at ``crop`` written; a permutation, no arithmetic.
* CDP: local response normalization: the int32 sum of squares over the channel window, looked up in a
  257-entry 16-bit table with linear interpolation between entries (``s >> index_shift`` picks the entry,
  the remainder weights the step, rounded half up), the input times the looked-up value rescaled by one
  multiplier and shift (rounded half up), saturated to int8.

fp16 (configurations whose precisions include float16): float16 in, products exact in float32, float32
accumulation, one rounding to float16 at the SDP's output; PDP max pooling exact.

These are written independently of the IR's NumPy semantics (``hetflow/ir/ops/quant.py``), which tests
compare them against bit for bit.
"""

from __future__ import annotations

import itertools

import numpy as np


def pad_to(n: int, atom: int) -> int:
    return -(-n // atom) * atom


def conv(x: np.ndarray, w: np.ndarray, *, strides: tuple[int, int], pads: tuple[int, int, int, int],
         dilations: tuple[int, int], k_splits: list[tuple[int, int]],
         row_chunks: list[tuple[int, int]] | None = None) -> np.ndarray:
    """int32 accumulators ``[N, Kp, P, Q]`` of int8 ``x [N, C, H, W]`` and atom-padded int8 ``w [Kp, Cp, R, S]``.

    ``k_splits`` are the kernel groups loaded into the convolution buffer one after another (a convolution
    whose weights do not fit is split along K); ``row_chunks`` the output-row ranges computed one after another
    from only their own input rows (a convolution whose features do not fit). Every piece runs separately.
    """
    acc = _conv_pieces(x, w, np.float64, strides, pads, dilations, k_splits, row_chunks)
    return np.rint(acc).astype(np.int64).astype(np.int32)


def conv_fp16(x: np.ndarray, w: np.ndarray, *, strides: tuple[int, int], pads: tuple[int, int, int, int],
              dilations: tuple[int, int], k_splits: list[tuple[int, int]],
              row_chunks: list[tuple[int, int]] | None = None) -> np.ndarray:
    """float32 accumulators ``[N, Kp, P, Q]`` of float16 ``x`` and atom-padded float16 ``w``: each product of two
    float16 values is exact in float32 (11 + 11 significant bits), the sums are float32's; the SDP rounds to
    float16 once (``sdp_fp16``). The pieces run as in ``conv``."""
    return _conv_pieces(x, w, np.float32, strides, pads, dilations, k_splits, row_chunks)


def _conv_pieces(x: np.ndarray, w: np.ndarray, dtype: type, strides: tuple[int, int],
                 pads: tuple[int, int, int, int], dilations: tuple[int, int], k_splits: list[tuple[int, int]],
                 row_chunks: list[tuple[int, int]] | None) -> np.ndarray:
    """Accumulators ``[N, Kp, P, Q]`` in ``dtype``: ``x`` zero-padded (channels to ``w``'s, rows and columns by
    ``pads``), each output-row chunk with its halo and each kernel group computed separately."""
    n, c, h, wd = x.shape
    kp, cp, r, s = w.shape
    xp = np.zeros((n, cp, h + pads[0] + pads[2], wd + pads[1] + pads[3]), dtype)
    xp[:, :c, pads[0]:pads[0] + h, pads[1]:pads[1] + wd] = x
    p = (xp.shape[2] - (r - 1) * dilations[0] - 1) // strides[0] + 1
    q = (xp.shape[3] - (s - 1) * dilations[1] - 1) // strides[1] + 1
    acc = np.zeros((n, kp, p, q), dtype)
    for p0, p1 in row_chunks or [(0, p)]:
        rows = xp[:, :, p0 * strides[0]:(p1 - 1) * strides[0] + (r - 1) * dilations[0] + 1]  # the chunk and its halo
        for k0, k1 in k_splits:
            acc[:, k0:k1, p0:p1] = _conv_piece(rows, w[k0:k1].astype(dtype), p1 - p0, q, strides, dilations)
    return acc


def sdp_fp16(acc: np.ndarray, *, bias: np.ndarray | None, relu: bool, other: np.ndarray | None = None) -> np.ndarray:
    """The SDP in fp16 mode: bias (or a second operand) added in float32, ReLU, one rounding to float16."""
    c = acc.shape[1]
    v = acc.astype(np.float32)
    if bias is not None:
        v = v + bias.astype(np.float32).reshape((1, c) + (1,) * (acc.ndim - 2))
    if other is not None:
        v = v + other.astype(np.float32)
    if relu:
        v = np.maximum(v, np.float32(0))
    return v.astype(np.float16)


def _conv_piece(xp: np.ndarray, wk: np.ndarray, p: int, q: int, strides: tuple[int, int],
                dilations: tuple[int, int]) -> np.ndarray:
    """One kernel group over one band of (padded) input rows: a multiply-accumulate pass per kernel tap, in the
    operands' float type (float64: exact int8 sums; float32: the fp16 mode's accumulator)."""
    n, cp = xp.shape[:2]
    k, _, r, s = wk.shape
    acc = np.zeros((n, k, p * q), xp.dtype)
    for i, j in itertools.product(range(r), range(s)):
        y0, x0 = i * dilations[0], j * dilations[1]
        tap = xp[:, :, y0:y0 + (p - 1) * strides[0] + 1:strides[0], x0:x0 + (q - 1) * strides[1] + 1:strides[1]]
        acc += np.matmul(wk[:, :, i, j], tap.reshape(n, cp, p * q))
    return acc.reshape(n, k, p, q)


def _round_shift(v: np.ndarray, shift: np.ndarray) -> np.ndarray:
    half = np.where(shift > 0, np.int64(1) << np.maximum(shift - 1, 0), 0)
    return (v + half) >> shift


def sdp(acc: np.ndarray, *, bias: np.ndarray | None, multiplier: np.ndarray, shift: np.ndarray, relu: bool,
        offset: int = 0) -> np.ndarray:
    """The bias / batch-norm / scale stage: per-channel (dim 1) rescale of int32 to int8."""
    c = acc.shape[1]
    shape = (1, c) + (1,) * (acc.ndim - 2)
    v = acc.astype(np.int64)
    if bias is not None:
        v = v + np.broadcast_to(bias.astype(np.int64).reshape(-1), (c,)).reshape(shape)
    m = np.broadcast_to(multiplier.astype(np.int64).reshape(-1), (c,)).reshape(shape)
    sh = np.broadcast_to(shift.astype(np.int64).reshape(-1), (c,)).reshape(shape)
    return _out(_round_shift(v * m, sh), relu, offset)


def sdp_eltwise(a: np.ndarray, b: np.ndarray, *, a_offset: int, b_offset: int, a_multiplier: int,
                b_multiplier: int, shift: int, relu: bool, offset: int) -> np.ndarray:
    """The element-wise stage: two int8 operands rescaled to one output scale and summed."""
    v = (a.astype(np.int64) - a_offset) * a_multiplier + (b.astype(np.int64) - b_offset) * b_multiplier
    return _out(_round_shift(v, np.int64(shift)), relu, offset)


def _out(v: np.ndarray, relu: bool, offset: int) -> np.ndarray:
    if relu:
        v = np.maximum(v, 0)
    return np.clip(v + offset, -128, 127).astype(np.int8)


def pdp_max(x: np.ndarray, *, kernel: tuple[int, int], strides: tuple[int, int],
            pads: tuple[int, int, int, int]) -> np.ndarray:
    """Max pooling of int8 (padded positions hold -128) or float16 (they hold -inf): exact either way."""
    n, c, h, w = x.shape
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp = np.full((n, c, h + pads[0] + pads[2], w + pads[1] + pads[3]), low, x.dtype)
    xp[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + w] = x
    p = (xp.shape[2] - kernel[0]) // strides[0] + 1
    q = (xp.shape[3] - kernel[1]) // strides[1] + 1
    out = np.full((n, c, p, q), low, x.dtype)
    for i, j in itertools.product(range(kernel[0]), range(kernel[1])):
        np.maximum(out, xp[:, :, i:i + (p - 1) * strides[0] + 1:strides[0], j:j + (q - 1) * strides[1] + 1:strides[1]],
                   out=out)
    return out


def cdp_lrn(x: np.ndarray, lut: np.ndarray, *, size: int, index_shift: int, multiplier: int,
            shift: int) -> np.ndarray:
    """LRN across channels of int8 ``x [N, C, H, W]`` through the CDP's interpolated table."""
    xi = x.astype(np.int64)
    c = x.shape[1]
    lo = (size - 1) // 2
    squares = np.cumsum(np.pad(xi * xi, ((0, 0), (1, 0), (0, 0), (0, 0))), axis=1)  # prefix sums over channels
    top = np.minimum(np.arange(c) + size - lo, c)
    bottom = np.maximum(np.arange(c) - lo, 0)
    window = squares[:, top] - squares[:, bottom]
    last = lut.size - 1
    entry = window >> index_shift
    inside = entry < last
    idx = np.where(inside, entry, last)
    step = np.where(inside, lut.astype(np.int64)[np.minimum(idx + 1, last)] - lut[idx], 0)
    frac = np.where(inside, window & ((1 << index_shift) - 1), 0)
    value = lut.astype(np.int64)[idx] + _round_shift(step * frac, np.int64(index_shift))
    return _out(_round_shift(xi * value * multiplier, np.int64(shift)), False, 0)


def rubik_contract(x: np.ndarray, *, blocksize: int, order: str, crop: tuple[int, int],
                   out_hw: tuple[int, int]) -> np.ndarray:
    """Depth-to-space of ``x [N, C*b*b, H, W]`` into ``[N, C, H*b, W*b]``, then the ``out_hw`` window at ``crop``."""
    n, cb, h, w = x.shape
    b = blocksize
    c = cb // (b * b)
    full = np.empty((n, c, h * b, w * b), x.dtype)
    for i, j in itertools.product(range(b), range(b)):
        # CRD: channel o*b*b + i*b + j; DCR: channel (i*b + j)*C + o
        channels = np.arange(c) * b * b + i * b + j if order == "CRD" else (i * b + j) * c + np.arange(c)
        full[:, :, i::b, j::b] = x[:, channels]
    top, left = crop
    return full[:, :, top:top + out_hw[0], left:left + out_hw[1]]
