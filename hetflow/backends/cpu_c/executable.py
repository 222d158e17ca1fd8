"""The compiled graph: one arena, one loaded library, reference segments between C segments.

A graph with symbolic dims is specialized per input-shape signature on first run (each signature
compiled once, then cached like any other). Runs are serialized per executable: the arena is
allocated once and every run reuses it, so nothing is allocated on the hot path but the returned
outputs.
"""

from __future__ import annotations

import ctypes
import json
import math
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hetflow.backends.cpu_c import compiler, symbolic
from hetflow.backends.cpu_c.bodies import CompiledBody, HostControl, compiled_bodies
from hetflow.backends.cpu_c.codegen import Batching, Segment, generate
from hetflow.backends.cpu_c.fusion import Fusion, Unit, fuse
from hetflow.backends.cpu_c.memplan import Loc, MemoryPlan, plan_memory
from hetflow.backends.cpu_c.render_extra import CHECKED_OPS
from hetflow.backends.cpu_c.symbolic import Binding
from hetflow.backends.cpu_c.table import TABLE, Kernel, supports
from hetflow.backends.native import read_artifact_manifest
from hetflow.ir import Graph, Value, get_op
from hetflow.ir.errors import HetflowError, InputError
from hetflow.ir.ops.control import CONTROL_OPS
from hetflow.ir.subgraph import specialize


@dataclass(frozen=True)
class Placement:
    """Where one node of the compiled graph runs."""

    node: str
    op: str
    backend: str  # "cpu_c" or "reference"
    unit: str  # the fused unit, e.g. "conv1 (conv) + relu1 (relu)"
    reason: str | None = None  # why it fell back to the reference backend
    folded_into: str | None = None  # a node whose weights absorbed this one


@dataclass(frozen=True)
class Prebuilt:
    """A library saved with a plan: loaded instead of compiled, if the C it came from is what we generate now."""

    runtime: Path
    library: Path
    source_sha256: str


@dataclass(frozen=True)
class SavedBodies:
    """The body libraries a saved plan holds: body path (``<node>/<attribute>``, nested ones joined by ``/``) ->
    input shapes -> the library (None: that specialization generated no C)."""

    runtime: Path
    libraries: dict[str, dict[tuple[tuple[int, ...], ...], Prebuilt | None]]


@dataclass
class CompileInfo:
    seconds: float
    compiler_runs: int
    arena_bytes: int
    library: str
    source: str


