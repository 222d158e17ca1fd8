"""Run-time shape specialization: what a new shape costs, what a cached one costs, and what the hook costs a run.

    python benchmarks/specialize.py [--repeat 50] [--backend cpu_c]

For a dynamic-batch CNN and a dynamic-resolution CNN (tests/runtime/dynamic_models.py), compiled once with
symbolic dims, one thread everywhere:

- first run at a new shape: the specialization's own compile time (shape inference, folding, code generation,
  gcc into an empty artifact cache), measured;
- a cached shape: median ``plan.run`` against onnxruntime's median at the same shape, side by side, and their
  ratio;
- the hook: median ``plan.run`` (signature lookup + LRU touch) minus median of checking the feeds and running
  the specialized plan directly (``runtime.session.run_compiled``), in microseconds; and the same for a reference plan, whose
  executables take every shape (nothing is specialized: the hook only counts the run).

Times are wall clock (``time.perf_counter``), medians of alternating runs, so both sides see the same load.
"""

from __future__ import annotations

import os
import tempfile

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["HETFLOW_CACHE_DIR"] = tempfile.mkdtemp(prefix="hetflow-specialize-bench-")  # compile times are cold

import argparse  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from runtime.dynamic_models import batch_mlp, resolution_cnn  # noqa: E402
from timing import interleaved_medians  # noqa: E402

import hetflow as hf  # noqa: E402
from hetflow.ir.feeds import check_feeds  # noqa: E402
from hetflow.runtime.session import run_compiled  # noqa: E402
from hetflow.runtime.specialize import SpecializationCache  # noqa: E402


def ort_runner(model: onnx.ModelProto) -> Callable[[dict[str, np.ndarray]], object]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return lambda feeds: session.run(None, feeds)


def bench(name: str, model: onnx.ModelProto, shapes: list[tuple[int, ...]], backend: str, repeat: int) -> None:
    plan = hf.compile(hf.load(model), backend=backend)
    ort_run = ort_runner(model)
    print(f"{name} ({backend}, 1 thread)")
    print(f"  {'input shape':<16} {'specialize':>11} {'hetflow':>10} {'onnxruntime':>12} {'ratio':>7} {'hook':>9}")
    for shape in shapes:
        feeds = {"x": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
        plan.run(feeds)  # the first run at this shape compiles its specialization
        cache = plan.specializations
        assert isinstance(cache, SpecializationCache)
        entry = next((s for s in cache.specializations if s.signature == (("x", shape),)), None)
        target = entry.plan if entry is not None else plan
        hetflow_s, ort_s, direct_s = interleaved_medians(
            [lambda f=feeds: plan.run(f), lambda f=feeds: ort_run(f),
             lambda f=feeds, t=target: run_compiled(t, [check_feeds(plan.graph, f)])], repeat, warmup=3)
        compiled = f"{entry.compile_s * 1e3:8.1f} ms" if entry is not None else f"{'none':>11}"
        print(f"  {str(list(shape)):<16} {compiled} {hetflow_s * 1e6:8.1f}us {ort_s * 1e6:10.1f}us "
              f"{hetflow_s / ort_s:6.2f}x {(hetflow_s - direct_s) * 1e6:+7.1f}us")
    print("  " + next(line.strip() for line in plan.report().splitlines() if line.strip().startswith("shapes:")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--backend", default="cpu_c")
    args = parser.parse_args()
    print("times: wall clock (measured), medians of alternating runs; 'specialize' is the first run's compile "
          "into an empty artifact cache; 'hook' is plan.run minus checking the feeds and running its specialized plan directly")
    warm = hf.Graph("warm")  # builds cpu_c's runtime library once, so that 'specialize' is each graph's own compile
    warm.outputs.append(warm.add_node("relu", [warm.add_input("x", "float32", (1,))]).outputs[0])
    hf.compile(warm, backend=args.backend)
    batches = [(n, 3, 8, 8) for n in (1, 7, 32)]
    resolutions = [(1, 3, h, w) for h, w in ((32, 32), (64, 48), (128, 128))]
    for backend in (args.backend, "reference"):
        bench("dynamic-batch CNN", batch_mlp(), batches, backend, args.repeat)
        bench("dynamic-resolution CNN", resolution_cnn(), resolutions, backend, args.repeat)


if __name__ == "__main__":
    main()
