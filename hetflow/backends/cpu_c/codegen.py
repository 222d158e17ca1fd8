"""Render fused units as one C file: kernel calls, fused elementwise loops, per-tile epilogues.

The file has one function per *segment* (a run of consecutive units that cpu_c generates; the
reference backend runs the nodes between segments). Every function takes the arena, the table of
constant pointers and the table of graph-input pointers, so the same compiled library serves any
weights and any input buffers.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from hetflow.backends.cpu_c.fusion import Unit, broadcast_strides, linear_stride
from hetflow.backends.cpu_c.memplan import Loc, MemoryPlan
from hetflow.backends.cpu_c.render import View3, collapse, contiguous_strides, matmul_geom, shape_of
from hetflow.backends.cpu_c.render_extra import CHECKED_OPS
from hetflow.backends.cpu_c.table import C_TYPES, TABLE, Elementwise, Kernel, View, c_float
from hetflow.ir import DType, Node, Value
from hetflow.passes.fusion import Group

HOST_UNITS = frozenset({"reference", "host"})
"""Unit kinds the executable runs in Python between generated functions (a fallback node, a control node)."""

PARALLEL_MIN_ELEMENTS = 32768
"""Elementwise loops smaller than this run on the calling thread."""


@dataclass
class Segment:
    """Consecutive units that run the same way: one generated C function, or the reference backend."""

    kind: Literal["c", "reference"]
    units: list[Unit]
    symbol: str = ""


@dataclass(frozen=True)
class Batching:
    """Symbolic leading dims (``symbolic.py``): the code is for one sample, looped over the batch at run time."""

    symbols: tuple[str, ...]
    samples: dict[int, tuple[int, int]]
    """id(value) -> (index of its symbol, bytes of one sample), for every batched value."""

    def loop_symbol(self, values: list[Value]) -> int | None:
        """The symbol a unit over ``values`` loops over (None: nothing in it is batched)."""
        for v in values:
            if id(v) in self.samples:
                return self.samples[id(v)][0]
        return None


@dataclass
class Source:
    """The generated C file and what running it needs besides the arena."""

    text: str
    segments: list[Segment]
    constants: list[np.ndarray] = field(default_factory=list)


def _ctype(dtype: DType) -> str:
    return C_TYPES.get(dtype, "char")


def _comment(text: str) -> str:
    return "/* " + text.replace("*/", "* /") + " */"


class Emitter:
    """What a renderer may ask while writing C for one unit."""

    def __init__(self, plan: MemoryPlan, mr_variants: tuple[int, ...], nr: int, kc: int,
                 batching: Batching | None = None) -> None:
        self.plan = plan
        self.batching = batching
        self.rows_scale: str | None = None
        """A C expression multiplying the current kernel's rows (a matmul taking the whole batch in one call)."""
        self.mr_variants, self.nr, self.kc = mr_variants, nr, kc
        self.constants: list[np.ndarray] = [np.asarray(v.const, order="C") for v in plan.constants]  # type: ignore[arg-type]
        self.helpers: list[str] = []
        self._ids = itertools.count()
        self.unit: Unit | None = None

    # ---------------------------------------------------------------- names and pointers
    def fresh(self, hint: str) -> str:
        return f"{hint}{next(self._ids)}"

    def ptr(self, v: Value) -> str:
        """A C expression: typed pointer to the first element of ``v``."""
        loc = self.plan.loc(v)
        t = _ctype(v.type.dtype)
        if self.batching is not None:
            return self._batched_ptr(v, loc, t)
        if loc.base == "arena":
            return f"(({t}*)(arena + {loc.offset}L))"
        table = {"input": "in", "const": "k"}[loc.base]
        if loc.offset:
            return f"(({t}*)((char*){table}[{loc.index}] + {loc.offset}L))"
        return f"(({t}*){table}[{loc.index}])"

    def _batched_ptr(self, v: Value, loc: Loc, t: str) -> str:
        """The pointer to sample ``hf_b`` of ``v``: arena offsets scale with the batch (see symbolic.py)."""
        assert self.batching is not None
        sample = self.batching.samples.get(id(v))
        step = f" + hf_b * {sample[1]}L" if sample is not None else ""
        if loc.base == "arena":
            return f"(({t}*)(arena + {loc.offset}L * hf_scale{step}))"
        table = {"input": "in", "const": "k"}[loc.base]
        offset = f" + {loc.offset}L" if loc.offset else ""
        return f"(({t}*)((char*){table}[{loc.index}]{offset}{step}))"

    def out(self, node: Node, i: int = 0) -> str:
        """Pointer to where the current unit leaves the node's i-th output (after its fused epilogue)."""
        unit = self.unit
        if unit is not None and unit.group is not None and i == 0 and unit.anchor is node:
            return self.ptr(unit.group.output)
        return self.ptr(node.outputs[i])

    def const(self, array: np.ndarray) -> str:
        """A pointer to a compile-time array (packed weights, folded biases), kept alive by the executable."""
        self.constants.append(np.asarray(array, order="C"))
        dtype = DType.of(array.dtype) if array.dtype.kind != "O" else DType.string
        return f"(({_ctype(dtype)}*)k[{len(self.constants) - 1}])"

    def scratch(self, node: Node) -> str:
        """Arena space memory planning set aside for the current unit's kernel."""
        assert self.unit is not None and id(self.unit) in self.plan.scratch, f"no scratch planned for {node.name}"
        scale = " * hf_scale" if self.batching is not None else ""
        return f"(arena + {self.plan.scratch[id(self.unit)].offset}L{scale})"

    def placed(self, node: Node, position: int) -> bool:
        """Whether memory planning already put that input/output of ``node`` where the node would copy it."""
        return (id(node), position) in self.plan.placed

    def helper(self, code: str) -> None:
        self.helpers.append(code)

    # ---------------------------------------------------------------- epilogues
    def epilogue(self, node: Node, view: View3, bias_m: np.ndarray | None = None) -> tuple[str, str, str]:
        """(declaration, pointer, residual batch stride) of the hf_epilogue finishing ``node``'s output tiles."""
        group = self.unit.group if self.unit is not None and self.unit.anchor is node else None
        fields: dict[str, str] = {}
        res_bs = "0"
        if bias_m is not None:
            fields["bias_m"] = self.const(bias_m)
        if group is not None:
            fast = self._fast_epilogue(group, view, has_bias_m=bias_m is not None)
            if fast is not None:
                res_bs = fast.pop("res_bs", "0")
                fields.update(fast)
            else:
                fields["post"] = self._post_function(group, view)
                fields["ctx"] = "&frame"
        if not fields:
            return "", "NULL", "0"
        name = self.fresh("epi")
        body = ", ".join(f".{k} = {v}" for k, v in fields.items())
        return f"const hf_epilogue {name} = {{ {body} }};", f"&{name}", res_bs

    def _operand_strides(self, v: Value, out_shape: tuple[int, ...], view: View3) -> tuple[int, int, int]:
        st = broadcast_strides(shape_of(v), out_shape)
        strides = [linear_stride(out_shape, st, dims) for dims in view]
        assert all(s is not None for s in strides), "fusion admitted an operand that is not linear in the view"
        return strides[0], strides[1], strides[2]  # type: ignore[return-value]

    def _fast_epilogue(self, group: Group, view: View3, has_bias_m: bool) -> dict[str, str] | None:
        """bias / residual adds then relu or clip, in registers; None when the chain is anything else."""
        out_shape = shape_of(group.output)
        cur = group.acc
        fields: dict[str, str] = {}
        for node in group.nodes:
            args = [v for v in node.inputs if v is not None]
            if cur is None or args[0] is not cur and (len(args) < 2 or args[1] is not cur):
                return None
            if "act" in fields:
                return None
            if node.op == "add" and len(args) == 2 and args[0] is not args[1]:
                other = args[1] if args[0] is cur else args[0]
                if other.type.dtype is not DType.float32 or other is group.acc:
                    return None
                so, sm, sn = self._operand_strides(other, out_shape, view)
                if (so, sm, sn) == (0, 1, 0) and "bias_m" not in fields and not has_bias_m:
                    fields["bias_m"] = self.ptr(other)
                elif (so, sm, sn) == (0, 0, 1) and "bias_n" not in fields:
                    fields["bias_n"] = self.ptr(other)
                elif sn == 1 and "res" not in fields:
                    fields.update(res=self.ptr(other), res_rs=str(sm), res_bs=str(so))
                else:
                    return None
            elif node.op == "relu":
                fields["act"] = "HF_ACT_RELU"
            elif node.op == "clip":
                lo, hi = node.attrs["min"], node.attrs["max"]
                fields.update(act="HF_ACT_CLIP", lo="(-HUGE_VALF)" if lo is None else c_float(lo),
                              hi="HUGE_VALF" if hi is None else c_float(hi))
            else:
                return None
            cur = node.outputs[0]
        return fields

    def _post_function(self, group: Group, view: View3) -> str:
        """A generated per-tile function computing the whole group from the tile's values."""
        name = self.fresh("post")
        out_shape = shape_of(group.output)
        decls, row_decls, loads = [], [], {}
        for v in group.operands():
            so, sm, sn = self._operand_strides(v, out_shape, view)
            p, t = self.fresh("p"), _ctype(v.type.dtype)
            decls.append(f"    const {t}* {p} = {self.ptr(v)};")
            if sn == 0:  # constant along the row: loaded once per row
                row_decls.append(f"        const {t} {p}_r = {p}[outer * {so}L + m * {sm}L];")
                loads[id(v)] = (t, f"{p}_r")
            else:
                row_decls.append(f"        const {t}* restrict {p}_r = {p} + outer * {so}L + m * {sm}L + n0 * {sn}L;")
                loads[id(v)] = (t, f"{p}_r[j]" if sn == 1 else f"{p}_r[j * {sn}L]")
        stmts, result = self._expression(group, loads, acc="acc")
        body = "\n".join("            " + s for s in stmts)
        self.helper(
            f"static void {name}(const void* ctx, float* c, long ldc, long outer, long m0, long mr, long n0, long nr) {{\n"
            f"    const hf_frame* fr = (const hf_frame*)ctx;\n"
            f"    char* arena = fr->arena; void** k = fr->k; void** in = fr->in;\n"
            f"    (void)arena; (void)k; (void)in; (void)outer;\n"
            + ("    const long hf_b = fr->b, hf_scale = fr->scale; (void)hf_b; (void)hf_scale;\n"
               if self.batching is not None else "")
            + "\n".join(decls) + "\n"
            "    for (long i = 0; i < mr; i++) {\n"
            "        long m = m0 + i;\n"
            "        float* restrict row = c + i * ldc;\n"
            "        (void)m;\n"
            + "\n".join(row_decls) + "\n"
            f"#pragma omp simd\n"
            f"        for (long j = 0; j < nr; j++) {{\n"
            f"            float acc = row[j];\n"
            f"{body}\n"
            f"            row[j] = {result};\n"
            f"        }}\n"
            f"    }}\n"
            f"}}\n")
        return name

    def _expression(self, group: Group, loads: dict[int, tuple[str, str]], acc: str | None = None) -> tuple[list[str], str]:
        """Statements computing the group element by element from ``loads``; returns them and the result local."""
        names: dict[int, str] = {}
        stmts: list[str] = []
        for key, (t, expr) in loads.items():
            local = self.fresh("x")
            stmts.append(f"{t} {local} = {expr};")
            names[key] = local
        if acc is not None and group.acc is not None:
            names[id(group.acc)] = acc
        for node in group.nodes:
            entry = TABLE[node.op]
            assert isinstance(entry, Elementwise)
            args = [names[id(v)] for v in node.inputs if v is not None]
            out = node.outputs[0]
            local, t = self.fresh("t"), _ctype(out.type.dtype)
            stmts.append(f"{t} {local} = ({t}){entry.expr(node, args)};")
            names[id(out)] = local
        return stmts, names[id(group.output)]

    # ---------------------------------------------------------------- units
    def elementwise(self, group: Group) -> str:
        """One loop nest over the group's output; operands broadcast through zero strides."""
        out = group.output
        out_shape = shape_of(out)
        operands = group.operands()
        strides = [broadcast_strides(shape_of(v), out_shape) for v in operands]
        shape, collapsed = collapse(out_shape, contiguous_strides(out_shape), *strides)
        out_st, in_st = collapsed[0], collapsed[1:]
        idx = [f"i{d}" for d in range(len(shape))]

        def offset(st: tuple[int, ...]) -> str:
            terms = [f"{i} * {s}L" for i, s in zip(idx, st) if s]
            return " + ".join(terms) if terms else "0"

        lines = [f"{_ctype(out.type.dtype)}* restrict y = {self.ptr(out)};"]
        loads = {}
        for v, st in zip(operands, in_st):
            p, t = self.fresh("p"), _ctype(v.type.dtype)
            lines.append(f"const {t}* {p} = {self.ptr(v)};")
            loads[id(v)] = (t, f"{p}[{offset(st)}]")
        stmts, result = self._expression(group, loads)
        total = math.prod(shape)
        inner = [*stmts, f"y[{offset(out_st)}] = {result};"]
        if not shape:
            return _block(lines + inner)
        par = f"num_threads(hf_get_threads()) schedule(static) if ({total}L >= {PARALLEL_MIN_ELEMENTS}L)"
        if total < PARALLEL_MIN_ELEMENTS and self.batching is None:
            # no parallel region at all: even with its if() false, entering one costs about a microsecond, which
            # is most of a small loop's time (a recurrent cell's step runs several per call)
            if len(shape) == 1:
                lines.append("#pragma omp simd")
        elif len(shape) == 1:
            lines.append(f"#pragma omp parallel for simd {par}")
        else:
            collapse_n = f" collapse({len(shape) - 1})" if len(shape) > 2 else ""
            lines.append(f"#pragma omp parallel for{collapse_n} {par}")
        depth = len(shape)
        for d, n in enumerate(shape):
            if d == depth - 1 and depth > 1:
                lines.append("    " * d + "#pragma omp simd")
            lines.append("    " * d + f"for (long i{d} = 0; i{d} < {n}L; i{d}++) {{")
        lines += ["    " * depth + line for line in inner]
        lines += ["    " * d + "}" for d in range(depth - 1, -1, -1)]
        return _block(lines)

    def unit_code(self, unit: Unit) -> str:
        self.unit = unit
        what = ", ".join(f"{n.name} ({n.op})" for n in unit.nodes)
        symbol = self.batching.loop_symbol([*unit.inputs, *unit.outputs]) if self.batching is not None else None
        rows = symbol is not None and self._batch_in_rows(unit)
        self.rows_scale = f"hf_s{symbol}" if rows else None
        if unit.kind == "elementwise":
            assert unit.group is not None
            code = self.elementwise(unit.group)
        else:
            node = unit.anchor
            assert node is not None
            entry = TABLE[node.op]
            if isinstance(entry, View):
                code = "/* a view: no code */" if self.placed(node, 0) else entry.copy(node, self, None)
            else:
                assert isinstance(entry, Kernel)
                code = entry.render(node, self, None)
        self.unit, self.rows_scale = None, None
        if symbol is None or code.startswith("/*"):  # a view or an in-place concat: nothing to run per sample
            return _comment(what) + "\n" + code
        if rows:  # the kernel takes the whole batch as more rows: one call, from sample 0
            code = _block(["const long hf_b = 0;", "frame.b = 0;", *code.splitlines()])
        else:  # one sample per iteration: frame.b tells generated epilogue functions which
            code = _block([f"for (long hf_b = 0; hf_b < hf_s{symbol}; hf_b++) {{", "    frame.b = hf_b;",
                           *["    " + line for line in code.splitlines()], "}"])
        return _comment(what) + "\n" + code

    def _batch_in_rows(self, unit: Unit) -> bool:
        """Whether a matmul unit can take every sample as more rows of one product: A batched and its samples
        consecutive rows, B shared, every batched epilogue operand laid out as the output."""
        node = unit.anchor
        if unit.kind != "kernel" or node is None or node.op != "matmul" or self.batching is None:
            return False
        a, b = node.inputs[0], node.inputs[1]
        geom = matmul_geom(node)
        samples = self.batching.samples
        if a is None or b is None or geom is None or id(a) not in samples or id(b) in samples:
            return False
        if geom.batch != 1 or len(a.type.shape or ()) < 2:
            return False
        out = unit.group.output if unit.group is not None else node.outputs[0]
        operands = unit.group.operands() if unit.group is not None else []
        return all(v.type.shape == out.type.shape for v in operands if id(v) in samples and v is not node.outputs[0])


