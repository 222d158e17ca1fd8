"""The code generator: configures a kernel template for one unit and writes its Triton source.

Every template walks the same coordinate space: the unit's output coordinates ``c0 … c{r-1}``
(scalars, vectors or tiles, as the template lays out its work). Operands are read through
``LoadMap``s of those coordinates (broadcast, transpose, slice, pad, concat all are such maps), the
pointwise chain is rendered from the table's expressions in float32, and each stored value is cast to
its own dtype. Block sizes are constexpr arguments, so one source serves every configuration.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from hetflow.backends.gpu_triton import table, templates
from hetflow.backends.gpu_triton.fusion import Unit, attention_scale
from hetflow.backends.gpu_triton.kernel import Config, KernelSpec
from hetflow.backends.gpu_triton.table import LoadMap, broadcast_map, lit, render_pointwise, strides
from hetflow.ir import Node, Value
from hetflow.ir.errors import HetflowError


def shape_of(v: Value) -> tuple[int, ...]:
    return tuple(int(d) for d in v.type.shape)  # type: ignore[union-attr]


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def pow2(n: int, lo: int = 1) -> int:
    return max(lo, 1 << max(0, math.ceil(math.log2(max(n, 1)))))


@dataclass(frozen=True)
class GenOptions:
    """Code generation switches: TF32 tensor cores for float32 dots; whether Triton's interpreter runs the code."""

    tf32: bool = False
    interpret: bool = False

    def dot(self, dtype: str) -> str:
        """Extra ``tl.dot`` arguments for operands of ``dtype``."""
        if dtype != "float32":
            return ""
        return ', input_precision="tf32"' if self.tf32 else ', input_precision="ieee"'

    def operand(self, dtype: str) -> str:
        """A cast applied to dot operands: Triton's interpreter multiplies bfloat16 tiles wrongly (it reads
        their bits as integers), so there they are widened first; bfloat16 products are exact in float32."""
        return ".to(tl.float32)" if self.interpret and dtype == "bfloat16" else ""


@dataclass
class Body:
    """A kernel under construction: pointer parameters, body lines, the value expressions known so far."""

    name: str
    values: list[Value] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    exprs: dict[int, str] = field(default_factory=dict)
    counter: int = 0

    def ptr(self, v: Value) -> str:
        for i, known in enumerate(self.values):
            if known is v:
                return f"P{i}"
        self.values.append(v)
        return f"P{len(self.values) - 1}"

    def emit(self, line: str, indent: int = 1) -> None:
        self.lines.append("    " * indent + line)

    def fresh(self, prefix: str = "t") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"


@dataclass(frozen=True)
class Space:
    """An output coordinate space: coordinate expressions and the mask of valid points."""

    coords: list[str]
    mask: str
    indent: int = 1
    flat: str | None = None
    """The row-major flat index of the coordinates, where the space has one (a contiguous read uses it)."""
    shape: tuple[int, ...] = ()


def address(m: LoadMap, coords: list[str], space: Space | None = None) -> str:
    if space is not None and space.flat is not None and m.offset == 0 and m.coefs == strides(space.shape):
        return space.flat
    terms = [str(m.offset)] if m.offset else []
    terms += [f"({c}) * {k}" if k != 1 else f"({c})" for c, k in zip(coords, m.coefs) if k != 0]
    return " + ".join(terms) or "0"


def compute_type(v: Value) -> str:
    """What a loaded value is computed in: float32, or an integer tensor's own type (it wraps as NumPy's does)."""
    return table.TL_TYPES[v.type.dtype] if v.type.dtype in table.INTS else "tl.float32"


def load(body: Body, v: Value, m: LoadMap, space: Space) -> str:
    """A float32 (integer tensors: their own type) expression for ``v`` read through ``m`` (a constant scalar is
    inlined)."""
    integer = v.type.dtype in table.INTS
    if v.const is not None and v.const.size == 1:
        scalar = v.const.reshape(())
        return str(int(scalar)) if integer else lit(float(scalar))
    mask = space.mask
    for axis, lo, hi in m.bounds:
        mask = f"{mask} & ({space.coords[axis]} >= {lo}) & ({space.coords[axis]} < {hi})"
    name = body.fresh("x")
    other = str(int(m.other)) if integer else lit(m.other)
    body.emit(f"{name} = tl.load({body.ptr(v)} + {address(m, space.coords, space)}, mask={mask}, "
              f"other={other}).to({compute_type(v)})", space.indent)
    return name


