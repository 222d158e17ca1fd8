"""A small float CNN with every pattern the int8 rewrite and the NVDLA backend handle: conv + batch-norm + ReLU,
max pool, a residual sum, a two-branch concatenation, a global average pool and a fully-connected layer."""

from __future__ import annotations

import numpy as np

from hetflow.ir import Graph


def small_cnn(seed: int = 0, size: int = 16, width: int = 16) -> Graph:
    """conv-bn-relu -> max_pool -> conv -> + residual -> relu -> two-branch concat -> global pool -> fc."""
    rng = np.random.default_rng(seed)
    g = Graph("small_cnn")
    x = g.add_input("x", "float32", (1, 3, size, size))

    def conv(v, k, kernel, pad, name):
        w = (rng.standard_normal((k, v.type.shape[1], kernel, kernel)) / np.sqrt(v.type.shape[1] * kernel ** 2))
        return g.add_node("conv", [v, g.constant(w.astype(np.float32), f"{name}_w"),
                                   g.constant(rng.standard_normal(k).astype(np.float32) * 0.1, f"{name}_b")],
                          {"strides": (1, 1), "pads": (pad,) * 4, "dilations": (1, 1)}, name=name).outputs[0]

    h = conv(x, width, 3, 1, "c1")
    bn = [g.constant(a.astype(np.float32)) for a in (rng.uniform(0.5, 1.5, width), rng.standard_normal(width) * 0.1,
                                                     rng.standard_normal(width) * 0.1, rng.uniform(0.5, 2, width))]
    h = g.add_node("batch_norm", [h, *bn], {"epsilon": 1e-5}, name="bn1").outputs[0]
    h = g.add_node("relu", [h], name="r1").outputs[0]
    h = g.add_node("max_pool", [h], {"kernel": (2, 2), "strides": (2, 2), "pads": (0,) * 4, "dilations": None},
                   name="pool").outputs[0]
    r = conv(h, width, 3, 1, "c2")
    h = g.add_node("relu", [g.add_node("add", [r, h], name="res").outputs[0]], name="r2").outputs[0]
    branches = [conv(h, width // 2, 1, 0, "e1"), conv(h, width // 2, 3, 1, "e3")]
    h = g.add_node("concat", branches, {"axis": 1}, name="cat").outputs[0]
    h = g.add_node("reduce_mean", [h], {"axes": (2, 3), "keepdims": False}, name="gap").outputs[0]
    w = g.constant((rng.standard_normal((width, 10)) / np.sqrt(width)).astype(np.float32), "fc_w")
    h = g.add_node("matmul", [h, w], name="fc").outputs[0]
    g.outputs = [g.add_node("add", [h, g.constant(np.zeros(10, np.float32))], name="logits").outputs[0]]
    return g




def samples(n: int, seed: int, size: int = 16) -> list[dict[str, np.ndarray]]:
    """``n`` seeded random inputs for ``small_cnn``."""
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((1, 3, size, size)).astype(np.float32)} for _ in range(n)]
