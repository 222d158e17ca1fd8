"""Renderers for the table's kernel entries: one IR node -> a call into the runtime library.

Each renderer gets the node, the ``Emitter`` (pointers to values, compile-time constants, the
fused epilogue) and returns C statements. Shapes are static here, so every size, stride and
packed weight is fixed when the C is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hetflow.ir import DType, Node, Value

if TYPE_CHECKING:
    from hetflow.backends.cpu_c.codegen import Emitter

View3 = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def shape_of(v: Value) -> tuple[int, ...]:
    assert v.type.shape is not None
    return tuple(int(d) for d in v.type.shape)


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


def collapse(shape: tuple[int, ...], *strides: tuple[int, ...]) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Drop size-1 dims and merge neighbours that every stride list walks as one."""
    keep = [d for d in range(len(shape)) if shape[d] != 1]
    out_shape: list[int] = []
    out_strides: list[list[int]] = [[] for _ in strides]
    for d in keep:
        if out_shape and all(s[d] * shape[d] == o[-1] for s, o in zip(strides, out_strides)):
            out_shape[-1] *= shape[d]
            for s, o in zip(strides, out_strides):
                o[-1] = s[d]
            continue
        out_shape.append(shape[d])
        for s, o in zip(strides, out_strides):
            o.append(s[d])
    return tuple(out_shape), [tuple(o) for o in out_strides]


def c_float(x: float) -> str:
    """A float32 C literal for ``x`` (inf and NaN included: an attribute from a file can be either)."""
    x = float(np.float32(x))
    if math.isnan(x):
        return "__builtin_nanf(\"\")"
    if math.isinf(x):
        return "HUGE_VALF" if x > 0 else "(-HUGE_VALF)"
    return f"{x!r}f"


def c_longs(values: tuple[int, ...] | list[int]) -> str:
    return "{" + ", ".join(str(int(v)) for v in values) + "}" if values else "{0}"


def copy_nd(shape: tuple[int, ...], dst: str, dst_strides: tuple[int, ...], src: str, src_strides: tuple[int, ...],
            elem: int) -> str:
    """C that copies an N-d index space between two strided layouts (strides in elements)."""
    shape, (ds, ss) = collapse(shape, dst_strides, src_strides)
    if not shape:
        return f"memcpy((char*)({dst}), (const char*)({src}), {elem});"
    if len(shape) == 1 and ds[0] == 1 and ss[0] == 1:
        return f"memcpy((char*)({dst}), (const char*)({src}), {shape[0] * elem}L);"
    return (f"{{ static const long shape[] = {c_longs(shape)}, ds[] = {c_longs(ds)}, ss[] = {c_longs(ss)};\n"
            f"  hf_copy_nd({len(shape)}, shape, (char*)({dst}), ds, (const char*)({src}), ss, {elem}); }}")


def _f32(v: Value | None) -> bool:
    return v is not None and v.type.dtype is DType.float32


# ------------------------------------------------------------------ matmul
@dataclass(frozen=True)
class MatmulGeom:
    batch: int
    m: int
    n: int
    k: int
    a_bs: int  # elements between batches of A (0: broadcast)
    b_bs: int
    folded: bool  # A's batch folded into M (B is shared by every batch)
    view: View3


