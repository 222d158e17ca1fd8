"""The GPU cost model, and the placements it leads to: a small tail stays on the host at batch 1, not at 64."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hetflow as hf
from hetflow.backends.gpu_triton.cost import SOURCE, estimate_node
from hetflow.targets import Cluster, get_preset

H200 = get_preset("nvidia/h200")
GPU_NODE = """
name = "gpu-node"
description = "a Xeon 8480+ host with one H200"
[defaults]
intra_host = { kind = "PCIe 5.0 x16", bandwidth = "64 GB/s", latency = "2 us" }
[[hosts]]
name = "node0"
devices = [{ preset = "intel/xeon-platinum-8480", id = "cpu" }, { preset = "nvidia/h200" }]
"""


def classifier(batch: int, dtype: str = "float16") -> hf.Graph:
    """Two 4096-wide layers, a 1000-class head, softmax and the top probability: a half-precision classifier."""
    rng = np.random.default_rng(0)
    g = hf.Graph(f"classifier_b{batch}")
    h = g.add_input("x", dtype, (batch, 1024))
    for i, (a, b) in enumerate([(1024, 4096), (4096, 4096)]):
        h = g.add_node("matmul", [h, g.constant((rng.standard_normal((a, b)) * 0.02).astype(dtype))], name=f"fc{i}").outputs[0]
        h = g.add_node("add", [h, g.constant(np.zeros(b, dtype))], name=f"bias{i}").outputs[0]
        h = g.add_node("relu", [h], name=f"relu{i}").outputs[0]
    h = g.add_node("matmul", [h, g.constant((rng.standard_normal((4096, 1000)) * 0.02).astype(dtype))], name="head").outputs[0]
    h = g.add_node("softmax", [h], {"axis": -1}, name="probs").outputs[0]
    g.outputs = [g.add_node("reduce_max", [h], {"axes": (1,), "keepdims": False}, name="top").outputs[0]]
    return g


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    path = tmp_path / "gpu-node.toml"
    path.write_text(GPU_NODE)
    return Cluster.load(path)


def placement(plan: hf.Plan) -> dict[str, str]:
    return {node.name: sub.device for sub in plan.subgraphs for node in sub.nodes}


@pytest.mark.xfail(strict=True, reason="not true under the merged, cited costs (see the docstring): a host tail pays "
                   "a host subgraph launch (10 us) plus 3 us per CPU kernel, against ~1.1 us per CUDA-graph kernel; "
                   "issue 12 item 5 stays open until a cost figure changes for a measured reason")
def test_at_batch_1_the_small_tail_stays_on_the_host_cpu(cluster: Cluster) -> None:
    """Kept as a strict xfail on purpose: with the descriptions' cited figures no honest tail qualifies.

    The batch-1 classifier's tail (softmax over 1000 classes, then the top probability) costs, per the model:
    on the H200, 2 kernels x (launch_graph 1 us + ~0.09 us of starved memory time) = ~2.2 us, and its 2-byte
    output crosses PCIe (2 us link latency); on the Xeon, the 2 KB of logits cross PCIe (2 us) and then the host
    pays launch.subgraph (10 us, a Python call plus a worker hand-off) and 2 x launch.kernel (3 us, OpenMP
    fork/join) = ~16 us. Every tail has the same shape: one crossing either way, and the host's fixed costs
    (10 us + 3 us per kernel) exceed the GPU's (1 us per graph-replayed kernel), while per byte and per flop the
    GPU is faster. So the host can only win where the GPU's fixed costs are larger, which no cited figure says of
    a tail: a crossover from host at batch 1 to GPU at batch 64 would need the GPU's time to stay flat with
    batch (a kernel starved of blocks) while the host's grows, and the GPU kernels with few blocks (one row per
    program, a GEMM without split-K) meet CPU kernels that are just as narrow (cpu_c also runs one row on one
    thread), which the CPU roofline does not know. Choosing such a case would tune the scenario to a modelling
    gap, not show a GPU engineer's choice. What would make it true for a measured reason: a cheaper host hand-off
    (``hetflow profile`` measures the host) or a per-kernel CPU launch charged only to kernels that fork threads
    (cpu_c's small kernels do not); both are outside the GPU cost model.
    """
    plan = hf.compile(classifier(1), cluster)
    where = placement(plan)
    assert where["fc0"] == where["fc1"] == where["head"] == "node0/h200:0"
    # two launches and a round trip cost more than a softmax over 1000 numbers on the CPU
    assert where["probs"] == where["top"] == "node0/cpu:0", plan.report()
    print(plan.explain("probs"))


def test_at_batch_64_the_whole_model_goes_to_the_gpu(cluster: Cluster) -> None:
    plan = hf.compile(classifier(64), cluster)
    assert set(placement(plan).values()) == {"node0/h200:0"}, plan.report()
    assert "model:gpu-cost" in plan.estimate.source


def test_every_kernel_pays_a_launch_unless_it_fuses_into_its_producer() -> None:
    g = hf.Graph("tiny")
    x = g.add_input("x", "float32", (1, 8))
    h = g.add_node("matmul", [x, g.constant(np.ones((8, 8), np.float32))]).outputs[0]
    r = g.add_node("relu", [h]).outputs[0]
    s = g.add_node("softmax", [r], {"axis": -1}).outputs[0]
    mm, relu, soft = (estimate_node(n, H200) for n in g.nodes)
    assert mm[1] == relu[1] == soft[1] == SOURCE
    assert mm[0] >= H200.gpu.launch_graph and soft[0] >= H200.gpu.launch_graph
    assert relu[0] < H200.gpu.launch_graph  # fused into the matmul's epilogue
    del s


def test_work_smaller_than_a_wave_runs_at_a_fraction_of_the_chip() -> None:
    def matmul_time(m: int) -> float:
        g = hf.Graph("mm")
        x = g.add_input("x", "float16", (m, 4096))
        g.add_node("matmul", [x, g.constant(np.ones((4096, 4096), np.float16))])
        return estimate_node(g.nodes[0], H200)[0]

    # 64x more rows fill many more SMs: far less than 64x the time (the tail of the small grid)
    assert matmul_time(64 * 128) < 20 * matmul_time(128)


def test_descriptions_carry_cited_gpu_figures() -> None:
    for name in ("nvidia/h200", "nvidia/a100"):
        desc = get_preset(name)
        assert desc.gpu is not None and 0 < desc.gpu.launch_graph < desc.gpu.launch_eager
        assert {"gpu.launch_eager", "gpu.efficiency_gemm"} <= set(desc.estimates)
    cpu = get_preset("intel/xeon-platinum-8480")
    assert cpu.gpu is None
