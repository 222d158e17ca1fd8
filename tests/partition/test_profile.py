"""hetflow profile: measured times replace the roofline for the devices that are really here."""

from __future__ import annotations

import numpy as np
import pytest

import hetflow as hf
from hetflow.ir import Graph
from hetflow.partition.cost import CostModel, Profile, roofline, shape_key
from hetflow.partition.profile import profile_cluster
from hetflow.targets import Cluster, get_preset


def small() -> Graph:
    g = Graph("small")
    x = g.add_input("x", "float32", (32, 64))
    w = g.constant(np.ones((64, 64), np.float32), "w")
    h = g.add_node("matmul", [x, w], name="mm").outputs[0]
    g.outputs = [g.add_node("relu", [h], name="act").outputs[0]]
    return g


def test_profile_measures_present_devices_and_replaces_the_roofline(tmp_path):
    g = small()
    profile = profile_cluster(Cluster.local(), g, repeats=2)
    times = profile.times["host/cpu"]
    assert set(times) == {shape_key(n) for n in g.nodes} and all(t > 0 for t in times.values())
    assert set(profile.family_ratio["host/cpu"]) == {"nn", "elementwise"}
    path = tmp_path / "profile.json"
    profile.save(path)
    plan = hf.compile(g, "host-only", profile=path)
    estimates = plan.subgraphs[0].node_estimates
    assert [e.source for e in estimates] == ["measured", "measured"]
    assert [e.seconds for e in estimates] == [times[shape_key(n)] for n in g.nodes]
    assert "(measured)" in plan.report()


def test_profile_scales_the_roofline_for_unseen_shapes():
    g = small()
    desc = get_preset("host/cpu")
    profile = Profile(family_ratio={"host/cpu": {"nn": 3.0}})
    base, scaled = CostModel().node(g.nodes[0], desc), CostModel(profile).node(g.nodes[0], desc)
    assert base.source == "model:cpu_c-calibrated" and scaled.source == "model:profile"  # measured here beats a model
    # 32 x 64 x 64 = 131,072 multiply-adds: below cpu_c's GEMM fork threshold (2^18), so no launch.kernel
    assert scaled.seconds == pytest.approx(3 * roofline(g.nodes[0], desc))


def test_emulated_devices_are_never_profiled():
    profile = profile_cluster(Cluster.load("datacenter-node"), small(), repeats=1)
    assert profile.times == {}


def test_a_bad_profile_is_one_line(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("[1, 2")
    with pytest.raises(hf.HetflowError, match="not a profile") as info:
        hf.compile(small(), "host-only", profile=path)
    assert "\n" not in str(info.value)
    path.write_text('{"version": 7}')
    with pytest.raises(hf.HetflowError, match="version 7"):
        Profile.load(path)
