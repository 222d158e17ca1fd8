"""Every built-in backend passes the backend conformance suite unchanged."""

from __future__ import annotations

from backends.conformance import BackendConformance


class TestReferenceBackend(BackendConformance):
    backend_name = "reference"
    rtol = atol = 0.0


class TestCpuCBackend(BackendConformance):
    backend_name = "cpu_c"


class TestFpgaHlsBackend(BackendConformance):
    backend_name = "fpga_hls"
    description = "xilinx/alveo-u250"
    rtol, atol = 0.0, 0.02  # the board computes in its default fixed-point types (ap_fixed<16,6>)
