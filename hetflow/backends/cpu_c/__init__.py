"""The CPU backend: IR -> C with OpenMP -> gcc -> a shared library called through ctypes.

``table.py`` maps IR ops to C templates (and is the capability), ``fusion.py`` folds and fuses,
``memplan.py`` lays every intermediate out in one arena, ``codegen.py``/``render.py`` write the C,
``compiler.py`` builds and caches it, ``executable.py`` runs it; nodes outside the table run on the
reference backend between generated segments, and ``placement()`` says which ran where. A control-flow
node (if / loop / scan) iterates in the host code with each body compiled by cpu_c (``bodies.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hetflow.backends.base import Artifact, ArtifactError, Backend, Estimate
from hetflow.backends.cpu_c import parallel, table
from hetflow.backends.cpu_c.compiler import BASE_FLAGS, CompileError, CompilerNotFoundError, Toolchain
from hetflow.backends.cpu_c.cost import device_threads, fused_into_producer, kernel_estimate
from hetflow.backends.cpu_c.executable import CpuCExecutable, Placement
from hetflow.config import get_config
from hetflow.ir import Graph, Node
from hetflow.ir.errors import HetflowError
from hetflow.targets import MachineDescription


class CpuCBackend(Backend):
    """Generates C + OpenMP for the host CPU; nodes outside its table run on the reference interpreter."""

    name = "cpu_c"
    falls_back = True
    saves_artifacts = True

    def supports(self, node: Node) -> str | None:
        return table.supports(node)

    def compile(self, graph: Graph, description: MachineDescription | None = None, *, threads: int | None = None,
                fallback: str = "reference", cflags: tuple[str, ...] = (), profile: bool = False,
                **options: Any) -> CpuCExecutable:
        """Compile ``graph`` for this host (``description`` is not needed: the code is built for the CPU it runs on).
        ``threads``: OpenMP threads (default: config.num_threads, else all cores);
        ``fallback="error"`` refuses nodes outside the table instead of running them on the reference
        backend; ``cflags`` are appended to the compiler flags; ``profile`` times every fused unit."""
        if fallback not in ("reference", "error"):
            raise HetflowError(f"cpu_c: fallback must be 'reference' or 'error', got {fallback!r}")
        toolchain = Toolchain(flags=BASE_FLAGS + tuple(cflags))
        return CpuCExecutable(graph, threads=threads if threads is not None else get_config().num_threads,
                              toolchain=toolchain, profile=profile, fallback=fallback)

    def shape_polymorphic(self, artifact: Artifact) -> bool:
        """When its library takes the symbolic dims at run time (``CpuCExecutable.takes_any_shape``: a symbolic
        batch); otherwise a plan specializes it per input-shape signature."""
        return isinstance(artifact, CpuCExecutable) and artifact.takes_any_shape

    def estimate(self, node: Node, description: MachineDescription) -> Estimate | None:
        """The generated kernel's time on a CPU of ``description``: see ``cost.py``."""
        return kernel_estimate(node, description)

    def launches_kernel(self, node: Node, description: MachineDescription) -> bool:
        """Only a kernel that opens an OpenMP parallel region at its size pays the CPU's fork/join
        (``parallel.py``: the templates' ``if`` clauses); work fused into its producer's kernel pays none."""
        return not fused_into_producer(node) and parallel.forks(node, device_threads(description))

    def save_artifact(self, artifact: Artifact, directory: Path) -> None:
        """Every compiled specialization, its C and the runtime library (``CpuCExecutable.save_artifact``)."""
        if not isinstance(artifact, CpuCExecutable):
            raise ArtifactError(f"cpu_c saves a CpuCExecutable, not {type(artifact).__name__}")
        artifact.save_artifact(directory)

    def load_artifact(self, directory: Path, graph: Graph) -> CpuCExecutable:
        """A compiled graph written by ``save_artifact``, loaded without compiling."""
        return CpuCExecutable.load(directory, graph, Toolchain())

__all__ = ["CompileError", "CompilerNotFoundError", "CpuCBackend", "CpuCExecutable", "Placement", "Toolchain"]
