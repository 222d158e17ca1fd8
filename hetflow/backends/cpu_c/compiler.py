"""Build generated C with gcc, cache the shared libraries by content hash, load them with ctypes.

Two libraries: the runtime (``templates/*.c``), built once per compiler + flags, and one per
compiled graph, linked against it. A library's file name is the hash of everything that goes
into it (source text, flags, compiler identity, runtime hash), so a second compile of the same
graph invokes no compiler and any change to the graph or the flags builds a new one.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from hetflow.backends.native import CompileError, CompilerNotFoundError, CompileStats, build_library, compiler_identity
from hetflow.config import export_openmp_settings, get_config

__all__ = ["STATS", "CompileError", "CompilerNotFoundError", "Toolchain", "digest", "load"]

TEMPLATES = Path(__file__).parent / "templates"
RUNTIME_SOURCES = ("gemm.c", "kernels.c", "extra.c")
HEADER = "hf_runtime.h"
BASE_FLAGS = ("-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-std=gnu11", "-fno-math-errno",
              "-mprefer-vector-width=512")


STATS = CompileStats()
_lock = threading.Lock()
_loaded: dict[str, ctypes.CDLL] = {}


def _compiler_identity(cc: str) -> str:
    """``cc --version``'s first line, once per process; a clear error when ``cc`` is missing."""
    return compiler_identity(
        cc,
        f"C compiler '{cc}' not found: the cpu_c backend compiles generated C at run time. "
        "Install gcc (Debian/Ubuntu: apt-get install gcc; Fedora: dnf install gcc) or set HETFLOW_CC "
        "to a C compiler; or compile with backend='reference'.")


@dataclass
class Toolchain:
    """A compiler, its flags and the cache they build into."""

    cc: str = field(default_factory=lambda: get_config().cc)
    flags: tuple[str, ...] = BASE_FLAGS
    cache_dir: Path = field(default_factory=lambda: get_config().cache_dir / "cpu_c")

    def key(self, *parts: str) -> str:
        h = hashlib.sha256()
        for part in (_compiler_identity(self.cc), " ".join(self.flags), *parts):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()[:32]

    def runtime(self) -> Path:
        """The runtime library for these flags, built on first use."""
        sources = [(TEMPLATES / name).read_text() for name in (HEADER, *RUNTIME_SOURCES)]
        key = self.key("runtime", *sources)
        lib = self.cache_dir / f"libhfrt-{key}.so"
        if lib.exists():
            STATS.cache_hits += 1
            return lib
        work = self.cache_dir / f"runtime-{key}"
        work.mkdir(parents=True, exist_ok=True)
        for name, text in zip((HEADER, *RUNTIME_SOURCES), sources):
            (work / name).write_text(text)
        self._run([*(str(work / s) for s in RUNTIME_SOURCES), f"-I{work}", f"-Wl,-soname,{lib.name}"], lib,
                  work / RUNTIME_SOURCES[0])
        return lib

    def build(self, name: str, source: str) -> Path:
        """The shared library for one generated file (cached by hash)."""
        runtime = self.runtime()
        key = self.key("graph", source, runtime.name)
        lib = self.cache_dir / f"{_safe(name)}-{key}.so"
        if lib.exists():
            STATS.cache_hits += 1
            return lib
        c_file = self.cache_dir / f"{_safe(name)}-{key}.c"
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(c_file, source)
        self._run([str(c_file), f"-I{TEMPLATES}", str(runtime), f"-Wl,-rpath,{self.cache_dir}"], lib, c_file)
        return lib

    def _run(self, args: list[str], lib: Path, shown: Path) -> None:
        _compiler_identity(self.cc)
        build_library(self.cc, [*self.flags, *args, "-lm"], lib, STATS, f"the generated file {shown}")


def _safe(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40]
    return cleaned or "graph"


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(suffix=".c", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def load(lib: Path) -> ctypes.CDLL:
    """dlopen ``lib`` once per process (the OpenMP runtime it pulls in reads its settings now).

    Never RTLD_GLOBAL: a runtime library in the global scope would take the place of the one a graph
    library was built against (other flags, other packing). A graph library finds its runtime by soname,
    which names the runtime's hash, among the libraries already loaded, or along its rpath."""
    with _lock:
        key = str(lib)
        if key not in _loaded:
            export_openmp_settings()
            _loaded[key] = ctypes.CDLL(key)
        return _loaded[key]


def digest(text: str) -> str:
    """SHA-256 of generated source, as saved beside a library."""
    return hashlib.sha256(text.encode()).hexdigest()
