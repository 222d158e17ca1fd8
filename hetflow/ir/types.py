"""Tensor types: an element type and a shape whose dims may be symbolic."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hetflow.ir.dtypes import DType

Dim = int | str
"""A dimension: a known size, or a symbol such as ``"N"`` for a batch dim."""


@dataclass(frozen=True)
class TensorType:
    """Element type plus shape. ``shape is None`` means the rank is unknown."""

    dtype: DType
    shape: tuple[Dim, ...] | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", DType.of(self.dtype))
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(d if isinstance(d, str) else int(d) for d in self.shape))

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
