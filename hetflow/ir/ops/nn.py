"""Neural-network ops: matmul, einsum, convolution, pooling, normalization, softmax.

Layout is channels-first: ``x[N, C, *spatial]`` with 1, 2 or 3 spatial dims. Window ops take
explicit ``pads`` (all begins, then all ends); frontends resolve ONNX ``auto_pad`` into them.

The NumPy semantics are written to be fast enough to run real models: convolution is one
im2col gathered from a strided view plus one BLAS matmul; depthwise convolution and pooling loop
over kernel *positions* (a handful of whole-tensor operations), never over channels or pixels, and
pooling reduces one spatial axis at a time (sum(k) passes, not prod(k)) without building padding.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from hetflow.ir.dtypes import DType
from hetflow.ir.graph import Node
from hetflow.ir.ops._util import broadcast_shapes, in_type, norm_axis, numel, same_as_input
from hetflow.ir.registry import REQUIRED, IRError, defop
from hetflow.ir.types import Dim, TensorType

_NARROW = frozenset({DType.float16.numpy, DType.bfloat16.numpy})


def _widened(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Run ``fn`` in float32 on float16/bfloat16 inputs and round the result back, as onnxruntime does:
    long sums accumulated in half precision drift far from every other backend."""

    @functools.wraps(fn)
    def run(*args: np.ndarray | None, **attrs: object) -> np.ndarray:
        narrow = next((a.dtype for a in args if a is not None and a.dtype in _NARROW), None)
        if narrow is None:
            return fn(*args, **attrs)
        wide = [a.astype(np.float32) if a is not None and a.dtype in _NARROW else a for a in args]
        return fn(*wide, **attrs).astype(narrow)

    return run


# ------------------------------------------------------------------ matmul, einsum


def _matmul_infer(node: Node) -> list[TensorType]:
    a, b = in_type(node, 0), in_type(node, 1)
    if a.dtype is not b.dtype:
        raise IRError(f"node {node.name!r} (matmul): operands differ in element type: {a} @ {b}")
    if a.shape is None or b.shape is None:
        return [TensorType(a.dtype, None)]
    if not a.shape or not b.shape:
        raise IRError(f"node {node.name!r} (matmul): operands must have rank >= 1, got {a} @ {b}")
    sa = (1,) + a.shape if len(a.shape) == 1 else a.shape
    sb = b.shape + (1,) if len(b.shape) == 1 else b.shape
    if isinstance(sa[-1], int) and isinstance(sb[-2], int) and sa[-1] != sb[-2]:
        raise IRError(f"node {node.name!r} (matmul): inner dims differ: {a.shape} @ {b.shape}")
    batch = broadcast_shapes(node, sa[:-2], sb[:-2]) or ()
    out = batch + sa[-2:-1] * (len(a.shape) > 1) + sb[-1:] * (len(b.shape) > 1)
    return [TensorType(a.dtype, out)]


def _matmul_flops(node: Node) -> int:
    a = in_type(node, 0)
    k = a.shape[-1] if a.shape else 1
    return 2 * numel(node.outputs[0].type.shape) * (k if isinstance(k, int) else 1)


