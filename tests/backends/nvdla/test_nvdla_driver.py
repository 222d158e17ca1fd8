"""The NVDLA device passes the device conformance suite, on int8 programs it can run."""

from __future__ import annotations

import numpy as np
import pytest
from devices.conformance import DeviceConformance

from hetflow.devices import open_device
from hetflow.ir import Graph, Value
from hetflow.ir.ops.quant import fixed_point


def _fc(g: Graph, x: Value, w: np.ndarray, scale: float, name: str, relu: bool = False) -> Value:
    k = w.shape[1]
    mult, shift = fixed_point(np.full(k, scale))
    return g.add_node("matmul_requant", [x, g.constant(w.astype(np.int8), f"{name}_w"),
                                         g.constant(np.arange(k, dtype=np.int32) - k // 2, f"{name}_b"),
                                         g.constant(mult.astype(np.int32), f"{name}_m"),
                                         g.constant(shift.astype(np.int32), f"{name}_s")],
                      {"relu": relu}, name=name).outputs[0]


def _qadd(g: Graph, a: Value, b: Value, name: str) -> Value:
    return g.add_node("qadd", [a, b], {"a_multiplier": 1, "b_multiplier": 1, "shift": 0}, name=name).outputs[0]


class TestNvdlaDriver(DeviceConformance):
    """The suite's programs in NVDLA's int8 IR: the same shapes, names and failure modes, exact results."""

    dtype = "int8"
    rtol = 0
    atol = 0
    heavy_n = 256

    @pytest.fixture
    def open_device(self):
        return lambda: open_device("nvidia/nvdla-full")

    def mlp(self) -> Graph:
        rng = np.random.default_rng(0)
        g = Graph("mlp")
        x = g.add_input("x", "int8", ("N", 8))
        h = _fc(g, x, rng.integers(-3, 4, (8, 16)), 0.25, "fc1", relu=True)
        y = _fc(g, h, rng.integers(-3, 4, (16, 4)), 0.5, "fc2")
        g.outputs = [y]
        g.rename(y, "y")
        return g

    def heavy(self, depth: int = 6) -> Graph:
        n = self.heavy_n
        g = Graph("heavy")
        h = g.add_input("x", "int8", (n, n))
        for i in range(depth):
            h = _fc(g, h, np.eye(n) * 2, 0.5, f"fc{i}")
        g.outputs = [h]
        return g

    def two_outputs(self) -> Graph:
        g = Graph("two_outputs")
        a = g.add_input("a", "int8", (3, 5))
        b = g.add_input("b", "int8", (3, 5))
        r = g.add_node("relu", [a], name="r").outputs[0]
        y = _qadd(g, r, b, "y")
        z = g.add_node("relu", [a], name="z").outputs[0]  # equals a on the suite's non-negative inputs
        g.outputs = [y, z]
        return g

    def mismatched(self) -> Graph:
        g = Graph("mismatched")
        a = g.add_input("a", "int8", ("N", 4))
        b = g.add_input("b", "int8", ("M", 4))
        g.outputs = [_qadd(g, a, b, "s")]
        return g

    def test_time_is_the_performance_model(self, device):
        program = device.load(self.mlp())
        buf = self._put(device, np.ones((5, 8), np.int8))
        run = device.launch(program, {"x": buf})
        run.wait(30)
        assert run.time_source == "model:nvdla-perf" and run.busy_s > 0
        assert len(program.handle.compiled) == 1  # compiled for the batch it ran with
