"""hetflow's gpu_triton against torch eager and torch.compile (inductor), side by side, on one CUDA GPU.

Models: ResNet-50 (224x224) and one BERT-base encoder layer (sequence 128, hidden 768, 12 heads, GELU
feed-forward of 3072), each built twice from the same seeded weights: as a hetflow IR graph and as a torch
function. Batches 1, 32 and 256; float16 and float32. Every engine is timed with CUDA events around one
forward pass on device-resident inputs (hetflow: its CUDA-graph replay; the others: the call), median of
``--reps`` runs after warm-up. Printed per case: the three medians, the ratios hetflow/eager and
hetflow/compile, hetflow's agreement with eager, and beside hetflow's measured time the GPU cost model's
estimate for the GPU's description (``model:gpu-cost``) and its error.

Written for one run on an H100 or H200 in under 5 minutes with default kernel configurations (``--quick``:
batch 1 and 32 only; ``--tune`` searches hetflow's configurations first, which takes longer, and caches them). Needs the
gpu extra and a CUDA GPU; without one it exits with one line (Triton's interpreter would not give GPU times).
``--dry-run`` checks everything but the timing without a GPU: both models are built at a tiny size (ResNet-50 at
32x32, the encoder layer at sequence 8), compiled by gpu_triton and run in Triton's interpreter, and compared with
the torch function on the CPU; it prints no times.

    python benchmarks/gpu_vs_torch.py
    python benchmarks/gpu_vs_torch.py --models resnet50 --batches 1,256 --dtypes float16 --json out.json
    python benchmarks/gpu_vs_torch.py --dry-run
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import hetflow as hf
from hetflow.backends.gpu_triton import GpuTritonBackend
from hetflow.backends.gpu_triton.cost import estimate_node
from hetflow.backends.gpu_triton.runtime import load_runtime
from hetflow.errors import HetflowError
from hetflow.targets import get_preset

DESCRIPTIONS = {"H200": "nvidia/h200", "A100": "nvidia/a100"}
"""GPU name fragment -> description whose cost model is compared (no H100 description exists yet)."""

Weights = dict[str, np.ndarray]


# ---------------------------------------------------------------- ResNet-50, twice
def resnet50_weights(seed: int = 0) -> tuple[Weights, list[tuple[str, int, int, int]]]:
    """He-initialized weights and the bottleneck layout (name, in, mid, stride)."""
    rng = np.random.default_rng(seed)
    w: Weights = {}

    def conv(name: str, cin: int, cout: int, k: int) -> None:
        w[name] = (rng.standard_normal((cout, cin, k, k)) * math.sqrt(2 / (cin * k * k))).astype(np.float32)
        w[name + ".scale"] = rng.uniform(0.5, 1.0, cout).astype(np.float32)
        w[name + ".bias"] = (rng.standard_normal(cout) * 0.05).astype(np.float32)
        w[name + ".mean"] = (rng.standard_normal(cout) * 0.05).astype(np.float32)
        w[name + ".var"] = rng.uniform(0.5, 1.5, cout).astype(np.float32)

    conv("stem", 3, 64, 7)
    blocks, cin = [], 64
    for stage, (mid, count, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]):
        for i in range(count):
            name = f"s{stage}b{i}"
            s = stride if i == 0 else 1
            conv(name + ".c1", cin, mid, 1)
            conv(name + ".c2", mid, mid, 3)
            conv(name + ".c3", mid, mid * 4, 1)
            w[name + ".c3.scale"] *= 0.2  # small residual branches keep 16 sums finite
            if i == 0:
                conv(name + ".down", cin, mid * 4, 1)
            blocks.append((name, cin, mid, s))
            cin = mid * 4
    w["fc"] = (rng.standard_normal((2048, 1000)) * math.sqrt(1 / 2048)).astype(np.float32)
    w["fc.bias"] = np.zeros(1000, np.float32)
    return w, blocks


def resnet50_graph(w: Weights, blocks: list, batch: int, dtype: str, size: int = 224) -> hf.Graph:
    g = hf.Graph(f"resnet50_b{batch}_{dtype}")
    c = {k: g.constant(v.astype(dtype)) for k, v in w.items()}

    def conv_bn(x: Any, name: str, stride: int, pad: int, relu: bool = True) -> Any:
        h = g.add_node("conv", [x, c[name]], {"strides": (stride, stride), "pads": (pad,) * 4, "group": 1,
                                               "dilations": (1, 1)}).outputs[0]
        h = g.add_node("batch_norm", [h, c[name + ".scale"], c[name + ".bias"], c[name + ".mean"], c[name + ".var"]],
                       {"epsilon": 1e-5}).outputs[0]
        return g.add_node("relu", [h]).outputs[0] if relu else h

    x = g.add_input("x", dtype, (batch, 3, size, size))
    h = conv_bn(x, "stem", 2, 3)
    h = g.add_node("max_pool", [h], {"kernel": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)}).outputs[0]
    for name, _, _, s in blocks:
        y = conv_bn(h, name + ".c1", 1, 0)
        y = conv_bn(y, name + ".c2", s, 1)
        y = conv_bn(y, name + ".c3", 1, 0, relu=False)
        skip = conv_bn(h, name + ".down", s, 0, relu=False) if name + ".down" in w else h
        h = g.add_node("relu", [g.add_node("add", [y, skip]).outputs[0]]).outputs[0]
    h = g.add_node("reduce_mean", [h], {"axes": (2, 3), "keepdims": False}).outputs[0]
    h = g.add_node("matmul", [h, c["fc"]]).outputs[0]
    g.outputs = [g.add_node("add", [h, c["fc.bias"]]).outputs[0]]
    return g


def resnet50_torch(torch: Any, w: dict[str, Any], blocks: list) -> Callable[[Any], Any]:
    F = torch.nn.functional

    def conv_bn(x: Any, name: str, stride: int, pad: int, relu: bool = True) -> Any:
        h = F.conv2d(x, w[name], stride=stride, padding=pad)
        h = F.batch_norm(h, w[name + ".mean"], w[name + ".var"], w[name + ".scale"], w[name + ".bias"], False, 0.0, 1e-5)
        return F.relu(h) if relu else h

    def forward(x: Any) -> Any:
        h = F.max_pool2d(conv_bn(x, "stem", 2, 3), 3, 2, 1)
        for name, _, _, s in blocks:
            y = conv_bn(conv_bn(conv_bn(h, name + ".c1", 1, 0), name + ".c2", s, 1), name + ".c3", 1, 0, relu=False)
            skip = conv_bn(h, name + ".down", s, 0, relu=False) if name + ".down" in w else h
            h = F.relu(y + skip)
        return h.mean(dim=(2, 3)) @ w["fc"] + w["fc.bias"]

    return forward


# ---------------------------------------------------------------- a BERT-base encoder layer, twice
SEQ, HIDDEN, HEADS, FFN = 128, 768, 12, 3072


def bert_weights(seed: int = 0) -> tuple[Weights, list]:
    rng = np.random.default_rng(seed)
    w: Weights = {}
    for name, a, b in [("q", HIDDEN, HIDDEN), ("k", HIDDEN, HIDDEN), ("v", HIDDEN, HIDDEN), ("o", HIDDEN, HIDDEN),
                       ("f1", HIDDEN, FFN), ("f2", FFN, HIDDEN)]:
        w[name] = (rng.standard_normal((a, b)) / math.sqrt(a)).astype(np.float32)
        w[name + ".bias"] = (rng.standard_normal(b) * 0.02).astype(np.float32)
    for name in ("ln1", "ln2"):
        w[name] = rng.uniform(0.8, 1.2, HIDDEN).astype(np.float32)
        w[name + ".bias"] = (rng.standard_normal(HIDDEN) * 0.02).astype(np.float32)
    return w, []


def bert_graph(w: Weights, _: list, batch: int, dtype: str, seq: int = SEQ) -> hf.Graph:
    g = hf.Graph(f"bert_layer_b{batch}_{dtype}")
    c = {k: g.constant(v.astype(dtype)) for k, v in w.items()}
    hd = HIDDEN // HEADS

    def linear(x: Any, name: str) -> Any:
        return g.add_node("add", [g.add_node("matmul", [x, c[name]]).outputs[0], c[name + ".bias"]]).outputs[0]

    def heads(x: Any, perm: tuple[int, ...]) -> Any:
        r = g.add_node("reshape", [x], {"shape": (batch, seq, HEADS, hd)}).outputs[0]
        return g.add_node("transpose", [r], {"perm": perm}).outputs[0]

    x = g.add_input("x", dtype, (batch, seq, HIDDEN))
    q, k, v = heads(linear(x, "q"), (0, 2, 1, 3)), heads(linear(x, "k"), (0, 2, 3, 1)), heads(linear(x, "v"), (0, 2, 1, 3))
    s = g.add_node("mul", [g.add_node("matmul", [q, k]).outputs[0], g.constant(np.array(1 / math.sqrt(hd), dtype))])
    p = g.add_node("softmax", [s.outputs[0]], {"axis": -1}).outputs[0]
    o = g.add_node("transpose", [g.add_node("matmul", [p, v]).outputs[0]], {"perm": (0, 2, 1, 3)}).outputs[0]
    o = g.add_node("reshape", [o], {"shape": (batch, seq, HIDDEN)}).outputs[0]
    h = g.add_node("add", [linear(o, "o"), x]).outputs[0]
    h = g.add_node("layer_norm", [h, c["ln1"], c["ln1.bias"]], {"axis": -1, "epsilon": 1e-12}, num_outputs=1).outputs[0]
    f = g.add_node("gelu", [linear(h, "f1")]).outputs[0]
    y = g.add_node("add", [linear(f, "f2"), h]).outputs[0]
    g.outputs = [g.add_node("layer_norm", [y, c["ln2"], c["ln2.bias"]], {"axis": -1, "epsilon": 1e-12},
                            num_outputs=1).outputs[0]]
    return g


def bert_torch(torch: Any, w: dict[str, Any], _: list) -> Callable[[Any], Any]:
    F = torch.nn.functional
    hd = HIDDEN // HEADS

    def forward(x: Any) -> Any:
        b, seq = x.shape[0], x.shape[1]

        def heads(t: Any) -> Any:
            return t.reshape(b, seq, HEADS, hd).transpose(1, 2)

        q, k, v = (heads(x @ w[n] + w[n + ".bias"]) for n in ("q", "k", "v"))
        p = torch.softmax((q @ k.transpose(-1, -2)) * (1 / math.sqrt(hd)), dim=-1)
        o = (p @ v).transpose(1, 2).reshape(b, seq, HIDDEN)
        h = F.layer_norm(o @ w["o"] + w["o.bias"] + x, (HIDDEN,), w["ln1"], w["ln1.bias"], 1e-12)
        f = F.gelu(h @ w["f1"] + w["f1.bias"])
        return F.layer_norm(f @ w["f2"] + w["f2.bias"] + h, (HIDDEN,), w["ln2"], w["ln2.bias"], 1e-12)

    return forward


MODELS = {"resnet50": (resnet50_weights, resnet50_graph, resnet50_torch, lambda size: (3, size, size)),
          "bert_layer": (bert_weights, bert_graph, bert_torch, lambda seq: (seq, HIDDEN))}
SIZES = {"resnet50": 224, "bert_layer": SEQ}
"""The benchmark's input size per model: image side, sequence length."""
TINY = {"resnet50": 32, "bert_layer": 8}
"""The sizes ``--dry-run`` builds, small enough for Triton's interpreter on a CPU."""