@defop("matmul", family="nn", infer=_matmul_infer, flops=_matmul_flops)
@_widened
def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NumPy matmul semantics (batched, broadcasting, 1-D promotion)."""
    return np.matmul(a, b)


def _einsum_terms(node: Node, ranks: list[int]) -> tuple[list[str], str]:
    """Operand subscripts and the output subscript, with '...' written as '.' (one char)."""
    eq = node.attrs["equation"].replace(" ", "").replace("...", ".")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise IRError(f"node {node.name!r} (einsum): equation {node.attrs['equation']!r} names "
                      f"{len(terms)} operand(s), the node has {len(ranks)}")
    if not arrow:  # implicit output: letters used once, alphabetical, after any ellipsis
        letters = "".join(terms).replace(".", "")
        rhs = ("." if "." in lhs else "") + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return terms, rhs


def _einsum_infer(node: Node) -> list[TensorType]:
    types = [v.type for v in node.inputs if v is not None]
    if any(t.shape is None for t in types):
        return [TensorType(types[0].dtype, None)]
    terms, rhs = _einsum_terms(node, [len(t.shape) for t in types])  # type: ignore[arg-type]
    sizes: dict[str, Dim] = {}
    ellipses: list[tuple[Dim, ...]] = []
    for term, t in zip(terms, types):
        shape = t.shape or ()
        n_ell = len(shape) - (len(term) - term.count("."))
        if n_ell < 0 or (n_ell > 0 and "." not in term):
            raise IRError(f"node {node.name!r} (einsum): subscripts {term!r} do not fit shape {t.shape}")
        dims = list(shape)
        for c in term:
            if c == ".":
                ellipses.append(tuple(dims[:n_ell]))
                dims = dims[n_ell:]
                continue
            d = dims.pop(0)
            if sizes.get(c, 1) == 1 or not isinstance(sizes.get(c), int):
                sizes[c] = d
    ell = broadcast_shapes(node, *ellipses) if ellipses else ()
    unknown = sorted({c for c in rhs if c != "." and c not in sizes})
    if unknown:
        raise IRError(f"node {node.name!r} (einsum): output subscripts {unknown} name no input dim")
    out: list[Dim] = []
    for c in rhs:
        out.extend(ell or () if c == "." else (sizes[c],))
    return [TensorType(types[0].dtype, tuple(out))]


@defop("einsum", family="nn", infer=_einsum_infer, attrs={"equation": REQUIRED})
@_widened
def einsum(*xs: np.ndarray, equation: str) -> np.ndarray:
    """Einstein summation as in ``np.einsum`` (implicit and explicit output, ellipsis)."""
    out = np.einsum(equation.replace(" ", ""), *xs, optimize=len(xs) > 1)
    return np.asarray(out, dtype=xs[0].dtype)


# ------------------------------------------------------------------ window geometry


def window_out_size(n: int, k: int, s: int, pb: int, pe: int, d: int, ceil_mode: bool = False) -> int:
    """Outputs along one spatial dim. With ceil_mode a last window starting in the end padding is dropped."""
    span = (k - 1) * d + 1
    room = n + pb + pe - span
    if room < 0:
        raise ValueError(f"window of extent {span} does not fit input size {n} with pads ({pb}, {pe})")
    out = (-(-room // s) if ceil_mode else room // s) + 1
    if ceil_mode and (out - 1) * s >= n + pb:
        out -= 1
    return out


def _check_window_attrs(node: Node, rank: int, **attrs: Sequence[int] | None) -> None:
    for key, value in attrs.items():
        want = 2 * rank if key == "pads" else rank
        if value is not None and len(value) != want:
            raise IRError(f"node {node.name!r} ({node.op}): attribute '{key}' has {len(value)} entries, "
                          f"expected {want} for {rank} spatial dim(s)")


def _spatial_out(node: Node, x_shape: tuple[Dim, ...], kernel: Sequence[int], ceil_mode: bool = False) -> list[Dim]:
    a = node.attrs
    r = len(kernel)
    dil = a.get("dilations") or (1,) * r
    out: list[Dim] = []
    for i, n in enumerate(x_shape[2:]):
        if not isinstance(n, int):
            out.append(f"{node.name}_s{i}")
            continue
        try:
            out.append(window_out_size(n, kernel[i], a["strides"][i], a["pads"][i], a["pads"][r + i], dil[i], ceil_mode))
        except ValueError as exc:
            raise IRError(f"node {node.name!r} ({node.op}): spatial dim {i}: {exc}") from None
    return out


def _pad(x: np.ndarray, pads: Sequence[int], value: float) -> np.ndarray:
    """Pad the trailing spatial dims (pads = begins then ends) with ``value``."""
    r = len(pads) // 2
    if not any(pads):
        return x
    sp = x.shape[-r:]
    out = np.full(x.shape[:-r] + tuple(n + b + e for n, b, e in zip(sp, pads[:r], pads[r:])), value, x.dtype)
    out[(...,) + tuple(slice(b, b + n) for n, b in zip(sp, pads[:r]))] = x
    return out


def _windows(xp: np.ndarray, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
             out: Sequence[int]) -> np.ndarray:
    """A read-only view ``[N, C, *kernel, *out]`` of the padded input: every window, no copy."""
    lead = xp.ndim - len(kernel)
    st = xp.strides
    shape = xp.shape[:lead] + tuple(kernel) + tuple(out)
    steps = st[:lead] + tuple(st[lead + i] * d for i, d in enumerate(dilations)) \
        + tuple(st[lead + i] * s for i, s in enumerate(strides))
    return as_strided(xp, shape, steps, writeable=False)


def window_out_sizes(spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
                     dilations: Sequence[int], ceil_mode: bool = False) -> list[int]:
    """``window_out_size`` for every spatial dim."""
    r = len(kernel)
    return [window_out_size(spatial[i], kernel[i], strides[i], pads[i], pads[r + i], dilations[i], ceil_mode)
            for i in range(r)]


@dataclass(frozen=True)
class _Tap:
    """One kernel position: which outputs it reaches inside the input (padding is never materialized)."""

    index: int  # row-major position in the kernel
    dst: tuple[slice, ...] | None  # the output region whose windows see a real input element here; None: none do
    src: tuple[slice, ...]  # the (strided) input elements read for that region
    full: bool  # dst is the whole output


def _taps(spatial: Sequence[int], out: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
          pads: Sequence[int], dilations: Sequence[int]) -> list[_Tap]:
    """Every kernel position in row-major order, with the output region it reaches without padding."""
    ranges = []
    for n, o, k, s, p, d in zip(spatial, out, kernel, strides, pads, dilations):
        per_pos = []
        for j in range(k):
            off = j * d - p  # output o reads input o * s + off
            lo, hi = max(0, -(off // s)), min(o, (n - 1 - off) // s + 1)
            per_pos.append((lo, hi, off))
        ranges.append(per_pos)
    taps = []
    for index, kpos in enumerate(itertools.product(*map(range, kernel))):
        picked = [ranges[i][j] for i, j in enumerate(kpos)]
        if any(hi <= lo for lo, hi, _ in picked):
            taps.append(_Tap(index, None, (), False))
            continue
        dst = tuple(slice(lo, hi) for lo, hi, _ in picked)
        src = tuple(slice(lo * s + off, lo * s + off + (hi - lo - 1) * s + 1, s)
                    for (lo, hi, off), s in zip(picked, strides))
        full = all(lo == 0 and hi == o for (lo, hi, _), o in zip(picked, out))
        taps.append(_Tap(index, dst, src, full))
    return taps


_ALL2 = (slice(None), slice(None))


def _accumulate(x: np.ndarray, taps: list[_Tap], shape: tuple[int, ...], fill: float, combine: np.ufunc,
                lead: int = 2) -> np.ndarray:
    """Reduce every tap's input slice into an output of ``shape`` with ``combine`` (np.maximum, np.add).

    The taps index the dims after the first ``lead``. Starts from a copy of a tap that covers the
    whole output when there is one (saving a pass), else from ``fill``; the order of taps does not
    matter for these reductions.
    """
    head = (slice(None),) * lead
    live = [t for t in taps if t.dst is not None]
    first = next((t for t in live if t.full), None)
    if first is not None:
        y = x[head + first.src].copy()
        live.remove(first)
    else:
        y = np.full(shape, fill, x.dtype)
    for t in live:
        region = y[head + t.dst]  # type: ignore[operator]
        combine(region, x[head + t.src], out=region)
    return y


def _reduce_windows(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
                    dilations: Sequence[int], out: Sequence[int], fill: float, combine: np.ufunc) -> np.ndarray:
    """A box reduction done one spatial axis at a time: sum(k) passes instead of prod(k).

    Max and sum over a box are separable. Outer axes go first: their slices keep the inner axis
    contiguous, and the strided inner-axis pass then runs on data they already shrank.
    """
    r = len(kernel)
    y = x
    for i in range(r):
        axis = 2 + i
        n = y.shape[axis]
        if kernel[i] == 1 and strides[i] == 1 and pads[i] == 0 and out[i] == n:
            continue
        taps = _taps([n], [out[i]], [kernel[i]], [strides[i]], [pads[i]], [dilations[i]])
        y = _accumulate(y, taps, y.shape[:axis] + (out[i],) + y.shape[axis + 1:], fill, combine, axis)
    return y if y is not x else x.copy()


# ------------------------------------------------------------------ convolution


def _conv_infer(node: Node) -> list[TensorType]:
    x, w = in_type(node, 0), in_type(node, 1)
    a = node.attrs
    if x.shape is None or w.shape is None:
        return [TensorType(x.dtype, None)]
    r = len(w.shape) - 2
    if len(x.shape) != r + 2 or r < 1:
        raise IRError(f"node {node.name!r} (conv): input {x} and weight {w} ranks do not agree")
    _check_window_attrs(node, r, strides=a["strides"], pads=a["pads"], dilations=a["dilations"])
    c, m, cg, g = x.shape[1], w.shape[0], w.shape[1], a["group"]
    if isinstance(c, int) and isinstance(cg, int) and c != cg * g:
        raise IRError(f"node {node.name!r} (conv): input has {c} channels, weight expects {cg} x group {g}")
    if isinstance(m, int) and m % g:
        raise IRError(f"node {node.name!r} (conv): {m} output channels do not split into {g} groups")
    if not all(isinstance(k, int) for k in w.shape[2:]):
        return [TensorType(x.dtype, None)]
    return [TensorType(x.dtype, (x.shape[0], m, *_spatial_out(node, x.shape, w.shape[2:])))]  # type: ignore[arg-type]


def _conv_flops(node: Node) -> int:
    w = in_type(node, 1)
    per_out = numel(w.shape[1:]) if w.shape else 1
    return 2 * numel(node.outputs[0].type.shape) * per_out


def _add_bias(y: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    if b is not None:
        y += b.reshape((-1,) + (1,) * (y.ndim - 2)).astype(y.dtype, copy=False)
    return y


def _padded_windows(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
                    dilations: Sequence[int]) -> tuple[np.ndarray, list[int]]:
    """A read-only view ``[N, C, *kernel, *out]`` of every window of ``x`` zero-padded, and ``out``."""
    out = window_out_sizes(x.shape[2:], kernel, strides, pads, dilations)
    return _windows(_pad(x, pads, 0), kernel, strides, dilations, out), out


def _conv_depthwise(view: np.ndarray, w: np.ndarray, group: int) -> np.ndarray:
    """One input channel per group: a multiply-add per kernel position over the whole tensor."""
    n, r = view.shape[0], w.ndim - 2
    mg = w.shape[0] // group
    out_sp = view.shape[2 + r:]
    wk = w.reshape((group, mg) + w.shape[2:])
    y = np.zeros((n, group, mg) + out_sp, dtype=np.result_type(view, w))
    tmp = np.empty_like(y)
    for kpos in itertools.product(*map(range, w.shape[2:])):
        np.multiply(view[_ALL2 + kpos][:, :, None], wk[_ALL2 + kpos].reshape((group, mg) + (1,) * r), out=tmp)
        y += tmp
    return y.reshape((n, group * mg) + out_sp)


@defop("conv", family="nn", infer=_conv_infer, flops=_conv_flops,
       attrs={"strides": REQUIRED, "pads": REQUIRED, "dilations": REQUIRED, "group": 1})
@_widened
def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *, strides: Sequence[int],
         pads: Sequence[int], dilations: Sequence[int], group: int) -> np.ndarray:
    """N-D cross-correlation x[N,C,*S] * w[M,C/group,*K] + b[M] (im2col + one batched matmul)."""
    n, c = x.shape[:2]
    m, cg, kernel = w.shape[0], w.shape[1], w.shape[2:]
    view, out = _padded_windows(x, kernel, strides, pads, dilations)
    if cg == 1 and group > 1:
        return _add_bias(_conv_depthwise(view, w, group), b)
    p, k = math.prod(out), math.prod(kernel)
    if k == 1 and not any(pads) and all(s == 1 for s in strides):
        cols = x.reshape(n, group, cg, p)  # 1x1, unpadded, stride 1: the input already is the matrix
    else:
        cols = view.reshape(n, group, cg * k, p)  # the one im2col copy, gathered from the strided view
    y = np.matmul(w.reshape(group, m // group, cg * k), cols)
    return _add_bias(y.reshape((n, m) + tuple(out)), b)


def _conv_transpose_out(node: Node, x_shape: tuple[Dim, ...], kernel: Sequence[int]) -> list[Dim]:
    a = node.attrs
    r = len(kernel)
    out: list[Dim] = []
    for i, n in enumerate(x_shape[2:]):
        if not isinstance(n, int):
            out.append(f"{node.name}_s{i}")
            continue
        size = a["strides"][i] * (n - 1) + a["output_padding"][i] + (kernel[i] - 1) * a["dilations"][i] + 1 \
            - a["pads"][i] - a["pads"][r + i]
        if size < 1:
            raise IRError(f"node {node.name!r} (conv_transpose): spatial dim {i} comes out {size}")
        out.append(size)
    return out


def _conv_transpose_infer(node: Node) -> list[TensorType]:
    x, w = in_type(node, 0), in_type(node, 1)
    a = node.attrs
    if x.shape is None or w.shape is None or not all(isinstance(k, int) for k in w.shape[2:]):
        return [TensorType(x.dtype, None)]
    r = len(w.shape) - 2
    if len(x.shape) != r + 2:
        raise IRError(f"node {node.name!r} (conv_transpose): input {x} and weight {w} differ in rank")
    _check_window_attrs(node, r, strides=a["strides"], pads=a["pads"], dilations=a["dilations"],
                        output_padding=a["output_padding"])
    c, g = x.shape[1], a["group"]
    if g < 1 or (isinstance(c, int) and c % g):
        raise IRError(f"node {node.name!r} (conv_transpose): group {g} must be positive and divide the {c} channels")
    if isinstance(c, int) and isinstance(w.shape[0], int) and c != w.shape[0]:
        raise IRError(f"node {node.name!r} (conv_transpose): input has {c} channels, weight has {w.shape[0]}")
    m = w.shape[1] * g if isinstance(w.shape[1], int) else w.shape[1]
    return [TensorType(x.dtype, (x.shape[0], m, *_conv_transpose_out(node, x.shape, w.shape[2:])))]  # type: ignore[arg-type]


def _conv_transpose_flops(node: Node) -> int:
    x, w = in_type(node, 0), in_type(node, 1)
    per_in = numel(w.shape[1:]) if w.shape else 1
    return 2 * numel(x.shape) * per_in


@defop("conv_transpose", family="nn", infer=_conv_transpose_infer, flops=_conv_transpose_flops,
       attrs={"strides": REQUIRED, "pads": REQUIRED, "dilations": REQUIRED, "group": 1, "output_padding": REQUIRED})
@_widened
def conv_transpose(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *, strides: Sequence[int],
                   pads: Sequence[int], dilations: Sequence[int], group: int,
                   output_padding: Sequence[int]) -> np.ndarray:
    """Transposed convolution, w[C, M/group, *K]: one matmul to columns, then col2im by kernel position.

    Pads crop the full result; a negative pad or output_padding extends it with zeros (plus bias).
    """
    n, c = x.shape[:2]
    mg, kernel, r = w.shape[1], w.shape[2:], w.ndim - 2
    sp = x.shape[2:]
    cg = c // group
    wt = w.reshape(group, cg, mg * math.prod(kernel)).transpose(0, 2, 1)
    cols = np.matmul(wt, x.reshape(n, group, cg, math.prod(sp))).reshape((n, group * mg) + tuple(kernel) + sp)
    natural = [(sp[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 for i in range(r)]
    full = np.zeros((n, group * mg) + tuple(natural), dtype=cols.dtype)
    for kpos in itertools.product(*map(range, kernel)):
        dst = tuple(slice(kp * dilations[i], kp * dilations[i] + (sp[i] - 1) * strides[i] + 1, strides[i])
                    for i, kp in enumerate(kpos))
        full[(slice(None), slice(None)) + dst] += cols[(slice(None), slice(None)) + kpos]
    # Output j along a dim is full[j + pad_begin]; output_padding and negative pads reach past it (zeros).
    out = [natural[i] + output_padding[i] - pads[i] - pads[r + i] for i in range(r)]
    lo = [max(0, pads[i]) for i in range(r)]
    hi = [min(natural[i], pads[i] + out[i]) for i in range(r)]
    src = (slice(None), slice(None)) + tuple(slice(lo[i], hi[i]) for i in range(r))
    if out == [hi[i] - lo[i] for i in range(r)]:
        y = np.ascontiguousarray(full[src])
    else:
        y = np.zeros((n, group * mg) + tuple(out), dtype=cols.dtype)
        y[(slice(None), slice(None)) + tuple(slice(lo[i] - pads[i], hi[i] - pads[i]) for i in range(r))] = full[src]
    return _add_bias(y, b)


# ------------------------------------------------------------------ pooling


def _pool_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    a = node.attrs
    if x.shape is None:
        return [TensorType(x.dtype, None)]
    kernel = a["kernel"]
    r = len(kernel)
    if len(x.shape) != r + 2:
        raise IRError(f"node {node.name!r} ({node.op}): {r}-D kernel on input {x}")
    _check_window_attrs(node, r, strides=a["strides"], pads=a["pads"], dilations=a.get("dilations"))
    y = TensorType(x.dtype, (*x.shape[:2], *_spatial_out(node, x.shape, kernel, bool(a.get("ceil_mode")))))
    return [y, y.with_dtype("int64")] if a.get("with_indices") else [y]


def _pool_flops(node: Node) -> int:
    return numel(node.outputs[0].type.shape) * math.prod(node.attrs["kernel"])


def _dils(dilations: Sequence[int] | None, r: int) -> Sequence[int]:
    return dilations if dilations else (1,) * r


def _lowest(dtype: np.dtype) -> float:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


@defop("max_pool", family="nn", infer=_pool_infer, flops=_pool_flops,
       outputs=lambda attrs, n: 2 if attrs["with_indices"] else 1,
       attrs={"kernel": REQUIRED, "strides": REQUIRED, "pads": REQUIRED, "dilations": None, "ceil_mode": False,
              "with_indices": False, "storage_order": 0})
def max_pool(x: np.ndarray, *, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
             dilations: Sequence[int] | None, ceil_mode: bool, with_indices: bool,
             storage_order: int) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Window maximum; with_indices adds the flat input index of each maximum (first one on ties)."""
    dil = _dils(dilations, len(kernel))
    out = window_out_sizes(x.shape[2:], kernel, strides, pads, dil, ceil_mode)
    if not with_indices:
        return _reduce_windows(x, kernel, strides, pads, dil, out, _lowest(x.dtype), np.maximum)
    shape = x.shape[:2] + tuple(out)
    taps = _taps(x.shape[2:], out, kernel, strides, pads, dil)
    y = np.full(shape, _lowest(x.dtype), x.dtype)
    arg = np.zeros(shape, np.int64)
    for t in taps:  # in kernel order, a strict > keeps the first of equal maxima
        if t.dst is None:
            continue
        region, v = y[_ALL2 + t.dst], x[_ALL2 + t.src]
        better = v > region
        np.copyto(region, v, where=better)
        arg[_ALL2 + t.dst][better] = t.index
    return y, _max_pool_indices(x.shape, arg, kernel, strides, pads, dil, out, storage_order)


