"""Costs per (device, backend): the backend that will run a node costs it, launch overheads come from descriptions."""

from __future__ import annotations

import re

import numpy as np
import pytest
from backends.fpga_hls.fpga_helpers import lenet_onnx

import hetflow as hf
from hetflow.backends.cpu_c.cost import SOURCE as CPU_C
from hetflow.backends.reference.cost import SOURCE as REFERENCE
from hetflow.partition.cost import CostModel, roofline, serial_roofline
from hetflow.targets import DescriptionError, detect_host, get_preset
from hetflow.targets.catalog import PRESET_DIR, list_presets
from hetflow.targets.schema import parse_description


def test_a_node_cpu_c_refuses_is_costed_as_the_interpreter_that_runs_it():
    """A symbolic spatial dim keeps a convolution off cpu_c (only a leading dim stays symbolic there), so its plan is
    the interpreter's, and so is its cost; a symbolic batch alone no longer does (issue 9: cpu_c binds it at run time)."""
    g = hf.Graph("spatial")
    x = g.add_input("x", "float32", (1, 1, "H", "W"))
    w = g.constant(np.ones((2, 1, 3, 3), np.float32), "w")
    g.outputs = g.add_node("conv", [x, w], {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1)}).outputs
    plan = hf.compile(g, "host-only")
    assert {s.backend for s in plan.subgraphs} == {"reference"}
    assert {e.source for s in plan.subgraphs for e in s.node_estimates} == {REFERENCE}
    for batch in ("N", 1):
        compiled = hf.compile(hf.load(lenet_onnx(0, batch=batch)), "host-only")
        assert {s.backend for s in compiled.subgraphs} == {"cpu_c"}
        assert {e.source for s in compiled.subgraphs for e in s.node_estimates} == {CPU_C}


def test_the_cost_model_asks_the_backend_named_for_the_node():
    node = hf.load(lenet_onnx(0, batch=1)).nodes[0]
    host, costs = detect_host(), CostModel()
    assert costs.node(node, host, "cpu_c").source == CPU_C
    assert costs.node(node, host, "reference").source == REFERENCE
    assert costs.node(node, host).source == CPU_C  # the description's own backend by default
    gpu = get_preset("nvidia/h200")  # its backend, gpu_triton, models the GPU (launch, efficiency, wave tail)
    assert costs.node(node, gpu).source == "model:gpu-cost" and costs.node(node, gpu).seconds > 0
    xeon = get_preset("intel/xeon-platinum-8480")  # calibrated here, so not a model of another CPU: its roofline
    found = costs.node(node, xeon, "cpu_c")
    # LeNet's first convolution at batch 1 is 86,400 multiply-adds, under cpu_c's GEMM fork threshold (2^18):
    # it runs on the calling thread, one of the 56 cores, and pays no OpenMP fork/join (launch.kernel)
    assert found.source == "model:roofline" and found.seconds == pytest.approx(serial_roofline(node, xeon))
    assert found.seconds > 10 * roofline(node, xeon)  # compute-bound: one core's share of the peak
    found = costs.node(node, xeon, "reference")  # a backend that does not say otherwise pays a launch per kernel
    assert found.seconds == pytest.approx(xeon.launch.kernel + roofline(node, xeon))


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


def test_a_plan_on_this_host_is_charged_the_measured_cost_of_a_run():
    """plan.run's own work (inputs checked, worker hand-off, buffers written and read, the report) is measured once
    and charged per run; a plan on emulated chips reports modelled time, which has no such cost."""
    from hetflow.compiler import run_overhead

    plan = hf.compile(hf.load(lenet_onnx(0, batch="N")), "host-only")
    assert "measured:run-overhead" in plan.estimate.source
    assert 0 < run_overhead(plan) < 0.1
    assert plan.estimate.latency > run_overhead(plan) + sum(e.seconds for s in plan.subgraphs for e in s.node_estimates)
    emulated = hf.compile(hf.load(lenet_onnx(0, batch=1)), "datacenter-node", emulate_with="reference")
    assert run_overhead(emulated) == 0.0 and "run-overhead" not in emulated.estimate.source


