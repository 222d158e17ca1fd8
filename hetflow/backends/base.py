"""The backend contract and registry."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from hetflow.ir import Graph, Node
from hetflow.ir.errors import HetflowError


@runtime_checkable
class Executable(Protocol):
    """A compiled (sub)graph: feeds by input name in, outputs by output name back."""

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


class Backend(Protocol):
    """A code generator. ``supports`` answers capability before anything is lowered.

    Two optional methods, which the partitioner looks for with ``getattr``:
    ``estimate_node(node, description) -> (seconds, source[, interval]) | None``, the backend's own time model
    for one node on a chip of that description (None: no estimate, the roofline is used); and
    ``compile_for(graph, description) -> Executable``, what a chip of that description runs (its
    driver loads it), where ``compile`` alone would not know the chip.
    """

    name: str

    def supports(self, node: Node) -> str | None:
        """None if this backend can run ``node``; otherwise the reason it cannot."""
        ...

    def compile(self, graph: Graph, **options: Any) -> Executable: ...


_BACKENDS: dict[str, Callable[[], Backend]] = {}
# Built-in backends, imported on first use so that `import hetflow` stays light.
_BUILTIN = {"reference": "hetflow.backends.reference", "cpu_c": "hetflow.backends.cpu_c",
            "fpga_hls": "hetflow.backends.fpga_hls", "nvdla": "hetflow.backends.nvdla"}


def register_backend(name: str, factory: Callable[[], Backend]) -> None:
    if name in _BACKENDS:
        raise HetflowError(f"backend {name!r} is registered twice")
    _BACKENDS[name] = factory


def get_backend(name: str) -> Backend:
    if name not in _BACKENDS and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    try:
        return _BACKENDS[name]()
    except KeyError:
        known = sorted(set(_BACKENDS) | set(_BUILTIN))
        raise HetflowError(f"unknown backend {name!r}; known backends: {', '.join(known)}") from None
