"""Write a complete Vitis HLS project for a graph: ``hetflow codegen MODEL --target xilinx/alveo-u250 -o DIR``.

The directory stands alone: generated firmware (with its weights as literal arrays), the
template library, the ap_types headers and an hls::stream shim for g++, a testbench with golden
input and output files produced by hetflow's own C simulation (the testbench checks the design
reproduces them bit for bit), a Makefile that builds and runs that testbench with g++, a Tcl
script for Vitis HLS (C simulation, synthesis, IP export) and a README saying how to use them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hetflow.backends.fpga_hls import DEFAULT_TARGET, FpgaHlsBackend, HLSConfig, HLSConfigError, resolve_target
from hetflow.backends.fpga_hls import codegen as cg
from hetflow.backends.fpga_hls.csim import AP_TYPES, CSIM_SHIMS, LIBRARY
from hetflow.backends.fpga_hls.executable import FpgaExecutable
from hetflow.backends.fpga_hls.precision import PrecisionReport, auto_precision, trace_precision
from hetflow.backends.reference import ReferenceBackend
from hetflow.ir import Graph
from hetflow.targets import MachineDescription

VIVADO_PARTS = {"xilinx/alveo-u250": "xcu250-figd2104-2L-e"}
"""FPGA part per board description (the machine description schema has no part field yet)."""
GOLDEN_SAMPLES = 4
FLOAT_TOLERANCE = 0.02
"""The exported design passes when every output is within this fraction of the largest float output
(at least 1.0) of the float reference: 2% of the logit scale, well under the gap between the top classes."""


@dataclass(frozen=True)
class FloatCheck:
    """The design's largest output error against the float reference on the golden samples, and the bound."""

    max_error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.max_error <= self.tolerance

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (f"float check: max |fixed - float| = {self.max_error:.4g} on the golden samples, tolerance "
                f"{self.tolerance:.4g}: {verdict}")


def float_reference(graph: Graph, data: dict[str, np.ndarray], samples: int) -> list[np.ndarray]:
    """The float outputs (NumPy reference backend) of the golden inputs, one [samples, n] array per output."""
    out = ReferenceBackend().compile(graph).run(data)
    return [np.asarray(out[v.name], np.float64).reshape(samples, -1) for v in graph.outputs]


def float_tolerance(floats: list[np.ndarray]) -> float:
    """FLOAT_TOLERANCE of the largest float output magnitude (at least 1)."""
    scale = max((float(np.abs(f).max(initial=0.0)) for f in floats), default=0.0)
    return FLOAT_TOLERANCE * max(1.0, scale)


@dataclass
class ExportReport:
    """What ``export_project`` wrote, with the design's estimate and (when asked) its precision trace."""

    directory: Path
    files: list[str]
    executable: FpgaExecutable
    samples: int
    precision: PrecisionReport | None = None
    notes: list[str] = field(default_factory=list)
    float_check: FloatCheck | None = None

    def lines(self) -> list[str]:
        d = self.executable.design
        out = [f"wrote {len(self.files)} files to {self.directory} (top function {d.name}, {d.architecture} "
               f"architecture, {len(d.layers)} layers)",
               f"testbench: {self.samples} golden sample(s) from hetflow's C simulation; run `make -C {self.directory} "
               f"test` (g++) or `vitis_hls -f build_prj.tcl` in it"]
        if self.float_check is not None:
            out.append(self.float_check.line())
        out += [f"note: {n}" for n in self.notes]
        out.append(self.executable.estimate.table())
        if self.precision is not None:
            out.append("precision trace (sample 0, fixed point vs float reference):")
            out.append(self.precision.table())
        return out


