"""The ``hetflow`` command (Typer + Rich).

Every error a user can cause (a HetflowError, an unreadable file, a bad .npy) is printed as one
line ``error: ...`` on stderr with exit code 2; ``--debug`` shows the traceback as well (same exit
code). Hints inside error messages name the CLI's own flags (``--reuse-factor``), not the Python API's
keywords (``HLSConfig ... reuse_factor``): ``CLI_SPELLING`` rewrites them. ``plan``, ``run``,
``targets`` and ``inspect`` take ``--json`` for machine-readable output.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import logging
import os
import re
import statistics
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

import hetflow as hf
from hetflow import zoo
from hetflow.backends.native import CompileError
from hetflow.errors import HetflowError, InputError, ModelError
from hetflow.frontends.registry import pick_frontend
from hetflow.ir import Graph, Value, all_ops
from hetflow.passes import regions
from hetflow.targets import MachineDescription

if TYPE_CHECKING:
    from hetflow.backends.gpu_triton.profiling import NodeTimer


class _Command(TyperCommand):
    """A command whose help shows each value's metavar (MODEL, NAME=FILE.npy, N) where typer would print a
    Python type label (``<str>``, ``<list[str]>``, ``<bool>``), and ``MODEL`` rather than ``{model}`` in usage."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            _label(param)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            _label(option)
        return option


def _label(param: Any) -> None:
    """Show ``param``'s metavar (or nothing, for a flag) in help instead of its Python type."""
    flag = isinstance(param, TyperOption) and param.is_flag
    label = None if flag or isinstance(param, TyperArgument) else param.metavar or (param.name or "").upper()
    # Instance attributes override typer's methods for this one parameter only.
    param.display_type_rich = lambda ctx, label=label: label
    if isinstance(param, TyperArgument):
        name = param.metavar or (param.name or "").upper()
        param._usage_display_name = lambda n=name, req=param.required: n if req else f"[{n}]"


_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
"""click's UsageError (a bad option value, an unknown option or command, a missing argument), found from typer's
public BadParameter: typer vendors its own copy of click from 0.25 on, older ones use click itself."""


def usage_line(exc: Any) -> str:
    """A click usage error (``_UsageError``) as one line naming the command and the option, not typer's boxed panel."""
    where = exc.ctx.command_path if exc.ctx is not None else "hetflow"
    return f"{where}: {' '.join(exc.format_message().split())} (see `{where} --help`)"


@contextmanager
def _usage_errors() -> Iterator[None]:
    """Print a usage error as ``error: ...`` on stderr and exit 2, as every other user error."""
    try:
        yield
    except _UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `hetflow` alone: the help itself, as typer shows it
            raise
        typer.echo(f"error: {usage_line(exc)}", err=True)
        raise typer.Exit(2) from None


class _Group(TyperGroup):
    """The ``hetflow`` group: usage errors of the group and of every verb (parsed inside ``invoke``) as one line."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        with _usage_errors():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _usage_errors():
            return super().invoke(ctx)


app = typer.Typer(
    name="hetflow",
    cls=_Group,
    help="hetflow: one model, many chips. Import a model, compile it for this host's devices, run it.\n\n"
         "Compiled code is cached in HETFLOW_CACHE_DIR (default ~/.cache/hetflow). GPU, FPGA and ASIC devices of a "
         "cluster are emulated: computed on this host, their times modelled (model:<name>), never measured.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console(highlight=False)

BUNDLED_MODELS = zoo.MODELS
"""Model names any MODEL argument takes in place of a path (`hetflow models` lists them)."""

DebugOption = Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error, and debug logs.")]
ModelArgument = Annotated[
    str, typer.Argument(metavar="MODEL", show_default=False,
                        help=f"An ONNX file, or a bundled model (`hetflow models`): {', '.join(BUNDLED_MODELS)}.")
]


def resolve_model(model: str) -> Path:
    """A model argument -> a file: an existing path, else a bundled model name."""
    path = Path(model)
    if path.exists():
        return path
    if model not in BUNDLED_MODELS:
        raise ModelError(f"{model}: no such file, and not a bundled model ({', '.join(BUNDLED_MODELS)})")
    return zoo.model_path(model)


CLI_SPELLING: tuple[tuple[str, str], ...] = (
    (r"HLSConfig name\[('[^']+')\]\.reuse_factor, or reuse_factor for the whole model",
     r"--config FILE with name.\1.reuse_factor, or --reuse-factor N for the whole model"),
    (r"HLSConfig name\[('[^']+')\]\.precision", r"name.\1.precision in a --config FILE, or --precision"),
    (r"architecture='stream'", "--architecture stream"),
    (r"architecture='parallel'", "--architecture parallel"),
    (r"fit='fold'", "--fold"),
    (r"Compile with hf\.compile\(graph, cluster\) so that the partitioner keeps them on a CPU",
     "Run it with --cluster (hetflow run/plan MODEL --cluster C) so that the partitioner keeps them on a CPU"),
    (r"compile with profile=True", "profile it with `hetflow profile`"),
)
"""Hints as the Python API spells them -> as the CLI does (regex, replacement), applied to every error it prints."""


def cli_spelling(text: str) -> str:
    """``text`` with API keywords in its hints replaced by the CLI's flags."""
    for pattern, replacement in CLI_SPELLING:
        text = re.sub(pattern, replacement, text)
    return text


