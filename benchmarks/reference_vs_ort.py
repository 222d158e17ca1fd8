"""hetflow's NumPy reference backend against onnxruntime, one thread each, on randomized zoo models.

    python benchmarks/reference_vs_ort.py [--models resnet50,squeezenet,densenet121] [--repeat 10] [--per-op] [--ops]

Prints the median latency (measured, wall clock) of both and their ratio; ``--per-op`` adds the
time hetflow spends per IR op type and onnxruntime per ONNX op type (onnxruntime fuses
Conv+BatchNorm+Relu, so its Conv row covers what hetflow lists as conv, batch_norm and relu);
``--ops`` times single ops at zoo layer shapes against onnxruntime.
"""

from __future__ import annotations

import os

# One BLAS / OpenMP thread, fixed before NumPy loads its BLAS (threadpoolctl below, if present, too).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))

from timing import interleaved_medians  # noqa: E402
from zoo import ZooModel, ort_session, randomized  # noqa: E402

import hetflow as hf  # noqa: E402
from hetflow.ir import get_op  # noqa: E402

DEFAULT_MODELS = ("resnet50", "squeezenet", "densenet121")


def _limit_threads() -> str:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return "env OMP/OPENBLAS/MKL_NUM_THREADS=1"
    threadpool_limits(1)
    return "threadpoolctl(1) + env"


def median_seconds(fns: list[Callable[[], object]], repeat: int, warmup: int = 2,
                   clock: Callable[[], float] = time.process_time) -> list[float]:
    """Median time of each function; runs alternate so that both see the same machine load.

    The default clock is this process's CPU time, which other jobs on a shared machine disturb far
    less than the wall clock; with one thread each it equals the wall time of an idle machine.
    """
    return interleaved_medians(fns, repeat, warmup, clock)


def hetflow_per_op(zoo: ZooModel, repeat: int) -> dict[str, float]:
    """Median seconds per IR op type, each node's NumPy semantics timed on its own."""
    graph = hf.load(zoo.model)
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0] * repeat)
    for r in range(repeat):
        env = {id(v): zoo.feeds[v.name] for v in graph.inputs}
        for node in graph.nodes:
            args = [None if v is None else (v.const if v.is_const else env[id(v)]) for v in node.inputs]
            start = time.process_time()
            results = get_op(node.op).run(node, args)
            totals[node.op][r] += time.process_time() - start
            env.update({id(o): a for o, a in zip(node.outputs, results)})
    return {op: statistics.median(ts) for op, ts in totals.items()}