def _block(lines: list[str]) -> str:
    """``lines`` as one C block (its own scope), indented."""
    return "{\n" + "\n".join("    " + line if not line.startswith("#") else line for line in lines) + "\n}"


def segments_of(units: list[Unit]) -> list[Segment]:
    segments: list[Segment] = []
    for unit in units:
        kind: Literal["c", "reference"] = "reference" if unit.kind in HOST_UNITS else "c"
        if not segments or segments[-1].kind != kind:
            segments.append(Segment(kind, []))
        segments[-1].units.append(unit)
    return segments


def _prologue(batching: Batching | None) -> tuple[str, str]:
    """(parameters after ``threads``, the function's first lines) of a segment function."""
    if batching is None:
        return "", ("    const hf_frame frame = {arena, k, in};\n"
                    "    (void)frame; (void)k; (void)in;\n")
    binds = "".join(f"    const long hf_s{i} = sym[{i}]; /* {s} */ (void)hf_s{i};\n"
                    for i, s in enumerate(batching.symbols))
    return ", const long* sym", (
        f"{binds}"
        f"    const long hf_scale = sym[{len(batching.symbols)}]; /* product of max(symbol, 1) */\n"
        f"    hf_frame frame = {{arena, k, in, 0, hf_scale}};\n"
        f"    (void)frame; (void)k; (void)in;\n")


