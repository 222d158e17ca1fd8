"""The cpu_c driver against the device conformance suite."""

from __future__ import annotations

import numpy as np
import pytest
from devices.conformance import DeviceConformance

from hetflow.backends.cpu_c.driver import CpuCDevice
from hetflow.devices import driver_factory, open_device


class TestCpuCDriver(DeviceConformance):
    @pytest.fixture
    def open_device(self):
        return lambda: open_device("host/cpu", driver="cpu_c")


def test_the_cpu_c_driver_is_found_by_backend_name():
    assert driver_factory("cpu_c") is CpuCDevice


def test_the_driver_runs_generated_code():
    with open_device("host/cpu", driver="cpu_c") as dev:
        program = dev.load(TestCpuCDriver().mlp())
        buf = dev.alloc(((3, 8), "float32"))
        dev.write(buf, np.ones((3, 8), np.float32))
        out = dev.launch(program, {"x": buf}).wait(60)
        assert dev.read(out["y"]).shape == (3, 4)
        assert program.handle.info.library.endswith(".so")  # the symbolic batch was compiled for 3, not interpreted