def matmul_geom(node: Node) -> MatmulGeom | None:
    a, b = node.inputs[0], node.inputs[1]
    assert a is not None and b is not None
    sa, sb, so = shape_of(a), shape_of(b), shape_of(node.outputs[0])
    a2 = (1,) + sa if len(sa) == 1 else sa
    b2 = sb + (1,) if len(sb) == 1 else sb
    m, k, n = a2[-2], a2[-1], b2[-1]
    nb = max(len(a2), len(b2)) - 2
    batch_shape = so[:nb]
    batch = math.prod(batch_shape)
    a_batch = (1,) * (nb - (len(a2) - 2)) + a2[:-2]
    b_batch = (1,) * (nb - (len(b2) - 2)) + b2[:-2]
    bs = []
    for shape, size in ((a_batch, m * k), (b_batch, k * n)):
        if shape == batch_shape:
            bs.append(size if batch > 1 else 0)
        elif math.prod(shape) == 1:
            bs.append(0)
        else:
            return None  # partial broadcast over batch dims
    a_bs, b_bs = bs
    row = (nb,) if len(sa) > 1 else ()
    col = (len(so) - 1,) if len(sb) > 1 else ()
    folded = batch > 1 and b_bs == 0 and a_bs == m * k
    if folded:
        return MatmulGeom(1, batch * m, n, k, 0, 0, True, ((), tuple(range(nb)) + row, col))
    return MatmulGeom(batch, m, n, k, a_bs, b_bs, False, (tuple(range(nb)), row, col))


def matmul_check(node: Node) -> str | None:
    if not all(_f32(v) for v in node.inputs[:2]):
        return "matmul operands must be float32"
    if matmul_geom(node) is None:
        return "matmul broadcasts some batch dims but not others"
    return None


def matmul_epilogue(node: Node) -> View3 | None:
    geom = matmul_geom(node)
    return geom.view if geom else None


