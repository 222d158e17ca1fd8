"""What the code generator hands on: one configured kernel (source, arguments, launch grid, config)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from hetflow.ir import Value


@dataclass(frozen=True)
class Config:
    """A template's tunable launch configuration: block sizes (constexpr arguments), warps, pipeline stages."""

    blocks: tuple[tuple[str, int], ...]
    num_warps: int = 4
    num_stages: int = 2

    def block(self, name: str) -> int:
        return dict(self.blocks)[name]

    @property
    def split_k(self) -> int:
        """How many programs share a matmul output tile (1 for every other template)."""
        return dict(self.blocks).get("SPLIT_K", 1)

    def with_blocks(self, **blocks: int) -> Config:
        merged = dict(self.blocks)
        merged.update(blocks)
        return Config(tuple(sorted(merged.items())), self.num_warps, self.num_stages)

    def __str__(self) -> str:
        sizes = ",".join(f"{k}={v}" for k, v in self.blocks)
        return f"{sizes},warps={self.num_warps},stages={self.num_stages}"


@dataclass
class KernelSpec:
    """A generated kernel: the Triton function ``name`` in ``source``; pointer arguments are ``values`` in order
    (inputs and constants read, then values written); ``grid`` is computed from ``config``'s blocks."""

    name: str
    template: str
    source: str
    values: list[Value]
    writes: list[Value]
    config: Config
    grid: tuple[int, ...]
    nodes: list[str] = field(default_factory=list)
    dtype: str = "float32"
    problem: tuple[int, ...] = ()
    """The sizes that decide performance (M, N, K; elements; rows x row length), the tuning key."""

    @property
    def digest(self) -> str:
        """Identity of the code and its configuration (what the tuning cache and AOT dedupe key on)."""
        return hashlib.sha256(f"{self.source}|{self.config}|{self.grid}".encode()).hexdigest()[:16]

    @property
    def source_digest(self) -> str:
        """Identity of the code alone, with the configuration left out (what a tuning result is filed under)."""
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]
