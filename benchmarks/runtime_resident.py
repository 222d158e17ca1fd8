"""The runtime's per-plan session (devices open, device-resident values, warm arenas) against a fresh executor per
run (devices opened, programs loaded and buffers allocated for every call, as before sessions), side by side.

    python benchmarks/runtime_resident.py [--reps 30] [--stream 8]

Plans on the datacenter-node cluster, emulated on the reference backend (host wall clock of the emulation is what
is timed, measured; the modelled device times are not). For each: the median host wall-clock time of one run and
of a stream of ``--stream`` items through ``plan.run`` / ``plan.run_stream`` (session) and through
``hetflow.runtime.execute`` (fresh), interleaved; their ratio; and, for the session, bytes moved between devices per
item and device buffers allocated per run after warm-up (expected 0).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import hetflow as hf
from hetflow.ir import Graph
from hetflow.runtime import execute

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def mlp_chain(batch: int = 32, width: int = 256, layers: int = 6) -> Graph:
    """Dense layers alternating between the CPU and the GPU: a cut after every layer."""
    rng = np.random.default_rng(0)
    g = Graph("mlp_chain")
    h = g.add_input("x", "float32", (batch, width))
    for i in range(layers):
        w = g.constant(rng.standard_normal((width, width)).astype(np.float32) * 0.05, f"w{i}")
        h = g.add_node("relu", [g.add_node("matmul", [h, w], name=f"mm{i}").outputs[0]], name=f"act{i}").outputs[0]
    g.outputs = [h]
    return g


def cases() -> list[tuple[str, hf.Plan]]:
    from models.zoo import randomized

    pins = {f"*{i}": ("node0/cpu:0" if i % 2 else "node0/h200:0") for i in range(6)}
    squeeze = hf.load(randomized("squeezenet").model)
    return [
        ("mlp_chain (6 cuts)", hf.compile(mlp_chain(), "datacenter-node", pins=pins, emulate_with="reference")),
        ("squeezenet latency", hf.compile(squeeze, "datacenter-node", objective="latency", emulate_with="reference")),
    ]


def feeds(plan: hf.Plan, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {v.name: rng.standard_normal(v.type.shape).astype(v.type.dtype.numpy) for v in plan.graph.inputs}


def median_pair(a: Callable[[], object], b: Callable[[], object], reps: int) -> tuple[float, float, float, float]:
    """Medians of ``a`` and ``b``, then their best times, interleaved so that load from other processes hits both
    alike (on a shared host the best times are the steadier comparison; both are printed)."""
    ta, tb = [], []
    for _ in range(reps):
        for fn, out in ((a, ta), (b, tb)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(ta), statistics.median(tb), min(ta), min(tb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--stream", type=int, default=8)
    args = parser.parse_args()
    print(f"{'plan':<22} {'subgraphs':>9} | {'session':>9} {'fresh':>9} {'ratio':>6} {'best':>6} | "
          f"{'stream x' + str(args.stream):>11} {'fresh':>9} {'ratio':>6} {'best':>6} | {'dev->dev B/item':>15} "
          f"{'allocs/run':>10}")
    for name, plan in cases():
        one = [feeds(plan, 0)]
        many = [feeds(plan, s) for s in range(args.stream)]
        plan.run(one[0])  # warm-up: opens the session, fills the arenas
        plan.run_stream(many)
        s1, f1, s1b, f1b = median_pair(lambda: plan.run(one[0]), lambda: execute(plan, one), args.reps)  # noqa: B023
        sn, fn, snb, fnb = median_pair(lambda: plan.run_stream(many), lambda: execute(plan, many),  # noqa: B023
                                       max(args.reps // 3, 3))
        report = plan.last_run
        assert report is not None
        moved = report.bytes_between_devices(plan.home) // report.items
        print(f"{name:<22} {len(plan.subgraphs):>9} | {s1 * 1e3:>7.2f}ms {f1 * 1e3:>7.2f}ms {s1 / f1:>6.2f} "
              f"{s1b / f1b:>6.2f} | {sn * 1e3:>9.2f}ms {fn * 1e3:>7.2f}ms {sn / fn:>6.2f} {snb / fnb:>6.2f} | "
              f"{moved:>15,} {report.allocations:>10}")
    print("host wall clock of the emulation, medians (measured); ratio: session / fresh executor, median then best "
          "(< 1: the session is faster)")


if __name__ == "__main__":
    main()
