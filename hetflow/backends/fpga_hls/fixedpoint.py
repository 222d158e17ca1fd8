"""A NumPy model of Xilinx ``ap_fixed``: types, conversion from float, re-quantization, exact arithmetic.

A fixed-point tensor is held as its raw two's-complement integers (``int64``) plus its
``FixedType``: the value is ``raw * 2**-frac``. Every conversion applies the type's quantization
(rounding) mode to the bits shifted out and then its overflow mode, exactly as the ap_types
headers do, so that the model and the C simulation agree bit for bit (tests check every mode).

Defaults follow ap_fixed and hls4ml: ``AP_TRN`` (floor) and ``AP_WRAP`` (two's-complement wrap).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from hetflow.ir.errors import HetflowError

ROUNDING = ("AP_TRN", "AP_TRN_ZERO", "AP_RND", "AP_RND_ZERO", "AP_RND_MIN_INF", "AP_RND_INF", "AP_RND_CONV")
"""Quantization modes: floor, toward zero, and round-half up / toward zero / down / away from zero / to even."""
OVERFLOW = ("AP_WRAP", "AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM")
"""Overflow modes: wrap, saturate, zero on overflow, saturate to the symmetric range [-max, max]."""
MAX_MODEL_WIDTH = 62
"""Widest type the int64 model holds exactly (a sum of two such values still fits)."""


class FixedPointError(HetflowError, ValueError):
    """A malformed fixed-point type, or one too wide for the model."""


_TYPE = re.compile(r"^\s*(ap_)?(u?)(fixed|int)\s*<\s*([^>]*)>\s*$")


@dataclass(frozen=True)
class FixedType:
    """``ap_fixed<width, integer, rounding, overflow>`` (``ap_ufixed`` when not signed)."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "AP_TRN"
    overflow: str = "AP_WRAP"

    def __post_init__(self) -> None:
        if not 1 <= self.width <= 1024:
            raise FixedPointError(f"fixed-point width {self.width} is outside 1..1024")
        if self.rounding not in ROUNDING:
            raise FixedPointError(f"unknown rounding mode {self.rounding!r}; expected one of {', '.join(ROUNDING)}")
        if self.overflow not in OVERFLOW:
            raise FixedPointError(f"unknown overflow mode {self.overflow!r}; expected one of {', '.join(OVERFLOW)}")

    # ------------------------------------------------------------ parsing and printing
    @classmethod
    def parse(cls, text: str | FixedType) -> FixedType:
        """``fixed<16,6>``, ``ap_fixed<16,6,AP_RND,AP_SAT>``, ``ufixed<8,0>``, ``int<8>``, ``uint<4>``."""
        if isinstance(text, FixedType):
            return text
        m = _TYPE.match(str(text))
        if not m:
            raise FixedPointError(f"cannot read fixed-point type {text!r}; write e.g. 'fixed<16,6>', "
                                  f"'fixed<16,6,AP_RND,AP_SAT>', 'ufixed<8,0>' or 'int<8>'")
        unsigned, kind, body = m.group(2) == "u", m.group(3), [p.strip() for p in m.group(4).split(",")]
        try:
            width = int(body[0])
            if kind == "int":
                if len(body) != 1:
                    raise ValueError
                return cls(width, width, not unsigned)
            integer = int(body[1])
        except (ValueError, IndexError):
            raise FixedPointError(f"cannot read fixed-point type {text!r}: expected <width,integer[,rounding,overflow]>") \
                from None
        modes = [p.upper() if p.upper().startswith("AP_") else "AP_" + p.upper() for p in body[2:]]
        rounding = modes[0] if len(modes) > 0 else "AP_TRN"
        overflow = modes[1] if len(modes) > 1 else "AP_WRAP"
        if len(modes) > 2:
            raise FixedPointError(f"{text!r}: saturation bits (a fifth parameter) are not supported")
        return cls(width, integer, not unsigned, rounding, overflow)

    def __str__(self) -> str:
        modes = "" if (self.rounding, self.overflow) == ("AP_TRN", "AP_WRAP") else f",{self.rounding},{self.overflow}"
        return f"{'' if self.signed else 'u'}fixed<{self.width},{self.integer}{modes}>"

    def cpp(self) -> str:
        """The C++ type, e.g. ``ap_fixed<16,6>`` or ``ap_ufixed<18,2,AP_RND,AP_SAT>``."""
        modes = "" if (self.rounding, self.overflow) == ("AP_TRN", "AP_WRAP") else f", {self.rounding}, {self.overflow}"
        return f"ap_{'' if self.signed else 'u'}fixed<{self.width}, {self.integer}{modes}>"

    # ------------------------------------------------------------ range
    @property
    def frac(self) -> int:
        """Fractional bits (negative when the LSB weighs more than 1)."""
        return self.width - self.integer

    @property
    def min_raw(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_raw(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> float:
        return 2.0 ** -self.frac

    @property
    def min_value(self) -> float:
        return self.min_raw * self.lsb

    @property
    def max_value(self) -> float:
        return self.max_raw * self.lsb

    def with_modes(self, rounding: str | None = None, overflow: str | None = None) -> FixedType:
        return FixedType(self.width, self.integer, self.signed, rounding or self.rounding, overflow or self.overflow)

    def check_modelable(self, where: str = "") -> None:
        if self.width > MAX_MODEL_WIDTH:
            raise FixedPointError(f"{where + ': ' if where else ''}{self} is wider than the {MAX_MODEL_WIDTH} bits the "
                                  f"NumPy fixed-point model holds exactly; narrow it")


# ---------------------------------------------------------------- rounding and overflow


def _round_up(fl_odd: np.ndarray, negative: np.ndarray, above: np.ndarray, exact_half: np.ndarray,
              nonzero: np.ndarray, mode: str) -> np.ndarray:
    """Whether to add one to the floor, given where the dropped part lies relative to half an LSB."""
    if mode == "AP_TRN":
        return np.zeros_like(nonzero)
    if mode == "AP_TRN_ZERO":
        return nonzero & negative
    if mode == "AP_RND":
        return above | exact_half
    if mode == "AP_RND_ZERO":
        return above | (exact_half & negative)
    if mode == "AP_RND_MIN_INF":
        return above
    if mode == "AP_RND_INF":
        return above | (exact_half & ~negative)
    if mode == "AP_RND_CONV":
        return above | (exact_half & fl_odd)
    raise FixedPointError(f"unknown rounding mode {mode!r}")


def _overflow_int(q: np.ndarray, t: FixedType) -> np.ndarray:
    lo, hi = t.min_raw, t.max_raw
    if t.overflow == "AP_WRAP":
        mask = np.int64((1 << t.width) - 1) if t.width < 64 else np.int64(-1)
        wrapped = q & mask
        if t.signed:
            wrapped = np.where(wrapped > hi, wrapped - np.int64(1 << t.width), wrapped)
        return wrapped.astype(np.int64)
    if t.overflow == "AP_SAT":
        return np.clip(q, lo, hi).astype(np.int64)
    if t.overflow == "AP_SAT_ZERO":
        return np.where((q < lo) | (q > hi), 0, q).astype(np.int64)
    # AP_SAT_SYM: the most negative code is never produced (ap_fixed maps it to -max too)
    return np.clip(q, -hi if t.signed else lo, hi).astype(np.int64)


def quantize(x: np.ndarray | float, t: FixedType) -> np.ndarray:
    """Float values -> raw integers of ``t``, as ``ap_fixed``'s constructor from ``double`` converts."""
    t.check_modelable()
    v = np.asarray(x, dtype=np.float64) * np.float64(2.0 ** t.frac)  # exact: a power-of-two scaling
    if not np.all(np.isfinite(v)):
        raise FixedPointError(f"cannot convert non-finite values (inf or nan) to {t}")
    fl = np.floor(v)
    rem = v - fl  # exact, in [0, 1)
    up = _round_up(np.fmod(fl, 2) != 0, v < 0, rem > 0.5, rem == 0.5, rem > 0, t.rounding)
    q = fl + up
    if t.overflow == "AP_WRAP":  # reduce before the int64 cast; np.mod is exact on float64 integers
        q = np.mod(q, 2.0 ** t.width)
        if t.signed:
            q = np.where(q > t.max_raw, q - 2.0 ** t.width, q)
        return q.astype(np.int64)
    q = np.clip(q, -(2.0 ** 62), 2.0 ** 62)
    return _overflow_int(q.astype(np.int64), t)


def requantize(raw: np.ndarray, frac: int | np.ndarray, t: FixedType) -> np.ndarray:
    """Raw integers with ``frac`` fractional bits -> raw integers of ``t`` (rounding, then overflow).

    ``frac`` may be an array broadcasting against ``raw`` (a per-row scale, as in softmax).
    """
    raw = np.asarray(raw, dtype=np.int64)
    shift = np.asarray(frac, dtype=np.int64) - t.frac
    left = np.maximum(-shift, 0)
    right = np.maximum(shift, 0)
    if np.any(left > 0):
        raw = raw << left
    if not np.any(right > 0):
        return _overflow_int(raw, t)
    fl = raw >> right
    dropped = raw - (fl << right)  # in [0, 2**right)
    half = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
    has_half = right > 0
    up = _round_up((fl & 1) != 0, raw < 0, has_half & (dropped > half), has_half & (dropped == half),
                   dropped > 0, t.rounding)
    return _overflow_int(fl + up, t)


def to_float(raw: np.ndarray, t: FixedType | int) -> np.ndarray:
    """Raw integers -> float64 values (exact for widths up to 53 bits)."""
    frac = t.frac if isinstance(t, FixedType) else int(t)
    return np.asarray(raw, dtype=np.float64) * np.float64(2.0 ** -frac)


# ---------------------------------------------------------------- exact arithmetic types


def mult_type(a: FixedType, b: FixedType) -> FixedType:
    """The exact type of ``a * b``."""
    return FixedType(a.width + b.width, a.integer + b.integer, a.signed or b.signed)


def align(raw: np.ndarray, frac: int, to_frac: int) -> np.ndarray:
    """Raw integers rescaled exactly to more fractional bits."""
    if to_frac < frac:
        raise FixedPointError(f"cannot align {frac} fractional bits down to {to_frac} exactly")
    return np.asarray(raw, dtype=np.int64) << (to_frac - frac)


def accumulator(a: FixedType, b: FixedType, terms: int, bias: FixedType | None = None) -> FixedType:
    """An accumulator for the sum of ``terms`` products ``a * b`` (plus a bias) that cannot overflow or round.

    Each product fits ``mult_type(a, b)``; a sum of n of them needs ceil(log2(n)) more integer bits,
    one more for the bias. The fraction keeps every product bit (and the bias's).
    """
    prod = mult_type(a, b)
    extra = max(int(terms) - 1, 0).bit_length() + (1 if bias is not None else 0)
    integer = prod.integer + extra
    frac = prod.frac
    if bias is not None:
        integer = max(integer, bias.integer + extra)
        frac = max(frac, bias.frac)
    return FixedType(integer + frac, integer, True)


def sum_type(a: FixedType, terms: int) -> FixedType:
    """An exact accumulator for the sum of ``terms`` values of type ``a``."""
    integer = a.integer + max(int(terms) - 1, 0).bit_length() + (0 if a.signed else 1)
    return FixedType(integer + a.frac, integer, True)


def exact_literal(raw: int, t: FixedType) -> str:
    """A C++ literal that converts to ``raw`` in ``t`` with no rounding (a decimal exactly representable as double)."""
    value = float(raw) * 2.0 ** -t.frac
    if t.width > 53 or float(int(value * 2.0 ** t.frac)) != value * 2.0 ** t.frac:
        raise FixedPointError(f"{t} value {raw} cannot be written as an exact double literal")
    return repr(value)
