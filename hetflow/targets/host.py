"""The host CPU, detected: cores, clock, ISA flags and model from the OS; peak ops/s estimated from them.

Detection reads /proc/cpuinfo, /proc/meminfo and /sys (Linux); elsewhere it falls back to
``os.cpu_count`` and ``platform``. Every figure not read from the machine is listed in the
description's ``estimates``.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hetflow import registry
from hetflow.ir import Graph
from hetflow.ir.errors import HetflowError
from hetflow.targets.schema import MachineDescription, parse_description

HOST_PRESET = "host/cpu"
"""The preset name under which the detected host CPU is found."""

# Ops per cycle per core that an ISA extension allows, by dtype (the best matching flag wins).
# x86 figures assume two vector FMA pipes; Arm figures one 128-bit pipe, as on Cortex-A72-class cores.
_RATES: dict[str, dict[str, int]] = {
    "": {"float64": 2, "float32": 2, "int64": 2, "int32": 2},  # scalar, any CPU
    "sse2": {"float64": 4, "float32": 8, "int32": 8, "int8": 16},
    "avx": {"float64": 8, "float32": 16},
    "fma": {"float64": 16, "float32": 32},
    "avx2": {"int32": 16, "int8": 64},
    "avx512f": {"float64": 32, "float32": 64, "int64": 16, "int32": 32, "int8": 128},
    "avx_vnni": {"int8": 128},
    "avx512_vnni": {"int8": 256},
    "avx512_bf16": {"bfloat16": 128},
    "avx512_fp16": {"float16": 128},
    "amx_bf16": {"bfloat16": 1024},
    "amx_int8": {"int8": 2048},
    "asimd": {"float64": 4, "float32": 8, "int32": 8, "int8": 16},
    "asimdhp": {"float16": 16},
    "asimddp": {"int8": 32},
}
_ISA_OF_INTEREST = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                    "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8",
                    "asimd", "asimdhp", "asimddp", "sve", "sve2")
_VENDORS = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD", "0x41": "Arm", "0x61": "Apple", "0x51": "Qualcomm"}
_ARM_PARTS = {"0xd03": "Cortex-A53", "0xd08": "Cortex-A72", "0xd0b": "Cortex-A76", "0xd0c": "Neoverse-N1",
              "0xd40": "Neoverse-V1", "0xd4f": "Neoverse-V2"}
_KERNEL_LAUNCH_S = 2e-6  # used only when measure_launch is not run
_SUBGRAPH_LAUNCH_S = 20e-6
_BYTES_PER_S_PER_CORE = 8e9  # memory bandwidth estimate when nothing better is known
_WATTS_PER_CORE = 5.0


@dataclass
class CpuInfo:
    """What /proc/cpuinfo (or its stand-ins) says about the CPU."""

    model: str = ""
    vendor: str = ""
    flags: set[str] = field(default_factory=set)
    physical_cores: int | None = None
    mhz: float | None = None


def parse_cpuinfo(text: str) -> CpuInfo:
    """Read model, vendor, ISA flags, physical cores and current MHz from /proc/cpuinfo text (x86 or Arm)."""
    info = CpuInfo()
    cores: set[tuple[str, str]] = set()
    physical, part = "0", ""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key in ("model name", "model") and not info.model and not value.isdigit():
            info.model = value
        elif key in ("vendor_id", "cpu implementer") and not info.vendor:
            info.vendor = _VENDORS.get(value, value)
        elif key in ("flags", "features"):
            info.flags.update(value.split())
        elif key == "physical id":
            physical = value
        elif key == "core id":
            cores.add((physical, value))
        elif key == "cpu mhz" and info.mhz is None:
            info.mhz = float(value)
        elif key == "cpu part":
            part = value
    if not info.model and part in _ARM_PARTS:
        info.model = _ARM_PARTS[part]
    info.physical_cores = len(cores) or None
    return info


def peak_rates(flags: set[str]) -> dict[str, int]:
    """Ops per cycle per core for each dtype, from the ISA flags (best matching entry of the rate table)."""
    rates: dict[str, int] = {}
    for flag, table in _RATES.items():
        if flag == "" or flag in flags:
            for dtype, rate in table.items():
                rates[dtype] = max(rates.get(dtype, 0), rate)
    return rates


def describe_host(info: CpuInfo, *, threads: int, clock_hz: float | None, memory_bytes: int | None,
                  cache_bytes: int | None, machine: str = "",
                  launch: tuple[float, float] | None = None) -> MachineDescription:
    """A machine description from detected facts; what was not detected is estimated and listed as such.

    ``launch``: measured (kernel, subgraph) launch overheads (``measure_launch``); without, estimates.
    """
    estimates = ["peak_ops", "memory.bandwidth", "tdp_watts", "host_link.bandwidth"]
    if launch is None:
        launch, estimates = (_KERNEL_LAUNCH_S, _SUBGRAPH_LAUNCH_S), [*estimates, "launch"]
    cores = info.physical_cores or threads
    if clock_hz is None:
        clock_hz, estimates = 2.0e9, [*estimates, "clock_hz"]
    if memory_bytes is None:
        memory_bytes, estimates = 8 * 2**30, [*estimates, "memory.capacity"]
    if cache_bytes is None:
        cache_bytes, estimates = cores * 2**20, [*estimates, "on_chip.capacity"]
    bandwidth = min(max(cores * _BYTES_PER_S_PER_CORE, 10e9), 400e9)
    isa = [f for f in _ISA_OF_INTEREST if f in info.flags]
    data = {
        "name": HOST_PRESET,
        "kind": "cpu",
        "backend": "cpu_c",
        "vendor": info.vendor or "unknown",
        "model": info.model or machine or "unknown CPU",
        "clock_hz": clock_hz,
        "isa": isa,
        "compute": {"units": cores, "unit_name": "core", "threads": threads},
        "peak_ops": {dtype: cores * clock_hz * rate for dtype, rate in peak_rates(info.flags).items()},
        "memory": {"capacity": memory_bytes, "bandwidth": bandwidth, "kind": "host DRAM"},
        "on_chip": {"capacity": cache_bytes, "kind": "caches"},
        "host_link": {"kind": "host memory", "bandwidth": bandwidth, "latency": 0, "shared_memory": True},
        "launch": {"kernel": launch[0], "subgraph": launch[1]},
        "tdp_watts": cores * _WATTS_PER_CORE,
        "capability": {"ops": "*", "dtypes": ["float64", "float32", "float16", "bfloat16", "int64", "int32", "int16",
                                             "int8", "uint64", "uint32", "uint16", "uint8", "bool"]},
        "sources": ["detected from /proc/cpuinfo, /proc/meminfo and /sys/devices/system/cpu; "
                    "peak = cores x clock x ops per cycle for the ISA flags (an estimate); "
                    "launch overheads measured on this host (measure_launch: a subgraph is an inline run through the "
                    "device API, minus its kernel)"],
        "estimates": estimates,
    }
    return parse_description(data, source="detected host CPU")


def is_this_host(description: MachineDescription) -> bool:
    """Whether ``description`` is this machine's detected CPU (whose costs can be measured), not a chip described."""
    return description.name == HOST_PRESET