def operand_map(node: Node, index: int, out_shape: tuple[int, ...]) -> LoadMap:
    """How a pointwise node's operand is read at its output's coordinates."""
    v = node.inputs[index]
    assert v is not None
    if node.op == "batch_norm" and index > 0:  # per-channel parameters along axis 1
        return LoadMap(tuple(1 if a == 1 else 0 for a in range(len(out_shape))))
    return broadcast_map(shape_of(v), out_shape)


def chain(body: Body, unit: Unit, nodes: list[Node], space: Space, out_shape: tuple[int, ...]) -> None:
    """Render pointwise/movement ``nodes`` into ``body`` (values already known come from ``body.exprs``)."""
    for node in nodes:
        if node.op in table.MOVEMENT:
            body.exprs[id(node.outputs[0])] = movement(body, node, space)
            continue
        operands = []
        for i, v in enumerate(node.inputs):
            if v is None:
                operands.append("0.0")
            elif id(v) in body.exprs:
                operands.append(body.exprs[id(v)])
            else:
                operands.append(load(body, v, operand_map(node, i, out_shape), space))
        name = body.fresh()
        body.emit(f"{name} = {render_pointwise(node, operands)}", space.indent)
        body.exprs[id(node.outputs[0])] = name


def movement(body: Body, node: Node, space: Space) -> str:
    maps = table.MOVEMENT[node.op].maps(node)
    values = [load(body, v, m, space) for v, m in zip(node.inputs, maps)]
    if len(values) == 1:
        return values[0]
    expr = values[-1]
    for v, m in zip(reversed(values[:-1]), reversed(maps[:-1])):
        axis, lo, hi = m.bounds[0]
        expr = f"tl.where(({space.coords[axis]} >= {lo}) & ({space.coords[axis]} < {hi}), {v}, {expr})"
    name = body.fresh()
    body.emit(f"{name} = {expr}", space.indent)
    return name


def stores(body: Body, unit: Unit, space: Space) -> None:
    for v in unit.stores:
        st = strides(shape_of(v))
        addr = address(LoadMap(st), space.coords, space)
        ptr = body.ptr(v)
        body.emit(f"tl.store({ptr} + {addr}, {body.exprs[id(v)]}.to({ptr}.dtype.element_ty), mask={space.mask})",
                  space.indent)


def flat_coords(shape: tuple[int, ...], flat: str) -> list[str]:
    """Coordinate expressions of a row-major flat index."""
    st = strides(shape)
    out = []
    for axis, (d, s) in enumerate(zip(shape, st)):
        e = flat if s == 1 else f"({flat} // {s})"
        out.append(e if axis == 0 else f"({e} % {d})")
    return out


def finish(body: Body, unit: Unit, template: str, params: list[str], config: Config, grid: tuple[int, ...],
           problem: tuple[int, ...]) -> KernelSpec:
    writes = list(unit.stores)
    for v in writes:
        body.ptr(v)
    reads = [v for v in body.values if all(v is not w for w in writes)]
    order = reads + writes
    # pointer names follow first use; renumber so that reads come first, as the runtime binds them
    position = [next(j for j, w in enumerate(order) if w is v) for v in body.values]
    lines = "\n".join(body.lines)
    lines = re.sub(r"\bP(\d+)\b", lambda m: f"P{position[int(m.group(1))]}", lines)
    args = [f"P{i}" for i in range(len(order))] + [f"{p}: tl.constexpr" for p in params]
    renamed = f"def {body.name}({', '.join(args)}):\n" + lines + "\n"
    dtype = str(unit.nodes[-1].outputs[0].type.dtype)
    return KernelSpec(body.name, template, renamed, reads, writes, config, grid, [n.name for n in unit.nodes],
                      dtype, problem)


