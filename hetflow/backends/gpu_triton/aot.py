"""Ahead-of-time builds: every kernel of a model compiled for a named NVIDIA GPU, with no GPU present.

``export_aot(graph, directory, target)`` generates the kernels (pure Python), dedupes them by (template
source, configuration), and compiles each with ``triton.compile`` for ``GPUTarget("cuda", sm, 32)`` in a
child process (Triton's interpreter, which this process may be using, cannot also compile). For each kernel
it writes ``<name>.ptx`` and ``<name>.cubin`` and a manifest row: kernel, source node(s), grid, config,
shared memory, registers and spills (from ``ptxas -v``, the ptxas that ships in the triton wheel).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hetflow.backends.gpu_triton import tuning
from hetflow.backends.gpu_triton.codegen import GenOptions, generate, template_of
from hetflow.backends.gpu_triton.executable import GpuCompileError, module_source
from hetflow.backends.gpu_triton.fusion import fuse
from hetflow.backends.gpu_triton.kernel import KernelSpec
from hetflow.config import triton_compile_env
from hetflow.ir import Graph
from hetflow.ir.errors import HetflowError
from hetflow.ir.subgraph import specialize
from hetflow.targets import MachineDescription, get_preset

SM_OF_TARGET = {"nvidia/h200": 90, "nvidia/h100": 90, "nvidia/a100": 80}
"""Compute capability per GPU description (the description schema has no field for it yet)."""
POINTER_TYPES = {"float32": "*fp32", "float16": "*fp16", "bfloat16": "*bf16"}
MANIFEST = "manifest.json"


@dataclass
class AotKernel:
    """One manifest row."""

    kernel: str
    template: str
    nodes: list[str]
    grid: list[int]
    config: str
    shared_bytes: int = 0
    registers: int | None = None
    spill_bytes: int | None = None
    files: list[str] = field(default_factory=list)
    same_as: str | None = None  # a kernel with the same code and configuration, compiled once


@dataclass
class AotReport:
    directory: Path
    target: str
    sm: int
    kernels: list[AotKernel]
    unique: int
    seconds: float
    triton_version: str
    host_nodes: list[str]

    def lines(self) -> list[str]:
        out = [f"wrote {len(self.kernels)} kernels ({self.unique} distinct) for {self.target} (sm_{self.sm}) to "
               f"{self.directory} in {self.seconds:.1f} s with Triton {self.triton_version}; manifest {MANIFEST}"]
        if self.host_nodes:
            out.append(f"{len(self.host_nodes)} node(s) have no kernel template and run on the host: "
                       + ", ".join(self.host_nodes))
        return out


def resolve_sm(target: MachineDescription | str) -> tuple[str, int]:
    desc = target if isinstance(target, MachineDescription) else get_preset(target)
    if desc.name not in SM_OF_TARGET:
        raise HetflowError(f"--target {desc.name}: no compute capability known for it; GPU targets: "
                           f"{', '.join(sorted(SM_OF_TARGET))}")
    return desc.name, SM_OF_TARGET[desc.name]


def plan_kernels(graph: Graph, *, tf32: bool = False, device: str = "") -> tuple[list[KernelSpec], list[str]]:
    """The kernels a GPU would run for ``graph`` (static shapes needed), and the nodes left on the host."""
    if not all(v.type.is_static for v in graph.inputs):
        graph = specialize(graph, [tuple(d if isinstance(d, int) else 1 for d in v.type.shape or ())
                                   for v in graph.inputs])
    host: dict[str, str] = {}
    kernels = []
    cache = tuning.TuningCache()
    for i, unit in enumerate(fuse(graph.copy(), host).units):
        if unit.kind in ("host", "view"):
            continue
        template = template_of(unit)
        name = f"k{i}_{template}_{''.join(c if c.isalnum() else '_' for c in unit.head.name)[:40]}"
        dtype = str(unit.nodes[-1].outputs[0].type.dtype)
        opts = GenOptions(tf32, False)
        probe = generate(unit, name, tuning.DEFAULTS[template], opts)
        key = cache.key(probe.source_digest, probe.problem, device, _triton_version())
        config = cache.get(key) or tuning.default_config(template, probe.problem, dtype, False)
        kernels.append(generate(unit, name, config, opts))
    return kernels, sorted(host)


def dedupe_key(k: KernelSpec) -> str:
    body = k.source.replace(k.name, "KERNEL")
    pointers = ",".join(POINTER_TYPES[str(v.type.dtype)] for v in (*k.values, *k.writes))
    return hashlib.sha256(f"{body}|{k.config}|{pointers}".encode()).hexdigest()[:16]


def export_aot(graph: Graph, directory: str | Path, target: MachineDescription | str = "nvidia/h200", *,
               tf32: bool = False, timeout_s: float = 1800) -> AotReport:
    """Compile every kernel of ``graph`` for ``target`` into ``directory`` (PTX, cubin, manifest)."""
    started = time.perf_counter()
    name, sm = resolve_sm(target)
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    kernels, host = plan_kernels(graph, tf32=tf32, device=name)
    first: dict[str, KernelSpec] = {}
    rows = []
    for k in kernels:
        key = dedupe_key(k)
        same = first.setdefault(key, k)
        rows.append(AotKernel(k.name, k.template, k.nodes, list(k.grid), str(k.config),
                              same_as=None if same is k else same.name))
    unique = list(first.values())
    (root / "kernels.py").write_text(module_source(unique))
    jobs = [{"name": k.name, "signature": _signature(k), "constexprs": dict(k.config.blocks),
             "num_warps": k.config.num_warps, "num_stages": k.config.num_stages} for k in unique]
    (root / "jobs.json").write_text(json.dumps({"sm": sm, "jobs": jobs}))
    results = _compile_in_child(root, timeout_s)
    (root / "jobs.json").unlink()
    by_name = {r["name"]: r for r in results["kernels"]}
    specs = {k.name: k for k in unique}
    for row in rows:
        found = by_name[row.same_as or row.kernel]
        if found.get("error"):
            spec = specs[row.same_as or row.kernel]
            raise GpuCompileError(f"kernel {spec.name} (from node(s) {', '.join(spec.nodes)}) failed to compile for "
                                  f"sm_{sm}: {found['error']}")
        row.shared_bytes, row.registers, row.spill_bytes = found["shared"], found["registers"], found["spills"]
        row.files = found["files"]
    report = AotReport(root, name, sm, rows, len(unique), time.perf_counter() - started, results["triton"], host)
    manifest = {"target": name, "sm": sm, "triton": results["triton"], "graph": graph.name,
                "host_nodes": host, "kernels": [asdict(r) for r in rows]}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return report


def _signature(k: KernelSpec) -> dict[str, str]:
    sig = {f"P{i}": POINTER_TYPES[str(v.type.dtype)] for i, v in enumerate((*k.values, *k.writes))}
    sig.update({b: "constexpr" for b, _ in k.config.blocks})
    return sig


def _compile_in_child(root: Path, timeout_s: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "hetflow.backends.gpu_triton.aot", str(root)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=triton_compile_env())
    except subprocess.TimeoutExpired:
        raise HetflowError(f"AOT compile of {root} took longer than {timeout_s:g} s") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise HetflowError(f"the AOT compiler process failed ({tail}); is the gpu extra installed? "
                           f"pip install -e \".[gpu]\"")
    results = root / "results.json"
    found = json.loads(results.read_text())
    results.unlink()
    return found


def _triton_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("triton")
    except PackageNotFoundError:
        return "none"


def cli_export(graph: Graph, directory: Path, *, target: str, feeds: Any = None, seed: int = 0) -> list[str]:
    """``hetflow codegen MODEL --target nvidia/h200 -o DIR``: the build, then one line per kernel.

    ``feeds`` and ``seed`` (golden inputs, as other targets' codegen takes them) are not needed: kernels are data-free.
    """
    report = export_aot(graph, directory, target)
    lines = report.lines()
    for k in report.kernels:
        lines.append(f"  {k.kernel:<44} grid {'x'.join(map(str, k.grid)):<12} smem {k.shared_bytes:>6} B  "
                     f"regs {k.registers!s:>4}  spills {k.spill_bytes!s:>4}  <- {', '.join(k.nodes)}")
    return lines


# ---------------------------------------------------------------- the child process


def _ptxas_usage(triton: Any, ptx_path: Path, sm: int) -> tuple[int | None, int | None]:
    """(registers, spill bytes) from ``ptxas -v`` on the PTX, with the ptxas in the triton wheel."""
    ptxas = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
    arch = f"sm_{sm}{'a' if sm >= 90 else ''}"
    done = subprocess.run([str(ptxas), "-v", f"--gpu-name={arch}", str(ptx_path), "-o", "/dev/null"],
                          capture_output=True, text=True)
    text = done.stderr + done.stdout
    regs = re.search(r"Used (\d+) registers", text)
    stores = re.search(r"(\d+) bytes spill stores", text)
    loads = re.search(r"(\d+) bytes spill loads", text)
    spills = int(stores.group(1)) + int(loads.group(1)) if stores and loads else None
    return (int(regs.group(1)) if regs else None), spills


def _child(root: Path) -> None:
    import importlib.util

    import triton
    from triton.backends.compiler import GPUTarget

    jobs = json.loads((root / "jobs.json").read_text())
    sm = jobs["sm"]
    spec = importlib.util.spec_from_file_location("hetflow_aot_kernels", root / "kernels.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = []
    for job in jobs["jobs"]:
        row: dict[str, Any] = {"name": job["name"], "shared": 0, "registers": None, "spills": None, "files": []}
        try:
            fn = triton.jit(getattr(module, job["name"]))
            src = triton.compiler.ASTSource(fn, signature=job["signature"], constexprs=job["constexprs"])
            compiled = triton.compile(src, target=GPUTarget("cuda", sm, 32),
                                      options={"num_warps": job["num_warps"], "num_stages": job["num_stages"]})
            for ext in ("ptx", "cubin"):
                data = compiled.asm[ext]
                path = root / f"{job['name']}.{ext}"
                path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
                row["files"].append(path.name)
            row["shared"] = int(compiled.metadata.shared)
            row["registers"], row["spills"] = _ptxas_usage(triton, root / f"{job['name']}.ptx", sm)
        except Exception as exc:  # noqa: BLE001 - report every kernel's failure, keep compiling the rest
            lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
            row["error"] = f"{type(exc).__name__}: {lines[-1] if lines else ''}"
        out.append(row)
    (root / "results.json").write_text(json.dumps({"triton": triton.__version__, "kernels": out}))


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