def _max_pool_indices(shape: tuple[int, ...], arg: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
                      pads: Sequence[int], dil: Sequence[int], out: Sequence[int], storage_order: int) -> np.ndarray:
    """Flat index into x of each window's maximum: row-major, or column-major spatial when storage_order=1."""
    r = len(kernel)
    sp = shape[2:]
    kidx = np.unravel_index(arg, kernel)
    coords = []
    for i in range(r):
        o = np.arange(out[i]).reshape((-1,) + (1,) * (r - 1 - i))
        coords.append(o * strides[i] - pads[i] + kidx[i] * dil[i])
    order = range(r - 1, -1, -1) if storage_order else range(r)
    flat = np.zeros(arg.shape, np.int64)
    for i in order:
        flat = flat * sp[i] + coords[i]
    nc = np.arange(shape[0] * shape[1], dtype=np.int64).reshape((shape[0], shape[1]) + (1,) * r)
    return flat + nc * math.prod(sp)


def _avg_divisor(sp: Sequence[int], kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
                 dil: Sequence[int], out: Sequence[int], include_pad: bool) -> np.ndarray | float:
    """Per output position, how many window taps count: inside x, or inside x plus its explicit pads."""
    r = len(kernel)
    total: np.ndarray | float = 1.0
    for i in range(r):
        lo, hi = (-pads[i], sp[i] + pads[r + i]) if include_pad else (0, sp[i])
        taps = np.arange(out[i])[:, None] * strides[i] - pads[i] + np.arange(kernel[i])[None, :] * dil[i]
        count = ((taps >= lo) & (taps < hi)).sum(axis=1).astype(np.float64)
        total = total * count.reshape((-1,) + (1,) * (r - 1 - i))
    return total