# ---------------------------------------------------------------- templates, configured


def gen_pointwise(unit: Unit, name: str, config: Config) -> KernelSpec:
    out_shape = shape_of(unit.nodes[-1].outputs[0])
    n = math.prod(out_shape)
    body = Body(name)
    body.emit("offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)")
    body.emit(f"mask = offs < {n}")
    space = Space(flat_coords(out_shape, "offs"), "mask", flat="offs", shape=out_shape)
    chain(body, unit, unit.nodes, space, out_shape)
    stores(body, unit, space)
    return finish(body, unit, "pointwise", ["BLOCK"], config, (cdiv(n, config.block("BLOCK")),), (n,))


def gen_gather(unit: Unit, name: str, config: Config) -> KernelSpec:
    """Gather (an embedding lookup): each output element reads its index, then one element of the data; the
    pointwise consumers follow in the same kernel. A negative index counts from the end; an index out of range
    reads 0 (the reference raises; a kernel cannot)."""
    node = unit.head
    x, idx, out = node.inputs[0], node.inputs[1], node.outputs[0]
    assert x is not None and idx is not None
    xs, ids, out_shape = shape_of(x), shape_of(idx), shape_of(out)
    axis = node.attrs["axis"] % len(xs)
    n = math.prod(out_shape)
    body = Body(name)
    body.emit("offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)")
    body.emit(f"mask = offs < {n}")
    space = Space(flat_coords(out_shape, "offs"), "mask", flat="offs", shape=out_shape)
    c = space.coords
    index_coords = c[axis:axis + len(ids)]
    i = body.fresh("i")
    if idx.const is not None and idx.const.size == 1:
        body.emit(f"{i} = {int(idx.const.reshape(()))}")
    else:
        body.emit(f"{i} = tl.load({body.ptr(idx)} + {address(LoadMap(strides(ids)), index_coords)}, mask=mask, "
                  f"other=0).to(tl.int64)")
    body.emit(f"{i} = tl.where({i} < 0, {i} + {xs[axis]}, {i})")
    data_coords = [*c[:axis], i, *c[axis + len(ids):]]
    got = body.fresh("x")
    other = "0" if x.type.dtype in table.INTS else "0.0"
    body.emit(f"{got} = tl.load({body.ptr(x)} + {address(LoadMap(strides(xs)), data_coords)}, "
              f"mask=mask & ({i} >= 0) & ({i} < {xs[axis]}), other={other}).to({compute_type(x)})")
    body.exprs[id(out)] = got
    chain(body, unit, unit.nodes[1:], space, out_shape)
    stores(body, unit, space)
    return finish(body, unit, "gather", ["BLOCK"], config, (cdiv(n, config.block("BLOCK")),), (n,))


def gen_matmul(unit: Unit, name: str, config: Config, opts: GenOptions) -> KernelSpec:
    node = unit.head
    a, b, out = node.inputs[0], node.inputs[1], node.outputs[0]
    assert a is not None and b is not None
    sa, sb, so = shape_of(a), shape_of(b), shape_of(out)
    m, k, n = sa[-2], sa[-1], sb[-1]
    batch_shape = so[:-2]
    batch = math.prod(batch_shape)
    body = Body(name)
    bc = flat_coords(batch_shape, "pid_b") if batch_shape else []
    a_off = address(broadcast_map(sa[:-2] + (1, 1), batch_shape + (1, 1)), bc + ["0", "0"]) if batch_shape else "0"
    b_off = address(broadcast_map(sb[:-2] + (1, 1), batch_shape + (1, 1)), bc + ["0", "0"]) if batch_shape else "0"
    body.lines += templates.MATMUL.format(
        PA=body.ptr(a), PB=body.ptr(b), M=m, N=n, K=k, A_OFF=f"({a_off}) * {m * k}", B_OFF=f"({b_off}) * {k * n}",
        PRECISION=opts.dot(str(a.type.dtype)), CAST=opts.operand(str(a.type.dtype))).splitlines()
    space = Space(bc + ["rm[:, None]", "rn[None, :]"], f"(rm[:, None] < {m}) & (rn[None, :] < {n})")
    body.exprs[id(out)] = "acc"
    chain(body, unit, unit.nodes[1:], space, so)
    if splittable(unit):
        _split_stores(body, out, space)
    else:
        stores(body, unit, space)
    config = config if "SPLIT_K" in dict(config.blocks) else config.with_blocks(SPLIT_K=1)
    if config.split_k > 1 and not splittable(unit):
        raise HetflowError(f"kernel {name}: SPLIT_K={config.split_k} needs a float32 matmul without an epilogue")
    grid = (cdiv(m, config.block("BM")), cdiv(n, config.block("BN")), batch * config.split_k)
    return finish(body, unit, "matmul", ["BM", "BN", "BK", "SPLIT_K"], config, grid, (batch * m, n, k))


