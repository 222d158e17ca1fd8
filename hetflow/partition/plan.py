"""The Plan: compiled subgraphs with their devices, and a way to run them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hetflow.backends import Executable, get_backend
from hetflow.ir import DType, Graph, Node
from hetflow.ir.errors import InputError


@dataclass
class Subgraph:
    """A part of the graph compiled for one device."""

    name: str
    device: str
    backend: str
    nodes: list[Node]
    executable: Executable


@dataclass
class Plan:
    """What ``hf.compile`` returns: where every node runs, ready to run."""

    graph: Graph
    subgraphs: list[Subgraph]
    options: dict[str, Any] = field(default_factory=dict)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on named inputs; returns outputs by name."""
        checked = check_feeds(self.graph, feeds)
        env = dict(checked)
        for sub in self.subgraphs:
            env.update(sub.executable.run(env))
        return {v.name: env[v.name] if v.name in env else np.asarray(v.const) for v in self.graph.outputs}

    def report(self) -> str:
        """A table of subgraphs: device, backend, node count."""
        lines = [f"Plan for {self.graph.name}: {len(self.subgraphs)} subgraph(s)"]
        for sub in self.subgraphs:
            lines.append(f"  {sub.name:<16} {sub.device:<24} {sub.backend:<10} {len(sub.nodes)} nodes")
        return "\n".join(lines)


def check_feeds(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Validate inputs against the graph signature; one-line InputError naming the input otherwise."""
    expected = {v.name for v in graph.inputs}
    extra = set(feeds) - expected
    if extra:
        raise InputError(f"unknown input(s) {sorted(extra)}; the model takes {sorted(expected)}")
    out: dict[str, np.ndarray] = {}
    symbols: dict[str, int] = {}
    for v in graph.inputs:
        if v.name not in feeds:
            raise InputError(f"input '{v.name}' ({v.type}) is missing")
        array = np.asarray(feeds[v.name])
        want = v.type.dtype
        got = DType.of(array.dtype) if array.dtype.kind not in "USO" else DType.string
        if got is not want:
            raise InputError(f"input '{v.name}': expected dtype {want}, got {got}")
        shape = v.type.shape
        if shape is not None:
            if array.ndim != len(shape):
                raise InputError(f"input '{v.name}': expected shape {v.type}, got {list(array.shape)} (rank differs)")
            for axis, (d, n) in enumerate(zip(shape, array.shape)):
                if isinstance(d, int) and d != n:
                    raise InputError(f"input '{v.name}': expected shape {v.type}, got {list(array.shape)} (dim {axis})")
                if isinstance(d, str) and symbols.setdefault(d, n) != n:
                    raise InputError(f"input '{v.name}': dim {axis} is '{d}'={symbols[d]} elsewhere, got {n}")
        out[v.name] = array
    return out


def compile_graph(graph: Graph, cluster: Any = None, *, backend: str = "reference", **options: Any) -> Plan:
    """Compile for the host. (Heterogeneous placement over a cluster arrives with the partitioner.)"""
    be = get_backend(backend)
    executable = be.compile(graph, **options)
    return Plan(graph, [Subgraph("sub0", "host", backend, list(graph.nodes), executable)], {"backend": backend, **options})
