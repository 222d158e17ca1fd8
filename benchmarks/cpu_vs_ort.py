"""cpu_c against ONNX Runtime on the same models, side by side, in one run.

For every model: median latency of cpu_c and onnxruntime at 1 and 2 threads (runs interleaved, so
that load from other processes hits both alike), their ratio, the geometric mean of the ratios,
cpu_c's compile time (cold: empty cache, runtime library included; cached: a second compile) and
peak memory of each engine (each in a fresh process: the peak resident memory it adds to the loaded
model, and cpu_c's arena of intermediates; the raw JSON also has tracemalloc's peak).

Models: six CNNs of the ONNX light zoo with seeded random weights (tests/models/zoo.py), a
784-512-512-10 MLP at batch 64, and one transformer encoder block (sequence 128, hidden 256,
4 heads, GELU feed-forward of 1024) built with onnx.helper.

    python benchmarks/cpu_vs_ort.py                      # everything
    python benchmarks/cpu_vs_ort.py --models mlp,resnet50 --reps 20 --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

ZOO = ["resnet50", "squeezenet", "densenet121", "vgg19", "inception_v1", "shufflenet"]
MODELS = [*ZOO, "mlp", "transformer"]
REPS = {"vgg19": 7, "resnet50": 11, "densenet121": 11, "inception_v1": 15}


# ---------------------------------------------------------------- models
def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def mlp_model(batch: int = 64, seed: int = 0) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """784-512-512-10 with ReLU, as three Gemm nodes (what exporters write for Linear layers)."""
    rng = np.random.default_rng(seed)
    sizes = [784, 512, 512, 10]
    nodes, inits, prev = [], [], "x"
    for i, (k, n) in enumerate(zip(sizes, sizes[1:])):
        inits += [_init(f"w{i}", rng.standard_normal((k, n)).astype(np.float32) * np.float32(math.sqrt(2 / k))),
                  _init(f"b{i}", rng.normal(0, 0.05, n).astype(np.float32))]
        out = f"h{i}" if i < len(sizes) - 2 else "logits"
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"g{i}" if out != "logits" else out]))
        if out != "logits":
            nodes.append(helper.make_node("Relu", [f"g{i}"], [out]))
        prev = out
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 784])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, {"x": rng.standard_normal((batch, 784)).astype(np.float32)}


def transformer_model(seq: int = 128, hidden: int = 256, heads: int = 4, ffn: int = 1024,
                      seed: int = 0) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """One post-norm encoder block: multi-head self-attention, add & LayerNorm, GELU FFN, add & LayerNorm."""
    rng = np.random.default_rng(seed)
    hd = hidden // heads
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def weight(name: str, shape: tuple[int, ...], scale: float) -> str:
        inits.append(_init(name, (rng.standard_normal(shape) * scale).astype(np.float32)))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    inits += [_init("heads_shape", np.array([1, seq, heads, hd], np.int64)),
              _init("model_shape", np.array([1, seq, hidden], np.int64)),
              _init("scale", np.array(1 / math.sqrt(hd), np.float32)),
              _init("sqrt2", np.array(math.sqrt(2), np.float32)),
              _init("one", np.array(1, np.float32)), _init("half", np.array(0.5, np.float32))]

    def project(x: str, name: str, n_in: int, n_out: int) -> str:
        h = node("MatMul", [x, weight(f"{name}_w", (n_in, n_out), 1 / math.sqrt(n_in))], f"{name}_mm")
        return node("Add", [h, weight(f"{name}_b", (n_out,), 0.02)], name)

    def split_heads(x: str, perm: list[int]) -> str:
        r = node("Reshape", [x, "heads_shape"], f"{x}_heads")
        return node("Transpose", [r], f"{x}_t", perm=perm)

    q = split_heads(project("x", "q", hidden, hidden), [0, 2, 1, 3])
    k = split_heads(project("x", "k", hidden, hidden), [0, 2, 3, 1])
    v = split_heads(project("x", "v", hidden, hidden), [0, 2, 1, 3])
    s = node("Mul", [node("MatMul", [q, k], "scores"), "scale"], "scaled")
    p = node("Softmax", [s], "probs", axis=-1)
    o = node("Transpose", [node("MatMul", [p, v], "context")], "context_t", perm=[0, 2, 1, 3])
    o = node("Reshape", [o, "model_shape"], "context_flat")
    a = node("Add", [project(o, "out", hidden, hidden), "x"], "residual1")
    h = node("LayerNormalization", [a, weight("ln1_g", (hidden,), 0.1), weight("ln1_b", (hidden,), 0.1)], "ln1",
             axis=-1, epsilon=1e-5)
    f = project(h, "ffn1", hidden, ffn)
    e = node("Add", [node("Erf", [node("Div", [f, "sqrt2"], "gelu_div")], "gelu_erf"), "one"], "gelu_add")
    g = node("Mul", [node("Mul", [f, e], "gelu_mul"), "half"], "gelu")
    f2 = project(g, "ffn2", ffn, hidden)
    y = node("LayerNormalization", [node("Add", [f2, h], "residual2"), weight("ln2_g", (hidden,), 0.1),
                                    weight("ln2_b", (hidden,), 0.1)], "y", axis=-1, epsilon=1e-5)
    graph = helper.make_graph(nodes, "encoder_block",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, seq, hidden])],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, seq, hidden])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, {"x": rng.standard_normal((1, seq, hidden)).astype(np.float32)}


def load(name: str) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    if name == "mlp":
        return mlp_model()
    if name == "transformer":
        return transformer_model()
    from models.zoo import randomized

    zoo = randomized(name, seed=0)
    return zoo.model, zoo.feeds


# ---------------------------------------------------------------- measurements (each in its own process)
def _ort_session(model: onnx.ModelProto, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _use_cache(path: str) -> None:
    import dataclasses

    from hetflow.config import get_config, set_config

    set_config(dataclasses.replace(get_config(), cache_dir=Path(path)))


def work_timing(name: str, threads: list[int], reps: int) -> dict[str, Any]:
    """Compile times, then interleaved runs of every (engine, threads) pair; medians in milliseconds."""
    import hetflow as hf
    from hetflow.backends.cpu_c import CpuCBackend, compiler

    model, feeds = load(name)
    graph = hf.load(model)
    result: dict[str, Any] = {"model": name, "flop": _flops(graph)}
    with tempfile.TemporaryDirectory() as cold:
        _use_cache(cold)
        start, gcc = time.perf_counter(), compiler.STATS.seconds
        CpuCBackend().compile(graph, threads=threads[0])
        result["compile_cold_s"] = time.perf_counter() - start
        result["compile_cold_gcc_s"] = compiler.STATS.seconds - gcc
        start = time.perf_counter()
        engines = {f"cpu_c/{t}": CpuCBackend().compile(graph, threads=t).run for t in threads}
        result["compile_cached_s"] = (time.perf_counter() - start) / len(threads)
        for t in threads:
            engines[f"ort/{t}"] = (lambda s: lambda f: s.run(None, f))(_ort_session(model, t))
        want = engines[f"ort/{threads[0]}"](feeds)[0]
        got = next(iter(engines[f"cpu_c/{threads[0]}"](feeds).values()))
        result["max_rel_diff"] = float(np.abs(got - want).max() / (np.abs(want).max() or 1.0))
        # Rounds of back-to-back runs per engine, engines alternating: within a block the other engines'
        # thread pools have gone idle, and over the rounds a change in machine load hits every engine.
        wall: dict[str, list[float]] = {k: [] for k in engines}
        cpu: dict[str, list[float]] = {k: [] for k in engines}
        rounds = 3
        for _ in range(rounds):
            for key, run in engines.items():
                run(feeds)  # let the previous engine's threads go quiet
                for _ in range(max(reps // rounds, 1)):
                    w, c = time.perf_counter(), time.thread_time()
                    run(feeds)
                    cpu[key].append(time.thread_time() - c)
                    wall[key].append(time.perf_counter() - w)
    result["median_ms"] = {k: 1e3 * float(np.median(v)) for k, v in wall.items()}
    result["cpu_ms_1_thread"] = {k: 1e3 * float(np.median(v)) for k, v in cpu.items() if k.endswith("/1")}
    return result


def work_memory(name: str, engine: str, threads: int) -> dict[str, Any]:
    """Peak resident memory the engine adds (compile and three runs) over what the loaded model already
    holds: Linux's high-water mark is reset after loading (clear_refs) and read back after the runs.
    For cpu_c also tracemalloc's peak of Python-side allocations (NumPy arrays: packed weights, arena)."""
    import gc

    model, feeds = load(name)
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    base = _status_kb("VmRSS")
    traced, arena = None, None
    if engine == "cpu_c":
        import hetflow as hf
        from hetflow.backends.cpu_c import CpuCBackend

        tracemalloc.start()
        exe = CpuCBackend().compile(hf.load(model), threads=threads)
        for _ in range(3):
            exe.run(feeds)
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        arena = exe.info.arena_bytes
    else:
        session = _ort_session(model, threads)
        for _ in range(3):
            session.run(None, feeds)
    return {"model": name, "engine": engine, "peak_rss_mb": (_status_kb("VmHWM") - base) / 1024,
            "tracemalloc_peak_mb": None if traced is None else traced / 2**20,
            "arena_mb": None if arena is None else arena / 2**20}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _flops(graph: Any) -> int:
    from hetflow.ir import get_op

    return sum(get_op(n.op).flop_count(n) for n in graph.nodes)


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark worker {args} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- report
def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def report(rows: list[dict[str, Any]], threads: list[int]) -> str:
    head = f"{'model':<14} {'GFLOP':>6}"
    for t in threads:
        head += f" | {'cpu_c':>8} {'ort':>8} {'ratio':>6} @{t}t"
    head += " | compile cold / cached | peak MB: cpu_c (arena) / ort"
    lines = [head, "-" * len(head)]
    for r in rows:
        line = f"{r['model']:<14} {r['flop'] / 1e9:>6.2f}"
        for t in threads:
            c, o = r["median_ms"][f"cpu_c/{t}"], r["median_ms"][f"ort/{t}"]
            line += f" | {c:>8.2f} {o:>8.2f} {c / o:>6.2f}    "
        line += f" | {r['compile_cold_s']:>6.2f} s / {r['compile_cached_s']:>5.2f} s"
        if "mem" in r:
            m = r["mem"]
            line += f" | {m['cpu_c']['peak_rss_mb']:>7.1f} ({m['cpu_c']['arena_mb']:.1f}) / {m['ort']['peak_rss_mb']:.1f}"
        lines.append(line)
    lines.append("-" * len(head))
    for t in threads:
        ratios = [r["median_ms"][f"cpu_c/{t}"] / r["median_ms"][f"ort/{t}"] for r in rows]
        cpu = [r["cpu_ms_1_thread"]["cpu_c/1"] / r["cpu_ms_1_thread"]["ort/1"] for r in rows] if t == 1 else []
        extra = f"  (by thread CPU time: {_geomean(cpu):.3f})" if cpu else ""
        lines.append(f"geomean cpu_c/onnxruntime at {t} thread(s): {_geomean(ratios):.3f}{extra}")
    lines.append("latency: median wall-clock ms (measured); ratio < 1 means cpu_c is faster; peak MB: resident memory "
                 "each engine adds to the loaded model (measured, compile + 3 runs), arena: cpu_c's intermediates")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--reps", type=int, default=0, help="timed runs per engine (default: per model)")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--json", help="also write the raw numbers here")
    parser.add_argument("--worker", choices=["timing", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    if args.worker == "timing":
        print(json.dumps(work_timing(args.models, threads, args.reps)))
        return
    if args.worker == "memory":
        print(json.dumps(work_memory(args.models, args.engine, threads[0])))
        return
    rows = []
    for name in args.models.split(","):
        reps = args.reps or REPS.get(name, 25)
        row = _child(["--worker", "timing", "--models", name, "--threads", args.threads, "--reps", str(reps)])
        if not args.no_memory:
            row["mem"] = {e: _child(["--worker", "memory", "--models", name, "--engine", e, "--threads", "1"])
                          for e in ("cpu_c", "ort")}
        rows.append(row)
        print(f"{name}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in row["median_ms"].items()), file=sys.stderr,
              flush=True)
    print(report(rows, threads))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
