"""cpu_c with a symbolic batch (one library for every batch size) against cpu_c compiled for each batch size.

For every model and batch: median latency of the symbolic library and of the static one, runs interleaved so
that load from other processes hits both alike, and their ratio (symbolic / static; 1.0 = free); then each
one's compile time (cold cache: gcc runs). The symbolic library generates code for one sample and loops
over the batch at run time (a matmul takes the batch as more rows); the static one knows the batch when the C
is written.

Models (seeded random weights): a small CNN (conv 3x3 16 + ReLU, max pool, conv 3x3 32 + ReLU, global
average, dense 10, softmax) on 3 x 32 x 32, and a 784-512-512-10 MLP.

    python benchmarks/cpu_c_symbolic_batch.py
    python benchmarks/cpu_c_symbolic_batch.py --batches 1,7,32 --reps 15 --threads 1
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hetflow.backends.cpu_c import CpuCBackend
from hetflow.config import get_config, set_config
from hetflow.ir import Dim, Graph
from hetflow.ir.subgraph import specialize


def cnn(batch: Dim) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("cnn")
    h = g.add_input("x", "float32", (batch, 3, 32, 32))
    same = {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1)}
    for cin, cout in ((3, 16), (16, 32)):
        w = g.constant((rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2 / (9 * cin))).astype(np.float32))
        h = g.add_node("conv", [h, w, g.constant(np.zeros(cout, np.float32))], same).outputs[0]
        h = g.add_node("relu", [h]).outputs[0]
        if cin == 3:
            h = g.add_node("max_pool", [h], {"kernel": (2, 2), "strides": (2, 2), "pads": (0, 0, 0, 0)}).outputs[0]
    h = g.add_node("reduce_mean", [h], {"axes": (2, 3), "keepdims": False}).outputs[0]
    h = g.add_node("matmul", [h, g.constant(rng.standard_normal((32, 10)).astype(np.float32))]).outputs[0]
    g.outputs = [g.add_node("softmax", [h], {"axis": -1}).outputs[0]]
    return g


def mlp(batch: Dim) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("mlp")
    h = g.add_input("x", "float32", (batch, 784))
    sizes = [784, 512, 512, 10]
    for i, (k, n) in enumerate(zip(sizes, sizes[1:])):
        h = g.add_node("matmul", [h, g.constant((rng.standard_normal((k, n)) * np.sqrt(2 / k)).astype(np.float32))]
                       ).outputs[0]
        h = g.add_node("add", [h, g.constant(np.full(n, 0.01, np.float32))]).outputs[0]
        if i < len(sizes) - 2:
            h = g.add_node("relu", [h]).outputs[0]
    g.outputs = [h]
    return g


MODELS: dict[str, Callable[[Dim], Graph]] = {"cnn": cnn, "mlp": mlp}


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,7,32")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    backend = CpuCBackend()
    # compile times cold: a fresh cache (the runtime library is built by the first compile, before the table)
    set_config(dataclasses.replace(get_config(), cache_dir=Path(tempfile.mkdtemp(prefix="hf-symbatch-"))))
    warm = Graph("warm")
    warm.outputs = warm.add_node("relu", [warm.add_input("x", "float32", (4,))]).outputs
    backend.compile(warm)
    print(f"{'model':<6} {'batch':>5} {'symbolic ms':>12} {'static ms':>10} {'ratio':>6}   compile s (symbolic once / static)")
    for name, build in MODELS.items():
        graph = build("N")
        symbolic, sym_compile = timed(lambda g=graph: backend.compile(g, threads=args.threads, fallback="error"))
        for batch in (int(b) for b in args.batches.split(",")):
            static_graph = specialize(graph, [(batch, *graph.inputs[0].type.shape[1:])])  # type: ignore[misc]
            static, static_compile = timed(lambda g=static_graph: backend.compile(g, threads=args.threads,
                                                                                  fallback="error"))
            feeds = {"x": np.random.default_rng(1).standard_normal((batch, *graph.inputs[0].type.shape[1:]))
                     .astype(np.float32)}  # type: ignore[misc]
            np.testing.assert_allclose(next(iter(symbolic.run(feeds).values())),  # type: ignore[attr-defined]
                                       next(iter(static.run(feeds).values())), rtol=1e-4, atol=1e-5)  # type: ignore[attr-defined]
            samples: dict[str, list[float]] = {"symbolic": [], "static": []}
            for _ in range(args.reps):  # interleaved
                for label, exe in (("symbolic", symbolic), ("static", static)):
                    samples[label].append(timed(lambda exe=exe, feeds=feeds: exe.run(feeds))[1])  # type: ignore[attr-defined]
            s, t = statistics.median(samples["symbolic"]), statistics.median(samples["static"])
            print(f"{name:<6} {batch:>5} {s * 1e3:>12.3f} {t * 1e3:>10.3f} {s / t:>6.2f}   "
                  f"{sym_compile:.2f} / {static_compile:.2f}")


if __name__ == "__main__":
    main()
