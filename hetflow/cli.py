"""The ``hetflow`` command (Typer + Rich).

Every error a user can cause (a HetflowError, an unreadable file, a bad .npy) is printed as one
line ``error: ...`` on stderr with exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import ast
import enum
import inspect
import logging
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import hetflow as hf
from hetflow.errors import HetflowError, InputError, ModelError
from hetflow.frontends.onnx.table import table as mapping_table
from hetflow.ir import Graph, Value, all_ops
from hetflow.passes import regions

app = typer.Typer(
    name="hetflow",
    help="hetflow: one model, many chips. Import a model, compile it for this host's devices, run it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console(highlight=False)

BUNDLED_MODELS: dict[str, str] = {
    "resnet50": "light_resnet50.onnx",
    "squeezenet": "light_squeezenet.onnx",
    "densenet121": "light_densenet121.onnx",
    "alexnet": "light_bvlc_alexnet.onnx",
    "inception_v1": "light_inception_v1.onnx",
    "inception_v2": "light_inception_v2.onnx",
    "shufflenet": "light_shufflenet.onnx",
    "vgg19": "light_vgg19.onnx",
    "zfnet512": "light_zfnet512.onnx",
}
"""Model names ``hetflow run`` accepts in place of a path: the light model zoo in the onnx wheel."""

DebugOption = Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error, and debug logs.")]
ModelArgument = Annotated[
    str, typer.Argument(help=f"An ONNX file, or a bundled model: {', '.join(BUNDLED_MODELS)}.", show_default=False)
]


def bundled_models_dir() -> Path:
    """Where the onnx wheel keeps its light model zoo."""
    import onnx

    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def resolve_model(model: str) -> Path:
    """A model argument -> a file: an existing path, else a bundled model name."""
    path = Path(model)
    if path.exists():
        return path
    if model not in BUNDLED_MODELS:
        raise ModelError(f"{model}: no such file, and not a bundled model ({', '.join(BUNDLED_MODELS)})")
    bundled = bundled_models_dir() / BUNDLED_MODELS[model]
    if not bundled.exists():
        raise ModelError(f"bundled model '{model}' is missing from the onnx package ({bundled})")
    return bundled


@contextmanager
def _user_errors(debug: bool) -> Iterator[None]:
    """Turn the errors a user can cause into one line on stderr and exit code 2."""
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    try:
        yield
    except (HetflowError, OSError, EOFError) as exc:
        if debug:
            raise
        typer.echo(f"error: {_one_line(exc)}", err=True)
        raise typer.Exit(2) from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    if isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror or text}"
    return text or type(exc).__name__


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hetflow {hf.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """hetflow: one model, many chips."""


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


def gather_feeds(graph: Graph, specs: list[str], random: bool, seed: int) -> dict[str, np.ndarray]:
    """Inputs from ``name=file.npy`` specs, the rest random when asked."""
    feeds = dict(_parse_input(spec) for spec in specs)
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


ClusterOption = Annotated[
    str | None, typer.Option("--cluster", "-c", help="A cluster TOML file or preset (host-only, datacenter-node, ...).")
]
ObjectiveOption = Annotated[str, typer.Option(help="What placement optimises: latency, throughput or mincut.")]


@app.command()
def run(
    model: ModelArgument,
    inputs: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="An input as NAME=FILE.npy; repeat for several.")
    ] = None,
    random: Annotated[bool, typer.Option("--random", help="Random data for every input not given.")] = False,
    seed: Annotated[int, typer.Option(help="Seed for --random.")] = 0,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write all outputs to this .npz file.")] = None,
    backend: Annotated[
        str | None, typer.Option(help="The code generator to compile with (default: the host's).")
    ] = None,
    cluster: ClusterOption = None,
    objective: ObjectiveOption = "latency",
    trace: Annotated[
        Path | None, typer.Option(help="With --cluster: write a Chrome/Perfetto trace JSON of the run here.")
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Run a model on inputs (files or --random); print the top-5 of each output and the time.

    A bundled model given no inputs runs on seeded random data. With --cluster the model is placed
    across the cluster's devices and run through the heterogeneous runtime.
    """
    with _user_errors(debug):
        path = resolve_model(model)
        graph = hf.load(path)
        if cluster is not None:
            plan = hf.compile(graph, cluster, objective=objective, **({"backend": backend} if backend else {}))
        elif trace is not None:
            raise HetflowError("--trace needs --cluster (a plain host run has no device timeline)")
        else:
            plan = hf.compile(graph, **({"backend": backend} if backend else {}))
        if not inputs and model in BUNDLED_MODELS and not random:
            console.print(f"bundled model {model}: no --input given, running on seeded random data (seed {seed})")
            random = True
        feeds = gather_feeds(graph, inputs or [], random, seed)
        start = time.perf_counter()
        outputs = plan.run(feeds, trace=trace) if cluster is not None else plan.run(feeds)
        elapsed = time.perf_counter() - start
        for name, array in outputs.items():
            _print_top5(name, array)
        if cluster is not None:
            console.print(escape(str(plan.last_run)))
            if trace is not None:
                console.print(f"trace written to {trace}")
        else:
            used = plan.options.get("backend", backend)
            console.print(f"time: {elapsed * 1e3:.1f} ms (measured: wall clock of one run, backend {used}, this host)")
        if output is not None:
            path = output if output.suffix == ".npz" else output.with_name(output.name + ".npz")  # as np.savez names it
            np.savez(path, **outputs)
            console.print(f"outputs written to {path}")


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
            if inspect.isfunction(helper) and helper.__module__.startswith("hetflow.frontends.onnx"):
                found |= emitted_ir_ops(helper, depth - 1)
    if dynamic:  # the op name is chosen at run time: take the op names the function spells out
        found |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in ir_ops}
    return {op for op in found if op in ir_ops}


