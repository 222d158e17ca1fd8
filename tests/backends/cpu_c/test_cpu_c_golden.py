"""The generated C for a small graph, against a checked-in copy: a refactor that changes it shows up
as a diff here. To accept a deliberate change, rewrite golden/elementwise_pool_concat.c with the new
source (``CpuCBackend().compile(golden_graph()).source``) and review the diff."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hetflow.backends.cpu_c import CpuCBackend
from hetflow.ir import Graph

GOLDEN = Path(__file__).parent / "golden" / "elementwise_pool_concat.c"


def golden_graph() -> Graph:
    """A swish over a per-channel shift, a pool, a concat produced in place, a reshape view and a softmax.
    No matrix products, so the C does not depend on the machine's instruction set."""
    g = Graph("golden")
    x = g.add_input("x", "float32", (1, 4, 8, 8))
    b = g.constant(np.arange(4, dtype=np.float32).reshape(4, 1, 1) / 4, "b")
    h = g.add_node("add", [x, b], name="shift").outputs[0]
    h = g.add_node("sigmoid", [h], name="gate").outputs[0]
    h = g.add_node("mul", [h, x], name="swish").outputs[0]
    p = g.add_node("max_pool", [h], {"kernel": (2, 2), "strides": (2, 2), "pads": (0, 0, 0, 0)}, name="pool").outputs[0]
    c = g.add_node("concat", [p, g.add_node("neg", [p], name="neg").outputs[0]], {"axis": 1}, name="cat").outputs[0]
    r = g.add_node("reshape", [c], {"shape": (1, 8, 16)}, name="rows").outputs[0]
    g.outputs = [g.add_node("softmax", [r], {"axis": -1}, name="prob").outputs[0]]
    return g


def test_generated_c_is_stable() -> None:
    source = CpuCBackend().compile(golden_graph()).source
    assert source == GOLDEN.read_text(), f"generated C changed; see {GOLDEN} (its module docstring says how to update)"
