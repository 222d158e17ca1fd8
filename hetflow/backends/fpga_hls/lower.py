"""From an IR graph to a ``Design``: one sample's layers, their types and parameters, fused and configured.

Steps: specialize a symbolic batch dim to one sample (the fabric runs one sample at a time and
the host streams the batch through), decide which per-channel affine nodes fold into the
convolution or dense before them (the shared ``fold_affine`` pass, then the affine prefix of each
epilogue of the shared fusion grouping: a bias add after a dense), then build each node's layers
through the mapping table, resolving settings model < op type < node name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from hetflow.backends.fpga_hls import fixedpoint as fx
from hetflow.backends.fpga_hls import table
from hetflow.backends.fpga_hls.config import HLSConfig, HLSConfigError, LayerSettings, snap_reuse_factor
from hetflow.backends.fpga_hls.layers import Cast, Layer, Tensor
from hetflow.ir import Graph, Node, Value, get_op
from hetflow.ir.errors import HetflowError
from hetflow.passes.affine import Affine, channel_affine, fold_affine_into
from hetflow.passes.fusion import FusionRules, describe, group_fusion
from hetflow.passes.manager import dump_if_asked


class LoweringError(HetflowError):
    """The graph cannot become an FPGA design: names the node and what to change."""


@dataclass
class Design:
    """One sample's dataflow of template calls, with everything needed to generate, model and estimate it."""

    name: str
    architecture: str
    inputs: list[Tensor]
    outputs: list[Tensor]
    layers: list[Layer]
    graph: Graph
    """The specialized (one-sample) graph the design implements."""
    batched: bool
    """Whether the graph had a symbolic batch dim (inputs and outputs carry it; the host loops over it)."""
    values: dict[str, str] = field(default_factory=dict)
    """IR value name -> the tensor holding it (aliases included)."""
    settings: dict[str, LayerSettings] = field(default_factory=dict)

    @property
    def params(self) -> list:
        return [p for layer in self.layers for p in layer.params]

    def consumers(self) -> dict[str, list[tuple[Layer | None, int]]]:
        """Tensor name -> its readers in order: (layer, input slot), then (None, port index) for an output port."""
        found: dict[str, list[tuple[Layer | None, int]]] = {t.name: [] for t in self.inputs}
        for layer in self.layers:
            found.setdefault(layer.output.name, [])
            for slot, t in enumerate(layer.inputs):
                found[t.name].append((layer, slot))
        for k, t in enumerate(self.outputs):
            found[t.name].append((None, k))
        return found

    def fifo_depth(self, tensor: Tensor, reader: Layer | None, slot: int = 0) -> int:
        """Depth of the stream carrying ``tensor`` into input ``slot`` of ``reader`` (stream architecture).

        A buffering stage with two inputs reads one frame, then the other, so the stream it reads
        second must hold a frame or its producer (a clone feeding both) stalls; the rest need 2.
        """
        if reader is not None and slot > 0 and not reader.pointwise:
            return tensor.size
        return 2

    def tensors(self) -> dict[str, Tensor]:
        found = {t.name: t for t in self.inputs}
        for layer in self.layers:
            found[layer.output.name] = layer.output
        return found

    # ------------------------------------------------------------ the NumPy fixed-point model
    def evaluate_sample(self, feeds: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Raw values of every tensor for one sample, inputs given as float arrays in input order."""
        env = {t.name: fx.quantize(np.asarray(x, np.float64).reshape(-1), t.type) for t, x in zip(self.inputs, feeds)}
        for layer in self.layers:
            env[layer.output.name] = layer.evaluate([env[t.name] for t in layer.inputs])
        return env

    def evaluate(self, feeds: list[np.ndarray], samples: int) -> list[np.ndarray]:
        """Output values (float64, exact) of ``samples`` samples; inputs are [samples * per-sample] arrays."""
        outs: list[list[np.ndarray]] = [[] for _ in self.outputs]
        flat = [np.asarray(x, np.float64).reshape(samples, -1) for x in feeds]
        for s in range(samples):
            env = self.evaluate_sample([x[s] for x in flat])
            for k, t in enumerate(self.outputs):
                outs[k].append(fx.to_float(env[t.name], t.type))
        return [np.concatenate(o) for o in outs]


# ---------------------------------------------------------------- batch


def specialize(graph: Graph) -> tuple[Graph, bool]:
    """A copy of ``graph`` for one sample: a symbolic leading dim of the inputs becomes 1.

    Raises when a symbol sits elsewhere, or when an op would mix the samples of the batch.
    """
    symbols: set[str] = set()
    for v in graph.inputs:
        shape = v.type.shape
        if shape is None:
            raise LoweringError(f"input {v.name!r} has an unknown rank; HLS designs are synthesized for fixed sizes")
        if any(isinstance(d, str) for d in shape[1:]):
            raise LoweringError(f"input {v.name!r} ({v.type}) has a symbolic dim past the leading (batch) one; "
                                f"HLS designs are synthesized for fixed sizes")
        if shape and isinstance(shape[0], str):
            symbols.add(shape[0])
    if symbols:
        _check_batch_safe(graph, symbols)
    g = graph.copy()
    if not symbols:
        return g, False
    for v in g.inputs:
        if v.type.shape and isinstance(v.type.shape[0], str):
            v.type = v.type.with_shape((1,) + tuple(v.type.shape[1:]))
    for node in g.nodes:
        for out, t in zip(node.outputs, get_op(node.op).infer_types(node)):
            out.type = t
    return g, True


def _check_batch_safe(graph: Graph, symbols: set[str]) -> None:
    for node in graph.nodes:
        for v in [*node.inputs, *node.outputs]:
            if v is None or v.is_const:
                continue
            shape = v.type.shape
            if not shape or shape[0] not in symbols:
                raise LoweringError(f"node {node.name!r} ({node.op}): %{v.name} ({v.type}) does not keep the batch "
                                    f"dim first; the FPGA design runs one sample at a time, so ops may not mix samples")
        if node.op == "softmax" and node.attrs["axis"] % len(node.outputs[0].type.shape or (1,)) == 0:
            raise LoweringError(f"node {node.name!r} (softmax) normalizes across the batch dim")


# ---------------------------------------------------------------- fusion


@dataclass
class Folds:
    """What each convolution or dense computes besides itself: the nodes folded into its weights and bias."""

    names: dict[str, list[str]] = field(default_factory=dict)
    """Anchor node -> names of every node folded into it (at IR level, or into its bias here), in order."""
    bias: dict[str, list[Affine]] = field(default_factory=dict)
    """Anchor node -> the per-channel (scale, shift) maps the builder still folds (what a matmul has no bias for)."""
    output: dict[str, Value] = field(default_factory=dict)
    """Anchor node -> the value its layer computes when that is the last of ``bias``'s nodes."""

    def owner(self) -> dict[str, str]:
        """Folded node name -> the anchor it went into."""
        return {n: anchor for anchor, names in self.names.items() for n in names}


def _channels(node: Node) -> tuple[int, int]:
    """(channels, axis) of a convolution's or dense's output."""
    w = node.inputs[1]
    assert w is not None and w.const is not None
    return (w.const.shape[0], 1) if node.op == "conv" else (w.const.shape[1], -1)


def _anchor(node: Node) -> bool:
    return node.op in ("conv", "matmul") and table.supports(node) is None


def _elementwise(node: Node) -> bool:
    return table.supports(node) is None and get_op(node.op).elementwise


RULES = FusionRules(_elementwise, _anchor)
"""The shared grouping under fpga_hls's table; the design then keeps only the affine prefix of each epilogue."""


def fold(graph: Graph) -> Folds:
    """Fold affine nodes into the convolutions and dense layers before them (the shared pass), then take the
    per-channel affine prefix of each remaining epilogue (a bias add after a matmul) into the layer's bias."""
    folds = Folds()
    for name, anchor in fold_affine_into(graph).items():
        folds.names.setdefault(anchor, []).append(name)
    dump_if_asked("fold_affine", graph)
    users = graph.users()
    grouping = group_fusion(graph, RULES)
    dump_if_asked("group_epilogues", graph, "// fpga_hls fusion groups (each keeps its affine prefix):\n"
                  + describe(graph, grouping))
    for node in graph.nodes:
        epilogue = grouping.epilogue(node)
        if epilogue is None:
            continue
        channels, axis = _channels(node)
        cur = node.outputs[0]
        for follower in epilogue.nodes:
            affine = channel_affine(follower, cur, channels, axis) if users.get(id(cur)) == [follower] else None
            if affine is None:
                break
            folds.names.setdefault(node.name, []).append(follower.name)
            folds.bias.setdefault(node.name, []).append(affine)
            cur = folds.output[node.name] = follower.outputs[0]
    return folds


# ---------------------------------------------------------------- building


_IDENT = re.compile(r"[^0-9A-Za-z_]")


def c_identifier(name: str, taken: set[str]) -> str:
    """A C identifier for ``name``, unique among ``taken`` (which it joins)."""
    base = _IDENT.sub("_", name) or "v"
    if base[0].isdigit() or base in _RESERVED or _GENERATED.match(base):
        base = "v_" + base
    ident, k = base, 1
    while ident in taken:
        ident = f"{base}_{k}"
        k += 1
    taken.add(ident)
    return ident


_GENERATED = re.compile(r"^(?:w|b|s|t|c|inv|exp|table|alpha|lim|ab|config|stage|in|out|a)\d+"
                        r"(?:_mult|_raw|_loaded)?$")
"""Names the generator gives parameters, configs, stages and locals: a tensor never takes one."""
_RESERVED = {"main", "r", "i", "j", "int", "float", "double", "char", "unsigned", "signed", "void", "const", "static",
             "struct", "class", "return", "if", "else", "for", "while", "do", "switch", "case", "default", "break", "continue",
             "auto", "register", "namespace", "template", "typename", "new", "delete", "this", "operator", "hf", "hls"}


class Builder:
    """What a table builder sees: tensors of IR values, settings, and where to put layers."""

    def __init__(self, graph: Graph, config: HLSConfig, folds: Folds) -> None:
        self.graph = graph
        self.config = config
        self.folds = folds
        self.layers: list[Layer] = []
        self.values: dict[str, Tensor] = {}
        self.settings_used: dict[str, LayerSettings] = {}
        self._names: set[str] = set()
        self._node: Node | None = None

    @property
    def index(self) -> int:
        return len(self.layers) + 1

    def settings(self, node: Node) -> LayerSettings:
        if node.name not in self.settings_used:
            self.settings_used[node.name] = self.config.resolve(node.name, node.op)
        return self.settings_used[node.name]

    def tensor(self, v: Value) -> Tensor:
        try:
            return self.values[v.name]
        except KeyError:
            raise LoweringError(f"%{v.name} is used before it is computed (is the graph topologically sorted?)") from None

    def output(self, v: Value, t: fx.FixedType) -> Tensor:
        shape = tuple(int(d) for d in v.type.shape or ())
        tensor = Tensor(c_identifier(v.name, self._names), shape, t, v.name)
        self.values[v.name] = tensor
        return tensor

    def temp(self, hint: str, shape: tuple[int, ...], t: fx.FixedType) -> Tensor:
        return Tensor(c_identifier(hint, self._names), shape, t)

    def alias(self, v: Value, t: Tensor) -> None:
        self.values[v.name] = t

    def add(self, layer: Layer) -> None:
        layer.index = self.index
        layer.nodes = (layer.name, *self.folds.names.get(layer.name, []))
        self.layers.append(layer)

    def absorbed(self, node: Node) -> list[Affine]:
        """The per-channel maps the layer of ``node`` folds into its weights and bias, in order."""
        return self.folds.bias.get(node.name, [])

    def layer_output(self, node: Node) -> Value:
        """The value the layer of ``node`` computes: its own output, or the last bias node folded into it."""
        return self.folds.output.get(node.name, node.outputs[0])

    def reuse(self, node: Node, requested: int, n_mult: int) -> int:
        return snap_reuse_factor(requested, n_mult, node.name)

    def error(self, node: Node, message: str) -> LoweringError:
        return LoweringError(f"node {node.name!r} ({node.op}): {message}")

    def check_width(self, node: Node, t: fx.FixedType, role: str) -> None:
        if t.width > fx.MAX_MODEL_WIDTH:
            raise self.error(node, f"the {role} type {t} is wider than {fx.MAX_MODEL_WIDTH} bits, which the "
                                   f"fixed-point model cannot hold exactly; narrow the precision")


def node_graph(node: Node) -> Graph:
    """A graph of ``node`` alone: its activations become inputs, its constants stay constants (for estimates)."""
    g = Graph(node.name or node.op)
    values: dict[int, Value] = {}

    def value(v: Value) -> Value:
        if id(v) not in values:
            values[id(v)] = g.constant(v.const, v.name) if v.is_const else g.add_input(v.name, v.type.dtype, v.type.shape)
        return values[id(v)]

    copy = g.add_node(node.op, [None if v is None else value(v) for v in node.inputs], dict(node.attrs),
                      name=node.name or None, num_outputs=len(node.outputs))
    g.outputs = list(copy.outputs)
    return g


def lower(graph: Graph, config: HLSConfig | None = None, *, name: str | None = None) -> Design:
    """Build the design for ``graph``: every node must be in the table (``supports``)."""
    config = HLSConfig.of(config)
    missing = [(n, r) for n in graph.nodes if (r := table.supports(n)) is not None]
    if missing:
        listed = "; ".join(f"{n.name} ({n.op}): {r}" for n, r in missing[:4])
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        raise LoweringError(f"fpga_hls cannot run {len(missing)} node(s): {listed}{more}. Compile with "
                            f"hf.compile(graph, cluster) so that the partitioner keeps them on a CPU")
    g, batched = specialize(graph)
    g.toposort()
    folds = fold(g)
    _check_config_names(g, config, folds)
    b = Builder(g, config, folds)
    inputs = []
    for v in g.inputs:
        t = b.output(v, config.resolve(v.name, "input").result)
        inputs.append(t)
        b.settings_used[v.name] = config.resolve(v.name, "input")
    absorbed = set(folds.owner())
    for node in g.nodes:
        if node.name in absorbed:
            continue
        try:
            table.TABLE[node.op].build(node, b)
        except (HLSConfigError, LoweringError, fx.FixedPointError):
            raise
        except Exception as exc:  # a builder's failure names the node it was building
            raise LoweringError(f"node {node.name!r} ({node.op}): {type(exc).__name__}: {exc}") from exc
    outputs = _output_ports(g, b, inputs)
    return Design(c_identifier(name or graph.name, set()), config.architecture, inputs, outputs, b.layers, g, batched,
                  {k: t.name for k, t in b.values.items()}, b.settings_used)


def _output_ports(g: Graph, b: Builder, inputs: list[Tensor]) -> list[Tensor]:
    """A tensor per graph output that no other output shares (a copy where two outputs or an input alias)."""
    ports: list[Tensor] = []
    seen: set[str] = {t.name for t in inputs}
    for v in g.outputs:
        t = b.tensor(v)
        if t.name in seen:
            copy = b.temp(f"{v.name}_out", t.shape, t.type)
            copy.value = v.name
            b.add(Cast(v.name, "identity", [t], copy))
            t = copy
        seen.add(t.name)
        ports.append(t)
    return ports


def _check_config_names(g: Graph, config: HLSConfig, folds: Folds) -> None:
    folded = folds.owner()
    known = {n.name for n in g.nodes} | {v.name for v in g.inputs} | set(folded)
    for name in config.names():
        if name not in known:
            raise HLSConfigError(f"name.{name}: no node or graph input of that name in graph {g.name!r}")
        if name in folded:
            raise HLSConfigError(f"name.{name}: node {name!r} is folded into layer {folded[name]!r}; "
                                 f"configure {folded[name]!r} instead")
