"""The compiled graph: generated kernels, one memory arena reused by liveness, and the launch sequence.

A graph with symbolic dims is specialized per input-shape signature on first run. Every intermediate
lives in one arena (a single device allocation per specialization) at an offset chosen by liveness;
reshapes are views; constants are uploaded once. On a CUDA GPU kernels launch on the executable's
stream, CUDA events time each run (``measured``), and a subgraph without host steps is captured as a
CUDA graph after its first run and replayed. Without a GPU the same kernels run in Triton's interpreter.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hetflow.backends.gpu_triton import tuning
from hetflow.backends.gpu_triton.codegen import GenOptions, generate, splittable, template_of
from hetflow.backends.gpu_triton.fusion import Unit, fuse
from hetflow.backends.gpu_triton.kernel import KernelSpec
from hetflow.backends.gpu_triton.memory import MemoryPlan, plan_memory
from hetflow.backends.gpu_triton.runtime import GpuRuntime, load_runtime
from hetflow.config import get_config
from hetflow.ir import DType, Graph, Value, get_op
from hetflow.ir.errors import HetflowError, InputError
from hetflow.ir.subgraph import specialize


class GpuCompileError(HetflowError):
    """A generated kernel failed to compile or launch: names the kernel, its source nodes and Triton's message."""


class GpuFallbackError(HetflowError):
    """A node has no kernel template and the compile was told not to fall back to the host."""


class GpuMemoryError(HetflowError):
    """A plan's buffers do not fit the device's memory (raised before any launch)."""


@dataclass(frozen=True)
class Placement:
    """Where one node of the compiled graph runs."""

    node: str
    op: str
    backend: str  # "gpu_triton" or "reference"
    unit: str
    reason: str | None = None
    folded_into: str | None = None  # a conv / matmul whose weights absorbed this node (fold_affine)


@dataclass(frozen=True)
class Options:
    """What a compile was asked for."""

    tf32: bool = False
    fallback: str = "reference"  # or "error"
    cuda_graph: bool = True
    memory_capacity: int | None = None  # bytes; None: no check
    device_name: str | None = None  # the tuning cache's device key (default: the GPU's own name)


def torch_dtype(rt: GpuRuntime, dtype: DType) -> Any:
    return getattr(rt.torch, dtype.numpy.name if dtype is not DType.bool else "bool")


def to_device(rt: GpuRuntime, array: np.ndarray) -> Any:
    """A contiguous torch tensor on the kernels' device (bfloat16 crosses as its bits)."""
    array = np.ascontiguousarray(array)
    if not array.flags.writeable:  # torch wants to own writable memory; constants are often read-only views
        array = array.copy()
    if array.dtype.name == "bfloat16":
        t = rt.torch.from_numpy(array.view(np.int16)).view(rt.torch.bfloat16)
    else:
        t = rt.torch.from_numpy(array)
    return t.to(rt.device)


def to_host(rt: GpuRuntime, tensor: Any, dtype: DType) -> np.ndarray:
    t = tensor.detach().to("cpu")
    if dtype is DType.bfloat16:
        return t.view(rt.torch.int16).numpy().view(dtype.numpy).copy()
    return t.numpy().copy()


@dataclass
class Step:
    """One thing a run does: launch a kernel, or run a host node (reference) between kernels."""

    unit: Unit
    kernel: KernelSpec | None = None
    fn: Any = None


