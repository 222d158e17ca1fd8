"""Nodes outside the table run on the reference backend between generated segments, and say so."""

from __future__ import annotations

import numpy as np
import pytest
from backends.cpu_c.helpers import compare

import hetflow as hf
from hetflow.backends import get_backend
from hetflow.backends.cpu_c import CpuCBackend
from hetflow.ir import Graph
from hetflow.ir.errors import HetflowError


def mixed_graph() -> Graph:
    """matmul -> cumsum (not in the table) -> relu -> argmax (int64, not in the table) -> cast."""
    g = Graph("mixed")
    x = g.add_input("x", "float32", (6, 10))
    h = g.add_node("matmul", [x, g.constant(np.eye(10, 12, dtype=np.float32))], name="mm").outputs[0]
    h = g.add_node("cumsum", [h], {"axis": 1}, name="scan").outputs[0]
    h = g.add_node("relu", [h], name="act").outputs[0]
    i = g.add_node("argmax", [h], {"axis": 1, "keepdims": False}, name="pick").outputs[0]
    g.outputs = [h, g.add_node("cast", [i], {"to": "float32"}, name="as_float").outputs[0]]
    return g


def test_unsupported_nodes_fall_back_and_the_placement_says_why() -> None:
    g = mixed_graph()
    x = np.random.default_rng(0).standard_normal((6, 10)).astype(np.float32)
    exe = compare(g, {"x": x}, fallback="reference")
    where = {p.node: p for p in exe.placement()}
    assert [where[n].backend for n in ("mm", "scan", "act", "pick", "as_float")] == \
        ["cpu_c", "reference", "cpu_c", "reference", "cpu_c"]
    assert "not in the cpu_c table" in (where["scan"].reason or "")
    compiled = exe._latest()
    assert [s.kind for s in compiled.segments] == ["c", "reference", "c", "reference", "c"]
    report = exe.report()
    assert "2 on the reference backend" in report and "scan" in report


def test_fallback_error_refuses_instead() -> None:
    with pytest.raises(HetflowError, match="scan.*cumsum"):
        CpuCBackend().compile(mixed_graph(), fallback="error")


def test_supports_answers_before_lowering() -> None:
    g = mixed_graph()
    backend = get_backend("cpu_c")
    answers = {n.name: backend.supports(n) for n in g.nodes}
    assert answers["mm"] is None and answers["act"] is None
    assert "cumsum" in answers["scan"]


def test_hf_compile_with_the_cpu_c_backend_runs_and_reports() -> None:
    g = mixed_graph()
    plan = hf.compile(g, backend="cpu_c")
    x = np.ones((6, 10), np.float32)
    out = plan.run({"x": x})
    want = hf.compile(g, backend="reference").run({"x": x})
    for name in want:
        np.testing.assert_allclose(out[name], want[name], rtol=1e-6)
    report = plan.report()
    assert "cpu_c" in report and "scan (cumsum): op 'cumsum' is not in the cpu_c table" in report