@app.command()
def ops(debug: DebugOption = False) -> None:
    """List the ONNX ops hetflow maps: opset versions, family, and the IR ops each emits."""
    with _user_errors(debug):
        grouped: dict[tuple[str, str], list[Any]] = {}
        for mapping in mapping_table():
            grouped.setdefault((mapping.domain, mapping.op_type), []).append(mapping)
        table = Table(title="ONNX ops mapped by hetflow", title_justify="left")
        table.add_column("ONNX op")
        table.add_column("opsets from")
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
        console.print(f"{len(grouped)} ONNX ops ({sum(len(m) for m in grouped.values())} versioned mappings) "
                      f"onto {len(ir_used)} of {len(all_ops())} IR ops")


# ---------------------------------------------------------------- inspect
class Granularity(enum.StrEnum):
    op = "op"
    layer = "layer"
    block = "block"
    network = "network"


@app.command(name="inspect")
def inspect_model(
    model: ModelArgument,
    granularity: Annotated[
        Granularity, typer.Option("--granularity", "-g", help="The grain to show the graph at.")
    ] = Granularity.layer,
    debug: DebugOption = False,
) -> None:
    """Show a model's graph at a grain (op, layer, block, network), with FLOPs and parameter bytes."""
    with _user_errors(debug):
        graph = hf.load(resolve_model(model))
        console.print(f"[bold]{escape(graph.name)}[/bold]: {len(graph.nodes)} nodes")
        for kind, values in (("input", graph.inputs), ("output", graph.outputs)):
            for v in values:
                console.print(f"  {kind} {v.name}: {v.type}")
        rows = regions.summarize(graph, granularity.value)
        typer.echo(regions.render_summary(rows, title=f"{graph.name} at {granularity.value} grain"))


# ---------------------------------------------------------------- plan and profile
@app.command()
def plan(
    model: ModelArgument,
    cluster: Annotated[str, typer.Option("--cluster", "-c", help="A cluster TOML file or preset.")] = "host-only",
    objective: ObjectiveOption = "latency",
    pin: Annotated[
        list[str] | None, typer.Option("--pin", help="KIND:PATTERN=DEVICE (kind node, region or op); repeat for several.")
    ] = None,
    no_fallback: Annotated[
        bool, typer.Option("--no-fallback", help="Fail, naming the node, rather than fall back to a CPU.")
    ] = False,
    profile: Annotated[Path | None, typer.Option(help="A profile from `hetflow profile` to replace the roofline.")] = None,
    explain: Annotated[list[str] | None, typer.Option("--explain", help="Say why NODE went where it did.")] = None,
    save: Annotated[Path | None, typer.Option(help="Save the plan (manifest, IR, artifacts) to this directory.")] = None,
    debug: DebugOption = False,
) -> None:
    """Place a model on a cluster and print where every part runs, what it is estimated to cost, and why."""
    with _user_errors(debug):
        graph = hf.load(resolve_model(model))
        compiled = hf.compile(graph, cluster, objective=objective, pins=pin or None, no_fallback=no_fallback,
                              profile=profile)
        typer.echo(compiled.report())
        for node in explain or []:
            try:
                typer.echo(compiled.explain(node))
            except KeyError as exc:
                raise HetflowError(str(exc.args[0])) from None
        typer.echo(f"placement took {compiled.options['placement_s']:.3f} s (measured)")
        if save is not None:
            typer.echo(f"plan saved to {compiled.save(save)}")


