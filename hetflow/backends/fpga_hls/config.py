"""Per-layer settings of the FPGA design: precision, reuse factor, lookup tables; and the architecture.

Settings resolve as in hls4ml, most specific last: the model's, then the op type's (an IR op
name such as ``"conv"``, or ``"input"`` for the graph inputs), then the layer's own (a node name,
or a graph input's name). Any field left unset falls through to the next level down.

    HLSConfig.from_dict({
        "architecture": "stream",
        "model": {"precision": "fixed<16,6>", "reuse_factor": 4},
        "op_type": {"softmax": {"precision": {"result": "ufixed<16,0,AP_RND,AP_SAT>"}}},
        "name": {"fc1": {"reuse_factor": 16, "precision": {"weight": "fixed<8,3>"}}},
    })

A precision given as one type applies to a layer's result, weights and biases; a dict names the
roles: ``result``, ``weight``, ``bias``, ``accum`` (default: sized so that sums cannot overflow
or round), ``table`` (lookup-table entries). A reuse factor that does not divide a layer's
multiplications is snapped to the nearest one that does, with a warning saying to what.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from hetflow.backends.fpga_hls.fixedpoint import FixedPointError, FixedType
from hetflow.ir.errors import HetflowError

Architecture = Literal["parallel", "stream"]
ARCHITECTURES = ("parallel", "stream")
ROLES = ("result", "weight", "bias", "accum", "table")
DEFAULT_PRECISION = FixedType(16, 6)
DEFAULT_TABLE_PRECISION = FixedType(18, 2)
_SPEC_KEYS = ("precision", "reuse_factor", "table_size")


class HLSConfigError(HetflowError, ValueError):
    """A setting that cannot be used: names the level, the layer and the field."""


class ReuseFactorWarning(UserWarning):
    """A reuse factor was not legal for a layer and was changed."""


@dataclass(frozen=True)
class LayerSpec:
    """Settings given at one level; None (or a missing role) falls through to the level below."""

    precision: tuple[tuple[str, FixedType], ...] = ()
    reuse_factor: int | None = None
    table_size: int | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | LayerSpec, where: str) -> LayerSpec:
        if isinstance(raw, LayerSpec):
            return raw
        if not isinstance(raw, Mapping):
            raise HLSConfigError(f"{where}: expected a table of settings ({', '.join(_SPEC_KEYS)}), got {raw!r}")
        unknown = sorted(set(raw) - set(_SPEC_KEYS))
        if unknown:
            raise HLSConfigError(f"{where}: unknown setting(s) {unknown}; expected {', '.join(_SPEC_KEYS)}")
        return cls(_parse_precision(raw.get("precision"), where),
                   _positive(raw.get("reuse_factor"), f"{where}.reuse_factor"),
                   _table_size(raw.get("table_size"), f"{where}.table_size"))

    def role(self, name: str) -> FixedType | None:
        return dict(self.precision).get(name)


def _parse_precision(raw: Any, where: str) -> tuple[tuple[str, FixedType], ...]:
    if raw is None:
        return ()
    try:
        if isinstance(raw, (str, FixedType)):
            t = FixedType.parse(raw)
            return (("result", t), ("weight", t), ("bias", t))
        if isinstance(raw, Mapping):
            unknown = sorted(set(raw) - set(ROLES))
            if unknown:
                raise HLSConfigError(f"{where}.precision: unknown role(s) {unknown}; expected {', '.join(ROLES)}")
            return tuple((role, FixedType.parse(raw[role])) for role in ROLES if role in raw)
    except FixedPointError as exc:
        raise HLSConfigError(f"{where}.precision: {exc}") from None
    raise HLSConfigError(f"{where}.precision: expected a type such as 'fixed<16,6>' or a table of roles, got {raw!r}")


def _positive(raw: Any, where: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise HLSConfigError(f"{where}: expected a positive integer, got {raw!r}")
    return raw


def _table_size(raw: Any, where: str) -> int | None:
    value = _positive(raw, where)
    if value is not None and (value & (value - 1) or value < 4):
        raise HLSConfigError(f"{where}: a lookup table's size must be a power of two of at least 4, got {value}")
    return value


@dataclass(frozen=True)
class LayerSettings:
    """The settings one layer is generated with, after resolution."""

    result: FixedType
    weight: FixedType
    bias: FixedType
    accum: FixedType | None
    table: FixedType
    reuse_factor: int
    table_size: int


@dataclass(frozen=True)
class HLSConfig:
    """The whole configuration: architecture plus settings at model, op-type and layer-name level."""

    architecture: Architecture = "parallel"
    model: LayerSpec = field(default_factory=lambda: LayerSpec(
        (("result", DEFAULT_PRECISION), ("weight", DEFAULT_PRECISION), ("bias", DEFAULT_PRECISION),
         ("table", DEFAULT_TABLE_PRECISION)), 1, 1024))
    op_type: tuple[tuple[str, LayerSpec], ...] = ()
    name: tuple[tuple[str, LayerSpec], ...] = ()
    model_precision_given: bool = False
    """Whether the user set a model-wide precision (then it is used as given, not calibrated)."""

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> HLSConfig:
        """Read the hls4ml-style nested dict shown in the module docstring."""
        raw = dict(raw or {})
        unknown = sorted(set(raw) - {"architecture", "model", "op_type", "name"})
        if unknown:
            raise HLSConfigError(f"fpga_hls config: unknown key(s) {unknown}; expected architecture, model, op_type, name")
        base = cls()
        arch = raw.get("architecture", base.architecture)
        if arch not in ARCHITECTURES:
            raise HLSConfigError(f"fpga_hls config: architecture must be one of {', '.join(ARCHITECTURES)}, got {arch!r}")
        model = LayerSpec.parse(raw.get("model", {}), "model")
        return cls(arch, merge_specs(base.model, model),
                   tuple((k, LayerSpec.parse(v, f"op_type.{k}")) for k, v in dict(raw.get("op_type", {})).items()),
                   tuple((k, LayerSpec.parse(v, f"name.{k}")) for k, v in dict(raw.get("name", {})).items()),
                   bool(model.precision))

    @classmethod
    def of(cls, config: HLSConfig | Mapping[str, Any] | None) -> HLSConfig:
        return config if isinstance(config, HLSConfig) else cls.from_dict(config)

    def resolve(self, name: str, op_type: str) -> LayerSettings:
        """The settings of layer ``name`` (an IR node or graph input) of op type ``op_type``."""
        levels = [self.model, dict(self.op_type).get(op_type), dict(self.name).get(name)]
        spec = self.model
        for level in levels[1:]:
            if level is not None:
                spec = merge_specs(spec, level)
        roles = dict(spec.precision)
        return LayerSettings(roles["result"], roles.get("weight", roles["result"]), roles.get("bias", roles["result"]),
                             roles.get("accum"), roles.get("table", DEFAULT_TABLE_PRECISION),
                             spec.reuse_factor or 1, spec.table_size or 1024)

    def with_model(self, **settings: Any) -> HLSConfig:
        """A copy with model-level settings replaced (``precision=``, ``reuse_factor=``, ``table_size=``)."""
        spec = LayerSpec.parse(settings, "model")
        return replace(self, model=merge_specs(self.model, spec),
                       model_precision_given=self.model_precision_given or bool(spec.precision))

    def with_layer(self, name: str, **settings: Any) -> HLSConfig:
        """A copy with one layer's settings merged in."""
        current = dict(self.name)
        spec = LayerSpec.parse(settings, f"name.{name}")
        current[name] = merge_specs(current[name], spec) if name in current else spec
        return replace(self, name=tuple(current.items()))

    def with_architecture(self, architecture: Architecture) -> HLSConfig:
        if architecture not in ARCHITECTURES:
            raise HLSConfigError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {architecture!r}")
        return replace(self, architecture=architecture)

    def names(self) -> list[str]:
        """Layer names the config mentions (checked against the graph, so that a typo is not silently ignored)."""
        return [k for k, _ in self.name]