@functools.cache
def detect_host() -> MachineDescription:
    """This machine's CPU as a machine description (detected once per process)."""
    info = parse_cpuinfo(_read("/proc/cpuinfo") or "")
    if not info.flags and platform.machine() in ("aarch64", "arm64"):
        info.flags.add("asimd")  # Advanced SIMD is mandatory on AArch64

    def describe(launch: tuple[float, float] | None) -> MachineDescription:
        return describe_host(info, threads=os.cpu_count() or 1,
                             clock_hz=_max_clock_hz() or (info.mhz * 1e6 if info.mhz else None),
                             memory_bytes=_memory_bytes(), cache_bytes=_cache_bytes(),
                             machine=platform.processor() or platform.machine(), launch=launch)

    return describe(measure_launch(describe(None)))


def measure_launch(description: MachineDescription, repeats: int = 201) -> tuple[float, float]:
    """(kernel, subgraph) launch overheads of this host, measured: medians of ``repeats`` tries.

    A kernel launched from host code costs at least one dispatch of a vectorized op from Python (timed: a
    one-element NumPy add into a preallocated output). A subgraph is what the runtime does for a host
    subgraph: a launch through the device API that computes on the caller's thread (``run_here``), timed on
    ``description``'s own driver (``measure_subgraph_launch``).
    """
    a, out = np.ones(1, np.float32), np.empty(1, np.float32)
    kernel = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.add(a, a, out=out)
        kernel.append(time.perf_counter() - start)
    return statistics.median(kernel), measure_subgraph_launch(description, repeats)


