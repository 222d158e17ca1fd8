"""int8 on emulated NVDLA against the float reference: top-1 agreement and logit error over many inputs.

    python benchmarks/nvdla_accuracy.py --model resnet50 --cluster datacenter-node --inputs 50
    python benchmarks/nvdla_accuracy.py --model squeezenet --cluster edge-soc --inputs 50

The model is the ONNX zoo's (tests/models/zoo.py: seeded random weights, Softmax cut so logits are compared),
calibrated on ``--calibration`` seeded inputs, compiled with ``hf.compile(precision="int8")``, every int8 op
pinned to the cluster's NVDLA (so the NVDLA computes the whole quantized network, through the runtime and the
driver), and run on ``--inputs`` other seeded inputs. The float reference is the NumPy oracle on the float graph.
The inputs are random (the weights are too), so "top-1" is agreement with the float model, not accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import hetflow as hf  # noqa: E402
from hetflow.backends.reference import ReferenceBackend  # noqa: E402
from hetflow.passes.quantize import calibrate_and_quantize  # noqa: E402
from hetflow.passes.scales import ScaleChoice  # noqa: E402

INT8_OPS = ("conv_requant", "matmul_requant", "qadd", "max_pool", "concat", "relu")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--cluster", default="datacenter-node")
    ap.add_argument("--nvdla", default=None, help="the NVDLA device id (default: the cluster's first nvdla device)")
    ap.add_argument("--inputs", type=int, default=50)
    ap.add_argument("--calibration", type=int, default=4)
    ap.add_argument("--method", default="percentile", choices=["minmax", "percentile", "entropy"])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from models.zoo import randomized

    zoo = randomized(args.model, seed=0)
    graph = hf.load(zoo.model)
    name = graph.inputs[0].name
    shape = zoo.feeds[name].shape
    rng = np.random.default_rng(1)
    calib = [{name: rng.standard_normal(shape, dtype=np.float32)} for _ in range(args.calibration)]
    cluster = hf.Cluster.load(args.cluster)
    nvdla = args.nvdla or next(d.id for d in cluster.devices if d.backend == "nvdla")
    started = time.perf_counter()
    # What hf.compile(precision="int8") does, in two steps, so that the pins name only ops the model has.
    quantized, qreport = calibrate_and_quantize(graph, calib, ScaleChoice(args.method))
    present = {n.op for n in quantized.nodes}
    plan = hf.compile(quantized, cluster, pins=[f"op:{op}={nvdla}" for op in INT8_OPS if op in present])
    compile_s = time.perf_counter() - started
    on_nvdla = sum(len(s.nodes) for s in plan.subgraphs if s.device == nvdla)
    total = sum(len(s.nodes) for s in plan.subgraphs)
    ref = ReferenceBackend().compile(graph)
    agree, rel, mean_abs, nvdla_s = 0, [], [], []
    for _ in range(args.inputs):
        feed = {name: rng.standard_normal(shape, dtype=np.float32)}
        want = ref.run(feed)[zoo.logits].reshape(-1)
        got = plan.run(feed)[zoo.logits].reshape(-1)
        agree += int(want.argmax() == got.argmax())
        rel.append(float(np.abs(got - want).max() / np.abs(want).max()))
        mean_abs.append(float(np.abs(got - want).mean()))
        nvdla_s.append(sum(s.end - s.start for s in plan.last_run.spans if s.track == nvdla and s.kind == "subgraph"))
    result = {"model": args.model, "cluster": args.cluster, "nvdla": nvdla, "method": args.method,
              "inputs": args.inputs, "top1_agreement": agree / args.inputs, "max_rel_logit_error": max(rel),
              "median_rel_logit_error": float(np.median(rel)), "mean_abs_logit_error": float(np.mean(mean_abs)),
              "nodes_on_nvdla": f"{on_nvdla}/{total}", "largest_estimated_tensor_error": qreport.max_error,
              "nvdla_model_ms_per_frame": 1e3 * float(np.median(nvdla_s)),
              "compile_s": compile_s}
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
