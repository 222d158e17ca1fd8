"""Which frontend reads a model: ``hf.load`` asks each registered frontend, by content, then by file suffix.

A frontend is a ``Frontend`` record: how to recognise its files (``sniff`` on the first bytes, ``suffixes``) or
its in-memory objects (``accepts``), and ``load`` (source -> Graph). Built-in frontends are listed here by
module so that nothing is imported until a model is loaded; others register through the entry-point group
``hetflow.frontends`` (``name = "pkg.module:FRONTEND"``) or ``register_frontend``. ONNX has no magic number
(a protobuf), so it is the fallback: a file no other frontend recognises is read as ONNX, whose parser gives
the one-line error for bytes that are not a model.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hetflow.ir import Graph
from hetflow.ir.errors import HetflowError, ModelError

_log = logging.getLogger("hetflow.frontends")

ENTRY_POINT_GROUP = "hetflow.frontends"
SNIFF_BYTES = 64
"""How many leading bytes of a file ``sniff`` sees."""


@dataclass(frozen=True)
class Frontend:
    """How one model format is recognised and imported."""

    name: str
    load: Callable[..., Graph]
    """``load(source, **options) -> Graph``; ``source`` is a path, bytes, or an accepted object."""
    sniff: Callable[[bytes], bool] = lambda head: False
    suffixes: tuple[str, ...] = ()
    accepts: Callable[[Any], bool] = lambda obj: False
    fallback: bool = False
    """Read files no other frontend recognises (at most one frontend, ONNX)."""


_BUILTIN = {"onnx": "hetflow.frontends.onnx:FRONTEND"}
_FRONTENDS: dict[str, Frontend] = {}


def register_frontend(frontend: Frontend) -> None:
    """Add a frontend; registering a name twice raises."""
    if frontend.name in _FRONTENDS:
        raise HetflowError(f"frontend {frontend.name!r} is registered twice")
    _FRONTENDS[frontend.name] = frontend


def frontends() -> list[Frontend]:
    """Every frontend: built-ins, then entry points, then those registered by hand (each loaded once)."""
    specs = dict(_BUILTIN)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        specs.setdefault(ep.name, ep.value)
    for name, spec in specs.items():
        if name not in _FRONTENDS:
            _load_spec(name, spec)
    return list(_FRONTENDS.values())


def _load_spec(name: str, spec: str) -> None:
    module, _, attr = spec.partition(":")
    try:
        frontend = getattr(importlib.import_module(module), attr or "FRONTEND")
    except (ImportError, AttributeError) as exc:
        # A broken plug-in must not stop the other formats from loading; built-ins keep their heavy imports lazy.
        _log.warning("frontend %r (%s) cannot be loaded: %s", name, spec, exc)
        return
    if name not in _FRONTENDS:
        register_frontend(frontend)


def load_model(source: Any, **options: Any) -> Graph:
    """Import ``source`` (a path, bytes, or a framework object) with the frontend that recognises it."""
    if isinstance(source, Graph):
        return source
    return pick_frontend(source).load(source, **options)


def pick_frontend(source: Any) -> Frontend:
    """The frontend for ``source``: by its leading bytes, then its suffix, then the fallback."""
    known = frontends()
    if not isinstance(source, (str, Path, bytes)):
        for frontend in known:
            if frontend.accepts(source):
                return frontend
        raise ModelError(f"cannot import a {type(source).__name__}: hetflow reads "
                         f"{', '.join(f.name for f in known)} models (a path, bytes, or their model objects)")
    head = source[:SNIFF_BYTES] if isinstance(source, bytes) else _head(Path(source))
    for frontend in known:
        if head and frontend.sniff(head):
            return frontend
    suffix = "" if isinstance(source, bytes) else Path(source).suffix.lower()
    for frontend in known:
        if suffix and suffix in frontend.suffixes:
            return frontend
    for frontend in known:
        if frontend.fallback:
            return frontend
    raise ModelError(f"{source if not isinstance(source, bytes) else '<bytes>'}: no frontend recognises this model")


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(SNIFF_BYTES)
    except OSError:
        return b""  # the frontend's own reader reports the missing or unreadable file with its name
