"""Placement compile time and estimated heterogeneous latency, on the datacenter-node cluster.

    python benchmarks/placement.py [--nodes 20000] [--cluster datacenter-node]

For DenseNet-121 (the ONNX backend test model, 1,746 ONNX nodes) and a synthetic graph of
``--nodes`` IR nodes, for the latency and the throughput objectives: the time ``hf.compile``
spends placing (capability, costs, placement, merging and building the plan; the limits are
2 s and 20 s), and the plan's estimated latency (or items/s) against the best single device
that can run the whole graph. Every latency and throughput printed is a model estimate
(model:roofline + model:link, and model:hls-cycles for the FPGA), not a measurement; the compile
times are measured on this host. Subgraphs are emulated on the reference backend, so that no FPGA
design is built: what is timed is placement.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import hetflow as hf
from hetflow.compiler import compile_for_cluster
from hetflow.ir import Graph
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


def best_single_device(plan: Plan) -> str:
    """The device with the least estimated compute among those that can run every node alone."""
    totals = {}
    for k, device in enumerate(plan.devices):
        estimates = [plan.choices[n.name].options[k][1] for n in plan.graph.nodes]
        if all(e is not None for e in estimates):
            totals[device.id] = sum(e.seconds for e in estimates)  # type: ignore[union-attr]
    return min(totals, key=totals.__getitem__)


def bench(name: str, graph: Graph, cluster: Cluster, limit: float) -> None:
    for objective in ("latency", "throughput"):
        started = time.perf_counter()
        plan = compile_for_cluster(graph, cluster, objective=objective, emulate_with="reference")
        total = time.perf_counter() - started
        device = best_single_device(plan)
        # the same graph pinned whole to that device, estimated by the same models
        single = compile_for_cluster(graph, cluster, objective=objective, pins={"op:*": device},
                                     emulate_with="reference").estimate
        est = plan.estimate
        assert est is not None and single is not None
        used = sorted({r for s in plan.subgraphs for r in s.replicas})
        print(f"{name}, objective {objective}: {len(graph.nodes)} IR nodes -> {len(plan.subgraphs)} subgraphs on "
              f"{len(used)} device(s), placed by {est.method}")
        placement = plan.options["placement_s"]
        print(f"  placement {placement:.3f} s measured (limit {limit:g} s: {'ok' if placement < limit else 'OVER'}); "
              f"with subgraph artifacts {total:.3f} s")
        if objective == "latency":
            print(f"  estimated latency: plan {est.latency * 1e6:.1f} us, best single device ({device}) "
                  f"{single.latency * 1e6:.1f} us: {single.latency / est.latency:.2f}x [{est.source}]")
        else:
            print(f"  estimated throughput: plan {1 / est.period:,.0f} items/s, best single device ({device}) "
                  f"{1 / single.period:,.0f} items/s: {single.period / est.period:.2f}x [{est.source}]")


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
