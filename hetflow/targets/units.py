"""Quantities in machine descriptions: a plain number in base units, or a string as a datasheet writes it.

``"4.8 TB/s"``, ``"141 GB"``, ``"80 GiB"``, ``"1.98 GHz"``, ``"2 us"``, ``"100 Mbit/s"``, ``"989.5 TFLOP/s"``.
Decimal prefixes are powers of 1000, binary ones (Ki, Mi, Gi, Ti) powers of 1024; bits are divided by 8.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}
_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


@dataclass(frozen=True)
class Unit:
    """One physical quantity: the unit words it accepts after a prefix, and each word's factor."""

    what: str
    words: dict[str, float]
    example: str


BYTES = Unit("bytes", {"B": 1.0, "bit": 1 / 8}, "'64 GB' or '80 GiB'")
BANDWIDTH = Unit("bytes per second", {"B/s": 1.0, "bit/s": 1 / 8, "bps": 1 / 8}, "'4.8 TB/s' or '100 Mbit/s'")
FREQUENCY = Unit("hertz", {"Hz": 1.0}, "'1.98 GHz'")
OPS_RATE = Unit("operations per second", {"FLOP/s": 1.0, "FLOPS": 1.0, "OP/s": 1.0, "OPS": 1.0, "ops/s": 1.0},
                "'989.5 TFLOP/s' or '33.3 TOPS'")
POWER = Unit("watts", {"W": 1.0}, "'350 W'")

_NUMBER = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?)\s*(.*?)\s*$")


def parse_quantity(raw: object, unit: Unit) -> float:
    """A non-negative number in base units; raises ValueError saying what was expected."""
    if isinstance(raw, bool):
        raise ValueError(f"expected {unit.what}: a number or a string like {unit.example}")
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str):
        value = _parse_string(raw, unit)
    else:
        raise ValueError(f"expected {unit.what}: a number or a string like {unit.example}")
    if value < 0 or value != value:
        raise ValueError(f"expected a non-negative amount of {unit.what}, got {raw!r}")
    return value


def parse_seconds(raw: object) -> float:
    """A duration in seconds from a number or a string like ``'20 ms'`` or ``'2 us'``."""
    if isinstance(raw, str):
        m = _NUMBER.match(raw)
        if m and m.group(2) in _SECONDS:
            return float(m.group(1).replace("_", "")) * _SECONDS[m.group(2)]
        raise ValueError(f"expected a duration like '20 ms' or '2 us', got {raw!r}")
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and raw >= 0:
        return float(raw)
    raise ValueError(f"expected a non-negative duration in seconds or a string like '20 ms', got {raw!r}")


def _parse_string(raw: str, unit: Unit) -> float:
    m = _NUMBER.match(raw)
    if not m:
        raise ValueError(f"expected {unit.what} like {unit.example}, got {raw!r}")
    number, rest = float(m.group(1).replace("_", "")), m.group(2)
    for word, factor in sorted(unit.words.items(), key=lambda kv: -len(kv[0])):
        if rest.endswith(word):
            prefix = rest[: -len(word)].strip()
            scale = _BINARY.get(prefix, _DECIMAL.get(prefix))
            if scale is not None:
                return number * scale * factor
    if rest in _DECIMAL:  # a bare prefix, e.g. "67 T" for ops/s
        return number * _DECIMAL[rest]
    raise ValueError(f"expected {unit.what} like {unit.example}, got {raw!r}")


def format_quantity(value: float, symbol: str, *, binary: bool = False) -> str:
    """``format_quantity(4.8e12, "B/s") == "4.8 TB/s"``; binary prefixes for capacities when asked."""
    if value == float("inf"):
        return f"unlimited {symbol}"
    steps = (("Ti", 2.0**40), ("Gi", 2.0**30), ("Mi", 2.0**20), ("Ki", 2.0**10)) if binary else (
        ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3))
    for prefix, scale in steps:
        if value >= scale:
            return f"{value / scale:.4g} {prefix}{symbol}"
    return f"{value:.4g} {symbol}"


def format_bytes(value: float) -> str:
    """Binary prefixes for sizes given in whole MiB ("512 KiB", "80 GiB"), decimal ones otherwise ("141 GB")."""
    return format_quantity(value, "B", binary=value >= 2**10 and value % 2**10 == 0 and value % 1e3 != 0)


def format_seconds(value: float) -> str:
    for word, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if value >= scale:
            return f"{value / scale:.4g} {word}"
    return "0 s"