@defop("avg_pool", family="nn", infer=_pool_infer, flops=_pool_flops,
       attrs={"kernel": REQUIRED, "strides": REQUIRED, "pads": REQUIRED, "ceil_mode": False,
              "count_include_pad": False, "dilations": None})
@_widened
def avg_pool(x: np.ndarray, *, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int], ceil_mode: bool,
             count_include_pad: bool, dilations: Sequence[int] | None) -> np.ndarray:
    """Window mean; the divisor counts explicit padding only with count_include_pad (never ceil overhang)."""
    dil = _dils(dilations, len(kernel))
    out = window_out_sizes(x.shape[2:], kernel, strides, pads, dil, ceil_mode)
    y = _reduce_windows(x, kernel, strides, pads, dil, out, 0, np.add)
    div = _avg_divisor(x.shape[2:], kernel, strides, pads, dil, out, count_include_pad)
    if isinstance(div, np.ndarray) and np.all(div == div.flat[0]):
        div = float(div.flat[0])
    if isinstance(div, float):
        y *= y.dtype.type(1.0 / div)
        return y
    y /= div.astype(y.dtype)
    return y


@defop("lp_pool", family="nn", infer=_pool_infer, flops=_pool_flops,
       attrs={"kernel": REQUIRED, "strides": REQUIRED, "pads": REQUIRED, "p": 2, "ceil_mode": False,
              "dilations": None})