@contextmanager
def _user_errors(debug: bool) -> Iterator[None]:
    """Turn the errors a user can cause into one line on stderr and exit code 2 (``--debug``: traceback too)."""
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    try:
        yield
    except BrokenPipeError:
        _quiet_broken_pipe()
    except (HetflowError, OSError, EOFError) as exc:
        if debug:
            traceback.print_exc()
        typer.echo(f"error: {_one_line(exc)}", err=True)
        raise typer.Exit(2) from None


def _quiet_broken_pipe() -> None:
    """The reader of stdout went away (``| head``): stop quietly, as Python's docs recommend."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(1)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, CompileError):
        return _compile_error_line(exc)
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    if isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror or text}"
    return cli_spelling(text) or type(exc).__name__


def _compile_error_line(exc: CompileError) -> str:
    """A compiler's diagnostics are long: the headline and its first error, not 4,000 characters on one line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    first = next((ln for ln in lines[1:] if "error" in ln), "")
    return f"{lines[0] if lines else type(exc).__name__} {first[:300]} (--debug shows the full compiler output)"


def _choice(value: str, choices: tuple[str, ...], flag: str, what: str) -> str:
    """``value`` if it is one of ``choices``; else a one-line error naming the flag."""
    if value not in choices:
        raise InputError(f"{flag} {value}: unknown {what}; expected one of {', '.join(choices)}")
    return value


