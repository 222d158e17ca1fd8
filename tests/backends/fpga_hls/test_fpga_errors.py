"""Bad input: ops the table lacks stay on a CPU, designs too big for the board, illegal reuse factors,
a missing or failing g++, bad settings. Each error names what and where, and what to do."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from fpga_helpers import mlp, reference

import hetflow as hf
from hetflow.backends.fpga_hls import (
    CompileError,
    CompilerNotFoundError,
    DesignDoesNotFit,
    FpgaExecutable,
    FpgaHlsBackend,
    HLSConfig,
    HLSConfigError,
    LoweringError,
    ReuseFactorWarning,
    csim,
    table,
)
from hetflow.config import get_config, set_config
from hetflow.devices import DeviceError, open_device
from hetflow.ir import Graph
from hetflow.targets import Cluster


def mixed() -> Graph:
    """conv -> elu (not in the FPGA table) -> conv -> relu."""
    rng = np.random.default_rng(0)
    g = Graph("mixed")
    x = g.add_input("x", "float32", (1, 3, 8, 8))
    conv = {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1)}
    h = g.add_node("conv", [x, g.constant((rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32))], conv,
                   name="conv1").outputs[0]
    h = g.add_node("elu", [h], name="elu1").outputs[0]
    h = g.add_node("conv", [h, g.constant((rng.standard_normal((4, 4, 3, 3)) * 0.3).astype(np.float32))], conv,
                   name="conv2").outputs[0]
    g.outputs = [g.add_node("relu", [h], name="relu2").outputs[0]]
    return g


def test_an_op_outside_the_table_stays_on_the_cpu_and_the_plan_says_why():
    g = mixed()
    cluster = Cluster.of("xilinx/alveo-u250", "intel/xeon-platinum-8480")
    fpga_pins = ["conv2=host0/alveo-u250:0", "relu2=host0/alveo-u250:0", "conv1=host0/xeon-platinum-8480:0"]
    plan = hf.compile(g, cluster, pins=fpga_pins, emulate_with="auto")  # "auto": the FPGA part runs its C simulation
    where = plan.placement()
    assert where["conv2"] == where["relu2"] == "host0/alveo-u250:0"
    assert where["elu1"] == "host0/xeon-platinum-8480:0"
    assert "not in the fpga_hls kernel table" in plan.explain("elu1")
    fpga = [s for s in plan.subgraphs if s.device == "host0/alveo-u250:0"]
    assert fpga and all(s.backend == "fpga_hls" and isinstance(s.executable, FpgaExecutable) for s in fpga)
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    name = g.outputs[0].name
    np.testing.assert_allclose(plan.run({"x": x})[name], reference(g, {"x": x})[name], atol=0.03)


def test_compiling_a_node_outside_the_table_directly_points_at_the_partitioner():
    with pytest.raises(LoweringError, match=r"elu1 \(elu\).*hf.compile\(graph, cluster\)"):
        FpgaHlsBackend().compile(mixed(), build=False)
    g = Graph("ints")
    x = g.add_input("x", "int32", (1, 4))
    assert "float32" in table.supports(g.add_node("relu", [x]))


def test_a_design_that_does_not_fit_names_the_layer_and_the_knob():
    g = mlp()
    wide = Graph("wide")
    x = wide.add_input("x", "float32", (1, 2048))
    wide.outputs = [wide.add_node("matmul", [x, wide.constant(np.full((2048, 64), 0.01, np.float32))],
                                  name="fc_wide").outputs[0]]
    with pytest.raises(DesignDoesNotFit) as err:
        FpgaHlsBackend().compile(wide, build=False)
    message = str(err.value)
    assert "does not fit xilinx/alveo-u250" in message and "'fc_wide'" in message and "reuse_factor" in message
    assert "dsp" in message
    exe = FpgaHlsBackend().compile(wide, build=False, fit="fold")  # folding raises its reuse factor until it fits
    assert exe.estimate.fits and exe.design.layers[0].reuse_factor > 1 and "fc_wide" in exe.fit_notes[0]
    assert FpgaHlsBackend().compile(g, build=False).estimate.fits


def test_an_illegal_reuse_factor_is_snapped_with_a_warning_saying_to_what():
    with pytest.warns(ReuseFactorWarning, match=r"'fc1': reuse_factor 5 is not legal .* using 4 instead"):
        exe = FpgaHlsBackend().compile(mlp(), config={"name": {"fc1": {"reuse_factor": 5}}}, build=False)
    assert exe.design.layers[0].reuse_factor == 4
    with pytest.warns(ReuseFactorWarning, match=r"exceeds the layer's 512 multiplications per step\); using 512 instead"):
        FpgaHlsBackend().compile(mlp(), config={"name": {"fc1": {"reuse_factor": 10000}}}, build=False)


@pytest.fixture
def cxx(monkeypatch):
    """Set config.cxx for one test."""
    def use(name: str) -> None:
        set_config(dataclasses.replace(get_config(), cxx=name))
    yield use
    set_config(None)


def test_a_missing_compiler_is_a_clear_error(cxx):
    cxx("hetflow-no-such-g++")
    with pytest.raises(CompilerNotFoundError, match=r"'hetflow-no-such-g\+\+' not found.*apt-get install g\+\+"):
        FpgaHlsBackend().compile(mlp())
    with open_device("xilinx/alveo-u250") as dev, pytest.raises(DeviceError) as err:
        dev.load(mlp(), name="mlp")
    assert err.value.stage == "load" and "not found" in err.value.cause


def test_a_failing_compile_shows_the_compiler_message(monkeypatch):
    real = csim.codegen.render

    def broken(design, *, runtime_params):
        sources = real(design, runtime_params=runtime_params)
        sources.files["firmware/hf_csim.cpp"] += "\nthis_is_not_cpp x y z;\n"
        return sources

    monkeypatch.setattr(csim.codegen, "render", broken)
    with pytest.raises(CompileError) as err:
        FpgaHlsBackend().compile(mlp())
    text = str(err.value)
    assert "failed to compile the generated HLS design" in text and "error:" in text and "this_is_not_cpp" in text


def test_settings_resolve_model_then_op_type_then_name_and_typos_are_errors():
    config = HLSConfig.from_dict({"model": {"precision": "fixed<12,4>", "reuse_factor": 2},
                                  "op_type": {"matmul": {"reuse_factor": 8, "precision": {"weight": "fixed<8,2>"}}},
                                  "name": {"fc2": {"reuse_factor": 16, "precision": "fixed<20,8>"}}})
    fc1, fc2, relu = config.resolve("fc1", "matmul"), config.resolve("fc2", "matmul"), config.resolve("relu1", "relu")
    assert (fc1.reuse_factor, str(fc1.weight), str(fc1.result)) == (8, "fixed<8,2>", "fixed<12,4>")
    assert (fc2.reuse_factor, str(fc2.weight), str(fc2.result)) == (16, "fixed<20,8>", "fixed<20,8>")
    assert (relu.reuse_factor, str(relu.result)) == (2, "fixed<12,4>")
    for bad, match in [({"modle": {}}, "unknown key"), ({"architecture": "systolic"}, "architecture"),
                       ({"model": {"precision": "float"}}, "model.precision"),
                       ({"model": {"reuse_factor": 0}}, "positive integer"),
                       ({"name": {"fc1": {"precision": {"wieght": "fixed<8,2>"}}}}, "unknown role")]:
        with pytest.raises(HLSConfigError, match=match):
            HLSConfig.from_dict(bad)
    with pytest.raises(HLSConfigError, match="no node or graph input of that name"):
        FpgaHlsBackend().compile(mlp(), config={"name": {"fc9": {"reuse_factor": 2}}}, build=False)
    with pytest.raises(HLSConfigError, match="folded into layer 'fc1'"):
        FpgaHlsBackend().compile(mlp(), config={"name": {"fc1_bias": {"reuse_factor": 2}}}, build=False)
