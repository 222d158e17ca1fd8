"""fpga_hls precision: the calibrated default against the old fixed<16,6> default, both against onnxruntime.

    python benchmarks/fpga_precision.py [--samples 20] [--models conv_gemm,lenet,mlp]

For each model, on held-out inputs (seeds other than the calibration's): the fixed-point design's output
error against onnxruntime's float outputs (the peer, run side by side) — median and max over the inputs of
the largest |fixed - float| — for the calibrated per-layer precision (what ``hetflow codegen`` now exports
by default) and for fixed<16,6> everywhere (the old default); the ratio old / calibrated; and how often the
top-1 class agrees with onnxruntime. Outputs come from the bit-exact NumPy model of the design (the same
numbers its g++ C simulation gives), so no compiler runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "backends" / "fpga_hls"))

from fpga_helpers import conv_gemm_onnx  # noqa: E402

import hetflow as hf  # noqa: E402
from hetflow.backends.fpga_hls import FpgaHlsBackend, HLSConfig, ReuseFactorWarning  # noqa: E402
from hetflow.backends.fpga_hls.precision import auto_precision  # noqa: E402
from hetflow.zoo import lenet_model  # noqa: E402


def mlp_onnx() -> onnx.ModelProto:
    """x[1,64] -> Gemm 256 -> Relu -> Gemm 10, He-uniform weights."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array((rng.uniform(-1, 1, s) * np.sqrt(6 / s[1])).astype(np.float32), n)
             for n, s in (("w1", (256, 64)), ("w2", (10, 256)))]
    nodes = [helper.make_node("Gemm", ["x", "w1"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Gemm", ["r", "w2"], ["y"], name="fc2", transB=1)]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


MODELS = {"conv_gemm": conv_gemm_onnx, "lenet": lenet_model, "mlp": mlp_onnx}


def errors(model: onnx.ModelProto, config: HLSConfig, inputs: list[np.ndarray]) -> tuple[list[float], float]:
    """Per input, max |fixed - onnxruntime|; and the fraction of inputs whose top-1 class agrees."""
    graph = hf.load(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReuseFactorWarning)
        exe = FpgaHlsBackend().compile(graph, config=config, build=False, fit="ignore")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = graph.inputs[0].name
    errs, agree = [], 0
    for x in inputs:
        want = session.run(None, {name: x})[0].reshape(-1)
        got = exe.run_exact({name: x}, model=True)[0]
        errs.append(float(np.abs(got - want).max()))
        agree += int(np.argmax(got) == np.argmax(want))
    return errs, agree / len(inputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    print(f"{'model':<10} {'precision':<22} {'median max|err|':>16} {'max max|err|':>13} {'top-1 agree':>12}")
    for key in args.models.split(","):
        model = MODELS[key]()
        graph = hf.load(model)
        shape = [int(d) for d in graph.inputs[0].type.shape or ()]
        rng = np.random.default_rng(1234)  # held out: calibration uses seed 0
        inputs = [rng.standard_normal(shape).astype(np.float32) for _ in range(args.samples)]
        calibrated, _ = auto_precision(graph, HLSConfig(), None, seed=0)
        old = HLSConfig.from_dict({"model": {"precision": "fixed<16,6>"}})
        results = {}
        for label, cfg in (("calibrated (default)", calibrated), ("fixed<16,6> (old)", old)):
            errs, agree = errors(model, cfg, inputs)
            results[label] = statistics.median(errs)
            print(f"{key:<10} {label:<22} {statistics.median(errs):>16.4g} {max(errs):>13.4g} {agree:>12.0%}")
        ratio = results["fixed<16,6> (old)"] / max(results["calibrated (default)"], 1e-12)
        print(f"{key:<10} old / calibrated median error: {ratio:.1f}x  (peer: onnxruntime float, {args.samples} "
              f"held-out inputs; outputs from the design's bit-exact fixed-point model)")


if __name__ == "__main__":
    main()
