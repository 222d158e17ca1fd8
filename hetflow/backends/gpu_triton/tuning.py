"""Launch configurations: good defaults per template, a small search space, and an on-disk cache of winners.

Compiling never searches: it takes the cached winner for (kernel source, problem sizes, device name,
Triton version) when one exists, else the template's default. ``GpuTritonBackend.compile(..., tune=True)``
(``hetflow run --tune`` style callers) times the space on a real GPU and files the winners here.
"""

from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path

from hetflow.backends.gpu_triton.kernel import Config
from hetflow.config import get_config


def _cfg(warps: int = 4, stages: int = 2, **blocks: int) -> Config:
    return Config(tuple(sorted(blocks.items())), warps, stages)


DEFAULTS: dict[str, Config] = {
    # GPU defaults: Triton's tutorial matmul sizes for Ampere/Hopper, 128-bit vector loads for pointwise work
    "pointwise": _cfg(4, 2, BLOCK=1024),
    "gather": _cfg(4, 2, BLOCK=1024),
    "matmul": _cfg(4, 3, BM=64, BN=64, BK=32, SPLIT_K=1),
    "conv": _cfg(4, 3, BM=64, BN=64, BK=32),
    "window": _cfg(4, 2, BLOCK=256),
    "reduce": _cfg(4, 2, BLOCK=256),
    "rownorm": _cfg(4, 2, BLOCK=1024),
    "attention": _cfg(4, 2, BM=64, BN=64),
}

HALF_DEFAULTS: dict[str, Config] = {
    "matmul": _cfg(8, 3, BM=128, BN=128, BK=32, SPLIT_K=1),
    "conv": _cfg(8, 3, BM=128, BN=128, BK=32),
    "attention": _cfg(4, 2, BM=128, BN=64),
}

INTERPRETER: dict[str, Config] = {
    # The interpreter costs per program instance and per NumPy call, not per element: fewer, larger tiles.
    "pointwise": _cfg(BLOCK=16384),
    "gather": _cfg(BLOCK=16384),
    "matmul": _cfg(BM=64, BN=64, BK=128, SPLIT_K=1),
    "conv": _cfg(BM=64, BN=64, BK=128),
    "window": _cfg(BLOCK=8192),
    "reduce": _cfg(BLOCK=4096),
    "rownorm": _cfg(BLOCK=4096),
    "attention": _cfg(BM=64, BN=64),
}

SPACE: dict[str, list[Config]] = {
    "pointwise": [_cfg(w, 2, BLOCK=b) for b, w in itertools.product((512, 1024, 2048, 4096), (4, 8))],
    "matmul": [_cfg(w, s, BM=m, BN=n, BK=k, SPLIT_K=sk) for m, n, k, w, s, sk in
               itertools.product((64, 128), (64, 128), (32, 64), (4, 8), (3, 4), (1, 4, 16))],
    "conv": [_cfg(w, s, BM=m, BN=n, BK=k) for m, n, k, w, s in
             itertools.product((64, 128), (64, 128), (32, 64), (4, 8), (3, 4))],
    "window": [_cfg(w, 2, BLOCK=b) for b, w in itertools.product((128, 256, 512, 1024), (4, 8))],
    "reduce": [_cfg(w, 2, BLOCK=b) for b, w in itertools.product((128, 256, 1024), (4, 8))],
    "rownorm": [_cfg(w, 2, BLOCK=b) for b, w in itertools.product((256, 1024, 4096), (4, 8))],
    "attention": [_cfg(w, s, BM=m, BN=n) for m, n, w, s in itertools.product((64, 128), (32, 64, 128), (4, 8), (2, 3))],
}
SPACE["gather"] = SPACE["pointwise"]


def _fit(config: Config, template: str, problem: tuple[int, ...]) -> Config:
    """Shrink blocks that exceed the problem (never below what tl.dot needs: 16)."""
    if template in ("pointwise", "window", "gather") and problem:
        return config.with_blocks(BLOCK=min(config.block("BLOCK"), _pow2(problem[0], 128)))
    if template in ("reduce", "rownorm") and len(problem) > 1:
        return config.with_blocks(BLOCK=min(config.block("BLOCK"), _pow2(problem[1], 16)))
    if template in ("matmul", "conv") and len(problem) == 3:
        m, n, k = problem
        fitted = config.with_blocks(BM=min(config.block("BM"), _pow2(m, 16)), BN=min(config.block("BN"), _pow2(n, 16)),
                                    BK=min(config.block("BK"), _pow2(k, 16)))
        if config.split_k > 1:  # never more splits than blocks of K
            fitted = fitted.with_blocks(SPLIT_K=max(1, min(config.split_k, -(-k // fitted.block("BK")))))
        return fitted
    if template == "attention" and len(problem) == 4:
        _, s, sn, _ = problem
        return config.with_blocks(BM=min(config.block("BM"), _pow2(s, 16)), BN=min(config.block("BN"), _pow2(sn, 16)))
    return config


def _pow2(n: int, lo: int) -> int:
    p = lo
    while p < n:
        p *= 2
    return p


def default_config(template: str, problem: tuple[int, ...], dtype: str, interpret: bool) -> Config:
    """The untuned configuration for a kernel of ``template`` on ``problem``."""
    if interpret:
        base = INTERPRETER[template]
    elif dtype in ("float16", "bfloat16") and template in HALF_DEFAULTS:
        base = HALF_DEFAULTS[template]
    else:
        base = DEFAULTS[template]
    return _fit(base, template, problem)


def candidates(template: str, problem: tuple[int, ...], splittable: bool = False) -> list[Config]:
    """The search space for one kernel, fitted to its problem, without duplicates; split-K configurations only
    for a ``splittable`` matmul (see ``codegen.splittable``)."""
    seen: dict[str, Config] = {}
    for c in SPACE[template]:
        if c.split_k > 1 and not splittable:
            continue
        fitted = _fit(c, template, problem)
        seen.setdefault(str(fitted), fitted)
    return list(seen.values())


class TuningCache:
    """Winners on disk: ``<cache>/gpu_triton/tuning.json``, key -> config string."""

    _lock = threading.Lock()

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or get_config().cache_dir / "gpu_triton" / "tuning.json"

    @staticmethod
    def key(source_digest: str, problem: tuple[int, ...], device: str, triton_version: str) -> str:
        return f"{source_digest}|{'x'.join(map(str, problem))}|{device}|triton-{triton_version}"

    def _read(self) -> dict[str, dict]:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def get(self, key: str) -> Config | None:
        found = self._read().get(key)
        if found is None:
            return None
        return Config(tuple((k, int(v)) for k, v in sorted(found["blocks"].items())), found["num_warps"],
                      found["num_stages"])

    def put(self, key: str, config: Config, seconds: float) -> None:
        with self._lock:
            data = self._read()
            data[key] = {"blocks": dict(config.blocks), "num_warps": config.num_warps, "num_stages": config.num_stages,
                         "seconds": seconds}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            tmp.replace(self.path)