def k_block(k: int, kc: int) -> int:
    """The runtime's K block for a reduction of length ``k`` (gemm.c kc_for): ceil(k / ceil(k / kc))."""
    blocks = -(-k // kc)
    return -(-k // blocks) if blocks else kc


def _pack_panels(src: np.ndarray, width: int, kc: int) -> np.ndarray:
    """[K, W] (column j of panel p is src[:, p*width + j]) -> the runtime's layout [K block][panel][kc][width]
    (``kc`` the largest block; the blocks are made even), zero past W. Written into one buffer: no padded or transposed copies
    of the weights on the way (a VGG fully connected layer is 400 MB)."""
    k, w = src.shape
    kc = k_block(k, kc)
    p, full = -(-w // width), w // width
    out = np.zeros(p * width * k, np.float32)
    offset = 0
    for k0 in range(0, k, kc):
        kb = min(kc, k - k0)
        block = out[offset:offset + p * kb * width].reshape(p, kb, width)
        if full:
            block[:full] = src[k0:k0 + kb, :full * width].reshape(kb, full, width).transpose(1, 0, 2)
        if w % width:
            block[full, :, :w % width] = src[k0:k0 + kb, full * width:]
        offset += p * kb * width
    return out


def pack_a(a: np.ndarray, mr: int, kc: int) -> np.ndarray:
    """[M, K] -> the runtime's packed-A layout: panels of ``mr`` rows (zero past M), K in blocks of ``kc``."""
    return _pack_panels(np.asarray(a, np.float32).T, mr, kc)


def pack_b(b: np.ndarray, nr: int, kc: int) -> np.ndarray:
    """[K, N] -> the runtime's packed-B layout: panels of ``nr`` columns (zero past N), K in blocks of ``kc``."""
    return _pack_panels(np.asarray(b, np.float32), nr, kc)


def _batched_pack(x: np.ndarray, rows: int, cols: int, fn: Any, width: int, kc: int) -> tuple[np.ndarray, int]:
    mats = x.reshape(-1, rows, cols)
    if mats.shape[0] == 1:
        return fn(mats[0], width, kc), 0
    packed = [fn(mats[i], width, kc) for i in range(mats.shape[0])]
    return np.concatenate(packed), packed[0].size


# How fast each micro-kernel height runs relative to the tallest, per row of output computed
# (measured on AVX-512: fewer rows reuse each loaded B vector less).
KERNEL_EFFICIENCY = {12: 1.0, 8: 0.93, 7: 0.88, 6: 1.0, 4: 1.0}


def pick_mr(rows: int, variants: tuple[int, ...]) -> tuple[int, float]:
    """The micro-kernel height that wastes least on ``rows`` (padding and kernel speed), and its efficiency."""
    best = max(variants, key=lambda mr: (rows / (-(-rows // mr) * mr) * KERNEL_EFFICIENCY.get(mr, 0.9), mr))
    return best, rows / (-(-rows // best) * best) * KERNEL_EFFICIENCY.get(best, 0.9)


def matmul(node: Node, em: Emitter, _: Any = None) -> str:
    g = matmul_geom(node)
    assert g is not None
    a, b = node.inputs[0], node.inputs[1]
    assert a is not None and b is not None
    mr, _ = pick_mr(g.m, em.mr_variants)
    a_args = f"{em.ptr(a)}, NULL, {g.a_bs}, {g.k}, 1"
    b_args = f"{em.ptr(b)}, NULL, {g.b_bs}, {g.n}, 1"
    if b.const is not None:
        packed, bs = _batched_pack(b.const, g.k, g.n, pack_b, em.nr, em.kc)
        b_args = f"NULL, {em.const(packed)}, {bs}, 0, 0"
    elif a.const is not None:
        packed, bs = _batched_pack(a.const, g.m, g.k, pack_a, mr, em.kc)
        a_args = f"NULL, {em.const(packed)}, {bs}, 0, 0"
    decl, epi, res_bs = em.epilogue(node, g.view)
    m = f"{g.m}L * {em.rows_scale}" if em.rows_scale else str(g.m)  # a symbolic batch as more rows
    call = (f"hf_matmul({g.batch}, {m}, {g.n}, {g.k}, {a_args}, {b_args}, {em.out(node)}, {g.m * g.n}, "
            f"{epi}, {res_bs}, {mr});")
    return f"{{ {decl}\n  {call} }}" if decl else call


# ------------------------------------------------------------------ convolution
def _conv2d_dims(node: Node) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], dict[str, int]]:
    """x, w, y shapes as 2-D convolution (a 1-D one gets a unit height), and the window attributes."""
    x, w, y = shape_of(node.inputs[0]), shape_of(node.inputs[1]), shape_of(node.outputs[0])  # type: ignore[arg-type]
    a = node.attrs
    st, pd, dl = list(a["strides"]), list(a["pads"]), list(a["dilations"])
    if len(w) == 3:
        x, w, y = x[:2] + (1,) + x[2:], w[:2] + (1,) + w[2:], y[:2] + (1,) + y[2:]
        st, dl, pd = [1, *st], [1, *dl], [0, pd[0], 0, pd[1]]
    return x, w, y, {"sh": st[0], "sw": st[1], "ph": pd[0], "pw": pd[1], "dh": dl[0], "dw": dl[1]}


def conv_check(node: Node) -> str | None:
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    if not (_f32(x) and _f32(w)):
        return "conv operands must be float32"
    if w is None or w.const is None:
        return "conv weight is not a constant (cpu_c packs weights at compile time)"
    if len(shape_of(w)) not in (3, 4):
        return f"{len(shape_of(w)) - 2}-D convolution (cpu_c generates 1-D and 2-D)"
    if b is not None and b.const is None:
        return "conv bias is not a constant"
    return None


def conv_epilogue(node: Node) -> View3:
    rank = len(shape_of(node.outputs[0]))
    return (0,), (1,), tuple(range(2, rank))


TRANSPOSE_MAX_PIXELS = 64
"""Transposed products only pay off for small images (7 x 7): packing pixels into narrow panels and
transposing the result back cost more than the padded columns they save on anything larger (measured)."""
TRANSPOSE_MIN_K = 256
"""Below this reduction length the final transpose costs more than it saves."""


@dataclass(frozen=True)
class ConvPlan:
    kind: str  # "depthwise", "gemm" (channels x pixels) or "transposed" (pixels x channels)
    mr: int


def conv_plan(node: Node, variants: tuple[int, ...], nr: int) -> ConvPlan:
    """How to run a convolution: the orientation and micro-kernel height that waste least."""
    x, w, y, _ = _conv2d_dims(node)
    group = node.attrs["group"]
    if group == x[1] and w[1] == 1 and group > 1:
        return ConvPlan("depthwise", 0)
    mg, n, k = y[1] // group, y[2] * y[3], w[1] * w[2] * w[3]
    mr, eff = pick_mr(mg, variants)
    normal = eff * n / (-(-n // nr) * nr)
    if k >= TRANSPOSE_MIN_K and n <= TRANSPOSE_MAX_PIXELS:
        mr_t, eff_t = pick_mr(n, variants)
        transposed = eff_t * mg / (-(-mg // nr) * nr)
        if transposed > normal * 1.2:
            return ConvPlan("transposed", mr_t)
    return ConvPlan("gemm", mr)


def conv_scratch(node: Node, variants: tuple[int, ...], nr: int) -> int:
    """Arena bytes the convolution needs while it runs: the transposed product, one group at a time."""
    if conv_plan(node, variants, nr).kind != "transposed":
        return 0
    _, _, y, _ = _conv2d_dims(node)
    return y[1] // node.attrs["group"] * y[2] * y[3] * 4


def conv(node: Node, em: Emitter, _: Any = None) -> str:
    x, w, y, win = _conv2d_dims(node)
    weight = np.asarray(node.inputs[1].const, np.float32).reshape(w)  # type: ignore[union-attr]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    bias = b.const.astype(np.float32).reshape(-1) if b is not None and b.const is not None else None
    group = node.attrs["group"]
    plan = conv_plan(node, em.mr_variants, em.nr)
    geom = (f"static const hf_conv2d g = {{ .n = {x[0]}, .c = {x[1]}, .h = {x[2]}, .w = {x[3]}, .m = {y[1]}, "
            f".oh = {y[2]}, .ow = {y[3]}, .kh = {w[2]}, .kw = {w[3]}, .sh = {win['sh']}, .sw = {win['sw']}, "
            f".ph = {win['ph']}, .pw = {win['pw']}, .dh = {win['dh']}, .dw = {win['dw']}, .group = {group} }};")
    decl, epi, res_bs = em.epilogue(node, conv_epilogue(node), bias_m=bias)
    xp, yp = em.ptr(node.inputs[0]), em.out(node)  # type: ignore[arg-type]
    if plan.kind == "depthwise":
        call = f"hf_conv2d_depthwise(&g, {xp}, {em.const(weight)}, {yp}, {epi}, {res_bs});"
    else:
        mg, k = y[1] // group, w[1] * w[2] * w[3]
        mats = weight.reshape(group, mg, k)
        if plan.kind == "transposed":
            parts = [pack_b(mats[i].T, em.nr, em.kc) for i in range(group)]
            scratch = f"(float*)({em.scratch(node)})"
        else:
            parts = [pack_a(mats[i], plan.mr, em.kc) for i in range(group)]
            scratch = "NULL"
        packed = parts[0] if group == 1 else np.concatenate(parts)
        call = f"hf_conv2d_gemm(&g, {xp}, {em.const(packed)}, {yp}, {epi}, {res_bs}, {plan.mr}, {scratch});"
    return f"{{ {geom}\n  {decl}\n  {call} }}"


# ------------------------------------------------------------------ pooling
def pool_check(node: Node) -> str | None:
    rank = len(node.attrs["kernel"])
    if rank not in (1, 2):
        return f"{rank}-D pooling (cpu_c generates 1-D and 2-D)"
    if node.op == "max_pool" and node.attrs.get("with_indices"):
        return "max_pool with indices"
    return None


def _pool(node: Node, em: Emitter, fn: str) -> str:
    x, y = shape_of(node.inputs[0]), shape_of(node.outputs[0])  # type: ignore[arg-type]
    a = node.attrs
    k, st, pd = list(a["kernel"]), list(a["strides"]), list(a["pads"])
    dl = list(a.get("dilations") or (1,) * len(k))
    if len(k) == 1:
        x, y = x[:2] + (1,) + x[2:], y[:2] + (1,) + y[2:]
        k, st, dl, pd = [1, *k], [1, *st], [1, *dl], [0, pd[0], 0, pd[1]]
    include = int(bool(a.get("count_include_pad", False)))
    geom = (f"static const hf_pool2d p = {{ .n = {x[0]}, .c = {x[1]}, .h = {x[2]}, .w = {x[3]}, .oh = {y[2]}, "
            f".ow = {y[3]}, .kh = {k[0]}, .kw = {k[1]}, .sh = {st[0]}, .sw = {st[1]}, .ph = {pd[0]}, .pw = {pd[1]}, "
            f".dh = {dl[0]}, .dw = {dl[1]}, .pe_h = {pd[2]}, .pe_w = {pd[3]}, .count_include_pad = {include} }};")
    return f"{{ {geom}\n  {fn}(&p, {em.ptr(node.inputs[0])}, {em.out(node)}); }}"  # type: ignore[arg-type]


def max_pool(node: Node, em: Emitter, _: Any = None) -> str:
    return _pool(node, em, "hf_max_pool2d")


def avg_pool(node: Node, em: Emitter, _: Any = None) -> str:
    return _pool(node, em, "hf_avg_pool2d")


# ------------------------------------------------------------------ rows: softmax, norms, reductions
def _split_at(shape: tuple[int, ...], lo: int, hi: int) -> tuple[int, int, int]:
    return math.prod(shape[:lo]), math.prod(shape[lo:hi]), math.prod(shape[hi:])


def softmax(node: Node, em: Emitter, _: Any = None) -> str:
    x = shape_of(node.inputs[0])  # type: ignore[arg-type]
    axis = node.attrs["axis"] % max(len(x), 1)
    outer, n, inner = _split_at(x, axis, axis + 1) if x else (1, 1, 1)
    log = int(node.op == "log_softmax")
    return f"hf_softmax({em.ptr(node.inputs[0])}, {em.out(node)}, {outer}, {n}, {inner}, {log});"  # type: ignore[arg-type]


def layer_norm_check(node: Node) -> str | None:
    x = shape_of(node.inputs[0])  # type: ignore[arg-type]
    axis = node.attrs["axis"] % len(x)
    n = math.prod(x[axis:])
    for v in node.inputs[1:]:
        if v is not None and (v.type.dtype is not DType.float32 or math.prod(shape_of(v)) != n):
            return "layer_norm scale/bias must be float32 of the normalized size"
    return None


def layer_norm(node: Node, em: Emitter, _: Any = None) -> str:
    x = shape_of(node.inputs[0])  # type: ignore[arg-type]
    axis = node.attrs["axis"] % len(x)
    rows, n = math.prod(x[:axis]), math.prod(x[axis:])
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    stats = [em.out(node, i) if i < len(node.outputs) else "NULL" for i in (1, 2)]
    return (f"hf_layer_norm({em.ptr(node.inputs[0])}, {em.ptr(node.inputs[1])}, "  # type: ignore[arg-type]
            f"{em.ptr(bias) if bias is not None else 'NULL'}, {em.out(node)}, {stats[0]}, {stats[1]}, "
            f"{rows}, {n}, {c_float(node.attrs['epsilon'])});")


def lrn_check(node: Node) -> str | None:
    return None if len(shape_of(node.inputs[0])) >= 3 else "lrn needs a rank >= 3 input"  # type: ignore[arg-type]


def lrn(node: Node, em: Emitter, _: Any = None) -> str:
    x = shape_of(node.inputs[0])  # type: ignore[arg-type]
    a = node.attrs
    return (f"hf_lrn({em.ptr(node.inputs[0])}, {em.out(node)}, {x[0]}, {x[1]}, {math.prod(x[2:])}, "  # type: ignore[arg-type]
            f"{a['size']}, {c_float(a['alpha'])}, {c_float(a['beta'])}, {c_float(a['bias'])});")


def batch_norm_check(node: Node) -> str | None:
    x = node.inputs[0]
    if not _f32(x) or len(shape_of(x)) < 2:  # type: ignore[arg-type]
        return "batch_norm input must be float32 with a channel axis"
    if any(v is None or v.const is None for v in node.inputs[1:5]):
        return "batch_norm statistics are not constants (cpu_c folds them at compile time)"
    return None


_REDUCE_KIND = {"reduce_sum": 0, "reduce_mean": 1, "reduce_max": 2, "reduce_min": 3, "reduce_prod": 4}


def _reduce_span(node: Node) -> tuple[int, int, int] | None:
    x = shape_of(node.inputs[0])  # type: ignore[arg-type]
    axes = node.attrs["axes"]
    axes = range(len(x)) if axes is None else sorted(int(a) % max(len(x), 1) for a in axes)
    live = [a for a in axes if x[a] != 1]
    if not live:
        return math.prod(x), 1, 1
    if any(x[d] != 1 for d in range(live[0], live[-1] + 1) if d not in axes):
        return None
    return _split_at(x, live[0], live[-1] + 1)


def reduce_check(node: Node) -> str | None:
    return None if _reduce_span(node) is not None else "reduction over axes that are not adjacent"


def reduce(node: Node, em: Emitter, _: Any = None) -> str:
    span = _reduce_span(node)
    assert span is not None
    outer, n, inner = span
    return (f"hf_reduce({em.ptr(node.inputs[0])}, {em.out(node)}, {outer}, {n}, {inner}, "  # type: ignore[arg-type]
            f"{_REDUCE_KIND[node.op]});")


# ------------------------------------------------------------------ data movement
def _elem(v: Value) -> int:
    return v.type.dtype.itemsize


def whole_view(node: Node) -> int | None:
    return 0


def copy_view(node: Node, em: Emitter, _: Any = None) -> str:
    x = node.inputs[0]
    assert x is not None
    n = math.prod(shape_of(x)) * _elem(x)
    return f"memcpy((char*)({em.out(node)}), (const char*)({em.ptr(x)}), {n}L);"


def _slice_index(node: Node) -> tuple[list[int], list[int]]:
    """Per axis of x: the first index taken and the step."""
    x = shape_of(node.inputs[0])  # type: ignore[arg-type]
    starts, steps = [0] * len(x), [1] * len(x)
    for axis, start, step in zip(node.attrs["axes"], node.attrs["starts"], node.attrs["steps"]):
        axis %= len(x)
        dim = x[axis]
        s = start + dim if start < 0 else start
        starts[axis] = min(max(s, 0), dim) if step > 0 else min(max(s, 0), dim - 1)
        steps[axis] = step
    return starts, steps


def slice_view(node: Node) -> int | None:
    """A byte offset when the slice is one contiguous run of x (only the outermost non-unit axis cut)."""
    x, y = shape_of(node.inputs[0]), shape_of(node.outputs[0])  # type: ignore[arg-type]
    starts, steps = _slice_index(node)
    if any(steps[d] != 1 and y[d] > 1 for d in range(len(x))):
        return None  # strided or reversed: a copy
    cut = [d for d in range(len(x)) if y[d] != x[d]]
    if not cut:
        return 0
    d = cut[0]
    if len(cut) > 1 or steps[d] != 1 or any(y[i] != 1 for i in range(d)):
        return None
    inner = math.prod(x[d + 1:])
    outer_offset = sum(starts[i] * math.prod(x[i + 1:]) for i in range(d))
    return (outer_offset + starts[d] * inner) * _elem(node.inputs[0])  # type: ignore[arg-type]


def slice_copy(node: Node, em: Emitter, _: Any = None) -> str:
    x = node.inputs[0]
    assert x is not None
    xs, ys = shape_of(x), shape_of(node.outputs[0])
    starts, steps = _slice_index(node)
    base = contiguous_strides(xs)
    src_strides = tuple(s * t for s, t in zip(base, steps))
    offset = sum(s * b for s, b in zip(starts, base))
    src = f"(const char*)({em.ptr(x)}) + {offset * _elem(x)}L"
    return copy_nd(ys, em.out(node), contiguous_strides(ys), src, src_strides, _elem(x))


def transpose(node: Node, em: Emitter, _: Any = None) -> str:
    x = node.inputs[0]
    assert x is not None
    xs, perm = shape_of(x), node.attrs["perm"]
    ys = shape_of(node.outputs[0])
    base = contiguous_strides(xs)
    return copy_nd(ys, em.out(node), contiguous_strides(ys), em.ptr(x), tuple(base[p] for p in perm), _elem(x))


def _along(node: Node, value: Value) -> tuple[int, int]:
    """(outer, axis * inner) sizes of ``value`` around the node's axis."""
    shape = shape_of(value)
    axis = node.attrs["axis"] % len(shape)
    return math.prod(shape[:axis]), math.prod(shape[axis:])


def concat_slots(node: Node) -> list[int] | None:
    out = node.outputs[0]
    if _along(node, out)[0] != 1:
        return None
    slots, offset = [], 0
    for v in node.inputs:
        slots.append(offset)
        offset += math.prod(shape_of(v)) * _elem(out) if v is not None else 0
    return slots


def concat(node: Node, em: Emitter, _: Any = None) -> str:
    out = node.outputs[0]
    outer, row = _along(node, out)
    lines, offset = [], 0
    for i, v in enumerate(node.inputs):
        if v is None:
            continue
        _, part = _along(node, v)
        if not em.placed(node, i):
            dst = f"(char*)({em.out(node)}) + {offset * _elem(out)}L"
            lines.append(copy_nd((outer, part), dst, (row, 1), em.ptr(v), (part, 1), _elem(out)))
        offset += part
    return "\n".join(lines) if lines else "/* every input was produced in place */"


def split_slots(node: Node) -> list[int] | None:
    x = node.inputs[0]
    assert x is not None
    if _along(node, x)[0] != 1:
        return None
    slots, offset = [], 0
    for v in node.outputs:
        slots.append(offset)
        offset += math.prod(shape_of(v)) * _elem(x)
    return slots


def split(node: Node, em: Emitter, _: Any = None) -> str:
    x = node.inputs[0]
    assert x is not None
    outer, row = _along(node, x)
    lines, offset = [], 0
    for i, v in enumerate(node.outputs):
        _, part = _along(node, v)
        if not em.placed(node, i):
            src = f"(const char*)({em.ptr(x)}) + {offset * _elem(x)}L"
            lines.append(copy_nd((outer, part), em.out(node, i), (part, 1), src, (row, 1), _elem(x)))
        offset += part
    return "\n".join(lines) if lines else "/* every output is a view of the input */"


def expand(node: Node, em: Emitter, _: Any = None) -> str:
    from hetflow.backends.cpu_c.fusion import broadcast_strides

    x = node.inputs[0]
    assert x is not None
    ys = shape_of(node.outputs[0])
    return copy_nd(ys, em.out(node), contiguous_strides(ys), em.ptr(x), broadcast_strides(shape_of(x), ys), _elem(x))


def pad_check(node: Node) -> str | None:
    if node.attrs["mode"] != "constant":
        return f"pad mode {node.attrs['mode']!r} (cpu_c generates constant padding)"
    if any(p < 0 for p in node.attrs["pads"]):
        return "negative pads (cropping)"
    return None


def pad(node: Node, em: Emitter, _: Any = None) -> str:
    x = node.inputs[0]
    assert x is not None
    xs, ys = shape_of(x), shape_of(node.outputs[0])
    value = np.asarray(node.attrs["value"]).astype(x.type.dtype.numpy).reshape(1)
    out_strides = contiguous_strides(ys)
    begin = sum(p * s for p, s in zip(node.attrs["pads"][:len(xs)], out_strides))
    fill = f"hf_fill((char*)({em.out(node)}), {math.prod(ys)}L, {em.const(value)}, {_elem(x)});"
    dst = f"(char*)({em.out(node)}) + {begin * _elem(x)}L"
    return fill + "\n" + copy_nd(xs, dst, out_strides, em.ptr(x), contiguous_strides(xs), _elem(x))
