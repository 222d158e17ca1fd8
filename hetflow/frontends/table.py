"""The mapping-table machinery every frontend shares: one function per source op, versioned.

A frontend (ONNX, PyTorch's ATen, TFLite, ...) owns one ``MappingTable``. A mapping function takes the
conversion context (``hetflow.frontends.context.Ctx``), the source node's inputs as IR values (None for an
absent optional input) and its attributes as keyword-only parameters whose defaults are the source format's
spec defaults; it emits IR through the context and returns the output value(s). Mappings are versioned:
``Clip_v11`` maps ``Clip`` from version 11 on, and a lookup picks the highest ``since`` not above the model's
version (its opset, its builtin-op version, ...). Registering the same op and version twice raises.
"""

from __future__ import annotations

import bisect
import importlib
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hetflow.ir.errors import HetflowError, UnsupportedOpError

MapFn = Callable[..., object]

_VERSION_SUFFIX = re.compile(r"_v(\d+)$")


@dataclass(frozen=True)
class Mapping:
    """One entry: ``op_type`` in ``domain`` maps through ``fn`` from version ``since`` on."""

    op_type: str
    domain: str
    since: int
    fn: MapFn

    @property
    def module(self) -> str:
        """The op family: the last part of the module the mapping lives in."""
        return self.fn.__module__.rsplit(".", 1)[-1]

    @property
    def attributes(self) -> set[str]:
        """The source attributes the mapping accepts (its keyword-only parameters)."""
        return attribute_names(self.fn)


class MappingTable:
    """A frontend's versioned op table. ``modules`` are imported on first lookup (they register the mappings).

    ``source`` names the format in messages ("ONNX", "ATen", "TFLite"); ``version_name`` what its versions are
    called ("opset", "version"); ``default_domain`` how the empty domain is shown; ``listing`` the command that
    prints the table, named in the unsupported-op error.
    """

    def __init__(self, source: str, *, modules: Iterable[str] = (), version_name: str = "version",
                 default_domain: str = "", listing: str = "hetflow ops") -> None:
        self.source = source
        self.version_name = version_name
        self.default_domain = default_domain
        self.listing = listing
        self._modules = tuple(modules)
        self._entries: dict[tuple[str, str], list[Mapping]] = {}
        self._loaded = False

    def register(self, op_type: str | None = None, *, since: int | None = None,
                 domain: str = "") -> Callable[[MapFn], MapFn]:
        """Decorator: map ``op_type`` from version ``since`` on.

        Both default from the function's name: ``Clip_v11`` is op ``Clip`` from version 11; no suffix is version 1.
        """

        def wrap(fn: MapFn) -> MapFn:
            self.load()  # the table's own modules first, so that a later entry for the same op is the one that raises
            suffix = _VERSION_SUFFIX.search(fn.__name__)
            name = op_type or _VERSION_SUFFIX.sub("", fn.__name__)
            version = since if since is not None else int(suffix.group(1)) if suffix else 1
            key = (name, self._domain(domain))
            entries = self._entries.setdefault(key, [])
            if any(m.since == version for m in entries):
                raise HetflowError(f"{self.source} op {name!r} ({self._shown(key[1])}) is mapped twice "
                                   f"for {self.version_name} {version}")
            bisect.insort(entries, Mapping(name, key[1], version, fn), key=lambda m: m.since)
            return fn

        return wrap

    def lookup(self, op_type: str, domain: str, version: int, where: str) -> Mapping:
        """The mapping with the highest ``since`` not above ``version``; UnsupportedOpError naming ``where``."""
        self.load()
        domain = self._domain(domain)
        entries = self._entries.get((op_type, domain))
        if not entries:
            raise UnsupportedOpError(
                f"{where}: {self.source} op '{op_type}' ({self._shown(domain)}, {self.version_name} {version}) is "
                f"not supported; hetflow maps {len(self._entries)} {self.source} ops (run `{self.listing}` for the list)")
        usable = [m for m in entries if m.since <= version]
        if not usable:
            raise UnsupportedOpError(
                f"{where}: {self.source} op '{op_type}' is mapped only from {self.version_name} {entries[0].since}, "
                f"the model uses {self.version_name} {version}")
        return usable[-1]

    def entries(self) -> list[Mapping]:
        """Every registered mapping, sorted by domain, op type and version."""
        self.load()
        return sorted((m for ms in self._entries.values() for m in ms), key=lambda m: (m.domain, m.op_type, m.since))

    def op_types(self) -> set[str]:
        self.load()
        return {op for op, _ in self._entries}

    def load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._modules:
                importlib.import_module(module)

    def _domain(self, domain: str) -> str:
        return "" if domain == self.default_domain else domain

    def _shown(self, domain: str) -> str:
        return f"domain '{domain or self.default_domain or '(default)'}'"


def attribute_names(fn: MapFn) -> set[str]:
    """The keyword-only parameters of a mapping function: the attributes it accepts."""
    return {p.name for p in inspect.signature(fn).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}
