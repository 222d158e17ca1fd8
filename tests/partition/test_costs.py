"""Costs per (device, backend): the backend that will run a node costs it, launch overheads come from descriptions."""

from __future__ import annotations

import re

import pytest
from backends.fpga_hls.fpga_helpers import lenet_onnx

import hetflow as hf
from hetflow.backends.cpu_c.cost import SOURCE as CPU_C
from hetflow.backends.reference.cost import SOURCE as REFERENCE
from hetflow.partition.cost import CostModel, roofline
from hetflow.targets import DescriptionError, detect_host, get_preset
from hetflow.targets.catalog import PRESET_DIR, list_presets
from hetflow.targets.schema import parse_description


def test_a_node_cpu_c_refuses_is_costed_as_the_interpreter_that_runs_it():
    """The issue's case: a symbolic batch keeps LeNet off cpu_c, so its plan is the interpreter's, and so is its cost."""
    plan = hf.compile(hf.load(lenet_onnx(0, batch="N")), "host-only")
    assert {s.backend for s in plan.subgraphs} == {"reference"}
    assert {e.source for s in plan.subgraphs for e in s.node_estimates} == {REFERENCE}
    static = hf.compile(hf.load(lenet_onnx(0, batch=1)), "host-only")
    assert {s.backend for s in static.subgraphs} == {"cpu_c"}
    assert {e.source for s in static.subgraphs for e in s.node_estimates} == {CPU_C}


def test_the_cost_model_asks_the_backend_named_for_the_node():
    node = hf.load(lenet_onnx(0, batch=1)).nodes[0]
    host, costs = detect_host(), CostModel()
    assert costs.node(node, host, "cpu_c").source == CPU_C
    assert costs.node(node, host, "reference").source == REFERENCE
    assert costs.node(node, host).source == CPU_C  # the description's own backend by default
    gpu = get_preset("nvidia/h200")  # no installed backend: the roofline plus the description's kernel launch
    assert costs.node(node, gpu).seconds == pytest.approx(gpu.launch.kernel + roofline(node, gpu))
    xeon = get_preset("intel/xeon-platinum-8480")  # calibrated here, so not a model of another CPU: its roofline
    found = costs.node(node, xeon, "cpu_c")
    assert found.source == "model:roofline" and found.seconds == pytest.approx(xeon.launch.kernel + roofline(node, xeon))


def test_every_preset_declares_its_launch_overheads_with_a_cited_figure():
    for name in list_presets():
        desc = get_preset(name)
        assert 0 <= desc.launch.kernel < 1e-3 and 0 <= desc.launch.subgraph < 1e-2, name
    for path in PRESET_DIR.glob("*.toml"):
        lines = path.read_text().splitlines()
        for key in ("kernel", "subgraph"):
            line = next(ln for ln in lines[lines.index("[launch]"):] if ln.startswith(f"{key} ="))
            assert re.search(r"#\s*\S", line), f"{path.name}: launch.{key} has no source comment"


def test_the_host_measures_its_launch_overheads():
    host = detect_host()
    assert not host.is_estimate("launch")
    assert 0 < host.launch.kernel < 1e-3 and 0 < host.launch.subgraph < 1e-2


def test_a_bad_launch_overhead_is_one_line_naming_the_field():
    data = get_preset("nvidia/h200").model_dump(mode="json")
    data["launch"] = {"kernel": "-1 us", "subgraph": "10 us"}
    with pytest.raises(DescriptionError, match=r"launch\.kernel"):
        parse_description(data, source="bad.toml")
    del data["launch"]
    with pytest.raises(DescriptionError, match=r"launch: missing"):
        parse_description(data, source="bad.toml")