def _writable(path: Path | None, flag: str) -> None:
    """Fail before the work, not after it, when an output file cannot be written where asked."""
    if path is not None and not path.resolve().parent.is_dir():
        raise InputError(f"{flag} {path}: the directory {path.parent} does not exist")


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hetflow {hf.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """hetflow: one model, many chips (the app's help says more)."""


# ---------------------------------------------------------------- run
_NPY_MAGIC = b"\x93NUMPY"


def _parse_input(spec: str) -> tuple[str, np.ndarray]:
    name, sep, file = spec.partition("=")
    if not sep or not name or not file:
        raise InputError(f"--input '{spec}': expected NAME=FILE.npy")
    with open(file, "rb") as f:
        magic = f.read(len(_NPY_MAGIC))
    if magic != _NPY_MAGIC:
        raise InputError(f"--input {name}: {file} is not an .npy file (no NPY header); save arrays with numpy.save")
    try:
        return name, np.load(file, allow_pickle=False)
    except ValueError as exc:  # a damaged header, a truncated body, or pickled objects
        raise InputError(f"--input {name}: {file} cannot be read as .npy: {_one_line(exc)}") from None


def random_input(value: Value, rng: np.random.Generator) -> np.ndarray:
    """Random data fitting ``value``'s type; a symbolic dim (a batch) is taken as 1."""
    shape = value.type.shape
    if shape is None:
        raise InputError(f"input '{value.name}' has an unknown shape; give it with --input {value.name}=FILE.npy")
    dims = tuple(d if isinstance(d, int) else 1 for d in shape)
    dtype = value.type.dtype
    if dtype.is_float:
        return rng.standard_normal(dims).astype(dtype.numpy)
    if dtype.is_int:
        return rng.integers(0, 10, size=dims).astype(dtype.numpy)
    if dtype is hf.DType.bool:
        return rng.random(dims) < 0.5
    raise InputError(f"input '{value.name}' ({value.type}): --random cannot make {dtype} data; give it with --input")


def load_at_input_shapes(path: Path, given: dict[str, np.ndarray]) -> Graph:
    """The model, with an ONNX model's symbolic input dims (named, -1, 0 or missing) set to the shapes of the
    inputs ``given``: one run needs one shape, so the plan is static and every backend compiles all of it (a
    shape computation no symbolic dim could express folds too). Other formats import as they are."""
    if given and pick_frontend(path).name == "onnx":
        return hf.load(path, input_shapes={name: tuple(array.shape) for name, array in given.items()})
    return hf.load(path)


def gather_feeds(graph: Graph, given: dict[str, np.ndarray], random: bool, seed: int) -> dict[str, np.ndarray]:
    """The inputs ``given`` (from ``name=file.npy`` specs), the rest random when asked."""
    feeds = dict(given)
    names = [v.name for v in graph.inputs]
    unknown = sorted(set(feeds) - set(names))
    if unknown:
        raise InputError(f"--input {unknown[0]}: the model has no input of that name; its inputs are {names}")
    rng = np.random.default_rng(seed)
    for value in graph.inputs:
        if value.name in feeds:
            continue
        if not random:
            raise InputError(f"input '{value.name}' ({value.type}) is missing; pass --input {value.name}=FILE.npy or --random")
        feeds[value.name] = random_input(value, rng)
    return feeds


def top_k(array: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """The k largest entries of the first sample (axis 0 is the batch), as (flat index, value)."""
    flat = np.asarray(array).reshape(array.shape[0], -1)[0] if array.ndim > 1 else np.asarray(array).reshape(-1)
    if flat.size == 0 or flat.dtype == object:
        return []
    order = np.argsort(-flat.astype(np.float64), kind="stable")[:k]
    return [(int(i), float(flat[i])) for i in order]


OBJECTIVES = ("latency", "throughput", "mincut")
ClusterOption = Annotated[
    str | None, typer.Option("--cluster", "-c", metavar="CLUSTER",
                             help="A cluster TOML file or preset (`hetflow clusters` lists them).")
]
ObjectiveOption = Annotated[str, typer.Option(metavar="|".join(OBJECTIVES),
                                              help="What placement optimises (with --cluster).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]


@dataclass(frozen=True)
class Timing:
    """Wall-clock times of the timed runs (after the warm-up ones), in seconds."""

    times: list[float]
    warmup: int

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def line(self, backend: str) -> str:
        t = [x * 1e3 for x in self.times]
        if len(t) == 1:
            return (f"time: {t[0]:.1f} ms (measured: wall clock of one run after {self.warmup} warm-up, backend "
                    f"{backend}, this host)")
        return (f"time: median {statistics.median(t):.2f} ms, min {min(t):.2f}, max {max(t):.2f}, stdev "
                f"{statistics.stdev(t):.2f} (measured: wall clock of {len(t)} runs after {self.warmup} warm-up, "
                f"backend {backend}, this host)")

    def as_dict(self) -> dict[str, Any]:
        return {"source": "measured", "runs": len(self.times), "warmup": self.warmup, "median_s": self.median,
                "min_s": min(self.times), "max_s": max(self.times), "times_s": self.times}


def timed_runs(call: Callable[[], dict[str, np.ndarray]], repeat: int, warmup: int) -> \
        tuple[dict[str, np.ndarray], Timing]:
    """Run ``warmup`` untimed times (compilation, specialization and caches happen there), then ``repeat`` timed."""
    for _ in range(warmup):
        call()
    times, outputs = [], {}
    for _ in range(repeat):
        start = time.perf_counter()
        outputs = call()
        times.append(time.perf_counter() - start)
    return outputs, Timing(times, warmup)


@app.command(cls=_Command)
def run(
    model: ModelArgument,
    inputs: Annotated[
        list[str] | None, typer.Option("--input", "-i", metavar="NAME=FILE.npy",
                                       help="An input as NAME=FILE.npy; repeat for several.")
    ] = None,
    random: Annotated[bool, typer.Option("--random", help="Random data for every input not given.")] = False,
    seed: Annotated[int, typer.Option(min=0, metavar="N", help="Seed for --random.")] = 0,
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE.npz",
                                                help="Write all outputs to this .npz file.")] = None,
    backend: Annotated[
        str | None, typer.Option(metavar="NAME", help="The code generator to compile with (default: the host's).")
    ] = None,
    cluster: ClusterOption = None,
    objective: ObjectiveOption = "latency",
    trace: Annotated[
        Path | None, typer.Option(metavar="FILE.json",
                                  help="With --cluster: write a Chrome/Perfetto trace JSON of the run here.")
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, metavar="N", help="Timed runs; the median and spread are printed.")] = 1,
    warmup: Annotated[int, typer.Option(min=0, metavar="K",
                                        help="Untimed runs first (compilation caches, specialization).")] = 1,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Run a model on inputs (files or --random); print the top-5 of each output and the time.

    A bundled model given no inputs runs on seeded random data. With --cluster the model is placed
    across the cluster's devices and run through the heterogeneous runtime; emulated devices compute
    on this host and report modelled time.
    """
    with _user_errors(debug):
        _choice(objective, OBJECTIVES, "--objective", "objective")
        _writable(output, "--output")
        _writable(trace, "--trace")
        if trace is not None and cluster is None:
            raise InputError("--trace needs --cluster (a plain host run has no device timeline)")
        path = resolve_model(model)
        given = dict(_parse_input(spec) for spec in inputs or [])
        graph = load_at_input_shapes(path, given)
        options = {"backend": backend} if backend else {}
        compiled = hf.compile(graph, cluster, objective=objective, **options) if cluster is not None \
            else hf.compile(graph, **options)
        if not inputs and model in BUNDLED_MODELS and not random:
            if not as_json:
                console.print(f"bundled model {model}: no --input given, running on seeded random data (seed {seed})")
            random = True
        feeds = gather_feeds(graph, given, random, seed)
        call = (lambda: compiled.run(feeds, trace=trace)) if cluster is not None else (lambda: compiled.run(feeds))
        outputs, timing = timed_runs(call, repeat, warmup)
        written = _save_outputs(outputs, output)
        used = compiled.options.get("backend", backend)
        if as_json:
            _print_json({"model": str(path), "outputs": {name: _output_summary(a) for name, a in outputs.items()},
                         "time": timing.as_dict(),
                         "run_report": str(compiled.last_run) if cluster is not None else None,
                         "backend": used, "written": str(written) if written else None})
            return
        for name, array in outputs.items():
            _print_top5(name, array)
        if cluster is not None:
            console.print(escape(str(compiled.last_run)))
            if trace is not None:
                console.print(f"trace written to {trace}")
            console.print(timing.line("the cluster's, emulated devices computing on this host"), soft_wrap=True)
        else:
            console.print(timing.line(str(used)), soft_wrap=True)
            for note in compiled.notes():
                console.print(escape(note), soft_wrap=True)
        if written is not None:
            console.print(f"outputs written to {written}")


def _save_outputs(outputs: dict[str, np.ndarray], output: Path | None) -> Path | None:
    if output is None:
        return None
    path = output if output.suffix == ".npz" else output.with_name(output.name + ".npz")  # as np.savez names it
    np.savez(path, **outputs)
    return path


def _output_summary(array: np.ndarray) -> dict[str, Any]:
    return {"dtype": str(array.dtype), "shape": list(array.shape),
            "top5": [{"index": i, "value": v} for i, v in top_k(array)]}


def _print_top5(name: str, array: np.ndarray) -> None:
    console.print(f"{escape(name)}: {array.dtype}{list(array.shape)}, top-5 of sample 0", soft_wrap=True)
    table = Table()
    table.add_column("rank", justify="right")
    table.add_column("index", justify="right")
    table.add_column("value", justify="right")
    for rank, (index, value) in enumerate(top_k(array), 1):
        table.add_row(str(rank), str(index), f"{value:.6g}")
    console.print(table)


# ---------------------------------------------------------------- ops
def emitted_ir_ops(fn: Callable[..., Any], depth: int = 3) -> set[str]:
    """IR ops a mapping function emits, read from its source (and the frontend helpers it calls)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return set()
    ir_ops = all_ops()
    found: set[str] = set()
    dynamic = False
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        callee = node.func
        if isinstance(callee, ast.Attribute) and callee.attr == "emit" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(first.value)
            else:
                dynamic = True
        elif isinstance(callee, ast.Name) and depth > 0:
            helper = getattr(fn, "__globals__", {}).get(callee.id)
            if inspect.isfunction(helper) and helper.__module__.startswith("hetflow.frontends"):
                found |= emitted_ir_ops(helper, depth - 1)
    if dynamic:  # the op name is chosen at run time: take the op names the function spells out
        found |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in ir_ops}
    return {op for op in found if op in ir_ops}


@app.command(cls=_Command)
def ops(frontend: str = typer.Option("onnx", help="onnx, torch (ATen) or tflite"), debug: DebugOption = False) -> None:
    """List the source ops a frontend maps: versions, family, and the IR ops each emits."""
    with _user_errors(debug):
        tables = {"onnx": "hetflow.frontends.onnx.table:ONNX_TABLE", "torch": "hetflow.frontends.torch.table:ATEN_TABLE",
                  "tflite": "hetflow.frontends.tflite.table:TFLITE_TABLE"}
        if frontend not in tables:
            raise InputError(f"--frontend {frontend!r}: expected one of {', '.join(tables)}")
        module, _, attr = tables[frontend].partition(":")
        source = getattr(importlib.import_module(module), attr)
        grouped: dict[tuple[str, str], list[Any]] = {}
        for mapping in source.entries():
            grouped.setdefault((mapping.domain, mapping.op_type), []).append(mapping)
        table = Table(title=f"{source.source} ops mapped by hetflow", title_justify="left")
        table.add_column(f"{source.source} op")
        table.add_column(f"{source.version_name}s from")
        table.add_column("family")
        table.add_column("IR ops emitted (read from the mapping source)")
        ir_used: set[str] = set()
        for (domain, op_type), mappings in sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][1].lower())):
            emitted = set().union(*(emitted_ir_ops(m.fn) for m in mappings))
            ir_used |= emitted
            label = op_type if not domain else f"{domain}:{op_type}"
            table.add_row(label, ", ".join(str(m.since) for m in mappings), mappings[-1].module,
                          ", ".join(sorted(emitted)) or "-")
        console.print(table)
        console.print(f"{len(grouped)} {source.source} ops ({sum(len(m) for m in grouped.values())} versioned mappings) "
                      f"onto {len(ir_used)} of {len(all_ops())} IR ops")


