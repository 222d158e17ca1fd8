"""The ONNX mapping table: one function per ONNX op, named like the op, versioned by opset.

A mapping function takes the import context, the node's inputs as IR values (None for an
absent optional input) and the node's attributes as keyword parameters whose defaults are the
ONNX spec's. It emits IR nodes through the context and returns the output value(s).
"""

from __future__ import annotations

import bisect
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass

from hetflow.ir.errors import HetflowError, UnsupportedOpError

MapFn = Callable[..., object]


@dataclass(frozen=True)
class Mapping:
    op_type: str
    domain: str
    since: int
    fn: MapFn

    @property
    def module(self) -> str:
        return self.fn.__module__.rsplit(".", 1)[-1]


_TABLE: dict[tuple[str, str], list[Mapping]] = {}
_VERSION_SUFFIX = re.compile(r"_v(\d+)$")


def onnx_op(op_type: str | None = None, *, since: int = 1, domain: str = "") -> Callable[[MapFn], MapFn]:
    """Register a mapping. ``Clip_v11`` maps op ``Clip`` from opset 11 on unless ``op_type`` says otherwise."""

    def wrap(fn: MapFn) -> MapFn:
        name = op_type or _VERSION_SUFFIX.sub("", fn.__name__)
        entries = _TABLE.setdefault((name, domain), [])
        if any(m.since == since for m in entries):
            raise HetflowError(f"ONNX op {name!r} (domain {domain or 'ai.onnx'!r}) is mapped twice for opset {since}")
        bisect.insort(entries, Mapping(name, domain, since, fn), key=lambda m: m.since)
        return fn

    return wrap


def _load() -> None:
    import hetflow.frontends.onnx.mappings  # noqa: F401  (registers the table)


def lookup(op_type: str, domain: str, opset: int, where: str) -> Mapping:
    """The mapping with the highest ``since`` not above ``opset``."""
    _load()
    domain = "" if domain == "ai.onnx" else domain
    entries = _TABLE.get((op_type, domain))
    if not entries:
        # The opset passed is the model's ai.onnx one: name it only for that domain.
        version = f", opset {opset}" if not domain else ""
        raise UnsupportedOpError(
            f"{where}: ONNX op '{op_type}' (domain '{domain or 'ai.onnx'}'{version}) is not supported; "
            f"hetflow maps {len(_TABLE)} ONNX ops (run `hetflow ops` for the list)"
        )
    usable = [m for m in entries if m.since <= opset]
    if not usable:
        raise UnsupportedOpError(
            f"{where}: ONNX op '{op_type}' is mapped only from opset {entries[0].since}, the model uses opset {opset}"
        )
    return usable[-1]


def table() -> list[Mapping]:
    """Every registered mapping, sorted by op type and version."""
    _load()
    return sorted((m for ms in _TABLE.values() for m in ms), key=lambda m: (m.domain, m.op_type, m.since))


def attribute_names(fn: MapFn) -> set[str]:
    return {p.name for p in inspect.signature(fn).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}
