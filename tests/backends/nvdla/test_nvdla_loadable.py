"""The loadable: written with a readable dump, read back and checked; a corrupted one is one clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from nvdla_helpers import config, conv_requant, int8, run_both

from hetflow.backends.nvdla import LoadableError, NvdlaBackend, save_artifact
from hetflow.ir import Graph
from hetflow.targets import get_preset


@pytest.fixture
def compiled(tmp_path):
    rng = np.random.default_rng(0)
    g = Graph("net")
    x = g.add_input("x", "int8", (1, 8, 8, 8))
    h = conv_requant(g, x, 16, 3, 1, 1, rng, relu=True, name="c1")
    h = g.add_node("max_pool", [h], {"kernel": (2, 2), "strides": (2, 2), "pads": (0,) * 4, "dilations": None},
                   name="pool").outputs[0]
    g.outputs = [conv_requant(g, h, 8, 1, 1, 0, rng, name="c2")]
    feeds = {"x": int8(rng, (1, 8, 8, 8))}
    want, got, exe = run_both(g, feeds, config())
    save_artifact(exe, tmp_path)
    return g, feeds, want, exe, tmp_path


def test_round_trip_runs_the_same(compiled):
    g, feeds, want, exe, path = compiled
    again = NvdlaBackend().load_artifact(path, g, get_preset("nvidia/nvdla-full"))
    np.testing.assert_array_equal(again.run(feeds)["c2"], want["c2"])
    assert [op.engine for op in again.loadable.ops] == ["CONV", "SDP", "PDP", "CONV", "SDP"]


def test_dump_is_readable(compiled):
    *_, path = compiled
    text = (path / "loadable.txt").read_text()
    assert "NVDLA loadable v1 for nvidia/nvdla-full" in text
    assert "CONV" in text and "PDP" in text and "fused<-0" in text and "mem0 dram" in text


@pytest.mark.parametrize("corrupt,message", [
    (lambda d: "{not json", "corrupted loadable"),
    (lambda d: json.dumps({**d, "version": 99}), "loadable version 99"),
    (lambda d: json.dumps({**d, "format": "other"}), "not an NVDLA loadable"),
    (lambda d: json.dumps({**d, "ops": [{**d["ops"][0], "engine": "TPU"}] + d["ops"][1:]}), "field ops.0.engine"),
    (lambda d: json.dumps({**d, "ops": d["ops"][:1] + [{**d["ops"][1], "dependency_count": 5}] + d["ops"][2:]}),
     "dependency_count 5"),
    (lambda d: json.dumps({**d, "tensors": [{**d["tensors"][0], "offset": 10 ** 9}] + d["tensors"][1:]}),
     "lies outside memory"),
])
def test_corrupted_loadable_is_one_line(compiled, corrupt, message):
    g, *_, path = compiled
    data = json.loads((path / "loadable.json").read_text())
    (path / "loadable.json").write_text(corrupt(data))
    with pytest.raises(LoadableError, match=message) as info:
        NvdlaBackend().load_artifact(path, g, get_preset("nvidia/nvdla-full"))
    assert "\n" not in str(info.value)


def test_missing_weight_blob_is_named(compiled):
    g, *_, path = compiled
    np.savez(path / "weights.npz", nothing=np.zeros(1))
    with pytest.raises(LoadableError, match="reads blob 'op0.weights', missing"):
        NvdlaBackend().load_artifact(path, g, get_preset("nvidia/nvdla-full"))