@app.command(name="profile")
def profile_devices(
    model: Annotated[str | None, typer.Argument(help="Profile this model's op shapes (default: a built-in suite).")] = None,
    cluster: Annotated[str, typer.Option("--cluster", "-c", help="A cluster TOML file or preset.")] = "host-only",
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the profile JSON.")] = Path(
        "hetflow-profile.json"),
    repeats: Annotated[int, typer.Option(help="Timed runs per op (the median is kept).")] = 5,
    debug: DebugOption = False,
) -> None:
    """Time ops on the cluster's devices that are this machine; `plan --profile` then uses the measurements."""
    from hetflow.partition.profile import present_devices, profile_cluster

    with _user_errors(debug):
        target = hf.Cluster.load(cluster)
        if not present_devices(target):
            raise HetflowError(f"cluster {target.name!r} has no device that is this machine; emulated devices cannot "
                               f"be profiled (their time is modelled)")
        graph = hf.load(resolve_model(model)) if model is not None else None
        result = profile_cluster(target, graph, repeats=repeats, progress=lambda line: console.print(escape(line)))
        result.save(output)
        count = sum(len(t) for t in result.times.values())
        typer.echo(f"{count} op shapes measured; profile written to {output}")


# ---------------------------------------------------------------- targets
@app.command()
def targets(
    name: Annotated[str | None, typer.Argument(help="A preset name such as nvidia/h200; omit to list them.")] = None,
    debug: DebugOption = False,
) -> None:
    """List the machine-description presets, or show one."""
    from hetflow.targets import get_preset, list_presets, render_description

    with _user_errors(debug):
        if name is not None:
            typer.echo(render_description(get_preset(name)))
            return
        table = Table(title="machine presets", title_justify="left")
        for column in ("name", "kind", "backend", "vendor"):
            table.add_column(column)
        for preset in list_presets():
            desc = get_preset(preset)
            table.add_row(preset, desc.kind, desc.backend, desc.vendor)
        console.print(table)


# ---------------------------------------------------------------- codegen
CODEGEN_BY_BACKEND = {"nvdla": "hetflow.backends.nvdla.export:export_loadable"}
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


@app.command()
def codegen(
    model: ModelArgument,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write the project into.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Board preset (an fpga_hls description).")] =
        "xilinx/alveo-u250",
    architecture: Annotated[str | None, typer.Option(help="parallel or stream.")] = None,
    reuse_factor: Annotated[int | None, typer.Option("--reuse-factor", help="Model-wide reuse factor.")] = None,
    precision: Annotated[str | None, typer.Option(help="Model-wide precision, e.g. 'fixed<16,6>'.")] = None,
    config: Annotated[Path | None, typer.Option(help="HLSConfig as a JSON or TOML file (model/op_type/name).")] = None,
    fold: Annotated[bool, typer.Option("--fold", help="Raise reuse factors until the design fits the board.")] = False,
    trace_precision: Annotated[bool, typer.Option("--trace-precision",
                                                  help="Print per-layer error against float and where it is lost.")] = False,
    inputs: Annotated[list[str] | None, typer.Option("--input", "-i", help="Golden input NAME=FILE.npy.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random golden inputs.")] = 0,
    debug: DebugOption = False,
) -> None:
    """Write a Vitis HLS project (sources, headers, Tcl, testbench with golden data, README) for an FPGA board,
    or for an NVDLA target (nvidia/nvdla-*) an int8 loadable with a readable dump (--input NAME=FILE.npy calibrates)."""
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
