"""The default pass pipelines: named phases, each a tuple of pass names.

Every pass is named, so ``HETFLOW_DUMP=after:<pass>`` (or ``run_passes(dump_after=...)``) prints
the IR after any step listed here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hetflow.ir import Graph
from hetflow.passes.manager import run_passes

Phase = tuple[str, tuple[str, ...]]

CLEANUP: Phase = ("cleanup", ("constant_fold", "dce", "cse", "dce"))
"""Fold constants (weights built by ConstantOfShape become constants here), drop dead nodes, merge duplicates."""

REGIONS: Phase = ("regions", ("form_regions",))
"""Group nodes into layers and blocks under the network root."""

IMPORT_PIPELINE: tuple[Phase, ...] = (CLEANUP,)
"""What a frontend runs on a freshly imported graph."""

ANALYSIS_PIPELINE: tuple[Phase, ...] = (CLEANUP, REGIONS)
"""Import cleanup plus region formation: what reports (``hetflow inspect``) and the partitioner read."""

COMPILE_PIPELINE: tuple[Phase, ...] = (REGIONS,)
"""What the compile driver runs before partitioning: region formation, so that pins and reports name
layers and blocks (``--pin 'region:*fire2*=...'``). The graph is already clean from import; rewrites
that change nodes (``fold_affine``, then ``group_epilogues`` with the backend's own ``FusionRules``) run
inside each backend on its private copy, so the plan still names the nodes the user wrote and a node
another device takes is never folded into one it does not."""


def pass_names(phases: Iterable[Phase]) -> tuple[str, ...]:
    """The passes of ``phases``, in order."""
    return tuple(name for _, names in phases for name in names)


IMPORT_PASSES: tuple[str, ...] = pass_names(IMPORT_PIPELINE)


def run_pipeline(graph: Graph, phases: Iterable[Phase] = ANALYSIS_PIPELINE, **options: Any) -> Graph:
    """Run every pass of ``phases`` in order; ``options`` go to ``run_passes`` (dump_after, out, check)."""
    return run_passes(graph, pass_names(phases), **options)