class _Compiled:
    """One specialization: library, arena, constant pointers, and the run loop."""

    def __init__(self, graph: Graph, toolchain: compiler.Toolchain, threads: int, profile: bool = False,
                 fallback: str = "reference", prebuilt: Prebuilt | None = None, binding: Binding | None = None,
                 saved: SavedBodies | None = None, prefix: str = "", runtime: Path | None = None) -> None:
        """``graph`` has static shapes, or (with ``binding``) symbolic leading dims: then the code is generated
        for one sample and loops over the batch bound at each run (``symbolic.py``). ``saved``: the libraries of
        its control nodes' bodies, from a saved plan; ``prefix``: this graph's path when it is a body."""
        start, runs = time.perf_counter(), compiler.STATS.compiler_runs
        self.binding = binding
        refused: dict[str, str] = {}
        if binding is not None:
            refused = {n.name: r for n in graph.nodes if (r := symbolic.node_reason(n)) is not None}
            graph = specialize(graph, symbolic.shapes_at_one(graph))
            refused = {**_run_time_shapes(graph), **refused}  # a data-dependent shape stays symbolic at one sample
        else:
            refused = _run_time_shapes(graph)
        self.graph = graph
        self.threads = threads
        self.profiling = profile
        self.runtime_library = prebuilt.runtime if prebuilt else runtime or (saved.runtime if saved else
                                                                              toolchain.runtime())
        runtime = compiler.load(self.runtime_library)
        self.fusion: Fusion = fuse(graph, refused)
        self.units: list[Unit] = self.fusion.units

        def build(body: Graph, path: str) -> _Compiled:  # a control node's body, compiled as any graph (static shapes)
            shapes = tuple(tuple(int(d) for d in v.type.shape or ()) for v in body.inputs)
            library = saved.libraries.get(path, {}).get(shapes) if saved else None
            return _Compiled(body, toolchain, threads, profile, fallback, library, saved=saved, prefix=path + "/",
                             runtime=self.runtime_library)

        preload = {path: list(libraries) for path, libraries in saved.libraries.items()} if saved else None
        self.hosts = {id(u): HostControl(u.anchor, build, prefix, preload, fallback == "error") for u in self.units
                      if u.kind == "host" and u.anchor}
        self._leads = self._value_leads() if binding is not None else {}
        batching = None
        if binding is not None:
            values = {id(v): v for u in self.units for v in [*u.inputs, *u.outputs]}
            samples = {k: (binding.symbols.index(lead.symbol), values[k].type.nbytes or 0)
                       for k, lead in self._leads.items() if k in values}
            batching = Batching(binding.symbols, samples)
        refused = [u for u in self.units if u.kind == "reference"]
        if refused and fallback == "error":
            listed = "; ".join(f"{u.nodes[0].name} ({u.nodes[0].op}): {u.reason}" for u in refused[:5])
            raise HetflowError(f"cpu_c cannot generate {len(refused)} node(s) of graph {graph.name!r} and "
                               f"fallback='error': {listed}")
        variants_buf = (ctypes.c_int * 16)()
        variants = tuple(variants_buf[:runtime.hf_gemm_mr_variants(variants_buf)])
        nr = runtime.hf_gemm_nr()
        scratch = {}
        for unit in self.units:
            entry = TABLE.get(unit.anchor.op) if unit.anchor is not None and unit.kind == "kernel" else None
            if isinstance(entry, Kernel) and entry.scratch is not None:
                scratch[id(unit)] = entry.scratch(unit.anchor, variants, nr)
        linkable = None
        if batching is not None:
            def linkable(child: Value, parent: Value, offset: int) -> bool:
                return offset == 0 and batching.samples.get(id(child)) == batching.samples.get(id(parent))
        self.memory: MemoryPlan = plan_memory(graph, self.units, scratch, linkable)
        source = generate(graph.name, self.units, self.memory, variants, nr, runtime.hf_gemm_kc(), profile, batching)
        self.source_text = source.text
        self.segments: list[Segment] = source.segments
        self._constants = source.constants
        self._k = (ctypes.c_void_p * max(len(self._constants), 1))(*[a.ctypes.data for a in self._constants])
        self.library = None
        self._functions: dict[str, Any] = {}
        self._unit_seconds = [0.0] * len(self.units)
        self._c_seconds: Any = None
        if any(s.kind == "c" for s in self.segments):
            if prebuilt is not None:
                if compiler.digest(source.text) != prebuilt.source_sha256:
                    raise HetflowError(f"{prebuilt.library}: this hetflow generates different C for graph {graph.name!r} "
                                       f"than the saved library was built from; compile the graph again")
                self.library = prebuilt.library
            else:
                self.library = toolchain.build(graph.name, source.text)
            lib = compiler.load(self.library)
            if profile:
                self._c_seconds = (ctypes.c_double * max(len(self.units), 1)).in_dll(lib, "hf_profile_seconds")
            if any(u.anchor is not None and u.kind == "kernel" and u.anchor.op in CHECKED_OPS for u in self.units):
                self._take_status = lib.hf_graph_take_status
            for seg in self.segments:
                if seg.kind == "c":
                    fn = getattr(lib, seg.symbol)
                    symbols = [ctypes.c_void_p] if batching is not None else []
                    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, *symbols]
                    fn.restype = None
                    self._functions[seg.symbol] = fn
        self._ins = (ctypes.c_void_p * max(len(graph.inputs), 1))()
        self._checked = {seg.symbol: [u.anchor.name for u in seg.units if u.anchor is not None and u.anchor.op in CHECKED_OPS]
                         for seg in self.segments if seg.kind == "c"}
        self._checked = {k: v for k, v in self._checked.items() if v}
        self._sym = (ctypes.c_long * (len(binding.symbols) + 1 if binding else 1))()
        self._bound: dict[str, int] = {}
        self._scale = 1
        self._arena_buf = np.zeros(0, np.uint8)
        self._allocate(1)
        self._outs: list[tuple[str, Any]] | None = None  # what ``call`` needs, made at its first use
        self.info = CompileInfo(time.perf_counter() - start, compiler.STATS.compiler_runs - runs,
                                self.memory.arena_bytes, str(self.library or ""), source.text)

    # ---------------------------------------------------------------- symbolic leading dims
    def _value_leads(self) -> dict[int, symbolic.Lead]:
        """id(value) -> its lead, for every batched value of the (fused, one-sample) graph: by name from the
        symbolic graph, and for values fusion made (a lowered batch norm) from the batched input they follow."""
        assert self.binding is not None
        leads: dict[int, symbolic.Lead] = {}
        for v in self.graph.inputs:
            if v.name in self.binding.leads:
                leads[id(v)] = self.binding.leads[v.name]
        for node in self.graph.nodes:
            for out in node.outputs:
                lead = self.binding.leads.get(out.name)
                if lead is None and out.name not in self.binding.names:
                    lead = next((leads[id(v)] for v in node.inputs if v is not None and id(v) in leads
                                 and v.type.shape == out.type.shape), None)
                if lead is not None:
                    leads[id(out)] = lead
        return leads

    def _allocate(self, scale: int) -> None:
        """An arena for ``scale`` times the one-sample plan (grown for a larger batch; views made again)."""
        nbytes = self.memory.arena_bytes * scale
        if self._arena_buf.nbytes < nbytes + 64:
            try:
                self._arena_buf = np.zeros(nbytes + 64, np.uint8)
            except MemoryError:  # shapes from a file can ask for any size: say so, in one line
                raise HetflowError(f"graph {self.graph.name!r}: cpu_c cannot allocate its {nbytes / 2**30:.1f} GiB "
                                   f"arena (the memory its intermediate values need)") from None
        pad = (-self._arena_buf.ctypes.data) % 64
        self.arena = self._arena_buf[pad:pad + nbytes]
        self._views = {key: self._arena_view(loc, v) for key, (loc, v) in self._arena_values().items()}

    def _bind(self, feeds: list[np.ndarray]) -> None:
        """Bind the symbols from the feeds' shapes: the run-time parameters of the generated functions."""
        assert self.binding is not None
        bound = self.binding.bind([a.shape for a in feeds])
        if isinstance(bound, str):
            raise InputError(f"graph {self.graph.name!r}: {bound}")
        if bound == self._bound:
            return
        self._bound = bound
        self._scale = self.binding.scale(bound)
        for i, s in enumerate(self.binding.symbols):
            self._sym[i] = bound[s]
        self._sym[len(self.binding.symbols)] = self._scale
        self._allocate(self._scale)

    def _shape(self, v: Value) -> tuple[int, ...]:
        """``v``'s shape at the bound symbols."""
        shape = tuple(int(d) for d in (v.type.shape or ()))
        lead = self._leads.get(id(v))
        if lead is None:
            return shape
        return (lead.per * self._bound[lead.symbol], *shape[1:])

    def _arena_values(self) -> dict[int, tuple[Loc, Value]]:
        values: dict[int, Value] = {}
        for unit in self.units:
            for v in [*unit.inputs, *unit.outputs]:
                values[id(v)] = v
        for v in self.graph.outputs:
            values[id(v)] = v
        return {k: (self.memory.locs[k], v) for k, v in values.items() if self.memory.locs[k].base == "arena"}

    def _arena_view(self, loc: Loc, v: Value) -> np.ndarray:
        if self.binding is not None and not self._bound:
            return np.empty(0, v.type.dtype.numpy)  # made at the first run, once the symbols are bound
        return np.ndarray(self._shape(v), v.type.dtype.numpy, buffer=self.arena, offset=loc.offset * self._scale)

    def _value(self, v: Value, feeds: list[np.ndarray], env: dict[int, np.ndarray]) -> np.ndarray:
        loc = self.memory.locs[id(v)]
        if loc.base == "arena":
            return self._views[id(v)]
        if loc.base == "env":
            return env[id(v)]
        base = feeds[loc.index] if loc.base == "input" else self._constants[loc.index]
        shape = self._shape(v)
        if loc.offset == 0 and base.nbytes == math.prod(shape) * v.type.dtype.itemsize:
            return base.reshape(shape)
        return np.ndarray(shape, v.type.dtype.numpy, buffer=base, offset=loc.offset)

    def _reference(self, unit: Unit, feeds: list[np.ndarray], env: dict[int, np.ndarray]) -> None:
        node = unit.anchor
        assert node is not None
        args = [None if v is None else self._value(v, feeds, env) for v in node.inputs]
        host = self.hosts.get(id(unit))
        try:
            results = host.run(args) if host is not None else get_op(node.op).run(node, args)
        except HetflowError:
            raise
        except Exception as exc:
            raise HetflowError(f"node {node.name!r} ({node.op}) failed: {type(exc).__name__}: {exc}") from exc
        for out, result in zip(node.outputs, results):
            loc = self.memory.locs.get(id(out))
            if loc is None:
                continue
            if loc.base == "env":
                env[id(out)] = np.asarray(result)
            else:
                target = self._value(out, feeds, env)
                result = np.asarray(result)
                if result.size != target.size:
                    raise HetflowError(f"node {node.name!r} ({node.op}) made shape {list(result.shape)}; cpu_c planned "
                                       f"{list(target.shape)}")
                np.copyto(target, result.reshape(target.shape))

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        self._outs = None  # the input pointers ``call`` keeps are overwritten here
        for i, a in enumerate(feeds):
            self._ins[i] = a.ctypes.data
        if self.binding is not None:
            self._bind(feeds)
        env: dict[int, np.ndarray] = {}
        arena = self.arena.ctypes.data
        extra = (ctypes.addressof(self._sym),) if self.binding is not None else ()
        for seg in self.segments:
            if seg.kind == "c":
                self._functions[seg.symbol](arena, ctypes.addressof(self._k), ctypes.addressof(self._ins), self.threads,
                                            *extra)
                if seg.symbol in self._checked and self._take_status():
                    raise InputError(f"graph {self.graph.name!r}: a gather index is out of range "
                                     f"(in {', '.join(self._checked[seg.symbol])})")
            else:
                for unit in seg.units:
                    start = time.perf_counter()
                    self._reference(unit, feeds, env)
                    if self.profiling:
                        self._unit_seconds[self.units.index(unit)] += time.perf_counter() - start
        return [np.array(self._value(v, feeds, env), copy=True) for v in self.graph.outputs]

    # ---------------------------------------------------------------- the lean path: a body, once per iteration
    def _prepare_calls(self) -> list[tuple[str, Any]]:
        """What ``call`` needs, made once: the functions' ctypes arguments, a staging buffer (at a fixed address)
        for each small input, and how each output is taken."""
        if self.binding is not None:
            raise HetflowError(f"graph {self.graph.name!r}: a positional call needs static shapes")
        self._stage = [np.empty(v.type.shape, v.type.dtype.numpy) if v.type.is_static and (v.type.nbytes or 0)
                       <= STAGE_BYTES else None for v in self.graph.inputs]  # type: ignore[arg-type]
        for i, stage in enumerate(self._stage):
            if stage is not None:
                self._ins[i] = stage.ctypes.data
        self._last: list[np.ndarray | None] = [None] * len(self.graph.inputs)
        self._c_args = (ctypes.c_void_p(self.arena.ctypes.data), ctypes.c_void_p(ctypes.addressof(self._k)),
                        ctypes.c_void_p(ctypes.addressof(self._ins)), ctypes.c_int(self.threads))
        outs: list[tuple[str, Any]] = []
        for v in self.graph.outputs:
            loc = self.memory.locs[id(v)]
            if loc.base == "arena":
                outs.append(("copy", self._views[id(v)]))
            elif loc.base == "input" and loc.offset == 0 and v.type.is_static:
                outs.append(("input", (loc.index, tuple(v.type.shape))))  # type: ignore[arg-type]
            else:  # a constant, a value the reference backend made, a view into an input: taken at each call
                outs.append(("value", v))
        return outs

    def call(self, args: list[np.ndarray]) -> list[np.ndarray]:
        """Run on ``args`` (the graph's inputs in order, C-contiguous, of the compiled shapes and dtypes; nothing
        is checked): the lean path a control node calls its body through once per iteration. Outputs computed
        here are copied out of the arena (the next call overwrites it); an input passed straight out is not."""
        if self._outs is None:
            self._outs = self._prepare_calls()
        for i, a in enumerate(args):
            if a is not self._last[i]:  # captures are the same arrays every iteration
                stage = self._stage[i]
                if stage is not None:
                    stage[...] = a  # (an item assignment costs half of np.copyto's call)
                else:
                    self._ins[i] = a.ctypes.data
                    self._last[i] = a
        env: dict[int, np.ndarray] = {}
        for seg in self.segments:
            if seg.kind == "c":
                self._functions[seg.symbol](*self._c_args)
                if seg.symbol in self._checked and self._take_status():
                    raise InputError(f"graph {self.graph.name!r}: a gather index is out of range "
                                     f"(in {', '.join(self._checked[seg.symbol])})")
            else:
                for unit in seg.units:
                    self._reference(unit, args, env)
        outs = []
        for kind, what in self._outs:
            if kind == "copy":
                outs.append(what.copy())
            elif kind == "input":
                a = args[what[0]]
                outs.append(a if a.shape == what[1] else a.reshape(what[1]))
            else:
                outs.append(np.array(self._value(what, args, env), copy=True))
        return outs


    def profile(self) -> list[tuple[Unit, float]]:
        """Seconds spent in each unit over every run so far (needs ``profile=True`` at compile)."""
        if not self.profiling:
            raise HetflowError("compile with profile=True to get per-unit times")
        c = list(self._c_seconds) if self._c_seconds is not None else [0.0] * len(self.units)
        return [(u, c[i] + self._unit_seconds[i]) for i, u in enumerate(self.units)]


