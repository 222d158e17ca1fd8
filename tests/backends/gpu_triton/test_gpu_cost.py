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


@pytest.mark.xfail(strict=True, reason="not true under measured and cited costs (see the docstring): a host tail still "
                   "pays a host subgraph launch (10 us on the Xeon; ~19 us measured inline on this host) against "
                   "~1.1 us per CUDA-graph kernel; it needs a host launch under ~2.2 us, which no Python path is")
def test_at_batch_1_the_small_tail_stays_on_the_host_cpu(cluster: Cluster) -> None:
    """Kept as a strict xfail on purpose: with the descriptions' figures, now corrected for measured reasons, no
    honest tail qualifies.

    Two host costs were stale and are fixed: a CPU kernel pays ``launch.kernel`` (OpenMP fork/join) only if it
    forks a team at its size (``Backend.launches_kernel``; cpu_c's softmax over 1000 numbers and its reduce_max
    run on the calling thread), and the host's ``launch.subgraph`` is measured as the runtime's inline run through
    the device API (``measure_subgraph_launch``), not a worker hand-off. The batch-1 tail then costs, per the
    model: on the H200, 2 kernels x ~1.1 us (``launch_graph`` 1 us plus starved memory time) = ~2.2 us, and its
    2-byte output crosses PCIe (2 us link latency); on the Xeon, the 2 KB of logits cross PCIe (2 us + 0.03 us)
    and the host's subgraph boundary costs ``launch.subgraph`` (10 us, the preset's figure) before kernels that
    cost 39 ns + 13 ns in float32 (cpu_c, on one core, no fork), or 3.0 us each in float16 (cpu_c has no float16 kernels, so
    the NumPy interpreter runs them, charged a per-node dispatch). Host ~12 us against GPU ~2.2 us: the GPU
    keeps the tail, in float16 and in float32, at batch 1 as at 64.

    What would still be needed, for a measured reason: a host subgraph launch under ~2.2 us (the partitioner's
    boundary floor is 2 us). The measured inline path on this host (2-core EPYC VM, Python 3.11) is ~19 us with
    cpu_c and ~13 us with the reference driver, spread over the device API's Python layers (bind, run, store,
    the executable's checks); no Python launch path gets near 2 us. A host tail called from native code (the
    GPU stream's completion running the compiled host kernels, with no Python per subgraph) would, and then
    float16 kernels in cpu_c too. Choosing another scenario or figure to force it would tune the test to the
    model, not show a GPU engineer's choice.
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
