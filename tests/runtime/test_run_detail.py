"""A run measured on this host keeps one span per launch unless a trace is asked for, which gets node spans too."""

from __future__ import annotations

import json

import numpy as np

import hetflow as hf
from hetflow.ir import Graph
from hetflow.runtime import release
from hetflow.targets import Cluster, detect_host


def chain() -> Graph:
    g = Graph("chain")
    h = g.add_input("x", "float32", (2, 8))
    for i in range(4):
        h = g.add_node("tanh" if i % 2 else "relu", [h], name=f"n{i}").outputs[0]
    g.outputs = [h]
    return g


def test_node_spans_only_when_traced(tmp_path) -> None:  # noqa: ANN001 - pytest's tmp_path
    plan = hf.compile(chain(), Cluster.of(detect_host(), name="host-only"))
    x = {"x": np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8)}
    want = np.tanh(np.maximum(np.tanh(np.maximum(x["x"], 0)), 0))
    np.testing.assert_allclose(plan.run(x)[plan.graph.outputs[0].name], want, rtol=1e-6)
    kinds = [s.kind for s in plan.last_run.spans]
    assert kinds.count("subgraph") == len(plan.subgraphs) and "node" not in kinds
    assert plan.last_run.latency > 0 and plan.last_run.device_busy[plan.subgraphs[0].device][1] == "measured"
    trace = tmp_path / "run.json"
    plan.run(x, trace=trace)
    nodes = [s for s in plan.last_run.spans if s.kind == "node"]
    assert sorted(s.name for s in nodes) == sorted(n.name for n in plan.graph.nodes)
    events = json.loads(trace.read_text())
    assert any(e.get("name") == "n3" for e in (events["traceEvents"] if isinstance(events, dict) else events))
    release(plan)
