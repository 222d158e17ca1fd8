"""C simulation: compile a design's generated C++ with g++ into a shared library, cached by hash, run via ctypes.

The library's name is the hash of everything that goes into it: the generated sources, the
template library and ap_types headers, the flags and the compiler's identity. Weights are not in
the sources (they are set through ``hf_set_param`` after loading), so a model whose weights
change reuses its library, and a second compile of the same design runs no compiler.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hetflow.backends.fpga_hls import codegen
from hetflow.backends.fpga_hls.lower import Design
from hetflow.backends.native import CompileError, CompilerNotFoundError, CompileStats, build_library
from hetflow.backends.native import compiler_identity as native_identity
from hetflow.config import get_config
from hetflow.ir.errors import HetflowError

__all__ = ["CSim", "CompileError", "CompilerNotFoundError", "STATS", "Toolchain", "compiler_identity"]

INCLUDE = Path(__file__).parent / "include"
LIBRARY = INCLUDE / "hetflow_hls"
AP_TYPES = INCLUDE / "ap_types"
CSIM_SHIMS = INCLUDE / "csim"
BASE_FLAGS = ("-std=c++14", "-O1", "-shared", "-fPIC", "-w")
"""-O1: most of -O2's speed on ap_fixed arithmetic for a third of its compile time; -w: ap_types is noisy."""


STATS = CompileStats()
_lock = threading.Lock()
_headers_hash: list[str] = []


def compiler_identity(cxx: str) -> str:
    """``cxx --version``'s first line, once per process; a clear error when it is missing."""
    return native_identity(
        cxx,
        f"C++ compiler '{cxx}' not found: the fpga_hls backend compiles its generated HLS C++ with g++ for C "
        f"simulation. Install g++ (Debian/Ubuntu: apt-get install g++; Fedora: dnf install gcc-c++) or set "
        f"HETFLOW_CXX to a C++ compiler.")


def _library_hash() -> str:
    if not _headers_hash:
        h = hashlib.sha256()
        for path in sorted(INCLUDE.rglob("*.h")):
            h.update(str(path.relative_to(INCLUDE)).encode())
            h.update(path.read_bytes())
        _headers_hash.append(h.hexdigest())
    return _headers_hash[0]


@dataclass
class Toolchain:
    """A C++ compiler, its flags and the cache it builds into."""

    cxx: str = field(default_factory=lambda: get_config().cxx)
    flags: tuple[str, ...] = BASE_FLAGS
    cache_dir: Path = field(default_factory=lambda: get_config().cache_dir / "fpga_hls")

    def include_flags(self, firmware: Path) -> list[str]:
        return [f"-I{firmware}", f"-I{LIBRARY}", f"-I{CSIM_SHIMS}", f"-isystem{AP_TYPES}"]

    def build(self, design: Design, sources: codegen.Sources) -> Path:
        """The shared library simulating ``design`` (cached by hash)."""
        h = hashlib.sha256()
        for part in (compiler_identity(self.cxx), " ".join(self.flags), _library_hash()):
            h.update(part.encode() + b"\0")
        for path, text in sorted(sources.files.items()):
            h.update(path.encode() + b"\0" + text.encode() + b"\0")
        key = h.hexdigest()[:32]
        lib = self.cache_dir / f"{design.name[:40]}-{key}.so"
        if lib.exists():
            STATS.cache_hits += 1
            return lib
        work = self.cache_dir / f"{design.name[:40]}-{key}"
        for path, text in sources.files.items():
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        firmware = work / "firmware"
        self._run([str(firmware / "hf_csim.cpp"), *self.include_flags(firmware)], lib)
        return lib

    def _run(self, args: list[str], lib: Path) -> None:
        build_library(self.cxx, [*self.flags, *args], lib, STATS, f"the generated HLS design ({args[0]})", trim=True)


_loaded: dict[str, ctypes.CDLL] = {}


def _load(lib: Path) -> ctypes.CDLL:
    with _lock:
        key = str(lib)
        if key not in _loaded:
            dll = ctypes.CDLL(key)
            dll.hf_set_param.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_longlong), ctypes.c_longlong]
            dll.hf_set_param.restype = ctypes.c_int
            dll.hf_run.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)]
            dll.hf_run.restype = ctypes.c_int
            _loaded[key] = dll
        return _loaded[key]


class CSim:
    """A loaded C simulation of one design. Runs hold a lock: the library's parameter arrays are global."""

    def __init__(self, design: Design, toolchain: Toolchain | None = None) -> None:
        self.design = design
        self.toolchain = toolchain or Toolchain()
        self.sources = codegen.render(design, runtime_params=True)
        self.library = self.toolchain.build(design, self.sources)
        self._dll = _load(self.library)
        self._params = codegen.raw_params(design)
        self._run_lock = _lock_for(self.library)

    @classmethod
    def prebuilt(cls, design: Design, sources: codegen.Sources, library: Path, params: list[np.ndarray],
                 toolchain: Toolchain | None = None) -> CSim:
        """A simulation of ``design`` from a library built before (a saved artifact): nothing is compiled."""
        sim = cls.__new__(cls)
        sim.design, sim.toolchain, sim.sources, sim.library = design, toolchain or Toolchain(), sources, library
        sim._dll = _load(library)
        sim._params = [np.ascontiguousarray(p, dtype=np.int64) for p in params]
        sim._run_lock = _lock_for(library)
        return sim

    def _bind_params(self) -> None:
        for k, raw in enumerate(self._params):
            ptr = raw.ctypes.data_as(ctypes.POINTER(ctypes.c_longlong))
            if self._dll.hf_set_param(k, ptr, raw.size) != 0:
                raise HetflowError(f"C simulation of {self.design.name}: parameter {k} has the wrong size")

    def run(self, inputs: list[np.ndarray], samples: int) -> list[np.ndarray]:
        """Outputs (float64, the exact fixed-point values) for ``samples`` samples of float32 inputs."""
        ins = [np.ascontiguousarray(x, dtype=np.float32).reshape(-1) for x in inputs]
        for x, t in zip(ins, self.design.inputs):
            if x.size != samples * t.size:
                raise HetflowError(f"C simulation of {self.design.name}: input {t.value!r} has {x.size} values, "
                                   f"expected {samples} x {t.size}")
        outs = [np.empty(samples * t.size, np.float64) for t in self.design.outputs]
        in_ptrs = (ctypes.c_void_p * max(len(ins), 1))(*[x.ctypes.data for x in ins])
        out_ptrs = (ctypes.c_void_p * max(len(outs), 1))(*[o.ctypes.data for o in outs])
        with self._run_lock:
            # The library is shared by every CSim of the same design: set this one's parameters each run
            # unless this object was the last to set them.
            owner = _owner.get(str(self.library))
            if owner is None or owner() is not self:
                self._bind_params()
                _owner[str(self.library)] = weakref.ref(self)
            rc = self._dll.hf_run(samples, in_ptrs, out_ptrs)
        if rc != 0:
            raise HetflowError(f"C simulation of {self.design.name} failed (hf_run returned {rc})")
        return outs


_owner: dict[str, weakref.ref[CSim]] = {}
_run_locks: dict[str, threading.Lock] = {}


def _lock_for(lib: Path) -> threading.Lock:
    with _lock:
        return _run_locks.setdefault(str(lib), threading.Lock())