def splittable(unit: Unit) -> bool:
    """Whether the matmul ``unit`` may split K: partial sums are added in its float32 output, so nothing may
    follow the product in the kernel (an epilogue applies to the whole sum only)."""
    out = unit.head.outputs[0]
    return unit.kind == "matmul" and len(unit.nodes) == 1 and str(out.type.dtype) == "float32"


def _split_stores(body: Body, out: Value, space: Space) -> None:
    """The store of a splittable matmul: plain with one program per tile, atomic adds of partial sums with more
    (the executable zeroes the output first)."""
    addr = address(LoadMap(strides(shape_of(out))), space.coords, space)
    ptr = body.ptr(out)
    body.emit("if SPLIT_K == 1:")
    body.emit(f"tl.store({ptr} + {addr}, acc, mask={space.mask})", 2)
    body.emit("else:")
    body.emit(f"tl.atomic_add({ptr} + {addr}, acc, mask={space.mask})", 2)


def _conv_geometry(node: Node) -> dict[str, int]:
    x, w = node.inputs[0], node.inputs[1]
    assert x is not None and w is not None
    nb, c, h, wi = shape_of(x)
    oc, cg, kh, kw = shape_of(w)
    _, _, oh, ow = shape_of(node.outputs[0])
    a = node.attrs
    st = a.get("strides") or (1, 1)
    pads = a.get("pads") or (0, 0, 0, 0)
    dil = a.get("dilations") or (1, 1)
    g = a.get("group", 1)
    return dict(NB=nb, C=c, H=h, W=wi, OC=oc, CG=cg, OCG=oc // g, KH=kh, KW=kw, OH=oh, OW=ow, SH=st[0], SW=st[1],
                PH=pads[0], PW=pads[1], DH=dil[0], DW=dil[1], G=g)


def is_depthwise(node: Node) -> bool:
    geo = _conv_geometry(node)
    return geo["G"] > 1 and geo["CG"] == 1


def gen_conv(unit: Unit, name: str, config: Config, opts: GenOptions) -> KernelSpec:
    node = unit.head
    geo = _conv_geometry(node)
    x, w, bias = node.inputs[0], node.inputs[1], node.inputs[2] if len(node.inputs) > 2 else None
    assert x is not None and w is not None
    m = geo["NB"] * geo["OH"] * geo["OW"]
    k = geo["CG"] * geo["KH"] * geo["KW"]
    body = Body(name)
    derived = dict(OHW=geo["OH"] * geo["OW"], CHW=geo["C"] * geo["H"] * geo["W"], CGHW=geo["CG"] * geo["H"] * geo["W"],
                   KHW=geo["KH"] * geo["KW"], HW=geo["H"] * geo["W"])
    body.lines += templates.CONV.format(PX=body.ptr(x), WPTR=body.ptr(w), M=m, K=k, PRECISION=opts.dot(str(x.type.dtype)),
                                        CAST=opts.operand(str(x.type.dtype)),
                                        **geo, **derived).splitlines()
    oc = "(pid_g * {OCG} + rn)[None, :]".format(**geo)
    space = Space([f"(rm // {geo['OH'] * geo['OW']})[:, None]", oc, f"((rm // {geo['OW']}) % {geo['OH']})[:, None]",
                   f"(rm % {geo['OW']})[:, None]"], f"(rm[:, None] < {m}) & (rn[None, :] < {geo['OCG']})")
    if bias is not None:
        body.emit(f"acc = acc + tl.load({body.ptr(bias)} + {oc}, mask=rn[None, :] < {geo['OCG']}, "
                  f"other=0.0).to(tl.float32)")
    body.exprs[id(node.outputs[0])] = "acc"
    chain(body, unit, unit.nodes[1:], space, shape_of(node.outputs[0]))
    stores(body, unit, space)
    grid = (cdiv(m, config.block("BM")), cdiv(geo["OCG"], config.block("BN")), geo["G"])
    return finish(body, unit, "conv", ["BM", "BN", "BK"], config, grid, (m, geo["OC"], k))


