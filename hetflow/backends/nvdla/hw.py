"""One NVDLA configuration as the compiler, the engine models and the performance model see it.

Built from a machine description's ``[nvdla]`` table (NVIDIA's spec files, cited in the presets) plus its clock
and DRAM bandwidth, or from the three figures NVIDIA's primer tabulates for ResNet-50 (MACs, convolution
buffer, DRAM bandwidth) for performance sweeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from hetflow.ir.errors import HetflowError
from hetflow.targets import MachineDescription

ENGINE_NAMES = {"conv": "CONV", "sdp": "SDP", "pdp": "PDP", "cdp": "CDP", "rubik": "RUBIK", "bdma": "BDMA"}


class NvdlaConfigError(HetflowError):
    """A description that is not an NVDLA configuration, or a configuration that cannot exist."""


@dataclass(frozen=True)
class NvdlaConfig:
    """MAC atoms, convolution buffer, engines and memory of one NVDLA build."""

    name: str
    atomic_c: int
    atomic_k: int
    memory_atomic: int
    cbuf_bytes: int
    engines: frozenset[str]
    sdp_features: frozenset[str]
    winograd: bool
    precisions: tuple[str, ...]
    clock_hz: float
    dram_bytes_per_s: float
    sdp_throughput: int = 16
    pdp_throughput: int = 8
    cdp_throughput: int = 8
    max_batch: int = 1

    @property
    def macs(self) -> int:
        return self.atomic_c * self.atomic_k

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram_bytes_per_s / self.clock_hz

    def has(self, engine: str) -> bool:
        return engine in self.engines

    def with_memory(self, dram_bytes_per_s: float) -> NvdlaConfig:
        return replace(self, dram_bytes_per_s=dram_bytes_per_s)


def from_description(description: MachineDescription) -> NvdlaConfig:
    """The configuration a description of backend ``nvdla`` states; NvdlaConfigError without an [nvdla] table."""
    hw = description.nvdla
    if hw is None:
        raise NvdlaConfigError(f"description {description.name} has no [nvdla] table (MAC atoms, convolution buffer, "
                               f"engines); see hetflow/targets/presets/nvidia_nvdla-full.toml")
    return NvdlaConfig(
        name=description.name, atomic_c=hw.atomic_c, atomic_k=hw.atomic_k, memory_atomic=hw.memory_atomic,
        cbuf_bytes=hw.cbuf_bytes, engines=frozenset(hw.engines), sdp_features=frozenset(hw.sdp),
        winograd=hw.winograd, precisions=tuple(hw.precisions), clock_hz=description.clock_hz,
        dram_bytes_per_s=description.memory.bandwidth, sdp_throughput=hw.sdp_throughput,
        pdp_throughput=hw.pdp_throughput, cdp_throughput=hw.cdp_throughput, max_batch=hw.max_batch)


# (atomic C, atomic K, memory atomic) of NVIDIA's published builds by MAC count (nvdla/hw master spec/defs/):
# nv_small.spec 8x8, nv_small_256.spec 32x8, nv_medium_512.spec 32x16, nv_medium_1024_full.spec 32x32,
# nv_large.spec and nv_full.spec 64x32.
_PUBLISHED_ATOMS = {64: (8, 8, 8), 256: (32, 8, 8), 512: (32, 16, 16), 1024: (32, 32, 32), 2048: (64, 32, 32)}


def _atoms_for(macs: int) -> tuple[int, int, int]:
    """(atomic C, atomic K, memory atomic) for a MAC count: a published build's where one has that count, else
    atomic C >= atomic K, both powers of two, as square as possible (memory atomic = atomic K, as those builds)."""
    if macs in _PUBLISHED_ATOMS:
        return _PUBLISHED_ATOMS[macs]
    if macs < 1 or macs & (macs - 1):
        raise NvdlaConfigError(f"an NVDLA MAC array is atomic-C x atomic-K, powers of two; {macs} MACs is not")
    k = 2 ** (int(math.log2(macs)) // 2)
    return macs // k, k, k


def sweep_config(macs: int, cbuf_kib: float, dram_gbps: float, *, clock_hz: float = 1e9,
                 winograd: bool = False) -> NvdlaConfig:
    """A configuration from the figures of NVIDIA's ResNet-50 table (nvdla/doc doc/primer.rst): MACs, convolution
    buffer and DRAM bandwidth, int8, every engine present. ``winograd`` is off by default: the primer's figures
    are for direct convolution configurations (nv_small and the v2 builds have no Winograd)."""
    if cbuf_kib <= 0 or dram_gbps <= 0 or clock_hz <= 0:
        raise NvdlaConfigError("the convolution buffer, DRAM bandwidth and clock must be positive")
    c, k, m = _atoms_for(macs)
    return NvdlaConfig(name=f"nvdla-{macs}mac-{cbuf_kib:g}KiB-{dram_gbps:g}GBps", atomic_c=c, atomic_k=k,
                       memory_atomic=m, cbuf_bytes=int(cbuf_kib * 1024),
                       engines=frozenset(ENGINE_NAMES), sdp_features=frozenset({"bs", "bn", "ew", "lut"}),
                       winograd=winograd, precisions=("int8",), clock_hz=clock_hz, dram_bytes_per_s=dram_gbps * 1e9)