def ort_per_op(zoo: ZooModel, repeat: int) -> dict[str, float]:
    """Median seconds per ONNX op type (as fused by onnxruntime), from its profiler."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.enable_profiling = True
    opts.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    sess = ort.InferenceSession(zoo.model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    for _ in range(repeat + 1):
        sess.run(None, zoo.feeds)
    events = json.loads(Path(sess.end_profiling()).read_text())
    runs: dict[str, list[float]] = defaultdict(list)
    per_run: dict[str, float] = defaultdict(float)
    for ev in events:
        if ev.get("cat") == "Session" and ev.get("name") == "model_run":
            for op, t in per_run.items():
                runs[op].append(t)
            per_run = defaultdict(float)
        elif ev.get("cat") == "Node" and ev["name"].endswith("_kernel_time"):
            per_run[ev["args"]["op_name"]] += ev["dur"] * 1e-6
    return {op: statistics.median(ts[1:] or ts) for op, ts in runs.items()}


def _rand(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape, dtype=np.float32)


# (label, ONNX op, inputs, constant inputs, attributes): shapes taken from ResNet-50, SqueezeNet,
# ShuffleNet, AlexNet and Inception layers.
OP_CASES = [
    ("conv 7x7/2 3->64 224", "Conv", {"x": _rand(1, 3, 224, 224), "w": _rand(64, 3, 7, 7), "b": _rand(64)},
     {"strides": [2, 2], "pads": [3, 3, 3, 3]}),
    ("conv 3x3 64->64 56", "Conv", {"x": _rand(1, 64, 56, 56), "w": _rand(64, 64, 3, 3), "b": _rand(64)},
     {"pads": [1, 1, 1, 1]}),
    ("conv 3x3/2 128 56", "Conv", {"x": _rand(1, 128, 56, 56), "w": _rand(128, 128, 3, 3)},
     {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("conv 1x1 256->64 56", "Conv", {"x": _rand(1, 256, 56, 56), "w": _rand(64, 256, 1, 1), "b": _rand(64)}, {}),
    ("conv 1x1/2 512->1024 28", "Conv", {"x": _rand(1, 512, 28, 28), "w": _rand(1024, 512, 1, 1)},
     {"strides": [2, 2]}),
    ("conv 3x3 512 7", "Conv", {"x": _rand(1, 512, 7, 7), "w": _rand(512, 512, 3, 3)}, {"pads": [1, 1, 1, 1]}),
    ("conv depthwise 3x3 136 28", "Conv", {"x": _rand(1, 136, 28, 28), "w": _rand(136, 1, 3, 3)},
     {"group": 136, "pads": [1, 1, 1, 1]}),
    ("conv group4 1x1 240->60 28", "Conv", {"x": _rand(1, 240, 28, 28), "w": _rand(60, 60, 1, 1)}, {"group": 4}),
    ("conv 5x5 g2 96->256 27", "Conv", {"x": _rand(1, 96, 27, 27), "w": _rand(256, 48, 5, 5)},
     {"group": 2, "pads": [2, 2, 2, 2]}),
    ("convT 4x4/2 64->32 28", "ConvTranspose", {"x": _rand(1, 64, 28, 28), "w": _rand(64, 32, 4, 4)},
     {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("maxpool 3x3/2 64 112", "MaxPool", {"x": _rand(1, 64, 112, 112)},
     {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("maxpool 3x3/2 ceil 96 109", "MaxPool", {"x": _rand(1, 96, 109, 109)},
     {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("avgpool 3x3/1 pad 256 28", "AveragePool", {"x": _rand(1, 256, 28, 28)},
     {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    ("global avgpool 2048 7", "GlobalAveragePool", {"x": _rand(1, 2048, 7, 7)}, {}),
    ("batchnorm 256 56", "BatchNormalization", {"x": _rand(1, 256, 56, 56), "s": _rand(256), "b": _rand(256),
                                                "m": _rand(256), "v": np.abs(_rand(256)) + 1}, {}),
    ("lrn 5 96 55", "LRN", {"x": _rand(1, 96, 55, 55)}, {"size": 5}),
    ("softmax 1000", "Softmax", {"x": _rand(8, 1000)}, {}),
    ("layernorm 128x768", "LayerNormalization", {"x": _rand(128, 768), "s": _rand(768), "b": _rand(768)}, {}),
    ("gemm 9216->4096", "Gemm", {"x": _rand(1, 9216), "w": _rand(4096, 9216), "b": _rand(4096)}, {"transB": 1}),
]


def bench_ops(repeat: int) -> None:
    """Each op alone, hetflow's reference kernel against onnxruntime, interleaved."""
    from onnx import helper, numpy_helper

    print(f"{'op':<28} {'hetflow':>9} {'onnxrt':>9} {'ratio':>6}   (measured: CPU time, median of {repeat})")
    for label, op, inputs, attrs in OP_CASES:
        names = list(inputs)
        data, weights = names[:1], names[1:]
        node = helper.make_node(op, names, ["y"], **attrs)
        graph = helper.make_graph(
            [node], label, [helper.make_tensor_value_info(n, 1, inputs[n].shape) for n in data],
            [helper.make_value_info("y", onnx.TypeProto())],
            [numpy_helper.from_array(inputs[n], n) for n in weights])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        zoo = ZooModel(label, model, {n: inputs[n] for n in data}, "y")
        plan, sess = hf.compile(hf.load(model)), ort_session(zoo)
        ours, theirs = median_seconds([partial(plan.run, zoo.feeds), partial(sess.run, None, zoo.feeds)], repeat)
        print(f"{label:<28} {ours * 1e3:7.2f}ms {theirs * 1e3:7.2f}ms {ours / theirs:5.2f}x")


def bench_model(name: str, repeat: int, per_op: bool) -> tuple[float, float]:
    zoo = randomized(name)
    plan = hf.compile(hf.load(zoo.model))
    sess = ort_session(zoo, threads=1)
    fns = [partial(plan.run, zoo.feeds), partial(sess.run, None, zoo.feeds)]
    ours, theirs = median_seconds(fns, repeat)
    wall_ours, wall_theirs = median_seconds(fns, max(3, repeat // 2), warmup=0, clock=time.perf_counter)
    print(f"{name:<14} hetflow-reference {ours * 1e3:8.1f} ms   onnxruntime {theirs * 1e3:8.1f} ms   "
          f"ratio {ours / theirs:5.2f}x   (measured: CPU time, median of {repeat}; "
          f"wall {wall_ours * 1e3:.0f} / {wall_theirs * 1e3:.0f} ms)")
    if per_op:
        mine, ort_ops = hetflow_per_op(zoo, max(3, repeat // 2)), ort_per_op(zoo, max(3, repeat // 2))
        for label, table in (("hetflow op", mine), ("onnxruntime op", ort_ops)):
            for op, t in sorted(table.items(), key=lambda kv: -kv[1]):
                print(f"    {label:<15} {op:<22} {t * 1e3:8.2f} ms")
    return ours, theirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--per-op", action="store_true", help="also break each model's time down by op type")
    parser.add_argument("--ops", action="store_true", help="also time single ops (zoo layer shapes) against onnxruntime")
    args = parser.parse_args(argv)
    how = _limit_threads()
    print(f"threads: 1 ({how}); numpy {np.__version__}")
    if args.ops:
        bench_ops(args.repeat)
    for name in filter(None, args.models.split(",")):
        bench_model(name.strip(), args.repeat, args.per_op)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