def merge_specs(lower: LayerSpec, upper: LayerSpec) -> LayerSpec:
    """``upper``'s settings over ``lower``'s, role by role."""
    roles = dict(lower.precision)
    roles.update(dict(upper.precision))
    return LayerSpec(tuple(roles.items()), upper.reuse_factor or lower.reuse_factor,
                     upper.table_size or lower.table_size)


# ---------------------------------------------------------------- reuse factors


def legal_reuse_factors(n_mult: int) -> list[int]:
    """Reuse factors a layer of ``n_mult`` multiplications per step takes: its divisors (no idle multiplier)."""
    small = [d for d in range(1, int(n_mult ** 0.5) + 1) if n_mult % d == 0]
    return sorted(set(small + [n_mult // d for d in small]))


def snap_reuse_factor(requested: int, n_mult: int, layer: str) -> int:
    """The legal reuse factor nearest ``requested`` (the larger on a tie); warns when it differs."""
    if n_mult <= 0:
        return 1
    legal = legal_reuse_factors(n_mult)
    chosen = min(legal, key=lambda r: (abs(r - requested), -r))
    if chosen != requested:
        near = sorted(sorted(legal, key=lambda r: abs(r - requested))[:4])
        why = (f"it exceeds the layer's {n_mult} multiplications per step" if requested > n_mult
               else f"it does not divide the layer's {n_mult} multiplications per step")
        warnings.warn(ReuseFactorWarning(
            f"layer {layer!r}: reuse_factor {requested} is not legal ({why}); using {chosen} instead "
            f"(legal values near it: {', '.join(map(str, near))})"), stacklevel=3)
    return chosen