@_widened
def lp_pool(x: np.ndarray, *, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int], p: float,
            ceil_mode: bool, dilations: Sequence[int] | None) -> np.ndarray:
    """Window p-norm: (sum |x|^p)^(1/p), padding contributing zero."""
    dil = _dils(dilations, len(kernel))
    out = window_out_sizes(x.shape[2:], kernel, strides, pads, dil, ceil_mode)
    powered = np.square(x) if p == 2 else np.abs(x) ** x.dtype.type(p)
    y = _reduce_windows(powered, kernel, strides, pads, dil, out, 0, np.add)
    return (np.sqrt(y) if p == 2 else y ** x.dtype.type(1.0 / p)).astype(x.dtype, copy=False)


# ------------------------------------------------------------------ normalization


def _channel_shape(x: np.ndarray) -> tuple[int, ...]:
    return (-1,) + (1,) * (x.ndim - 2)


def _check_channel_params(node: Node, first: int) -> None:
    x = in_type(node, 0)
    c = x.shape[1] if x.shape and len(x.shape) > 1 else None
    for i in range(first, len(node.inputs)):
        v = node.inputs[i]
        if v is None or v.type.shape is None or not isinstance(c, int):
            continue
        if v.type.shape != (c,):
            raise IRError(f"node {node.name!r} ({node.op}): input {i} has shape {v.type.shape}, expected ({c},)")


