"""model:nvdla-perf: NVIDIA's spreadsheet rules, reproduced on its own rows; bounds and counters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from nvdla_helpers import config, conv_requant, int8, run_both

from hetflow.backends.nvdla.hw import sweep_config
from hetflow.backends.nvdla.perf import ConvShape, conv_layer, plan_split
from hetflow.ir import Graph

KIB = 1024


@pytest.fixture
def spreadsheet():
    """The configuration of nvdla/hw perf/NVDLA_OpenSource_Performance.xlsx ("Configuration Input"): 2048 MACs,
    512 KB buffer, 1 GHz, 10 GB/s; its columns pack channels by 16 and kernels by 128 (16 x 128 = 2048), and its
    DRAM cycles are KiB / GB/s x MHz (a GB/s of 1.024e9 bytes)."""
    base = sweep_config(2048, 512, 10 * 1.024)
    return dataclasses.replace(base, atomic_c=16, atomic_k=128, memory_atomic=16)


def test_resnet50_conv1_row(spreadsheet):
    """Sheet ResNet50 row 11, conv1 + bn + scale + relu + pooling: AO 408 KiB, AQ 40800 DRAM cycles, AR 153664 MAC."""
    shape = ConvShape(1, 3, 224, 224, 64, 7, 7, (2, 2), (112, 112), (56, 56))
    layer = conv_layer("conv1", shape, spreadsheet)
    assert layer.dram_bytes == 408 * KIB
    assert layer.dram_cycles == pytest.approx(40800)
    assert layer.mac_cycles == pytest.approx(153664)
    assert layer.bound == "MAC"


def test_resnet50_res2a_branch1_row(spreadsheet):
    """Row 12, res2a_branch1 (1x1, 64 -> 256 at 56x56): AO 996 KiB, AQ 99600, AR 25088: DRAM-bound."""
    layer = conv_layer("res2a_branch1", ConvShape(1, 64, 56, 56, 256, 1, 1, (1, 1), (56, 56), (56, 56)), spreadsheet)
    assert layer.dram_bytes == 996 * KIB
    assert layer.dram_cycles == pytest.approx(99600)
    assert layer.mac_cycles == pytest.approx(25088)
    assert layer.bound == "DRAM"


def test_refetch_when_neither_operand_fits(spreadsheet):
    """3x3 256 -> 256 at 56x56: 784 KiB of input and 576 KiB of weights. One kernel group (capped at half the
    buffer) is the larger minimum footprint, so the input streams in buffer-fulls and the weights are re-read
    once per input chunk (column AO, "feature" branch). The chunks are whole output rows: 16 output rows read
    18 input rows (256 KiB holds 18 rows of 14 KiB), so 4 chunks, as the spreadsheet's ceil(784 / 256); unlike the
    spreadsheet the model also charges the 2-row halo read again at each of the 3 chunk boundaries."""
    shape = ConvShape(1, 256, 56, 56, 256, 3, 3, (1, 1), (56, 56), (56, 56))
    layer = conv_layer("big", shape, spreadsheet)
    x, w, z = 256 * 56 * 56, 256 * 9 * 256, 56 * 56 * 256
    split = plan_split(shape, spreadsheet)
    assert split.mode == "features" and split.row_chunks == ((0, 16), (16, 32), (32, 48), (48, 56))
    assert len(split.row_chunks) == -(-x // (512 * KIB - 256 * KIB))
    halo = 3 * 2 * 256 * 56
    assert layer.dram_bytes == len(split.row_chunks) * w + x + halo + z
    # with a buffer that holds everything, each operand crosses once
    roomy = dataclasses.replace(spreadsheet, cbuf_bytes=8 * 2 ** 20)
    assert conv_layer("big", shape, roomy).dram_bytes == x + w + z


def test_winograd_divides_3x3_mac_cycles(spreadsheet):
    shape = ConvShape(1, 64, 56, 56, 64, 3, 3, (1, 1), (56, 56), (56, 56))
    plain = conv_layer("a", shape, spreadsheet)
    wino = conv_layer("a", dataclasses.replace(shape, winograd=True), spreadsheet)
    assert plain.mac_cycles / wino.mac_cycles == pytest.approx(2.25)


def test_program_counters_and_time_source():
    rng = np.random.default_rng(0)
    g = Graph("net")
    x = g.add_input("x", "int8", (1, 3, 32, 32))
    g.outputs = [conv_requant(g, conv_requant(g, x, 64, 3, 1, 1, rng, name="a"), 64, 3, 1, 1, rng, name="b")]
    _, _, exe = run_both(g, {"x": int8(rng, (1, 3, 32, 32))}, config("nvidia/nvdla-small"))
    summary = exe.perf.summary()
    assert summary["source"] == "model:nvdla-perf" and len(exe.perf.layers) == 2
    assert summary["mac_bound_layers"] + summary["dram_bound_layers"] == 2
    assert exe.perf.mac_busy_cycles > 0 and exe.perf.dram_bytes > 3 * 32 * 32
    # events: CONV and SDP of each layer share an interval; the second waits for the first
    first, second = exe.events[:2], exe.events[2:]
    assert {e.engine for e in first} == {"CONV", "SDP"} and first[0].end <= second[0].start
    assert exe.seconds == pytest.approx(second[0].end)


def test_engine_trace_has_one_track_per_engine(tmp_path):
    import json

    from hetflow.backends.nvdla import write_engine_trace

    rng = np.random.default_rng(0)
    g = Graph("net")
    x = g.add_input("x", "int8", (1, 8, 8, 8))
    g.outputs = [conv_requant(g, x, 8, 3, 1, 1, rng)]
    _, _, exe = run_both(g, {"x": int8(rng, (1, 8, 8, 8))}, config())
    data = json.loads(write_engine_trace(exe.events, tmp_path / "t.json").read_text())
    names = {e["args"]["name"] for e in data["traceEvents"] if e["ph"] == "M"}
    assert names == {"CONV", "SDP"} and data["otherData"]["clock"] == "model:nvdla-perf"
