"""Every template of the library in two graphs, both architectures: C simulation == NumPy model, close to float."""

from __future__ import annotations

import numpy as np
import pytest
from fpga_helpers import check

from hetflow.backends.fpga_hls import table
from hetflow.ir import Graph

OPS_ATOL = 0.03
"""fixed<16,6> results and 1024-entry lookup tables (sigmoid, tanh, exp, 1/x): 0.01 typical."""


def _c(rng: np.random.Generator, *shape: int, scale: float = 0.3) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def every_op() -> Graph:
    """conv (+folded batch norm), pools, activations, arithmetic, concat, transpose, softmax, mean, dense."""
    rng = np.random.default_rng(7)
    g = Graph("every_op")
    x = g.add_input("x", "float32", ("N", 3, 8, 8))
    y = g.add_input("y", "float32", ("N", 4, 4, 4))

    def node(op: str, inputs: list, name: str, **attrs: object):
        return g.add_node(op, inputs, attrs, name=name).outputs[0]

    def bn_params(c: int) -> list:
        return [g.constant(np.abs(_c(rng, c)) + 0.5), g.constant(_c(rng, c)), g.constant(_c(rng, c)),
                g.constant(np.abs(_c(rng, c)) + 0.5)]

    h = node("conv", [x, g.constant(_c(rng, 4, 3, 3, 3)), g.constant(_c(rng, 4))], "conv1", strides=(1, 1),
             pads=(1, 1, 1, 1), dilations=(1, 1))
    h = node("batch_norm", [h, *bn_params(4)], "bn1")
    h = node("relu", [h], "relu1")
    h = node("max_pool", [h], "pool1", kernel=(2, 2), strides=(2, 2), pads=(0, 0, 0, 0))
    h = node("conv", [h, g.constant(_c(rng, 4, 4, 1, 1))], "conv2", strides=(1, 1), pads=(0, 0, 0, 0),
             dilations=(1, 1))
    h = node("leaky_relu", [h], "leaky", alpha=0.1)
    h = node("avg_pool", [h], "avgpool", kernel=(3, 3), strides=(1, 1), pads=(1, 1, 1, 1), count_include_pad=False)
    h = node("add", [h, y], "add_xy")
    h = node("mul", [h, g.constant(np.abs(_c(rng, 4, 1, 1)) + 0.5)], "scale")
    d = node("sub", [g.constant(np.float32(0.25)), h], "flip")
    h = node("batch_norm", [d, *bn_params(4)], "bn2")
    cl = node("clip", [h], "clip", min=-1.0, max=2.0)
    hs = node("hard_sigmoid", [d], "hsig")
    mx = node("max", [cl, hs], "maximum")
    mn = node("min", [cl, hs], "minimum")
    cat = node("concat", [mx, mn, cl], "cat", axis=1)
    t = node("transpose", [cat], "nhwc", perm=(0, 2, 3, 1))
    s = node("add", [node("sigmoid", [t], "sig"), node("tanh", [t], "tanh")], "add_act")
    probs = g.add_node("softmax", [s], {"axis": -1}, name="softmax", output_names=["probs"]).outputs[0]
    m = node("reduce_mean", [cat], "gap", axes=(2, 3), keepdims=True)
    m = node("reshape", [m], "flatten", shape=(-1, 12))
    m = node("sub", [m, g.constant(_c(rng, 12))], "center")
    m = node("matmul", [m, g.constant(_c(rng, 12, 5))], "fc")
    logits = g.add_node("identity", [m], name="out", output_names=["logits"]).outputs[0]
    g.outputs = [probs, logits]
    return g


@pytest.mark.parametrize("architecture", ["parallel", "stream"])
def test_every_template_matches_bit_for_bit_and_float(architecture):
    g = every_op()
    rng = np.random.default_rng(8)
    feeds = {"x": rng.standard_normal((3, 3, 8, 8)).astype(np.float32),
             "y": rng.standard_normal((3, 4, 4, 4)).astype(np.float32)}
    exe = check(g, feeds, atol=OPS_ATOL, config={"architecture": architecture, "model": {"reuse_factor": 2}})
    used = {lay.template for lay in exe.design.layers}
    assert {"conv2d", "dense", "max_pool2d", "avg_pool2d", "mean_rows", "relu", "leaky_relu", "clip", "hard_sigmoid",
            "lut_activation", "add", "maximum", "minimum", "mul_const", "sub_const", "scale_shift", "concat2",
            "transpose", "softmax"} <= used
    assert exe.design.layers[0].nodes == ("conv1", "bn1")  # batch norm folded into the convolution


def test_table_covers_what_the_u250_preset_lists_or_says_why_not():
    from hetflow.targets import get_preset

    listed = get_preset("xilinx/alveo-u250").capability.ops
    covered = set(table.TABLE)
    assert {"conv", "matmul", "max_pool", "avg_pool", "batch_norm", "relu", "softmax", "concat", "reshape",
            "transpose", "add", "reduce_mean"} <= covered & set(listed)
    g = Graph("t")
    x = g.add_input("x", "float32", (1, 4))
    reason = table.supports(g.add_node("elu", [x]))
    assert reason is not None and "not in the fpga_hls kernel table" in reason
