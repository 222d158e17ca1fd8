"""The models any MODEL argument takes by name: the onnx wheel's light model zoo, and a LeNet-5 built here.

The light zoo's models ship with constant weights (their outputs are uniform); ``lenet`` is a 1x28x28 -> 10
LeNet-5 with seeded He-uniform random weights, small enough for the FPGA examples (``hetflow codegen lenet``).
It is built on first use and kept in the cache directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from hetflow.config import get_config
from hetflow.errors import ModelError

LIGHT_ZOO: dict[str, str] = {
    "resnet50": "light_resnet50.onnx",
    "squeezenet": "light_squeezenet.onnx",
    "densenet121": "light_densenet121.onnx",
    "alexnet": "light_bvlc_alexnet.onnx",
    "inception_v1": "light_inception_v1.onnx",
    "inception_v2": "light_inception_v2.onnx",
    "shufflenet": "light_shufflenet.onnx",
    "vgg19": "light_vgg19.onnx",
    "zfnet512": "light_zfnet512.onnx",
}
"""Bundled model name -> its file in the onnx wheel's light model zoo."""


def lenet_model(seed: int = 0) -> onnx.ModelProto:
    """LeNet-5: x[1,1,28,28] -> conv 5x5 (6) -> relu -> pool -> conv 5x5 (16) -> relu -> pool -> 120 -> 84 -> 10."""
    rng = np.random.default_rng(seed)

    def w(*shape: int, fan: int) -> np.ndarray:
        return (rng.uniform(-1, 1, shape) * np.sqrt(6 / fan)).astype(np.float32)

    inits = [numpy_helper.from_array(a, n) for n, a in [
        ("c1w", w(6, 1, 5, 5, fan=25)), ("c1b", w(6, fan=600)), ("c2w", w(16, 6, 5, 5, fan=150)),
        ("c2b", w(16, fan=600)), ("f1w", w(120, 256, fan=256)), ("f1b", w(120, fan=600)),
        ("f2w", w(84, 120, fan=120)), ("f2b", w(84, fan=600)), ("f3w", w(10, 84, fan=84)), ("f3b", w(10, fan=600))]]
    nodes = [
        helper.make_node("Conv", ["x", "c1w", "c1b"], ["c1"], name="conv1", kernel_shape=[5, 5]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "c2w", "c2b"], ["c2"], name="conv2", kernel_shape=[5, 5]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("MaxPool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "f1w", "f1b"], ["h1"], name="fc1", transB=1),
        helper.make_node("Relu", ["h1"], ["a1"], name="relu3"),
        helper.make_node("Gemm", ["a1", "f2w", "f2b"], ["h2"], name="fc2", transB=1),
        helper.make_node("Relu", ["h2"], ["a2"], name="relu4"),
        helper.make_node("Gemm", ["a2", "f3w", "f3b"], ["logits"], name="fc3", transB=1),
    ]
    graph = helper.make_graph(nodes, "lenet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 28, 28])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="hetflow.zoo")
    model.ir_version = 8
    return model


BUILT: dict[str, Callable[[], onnx.ModelProto]] = {"lenet": lenet_model}
"""Bundled models built by hetflow (name -> builder), kept in the cache directory once built."""

MODELS: tuple[str, ...] = (*LIGHT_ZOO, *BUILT)


def light_zoo_dir() -> Path:
    """Where the onnx wheel keeps its light model zoo."""
    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def model_path(name: str) -> Path:
    """The ONNX file of bundled model ``name`` (building it into the cache on first use)."""
    if name in BUILT:
        path = get_config().cache_dir / "models" / f"{name}.onnx"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{np.random.default_rng().integers(1 << 30)}.tmp")
            onnx.save(BUILT[name](), tmp)
            tmp.replace(path)  # atomic: a concurrent reader never sees half a file
        return path
    if name not in LIGHT_ZOO:
        raise ModelError(f"{name}: not a bundled model ({', '.join(MODELS)})")
    path = light_zoo_dir() / LIGHT_ZOO[name]
    if not path.exists():
        raise ModelError(f"bundled model '{name}' is missing from the onnx package ({path})")
    return path