def gen_window(unit: Unit, name: str, config: Config) -> KernelSpec:
    """Pooling and depthwise convolution: each output point reduces its window (taps unrolled)."""
    node = unit.head
    x = node.inputs[0]
    assert x is not None
    out_shape = shape_of(node.outputs[0])
    nb, c, h, w = shape_of(x)
    n = math.prod(out_shape)
    body = Body(name)
    body.emit("offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)")
    body.emit(f"mask = offs < {n}")
    coords = flat_coords(out_shape, "offs")
    body.emit(f"c0 = {coords[0]}\n    c1 = {coords[1]}\n    c2 = {coords[2]}\n    c3 = {coords[3]}")
    space = Space(["c0", "c1", "c2", "c3"], "mask", flat="offs", shape=out_shape)
    if node.op == "conv":
        geo = _conv_geometry(node)
        mult = geo["OC"] // geo["G"]
        kernel, st, pads, dil = (geo["KH"], geo["KW"]), (geo["SH"], geo["SW"]), (geo["PH"], geo["PW"], 0, 0), \
            (geo["DH"], geo["DW"])
        tap = templates.DWCONV_TAP.format(WPTR=body.ptr(node.inputs[1]), KH=kernel[0], KW=kernel[1])  # type: ignore[arg-type]
        init, finish_expr, channel = "0.0", "acc", f"(c1 // {mult})"
        bias = node.inputs[2] if len(node.inputs) > 2 else None
        if bias is not None:
            finish_expr = f"acc + tl.load({body.ptr(bias)} + c1, mask=mask, other=0.0).to(tl.float32)"
    else:
        a = node.attrs
        kernel, st, pads = a["kernel"], a["strides"], a["pads"]
        dil = a.get("dilations") or (1, 1)
        channel = "c1"
        if node.op == "max_pool":
            init, tap, finish_expr = "float('-inf')", templates.MAX_TAP, "acc"
        else:
            init, tap = "0.0", templates.SUM_TAP
            finish_expr = "acc / tl.maximum(cnt, 1.0)" if not a.get("count_include_pad") else "acc / tl.maximum(cnt_pad, 1.0)"
    body.lines += templates.WINDOW.format(
        PX=body.ptr(x), C=c, H=h, W=w, KH=kernel[0], KW=kernel[1], SH=st[0], SW=st[1], PH=pads[0], PW=pads[1],
        PH_END=pads[2], PW_END=pads[3], DH=dil[0], DW=dil[1], INIT=init, TAP=tap, CHANNEL=channel).splitlines()
    body.emit(f"acc = {finish_expr}")
    body.exprs[id(node.outputs[0])] = "acc"
    chain(body, unit, unit.nodes[1:], space, out_shape)
    stores(body, unit, space)
    del nb
    return finish(body, unit, "window", ["BLOCK"], config, (cdiv(n, config.block("BLOCK")),), (n, kernel[0] * kernel[1]))


