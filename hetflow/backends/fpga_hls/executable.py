"""A compiled FPGA design: its C simulation (what ``run`` executes), its NumPy model and its estimate."""

from __future__ import annotations

import numpy as np

from hetflow.backends.fpga_hls.csim import CSim, Toolchain
from hetflow.backends.fpga_hls.estimate import DesignEstimate
from hetflow.backends.fpga_hls.lower import Design
from hetflow.ir import Graph
from hetflow.ir.errors import HetflowError


class FpgaExecutable:
    """Runs a graph as its FPGA design would: the g++ C simulation of the generated HLS C++.

    ``run`` returns the graph's outputs (in the graph's dtype); ``run_exact`` the fixed-point values
    as float64, from the C simulation or, with ``model=True``, from the NumPy model (bit-identical).
    Device time is never measured here: ``estimate`` holds the ``model:hls-cycles`` figures.
    """

    def __init__(self, graph: Graph, design: Design, estimate: DesignEstimate, *, toolchain: Toolchain | None = None,
                 build: bool = True, notes: list[str] | None = None) -> None:
        self.graph = graph
        self.design = design
        self.estimate = estimate
        self.notes = notes or []
        self._toolchain = toolchain
        self._csim: CSim | None = CSim(design, toolchain) if build else None

    @property
    def csim(self) -> CSim:
        if self._csim is None:
            self._csim = CSim(self.design, self._toolchain)
        return self._csim

    def modelled_time(self) -> tuple[float, str]:
        """Device seconds for one sample (the partitioner's unit: a symbolic batch counts as 1), and their source."""
        return self.estimate.run_seconds(1), self.estimate.time_source

    def samples(self, feeds: dict[str, np.ndarray]) -> tuple[list[np.ndarray], int]:
        """The inputs in port order, checked, and how many samples they hold."""
        arrays, batch = [], None
        for v, t in zip(self.graph.inputs, self.design.inputs):
            if v.name not in feeds:
                raise HetflowError(f"{self.design.name}: input {v.name!r} is missing; the design takes "
                                   f"{[u.name for u in self.graph.inputs]}")
            x = np.asarray(feeds[v.name])
            per_sample = t.shape[1:] if self.design.batched else t.shape
            got = x.shape[1:] if self.design.batched else x.shape
            if tuple(got) != tuple(per_sample) or (self.design.batched and x.ndim != len(t.shape)):
                raise HetflowError(f"{self.design.name}: input {v.name!r} has shape {list(x.shape)}, the design was "
                                   f"built for {v.type}")
            n = x.shape[0] if self.design.batched else 1
            if batch is not None and n != batch:
                raise HetflowError(f"{self.design.name}: inputs disagree on the batch dim ({batch} and {n} samples); "
                                   f"the FPGA design runs the samples of one batch through every input together")
            batch = n
            arrays.append(x)
        return arrays, batch or 1

    def run_exact(self, feeds: dict[str, np.ndarray], *, model: bool = False) -> list[np.ndarray]:
        """Output values as float64 (exact fixed-point values), one flat array per output."""
        arrays, n = self.samples(feeds)
        if n == 0:
            return [np.zeros(0) for _ in self.design.outputs]
        if model:
            return self.design.evaluate(arrays, n)
        return self.csim.run(arrays, n)

    def run(self, feeds: dict[str, np.ndarray], *, model: bool = False) -> dict[str, np.ndarray]:
        """The graph's outputs by name, in the graph's dtypes and shapes."""
        _, n = self.samples(feeds)
        values = self.run_exact(feeds, model=model)
        out = {}
        for v, t, flat in zip(self.graph.outputs, self.design.outputs, values):
            shape = (n, *t.shape[1:]) if self.design.batched else t.shape
            out[v.name] = flat.reshape(shape).astype(v.type.dtype.numpy)
        return out

    def report(self) -> str:
        """Layers, types, reuse factors, estimate and any changes the compile made."""
        lines = [f"fpga_hls design {self.design.name} ({self.design.architecture}): {len(self.design.layers)} layers "
                 f"for {len(self.graph.nodes)} IR nodes"]
        for layer in self.design.layers:
            folded = f" (+ folded {', '.join(layer.nodes[1:])})" if len(layer.nodes) > 1 else ""
            lines.append(f"  {layer.name}: {layer.op} -> hf::{layer.template}, result {layer.output.type}, "
                         f"RF {layer.reuse_factor}{folded}")
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(self.estimate.table())
        return "\n".join(lines)
