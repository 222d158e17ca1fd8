"""How many nodes of ONNX's node test cases cpu_c generates code for, and how many fall back to the reference.

Run as a script: ``python tests/backends/cpu_c/onnx_node_coverage.py [--top 25]``. Each case's model (as onnx's
loader generates them) is imported as the conformance suite imports it (its inputs bound to the stored
test data only where the importer needs a constant), and every IR node is asked the partitioner's question,
``cpu_c.table.supports``, on the graph as ``CpuCExecutable`` compiles it (see ``_decisions``). Prints the totals
and the commonest fallback reasons. Cases the importer refuses are counted apart.
"""

from __future__ import annotations

import argparse
import collections
import re
import warnings

import numpy as np
from onnx.backend.test.loader import TestCase, load_model_tests

from hetflow.backends.cpu_c.symbolic import graph_binding
from hetflow.backends.cpu_c.table import supports
from hetflow.frontends.onnx.importer import import_model
from hetflow.ir import Graph, Node
from hetflow.ir.errors import HetflowError
from hetflow.ir.subgraph import specialize

_QUOTED = re.compile(r"'[^']*'")


def _import(case: TestCase) -> Graph:
    """The case's graph as the conformance suite's first compile sees it: its inputs bound to the stored
    data only when the importer needs them as constants."""
    model = case.model
    try:
        return import_model(model)
    except HetflowError:
        initializers = {t.name for t in model.graph.initializer}
        names = [vi.name for vi in model.graph.input if vi.name not in initializers]
        feeds = {n: a for n, a in zip(names, case.data_sets[0][0]) if isinstance(a, np.ndarray)}
        return import_model(model, bind=feeds)


def count() -> tuple[collections.Counter, collections.Counter, int]:
    """(placement counts, fallback reasons by op, cases the importer refused)."""
    totals: collections.Counter = collections.Counter()
    reasons: collections.Counter = collections.Counter()
    refused = 0
    for case in load_model_tests(kind="node"):
        if case.model is None or not case.data_sets:
            continue
        try:
            graph = _import(case)
        except Exception:  # noqa: BLE001 - any refusal: counted, not studied here
            refused += 1
            continue
        for node, reason in _decisions(graph, case):
            totals["cpu_c" if reason is None else "reference"] += 1
            if reason is not None:
                reasons[f"{node.op}: {_QUOTED.sub('...', reason)[:90]}"] += 1
    return totals, reasons, refused


def _decisions(graph: Graph, case: TestCase) -> list[tuple[Node, str | None]]:
    """Each node and why cpu_c leaves it to the reference (None: generated), as ``CpuCExecutable`` decides: a graph
    whose symbols are all input leading dims compiles once; any other is specialized to the input shapes, and a
    shape still unknown then (it depends on data) keeps its nodes on the reference."""
    if all(v.type.is_static for v in graph.inputs) or isinstance(graph_binding(graph), str):
        arrays = [a for a in case.data_sets[0][0] if isinstance(a, np.ndarray)]
        if len(arrays) == len(graph.inputs):
            try:
                graph = specialize(graph, [a.shape for a in arrays])
            except HetflowError:
                pass
        return [(n, _RUN_TIME if any(v is not None and not v.type.is_static for v in [*n.inputs, *n.outputs])
                 else supports(n)) for n in graph.nodes]
    return [(n, supports(n)) for n in graph.nodes]


_RUN_TIME = "a shape known only at run time"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=25, help="fallback reasons to list")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        totals, reasons, refused = count()
    total = totals["cpu_c"] + totals["reference"]
    print(f"onnx node tests: {total} IR nodes; cpu_c {totals['cpu_c']}, reference {totals['reference']} "
          f"({100 * totals['cpu_c'] / max(total, 1):.1f}% on cpu_c); {refused} cases not imported")
    for reason, n in reasons.most_common(args.top):
        print(f"  {n:5d}  {reason}")


if __name__ == "__main__":
    main()
