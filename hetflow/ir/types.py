"""Tensor types: an element type and a shape whose dims may be symbolic."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hetflow.ir.dtypes import DType
from hetflow.ir.registry import IRError

Dim = int | str
"""A dimension: a known size, or a symbol such as ``"N"`` for a batch dim."""

MAX_DIM = 2**31 - 1
"""The largest size one dim may have: generated code indexes a dim with a 32-bit int."""

MAX_RANK = 64
"""The most dims a tensor may have (numpy allows 64); a shape input claiming more is refused before dims are made."""

MAX_NUMEL = 2**40
"""The largest element count a tensor may have; a shape beyond it comes from a damaged or hostile file."""


@dataclass(frozen=True)
class TensorType:
    """Element type plus shape. ``shape is None`` means the rank is unknown."""

    dtype: DType
    shape: tuple[Dim, ...] | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", DType.of(self.dtype))
        if self.shape is not None:
            shape = tuple(d if isinstance(d, str) else int(d) for d in self.shape)
            object.__setattr__(self, "shape", shape)
            _check_sizes(shape)

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def is_static(self) -> bool:
        return self.shape is not None and all(isinstance(d, int) for d in self.shape)

    @property
    def numel(self) -> int | None:
        """Element count, or None when some dim is symbolic."""
        if not self.is_static:
            return None
        return math.prod(self.shape)  # type: ignore[arg-type]

    @property
    def nbytes(self) -> int | None:
        n = self.numel
        return None if n is None else n * self.dtype.itemsize

    def with_shape(self, shape: tuple[Dim, ...] | None) -> TensorType:
        return TensorType(self.dtype, shape)

    def with_dtype(self, dtype: DType | str) -> TensorType:
        return TensorType(DType.of(dtype), self.shape)

    def __str__(self) -> str:
        if self.shape is None:
            return f"{self.dtype}[*]"
        return f"{self.dtype}[{','.join(str(d) for d in self.shape)}]"


def _check_sizes(shape: tuple[Dim, ...]) -> None:
    """Refuse a shape no tensor can have, before anything is allocated or generated from it."""
    if len(shape) > MAX_RANK:
        raise IRError(f"a shape of rank {len(shape)} is more than hetflow holds ({MAX_RANK} dims)")
    numel = 1
    for d in shape:
        if isinstance(d, int):
            if d < 0 or d > MAX_DIM:
                raise IRError(f"shape {list(shape)}: dim {d} is {'negative' if d < 0 else 'too large'}")
            numel *= d
    if numel > MAX_NUMEL:
        raise IRError(f"shape {list(shape)}: {numel} elements is more than hetflow holds in one tensor ({MAX_NUMEL})")


# ---------------------------------------------------------------- symbolic dim arithmetic
# A symbolic dim is a name ("N") or an expression over names ("N*8", "(H+1)//2"), written so that the same
# computation gives the same text: shape computations in exported models fold into these.
def _operand(d: Dim) -> str:
    return str(d) if isinstance(d, int) or d.isidentifier() else f"({d})"


def dim_add(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    if a == 0 or b == 0:
        return b if a == 0 else a
    return f"{_operand(a)}+{_operand(b)}"


def dim_sub(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a - b
    if b == 0:
        return a
    return 0 if a == b else f"{_operand(a)}-{_operand(b)}"


def dim_mul(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if a == 1 or b == 1:
        return b if a == 1 else a
    if a == 0 or b == 0:
        return 0
    return f"{_operand(a)}*{_operand(b)}"


def dim_floordiv(a: Dim, b: Dim) -> Dim | None:
    """a // b; None where b is 0 (the division has no value)."""
    if b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a // b
    return a if b == 1 else f"{_operand(a)}//{_operand(b)}"