REDUCE_COMBINE = {"reduce_sum": ("0.0", "acc + tl.where(rmask, x, 0.0)", "tl.sum(acc, axis=0)"),
                  "reduce_mean": ("0.0", "acc + tl.where(rmask, x, 0.0)", "tl.sum(acc, axis=0) / {R}"),
                  "reduce_max": ("float('-inf')", "tl.maximum(acc, tl.where(rmask, x, float('-inf')))",
                                 "tl.max(acc, axis=0)"),
                  "reduce_min": ("float('inf')", "tl.minimum(acc, tl.where(rmask, x, float('inf')))",
                                 "tl.min(acc, axis=0)")}


def _reduce_axes(node: Node) -> list[int]:
    rank = len(shape_of(node.inputs[0]))  # type: ignore[arg-type]
    axes = node.attrs.get("axes")
    if len(node.inputs) > 1 and node.inputs[1] is not None:
        if node.inputs[1].const is None:
            raise HetflowError(f"node {node.name!r}: reduce with run-time axes")
        axes = [int(a) for a in node.inputs[1].const.reshape(-1)]
    return sorted({a % rank for a in axes}) if axes else list(range(rank))


def gen_reduce(unit: Unit, name: str, config: Config) -> KernelSpec:
    node = unit.head
    x = node.inputs[0]
    assert x is not None
    shape = shape_of(x)
    axes = _reduce_axes(node)
    kept = [a for a in range(len(shape)) if a not in axes]
    st = strides(shape)
    rows = math.prod(shape[a] for a in kept)
    r = math.prod(shape[a] for a in axes)
    body = Body(name)
    kc = flat_coords(tuple(shape[a] for a in kept), "row") if kept else []
    rc = flat_coords(tuple(shape[a] for a in axes), "rr")
    base = " + ".join(f"({c}) * {st[a]}" for c, a in zip(kc, kept)) or "0"
    inner = " + ".join(f"({c}) * {st[a]}" for c, a in zip(rc, axes))
    init, step, final = REDUCE_COMBINE[node.op]
    body.lines += templates.REDUCE.format(PX=body.ptr(x), R=r, BASE=base, INNER=inner, INIT=init, STEP=step,
                                          FINAL=final.format(R=float(r))).splitlines()
    out = node.outputs[0]
    body.exprs[id(out)] = "val"
    unit.stores = [out]
    ptr = body.ptr(out)
    body.emit(f"tl.store({ptr} + row, val.to({ptr}.dtype.element_ty))")
    return finish(body, unit, "reduce", ["BLOCK"], config, (rows,), (rows, r))


def _rownorm_layout(node: Node) -> tuple[int, int, str, str]:
    """(rows, row length, scale index expression, affine kind) of a row-normalizing node."""
    shape = shape_of(node.inputs[0])  # type: ignore[arg-type]
    if node.op in ("softmax", "log_softmax"):
        axis = node.attrs["axis"] % len(shape)
        return math.prod(shape[:axis]) * math.prod(shape[axis + 1:]), shape[axis], "", ""
    if node.op == "layer_norm":
        axis = node.attrs["axis"] % len(shape)
        return math.prod(shape[:axis]), math.prod(shape[axis:]), "rr", "layer"
    spatial = math.prod(shape[2:])
    if node.op == "instance_norm":
        return shape[0] * shape[1], spatial, f"(row % {shape[1]})", "channel"
    groups = node.attrs["num_groups"]
    per_group = shape[1] // groups
    return shape[0] * groups, per_group * spatial, f"(row % {groups}) * {per_group} + rr // {spatial}", "group"


def _softmax_rows(node: Node) -> tuple[str, str]:
    """(first element of row ``row``, the stride suffix of its elements) for a softmax over any axis: rows are the
    (outer, inner) coordinates around the axis, and a row's elements lie ``inner`` apart."""
    shape = shape_of(node.inputs[0])  # type: ignore[arg-type]
    axis = node.attrs["axis"] % len(shape)
    inner = math.prod(shape[axis + 1:])
    if inner == 1:
        return f"row * {shape[axis]}", ""
    return f"(row // {inner}) * {shape[axis] * inner} + row % {inner}", f" * {inner}"


