"""Whole models: C simulation == NumPy fixed-point model bit for bit, and close to the float reference.

Tolerances (absolute, on the model's outputs) are stated per model: they are what the chosen
precision buys, and ``trace_precision`` says where the rest goes.
"""

from __future__ import annotations

import numpy as np
import pytest
from fpga_helpers import LENET_CONFIG, SQUEEZENET_CONFIG, check, lenet, mlp, squeezenet64

from hetflow.backends.fpga_hls.precision import trace_precision

MLP_ATOL = 0.01
"""Softmax probabilities of the MLP at the default fixed<16,6>, both architectures."""
LENET_ATOL = 0.05
"""Softmax probabilities of LeNet at fixed<16,6> (truncating): 0.035 seen."""
SQUEEZENET_ATOL = 0.05
"""SqueezeNet logits (range 0..15.5) at rounded 16/18-bit types: 0.016 seen, 0.3% of the range."""


def test_mlp_parallel_and_stream_match_bit_for_bit_and_float():
    g = mlp()
    x = np.random.default_rng(3).standard_normal((6, 16)).astype(np.float32)
    for architecture in ("parallel", "stream"):
        exe = check(g, {"x": x}, atol=MLP_ATOL, config={"architecture": architecture, "model": {"reuse_factor": 4}})
        assert exe.design.architecture == architecture
        assert [lay.template for lay in exe.design.layers] == ["dense", "relu", "dense", "softmax"]
        assert exe.design.layers[0].nodes == ("fc1", "fc1_bias")  # the bias add folded into the dense


def test_lenet_cnn():
    g = lenet()
    x = np.random.default_rng(4).standard_normal((3, 1, 28, 28)).astype(np.float32)
    exe = check(g, {"x": x}, atol=LENET_ATOL, config=LENET_CONFIG)
    assert [lay.template for lay in exe.design.layers][:3] == ["conv2d", "relu", "max_pool2d"]
    assert exe.run({"x": x})["probs"].shape == (3, 10)


@pytest.mark.filterwarnings("ignore::hetflow.backends.fpga_hls.ReuseFactorWarning")
def test_squeezenet_from_the_onnx_zoo_at_64x64():
    g, x = squeezenet64()
    exe = check(g, {g.inputs[0].name: x}, atol=SQUEEZENET_ATOL, config=SQUEEZENET_CONFIG, fit="fold")
    assert exe.estimate.fits and exe.fit_notes  # folded: some reuse factors were raised to fit the U250
    assert sum(lay.template == "conv2d" for lay in exe.design.layers) == 26
    report = trace_precision(exe.design, [x])
    assert len(report.layers) == len(exe.design.layers)
    assert not any(p.overflow for p in report.layers)
    assert report.layers[-1].max_error < SQUEEZENET_ATOL
