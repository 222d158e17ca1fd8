"""The public entry points: load a model, compile it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hetflow.runtime  # noqa: F401 - registers the runner behind Plan.run
from hetflow.compiler import compile_graph
from hetflow.ir import Graph
from hetflow.partition import Plan


def load(source: str | Path | bytes | Any, **options: Any) -> Graph:
    """Import a model (an ONNX path, bytes or ModelProto) into a hetflow Graph."""
    if isinstance(source, Graph):
        return source
    from hetflow.frontends.onnx import import_model

    return import_model(source, **options)


def compile(graph: Graph, cluster: Any = None, **options: Any) -> Plan:  # noqa: A001 - public name per DESIGN
    """Compile ``graph`` into a runnable Plan for ``cluster`` (default: this host)."""
    return compile_graph(graph, cluster, **options)