def gen_rownorm(unit: Unit, name: str, config: Config) -> KernelSpec:
    node = unit.head
    x, out = node.inputs[0], node.outputs[0]
    assert x is not None
    rows, r, scale_index, affine = _rownorm_layout(node)
    body = Body(name)
    px, po = body.ptr(x), body.ptr(out)
    unit.stores = [out]
    if node.op in ("softmax", "log_softmax"):
        write = "tl.exp(x - mx) / den" if node.op == "softmax" else "x - mx - tl.log(den)"
        base, stride = _softmax_rows(node)
        body.lines += templates.SOFTMAX.format(PX=px, PO=po, R=r, BASE=base, STRIDE=stride, WRITE=write).splitlines()
    else:
        eps = lit(node.attrs["epsilon"])
        scale = node.inputs[1]
        bias = node.inputs[2] if len(node.inputs) > 2 else None
        smask = "rmask" if affine != "channel" else "True"
        sc = f"tl.load({body.ptr(scale)} + {scale_index}, mask={smask}, other=0.0).to(tl.float32)" if scale is not None \
            else "1.0"
        bi = f"tl.load({body.ptr(bias)} + {scale_index}, mask={smask}, other=0.0).to(tl.float32)" if bias is not None \
            else "0.0"
        body.lines += templates.NORM.format(PX=px, PO=po, R=r, EPS=eps, SCALE=sc, BIAS=bi).splitlines()
    return finish(body, unit, "rownorm", ["BLOCK"], config, (rows,), (rows, r))


def gen_attention(unit: Unit, name: str, config: Config, opts: GenOptions) -> KernelSpec:
    qk, _, _, pv = unit.nodes
    q, kt, v, out = qk.inputs[0], qk.inputs[1], pv.inputs[1], pv.outputs[0]
    assert q is not None and kt is not None and v is not None
    sq, sk, sv = shape_of(q), shape_of(kt), shape_of(v)
    s, d, sn, dv = sq[-2], sq[-1], sk[-1], sv[-1]
    batch = math.prod(sq[:-2])
    body = Body(name)
    unit.stores = [out]
    body.lines += templates.ATTENTION.format(
        PQ=body.ptr(q), PK=body.ptr(kt), PV=body.ptr(v), PO=body.ptr(out), S=s, D=d, SN=sn, DV=dv,
        BD=pow2(d, 16), BDV=pow2(dv, 16), SCALE=lit(attention_scale(unit.nodes)), PRECISION=opts.dot(str(q.type.dtype)),
        CAST=opts.operand(str(q.type.dtype))).splitlines()
    grid = (cdiv(s, config.block("BM")), batch)
    return finish(body, unit, "attention", ["BM", "BN"], config, grid, (batch, s, sn, d))


Generator = Callable[[Unit, str, Config, GenOptions], KernelSpec]

GENERATORS: dict[str, Generator] = {
    "pointwise": lambda u, n, c, o: gen_pointwise(u, n, c),
    "gather": lambda u, n, c, o: gen_gather(u, n, c),
    "movement": lambda u, n, c, o: gen_pointwise(u, n, c),
    "matmul": gen_matmul,
    "conv": lambda u, n, c, o: gen_window(u, n, c) if is_depthwise(u.head) else gen_conv(u, n, c, o),
    "window": lambda u, n, c, o: gen_window(u, n, c),
    "reduce": lambda u, n, c, o: gen_reduce(u, n, c),
    "rownorm": lambda u, n, c, o: gen_rownorm(u, n, c),
    "attention": gen_attention,
}


def template_of(unit: Unit) -> str:
    """The template a unit is configured from (the tuning space and defaults are per template)."""
    if unit.kind == "movement":
        return "pointwise"
    if unit.kind == "conv" and is_depthwise(unit.head):
        return "window"
    return unit.kind


def generate(unit: Unit, name: str, config: Config, opts: GenOptions = GenOptions()) -> KernelSpec:
    """The configured kernel for ``unit``."""
    return GENERATORS[unit.kind](unit, name, config, opts)
