"""Tensor element types shared by every layer of hetflow."""

from __future__ import annotations

import enum

import ml_dtypes
import numpy as np


class DType(enum.Enum):
    """An element type. The value is the canonical lower-case name."""

    float64 = "float64"
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    int64 = "int64"
    int32 = "int32"
    int16 = "int16"
    int8 = "int8"
    uint64 = "uint64"
    uint32 = "uint32"
    uint16 = "uint16"
    uint8 = "uint8"
    bool = "bool"
    string = "string"

    @property
    def numpy(self) -> np.dtype:
        return _TO_NUMPY[self]

    @property
    def itemsize(self) -> int:
        return 8 if self is DType.string else self.numpy.itemsize

    @property
    def is_float(self) -> bool:
        return self in _FLOATS

    @property
    def is_int(self) -> bool:
        return self in _INTS

    @classmethod
    def of(cls, spec: DType | str | np.dtype | type) -> DType:
        """Coerce a name, a NumPy dtype or a DType into a DType."""
        if isinstance(spec, DType):
            return spec
        if isinstance(spec, str) and spec in cls.__members__:
            return cls[spec]
        npdt = np.dtype(spec)
        if npdt.kind in "USO":
            return DType.string
        try:
            return _FROM_NUMPY[npdt]
        except KeyError:
            raise ValueError(f"unsupported element type {spec!r}") from None

    def __str__(self) -> str:
        return self.value


_TO_NUMPY: dict[DType, np.dtype] = {
    DType.float64: np.dtype(np.float64),
    DType.float32: np.dtype(np.float32),
    DType.float16: np.dtype(np.float16),
    DType.bfloat16: np.dtype(ml_dtypes.bfloat16),
    DType.int64: np.dtype(np.int64),
    DType.int32: np.dtype(np.int32),
    DType.int16: np.dtype(np.int16),
    DType.int8: np.dtype(np.int8),
    DType.uint64: np.dtype(np.uint64),
    DType.uint32: np.dtype(np.uint32),
    DType.uint16: np.dtype(np.uint16),
    DType.uint8: np.dtype(np.uint8),
    DType.bool: np.dtype(np.bool_),
    DType.string: np.dtype(object),
}
_FROM_NUMPY = {v: k for k, v in _TO_NUMPY.items() if k is not DType.string}
_FLOATS = frozenset({DType.float64, DType.float32, DType.float16, DType.bfloat16})
_INTS = frozenset(
    {DType.int64, DType.int32, DType.int16, DType.int8, DType.uint64, DType.uint32, DType.uint16, DType.uint8}
)
