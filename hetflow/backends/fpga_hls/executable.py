"""A compiled FPGA design: its C simulation (what ``run`` executes), its NumPy model and its estimate."""

from __future__ import annotations

import io
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from hetflow.backends.fpga_hls import codegen
from hetflow.backends.fpga_hls.config import HLSConfig, LayerSettings, LayerSpec, ReuseFactorWarning
from hetflow.backends.fpga_hls.csim import CSim, Toolchain
from hetflow.backends.fpga_hls.estimate import DesignEstimate, layer_estimate
from hetflow.backends.fpga_hls.lower import Design, lower
from hetflow.backends.native import read_artifact_manifest
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
        self.fit_notes = notes or []  # how the design was folded to fit the part
        self._toolchain = toolchain
        self._csim: CSim | None = CSim(design, toolchain) if build else None

    @property
    def csim(self) -> CSim:
        if self._csim is None:
            self._csim = CSim(self.design, self._toolchain)
        return self._csim

    def modelled_time(self) -> tuple[float, str, float]:
        """Device seconds for one sample (the partitioner's unit: a symbolic batch counts as 1), their source, and
        the seconds between samples of a stream (the II)."""
        return self.estimate.run_seconds(1), self.estimate.time_source, self.estimate.ii_s

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
        for v, one, flat in zip(self.graph.outputs, self.design.graph.outputs, values):
            # The one-sample graph's output shape, not the port tensor's: a trailing reshape aliases the tensor.
            per_sample = tuple(int(d) for d in one.type.shape or ())
            shape = (n, *per_sample[1:]) if self.design.batched else per_sample
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
        lines += [f"  note: {n}" for n in self.fit_notes]
        lines.append(self.estimate.table())
        return "\n".join(lines)

    # ---------------------------------------------------------------- saved artifacts
    ARTIFACT_VERSION = 1

    def save_artifact(self, directory: Path) -> None:
        """Write the generated sources, the C simulation library, the quantized parameters and the design's
        settings (``fpga_hls.json``); ``FpgaHlsBackend.load_artifact`` loads them without running a compiler."""
        directory = Path(directory)
        sim = self.csim
        for path, text in sim.sources.files.items():
            target = directory / "sources" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        shutil.copyfile(sim.library, directory / "csim.so")
        buffer = io.BytesIO()
        np.savez(buffer, *sim._params)
        (directory / "params.npz").write_bytes(buffer.getvalue())
        est = self.estimate
        manifest = {
            "version": self.ARTIFACT_VERSION, "design": self.design.name, "architecture": self.design.architecture,
            "settings": {name: _settings_json(s) for name, s in self.design.settings.items()},
            "reuse_factors": [layer.reuse_factor for layer in self.design.layers],
            "sources": sorted(sim.sources.files), "notes": self.fit_notes,
            "estimate": {"target": est.target, "clock_hz": est.clock_hz, "ii_cycles": est.ii_cycles,
                         "latency_cycles": est.latency_cycles, "usage": est.usage, "capacity": est.capacity},
        }
        (directory / "fpga_hls.json").write_text(json.dumps(manifest, indent=1))

    @classmethod
    def load(cls, directory: Path, graph: Graph) -> FpgaExecutable:
        """The executable ``save_artifact`` wrote: the design is lowered again with the saved settings and must
        generate the saved sources; the saved library runs it, so no compiler runs."""
        directory = Path(directory)
        manifest = read_artifact_manifest(directory, "fpga_hls.json", "fpga_hls", cls.ARTIFACT_VERSION)
        config = HLSConfig(manifest["architecture"],
                           name=tuple((name, _spec(s)) for name, s in manifest["settings"].items()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ReuseFactorWarning)  # the saved factors were legal when compiled
            design = lower(graph, config, name=manifest["design"])
        for layer, reuse in zip(design.layers, manifest["reuse_factors"], strict=True):
            layer.reuse_factor = reuse
        sources = codegen.render(design, runtime_params=True)
        for path in manifest["sources"]:
            if (directory / "sources" / path).read_text() != sources.files.get(path):
                raise HetflowError(f"{directory / 'sources' / path}: the design lowered from the saved settings "
                                   f"generates different code (a different hetflow?); compile the graph again")
        with np.load(directory / "params.npz", allow_pickle=False) as npz:
            params = [npz[f"arr_{k}"] for k in range(len(npz.files))]
        saved = manifest["estimate"]
        est = DesignEstimate(design.name, saved["target"], design.architecture, saved["clock_hz"],
                             [layer_estimate(layer, design) for layer in design.layers], saved["ii_cycles"],
                             saved["latency_cycles"], saved["usage"], saved["capacity"])
        exe = cls(graph, design, est, build=False, notes=manifest["notes"])
        exe._csim = CSim.prebuilt(design, sources, directory / "csim.so", params)
        return exe


def _settings_json(s: LayerSettings) -> dict[str, Any]:
    roles = {"result": s.result, "weight": s.weight, "bias": s.bias, "accum": s.accum, "table": s.table}
    return {"precision": {k: str(t) for k, t in roles.items() if t is not None}, "reuse_factor": s.reuse_factor,
            "table_size": s.table_size}


def _spec(raw: dict[str, Any]) -> LayerSpec:
    return LayerSpec.parse(raw, "saved settings")