class Compiled:
    """One specialization: kernels loaded, arena allocated, constants uploaded."""

    def __init__(self, graph: Graph, rt: GpuRuntime, options: Options) -> None:
        self.original = graph
        graph = graph.copy()  # the shared rewrites change the graph: work on a private copy
        self.graph, self.rt, self.options = graph, rt, options
        self.fallback: dict[str, str] = {}
        fusion = fuse(graph, self.fallback)
        self.units, self.folded = fusion.units, fusion.folded
        if options.fallback == "error" and self.fallback:
            name, reason = next(iter(self.fallback.items()))
            op = next(n.op for n in graph.nodes if n.name == name)
            raise GpuFallbackError(f"node {name!r} ({op}) cannot run on gpu_triton: {reason}; "
                                   f"fallback='error' (--no-fallback) forbids running it on the host")
        self.steps = [Step(u) for u in self.units]
        self.kernels = self._generate()
        self.memory: MemoryPlan = plan_memory(graph, self.units)
        if options.memory_capacity is not None and self.memory.total_bytes > options.memory_capacity:
            raise GpuMemoryError(f"graph {graph.name!r} needs {self.memory.total_bytes:,} bytes of device memory "
                                 f"(arena {self.memory.arena_bytes:,}, constants {self.memory.const_bytes:,}, "
                                 f"inputs/outputs {self.memory.io_bytes:,}), more than the device's "
                                 f"{options.memory_capacity:,}; nothing was launched")
        self._load_kernels()
        self._bind()
        self.graph_capture: Any = None
        self.stream = rt.torch.cuda.Stream() if not rt.interpret else None

    @property
    def device_name(self) -> str:
        if self.options.device_name is not None:
            return self.options.device_name
        return "interpreter" if self.rt.interpret else str(self.rt.torch.cuda.get_device_name())

    def _generate(self) -> list[KernelSpec]:
        cache = tuning.TuningCache()
        out = []
        for i, step in enumerate(self.steps):
            if step.unit.kind in ("host", "view"):
                continue
            template = template_of(step.unit)
            name = f"k{i}_{template}_{_ident(step.unit.head.name)}"
            dtype = str(step.unit.nodes[-1].outputs[0].type.dtype)
            opts = GenOptions(self.options.tf32, self.rt.interpret)
            probe = generate(step.unit, name, tuning.DEFAULTS[template], opts)
            key = cache.key(probe.source_digest, probe.problem, self.device_name, self.rt.triton.__version__)
            config = (None if self.rt.interpret else cache.get(key)) or \
                tuning.default_config(template, probe.problem, dtype, self.rt.interpret)
            step.kernel = generate(step.unit, name, config, opts)
            out.append(step.kernel)
        return out

    def _load_kernels(self) -> None:
        if not self.kernels:
            return
        source = module_source(self.kernels)
        import hashlib

        digest = hashlib.sha256(source.encode()).hexdigest()[:24]
        directory = get_config().cache_dir / "gpu_triton" / "src"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"hf_{digest}.py"
        if not path.exists():
            tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
            tmp.write_text(source)
            tmp.replace(path)
        spec = importlib.util.spec_from_file_location(f"hetflow_gpu_kernels_{digest}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for step in self.steps:
            if step.kernel is not None:
                step.fn = self.rt.triton.jit(getattr(module, step.kernel.name))

    def _bind(self) -> None:
        """Allocate the arena and give every value a tensor (arena view, constant or input slot)."""
        rt, mem = self.rt, self.memory
        torch = rt.torch
        self.arena = torch.empty(max(mem.arena_bytes, 1), dtype=torch.uint8, device=rt.device)
        self.tensors: dict[int, Any] = {}
        for v in self.graph.values():
            if v.const is not None:
                self.tensors[id(v)] = to_device(rt, v.const)
        for vid, (offset, value) in mem.offsets.items():
            t = self.arena[offset:offset + value.type.nbytes].view(torch_dtype(rt, value.type.dtype))
            self.tensors[vid] = t.view(tuple(value.type.shape))
        for v in self.graph.inputs:
            if id(v) not in self.tensors:
                self.tensors[id(v)] = torch.empty(tuple(v.type.shape), dtype=torch_dtype(rt, v.type.dtype),
                                                  device=rt.device)
        for alias, root in mem.aliases.items():
            value = mem.values[alias]
            self.tensors[alias] = self.tensors[root].reshape(tuple(value.type.shape))

    # ------------------------------------------------------------ running
    def run(self, feeds: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], float | None]:
        """Outputs, and the measured GPU seconds (CUDA events; None in the interpreter)."""
        if self.rt.interpret:
            self._write_inputs(feeds)
            self._launch_all()
            return self._outputs(), None
        with self.rt.torch.cuda.stream(self.stream):  # copies ordered before the launches (or graph replay)
            self._write_inputs(feeds)
        seconds = self._run_cuda()
        return self._outputs(), seconds

    def _write_inputs(self, feeds: dict[str, np.ndarray]) -> None:
        for v in self.graph.inputs:
            self.tensors[id(v)].copy_(to_device(self.rt, feeds[v.name]).reshape(self.tensors[id(v)].shape))

    def _outputs(self) -> dict[str, np.ndarray]:
        return {v.name: to_host(self.rt, self._tensor(v), v.type.dtype) for v in self.graph.outputs}

    def _tensor(self, v: Value) -> Any:
        return self.tensors[id(v)] if id(v) in self.tensors else to_device(self.rt, v.const)  # type: ignore[arg-type]

    def _launch_all(self) -> None:
        for step in self.steps:
            if step.unit.kind == "host":
                self._host(step.unit)
            elif step.kernel is not None:
                self._launch(step)

    def _launch(self, step: Step) -> None:
        k = step.kernel
        assert k is not None
        args = [self.tensors[id(v)] for v in (*k.values, *k.writes)]
        if k.config.split_k > 1:  # partial sums are added into the output: start it at zero
            for v in k.writes:
                self.tensors[id(v)].zero_()
        try:
            step.fn[k.grid](*args, **dict(k.config.blocks), num_warps=k.config.num_warps,
                            num_stages=k.config.num_stages)
        except Exception as exc:  # noqa: BLE001 - Triton's compile and launch errors have many types
            message = str(exc).strip().splitlines()
            raise GpuCompileError(f"kernel {k.name} (from node(s) {', '.join(k.nodes)}) failed: "
                                  f"{type(exc).__name__}: {message[-1] if message else ''}") from exc

    def _host(self, unit: Unit) -> None:
        node = unit.head
        args = [None if v is None else (v.const if v.const is not None else to_host(self.rt, self.tensors[id(v)],
                                                                                     v.type.dtype))
                for v in node.inputs]
        results = get_op(node.op).run(node, args)
        for v, r in zip(node.outputs, results):
            self.tensors[id(v)].copy_(to_device(self.rt, np.asarray(r, v.type.dtype.numpy)).reshape(
                self.tensors[id(v)].shape))

    def _run_cuda(self) -> float:
        torch = self.rt.torch
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        host_steps = any(s.unit.kind == "host" for s in self.steps)
        with torch.cuda.stream(self.stream):
            if self.options.cuda_graph and not host_steps and self.graph_capture is None:
                self._launch_all()  # the first run compiles every kernel; capture only launches
                self.stream.synchronize()
                self.graph_capture = torch.cuda.CUDAGraph()
                with torch.cuda.graph(self.graph_capture, stream=self.stream):
                    self._launch_all()
            start.record(self.stream)
            if self.graph_capture is not None:
                self.graph_capture.replay()
            else:
                self._launch_all()
            end.record(self.stream)
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    def tune(self, rep_ms: int = 20) -> list[tuple[str, str, float]]:
        """Time every kernel's configuration space on the GPU; keep and file the fastest. (kernel, config, seconds)."""
        if self.rt.interpret:
            raise HetflowError("tuning times kernels on a CUDA GPU; this machine has none (Triton's interpreter "
                               "stands in for one, and its timings mean nothing)")
        cache, found = tuning.TuningCache(), []
        opts = GenOptions(self.options.tf32, False)
        do_bench = importlib.import_module("triton.testing").do_bench
        for step in self.steps:
            if step.kernel is None:
                continue
            template = template_of(step.unit)
            best: tuple[float, KernelSpec] | None = None
            for config in tuning.candidates(template, step.kernel.problem, splittable(step.unit)):
                spec = generate(step.unit, step.kernel.name, config, opts)
                trial = Step(step.unit, spec, step.fn)
                try:
                    ms = do_bench(lambda trial=trial: self._launch(trial), warmup=5, rep=rep_ms)
                except Exception:  # noqa: BLE001 - a configuration that does not fit (shared memory) is skipped
                    continue
                if best is None or ms < best[0]:
                    best = (ms, spec)
            if best is None:
                continue
            step.kernel = best[1]
            key = cache.key(step.kernel.source_digest, step.kernel.problem, self.device_name, self.rt.triton.__version__)
            cache.put(key, step.kernel.config, best[0] / 1e3)
            found.append((step.kernel.name, str(step.kernel.config), best[0] / 1e3))
        self.kernels = [s.kernel for s in self.steps if s.kernel is not None]
        self.graph_capture = None
        return found

    def placement(self) -> list[Placement]:
        """Every original node, in graph order: the unit that computes it (folded nodes: their target's)."""
        found: dict[str, Placement] = {}
        for unit in self.units:
            backend = "reference" if unit.kind == "host" else "gpu_triton"
            for n in unit.nodes:
                found[n.name] = Placement(n.name, n.op, backend, unit.label, unit.reason)
        rows = []
        for n in self.original.nodes:
            if n.name in found:
                rows.append(found[n.name])
            elif n.name in self.folded:
                target = found[self.folded[n.name]]
                rows.append(Placement(n.name, n.op, target.backend, target.unit, folded_into=target.node))
        return rows


