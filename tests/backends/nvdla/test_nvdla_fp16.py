"""The fp16 path: ``hf.compile(..., precision="fp16")`` converts convolutions (with batch norm), ReLUs, sums and
max pools to float16 (``passes/half.py``); nv_full's engine models run them with products exact in float32,
float32 accumulation and one rounding to float16 per op. Checked against the IR's float16 reference (within one
float16 unit in the last place) and against the float32 model (within a stated tolerance)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from models.small_cnn import samples, small_cnn
from nvdla_helpers import config, run_both

import hetflow as hf
from hetflow.backends.nvdla import NvdlaBackend, NvdlaUnsupportedError
from hetflow.backends.nvdla.lower import lower, nvdla_part
from hetflow.backends.nvdla.perf import ConvShape, conv_layer
from hetflow.backends.reference import ReferenceBackend
from hetflow.ir import Graph
from hetflow.passes.half import to_half


def _ulps(got: np.ndarray, want: np.ndarray) -> float:
    """Largest difference in units of float16's spacing at the reference value."""
    spacing = np.spacing(np.abs(want.astype(np.float16))).astype(np.float32)
    return float(np.max(np.abs(got.astype(np.float32) - want.astype(np.float32)) / spacing))


def _half_cnn(size: int = 16, width: int = 24) -> tuple[Graph, dict]:
    graph, _ = to_half(small_cnn(0, size, width))
    part = nvdla_part(graph, config())
    reference = graph.copy()
    reference.outputs = [next(v for v in reference.values() if v.name == i.name) for i in part.inputs]
    feeds = ReferenceBackend().compile(reference).run(samples(1, 3, size)[0])
    return part, feeds


def test_fp16_engines_match_the_float16_reference_to_one_ulp():
    part, feeds = _half_cnn()
    assert {n.op for n in part.nodes} == {"conv", "relu", "max_pool", "add"}
    want, got, exe = run_both(part, feeds, config())
    for name in want:
        assert got[name].dtype == np.float16
        assert _ulps(got[name], want[name]) <= 1.0
    precisions = {(op.engine, op.params.get("precision")) for op in exe.loadable.ops}
    assert ("CONV", "fp16") in precisions and ("SDP", "fp16") in precisions
    assert {t.dtype for t in exe.loadable.tensors} == {"float16"}


@pytest.mark.parametrize(("c", "k", "hw", "stride"), [(3, 5, (9, 7), 1), (70, 40, (6, 6), 2), (16, 16, (12, 12), 1)])
def test_fp16_convolution_shapes(c, k, hw, stride):
    rng = np.random.default_rng(c)
    g = Graph("conv16")
    x = g.add_input("x", "float16", (1, c, *hw))
    w = g.constant((rng.standard_normal((k, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float16), "w")
    b = g.constant(rng.standard_normal(k).astype(np.float16), "b")
    y = g.add_node("conv", [x, w, b], {"strides": (stride, stride), "pads": (1, 1, 1, 1), "dilations": (1, 1)},
                   name="conv").outputs[0]
    g.outputs = [g.add_node("relu", [y], name="relu").outputs[0]]
    feeds = {"x": rng.standard_normal((1, c, *hw)).astype(np.float16)}
    want, got, exe = run_both(g, feeds, config())
    assert _ulps(got["relu"], want["relu"]) <= 1.0
    assert [op.engine for op in exe.loadable.ops] == ["CONV", "SDP"]  # the ReLU rides in the SDP


def test_compile_fp16_runs_on_nv_full_and_tracks_the_float_model():
    """Stated tolerance: the fp16 plan's logits within 1% of the float32 model's largest logit. The H200 beats
    nv_full at fp16 in datacenter-node, so the float16 nodes are pinned to the NVDLA card."""
    graph = small_cnn(0, 32, 32)
    plan = hf.compile(graph, "datacenter-node", precision="fp16", pins=["node:*/f16=node0/nvdla:0"])
    on_nvdla = [n for s in plan.subgraphs if s.backend == "nvdla" for n in s.nodes]
    assert {n.op for n in on_nvdla} == {"conv", "relu", "max_pool", "add"}
    assert "fp16: 9 node(s) computed in float16" in plan.report()
    ref = ReferenceBackend().compile(graph)
    for feed in samples(2, 4, 32):
        want, got = ref.run(feed)["logits"], plan.run(feed)["logits"]
        assert np.abs(got - want).max() <= 0.01 * np.abs(want).max()


def test_a_configuration_without_fp16_refuses_float16():
    part, _ = _half_cnn()
    with pytest.raises(NvdlaUnsupportedError, match=r"nvidia/nvdla-small computes in int8, not float16"):
        lower(part, config("nvidia/nvdla-small"))


def test_precision_is_never_fp16_unless_asked():
    with pytest.raises(hf.HetflowError, match="precision must be one of float32, int8, fp16"):
        hf.compile(small_cnn(0, 16, 8), "edge-soc", precision="half")


def test_fp16_layers_cost_twice_the_mac_cycles_and_bytes():
    cfg = config()
    int8 = ConvShape(1, 64, 28, 28, 64, 3, 3, (1, 1), (28, 28), (28, 28))
    half = dataclasses.replace(int8, element_bytes=2)
    a, b = conv_layer("i8", int8, cfg), conv_layer("f16", half, cfg)
    assert b.mac_cycles == pytest.approx(2 * a.mac_cycles)
    assert b.dram_bytes == pytest.approx(2 * a.dram_bytes)


def test_fp16_loadable_round_trips(tmp_path):
    part, feeds = _half_cnn()
    _, first, exe = run_both(part, feeds, config())
    NvdlaBackend().save_artifact(exe, tmp_path)
    again = NvdlaBackend().load_artifact(tmp_path, part)
    for name, value in again.run(feeds).items():
        np.testing.assert_array_equal(value, first[name])
