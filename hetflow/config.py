"""Every configuration knob hetflow reads, in one typed place. No other module reads os.environ."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_list(name: str) -> tuple[str, ...]:
    raw = os.environ.get(name, "")
    return tuple(p.strip() for p in raw.split(",") if p.strip())


@dataclass(frozen=True)
class Config:
    """Process-wide settings, read from the environment once."""

    dump_after: tuple[str, ...] = field(default_factory=lambda: tuple(
        p.split(":", 1)[1] for p in _env_list("HETFLOW_DUMP") if p.startswith("after:")))
    """Pass names after which the IR is printed (``HETFLOW_DUMP=after:constant_fold,after:cse``; ``after:*`` for all)."""
    cache_dir: Path = field(default_factory=lambda: Path(
        os.environ.get("HETFLOW_CACHE_DIR", Path.home() / ".cache" / "hetflow")))
    """Where compiled artifacts are cached by content hash."""
    num_threads: int | None = field(default_factory=lambda: int(os.environ["OMP_NUM_THREADS"])
                                    if os.environ.get("OMP_NUM_THREADS", "").isdigit() else None)
    """Thread count for generated code; None means all cores."""
    cc: str = field(default_factory=lambda: os.environ.get("HETFLOW_CC", "gcc"))
    """The C compiler for the cpu_c backend."""
    cxx: str = field(default_factory=lambda: os.environ.get("HETFLOW_CXX", "g++"))
    """The C++ compiler for the fpga_hls C simulation."""
    specialize_cache_size: int = field(default_factory=lambda: int(os.environ.get("HETFLOW_SPECIALIZE_CACHE", "8")))
    """How many shape specializations one plan keeps (``HETFLOW_SPECIALIZE_CACHE``): a plan whose executables
    cannot run a new input-shape signature as compiled compiles one for it, and drops the least recently used
    beyond this many."""
    omp_spin_count: int = field(default_factory=lambda: int(os.environ.get("HETFLOW_OMP_SPINCOUNT", "10000")))
    """How long generated code's OpenMP threads spin at a barrier before they sleep (GOMP_SPINCOUNT, about
    10-30 us here). libgomp's default (300000) is ruinous on a machine whose cores are busy with other work:
    a thread spinning for a thread that is not running holds the very core that thread needs (measured 40x
    slower at 2 threads); much shorter costs a wake-up per parallel region when the machine is idle."""


_config: Config | None = None


def get_config() -> Config:
    global _config
    if _config is None:
        _config = Config()
    return _config


def export_openmp_settings() -> None:
    """Put the OpenMP settings into the environment, where the OpenMP runtime reads them once, when it loads
    (call before loading generated code). Settings the user gave the OpenMP runtime directly win."""
    if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = str(get_config().omp_spin_count)


def set_config(config: Config | None) -> None:
    """Replace the process-wide config (tests); None re-reads the environment on next use."""
    global _config
    _config = config


def export_triton_settings(*, interpret: bool) -> None:
    """Ask Triton for its interpreter (kernels run as NumPy on the host) when there is no CUDA GPU. Triton reads
    TRITON_INTERPRET when ``triton.language`` is imported, so call this first; a value the user set wins."""
    if interpret:
        os.environ.setdefault("TRITON_INTERPRET", "1")


def triton_interpret_requested() -> bool:
    """Whether TRITON_INTERPRET asks Triton to interpret kernels."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def triton_compile_env() -> dict[str, str]:
    """The environment for a child process that compiles Triton kernels for a GPU (never the interpreter)."""
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)
    return env