def golden_inputs(graph: Graph, exe: FpgaExecutable, feeds: dict[str, np.ndarray] | None, seed: int) -> \
        dict[str, np.ndarray]:
    """The feeds to record: given ones, else seeded normal data (GOLDEN_SAMPLES samples for a batched graph)."""
    if feeds:
        return {k: np.asarray(v, np.float32) for k, v in feeds.items()}
    rng = np.random.default_rng(seed)
    out = {}
    for v, t in zip(graph.inputs, exe.design.inputs):
        shape = (GOLDEN_SAMPLES, *t.shape[1:]) if exe.design.batched else t.shape
        out[v.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def _dat(rows: np.ndarray) -> str:
    return "\n".join(" ".join(repr(float(x)) for x in row) for row in rows) + "\n"


def export_project(graph: Graph, directory: str | Path, *, target: MachineDescription | str = DEFAULT_TARGET,
                   config: HLSConfig | dict[str, Any] | None = None, feeds: dict[str, np.ndarray] | None = None,
                   seed: int = 0, trace: bool = False, fit: str = "fold", calibrate: bool = True) -> ExportReport:
    """Compile ``graph`` for ``target`` and write its Vitis HLS project into ``directory``.

    With ``calibrate`` (the default) and no model-wide precision in ``config``, every layer's fixed-point types
    are chosen from the value ranges the graph takes on ``feeds`` (or on seeded random inputs), so that the
    design stays within the stated tolerance of float; ``fit="fold"`` (the default) raises reuse factors until
    the design fits the board, ``fit="error"`` refuses instead.
    """
    description = resolve_target(target)
    cfg = HLSConfig.of(config)
    notes: list[str] = []
    if calibrate and not cfg.model_precision_given:
        cfg, note = auto_precision(graph, cfg, feeds, seed)
        notes.append(f"precision: per-layer fixed-point types from calibration; {note}")
    exe = FpgaHlsBackend().compile(graph, config=cfg, target=description, fit=fit)  # type: ignore[arg-type]
    d = exe.design
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def write(rel: str, text: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(rel)

    for rel, text in cg.render(d, runtime_params=False).files.items():
        write(rel, text)
    for src, dst in ((LIBRARY, "include/hetflow_hls"), (AP_TYPES, "include/ap_types"), (CSIM_SHIMS, "include/csim")):
        shutil.copytree(src, root / dst, dirs_exist_ok=True)
        written += [str(p.relative_to(root)) for p in sorted((root / dst).rglob("*")) if p.is_file()]

    data = golden_inputs(graph, exe, feeds, seed)
    arrays, samples = exe.samples(data)
    outputs = exe.run_exact(data)
    floats = float_reference(graph, data, samples)
    tolerance = float_tolerance(floats)
    error = max((float(np.abs(o.reshape(samples, -1) - f).max(initial=0.0)) for o, f in zip(outputs, floats)),
                default=0.0)
    write("tb_data/tb_input_features.dat", _dat(np.concatenate([np.asarray(a, np.float64).reshape(samples, -1)
                                                                for a in arrays], axis=1)))
    write("tb_data/tb_output_predictions.dat", _dat(np.concatenate([o.reshape(samples, -1) for o in outputs], axis=1)))
    write("tb_data/tb_output_float.dat", _dat(np.concatenate(floats, axis=1)))
    write(f"tb/{d.name}_test.cpp", testbench(exe, tolerance))
    part = VIVADO_PARTS.get(description.name)
    notes += list(exe.fit_notes)
    if part is None:
        notes.append(f"no Vitis part is known for {description.name}; set `part` in build_prj.tcl before synthesis")
    write("build_prj.tcl", tcl_script(exe, description, part or "SET-THE-PART"))
    write("Makefile", makefile(d.name))
    precision = trace_precision(d, [a[:1].reshape(t.shape) if d.batched else a for a, t in zip(arrays, d.inputs)]) \
        if trace else None
    check = FloatCheck(error, tolerance)
    write("hetflow_report.txt", "\n".join([exe.report(), "", check.line(), *(f"note: {n}" for n in notes),
                                           *(["", precision.table()] if precision else [])]) + "\n")
    write("README.md", readme(exe, description, part, samples, tolerance))
    return ExportReport(root, written, exe, samples, precision, notes, check)


# ---------------------------------------------------------------- file templates


def testbench(exe: FpgaExecutable, tolerance: float) -> str:
    """The C++ testbench: bit-exact against hetflow's C simulation, and within ``tolerance`` of the float model."""
    d = exe.design
    stream = d.architecture == "stream"
    n_in = " + ".join(f"N_INPUT_{k}" for k in range(len(d.inputs)))
    n_out = " + ".join(f"N_OUTPUT_{k}" for k in range(len(d.outputs)))
    lines = [cg.HEADER, f"// Testbench for {d.name}: runs the golden inputs, checks every output bit for bit against hetflow's",
             "// C simulation and reports the error against the float reference (pass within the tolerance).",
             "#include <cmath>", "#include <cstdio>", "#include <fstream>", "#include <sstream>", "#include <string>",
             "#include <vector>",
             "", f'#include "{d.name}.h"', "",
             "static bool read_row(std::ifstream& f, std::vector<double>& row) {",
             "    std::string line;", "    if (!std::getline(f, line)) return false;",
             "    std::istringstream s(line);", "    row.clear();", "    double v;",
             "    while (s >> v) row.push_back(v);", "    return true;", "}", "",
             "int main(int argc, char** argv) {",
             '    const std::string dir = argc > 1 ? argv[1] : "tb_data";',
             '    std::ifstream fin(dir + "/tb_input_features.dat");',
             '    std::ifstream fout(dir + "/tb_output_predictions.dat");',
             '    std::ifstream ffloat(dir + "/tb_output_float.dat");',
             "    if (!fin || !fout || !ffloat) {",
             '        std::fprintf(stderr, "cannot open %s/tb_input_features.dat, tb_output_predictions.dat or '
             'tb_output_float.dat\\n", dir.c_str());',
             "        return 2;", "    }",
             f"    const double tolerance = {tolerance!r};  // largest allowed |fixed - float|",
             "    std::vector<double> in, want, ref;", "    int samples = 0, mismatches = 0;", "    double max_error = 0;",
             "    while (read_row(fin, in) && read_row(fout, want) && read_row(ffloat, ref)) {",
             f"        if (in.size() != {n_in} || want.size() != {n_out} || ref.size() != {n_out}) {{",
             '            std::fprintf(stderr, "sample %d: wrong number of values\\n", samples);', "            return 2;",
             "        }"]
    offset = "0"
    for k, t in enumerate(d.inputs):
        if stream:
            lines += [f"        hls::stream<{t.ctype}> in{k};",
                      f"        for (unsigned j = 0; j < N_INPUT_{k}; j++) in{k}.write({t.ctype}(in[{offset} + j]));"]
        else:
            lines += [f"        {t.ctype} in{k}[N_INPUT_{k}];",
                      f"        for (unsigned j = 0; j < N_INPUT_{k}; j++) in{k}[j] = {t.ctype}(in[{offset} + j]);"]
        offset += f" + N_INPUT_{k}"
    for k, t in enumerate(d.outputs):
        lines.append(f"        hls::stream<{t.ctype}> out{k};" if stream else f"        {t.ctype} out{k}[N_OUTPUT_{k}];")
    args = [f"in{k}" for k in range(len(d.inputs))] + [f"out{k}" for k in range(len(d.outputs))]
    lines.append(f"        {d.name}({', '.join(args)});")
    offset = "0"
    for k, _ in enumerate(d.outputs):
        value = f"out{k}.read()" if stream else f"out{k}[j]"
        lines += [f"        for (unsigned j = 0; j < N_OUTPUT_{k}; j++) {{",
                  f"            const double got = {value}.to_double();",
                  f"            max_error = std::fmax(max_error, std::fabs(got - ref[{offset} + j]));",
                  f"            if (got != want[{offset} + j]) {{",
                  "                if (mismatches < 10) "
                  f'std::printf("sample %d output {k}[%u]: got %.17g, expected %.17g\\n", samples, j, got, '
                  f"want[{offset} + j]);",
                  "                mismatches++;", "            }", "        }"]
        offset += f" + N_OUTPUT_{k}"
    lines += ["        samples++;", "    }",
              "    if (samples == 0) {", '        std::fprintf(stderr, "no samples in %s\\n", dir.c_str());',
              "        return 2;", "    }",
              '    const bool close = max_error <= tolerance;',
              '    std::printf("float reference: max |fixed - float| = %.6g, tolerance %.6g: %s\\n", max_error, '
              'tolerance, close ? "PASS" : "FAIL");',
              "    if (mismatches) {",
              '        std::printf("FAIL: %d mismatching values in %d samples\\n", mismatches, samples);',
              "        return 1;", "    }",
              '    std::printf("%s: %d samples bit-exact with hetflow\'s C simulation\\n", close ? "PASS" : "FAIL", '
              'samples);',
              "    return close ? 0 : 1;", "}", ""]
    return "\n".join(lines)


def tcl_script(exe: FpgaExecutable, description: MachineDescription, part: str) -> str:
    d = exe.design
    period = 1e9 / description.clock_hz
    flags = "-std=c++14 -Iinclude/hetflow_hls -Ifirmware"
    return "\n".join([
        f"# Vitis HLS project for {d.name} on {description.name}, generated by hetflow.",
        "# Run from this directory: vitis_hls -f build_prj.tcl",
        "# Vitis HLS brings its own ap_types and hls_stream.h; include/ap_types and include/csim are for g++ only.",
        f"set part {{{part}}}",
        f"set clock_period {period:.3f}",
        f"open_project -reset {d.name}_prj",
        f"set_top {d.name}",
        f'add_files firmware/{d.name}.cpp -cflags "{flags}"',
        f'add_files -tb tb/{d.name}_test.cpp -cflags "{flags}"',
        "add_files -tb tb_data",
        "open_solution -reset solution1",
        "set_part $part",
        "create_clock -period $clock_period -name default",
        "csim_design -argv tb_data",
        "csynth_design",
        "# cosim_design -argv tb_data",
        "export_design -format ip_catalog",
        "exit", ""])


def makefile(top: str) -> str:
    return "\n".join([
        f"# C simulation of {top} with g++ (no Vitis needed). Generated by hetflow.",
        "CXX ?= g++",
        "CXXFLAGS ?= -std=c++14 -O1",
        "INCLUDES = -Ifirmware -Iinclude/hetflow_hls -Iinclude/csim -isystem include/ap_types",
        "",
        ".PHONY: test syntax clean",
        f"csim: tb/{top}_test.cpp firmware/{top}.cpp",
        f"\t$(CXX) $(CXXFLAGS) $(INCLUDES) tb/{top}_test.cpp firmware/{top}.cpp -o csim",
        "",
        "test: csim",
        "\t./csim tb_data",
        "",
        "syntax:",
        f"\t$(CXX) -std=c++14 -fsyntax-only -Wall $(INCLUDES) firmware/{top}.cpp tb/{top}_test.cpp",
        "",
        "clean:",
        "\trm -f csim", ""])


def readme(exe: FpgaExecutable, description: MachineDescription, part: str | None, samples: int,
           tolerance: float) -> str:
    d, est = exe.design, exe.estimate
    layers = "\n".join(f"| {lay.name} | {lay.op} | hf::{lay.template} | {lay.output.type} | {lay.reuse_factor} |"
                       for lay in d.layers)
    return f"""# {d.name}: HLS project generated by hetflow

Target: {description.name} at {description.clock_hz / 1e6:g} MHz; {d.architecture} architecture; top function `{d.name}`.

## Files

- `firmware/`: the design. `{d.name}.cpp` calls the template library once per layer; `parameters.h` holds one
  configuration struct per layer (sizes, reuse factor, fixed-point types); `weights/` the quantized parameters.
- `include/hetflow_hls/`: hetflow's HLS template library (dense, conv2d, pooling, activations, softmax, ...).
- `include/ap_types/`, `include/csim/hls_stream.h`: ap_fixed (Apache-2.0, see its LICENSE) and an hls::stream
  for g++. Vitis HLS uses its own; do not add these to its include path.
- `tb/{d.name}_test.cpp`, `tb_data/`: a testbench and {samples} golden sample(s). The outputs were produced by
  hetflow's C simulation of this design; the testbench requires every output value to match exactly, and
  every output to be within {tolerance:.4g} of the float reference outputs in `tb_data/tb_output_float.dat`
  (NumPy, no quantization): it prints the largest error and PASS or FAIL against that tolerance.
- `build_prj.tcl`: Vitis HLS script (C simulation, synthesis, IP export). `hetflow_report.txt`: layers and estimates.

## Run

C simulation with g++ only: `make test` (prints `PASS: ...` and exits 0 when bit-exact and within tolerance of
float). Syntax check: `make syntax`.

Synthesis: install Vitis HLS, then in this directory run `vitis_hls -f build_prj.tcl`. The part is
`{part or "not known for this board: set it in build_prj.tcl"}` and the clock period {1e9 / description.clock_hz:.3f} ns.
Reports land in `{d.name}_prj/solution1/syn/report/`; compare them with the estimates below.

## Layers

| layer | IR op | template | result type | reuse factor |
|---|---|---|---|---|
{layers}

## Estimates (model:hls-cycles, not measurements)

{est.summary()}

These come from hetflow's cycle and resource model (trip counts, initiation intervals and reuse
factors), not from synthesis.
"""


def config_from_options(*, architecture: str | None = None, reuse_factor: int | None = None,
                        precision: str | None = None, config_file: str | Path | None = None) -> HLSConfig:
    """An HLSConfig from a JSON or TOML file (optional) with command-line overrides on top."""
    raw: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        text = path.read_text()
        try:
            if path.suffix == ".toml":
                import tomllib

                raw = tomllib.loads(text)
            else:
                import json

                raw = json.loads(text)
        except ValueError as exc:
            raise HLSConfigError(f"{path}: cannot read the HLS config: {exc}") from None
    config = HLSConfig.from_dict(raw)
    if architecture is not None:
        config = config.with_architecture(architecture)  # type: ignore[arg-type]
    model: dict[str, Any] = {}
    if reuse_factor is not None:
        model["reuse_factor"] = reuse_factor
    if precision is not None:
        model["precision"] = precision
    return config.with_model(**model) if model else config