def module_source(kernels: list[KernelSpec]) -> str:
    """One Python module holding every generated kernel (undecorated; the loader applies ``triton.jit``)."""
    header = '"""Generated by hetflow gpu_triton; do not edit."""\nimport triton\nimport triton.language as tl\n\n'
    return header + "\n\n".join(k.source for k in kernels)


def _ident(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in name)[:40]
    return cleaned or "node"


class GpuTritonExecutable:
    """A graph compiled to Triton kernels; ``run(feeds)`` gives outputs by name."""

    def __init__(self, graph: Graph, options: Options) -> None:
        self.graph = graph
        self.options = options
        self.rt = load_runtime()
        self.last_seconds: float | None = None
        self._compiled: dict[tuple[tuple[int, ...], ...], Compiled] = {}
        self._lock = threading.Lock()
        if all(v.type.is_static for v in graph.inputs):
            self._get([tuple(v.type.shape) for v in graph.inputs])  # type: ignore[misc]

    def _get(self, shapes: list[tuple[int, ...]]) -> Compiled:
        key = tuple(shapes)
        if key not in self._compiled:
            static = all(v.type.is_static for v in self.graph.inputs) and all(
                tuple(v.type.shape) == s for v, s in zip(self.graph.inputs, shapes))  # type: ignore[arg-type]
            graph = self.graph if static else specialize(self.graph, shapes)
            self._compiled[key] = Compiled(graph, self.rt, self.options)
        return self._compiled[key]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = []
        for v in self.graph.inputs:
            if v.name not in feeds:
                raise InputError(f"missing input {v.name!r}; the graph takes {[i.name for i in self.graph.inputs]}")
            arrays.append(np.asarray(feeds[v.name], v.type.dtype.numpy))
        with self._lock:
            compiled = self._get([a.shape for a in arrays])
            outputs, self.last_seconds = compiled.run(dict(zip([v.name for v in self.graph.inputs], arrays)))
        return outputs

    def _latest(self) -> Compiled:
        if not self._compiled:
            raise HetflowError("the graph has symbolic input shapes; run it once to compile a specialization")
        return next(reversed(self._compiled.values()))

    def placement(self) -> list[Placement]:
        """Where every node runs (kernel or host fallback), for the latest specialization."""
        return self._latest().placement()

    def kernels(self) -> list[KernelSpec]:
        return self._latest().kernels

    def tune(self) -> list[tuple[str, str, float]]:
        """Search every kernel's launch configuration on the GPU (see ``Compiled.tune``); winners are cached."""
        with self._lock:
            return self._latest().tune()

    def notes(self) -> list[str]:
        """What a report should say about how this executable runs."""
        if self.rt.interpret:
            return [f"kernels run in {self.rt.mode}: results are the generated kernels', times are not GPU times"]
        return [f"kernels run on {self.rt.mode}"]

    def source(self) -> str:
        return module_source(self.kernels())

    def save_source(self, path: Path) -> None:
        path.write_text(self.source())
