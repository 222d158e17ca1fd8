"""The CPU backend: IR -> C with OpenMP -> gcc -> a shared library called through ctypes.

``table.py`` maps IR ops to C templates (and is the capability), ``fusion.py`` folds and fuses,
``memplan.py`` lays every intermediate out in one arena, ``codegen.py``/``render.py`` write the C,
``compiler.py`` builds and caches it, ``executable.py`` runs it; nodes outside the table run on the
reference backend between generated segments, and ``placement()`` says which ran where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hetflow.backends.base import register_backend
from hetflow.backends.cpu_c import table
from hetflow.backends.cpu_c.compiler import BASE_FLAGS, CompileError, CompilerNotFoundError, Toolchain
from hetflow.backends.cpu_c.executable import CpuCExecutable, Placement
from hetflow.config import get_config
from hetflow.ir import Graph, Node
from hetflow.ir.errors import HetflowError


class CpuCBackend:
    """Generates C + OpenMP for the host CPU."""

    name = "cpu_c"

    def supports(self, node: Node) -> str | None:
        return table.supports(node)

    def compile(self, graph: Graph, *, threads: int | None = None, fallback: str = "reference",
                cflags: tuple[str, ...] = (), profile: bool = False, **options: Any) -> CpuCExecutable:
        """Compile ``graph``. ``threads``: OpenMP threads (default: config.num_threads, else all cores);
        ``fallback="error"`` refuses nodes outside the table instead of running them on the reference
        backend; ``cflags`` are appended to the compiler flags; ``profile`` times every fused unit."""
        if fallback not in ("reference", "error"):
            raise HetflowError(f"cpu_c: fallback must be 'reference' or 'error', got {fallback!r}")
        toolchain = Toolchain(flags=BASE_FLAGS + tuple(cflags))
        return CpuCExecutable(graph, threads=threads if threads is not None else get_config().num_threads,
                              toolchain=toolchain, profile=profile, fallback=fallback)


    def load_artifact(self, directory: Path, graph: Graph) -> CpuCExecutable:
        """A compiled graph written by ``CpuCExecutable.save_artifact``, loaded without compiling."""
        return CpuCExecutable.load(directory, graph, Toolchain())


register_backend("cpu_c", CpuCBackend)

__all__ = ["CompileError", "CompilerNotFoundError", "CpuCBackend", "CpuCExecutable", "Placement", "Toolchain"]
