"""``hetflow profile`` for the GPU: without a CUDA GPU one line says so; measured kernel times replace the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import hetflow as hf
from hetflow.backends.gpu_triton.cost import SOURCE
from hetflow.backends.gpu_triton.profiling import absent_reason, chip_token, gpu_timer
from hetflow.cli import app
from hetflow.ir import Graph, Node, get_op
from hetflow.partition.cost import CostModel, Profile, roofline, shape_key
from hetflow.partition.profile import add_measured
from hetflow.targets import Cluster, get_preset

H200 = get_preset("nvidia/h200")
HOST_AND_H200 = """
name = "host-and-h200"
[defaults]
intra_host = { kind = "PCIe 5.0 x16", bandwidth = "64 GB/s", latency = "2 us" }
[[hosts]]
name = "node0"
devices = [{ preset = "host/cpu", id = "cpu" }, { preset = "nvidia/h200" }]
"""


def mlp(n: int = 64) -> Graph:
    g = Graph("mlp")
    x = g.add_input("x", "float32", (8, n))
    h = g.add_node("matmul", [x, g.constant(np.ones((n, n), np.float32), "w")], name="mm").outputs[0]
    h = g.add_node("relu", [h], name="act").outputs[0]  # fused into the matmul's epilogue: no kernel of its own
    g.outputs = [g.add_node("softmax", [h], {"axis": -1}, name="probs").outputs[0]]
    return g


def no_cuda_here() -> bool:
    return absent_reason(H200) is not None


@pytest.mark.skipif(not no_cuda_here(), reason="a CUDA H200 is here: the real measurement runs instead")
def test_without_a_gpu_profile_says_so_in_one_line_and_keeps_the_model(tmp_path: Path) -> None:
    cluster = tmp_path / "c.toml"
    cluster.write_text(HOST_AND_H200)
    out = tmp_path / "p.json"
    result = CliRunner().invoke(app, ["profile", "--cluster", str(cluster), "-o", str(out), "--repeats", "1"])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.output.splitlines() if "nvidia/h200" in ln]
    assert len(lines) == 1 and "not profiled" in lines[0] and "model:gpu-cost" in lines[0], result.output
    assert "no CUDA GPU" in lines[0] or "pip install" in lines[0]
    assert "nvidia/h200" not in Profile.load(out).times  # no interpreter time filed as GPU time


def test_a_cluster_with_only_an_absent_gpu_is_one_error_line(tmp_path: Path) -> None:
    if not no_cuda_here():
        pytest.skip("a CUDA H200 is here")
    cluster = tmp_path / "c.toml"
    cluster.write_text(HOST_AND_H200.replace('{ preset = "host/cpu", id = "cpu" }, ', ""))
    result = CliRunner().invoke(app, ["profile", "--cluster", str(cluster), "-o", str(tmp_path / "p.json")])
    assert result.exit_code == 2
    assert "nvidia/h200" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_the_timer_refuses_the_interpreter() -> None:
    timer, reason = gpu_timer(H200)
    assert (timer is None) == no_cuda_here()
    if timer is None:
        assert reason is not None and "\n" not in reason


def test_chip_token_matches_cuda_device_names() -> None:
    assert chip_token(H200) == "H200" and chip_token(get_preset("nvidia/a100")) == "A100"
    assert chip_token(H200).lower() in "NVIDIA H200".lower()


def test_measured_kernel_times_replace_the_model_and_fused_nodes_stay_modelled() -> None:
    """The merge, with an injected measurement standing in for CUDA events (the real timer needs a GPU)."""
    g = mlp()
    injected = {"mm": 7e-6, "probs": 3e-6}

    def measure(graph: Graph, node: Node) -> float | None:
        return injected.get(node.name)  # relu: None, as the real timer says for an epilogue-fused node

    profile = Profile()
    assert add_measured(profile, H200, g, measure) == 2
    mm, act, probs = g.nodes
    assert profile.times["nvidia/h200"] == {shape_key(mm): 7e-6, shape_key(probs): 3e-6}
    costs = CostModel(profile)
    assert costs.node(mm, H200).seconds == 7e-6 and costs.node(mm, H200).source == "measured"
    assert costs.node(probs, H200).source == "measured"
    assert costs.node(act, H200).source == SOURCE  # no kernel of its own: the model's (near zero) epilogue cost
    ratios = profile.family_ratio["nvidia/h200"]
    expected = [7e-6 / roofline(mm, H200), 3e-6 / roofline(probs, H200)]  # matmul and softmax: one family, "nn"
    assert ratios[get_op("matmul").family] == pytest.approx(float(np.median(expected)))  # scales unseen shapes


def test_a_measurement_changes_placement(tmp_path: Path) -> None:
    """A measured slow GPU kernel moves its node: the profile is what the partitioner reads, not decoration."""
    g = mlp(2048)  # 16 MB of weights: the H200 beats this host's CPU by far in any model
    cluster_path = tmp_path / "c.toml"
    cluster_path.write_text(HOST_AND_H200)
    cluster = Cluster.load(cluster_path)
    baseline = hf.compile(g, cluster)
    where = {n.name: s.device for s in baseline.subgraphs for n in s.nodes}
    assert any(d.endswith("h200:0") for d in where.values()), baseline.report()  # the GPU had work to lose
    profile = Profile()
    add_measured(profile, H200, g, lambda graph, node: 1.0)  # one second per kernel: a broken GPU
    path = tmp_path / "p.json"
    profile.save(path)
    slow = hf.compile(g, cluster, profile=path)
    assert all(s.device.endswith("cpu:0") for s in slow.subgraphs), slow.report()
