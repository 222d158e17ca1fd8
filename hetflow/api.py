"""The public entry points: load a model, compile it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hetflow.runtime  # noqa: F401 - registers the runner behind Plan.run
from hetflow.compiler import compile_graph
from hetflow.frontends.registry import load_model
from hetflow.ir import Graph
from hetflow.partition import Plan


def load(source: str | Path | bytes | Any, **options: Any) -> Graph:
    """Import a model (a path, bytes or a framework's model object) into a hetflow Graph.

    The frontend is chosen by content (see ``hetflow.frontends.registry``): ONNX today; others register.
    """
    return load_model(source, **options)


def compile(graph: Graph, cluster: Any = None, **options: Any) -> Plan:  # noqa: A001 - public name per DESIGN
    """Compile ``graph`` into a runnable Plan for ``cluster`` (default: this host)."""
    return compile_graph(graph, cluster, **options)
