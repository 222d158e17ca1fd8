"""The gpu_triton backend passes the backend conformance suite (its kernels in Triton's interpreter here)."""

from __future__ import annotations

from backends.conformance import BackendConformance


class TestGpuTritonBackend(BackendConformance):
    backend_name = "gpu_triton"
    description = "nvidia/h200"