# ---------------------------------------------------------------- timing
def median_cuda_seconds(torch: Any, fn: Callable[[], Any], reps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def hetflow_seconds(exe: Any, feeds: dict[str, np.ndarray], reps: int, warmup: int = 3) -> tuple[float, np.ndarray]:
    """Median of the executable's own CUDA-event time per run (its CUDA graph replay; copies excluded)."""
    out = None
    for _ in range(warmup):
        out = exe.run(feeds)
    times = []
    for _ in range(reps):
        out = exe.run(feeds)
        times.append(exe.last_seconds)
    assert out is not None
    return statistics.median(times), next(iter(out.values()))


def model_estimate(graph: hf.Graph, description: str | None) -> float | None:
    if description is None:
        return None
    desc = get_preset(description)
    return sum((estimate_node(n, desc) or (0.0, ""))[0] for n in graph.nodes)


def run_case(torch: Any, name: str, batch: int, dtype: str, reps: int, description: str | None,
             compiled_cache: dict, tune: bool = False) -> dict[str, Any]:
    make_weights, make_graph, make_torch, shape = MODELS[name]
    weights, layout = make_weights()
    started = time.perf_counter()
    graph = make_graph(weights, layout, batch, dtype, SIZES[name])
    exe = GpuTritonBackend().compile(graph, tune=tune)
    x = np.random.default_rng(1).standard_normal((batch, *shape(SIZES[name]))).astype(dtype)
    het, het_out = hetflow_seconds(exe, {"x": x}, reps)
    het_compile = time.perf_counter() - started
    tdtype = getattr(torch, dtype)
    tw = {k: torch.from_numpy(v).to("cuda", tdtype) for k, v in weights.items()}
    fn = make_torch(torch, tw, layout)
    tx = torch.from_numpy(x).to("cuda")
    with torch.no_grad():
        eager = median_cuda_seconds(torch, lambda: fn(tx), reps)
        ref = fn(tx).float().cpu().numpy()
        key = (name, dtype)
        if key not in compiled_cache:  # one compile per model and dtype, dynamic over the batch
            compiled_cache[key] = torch.compile(fn, dynamic=True)
        comp = median_cuda_seconds(torch, lambda: compiled_cache[key](tx), reps)
    estimate = model_estimate(graph, description)
    err = float(np.abs(het_out.astype(np.float32) - ref).max() / (np.abs(ref).max() or 1.0))
    return {"model": name, "batch": batch, "dtype": dtype, "hetflow_s": het, "eager_s": eager, "compile_s": comp,
            "vs_eager": het / eager, "vs_compile": het / comp, "estimate_s": estimate,
            "estimate_error": None if estimate is None else estimate / het - 1, "max_rel_diff": err,
            "kernels": len(exe.kernels()), "hetflow_build_s": het_compile}


def dry_run(models: list[str], dtypes: list[str]) -> None:
    """Everything but the timing, without a GPU: build, compile through the interpreter at a tiny size, compare."""
    rt = load_runtime()
    torch = rt.torch
    print(f"dry run: {rt.mode}; torch {torch.__version__}; tiny sizes {TINY}; no times are measured")
    for name in models:
        make_weights, make_graph, make_torch, shape = MODELS[name]
        weights, layout = make_weights()
        for dtype in dtypes:
            graph = make_graph(weights, layout, 1, dtype, TINY[name])
            exe = GpuTritonBackend().compile(graph)
            estimate = model_estimate(graph, "nvidia/h200")
            line = f"{name:<11} {dtype:<8} {len(exe.kernels()):>3} kernels, H200 model {estimate * 1e6:9.1f} us"
            if dtype == "float32":  # the CPU's torch is the oracle in float32; half types are built and compiled
                x = np.random.default_rng(1).standard_normal((1, *shape(TINY[name]))).astype(dtype)
                got = next(iter(exe.run({"x": x}).values()))
                with torch.no_grad():
                    want = make_torch(torch, {k: torch.from_numpy(v) for k, v in weights.items()}, layout)(
                        torch.from_numpy(x)).numpy()
                diff = float(np.abs(got - want).max() / (np.abs(want).max() or 1.0))
                if diff > 1e-3:
                    raise SystemExit(f"gpu_vs_torch --dry-run: {name} {dtype}: hetflow and torch differ by {diff:.1e}")
                line += f", ran in the interpreter, max rel. diff vs torch {diff:.1e}"
            print(line, flush=True)
    print("dry run ok: run without --dry-run on a CUDA GPU for the timings")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="resnet50,bert_layer")
    ap.add_argument("--batches", default="1,32,256")
    ap.add_argument("--dtypes", default="float16,float32")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="batches 1 and 32 only")
    ap.add_argument("--json", help="write every row here")
    ap.add_argument("--tune", action="store_true", help="search hetflow's kernel configurations first (cached on disk)")
    ap.add_argument("--dry-run", action="store_true",
                    help="no GPU needed: build and compile both models at a tiny size and run them in the interpreter")
    args = ap.parse_args()
    try:
        if args.dry_run:
            dry_run(args.models.split(","), args.dtypes.split(","))
            return
        rt = load_runtime()
    except HetflowError as exc:
        sys.exit(f"gpu_vs_torch: {exc}")
    if rt.interpret:
        sys.exit("gpu_vs_torch: no CUDA GPU on this machine; the comparison needs one (Triton's interpreter would "
                 "not give GPU times). --dry-run checks the script without one.")
    torch = rt.torch
    gpu = torch.cuda.get_device_name()
    description = next((d for frag, d in DESCRIPTIONS.items() if frag in gpu), None)
    print(f"GPU: {gpu}; torch {torch.__version__}, triton {rt.triton.__version__}; cost model: "
          f"{description or 'none for this GPU'}; medians of {args.reps} CUDA-event-timed runs (measured)")
    batches = [1, 32] if args.quick else [int(b) for b in args.batches.split(",")]
    rows, cache = [], {}
    head = (f"{'model':<11} {'dtype':<8} {'batch':>5} {'hetflow':>10} {'eager':>10} {'compile':>10} "
            f"{'/eager':>7} {'/compile':>8} {'estimate':>10} {'est.err':>8} {'diff':>8}")
    print(head)
    for name in args.models.split(","):
        for dtype in args.dtypes.split(","):
            for batch in batches:
                r = run_case(torch, name, batch, dtype, args.reps, description, cache, args.tune)
                rows.append(r)
                est = "-" if r["estimate_s"] is None else f"{r['estimate_s'] * 1e3:8.3f}ms"
                err = "-" if r["estimate_error"] is None else f"{r['estimate_error']:+.0%}"
                print(f"{name:<11} {dtype:<8} {batch:>5} {r['hetflow_s'] * 1e3:8.3f}ms {r['eager_s'] * 1e3:8.3f}ms "
                      f"{r['compile_s'] * 1e3:8.3f}ms {r['vs_eager']:7.2f} {r['vs_compile']:8.2f} {est:>10} {err:>8} "
                      f"{r['max_rel_diff']:8.1e}", flush=True)
    geo = math.exp(statistics.mean(math.log(r["vs_compile"]) for r in rows))
    print(f"geometric mean hetflow/torch.compile: {geo:.2f} (below 1: hetflow faster)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"gpu": gpu, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
