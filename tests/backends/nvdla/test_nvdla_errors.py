"""Bad input gets one clear line: unsupported ops, missing engines, out-of-range layers, wrong inputs."""

from __future__ import annotations

import numpy as np
import pytest
from nvdla_helpers import config, conv_requant, int8

from hetflow.backends.nvdla import NvdlaBackend, NvdlaUnsupportedError
from hetflow.backends.nvdla.lower import lower
from hetflow.ir import Graph
from hetflow.ir.errors import InputError
from hetflow.ir.ops.quant import fixed_point


def test_float_op_is_refused_naming_node_and_op():
    g = Graph("f")
    x = g.add_input("x", "int8", (1, 4, 4, 4))
    d = g.add_node("dequantize_linear", [x, g.constant(np.float32(0.1))], name="deq").outputs[0]
    g.outputs = [g.add_node("softmax", [d], {"axis": 1}, name="probs").outputs[0]]
    with pytest.raises(NvdlaUnsupportedError, match=r"node 'deq' \(dequantize_linear\) cannot run on NVDLA"):
        lower(g, config())


def test_configuration_missing_the_engine_a_layer_needs():
    g = Graph("sum")
    a, b = g.add_input("a", "int8", (1, 8, 4, 4)), g.add_input("b", "int8", (1, 8, 4, 4))
    m, s = fixed_point(np.array([0.5]))
    g.outputs = [g.add_node("qadd", [a, b], {"a_multiplier": int(m[0]), "b_multiplier": int(m[0]),
                                             "shift": int(s[0])}, name="sum").outputs[0]]
    lower(g, config("nvidia/nvdla-full"))  # nv_full has the SDP element-wise unit
    with pytest.raises(NvdlaUnsupportedError, match="nvidia/nvdla-small has no SDP EW unit"):
        lower(g, config("nvidia/nvdla-small"))  # nv_small.spec: SDP_EW_DISABLE


@pytest.mark.parametrize("kernel,stride,channels,message", [
    (33, 1, 4, "kernel 33x33 exceeds 32"), (3, 9, 4, r"stride \(9, 9\) exceeds 8"), (1, 1, 8200, "exceed 8192"),
])
def test_layer_out_of_the_hardware_ranges(kernel, stride, channels, message):
    rng = np.random.default_rng(0)
    g = Graph("big")
    x = g.add_input("x", "int8", (1, channels, 40, 40))
    g.outputs = [conv_requant(g, x, 4, kernel, stride, 0, rng)]
    with pytest.raises(NvdlaUnsupportedError, match=message):
        NvdlaBackend().compile(g, target="nvidia/nvdla-full")


def test_pool_out_of_range():
    g = Graph("pool")
    x = g.add_input("x", "int8", (1, 4, 40, 40))
    g.outputs = [g.add_node("max_pool", [x], {"kernel": (9, 9), "strides": (1, 1), "pads": (0,) * 4,
                                              "dilations": None}, name="p").outputs[0]]
    with pytest.raises(NvdlaUnsupportedError, match="pooling kernel"):
        lower(g, config())


def test_wrong_input_at_run_time():
    rng = np.random.default_rng(0)
    g = Graph("c")
    x = g.add_input("x", "int8", (1, 4, 6, 6))
    g.outputs = [conv_requant(g, x, 4, 3, 1, 1, rng)]
    exe = NvdlaBackend().compile(g, target="nvidia/nvdla-small")
    with pytest.raises(InputError, match="must be int8"):
        exe.run({"x": np.zeros((1, 4, 6, 6), np.float32)})
    with pytest.raises(InputError, match="missing"):
        exe.run({})
    assert exe.run({"x": int8(rng, (1, 4, 6, 6))})["conv"].shape == (1, 4, 6, 6)
