"""The ONNX model zoo shipped inside the onnx wheel, made worth comparing against.

The "light" zoo models (AlexNet ... ZFNet-512, opset 9) build every weight with ConstantOfShape
from one value, so their shipped outputs are constant and prove nothing. ``randomized`` rewrites a
model: every weight (ConstantOfShape-built or a leftover initializer) becomes a seeded random
initializer scaled for the role its consumer gives it, and the final Softmax is cut so that
logits are compared rather than near-uniform probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

ZOO_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"

MODELS = {
    "alexnet": "light_bvlc_alexnet.onnx",
    "densenet121": "light_densenet121.onnx",
    "inception_v1": "light_inception_v1.onnx",
    "inception_v2": "light_inception_v2.onnx",
    "resnet50": "light_resnet50.onnx",
    "shufflenet": "light_shufflenet.onnx",
    "squeezenet": "light_squeezenet.onnx",
    "vgg19": "light_vgg19.onnx",
    "zfnet512": "light_zfnet512.onnx",
}

Init = Callable[[np.random.Generator, tuple[int, ...], onnx.NodeProto], np.ndarray]


def _he(rng: np.random.Generator, shape: tuple[int, ...], node: onnx.NodeProto) -> np.ndarray:
    """He-uniform for a Conv weight [M, C/g, *k] or a Gemm weight ([K, N], or [N, K] with transB)."""
    if node.op_type == "Gemm":
        trans_b = any(a.name == "transB" and a.i for a in node.attribute)
        fan_in = shape[-1] if trans_b else shape[-2]  # from the end: Inception-v1 reshapes a 4-D weight
    else:
        fan_in = math.prod(shape[1:])
    w = rng.random(shape, dtype=np.float32)  # uniform is 4x cheaper to draw than normal: VGG has 143M weights
    w -= np.float32(0.5)
    w *= np.float32(2 * math.sqrt(6.0 / fan_in))
    return w


def _small(rng: np.random.Generator, shape: tuple[int, ...], node: onnx.NodeProto) -> np.ndarray:
    return rng.normal(0.0, 0.05, shape).astype(np.float32)


def _near_one(rng: np.random.Generator, shape: tuple[int, ...], node: onnx.NodeProto) -> np.ndarray:
    return rng.uniform(0.8, 1.2, shape).astype(np.float32)


def _residual_scale(rng: np.random.Generator, shape: tuple[int, ...], node: onnx.NodeProto) -> np.ndarray:
    """The last batch-norm scale of a residual branch: small, so that 16 residual sums do not explode."""
    return rng.uniform(0.2, 0.5, shape).astype(np.float32)


def _variance(rng: np.random.Generator, shape: tuple[int, ...], node: onnx.NodeProto) -> np.ndarray:
    return rng.uniform(0.5, 1.5, shape).astype(np.float32)


# (consumer op, input index) -> how to draw the tensor feeding it.
ROLES: dict[tuple[str, int], Init] = {
    ("Conv", 1): _he, ("Conv", 2): _small,
    ("Gemm", 1): _he, ("Gemm", 2): _small,
    ("BatchNormalization", 1): _near_one, ("BatchNormalization", 2): _small,
    ("BatchNormalization", 3): _small, ("BatchNormalization", 4): _variance,
    ("Mul", 0): _near_one, ("Mul", 1): _near_one,  # DenseNet/Inception-v2 apply BN scale and shift
    ("Add", 0): _small, ("Add", 1): _small,         # as Unsqueeze -> Mul / Add
}
PASS_THROUGH = {"Unsqueeze", "Reshape", "Identity"}


@dataclass
class ZooModel:
    """A randomized zoo model and a seeded input for it."""

    name: str
    model: onnx.ModelProto
    feeds: dict[str, np.ndarray]
    logits: str


def _consumers(graph: onnx.GraphProto) -> dict[str, list[tuple[onnx.NodeProto, int]]]:
    table: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            table.setdefault(name, []).append((node, i))
    return table


def _role(name: str, consumers: dict[str, list[tuple[onnx.NodeProto, int]]]) -> tuple[Init, onnx.NodeProto] | None:
    """The init for the weight ``name`` from its first real consumer (looking through Unsqueeze etc.)."""
    for node, i in consumers.get(name, []):
        if node.op_type in PASS_THROUGH and i == 0:
            found = _role(node.output[0], consumers)
            if found:
                return found
        elif (node.op_type, i) in ROLES:
            if node.op_type == "BatchNormalization" and i == 1 and _feeds_residual_sum(node, consumers):
                return _residual_scale, node
            return ROLES[(node.op_type, i)], node
    return None


def _feeds_residual_sum(node: onnx.NodeProto, consumers: dict[str, list[tuple[onnx.NodeProto, int]]]) -> bool:
    return any(user.op_type in ("Sum", "Add") and len(user.input) > 1 for user, _ in consumers.get(node.output[0], []))


def randomized(name: str, seed: int = 0) -> ZooModel:
    """The zoo model ``name`` with seeded random weights, its Softmax cut, and a seeded input."""
    model = onnx.load(str(ZOO_DIR / MODELS[name]))
    graph = model.graph
    rng = np.random.default_rng(seed)
    consumers = _consumers(graph)
    inits = {t.name: t for t in graph.initializer}
    weights: dict[str, np.ndarray] = {}
    kept_nodes = []
    for node in graph.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in inits:
            shape = tuple(int(d) for d in numpy_helper.to_array(inits[node.input[0]]))
            found = _role(node.output[0], consumers)
            if found is not None:
                weights[node.output[0]] = found[0](rng, shape, found[1])
                continue
        kept_nodes.append(node)
    for t in graph.initializer:  # leftover real-valued weights get the same treatment
        array = numpy_helper.to_array(t)
        found = _role(t.name, consumers) if array.dtype == np.float32 else None
        if found is not None:
            weights[t.name] = found[0](rng, array.shape, found[1])
    logits = _cut_softmax(graph, kept_nodes)
    del graph.node[:]
    graph.node.extend(kept_nodes)
    used = {i for n in kept_nodes for i in n.input}
    keep_inits = [t for t in graph.initializer if t.name in used and t.name not in weights]
    del graph.initializer[:]
    graph.initializer.extend(keep_inits + [numpy_helper.from_array(a, n) for n, a in weights.items()])
    init_names = {t.name for t in graph.initializer}
    data = [vi for vi in graph.input if vi.name not in init_names and vi.name in used]
    del graph.input[:]
    graph.input.extend(data)
    feeds = {vi.name: rng.standard_normal([d.dim_value for d in vi.type.tensor_type.shape.dim], dtype=np.float32)
             for vi in data}
    zoo = ZooModel(name, model, feeds, logits)
    if sum(a.nbytes for a in weights.values()) < CALIBRATE_BELOW_BYTES:
        _calibrate(zoo, weights)
    return zoo


CALIBRATE_BELOW_BYTES = 200 << 20
"""Models with fewer weight bytes get their logits calibrated (the big ones come out in range anyway)."""
TARGET_LOGIT_STD = 5.0


def _calibrate(zoo: ZooModel, weights: dict[str, np.ndarray]) -> None:
    """Scale the last Conv/Gemm so the logits' spread is ~TARGET_LOGIT_STD (random nets drift far from it).

    Every op after that layer in these models (Relu, pools, Reshape, Dropout) is positively homogeneous,
    so scaling its weight and bias scales the logits by the same factor.
    """
    std = float(np.std(run_onnxruntime(zoo)[zoo.logits]))
    last = next(n for n in reversed(zoo.model.graph.node) if n.op_type in ("Conv", "Gemm"))
    producer = {o: n for n in zoo.model.graph.node for o in n.output}
    params = set()
    for name in last.input[1:]:
        while name in producer and producer[name].op_type in PASS_THROUGH:  # Inception-v1 reshapes its weight
            name = producer[name].input[0]
        params.add(name)
    factor = np.float32(TARGET_LOGIT_STD / std)
    for init in zoo.model.graph.initializer:
        if init.name in params and init.name in weights:
            init.CopyFrom(numpy_helper.from_array(weights[init.name] * factor, init.name))


def _cut_softmax(graph: onnx.GraphProto, nodes: list[onnx.NodeProto]) -> str:
    """Drop a Softmax that yields the graph output; its input becomes the output. Returns the output name."""
    out = graph.output[0].name
    last = next((n for n in nodes if out in n.output), None)
    if last is not None and last.op_type == "Softmax":
        nodes.remove(last)
        out = last.input[0]
        del graph.output[:]
        graph.output.append(helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, None))
    return out


def run_onnxruntime(zoo: ZooModel, threads: int = 1) -> dict[str, np.ndarray]:
    return dict(zip([zoo.logits], ort_session(zoo, threads).run([zoo.logits], zoo.feeds)))


def ort_session(zoo: ZooModel, threads: int = 1):  # noqa: ANN201 - onnxruntime is optional for hetflow
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(zoo.model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
