"""cpu_c's depthwise convolution against the reference on the shapes its phased flat path takes (strides 1 and
2, split into stride x stride phases) and the strided-row path it falls back to (stride 3)."""

from __future__ import annotations

import numpy as np
import pytest

from hetflow.backends.cpu_c import CpuCBackend
from hetflow.backends.reference import ReferenceExecutable
from hetflow.ir import Graph

CASES = [  # channels, (h, w), kernel, strides, pads (top, left, bottom, right), dilation
    (4, (7, 7), 3, (2, 2), (1, 1, 1, 1), 1),
    (5, (14, 15), 3, (2, 2), (1, 1, 2, 2), 1),
    (3, (13, 13), 5, (2, 2), (2, 2, 2, 2), 1),
    (3, (13, 12), 3, (2, 2), (2, 2, 2, 2), 2),
    (2, (9, 10), 3, (1, 2), (0, 1, 1, 0), 1),
    (2, (9, 9), 3, (2, 1), (1, 0, 0, 1), 2),
    (6, (7, 7), 3, (1, 1), (1, 1, 1, 1), 1),
    (2, (11, 11), 3, (3, 3), (1, 1, 1, 1), 1),
]


@pytest.mark.parametrize("channels,size,kernel,strides,pads,dilation", CASES)
def test_depthwise_equals_the_reference(channels: int, size: tuple[int, int], kernel: int,
                                        strides: tuple[int, int], pads: tuple[int, ...], dilation: int) -> None:
    rng = np.random.default_rng(channels * 100 + kernel)
    g = Graph("depthwise")
    x = g.add_input("x", "float32", (2, channels, *size))
    w = g.constant(rng.standard_normal((channels, 1, kernel, kernel)).astype(np.float32), "w")
    g.outputs.append(g.add_node("conv", [x, w], {"strides": strides, "pads": pads, "dilations": (dilation,) * 2,
                                                 "group": channels}).outputs[0])
    feeds = {"x": rng.standard_normal((2, channels, *size)).astype(np.float32)}
    got = CpuCBackend().compile(g, threads=2).run(feeds)
    want = ReferenceExecutable(g).run(feeds)
    name = g.outputs[0].name
    np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5)