# ---------------------------------------------------------------- inspect
GRAINS = ("op", "layer", "block", "network")


@app.command(name="inspect", cls=_Command)
def inspect_model(
    model: ModelArgument,
    granularity: Annotated[
        str, typer.Option("--granularity", "-g", metavar="|".join(GRAINS), help="The grain to show the graph at.")
    ] = "layer",
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Show a model's graph at a grain (op, layer, block, network), with FLOPs and parameter bytes."""
    with _user_errors(debug):
        _choice(granularity, GRAINS, "--granularity", "grain")
        graph = hf.load(resolve_model(model))
        rows = regions.summarize(graph, granularity)  # type: ignore[arg-type]
        if as_json:
            _print_json({"graph": graph.name, "nodes": len(graph.nodes), "granularity": granularity,
                         "inputs": {v.name: str(v.type) for v in graph.inputs},
                         "outputs": {v.name: str(v.type) for v in graph.outputs},
                         "units": [row.__dict__ for row in rows]})
            return
        console.print(f"[bold]{escape(graph.name)}[/bold]: {len(graph.nodes)} nodes")
        for kind, values in (("input", graph.inputs), ("output", graph.outputs)):
            for v in values:
                console.print(f"  {kind} {v.name}: {v.type}")
        typer.echo(regions.render_summary(rows, title=f"{graph.name} at {granularity} grain"))


# ---------------------------------------------------------------- plan and profile
def explain_targets(graph: Graph, names: list[str]) -> dict[str, list[str]]:
    """Each ``--explain`` name -> the op-level nodes it stands for: a node, or a layer, block or network region
    (as ``inspect -g`` shows them). Raises naming the valid names when one is neither."""
    nodes = {n.name for n in graph.nodes}
    grouped = graph if regions_formed(graph) else regions.form_regions(graph.copy())
    units: dict[str, list[str]] = {}
    for node in grouped.nodes:
        for unit in grouped.region_path(node.region):
            units.setdefault(unit, []).append(node.name)
    found: dict[str, list[str]] = {}
    for name in names:
        if name in nodes:
            found[name] = [name]
        elif name in units:
            found[name] = units[name]
        else:
            layers = [u for u, r in grouped.regions.items() if r.kind == "layer"]
            raise InputError(f"--explain {name}: no node, layer or block of that name in {graph.name!r}; its layers "
                             f"are {', '.join(layers[:12])}{' ...' if len(layers) > 12 else ''} (`hetflow inspect MODEL "
                             f"-g layer` or `-g op` lists them all)")
    return found


def regions_formed(graph: Graph) -> bool:
    """Whether ``graph`` already carries a valid region tree."""
    try:
        regions.check_regions(graph)
    except HetflowError:
        return False
    return True


def _plan_json(compiled: hf.Plan, explained: dict[str, list[str]]) -> dict[str, Any]:
    est = compiled.estimate
    return {
        "graph": compiled.graph.name, "cluster": compiled.cluster_name, "objective": compiled.objective,
        "estimate": None if est is None else {"latency_s": est.latency, "period_s": est.period, "source": est.source,
                                              "method": est.method},
        "subgraphs": [{"name": sub.name, "device": sub.device, "backend": sub.backend, "driver": sub.driver,
                       "nodes": [n.name for n in sub.nodes], "inputs": sub.inputs, "outputs": sub.outputs,
                       "estimate": {"seconds": sub.estimate.seconds, "source": sub.estimate.source}, "notes": sub.notes}
                      for sub in compiled.subgraphs],
        "transfers": [{"value": t.value, "bytes": t.nbytes, "src": t.src, "dst": t.dst, "kind": t.kind}
                      for t in compiled.transfers],
        "explain": {name: [compiled.explain(n) for n in members] for name, members in explained.items()},
        "placement_s": compiled.options.get("placement_s"),
    }


@app.command(cls=_Command)
def plan(
    model: ModelArgument,
    cluster: Annotated[str, typer.Option("--cluster", "-c", metavar="CLUSTER",
                                         help="A cluster TOML file or preset (`hetflow clusters` lists them).")] =
        "host-only",
    objective: ObjectiveOption = "latency",
    pin: Annotated[
        list[str] | None, typer.Option("--pin", metavar="KIND:PATTERN=DEVICE",
                                       help="Pin nodes (kind node, region or op) to a device; repeat for several.")
    ] = None,
    no_fallback: Annotated[
        bool, typer.Option("--no-fallback", help="Fail, naming the node, rather than fall back to a CPU.")
    ] = False,
    profile: Annotated[Path | None, typer.Option(metavar="FILE.json",
                                                 help="A profile from `hetflow profile` to replace the roofline.")] = None,
    explain: Annotated[list[str] | None, typer.Option("--explain", metavar="NAME",
                                                      help="Say why a node, layer or block went where it did.")] = None,
    save: Annotated[Path | None, typer.Option(metavar="DIR",
                                              help="Save the plan (manifest, IR, artifacts) to this directory.")] = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Place a model on a cluster and print where every part runs, what it is estimated to cost, and why."""
    with _user_errors(debug):
        _choice(objective, OBJECTIVES, "--objective", "objective")
        graph = hf.load(resolve_model(model))
        explained = explain_targets(graph, explain or [])  # checked before the (long) placement
        compiled = hf.compile(graph, cluster, objective=objective, pins=pin or None, no_fallback=no_fallback,
                              profile=profile)
        saved = compiled.save(save) if save is not None else None
        if as_json:
            _print_json({**_plan_json(compiled, explained), "saved": str(saved) if saved else None})
            return
        typer.echo(compiled.report())
        for name, members in explained.items():
            if members != [name]:
                typer.echo(f"{name}: {len(members)} node(s)")
            for node in members:
                typer.echo(compiled.explain(node))
        typer.echo(f"placement took {compiled.options['placement_s']:.3f} s (measured)")
        if saved is not None:
            typer.echo(f"plan saved to {saved}")


@app.command(name="profile", cls=_Command)
def profile_devices(
    model: Annotated[str | None, typer.Argument(help="Profile this model's op shapes (default: a built-in suite).")] = None,
    cluster: Annotated[str, typer.Option("--cluster", "-c", help="A cluster TOML file or preset.")] = "host-only",
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the profile JSON.")] = Path(
        "hetflow-profile.json"),
    repeats: Annotated[int, typer.Option(min=1, metavar="N", help="Timed runs per op (the median is kept).")] = 5,
    debug: DebugOption = False,
) -> None:
    """Time ops on the cluster's devices that are this machine (its CPU; a CUDA GPU of a described chip, with CUDA
    events); `plan --profile` then uses the measurements. Other devices keep their modelled times."""
    from hetflow.partition.cost import Profile
    from hetflow.partition.profile import add_measured, builtin_suite, present_devices, profile_cluster

    with _user_errors(debug):
        target = hf.Cluster.load(cluster)
        gpus = _gpu_timers(target, repeats)
        present = present_devices(target)
        if not present and not any(timer is not None for _, timer, _ in gpus):
            why = "".join(f"; {desc.name}: {reason}" for desc, _, reason in gpus)
            raise HetflowError(f"cluster {target.name!r} has no device that is this machine; emulated devices cannot "
                               f"be profiled (their time is modelled){why}")
        graph = hf.load(resolve_model(model)) if model is not None else None

        def progress(line: str) -> None:
            console.print(escape(line))

        result = profile_cluster(target, graph, repeats=repeats, progress=progress) if present else Profile()
        for desc, timer, reason in gpus:
            if timer is None:
                typer.echo(f"{desc.name}: not profiled: {reason}; it keeps the GPU cost model's times (model:gpu-cost)")
            else:
                add_measured(result, desc, graph or builtin_suite(), timer, progress)
        result.save(output)
        count = sum(len(t) for t in result.times.values())
        typer.echo(f"{count} op shapes measured; profile written to {output}")


def _gpu_timers(cluster: hf.Cluster, repeats: int) -> list[tuple[MachineDescription, NodeTimer | None, str | None]]:
    """Per GPU description of ``cluster`` run by gpu_triton: (description, a CUDA-event node timer or None, why not)."""
    from hetflow.backends.gpu_triton import GpuTritonBackend
    from hetflow.backends.gpu_triton.profiling import gpu_timer

    described = {d.description.name: d.description for d in cluster.devices
                 if d.description.backend == GpuTritonBackend.name}
    return [(desc, *gpu_timer(desc, repeats=repeats)) for desc in described.values()]


# ---------------------------------------------------------------- targets
@app.command(cls=_Command)
def targets(
    name: Annotated[str | None, typer.Argument(metavar="[NAME]",
                                               help="A preset name such as nvidia/h200; omit to list them.")] = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """List the machine-description presets, or show one."""
    from hetflow.targets import get_preset, list_presets, render_description

    with _user_errors(debug):
        if name is not None:
            desc = get_preset(name)
            if as_json:
                typer.echo(desc.model_dump_json(indent=2))
            else:
                typer.echo(render_description(desc))
            return
        rows = [(preset, get_preset(preset)) for preset in list_presets()]
        if as_json:
            _print_json([{"name": p, "kind": d.kind, "backend": d.backend, "vendor": d.vendor} for p, d in rows])
            return
        table = Table(title="machine presets", title_justify="left")
        for column in ("name", "kind", "backend", "vendor"):
            table.add_column(column)
        for preset, desc in rows:
            table.add_row(preset, desc.kind, desc.backend, desc.vendor)
        console.print(table)


@app.command(cls=_Command)
def clusters(as_json: JsonOption = False, debug: DebugOption = False) -> None:
    """List the cluster presets `--cluster` takes, with their devices."""
    from hetflow.targets import list_clusters

    with _user_errors(debug):
        rows = [(name, hf.Cluster.load(name)) for name in list_clusters()]
        described = [(name, [d.id for d in c.devices]) for name, c in rows]
        if as_json:
            _print_json([{"name": name, "devices": devices} for name, devices in described])
            return
        table = Table(title="cluster presets (--cluster NAME, or a TOML file)", title_justify="left")
        table.add_column("name")
        table.add_column("devices")
        for name, devices in described:
            table.add_row(name, ", ".join(devices))
        console.print(table)


@app.command(cls=_Command)
def models(
    name: Annotated[str | None, typer.Argument(metavar="[NAME]", help="A bundled model to write out with -o.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE.onnx",
                                                help="With NAME: write that model to this ONNX file.")] = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """List the bundled models any MODEL argument takes by name, or write one out (NAME -o FILE.onnx)."""
    import shutil

    with _user_errors(debug):
        if name is not None:
            if output is None:
                raise InputError(f"models {name}: give -o FILE.onnx to write it out")
            _writable(output, "--output")
            shutil.copyfile(resolve_model(name), output)
            typer.echo(f"{name} written to {output}")
            return
        rows = [(name, zoo.model_path(name)) for name in BUNDLED_MODELS]
        if as_json:
            _print_json([{"name": n, "path": str(path)} for n, path in rows])
            return
        table = Table(title="bundled models (give the name as MODEL; the light zoo's weights are constants)",
                      title_justify="left")
        table.add_column("name")
        table.add_column("file", overflow="fold")
        for n, path in rows:
            table.add_row(n, str(path))
        console.print(table)


# ---------------------------------------------------------------- codegen
CODEGEN_BY_BACKEND = {
    "nvdla": "hetflow.backends.nvdla.export:export_loadable",
    "gpu_triton": "hetflow.backends.gpu_triton.aot:cli_export",
}
"""Targets whose codegen is not the FPGA project writer, by their description's backend: "module:function", called
as ``function(graph, output, target=..., feeds=..., seed=...)`` and returning report lines."""


def _other_codegen(model: str, output: Path, target: str, inputs: list[str] | None, seed: int) -> bool:
    """Run the codegen of ``target``'s backend when it has one in CODEGEN_BY_BACKEND; False when it does not."""
    import importlib

    from hetflow.targets import get_preset

    backend = get_preset(target).backend
    if backend not in CODEGEN_BY_BACKEND:
        return False
    module, func = CODEGEN_BY_BACKEND[backend].split(":")
    feeds = dict(_parse_input(spec) for spec in inputs or [])
    lines = getattr(importlib.import_module(module), func)(hf.load(resolve_model(model)), output, target=target,
                                                           feeds=feeds or None, seed=seed)
    for line in lines:
        console.print(escape(line), soft_wrap=True)
    return True


@app.command(cls=_Command)
def codegen(
    model: ModelArgument,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write the project into.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Board preset (an fpga_hls description).")] =
        "xilinx/alveo-u250",
    architecture: Annotated[str | None, typer.Option(help="parallel or stream.")] = None,
    reuse_factor: Annotated[int | None, typer.Option("--reuse-factor", help="Model-wide reuse factor.")] = None,
    precision: Annotated[str | None, typer.Option(help="Model-wide precision, e.g. 'fixed<16,6>'.")] = None,
    config: Annotated[Path | None, typer.Option(help="HLSConfig as a JSON or TOML file (model/op_type/name).")] = None,
    fold: Annotated[bool, typer.Option("--fold/--no-fold", help="Raise reuse factors until the design fits the "
                                       "board (the default); --no-fold refuses a design that does not fit.")] = True,
    trace_precision: Annotated[bool, typer.Option("--trace-precision",
                                                  help="Print per-layer error against float and where it is lost.")] = False,
    inputs: Annotated[list[str] | None, typer.Option("--input", "-i", help="Golden input NAME=FILE.npy.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random golden inputs.")] = 0,
    debug: DebugOption = False,
) -> None:
    """Write a Vitis HLS project (sources, headers, Tcl, testbench with golden data, README) for an FPGA board;
    for a GPU target every kernel compiled ahead of time (PTX, cubin, manifest); for an NVDLA target
    (nvidia/nvdla-*) an int8 loadable with a readable dump (--input NAME=FILE.npy calibrates)."""
    import warnings

    from hetflow.backends.fpga_hls.export import config_from_options, export_project

    with _user_errors(debug), warnings.catch_warnings(record=True) as caught:
        if _other_codegen(model, output, target, inputs, seed):
            return
        warnings.simplefilter("always")
        try:
            graph = hf.load(resolve_model(model))
            feeds = dict(_parse_input(spec) for spec in inputs or [])
            cfg = config_from_options(architecture=architecture, reuse_factor=reuse_factor, precision=precision,
                                      config_file=config)
            report = export_project(graph, output, target=target, config=cfg, feeds=feeds or None, seed=seed,
                                    trace=trace_precision, fit="fold" if fold else "error")
        finally:
            for w in caught:
                typer.echo(f"warning: {w.message}", err=True)
        for line in report.lines():
            console.print(escape(line), soft_wrap=True)


def main() -> None:
    """Entry point of the ``hetflow`` script."""
    app()
