"""Calibration statistics: the value ranges a graph's tensors take over sample inputs.

Every precision decision downstream reads these — int8 scales (min/max, percentile, entropy) and the
fixed-point widths of an FPGA design — so they are collected once, here, by running the IR's own NumPy
semantics (the reference) over the samples. Two sweeps: the first finds each tensor's range, the second
fills a histogram of ``|x|`` over ``[0, absmax]`` with a fixed number of bins (the layout TensorRT's
entropy calibrator uses), so that histograms of different samples add up exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from hetflow.ir import Graph, Value, get_op
from hetflow.ir.errors import HetflowError, InputError
from hetflow.ir.feeds import check_feeds

DEFAULT_BINS = 2048


@dataclass
class TensorStats:
    """What one tensor's values looked like over every calibration sample."""

    name: str
    min: float = float("inf")
    max: float = float("-inf")
    count: int = 0
    """How many samples were seen."""
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    """Counts of ``|x|`` in ``bins`` equal bins over ``[0, absmax]``."""

    @property
    def absmax(self) -> float:
        return max(abs(self.min), abs(self.max)) if self.count else 0.0

    @property
    def bin_width(self) -> float:
        return self.absmax / len(self.histogram) if len(self.histogram) else 0.0

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0..100) of ``|x|``, read from the histogram (the bin's upper edge)."""
        if not 0 < q <= 100:
            raise HetflowError(f"percentile must be in (0, 100], got {q}")
        total = int(self.histogram.sum())
        if total == 0 or self.absmax == 0.0:
            return self.absmax
        cumulative = np.cumsum(self.histogram)
        index = int(np.searchsorted(cumulative, total * q / 100.0))
        return min(self.absmax, (index + 1) * self.bin_width)


Statistics = dict[str, TensorStats]
"""Tensor statistics by value name: graph inputs and every float node output."""


def collect_statistics(graph: Graph, samples: Iterable[Mapping[str, np.ndarray]], *,
                       bins: int = DEFAULT_BINS) -> Statistics:
    """Run ``graph`` on each sample (a dict input name -> array) and return every float tensor's statistics.

    Samples are checked against the graph's inputs (name, dtype, static dims) with the same one-line errors
    a run gives; calibration needs at least one.
    """
    if bins < 1:
        raise HetflowError(f"calibration needs at least one histogram bin, got {bins}")
    feeds = [check_feeds(graph, dict(sample)) for sample in samples]
    if not feeds:
        raise InputError(f"calibration of graph '{graph.name}' needs at least one sample input")
    stats: Statistics = {}
    for feed in feeds:
        for value, array in _tensors(graph, feed):
            entry = stats.setdefault(value.name, TensorStats(value.name))
            if array.size:
                entry.min = min(entry.min, float(array.min()))
                entry.max = max(entry.max, float(array.max()))
            entry.count += 1
    for entry in stats.values():
        entry.histogram = np.zeros(bins, np.int64)
    for feed in feeds:
        for value, array in _tensors(graph, feed):
            entry = stats[value.name]
            if array.size and entry.absmax > 0.0:
                counts, _ = np.histogram(np.abs(array), bins=bins, range=(0.0, entry.absmax))
                entry.histogram += counts
    return stats


def _tensors(graph: Graph, feed: Mapping[str, np.ndarray]) -> Iterable[tuple[Value, np.ndarray]]:
    """Yield (value, array) for every float graph input and node output, computed in topological order."""
    env: dict[int, np.ndarray] = {}
    for v in graph.inputs:
        env[id(v)] = feed[v.name]
        if v.type.dtype.is_float:
            yield v, _as_float(feed[v.name])
    for node in graph.nodes:
        args: list[np.ndarray | None] = []
        for v in node.inputs:
            args.append(None if v is None else (v.const if v.is_const else env[id(v)]))
        try:
            results: Sequence[np.ndarray] = get_op(node.op).run(node, args)
        except HetflowError:
            raise
        except Exception as exc:  # the op's NumPy semantics failed on these samples: say where
            raise HetflowError(f"calibration: node {node.name!r} ({node.op}) failed: "
                               f"{type(exc).__name__}: {exc}") from exc
        for out, array in zip(node.outputs, results):
            env[id(out)] = array
            if out.type.dtype.is_float:
                yield out, _as_float(array)


def _as_float(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    # float16 / bfloat16 are widened so that histogram edges and sums are exact enough.
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float32)
