"""What one ``plan.run`` costs beyond its kernels: the runtime's per-run overhead, against the bare executables
and against onnxruntime's ``InferenceSession.run`` on the same ONNX model (the peer).

    python benchmarks/run_overhead.py [--reps 2001] [--warm 200]

Cases: a one-node model (a relu of one float) and LeNet-5 at batch 1, both compiled for the ``host-only``
cluster (the device runtime: a session, an arena, explicit transfers, a clock and a report per run); the
one-node model compiled with no cluster (``hf.compile(g, backend="cpu_c")``: the executables run in the
caller's thread, no devices); and a two-node model split over two emulated devices of ``datacenter-node``
(reference interpreter, modelled times). For each: medians of ``--reps`` host wall-clock runs (measured),
interleaved so that load from other processes hits all alike. ``runtime`` is plan.run minus the bare
executables: what the runtime adds. The last line is the host's measured subgraph-launch figure
(``hetflow.targets.host.measure_subgraph_launch``), which times the same inline device-API path.
"""

from __future__ import annotations

import argparse
import statistics
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=2001)
    parser.add_argument("--warm", type=int, default=200)
    args = parser.parse_args()
    import onnxruntime as ort

    print(f"{'case':<22} | {'plan.run':>9} {'bare':>8} {'runtime':>8} {'run/bare':>8} | {'ort.run':>8} "
          f"{'run/ort':>7}")
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
                                    lambda: session.run(None, feeds)], args.reps, args.warm)  # noqa: B023
        print(f"{name:<22} | {run * 1e6:>7.1f}us {alone * 1e6:>6.1f}us {(run - alone) * 1e6:>6.1f}us "
              f"{run / alone:>8.2f} | {peer * 1e6:>6.1f}us {run / peer:>7.2f}")
    launch = measure_subgraph_launch(detect_host())
    print(f"host subgraph launch (measure_subgraph_launch, cpu_c driver, inline): {launch * 1e6:.1f}us")
    print("host wall clock, medians (measured); bare: the plan's executables alone; ort: onnxruntime "
          "InferenceSession.run, 1 thread")


if __name__ == "__main__":
    main()
