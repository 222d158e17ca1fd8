"""Renderers for what real models need besides the core set (issue 9 item 5): calls into ``templates/extra.c``.

Gather, pad in every mode (and cropping), instance / group norm, resize, transposed convolution, 3-D
convolution and pooling. As in ``render.py``, shapes are static here: every size, stride and table is fixed
when the C is written, so the only data a kernel indexes with is gather's indices, which it checks.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from hetflow.backends.cpu_c.render import c_float, c_longs, contiguous_strides, shape_of
from hetflow.ir import DType, Node, Value
from hetflow.ir.ops.resize import resize_axes, resize_taps

if TYPE_CHECKING:
    from hetflow.backends.cpu_c.codegen import Emitter

INDEX_TYPES = frozenset({DType.int32, DType.int64})
MAX_TABLE = 1 << 22
"""Most entries a compile-time resize table may have (one per output position and tap)."""


def _f32(*values: Value | None) -> bool:
    return all(v is None or v.type.dtype is DType.float32 for v in values)


def _opt(em: Emitter, v: Value | None) -> str:
    return em.ptr(v) if v is not None else "NULL"


# ------------------------------------------------------------------ gather
CHECKED_OPS = frozenset({"gather", "gather_elements"})
"""Ops whose kernels read data-dependent indices and report a bad one through hf_take_status."""


def gather_check(node: Node) -> str | None:
    idx = node.inputs[1]
    if idx is None or idx.type.dtype not in INDEX_TYPES:
        return "gather indices must be int32 or int64"
    return None


def gather(node: Node, em: Emitter, _: Any = None) -> str:
    x, idx = node.inputs[0], node.inputs[1]
    assert x is not None and idx is not None
    xs = shape_of(x)
    axis = node.attrs["axis"] % len(xs)
    outer, inner = math.prod(xs[:axis]), math.prod(xs[axis + 1:]) * x.type.dtype.itemsize
    n_idx = math.prod(shape_of(idx))
    wide = int(idx.type.dtype is DType.int64)
    return (f"hf_gather((const char*)({em.ptr(x)}), (const void*)({em.ptr(idx)}), {wide}, {n_idx}L, {outer}L, "
            f"{xs[axis]}L, {inner}L, (char*)({em.out(node)}));")


def gather_elements_check(node: Node) -> str | None:
    reason = gather_check(node)
    if reason:
        return reason
    xs, ids = shape_of(node.inputs[0]), shape_of(node.inputs[1])  # type: ignore[arg-type]
    axis = node.attrs["axis"] % len(xs)
    if any(i != x for d, (i, x) in enumerate(zip(ids, xs)) if d != axis):
        return "gather_elements indices shaped unlike the data outside the axis"
    return None


def gather_elements(node: Node, em: Emitter, _: Any = None) -> str:
    x, idx = node.inputs[0], node.inputs[1]
    assert x is not None and idx is not None
    xs, ys = shape_of(x), shape_of(node.outputs[0])
    axis = node.attrs["axis"] % len(xs)
    wide = int(idx.type.dtype is DType.int64)
    return (f"{{ static const long os[] = {c_longs(ys)}, xs[] = {c_longs(contiguous_strides(xs))};\n"
            f"  hf_gather_elements({len(ys)}, os, xs, {axis}, {xs[axis]}L, (const void*)({em.ptr(idx)}), {wide}, "
            f"(const char*)({em.ptr(x)}), (char*)({em.out(node)}), {x.type.dtype.itemsize}); }}")


# ------------------------------------------------------------------ pad
PAD_MODES = {"constant": 0, "reflect": 1, "edge": 2, "wrap": 3}


def pad_needs_kernel(node: Node) -> bool:
    """Whether the pad needs hf_pad (a mode other than constant, or cropping), not a fill and a copy."""
    return node.attrs["mode"] != "constant" or any(p < 0 for p in node.attrs["pads"])


def pad_check(node: Node) -> str | None:
    mode = node.attrs["mode"]
    if mode not in PAD_MODES:
        return f"pad mode {mode!r}"
    xs = shape_of(node.inputs[0])  # type: ignore[arg-type]
    if not xs:
        return "pad of a scalar"
    if mode != "constant":
        r, pads = len(xs), node.attrs["pads"]
        for d, n in enumerate(xs):
            kept = n - max(-pads[d], 0) - max(-pads[d + r], 0)
            if kept <= 0 and (pads[d] > 0 or pads[d + r] > 0):
                return f"{mode} padding of an axis with nothing left to copy (axis {d})"
    return None


def pad(node: Node, em: Emitter, _: Any = None) -> str:
    x = node.inputs[0]
    assert x is not None
    xs, ys = shape_of(x), shape_of(node.outputs[0])
    r, pads = len(xs), node.attrs["pads"]
    strides = contiguous_strides(xs)
    lo = [max(-pads[d], 0) for d in range(r)]
    kept = [xs[d] - lo[d] - max(-pads[d + r], 0) for d in range(r)]
    begin = [max(pads[d], 0) for d in range(r)]
    offset = sum(a * s for a, s in zip(lo, strides)) * x.type.dtype.itemsize
    value = np.asarray(node.attrs["value"]).astype(x.type.dtype.numpy).reshape(1)
    return (f"{{ static const long os[] = {c_longs(ys)}, is[] = {c_longs(kept)}, bg[] = {c_longs(begin)}, "
            f"st[] = {c_longs(strides)};\n"
            f"  hf_pad({r}, os, is, bg, st, {PAD_MODES[node.attrs['mode']]}, (const char*)({em.ptr(x)}) + {offset}L, "
            f"(char*)({em.out(node)}), {em.const(value)}, {x.type.dtype.itemsize}); }}")


# ------------------------------------------------------------------ instance / group norm
def norm_check(node: Node) -> str | None:
    x, scale, bias = node.inputs[0], node.inputs[1], node.inputs[2]
    if not _f32(x, scale, bias) or scale is None or bias is None:
        return f"{node.op} operands must be float32"
    xs = shape_of(x)  # type: ignore[arg-type]
    if len(xs) < 2:
        return f"{node.op} needs a channel axis"
    if math.prod(shape_of(scale)) != xs[1] or math.prod(shape_of(bias)) != xs[1]:
        return f"{node.op} scale and bias must have one value per channel"
    return None


def group_norm(node: Node, em: Emitter, _: Any = None) -> str:
    x = node.inputs[0]
    assert x is not None
    xs = shape_of(x)
    groups = xs[1] if node.op == "instance_norm" else node.attrs["num_groups"]
    return (f"hf_group_norm({em.ptr(x)}, {em.ptr(node.inputs[1])}, {em.ptr(node.inputs[2])}, "  # type: ignore[arg-type]
            f"{em.out(node)}, {xs[0]}L, {xs[1]}L, {groups}L, {math.prod(xs[2:])}L, {c_float(node.attrs['epsilon'])});")


# ------------------------------------------------------------------ resize
def _resize_tables(node: Node) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] | str:
    """Per axis of x: (input indices, weights, outside) of each output position; or why not."""
    xs = shape_of(node.inputs[0])  # type: ignore[arg-type]
    ys = shape_of(node.outputs[0])
    attrs = node.attrs
    tables: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = [
        (np.arange(n)[:, None], np.ones((n, 1)), None) for n in xs]
    try:
        for axis, size, scale, box in resize_axes(xs, attrs):
            tables[axis] = resize_taps(xs[axis], size, scale, box, attrs)
    except Exception as exc:  # noqa: BLE001 - the reference raises the same error at run time
        return f"resize attributes: {exc}"
    if any(t[0].shape[0] != n for t, n in zip(tables, ys)):
        return "resize output shape does not match its sizes"
    if any(t[2] is not None and bool(t[2].any()) for t in tables):
        return "tf_crop_and_resize extrapolates outside the input"
    if sum(t[0].size for t in tables) > MAX_TABLE:
        return "resize tables too large"
    return tables


def resize_check(node: Node) -> str | None:
    if not _f32(node.inputs[0], node.outputs[0]):
        return "resize data must be float32"
    if len(node.inputs) > 1 and node.inputs[1] is not None:
        return "resize sizes known only at run time"
    if 0 in shape_of(node.inputs[0]):  # type: ignore[arg-type]
        return "resize of an empty tensor"
    tables = _resize_tables(node)
    return tables if isinstance(tables, str) else None


def resize(node: Node, em: Emitter, _: Any = None) -> str:
    x = node.inputs[0]
    assert x is not None
    tables = _resize_tables(node)
    assert not isinstance(tables, str)
    strides = contiguous_strides(shape_of(x))
    offsets = [f"(const long*)({em.const((idx * s).astype(np.int64))})" for (idx, _w, _o), s in zip(tables, strides)]
    weights = [f"(const double*)({em.const(np.ascontiguousarray(w, np.float64))})" for _i, w, _o in tables]
    taps = [t[0].shape[1] for t in tables]
    ys = shape_of(node.outputs[0])
    return (f"{{ static const long os[] = {c_longs(ys)}, tp[] = {c_longs(taps)};\n"
            f"  const long* off[] = {{{', '.join(offsets)}}};\n"
            f"  const double* wt[] = {{{', '.join(weights)}}};\n"
            f"  hf_resize({len(ys)}, os, tp, off, wt, {em.ptr(x)}, {em.out(node)}); }}")


# ------------------------------------------------------------------ transposed convolution
def conv_transpose_check(node: Node) -> str | None:
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    if not _f32(x, w, b):
        return "conv_transpose operands must be float32"
    if len(shape_of(w)) not in (3, 4):  # type: ignore[arg-type]
        return f"{len(shape_of(w)) - 2}-D transposed convolution (cpu_c generates 1-D and 2-D)"  # type: ignore[arg-type]
    return None


def conv_transpose(node: Node, em: Emitter, _: Any = None) -> str:
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    xs, ws, ys = shape_of(x), shape_of(w), shape_of(node.outputs[0])  # type: ignore[arg-type]
    a = node.attrs
    st, pd, dl = list(a["strides"]), list(a["pads"]), list(a["dilations"])
    if len(ws) == 3:  # 1-D: a unit height
        xs, ws, ys = xs[:2] + (1,) + xs[2:], ws[:2] + (1,) + ws[2:], ys[:2] + (1,) + ys[2:]
        st, dl, pd = [1, *st], [1, *dl], [0, pd[0], 0, pd[1]]
    geom = (f"static const hf_conv2d g = {{ .n = {xs[0]}, .c = {xs[1]}, .h = {xs[2]}, .w = {xs[3]}, .m = {ys[1]}, "
            f".oh = {ys[2]}, .ow = {ys[3]}, .kh = {ws[2]}, .kw = {ws[3]}, .sh = {st[0]}, .sw = {st[1]}, "
            f".ph = {pd[0]}, .pw = {pd[1]}, .dh = {dl[0]}, .dw = {dl[1]}, .group = {a['group']} }};")
    return (f"{{ {geom}\n  hf_conv_transpose2d(&g, {em.ptr(x)}, {em.ptr(w)}, {_opt(em, b)}, "  # type: ignore[arg-type]
            f"{em.out(node)}); }}")


# ------------------------------------------------------------------ 3-D convolution and pooling
def _geom3d(xs: tuple[int, ...], ys: tuple[int, ...], kernel: list[int], m: int, attrs: dict) -> str:
    """The hf_geom3d of a window op over ``xs`` -> ``ys``; 1-D and 2-D ones get unit leading spatial dims."""
    r = len(kernel)
    lead = 3 - r
    xs, ys = xs[:2] + (1,) * lead + xs[2:], ys[:2] + (1,) * lead + ys[2:]
    kernel = [1] * lead + kernel
    st = [1] * lead + list(attrs["strides"])
    pd = [0] * lead + list(attrs["pads"][:r])
    dl = [1] * lead + list(attrs.get("dilations") or (1,) * r)
    return (f"static const hf_geom3d g = {{ .n = {xs[0]}, .c = {xs[1]}, .d = {xs[2]}, .h = {xs[3]}, .w = {xs[4]}, "
            f".m = {m}, .od = {ys[2]}, .oh = {ys[3]}, .ow = {ys[4]}, .kd = {kernel[0]}, .kh = {kernel[1]}, "
            f".kw = {kernel[2]}, .sd = {st[0]}, .sh = {st[1]}, .sw = {st[2]}, .pd = {pd[0]}, .ph = {pd[1]}, "
            f".pw = {pd[2]}, .dd = {dl[0]}, .dh = {dl[1]}, .dw = {dl[2]}, .group = {attrs.get('group', 1)} }};")


def direct_conv(node: Node) -> bool:
    """Whether cpu_c runs this convolution as a direct loop nest: 3-D, or a weight computed at run time (the
    GEMM path packs weights when the C is written)."""
    w = node.inputs[1]
    return w is not None and (len(w.type.shape or ()) == 5 or w.const is None)


def conv3d(node: Node, em: Emitter, _: Any = None) -> str:
    """A direct convolution (any of 1-D, 2-D, 3-D): ``direct_conv``."""
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    xs, ws, ys = shape_of(x), shape_of(w), shape_of(node.outputs[0])  # type: ignore[arg-type]
    geom = _geom3d(xs, ys, list(ws[2:]), ys[1], node.attrs)
    return (f"{{ {geom}\n  hf_conv3d(&g, {em.ptr(x)}, {em.ptr(w)}, {_opt(em, b)}, {em.out(node)}); }}")  # type: ignore[arg-type]


def pool3d(node: Node, em: Emitter, _: Any = None) -> str:
    x = node.inputs[0]
    assert x is not None
    xs, ys = shape_of(x), shape_of(node.outputs[0])
    kernel = list(node.attrs["kernel"])
    geom = _geom3d(xs, ys, kernel, xs[1], node.attrs)
    ends = c_longs(list(node.attrs["pads"][3:]))
    include = int(bool(node.attrs.get("count_include_pad", False)))
    return (f"{{ {geom}\n  static const long ends[] = {ends};\n"
            f"  hf_pool3d(&g, {em.ptr(x)}, {em.out(node)}, {int(node.op == 'max_pool')}, {include}, ends); }}")
