"""The model:hls-cycles estimate, the precision trace, and the generated code (golden files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fpga_helpers import LENET_CONFIG, lenet, mlp

from hetflow.backends.fpga_hls import FpgaHlsBackend, codegen
from hetflow.backends.fpga_hls.estimate import TIME_SOURCE, blocks
from hetflow.backends.fpga_hls.precision import trace_precision
from hetflow.ir import Graph

GOLDEN = Path(__file__).parent / "golden"
pytestmark = pytest.mark.filterwarnings("ignore::hetflow.backends.fpga_hls.ReuseFactorWarning")


def _estimate(graph, **config):
    return FpgaHlsBackend().compile(graph, config=config, build=False, fit="ignore").estimate


def test_stream_ii_is_the_slowest_stage_and_latency_the_critical_path():
    est = _estimate(mlp(), architecture="stream", model={"reuse_factor": 8})
    assert est.ii_cycles == max(e.ii for e in est.layers)
    assert est.latency_cycles == sum(e.latency for e in est.layers)  # a chain: the critical path is everything
    assert est.time_source == TIME_SOURCE == "model:hls-cycles" and "[model:hls-cycles]" in est.summary()
    assert est.run_seconds(5) == pytest.approx((est.latency_cycles + 4 * est.ii_cycles) / 300e6)
    assert est.throughput == pytest.approx(300e6 / est.ii_cycles)


def test_parallel_branches_take_the_longer_path():
    rng = np.random.default_rng(0)
    g = Graph("branches")
    x = g.add_input("x", "float32", (1, 64))
    a = g.add_node("matmul", [x, g.constant(rng.standard_normal((64, 64)).astype(np.float32) * 0.1)], name="long")
    b = g.add_node("relu", [x], name="short")
    g.outputs = [g.add_node("concat", [a.outputs[0], b.outputs[0]], {"axis": 1}, name="cat").outputs[0]]
    est = _estimate(g, architecture="stream", model={"reuse_factor": 64})
    lat = {e.name: e.latency for e in est.layers}
    assert est.latency_cycles == lat["long"] + lat["cat"] < lat["long"] + lat["short"] + lat["cat"]


def test_a_larger_reuse_factor_trades_multipliers_for_cycles():
    g = lenet()
    runs = [_estimate(g, architecture="stream", model={"reuse_factor": rf}) for rf in (1, 4, 16, 64)]
    dsp = [r.usage["dsp"] for r in runs]
    ii = [r.ii_cycles for r in runs]
    assert dsp == sorted(dsp, reverse=True) and dsp[0] > 4 * dsp[-1]
    assert ii == sorted(ii) and ii[-1] > ii[0]
    parallel = _estimate(g, architecture="parallel", model={"reuse_factor": 64})
    exe = FpgaHlsBackend().compile(g, config={"architecture": "parallel", "model": {"reuse_factor": 64}}, build=False,
                                   fit="ignore")
    assert parallel.ii_cycles == max(lay.reuse_factor for lay in exe.design.layers) < runs[-1].ii_cycles  # unrolled
    assert parallel.usage["dsp"] > runs[-1].usage["dsp"]  # ... at the price of one multiplier set per pixel


def test_resources_come_from_the_board_description():
    g = lenet()
    u250 = FpgaHlsBackend().compile(g, config=LENET_CONFIG, build=False, fit="ignore").estimate
    a10 = FpgaHlsBackend().compile(g, config=LENET_CONFIG, build=False, target="intel/arria10-pac", fit="ignore").estimate
    assert u250.fits and not a10.fits  # 5,500 multipliers at reuse 10: the Arria 10 has 1,518 DSP blocks
    assert set(u250.usage) == {"lut", "ff", "dsp", "bram_36k"} and set(a10.usage) == {"alm", "ff", "dsp", "m20k"}
    assert u250.capacity["dsp"] == 11508 and a10.capacity["dsp"] == 1518
    assert a10.usage["alm"] == pytest.approx((u250.usage["lut"]) * 0.5)
    assert blocks((2048, 18), "bram_36k") == 1 and blocks((512, 144), "bram_36k") == 2 and blocks((4096, 16), "m20k") == 4


def test_the_precision_trace_finds_overflow_and_where_error_enters():
    g = mlp()
    x = np.random.default_rng(0).standard_normal((1, 16)).astype(np.float32) * 4
    exe = FpgaHlsBackend().compile(g, config={"model": {"precision": "fixed<8,2>"}}, build=False)
    report = trace_precision(exe.design, [x])
    assert [p.layer for p in report.layers] == ["fc1", "relu1", "fc2", "softmax"]
    first = report.layers[0]
    assert first.overflow and "OVERFLOW" in first.note and "integer bits" in first.note
    assert "fc1" in report.table() and "own max" in report.table()
    fine = trace_precision(FpgaHlsBackend().compile(g, build=False).design, [x / 4])
    assert not any(p.overflow for p in fine.layers) and fine.layers[-1].max_error < 0.01


@pytest.mark.parametrize("architecture", ["parallel", "stream"])
def test_generated_code_is_stable(architecture):
    """Golden files: a change to the generated HLS C++ shows up as a diff (regenerate them deliberately)."""
    exe = FpgaHlsBackend().compile(mlp(), config={"architecture": architecture, "model": {"reuse_factor": 4}},
                                   build=False, name="tiny")
    files = codegen.render(exe.design, runtime_params=False).files
    for rel in ("firmware/tiny.cpp", "firmware/parameters.h"):
        golden = GOLDEN / architecture / Path(rel).name
        assert files[rel] == golden.read_text(), f"{rel} differs from {golden}"