def generate(name: str, units: list[Unit], plan: MemoryPlan, mr_variants: tuple[int, ...], nr: int, kc: int,
             profile: bool = False, batching: Batching | None = None) -> Source:
    """The C file for ``units`` laid out by ``plan`` for a runtime with these GEMM block sizes;
    ``profile`` adds a clock reading after every unit; ``batching`` makes the leading symbols run-time
    parameters (``sym``: their values, then the arena scale)."""
    em = Emitter(plan, mr_variants, nr, kc, batching)
    params, prologue = _prologue(batching)
    segments = segments_of(units)
    functions = []
    index = {id(u): i for i, u in enumerate(units)}
    for i, seg in enumerate(segments):
        if seg.kind != "c":
            continue
        seg.symbol = f"hf_segment_{i}"
        parts = []
        for u in seg.units:
            parts.append(em.unit_code(u))
            if profile:
                parts.append(f"{{ double now = hf_clock(); hf_profile_seconds[{index[id(u)]}] += now - last; last = now; }}")
        body = "\n".join(parts)
        body = "\n".join("    " + line if line else line for line in body.splitlines())
        clock = "    double last = hf_clock();\n" if profile else ""
        functions.append(
            f"void {seg.symbol}(char* arena, void** k, void** in, int threads{params}) {{\n"
            f"{prologue}"
            f"    hf_set_threads(threads);\n"
            f"{clock}"
            f"{body}\n"
            f"}}\n")
    if profile:
        em.helper(f"double hf_profile_seconds[{max(len(units), 1)}];\n")
    if any(u.anchor is not None and u.kind == "kernel" and u.anchor.op in CHECKED_OPS for u in units):
        # read through this library: it calls the runtime it was linked with, which may be another copy of
        # the same runtime than the one the executable loaded by path (both found by soname)
        em.helper("int hf_graph_take_status(void) { return hf_take_status(); }\n")
    header = (f"/* hetflow cpu_c: graph '{name}' ({len(units)} units, {len(segments)} segments).\n"
              f" * Generated: edit hetflow/backends/cpu_c, not this file. */\n"
              f"#include \"hf_runtime.h\"\n\n"
              + ("typedef struct hf_frame { char* arena; void** k; void** in; } hf_frame;\n" if batching is None else
                 "typedef struct hf_frame { char* arena; void** k; void** in; long b; long scale; } hf_frame;\n"))
    text = "\n".join([header, *em.helpers, *functions])
    return Source(text, segments, em.constants)
