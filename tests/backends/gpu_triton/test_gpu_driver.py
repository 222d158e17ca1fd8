"""The gpu_triton driver against the device conformance suite (through Triton's interpreter here)."""

from __future__ import annotations

import numpy as np
import pytest
from devices.conformance import DeviceConformance

from hetflow.backends.gpu_triton.driver import GpuTritonDevice
from hetflow.backends.gpu_triton.executable import GpuTritonExecutable
from hetflow.devices import driver_factory, open_device


class TestGpuTritonDriver(DeviceConformance):
    heavy_n = 64  # the interpreter is slow: smaller square matmuls still queue runs up

    @pytest.fixture
    def open_device(self):
        return lambda: open_device("nvidia/h200")


def test_the_gpu_driver_is_found_by_backend_name() -> None:
    assert driver_factory("gpu_triton") is GpuTritonDevice


def test_the_driver_runs_generated_kernels_and_says_where_its_time_comes_from() -> None:
    with open_device("nvidia/h200") as dev:
        program = dev.load(TestGpuTritonDriver().mlp())
        assert isinstance(program.handle, GpuTritonExecutable)
        buf = dev.alloc(((3, 8), "float32"))
        dev.write(buf, np.ones((3, 8), np.float32))
        run = dev.launch(program, {"x": buf})
        out = run.wait(120)
        assert dev.read(out["y"]).shape == (3, 4)
        assert [k.template for k in program.handle.kernels()] == ["matmul", "matmul"]
        if program.handle.rt.interpret:  # no GPU: the cost model's time, never host wall clock
            assert run.time_source == "model:gpu-cost" and run.busy_s > 0
        else:
            assert run.time_source == "measured"