def _norm_infer(node: Node) -> list[TensorType]:
    _check_channel_params(node, 1)
    return same_as_input(node)


@defop("batch_norm", family="nn", infer=_norm_infer, flops=lambda n: 2 * numel(n.outputs[0].type.shape),
       attrs={"epsilon": 1e-5})
@_widened
def batch_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, mean: np.ndarray, var: np.ndarray, *,
               epsilon: float) -> np.ndarray:
    """Inference batch norm over channel axis 1: (x - mean) / sqrt(var + eps) * scale + bias."""
    a = (scale / np.sqrt(var + np.asarray(epsilon, var.dtype))).astype(x.dtype, copy=False)
    c = (bias - mean * a).astype(x.dtype, copy=False)
    y = x * a.reshape(_channel_shape(x))
    y += c.reshape(_channel_shape(x))
    return y


def _normalize(x: np.ndarray, axes: tuple[int, ...], epsilon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x - mean) * inv_std over ``axes``, computed in at least float32; also returns mean and inv_std."""
    xf = x.astype(np.promote_types(x.dtype, np.float32), copy=False)
    mean = xf.mean(axis=axes, keepdims=True)
    centered = xf - mean
    var = np.mean(np.square(centered), axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + xf.dtype.type(epsilon))
    centered *= inv_std
    return centered, mean, inv_std


@defop("instance_norm", family="nn", infer=_norm_infer, flops=lambda n: 6 * numel(n.outputs[0].type.shape),
       attrs={"epsilon": 1e-5})
def instance_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, *, epsilon: float) -> np.ndarray:
    """Normalize each (sample, channel) over its spatial dims, then scale and shift per channel."""
    y, _, _ = _normalize(x, tuple(range(2, x.ndim)), epsilon)
    y = y * scale.reshape(_channel_shape(x)) + bias.reshape(_channel_shape(x))
    return y.astype(x.dtype, copy=False)


def _group_norm_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    g = node.attrs["num_groups"]
    if g < 1:
        raise IRError(f"node {node.name!r} (group_norm): num_groups {g} must be positive")
    if x.shape is not None and len(x.shape) > 1 and isinstance(x.shape[1], int) and x.shape[1] % g:
        raise IRError(f"node {node.name!r} (group_norm): {x.shape[1]} channels do not split into {g} groups")
    return _norm_infer(node)


@defop("group_norm", family="nn", infer=_group_norm_infer, flops=lambda n: 6 * numel(n.outputs[0].type.shape),
       attrs={"num_groups": REQUIRED, "epsilon": 1e-5})
def group_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, *, num_groups: int, epsilon: float) -> np.ndarray:
    """Normalize over each group of channels and the spatial dims; scale and bias are per channel."""
    grouped = x.reshape(x.shape[0], num_groups, -1)
    y, _, _ = _normalize(grouped, (2,), epsilon)
    y = y.reshape(x.shape) * scale.reshape(_channel_shape(x)) + bias.reshape(_channel_shape(x))
    return y.astype(x.dtype, copy=False)


def _stat_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.promote_types(dtype, np.float32))


def _layer_norm_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    if x.shape is None:
        return [x, TensorType(_stat_dtype(x.dtype.numpy), None), TensorType(_stat_dtype(x.dtype.numpy), None)]
    axis = norm_axis(node.attrs["axis"], len(x.shape), node)
    stats = TensorType(_stat_dtype(x.dtype.numpy), x.shape[:axis] + (1,) * (len(x.shape) - axis))
    return [x, stats, stats]


@defop("layer_norm", family="nn", infer=_layer_norm_infer, flops=lambda n: 8 * numel(n.outputs[0].type.shape),
       attrs={"axis": -1, "epsilon": 1e-5})
def layer_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray | None = None, *, axis: int,
               epsilon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalize over dims axis..rank-1; outputs y, mean and inv_std_dev (a node may keep only y)."""
    axis = norm_axis(axis, x.ndim)
    y, mean, inv_std = _normalize(x, tuple(range(axis, x.ndim)), epsilon)
    y *= scale
    if bias is not None:
        y += bias
    return y.astype(x.dtype, copy=False), mean, inv_std