def measure_subgraph_launch(description: MachineDescription, repeats: int = 201) -> float:
    """Seconds a host subgraph costs beyond its kernels, measured as the runtime spends them.

    The runtime runs a host subgraph inline: ``run_here`` on the device's driver, then ``wait``, with inputs
    and outputs bound to buffers it already holds. Timed here on the driver of ``description``'s backend (the
    reference interpreter's when that one cannot build, e.g. no C compiler), for a program of one kernel and
    one of three (one-element softmaxes, which no backend fuses), interleaved; the launch is the one-kernel
    time minus one kernel, half the difference of the two.
    """
    for driver in dict.fromkeys((description.backend, "reference")):
        try:
            factory = registry.drivers.find(driver)
            if factory is not None:
                return _time_inline_launch(factory(description, f"local/launch-probe:{driver}"), repeats)
        except HetflowError:  # this driver does not load or cannot build the probe here: the next one can
            continue
    return _SUBGRAPH_LAUNCH_S


def _softmax_chain(depth: int) -> Graph:
    graph = Graph(f"launch_probe_{depth}")
    h = graph.add_input("x", "float32", (1, 1))
    for i in range(depth):
        h = graph.add_node("softmax", [h], {"axis": -1}, name=f"k{i}").outputs[0]
    graph.outputs.append(h)
    return graph


def _time_inline_launch(device: Any, repeats: int) -> float:
    """Median seconds of one inline run of a one-kernel program, minus one kernel (see the caller)."""
    try:
        x = device.alloc(((1, 1), "float32"))
        device.write(x, np.ones((1, 1), np.float32))
        runs = []
        for depth in (1, 3):
            graph = _softmax_chain(depth)
            program = device.load(graph)
            runs.append((program, {"x": x, graph.outputs[0].name: device.alloc(((1, 1), "float32"))}, []))
        for _ in range(repeats):
            for program, bindings, times in runs:
                start = time.perf_counter()
                device.run_here(program, bindings).wait()
                times.append(time.perf_counter() - start)
        one, three = (statistics.median(times) for _, _, times in runs)
        return max(one - (three - one) / 2, 0.0)
    finally:
        device.close()


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _max_clock_hz() -> float | None:
    khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    return float(khz) * 1e3 if khz and khz.strip().isdigit() else None


def _memory_bytes() -> int | None:
    text = _read("/proc/meminfo")
    m = re.search(r"^MemTotal:\s+(\d+)\s*kB", text or "", re.MULTILINE)
    if m:
        return int(m.group(1)) * 1024
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _cache_bytes() -> int | None:
    """Data and unified caches of every level, each shared cache counted once."""
    seen: set[tuple[str, str, str]] = set()
    total = 0
    for index in sorted(Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cache/index[0-9]*")):
        level, kind, size, shared = (_read(index / f) for f in ("level", "type", "size", "shared_cpu_list"))
        if not (level and kind and size) or kind.strip() == "Instruction":
            continue
        key = (level.strip(), kind.strip(), (shared or str(index.parent.parent)).strip())
        m = re.match(r"(\d+)([KMG]?)", size.strip())
        if key in seen or not m:
            continue
        seen.add(key)
        total += int(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2)]
    return total or None
