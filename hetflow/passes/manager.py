"""Named passes and the pipeline runner."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Iterable
from typing import TextIO

from hetflow.config import get_config
from hetflow.ir import Graph, format_graph, verify
from hetflow.ir.errors import HetflowError

PassFn = Callable[[Graph], Graph]
ReportFn = Callable[[Graph], str]
PASSES: dict[str, PassFn] = {}
REPORTS: dict[str, ReportFn] = {}
"""Pass name -> what an analysis pass found, printed after the IR when that pass is dumped."""
_log = logging.getLogger("hetflow.passes")
_MODULES = ("fold", "dce", "cse", "regions", "affine", "fusion")


def graph_pass(name: str, *, report: ReportFn | None = None) -> Callable[[PassFn], PassFn]:
    """Register ``fn(graph) -> graph`` under ``name`` (a pass may rewrite in place and return its input).

    ``report(graph)``, for a pass that annotates rather than rewrites, is text printed after the IR dump.
    """

    def wrap(fn: PassFn) -> PassFn:
        if name in PASSES:
            raise HetflowError(f"pass {name!r} is registered twice")
        PASSES[name] = fn
        if report is not None:
            REPORTS[name] = report
        return fn

    return wrap


def _load() -> None:
    for mod in _MODULES:
        importlib.import_module(f"hetflow.passes.{mod}")


def run_passes(
    graph: Graph,
    names: Iterable[str],
    *,
    dump_after: str | Iterable[str] | None = None,
    out: TextIO | None = None,
    check: bool = True,
) -> Graph:
    """Run the named passes in order, verifying after each and printing the IR after those asked for.

    ``dump_after`` names passes ("*" for all) after which the IR goes to ``out`` (default stderr);
    None takes them from the config (``HETFLOW_DUMP=after:<pass>``).
    """
    _load()
    if dump_after is None:
        dump_after = get_config().dump_after
    dumps = {dump_after} if isinstance(dump_after, str) else set(dump_after)
    unknown = sorted(dumps - set(PASSES) - {"*"})
    if unknown:  # a typo in HETFLOW_DUMP would otherwise print nothing and say nothing
        raise HetflowError(f"HETFLOW_DUMP=after:{unknown[0]}: no pass of that name; passes: {', '.join(sorted(PASSES))}")
    for name in names:
        if name not in PASSES:
            raise HetflowError(f"unknown pass {name!r}; passes: {', '.join(sorted(PASSES))}")
        before = len(graph.nodes)
        graph = PASSES[name](graph)
        _log.debug("pass %s: %d -> %d nodes", name, before, len(graph.nodes))
        if check:
            verify(graph)
        if name in dumps or "*" in dumps:
            _print_dump(name, graph, REPORTS[name](graph) if name in REPORTS else None, out)
    return graph


def _print_dump(name: str, graph: Graph, report: str | None, out: TextIO | None) -> None:
    extra = f"\n{report}" if report else ""
    print(f"// ---- IR after {name}\n{format_graph(graph)}{extra}", file=out or sys.stderr)


def dump_if_asked(name: str, graph: Graph, report: str | None = None, *, out: TextIO | None = None) -> None:
    """Print the IR after pass ``name`` (and ``report``) when ``HETFLOW_DUMP`` asks for it.

    For a backend that applies a shared rewrite to its private copy of a subgraph (with its own rules),
    so that ``HETFLOW_DUMP=after:<pass>`` shows what that backend received.
    """
    asked = get_config().dump_after
    dumps = {asked} if isinstance(asked, str) else set(asked or ())
    if name in dumps or "*" in dumps:
        _print_dump(f"{name} ({graph.name})", graph, report, out)
