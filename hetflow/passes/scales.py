"""int8 scale choice from calibration statistics: min/max, percentile, and entropy (KL) as TensorRT does.

Activations are quantized symmetrically (zero point 0, ``scale = threshold / 127``), as NVDLA and TensorRT
do; the methods differ only in the clipping threshold they read from ``passes.calibrate.TensorStats``:

* ``minmax``: the largest ``|x|`` seen — nothing is clipped, small values lose resolution.
* ``percentile``: the ``q``-th percentile of ``|x|`` (default 99.99).
* ``entropy``: the threshold whose 128-level quantized histogram is closest to the observed one in
  Kullback-Leibler divergence (TensorRT's entropy calibrator: the tail beyond a candidate threshold is folded
  into its last bin, the candidate's bins are merged into 128 levels and spread back over their non-empty
  bins, and the candidate with the least divergence wins).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from hetflow.ir.errors import HetflowError
from hetflow.passes.calibrate import TensorStats

Method = Literal["minmax", "percentile", "entropy"]
QMAX = 127
"""Largest int8 magnitude used: symmetric [-127, 127], as TensorRT and NVDLA's compiler do."""
LEVELS = QMAX + 1


@dataclass(frozen=True)
class ScaleChoice:
    """How a tensor's int8 scale is chosen."""

    method: Method = "percentile"
    percentile: float = 99.99

    def __post_init__(self) -> None:
        if self.method not in _THRESHOLDS:
            raise HetflowError(f"unknown calibration method {self.method!r}; choose one of {', '.join(_THRESHOLDS)}")
        if not 0 < self.percentile <= 100:
            raise HetflowError(f"percentile must be in (0, 100], got {self.percentile}")

    def threshold(self, stats: TensorStats) -> float:
        """The clipping threshold for ``stats`` (0 for a tensor that was always zero)."""
        return float(_THRESHOLDS[self.method](stats, self))

    def scale(self, stats: TensorStats) -> float:
        """The int8 scale: threshold / 127; 1.0 for a tensor that was always zero (any scale is exact)."""
        t = self.threshold(stats)
        return t / QMAX if t > 0 else 1.0


def _minmax(stats: TensorStats, choice: ScaleChoice) -> float:
    return stats.absmax


def _percentile(stats: TensorStats, choice: ScaleChoice) -> float:
    return stats.percentile(choice.percentile)


def _entropy(stats: TensorStats, choice: ScaleChoice) -> float:
    hist = stats.histogram.astype(np.float64)
    if hist.sum() == 0 or len(hist) <= LEVELS:
        return stats.absmax
    best_i, best_kl = len(hist), np.inf
    for i in range(LEVELS, len(hist) + 1):
        kl = _kl_at(hist, i)
        if kl < best_kl:
            best_i, best_kl = i, kl
    return min(stats.absmax, best_i * stats.bin_width)


def _kl_at(hist: np.ndarray, i: int) -> float:
    """KL(P || Q) for the threshold at bin ``i``: P is the clipped histogram, Q its 128-level quantization."""
    p = hist[:i].copy()
    p[-1] += hist[i:].sum()
    nonzero = hist[:i] > 0
    # Bin j of the candidate falls in level j * LEVELS // i.
    level = (np.arange(i) * LEVELS) // i
    level_sum = np.bincount(level, weights=hist[:i], minlength=LEVELS)
    level_count = np.bincount(level, weights=nonzero.astype(np.float64), minlength=LEVELS)
    q = np.where(nonzero, level_sum[level] / np.maximum(level_count[level], 1), 0.0)
    p /= p.sum()
    qs = q.sum()
    if qs == 0:
        return np.inf
    q /= qs
    mask = p > 0
    if np.any(q[mask] == 0):  # P has mass where Q has none: smooth as TensorRT does rather than infinity
        q = np.where(mask & (q == 0), 1e-4, q)
        q /= q.sum()
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


_THRESHOLDS: dict[str, Callable[[TensorStats, ScaleChoice], float]] = {
    "minmax": _minmax, "percentile": _percentile, "entropy": _entropy,
}


def estimated_error(stats: TensorStats, scale: float) -> float:
    """Estimated relative RMS error of quantizing this tensor with ``scale``: rounding noise (scale**2 / 12 per
    element inside the range) plus the clipping error of the histogram's mass beyond ``127 * scale``, over the
    tensor's RMS read from the same histogram (bin centres)."""
    hist = stats.histogram.astype(np.float64)
    total = hist.sum()
    if total == 0 or stats.absmax == 0:
        return 0.0
    centres = (np.arange(len(hist)) + 0.5) * stats.bin_width
    t = QMAX * scale
    inside = centres <= t
    noise = hist[inside].sum() * scale ** 2 / 12 + np.sum(hist[~inside] * (centres[~inside] - t) ** 2)
    power = np.sum(hist * centres ** 2)
    return float(np.sqrt(noise / power)) if power > 0 else 0.0
