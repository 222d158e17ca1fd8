"""What one ``plan.run`` costs beyond its kernels: the runtime's per-run overhead, against the bare executables
and against onnxruntime's ``InferenceSession.run`` on the same ONNX model (the peer).

    python benchmarks/run_overhead.py [--reps 2001] [--warm 200] [--baseline /path/to/older/checkout --rounds 3]

Cases: a one-node model (a relu of one float) and LeNet-5 at batch 1, both compiled for the ``host-only``
cluster (the device runtime: a session, an arena, explicit transfers, a clock and a report per run); the
one-node model compiled with no cluster (``hf.compile(g, backend="cpu_c")``: the executables run in the
caller's thread, no devices); and a two-node model split over two emulated devices of ``datacenter-node``
(reference interpreter, modelled times). For each: medians of ``--reps`` host wall-clock runs (measured),
interleaved so that load from other processes hits all alike. ``runtime`` is plan.run minus the bare
executables: what the runtime adds. The last line is the host's measured subgraph-launch figure
(``hetflow.targets.host.measure_subgraph_launch``), which times the same inline device-API path.

Before/after: ``--baseline DIR`` runs the same cases with the hetflow of another checkout (``DIR`` first on the
import path) and with this one, in alternating processes for ``--rounds`` rounds (two versions of one package
cannot share a process), and prints the median over rounds of each figure for both, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

import hetflow as hf
from hetflow.targets import detect_host
from hetflow.targets.host import measure_subgraph_launch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def relu_onnx(nodes: int = 1) -> onnx.ModelProto:
    """``nodes`` relus in a chain over one float."""
    names = ["x", *(f"r{i}" for i in range(nodes))]
    graph = helper.make_graph(
        [helper.make_node("Relu", [names[i]], [names[i + 1]], name=f"relu{i}") for i in range(nodes)], "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info(names[-1], TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def cases() -> list[tuple[str, onnx.ModelProto, hf.Plan]]:
    from backends.fpga_hls.fpga_helpers import lenet_onnx

    one, two, lenet = relu_onnx(1), relu_onnx(2), lenet_onnx(0, batch=1)
    pins = {"relu0": "node0/cpu:0", "relu1": "node0/h200:0"}
    return [
        ("relu x1, host-only", one, hf.compile(hf.load(one), "host-only")),
        ("relu x1, no devices", one, hf.compile(hf.load(one), backend="cpu_c")),
        ("lenet b1, host-only", lenet, hf.compile(hf.load(lenet), "host-only")),
        ("relu x2, 2 emulated", two, hf.compile(hf.load(two), "datacenter-node", pins=pins, emulate_with="reference")),
    ]


def bare(plan: hf.Plan) -> Callable[[dict[str, np.ndarray]], object]:
    """The plan's executables alone, in plan order, sharing host memory (what no runtime at all would cost)."""
    def run(feeds: dict[str, np.ndarray]) -> object:
        env = dict(feeds)
        for sub in plan.subgraphs:
            env.update(sub.executable.run(env))
        return env
    return run


def medians(fns: list[Callable[[], object]], reps: int, warm: int) -> list[float]:
    """Median seconds of each function, interleaved run by run."""
    times: list[list[float]] = [[] for _ in fns]
    for rep in range(warm + reps):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            if rep >= warm:
                out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def measure(reps: int, warm: int) -> dict[str, dict[str, float]]:
    """Per case: plan.run, the bare executables and onnxruntime, median seconds; and the host's launch figure."""
    import onnxruntime as ort

    rows: dict[str, dict[str, float]] = {}
    for name, model, plan in cases():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
        session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).standard_normal(plan.graph.inputs[0].type.shape).astype(np.float32)
        feeds = {plan.graph.inputs[0].name: x}
        expected = session.run(None, feeds)[0]
        got = plan.run(feeds)[plan.graph.outputs[0].name]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)  # the same model, the same answer
        executables = bare(plan)
        run, alone, peer = medians([lambda: plan.run(feeds), lambda: executables(feeds),  # noqa: B023
                                    lambda: session.run(None, feeds)], reps, warm)  # noqa: B023
        rows[name] = {"run": run, "bare": alone, "ort": peer}
    rows["launch"] = {"subgraph": measure_subgraph_launch(detect_host())}
    return rows


def print_rows(rows: dict[str, dict[str, float]]) -> None:
    print(f"{'case':<22} | {'plan.run':>9} {'bare':>8} {'runtime':>8} {'run/bare':>8} | {'ort.run':>8} "
          f"{'run/ort':>7}")
    for name, r in rows.items():
        if name != "launch":
            print(f"{name:<22} | {r['run'] * 1e6:>7.1f}us {r['bare'] * 1e6:>6.1f}us {(r['run'] - r['bare']) * 1e6:>6.1f}us "
                  f"{r['run'] / r['bare']:>8.2f} | {r['ort'] * 1e6:>6.1f}us {r['run'] / r['ort']:>7.2f}")
    print(f"host subgraph launch (measure_subgraph_launch, cpu_c driver, inline): {rows['launch']['subgraph'] * 1e6:.1f}us")


def compare(baseline: str, rounds: int, reps: int, warm: int) -> None:
    """This checkout against ``baseline``'s hetflow, in alternating processes; medians over rounds."""
    here = str(Path(__file__).resolve().parent.parent)
    runs: dict[str, list[dict[str, dict[str, float]]]] = {baseline: [], here: []}
    for _ in range(rounds):
        for tree, out in runs.items():
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([tree, os.environ.get("PYTHONPATH", "")])}
            done = subprocess.run([sys.executable, __file__, "--json", "--reps", str(reps), "--warm", str(warm)],
                                  env=env, capture_output=True, text=True, check=True)
            out.append(json.loads(done.stdout.splitlines()[-1]))
    merged = {tree: {case: {k: statistics.median(r[case][k] for r in results) for k in results[0][case]}
                     for case in results[0]} for tree, results in runs.items()}
    for label, tree in (("before", baseline), ("after", here)):
        print(f"{label}: {tree} (medians of {rounds} rounds)")
        print_rows(merged[tree])
    def runtime(tree: str, case: str) -> float:
        return merged[tree][case]["run"] - merged[tree][case]["bare"]

    ratios = [f"{case} runtime {runtime(here, case) / runtime(baseline, case):.2f}" for case in merged[here]
              if case != "launch"]
    launch = merged[here]["launch"]["subgraph"] / merged[baseline]["launch"]["subgraph"]
    print(f"after / before: {', '.join(ratios)}; subgraph launch {launch:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=2001)
    parser.add_argument("--warm", type=int, default=200)
    parser.add_argument("--baseline", help="another checkout to compare with (its hetflow first on the import path)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.reps, args.warm)))
        return
    if args.baseline:
        compare(args.baseline, args.rounds, args.reps, args.warm)
    else:
        print_rows(measure(args.reps, args.warm))
    print("host wall clock, medians (measured); bare: the plan's executables alone; ort: onnxruntime "
          "InferenceSession.run, 1 thread; runtime: plan.run - bare")


if __name__ == "__main__":
    main()