def _run_time_shapes(graph: Graph) -> dict[str, str]:
    """Nodes with a value whose shape depends on data (after Range, NonZero, a run-time Expand): known only once
    the node before has run, so the reference runs them."""
    return {n.name: f"value '{v.name}' has a shape known only at run time ({v.type})" for n in graph.nodes
            for v in [*n.inputs, *n.outputs] if v is not None and not v.type.is_static and n.op in TABLE}


STAGE_BYTES = 4096
"""Body inputs up to this size are copied into a buffer at a fixed address at each call (cheaper than taking a
new array's address through ctypes); larger ones (a captured sequence) are passed where they are."""

SYMBOLIC = ("symbolic",)
"""The key of the one specialization that serves every binding of the symbolic leading dims."""


class CpuCExecutable:
    """A graph compiled by cpu_c: ``run(feeds) -> outputs`` by name, and where each node ran."""

    def __init__(self, graph: Graph, *, threads: int | None, toolchain: compiler.Toolchain,
                 profile: bool = False, fallback: str = "reference") -> None:
        self.graph = graph
        self.profiling = profile
        self.fallback = fallback
        self.threads = threads or 0
        self.toolchain = toolchain
        self._lock = threading.Lock()
        self._compiled: dict[tuple, _Compiled] = {}
        self.symbolic_reason: str | None = None
        """Why a graph with symbolic input shapes is compiled once per input-shape signature instead of once."""
        if all(v.type.is_static for v in graph.inputs):
            self._get([tuple(v.type.shape or ()) for v in graph.inputs])  # type: ignore[misc]
            return
        binding = symbolic.graph_binding(graph)
        if isinstance(binding, str):
            self.symbolic_reason = binding
        else:
            self._compiled[SYMBOLIC] = _Compiled(graph, toolchain, self.threads, profile, fallback, binding=binding)

    @property
    def takes_any_shape(self) -> bool:
        """Whether one compiled library serves every input shape the graph admits (static inputs, or symbolic
        leading dims its loops take at run time), so that nothing is compiled when a new shape arrives."""
        return SYMBOLIC in self._compiled or all(v.type.is_static for v in self.graph.inputs)

    @property
    def specializations(self) -> int:
        """How many libraries this executable compiled (one for every batch size when the batch is symbolic)."""
        return len(self._compiled)

    def _get(self, shapes: list[tuple[int, ...]]) -> _Compiled:
        if SYMBOLIC in self._compiled:
            return self._compiled[SYMBOLIC]
        key = tuple(shapes)
        if key not in self._compiled:
            self._compiled[key] = _Compiled(specialize(self.graph, shapes), self.toolchain, self.threads, self.profiling,
                                              self.fallback)
        return self._compiled[key]

    def _check(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        arrays = []
        for v in self.graph.inputs:
            if v.name not in feeds:
                raise InputError(f"input '{v.name}' ({v.type}) is missing")
            a = np.asarray(feeds[v.name], order="C")
            if a.dtype != v.type.dtype.numpy:
                raise InputError(f"input '{v.name}': expected dtype {v.type.dtype}, got {a.dtype}")
            if v.type.shape is not None and (a.ndim != len(v.type.shape) or any(
                    isinstance(d, int) and d != n for d, n in zip(v.type.shape, a.shape))):
                raise InputError(f"input '{v.name}': expected shape {v.type}, got {list(a.shape)}")
            arrays.append(a)
        return arrays

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = self._check(feeds)
        with self._lock:
            compiled = self._get([a.shape for a in arrays])
            outs = compiled.run(arrays)
        return {v.name: a for v, a in zip(self.graph.outputs, outs)}

    # ---------------------------------------------------------------- saved libraries
    ARTIFACT_VERSION = 1

    def save_artifact(self, directory: Path) -> None:
        """Write every compiled specialization (its C, its library) and the runtime library to ``directory``;
        ``CpuCBackend.load_artifact`` loads them without compiling."""
        from hetflow.targets import detect_host

        directory = Path(directory)
        specs, runtime = [], None
        for i, (shapes, compiled) in enumerate(self._compiled.items()):
            runtime = compiled.runtime_library
            entry: dict[str, Any] = {"shapes": None if shapes == SYMBOLIC else [list(s) for s in shapes], "library": None}
            entry.update(_save_library(compiled, directory, f"graph{i}"))
            entry["bodies"] = [{"path": path, "shapes": [list(s) for s in body_shapes],
                                **_save_library(body, directory, f"graph{i}_body{j}")}
                               for j, (path, body_shapes, body) in enumerate(_all_bodies(compiled))]
            specs.append(entry)
        if runtime is not None:
            shutil.copyfile(runtime, directory / runtime.name)
        manifest = {"version": self.ARTIFACT_VERSION, "threads": self.threads, "fallback": self.fallback,
                    "flags": list(self.toolchain.flags), "isa": list(detect_host().isa),
                    "runtime": None if runtime is None else runtime.name, "specializations": specs}
        (directory / "cpu_c.json").write_text(json.dumps(manifest, indent=1))

    @classmethod
    def load(cls, directory: Path, graph: Graph, toolchain: compiler.Toolchain) -> CpuCExecutable:
        """The executable ``save`` wrote, loaded without compiling (the C is generated again and must match
        what the saved library was built from)."""
        from hetflow.targets import detect_host

        directory = Path(directory)
        manifest = read_artifact_manifest(directory, "cpu_c.json", "cpu_c", cls.ARTIFACT_VERSION)
        missing = sorted(set(manifest["isa"]) - set(detect_host().isa))
        if missing:
            raise HetflowError(f"{directory}: built for a CPU with {', '.join(missing)}, which this one lacks; "
                               f"compile the graph again here")
        exe = cls.__new__(cls)
        exe.graph, exe.profiling, exe.fallback = graph, False, manifest["fallback"]
        exe.threads, exe.toolchain = manifest["threads"], toolchain
        exe._lock, exe._compiled = threading.Lock(), {}
        runtime = directory / manifest["runtime"] if manifest["runtime"] else toolchain.runtime()
        if manifest["runtime"]:
            compiler.load(runtime)  # loaded first: the libraries below find it by its soname
        exe.symbolic_reason = None
        for spec in manifest["specializations"]:
            prebuilt = None
            if spec["library"]:
                prebuilt = Prebuilt(runtime, directory / spec["library"], spec["source_sha256"])
            saved = SavedBodies(runtime, {})
            for body in spec.get("bodies", []):
                library = Prebuilt(runtime, directory / body["library"], body["source_sha256"]) if body["library"] \
                    else None
                saved.libraries.setdefault(body["path"], {})[tuple(tuple(s) for s in body["shapes"])] = library
            if spec["shapes"] is None:
                binding = symbolic.graph_binding(graph)
                if isinstance(binding, str):
                    raise HetflowError(f"{directory}: a symbolic-batch library, but the graph cannot be: {binding}")
                exe._compiled[SYMBOLIC] = _Compiled(graph, toolchain, exe.threads, False, exe.fallback, prebuilt,
                                                    binding, saved)
                continue
            shapes = tuple(tuple(s) for s in spec["shapes"])
            exe._compiled[shapes] = _Compiled(specialize(graph, list(shapes)), toolchain, exe.threads, False,
                                              exe.fallback, prebuilt, saved=saved)
        return exe

    # ---------------------------------------------------------------- introspection
    def _latest(self) -> _Compiled:
        if not self._compiled:
            raise HetflowError("the graph has symbolic input shapes; run it once to compile a specialization")
        return next(reversed(self._compiled.values()))

    @property
    def source(self) -> str:
        """The generated C of the latest specialization."""
        return self._latest().source_text

    @property
    def info(self) -> CompileInfo:
        return self._latest().info

    def profile(self) -> list[tuple[str, float]]:
        """(unit, seconds) over every run so far, slowest first (compile with ``profile=True``)."""
        rows = self._latest().profile()
        return sorted(((" + ".join(f"{n.name} ({n.op})" for n in u.nodes), t) for u, t in rows), key=lambda r: -r[1])

    def placement(self) -> list[Placement]:
        """Where every node of the graph runs, in graph order; a control node's body nodes follow it, named
        ``<node>/<body attribute>/<body node>`` (as the body's latest specialization placed them)."""
        return _placement(self.graph, self._latest(), "")

    def body_calls(self) -> dict[str, int]:
        """``<node>/<body attribute>`` (nested bodies too) -> how many times that body ran as generated code, over
        every run of the latest specialization (a body run on the interpreter does not count)."""
        return _body_calls(self._latest(), "")

    def notes(self) -> list[str]:
        """One line per control node: its iteration runs in the host code and its bodies are compiled by cpu_c."""
        lines = []
        for node in self.graph.nodes:
            if node.op in CONTROL_OPS:
                bodies = ", ".join(f"{k} ({len(g.nodes)} nodes)" for k, g in node.attrs.items() if isinstance(g, Graph))
                lines.append(f"{node.op} '{node.name}' iterates in the host code; its bodies, {bodies}, are compiled "
                             f"by cpu_c per input-shape signature (body nodes it cannot generate are listed with the "
                             f"fallbacks as '{node.name}/<body>/<node>')")
        return lines

    def report(self) -> str:
        """A table of node -> backend, with the reason for each fallback."""
        rows = self.placement()
        n_ref = sum(p.backend == "reference" for p in rows)
        lines = [f"cpu_c: {len(rows) - n_ref} node(s) generated, {n_ref} on the reference backend"]
        compiled = self._compiled.get(SYMBOLIC)
        if compiled is not None and compiled.binding is not None:
            lines.append(f"  symbolic: {', '.join(compiled.binding.symbols)} bound at run time (one library for every size)")
        elif self.symbolic_reason:
            lines.append(f"  compiled per input shape: {self.symbolic_reason}")
        for p in rows:
            note = f"  <- {p.reason}" if p.reason else (f"  (folded into {p.folded_into})" if p.folded_into else "")
            lines.append(f"  {p.node:<32} {p.op:<14} {p.backend:<10}{note}")
        return "\n".join(lines)


# ---------------------------------------------------------------- placement
def _unit_rows(compiled: _Compiled) -> dict[str, Placement]:
    """Placement by node name of the compiled (fused, specialized) graph."""
    found: dict[str, Placement] = {}
    for unit in compiled.units:
        label = " + ".join(f"{n.name} ({n.op})" for n in unit.nodes)
        if unit.kind == "host":
            label = f"{label}: iterated on the host, bodies compiled by cpu_c"
        backend = "reference" if unit.kind == "reference" else "cpu_c"
        for n in unit.nodes:
            found[n.name] = Placement(n.name, n.op, backend, label, unit.reason)
    return found


def _placement(graph: Graph, compiled: _Compiled, prefix: str) -> list[Placement]:
    """Rows for every node of ``graph`` (what ``compiled`` was made from), with its control nodes' bodies."""
    fusion = compiled.fusion
    found = _unit_rows(compiled)
    derived: dict[str, list[str]] = {}
    for new, old in fusion.origin.items():
        derived.setdefault(old, []).append(new)

    def resolve(name: str) -> tuple[Placement, str | None] | None:
        """The placement of ``name`` or of what absorbed it, and the absorbing node's name."""
        for alias in [name, *derived.get(name, [])]:
            if alias in found:
                return found[alias], None
            into, hops = fusion.fate.get(alias), 0
            while into is not None and into not in found and hops < 64:
                into, hops = fusion.fate.get(into), hops + 1
            if into is not None and into in found:
                return found[into], into
        return None

    hosts = {u.anchor.name: h for u in compiled.units if (h := compiled.hosts.get(id(u))) and u.anchor}
    result = []
    for node in graph.nodes:
        hit = resolve(node.name)
        if hit is None:
            result.append(Placement(prefix + node.name, node.op, "cpu_c", "removed (no effect on outputs)"))
            continue
        p, into = hit
        result.append(Placement(prefix + node.name, node.op, p.backend, p.unit, p.reason, into))
        host = hosts.get(node.name)
        if host is not None:
            for attr, body in host.body_names():
                result += _body_rows(body, f"{prefix}{node.name}/{attr}/")
    return result


def _body_rows(body: CompiledBody, prefix: str) -> list[Placement]:
    """Where the nodes of one body run: as its latest specialization placed them, on the reference interpreter
    (with why), or, for a body that never ran, what cpu_c's table says it would do."""
    if body.interpreted is not None:
        return [Placement(prefix + n.name, n.op, "reference", "body interpreted", f"the body is interpreted: "
                          f"{body.interpreted}") for n in body.body.nodes]
    latest = body.latest()
    if latest is None:
        return [Placement(prefix + n.name, n.op, "cpu_c" if (why := supports(n)) is None else "reference",
                          "not run yet (compiled when first run)", why) for n in body.body.nodes]
    assert isinstance(latest, _Compiled)
    return _placement(body.body, latest, prefix)


def _body_calls(compiled: _Compiled, prefix: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for host in compiled.hosts.values():
        for attr, body in host.body_names():
            name = f"{prefix}{host.node.name}/{attr}"
            found[name] = body.calls
            for inner in body.compiled.values():
                assert isinstance(inner, _Compiled)
                for k, n in _body_calls(inner, name + "/").items():
                    found[k] = found.get(k, 0) + n
    return found


# ---------------------------------------------------------------- saved body libraries
def _all_bodies(compiled: _Compiled) -> list[tuple[str, tuple[tuple[int, ...], ...], _Compiled]]:
    """Every body specialization under ``compiled``, nested ones included: (path, input shapes, compiled)."""
    found = []
    for path, shapes, body in compiled_bodies(list(compiled.hosts.values())):
        assert isinstance(body, _Compiled)
        found += [(path, shapes, body), *_all_bodies(body)]
    return found


def _save_library(compiled: _Compiled, directory: Path, stem: str) -> dict[str, Any]:
    """Copy ``compiled``'s library and C source to ``directory`` as ``stem``; its manifest fields."""
    if compiled.library is None:
        return {"library": None}
    shutil.copyfile(compiled.library, directory / f"{stem}.so")
    (directory / f"{stem}.c").write_text(compiled.source_text)
    return {"library": f"{stem}.so", "source_sha256": compiler.digest(compiled.source_text)}