@defop("lrn", family="nn", infer=same_as_input, flops=lambda n: (n.attrs["size"] + 4) * numel(n.outputs[0].type.shape),
       attrs={"size": REQUIRED, "alpha": 1e-4, "beta": 0.75, "bias": 1.0})
@_widened
def lrn(x: np.ndarray, *, size: int, alpha: float, beta: float, bias: float) -> np.ndarray:
    """Local response normalization across channels: x / (bias + alpha/size * sum of squares)^beta."""
    before, c = (size - 1) // 2, x.shape[1]
    sq = np.zeros((x.shape[0], c + size - 1) + x.shape[2:], x.dtype)
    np.square(x, out=sq[:, before:before + c])
    acc = sq[:, 0:c].copy()
    for i in range(1, size):
        acc += sq[:, i:i + c]
    base = acc * x.dtype.type(alpha / size) + x.dtype.type(bias)
    return (x * np.power(base, x.dtype.type(-beta))).astype(x.dtype, copy=False)


# ------------------------------------------------------------------ softmax family


def _axis_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    if x.shape is not None:
        norm_axis(node.attrs["axis"], len(x.shape), node)
    return [x]


def _softmax_flops(node: Node) -> int:
    return 5 * numel(node.outputs[0].type.shape)


@defop("softmax", family="nn", infer=_axis_infer, flops=_softmax_flops, attrs={"axis": -1})
@_widened
def softmax(x: np.ndarray, *, axis: int) -> np.ndarray:
    """exp(x - max) / sum(exp(x - max)) along one axis."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


@defop("log_softmax", family="nn", infer=_axis_infer, flops=_softmax_flops, attrs={"axis": -1})
@_widened
def log_softmax(x: np.ndarray, *, axis: int) -> np.ndarray:
    """x - max - log(sum(exp(x - max))) along one axis."""
    shifted = x - x.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


@defop("hardmax", family="nn", infer=_axis_infer, attrs={"axis": -1})
def hardmax(x: np.ndarray, *, axis: int) -> np.ndarray:
    """One-hot of the first maximum along one axis."""
    y = np.zeros_like(x)
    if x.size:
        np.put_along_axis(y, np.expand_dims(np.argmax(x, axis=axis), axis), 1, axis=axis)
    return y
