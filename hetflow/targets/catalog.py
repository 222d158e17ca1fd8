"""The preset catalog: machine descriptions shipped in presets/*.toml, the detected host, and a text rendering."""

from __future__ import annotations

import functools
from pathlib import Path

from hetflow.targets.host import HOST_PRESET, detect_host
from hetflow.targets.schema import DescriptionError, MachineDescription, load_description
from hetflow.targets.units import format_bytes, format_quantity, format_seconds

PRESET_DIR = Path(__file__).parent / "presets"
"""One TOML file per chip, named after the preset with "/" written as "_" (``nvidia_h200.toml``)."""


def list_presets() -> list[str]:
    """Names of every machine preset, the detected host (``host/cpu``) included."""
    return sorted([HOST_PRESET, *(p.stem.replace("_", "/", 1) for p in PRESET_DIR.glob("*.toml"))])


def preset_path(name: str) -> Path:
    """The TOML file of the preset ``name`` (it need not exist)."""
    return PRESET_DIR / f"{name.replace('/', '_', 1)}.toml"


@functools.cache
def get_preset(name: str) -> MachineDescription:
    """The machine preset called ``name``; an unknown name is a one-line error listing the known ones."""
    if name == HOST_PRESET:
        return detect_host()
    path = preset_path(name)
    if "/" not in name or not path.is_file():
        raise DescriptionError(f"unknown machine preset {name!r}; known presets: {', '.join(list_presets())}")
    desc = load_description(path)
    if desc.name != name:
        raise DescriptionError(f"{path}: name: expected {name!r} (from the file name), got {desc.name!r}")
    return desc


def render_description(desc: MachineDescription) -> str:
    """A human-readable page for one description; estimated figures are marked with ``~``."""

    def mark(path: str, text: str) -> str:
        return f"~{text}" if desc.is_estimate(path) else text

    link = desc.host_link
    rows = [
        ("kind", f"{desc.kind} (backend {desc.backend})"),
        ("vendor", f"{desc.vendor}{' ' + desc.model if desc.model else ''}"),
        ("clock", mark("clock_hz", format_quantity(desc.clock_hz, "Hz"))),
        ("compute", f"{desc.compute.units} {desc.compute.unit_name}"
                    + (f", {desc.compute.threads} threads" if desc.compute.threads else "")),
        ("peak", ", ".join(f"{dt} {mark(f'peak_ops.{dt}', format_quantity(v, 'op/s'))}"
                           for dt, v in desc.peak_ops.items())),
        ("memory", f"{mark('memory.capacity', format_bytes(desc.memory.capacity))} at "
                   f"{mark('memory.bandwidth', format_quantity(desc.memory.bandwidth, 'B/s'))}"
                   + (f" ({desc.memory.kind})" if desc.memory.kind else "")),
        ("on-chip", mark("on_chip.capacity", format_bytes(desc.on_chip.capacity))
                    + (f" ({desc.on_chip.kind})" if desc.on_chip.kind else "")),
        ("host link", f"{link.kind}, {mark('host_link.bandwidth', format_quantity(link.bandwidth, 'B/s'))}, "
                      f"{mark('host_link.latency', format_seconds(link.latency))}"
                      + (", shared memory" if link.shared_memory else "")),
        ("launch", mark("launch", f"{format_seconds(desc.launch.kernel)} per kernel, "
                                  f"{format_seconds(desc.launch.subgraph)} per subgraph")),
        ("power", mark("tdp_watts", f"{desc.tdp_watts:g} W TDP")),
    ]
    if desc.isa:
        rows.append(("isa", " ".join(desc.isa)))
    if desc.resources:
        rows.append(("resources", ", ".join(f"{k} {v:,}" for k, v in desc.resources.items())))
    cap = desc.capability
    ops = "all IR ops" if cap.ops == ("*",) else f"{len(cap.ops)}: {', '.join(cap.ops)}"
    if cap.exclude:
        ops += f" (except {', '.join(cap.exclude)})"
    rows += [("ops", ops), ("dtypes", ", ".join(cap.dtypes))]
    rows += [("rule", r.summary() + (f" ({r.note})" if r.note else "")) for r in cap.rules]
    rows += [("source", s) for s in desc.sources]
    lines = [desc.name] + [f"  {label:<10} {text}" for label, text in rows]
    if desc.estimates:
        lines.append("  ~ marks an estimate, not a datasheet figure")
    return "\n".join(lines)