def test_cpu_c_charges_a_chain_of_elementwise_nodes_one_pass_over_memory():
    """A batch norm and the ReLU after it, on a concatenation (DenseNet's pre-activation), are one cpu_c loop."""
    from hetflow.backends.cpu_c.cost import fused_into_producer
    from hetflow.ir import Graph

    g = Graph("preact")
    a, b = g.add_input("a", "float32", (1, 4, 8, 8)), g.add_input("b", "float32", (1, 4, 8, 8))
    cat = g.add_node("concat", [a, b], {"axis": 1}).outputs[0]
    stats = [g.constant(np.ones(8, np.float32), n) for n in ("scale", "bias", "mean", "var")]
    bn = g.add_node("batch_norm", [cat, *stats], {"epsilon": 1e-5}).outputs[0]
    relu = g.add_node("relu", [bn])
    assert not fused_into_producer(g.nodes[1]) and fused_into_producer(relu)
    host = detect_host()
    alone, fused = CostModel().node(g.nodes[1], host, "cpu_c"), CostModel().node(relu, host, "cpu_c")
    assert fused.seconds < alone.seconds  # its arithmetic only: no pass over memory, no kernel of its own


def test_a_transpose_is_costed_at_the_bandwidth_a_transpose_reaches():
    from hetflow.backends.calibrate import MEMORY_CLASSES, op_class
    from hetflow.backends.cpu_c.cost import device_threads, host_calibration

    calibration = host_calibration(device_threads(detect_host()))
    assert set(MEMORY_CLASSES) <= set(calibration.memory_eff)
    assert "matmul" in calibration.memory_eff  # a matrix-vector product reads its weights at a measured rate
    assert {"conv", "depthwise", "matmul", "pool", "memory", "permute"} <= set(calibration.overhead)
    g = hf.load(lenet_onnx(0, batch=1))
    assert {op_class(n) for n in g.nodes} >= {"conv", "pool", "matmul", "memory"}


def test_a_class_with_a_cost_per_plane_is_fitted_to_a_large_and_a_small_plane():
    from hetflow.backends.calibrate import _fit, _Sample

    # 40 ns per plane at 25% of the roofline: 128 large planes and 512 small ones, the times those give
    per_item, eff = 40e-9, 0.25
    rows = [_Sample(items, ideal, per_item * items + ideal / eff) for items, ideal in ((128, 20e-6), (512, 5e-6))]
    fitted = _fit(rows)
    assert fitted == pytest.approx((per_item, eff), rel=1e-6)
    # one plane size (or a fit that goes negative) leaves the median efficiency and no item term
    assert _fit(rows[:1]) == (0.0, pytest.approx(rows[0].ideal / rows[0].seconds))
    assert _fit([_Sample(128, 20e-6, 1e-4), _Sample(512, 5e-6, 1e-5)])[0] == 0.0


def test_small_planes_cost_their_setup_per_plane():
    from hetflow.backends.calibrate import Calibration, op_items
    from hetflow.ir import Graph

    def depthwise(channels: int, size: int) -> hf.ir.Node:
        g = Graph("dw")
        x = g.add_input("x", "float32", (1, channels, size, size))
        w = g.constant(np.ones((channels, 1, 3, 3), np.float32))
        return g.add_node("conv", [x, w], {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1),
                                           "group": channels})

    large, small = depthwise(128, 28), depthwise(512, 7)
    assert (op_items(large), op_items(small)) == (128, 512)
    classes = ("conv", "depthwise", "matmul", "pool", "memory", "permute")
    flat = Calibration({c: 0.0 for c in classes}, {c: 0.1 for c in classes}, {"memory": 1.0, "permute": 0.2})
    setup = Calibration(flat.overhead, flat.compute_eff, flat.memory_eff, {"depthwise": 50e-9})
    host = detect_host()
    # the item term adds 50 ns per plane on top of the roofline: 4x as many planes, 4x the setup
    extra = [setup.estimate(n, host, "t").seconds - flat.estimate(n, host, "t").seconds for n in (large, small)]
    assert extra == pytest.approx([128 * 50e-9, 512 * 50e-9])


def test_a_permutation_that_keeps_rows_is_a_streaming_copy():
    from hetflow.backends.calibrate import op_class
    from hetflow.ir import Graph

    g = Graph("shuffle")
    x = g.add_input("x", "float32", (1, 2, 3, 4, 4))
    shuffle = g.add_node("transpose", [x], {"perm": (0, 2, 1, 3, 4)})
    gather = g.add_node("transpose", [x], {"perm": (0, 1, 2, 4, 3)})
    assert (op_class(shuffle), op_class(gather)) == ("memory", "permute")
    from hetflow.backends.calibrate import op_items

    # the shuffle copies 2 x 3 runs of 4 x 4 contiguous elements, one at a time; a gather has no per-run term
    assert (op_items(shuffle), op_items(gather)) == (6, 0)
