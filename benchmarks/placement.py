"""Placement compile time and estimated heterogeneous latency, on the datacenter-node cluster.

    python benchmarks/placement.py [--nodes 20000] [--cluster datacenter-node]

For DenseNet-121 (the ONNX backend test model, 1,746 ONNX nodes) and a synthetic graph of
``--nodes`` IR nodes: the time ``hf.compile`` spends placing (capability, costs, placement,
merging; compiling subgraphs excluded), and the latency model's end-to-end estimate of the
heterogeneous plan against the best single device that can run the whole graph. Every
latency printed is a model estimate (model:roofline + model:link), not a measurement; the
compile times are measured on this host.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import hetflow as hf
from hetflow.ir import Graph
from hetflow.partition.compile import compile_for_cluster
from hetflow.partition.plan import Plan
from hetflow.targets import Cluster


def densenet() -> Graph:
    import onnx

    path = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_densenet121.onnx")
    return hf.load(path)


def synthetic(nodes: int, width: int = 8, features: int = 256, seed: int = 0) -> Graph:
    """A wide residual MLP: ``width`` branches of matmul / relu / add, mixing with a neighbour now and then."""
    rng = np.random.default_rng(seed)
    g = Graph(f"synthetic{nodes}")
    x = g.add_input("x", "float32", (16, features))
    weights = [g.constant(rng.standard_normal((features, features)).astype(np.float32) * 0.05, f"w{i}") for i in range(4)]
    branches = [x] * width
    while len(g.nodes) < nodes:
        for b in range(width):
            if len(g.nodes) >= nodes:
                break
            step = len(g.nodes) % 5
            h = branches[b]
            if step in (0, 2):
                h = g.add_node("matmul", [h, weights[(b + step) % 4]]).outputs[0]
            elif step == 1:
                h = g.add_node("relu", [h]).outputs[0]
            elif step == 3:
                h = g.add_node("add", [h, branches[(b + 1) % width]]).outputs[0]
            else:
                h = g.add_node("tanh", [h]).outputs[0]
            branches[b] = h
    g.outputs = list(dict.fromkeys(branches))
    return g


def best_single(plan: Plan) -> tuple[str, float]:
    """The device (and its estimate) with the lowest latency running the whole graph alone."""
    totals = single_device_latency(plan)
    device = min(totals, key=totals.__getitem__)
    return device, totals[device]


def single_device_latency(plan: Plan) -> dict[str, float]:
    """Latency-model estimate of each device running everything alone, from the node estimates the plan kept."""
    totals: dict[str, float] = {}
    names = [n.name for n in plan.graph.nodes]
    inputs = sum(t.nbytes for t in plan.transfers if t.src == plan.home)
    outputs = sum(t.nbytes for t in plan.transfers if t.dst == plan.home)
    for k, device in enumerate(plan.devices):
        seconds = 0.0
        for name in names:
            estimate = plan.choices[name].options[k][1]
            if estimate is None:
                seconds = float("inf")
                break
            seconds += estimate.seconds
        if np.isfinite(seconds):
            seconds += (plan.link_time(plan.home, device.id, inputs) + device.penalty
                        + plan.link_time(device.id, plan.home, outputs))
        totals[device.id] = seconds
    return totals


def bench(name: str, graph: Graph, cluster: Cluster, limit: float) -> None:
    started = time.perf_counter()
    plan = compile_for_cluster(graph, cluster)
    total = time.perf_counter() - started
    placement = plan.options["placement_s"]
    device, single = best_single(plan)
    est = plan.estimate
    assert est is not None
    used = sorted({s.device for s in plan.subgraphs})
    print(f"{name}: {len(graph.nodes)} IR nodes, {len(plan.subgraphs)} subgraphs on {len(used)} device(s)")
    print(f"  placement {placement:.3f} s measured (limit {limit:g} s: {'ok' if placement < limit else 'OVER'}); "
          f"compile incl. subgraph artifacts {total:.3f} s")
    print(f"  estimated latency: plan {est.latency * 1e6:.1f} us vs best single device {device} {single * 1e6:.1f} us "
          f"({single / est.latency:.2f}x) [{est.source}]")
    print(f"  estimated throughput: {1 / est.period:,.0f} items/s; placed by {est.method}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=20_000)
    parser.add_argument("--cluster", default="datacenter-node")
    args = parser.parse_args()
    cluster = Cluster.load(args.cluster)
    bench("DenseNet-121 (1,746 ONNX nodes)", densenet(), cluster, 2.0)
    bench(f"synthetic {args.nodes}", synthetic(args.nodes), cluster, 20.0)


if __name__ == "__main__":
    main()
