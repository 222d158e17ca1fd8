"""A per-device arena: the buffers a plan's runs use on one device, allocated once and reused.

A buffer is taken for a value of one item and given back when the value's last use on the device
is done (its consumers have run, its copies to other devices are made, it has been read home).
The next item of the same shape takes the same buffer again, so once a plan has run an item of a
shape (the warm-up), later items of that shape allocate nothing. Taking never blocks: an empty
pool allocates (a pipelined stream may need a few items' worth at once, the first time).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

import numpy as np

from hetflow.devices import Buffer, Device
from hetflow.ir import DType

Spec = tuple[tuple[int, ...], DType]

_DTYPES: dict[Any, DType] = {}  # NumPy dtype -> DType, as asked so far (every host array brought to a device asks)


def spec_of(shape: Any, dtype: Any) -> Spec:
    """The pool key of a typed buffer: static shape and hetflow dtype."""
    if not isinstance(dtype, DType):
        found = _DTYPES.get(dtype)
        if found is None:
            found = _DTYPES[dtype] = DType.of(np.dtype(dtype))
        dtype = found
    return tuple(map(int, shape)), dtype


class Arena:
    """Free buffers of one device by (shape, dtype); thread-safe, since another device's worker gives back
    a buffer it has copied from."""

    def __init__(self, device: Device) -> None:
        self.device = device
        # free buffers by shape and the id of their DType: members are singletons, so the id stands for one (an Enum
        # hashes in Python, an int in C, and a run takes and gives back several buffers)
        self._free: defaultdict[tuple[tuple[int, ...], int], list[Buffer]] = defaultdict(list)
        self._owned: set[int] = set()
        self._lock = threading.Lock()
        self.allocations = 0

    def take(self, shape: Any, dtype: Any) -> Buffer:
        """A free buffer of this shape and dtype, allocated on the device only if none is free."""
        # a buffer's own (shape, DType) needs no converting: the runtime takes most buffers by those
        spec = (shape, dtype) if type(shape) is tuple and type(dtype) is DType else spec_of(shape, dtype)
        with self._lock:
            pool = self._free[(spec[0], id(spec[1]))]
            if pool:
                return pool.pop()
        buffer = self.device.alloc((spec[0], spec[1]))
        with self._lock:
            self._owned.add(buffer.id)
            self.allocations += 1
        return buffer

    def adopt(self, buffer: Buffer) -> None:
        """Make a buffer the device allocated by itself (a run's unbound output) the arena's."""
        with self._lock:
            self._owned.add(buffer.id)
            self.allocations += 1

    def give(self, buffer: Buffer) -> None:
        """Return a buffer for reuse by a later value of the same shape and dtype."""
        assert buffer.dtype is not None and buffer.shape is not None, "the arena holds typed buffers only"
        with self._lock:
            assert buffer.id in self._owned, f"{buffer!r} is not from this arena"
            self._free[(buffer.shape, id(buffer.dtype))].append(buffer)

    def discard(self, buffer: Buffer) -> None:
        """Free a buffer of a shape the arena cannot predict (one that depended on the data)."""
        with self._lock:
            self._owned.discard(buffer.id)
        self.device.free(buffer)

    @property
    def buffers(self) -> int:
        """How many buffers the arena holds on its device."""
        return len(self._owned)

    def nbytes(self) -> int:
        """Bytes of the free buffers (all of them between runs)."""
        with self._lock:
            return sum(b.nbytes for pool in self._free.values() for b in pool)
