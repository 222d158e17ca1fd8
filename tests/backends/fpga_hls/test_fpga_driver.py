"""The fpga_hls driver against the device conformance suite, and its modelled time."""

from __future__ import annotations

import numpy as np
import pytest
from devices.conformance import DeviceConformance

from hetflow.backends.fpga_hls.driver import FpgaHlsDevice
from hetflow.devices import driver_factory, open_device


class TestFpgaHlsDriver(DeviceConformance):
    """Default settings (fixed<16,6>, stream): outputs are fixed point, so the tolerance is a few LSBs (2**-10)."""

    rtol = 1e-2
    atol = 2e-2
    heavy_n = 64  # C simulation of ap_fixed is slow: 6 x 64^3 MACs still takes milliseconds per run

    @pytest.fixture
    def open_device(self):
        return lambda: open_device("xilinx/alveo-u250")

    def test_time_is_modelled_from_cycles(self, device):
        program = device.load(self.mlp())
        x = np.ones((3, 8), np.float32)
        run = device.launch(program, {"x": self._put(device, x)})
        run.wait(30)
        est = program.handle.estimate
        assert run.time_source == "model:hls-cycles" == device.stats().time_source
        assert run.busy_s == pytest.approx((est.latency_cycles + 2 * est.ii_cycles) / 300e6)


def test_the_driver_is_found_by_backend_name():
    assert driver_factory("fpga_hls") is FpgaHlsDevice
