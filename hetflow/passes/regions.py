"""Region formation: group nodes into layers and blocks (multi-granularity), and summarize by grain.

Layers are formed by pattern: a head node (a compute op such as conv or matmul, or any node that
cannot join an earlier layer) takes the chain of single-use elementwise / normalization / view
nodes that follows it (bias add, batch_norm, the mul/add of a folded BN, relu/clip, reshape).
Blocks are formed by pattern — the nodes between a fork and the add (residual) or concat
(inception, dense) that joins it, found through the dominator tree — and, for the layers left
over, from runs of layers whose frontend names share a prefix ("conv2/3x3_reduce", "conv2/3x3").
The network is the root region. Regions given by a frontend or the DSL (``pattern == ""``) are
kept; regions this pass formed before are dropped and formed again, so the pass may be rerun
after any rewrite.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from hetflow.ir import Graph, IRError, Node, Region, Value, get_op
from hetflow.passes.manager import graph_pass

ANCHOR_OPS = frozenset({"conv", "conv_transpose", "matmul", "einsum"})
"""Compute ops that make a layer what it is: a block holds at least one of them."""

VIEW_OPS = frozenset({"reshape", "flatten", "squeeze", "unsqueeze", "transpose", "identity", "dropout"})
"""Data-movement ops that may extend any layer, a standalone one included (pool + flatten)."""

EPILOGUE_OPS = VIEW_OPS | {"batch_norm"}
"""Non-elementwise ops that may extend a compute layer (every elementwise op may)."""

STANDALONE_OPS = frozenset({"concat", "softmax", "log_softmax", "max_pool", "avg_pool", "lp_pool", "layer_norm", "lrn"})
"""Ops that always head their own layer; their epilogue is views and parameter-free activations only."""

JOIN_PATTERNS: dict[str, str] = {"add": "residual", "concat": "inception"}
"""Join op -> block pattern. A concat fed directly by its fork value is a dense block instead."""

Grain = Literal["op", "layer", "block", "network"]
GRAINS: tuple[Grain, ...] = ("op", "layer", "block", "network")

_ROOT = -1
_DEVICE_SCOPE = re.compile(r"^(?:gpu|cpu)_\d+/")
_WEIGHT_SUFFIX = re.compile(r"[._/](?:w|W|weights?|kernel|filter|b|B|bias|scale|gamma|beta|s)(?:_0|:0)?$")
_CAMEL_OP = re.compile(r"[A-Z][A-Za-z0-9]*(?:_\d+)*")
_GENERATED = re.compile(r"[A-Z][A-Za-z0-9]*(?:_\d+)+|[A-Za-z]\d+|\d+")
"""Names exporters and importers make up: "Conv_12", "n7", "42"."""
_NAME_PART = re.compile(r"[^/.]+")


# ====================================================================== layers
@dataclass(eq=False)
class _Layer:
    head: Node
    scope: str
    given: str | None = None
    nodes: list[Node] = field(default_factory=list)
    name: str = ""
    named: bool = False  # the name came from the frontend, not from an op

    @property
    def tail(self) -> Node:
        return self.nodes[-1]


def _is_epilogue(node: Node) -> bool:
    if node.op in STANDALONE_OPS:
        return False
    return node.op in EPILOGUE_OPS or get_op(node.op).elementwise


def _data_inputs(node: Node) -> list[Value]:
    return [v for v in node.inputs if v is not None and not v.is_const]


def _absorbing_layer(node: Node, scope: str, layer_of: dict[int, _Layer], uses: Counter, outputs: set[int]) -> _Layer | None:
    """The layer ``node`` extends as its epilogue, or None when it heads a layer of its own."""
    data = _data_inputs(node)
    if len(data) != 1 or not _is_epilogue(node):
        return None
    v = data[0]
    layer = layer_of.get(id(v.producer)) if v.producer is not None else None
    if layer is None or layer.given is not None or layer.scope != scope or layer.tail is not v.producer:
        return None
    if layer.head.op in STANDALONE_OPS and node.op not in VIEW_OPS and len(node.inputs) != 1:
        return None  # a concat or pool takes a view or a parameter-free activation, not a BN
    if uses[id(v)] != 1 or id(v) in outputs:
        return None
    return layer


def _form_layers(graph: Graph, root: str) -> tuple[list[_Layer], dict[int, _Layer]]:
    """Cut the node list into layers; nodes already in a given layer region stay in it."""
    uses: Counter = Counter(id(v) for n in graph.nodes for v in n.inputs if v is not None)
    outputs = {id(v) for v in graph.outputs}
    layers: list[_Layer] = []
    layer_of: dict[int, _Layer] = {}
    given: dict[str, _Layer] = {}
    for node in graph.nodes:
        region = graph.regions.get(node.region) if node.region is not None else None
        if region is not None and region.kind == "layer":
            layer = given.get(region.name)
            if layer is None:
                layer = given[region.name] = _Layer(node, region.parent or root, region.name, name=region.name, named=True)
                layers.append(layer)
        else:
            scope = region.name if region is not None and region.kind == "block" else root
            layer = _absorbing_layer(node, scope, layer_of, uses, outputs)
            if layer is None:
                layer = _Layer(node, scope)
                layers.append(layer)
        layer.nodes.append(node)
        layer_of[id(node)] = layer
    return layers, layer_of


# ====================================================================== names
def _node_label(node: Node) -> str | None:
    """A frontend name for ``node`` ("/layer1/conv1/Conv" -> "layer1/conv1"), None for generated names."""
    parts = [p for p in node.name.split("/") if p]
    if len(parts) > 1 and _CAMEL_OP.fullmatch(parts[-1]):
        parts = parts[:-1]
    if not parts or parts == [node.op]:
        return None
    if len(parts) == 1 and (_GENERATED.fullmatch(parts[0]) or re.fullmatch(rf"{re.escape(node.op)}(?:_\d+)+", parts[0])):
        return None
    return "/".join(parts)


def _weight_label(v: Value) -> str | None:
    """The layer a parameter names ("gpu_0/res2_0_branch2a_w_0" -> "res2_0_branch2a"), if it names one."""
    name = _DEVICE_SCOPE.sub("", v.name)
    stripped = _WEIGHT_SUFFIX.sub("", name)
    if stripped == name or not stripped or name.startswith("onnx::"):
        return None
    return stripped


def _layer_label(layer: _Layer, uses: Counter) -> str | None:
    """The layer's frontend name: from the names of parameters only it uses (exporters keep those), else its head's."""
    own = Counter(id(v) for n in layer.nodes for v in n.inputs if v is not None)
    for node in layer.nodes:
        for v in node.inputs:
            if v is not None and v.const is not None and v.const.size > 1 and own[id(v)] == uses[id(v)]:
                label = _weight_label(v)
                if label:
                    return label
    return _node_label(layer.head)


def _name_parts(name: str) -> list[re.Match]:
    """Hierarchy levels of a name: split on "/" and "."; a name with neither splits on "_"."""
    if "/" in name or "." in name:
        return list(_NAME_PART.finditer(name))
    return list(re.finditer(r"[^_]+", name))


def _prefix(name: str, parts: int) -> str:
    found = _name_parts(name)
    return name[: found[parts - 1].end()] if 0 < parts <= len(found) else ""


def _common_prefix(names: list[str]) -> str:
    """The longest shared hierarchy prefix, shorter than every name ("res2_0_branch2a", "res2_0_branch1" -> "res2_0")."""
    if not names:
        return ""
    split = [[m.group() for m in _name_parts(n)] for n in names]
    common = 0
    while all(len(s) > common + 1 for s in split) and len({s[common] for s in split}) == 1:
        common += 1
    return _prefix(names[0], common)


class _Names:
    """Region names in use; hands out unique ones."""

    def __init__(self, taken: Iterable[str]) -> None:
        self.taken = set(taken)

    def claim(self, hint: str) -> str:
        name, k = hint, 1
        while name in self.taken:
            name, k = f"{hint}_{k}", k + 1
        self.taken.add(name)
        return name


# ====================================================================== blocks
@dataclass(eq=False)
class _Block:
    layers: frozenset[int]
    pattern: str
    scope: str
    first: int  # the index of its first layer; layers are in graph order
    name: str = ""
    parent: _Block | None = None


def _dominators(graph: Graph) -> tuple[dict[int, int], list[list[int]]]:
    """Immediate dominators over graph inputs (indices < 0 below the root) and nodes (indices >= 0)."""
    index = {id(n): i for i, n in enumerate(graph.nodes)}
    input_index = {id(v): -2 - k for k, v in enumerate(graph.inputs)}
    idom: dict[int, int] = {_ROOT: _ROOT}
    depth: dict[int, int] = {_ROOT: 0}
    for k in input_index.values():
        idom[k], depth[k] = _ROOT, 1
    preds: list[list[int]] = []

    def lca(a: int, b: int) -> int:
        while a != b:
            while depth[a] > depth[b]:
                a = idom[a]
            while depth[b] > depth[a]:
                b = idom[b]
            if a != b:
                a, b = idom[a], idom[b]
        return a

    for i, node in enumerate(graph.nodes):
        ps = []
        for v in _data_inputs(node):
            if v.producer is not None and id(v.producer) in index:
                ps.append(index[id(v.producer)])
            else:
                ps.append(input_index.get(id(v), _ROOT))
        preds.append(ps or [_ROOT])
        d = preds[-1][0]
        for p in preds[-1][1:]:
            d = lca(d, p)
        idom[i], depth[i] = d, depth[d] + 1
    return idom, preds


def _between(join: int, fork: int, preds: list[list[int]]) -> set[int] | None:
    """Nodes on paths from ``fork`` to ``join`` (``join`` included, ``fork`` not)."""
    seen, stack = {join}, [join]
    while stack:
        for p in preds[stack.pop()]:
            if p == fork or p in seen:
                continue
            if p < 0:
                return None
            seen.add(p)
            stack.append(p)
    return seen


def _candidates(graph: Graph, layers: list[_Layer], layer_of: dict[int, _Layer]) -> list[_Block]:
    """One block per join whose fork dominates it, holding whole layers and at least one compute op."""
    idom, preds = _dominators(graph)
    layer_index = {id(layer): k for k, layer in enumerate(layers)}
    found = []
    for j, node in enumerate(graph.nodes):
        pattern = JOIN_PATTERNS.get(node.op)
        data = _data_inputs(node)
        if pattern is None or len(data) < 2 or idom[j] == _ROOT:
            continue
        fork = idom[j]
        inside = _between(j, fork, preds)
        if inside is None or not any(graph.nodes[i].op in ANCHOR_OPS for i in inside):
            continue
        members = frozenset(layer_index[id(layer_of[id(graph.nodes[i])])] for i in inside)
        if fork >= 0 and layer_index[id(layer_of[id(graph.nodes[fork])])] in members:
            continue
        scopes = {layers[k].scope for k in members}
        if len(scopes) != 1:
            continue
        fork_values = set(map(id, graph.nodes[fork].outputs)) if fork >= 0 else {id(graph.inputs[-2 - fork])}
        if pattern == "inception" and any(id(v) in fork_values for v in data):
            pattern = "dense"
        found.append(_Block(members, pattern, scopes.pop(), min(members)))
    return found


def _nest(candidates: list[_Block], layers: list[_Layer], root: str) -> list[_Block]:
    """Keep a laminar family of candidates (smallest first), each nested in the smallest that holds it.

    A candidate that is all of a given block is dropped: the given block already says it.
    """
    scope_size = Counter(layer.scope for layer in layers)
    accepted: list[_Block] = []
    for cand in sorted(candidates, key=lambda b: (len(b.layers), b.first)):
        if cand.scope != root and len(cand.layers) == scope_size[cand.scope]:
            continue
        if any(b.layers == cand.layers or not (b.layers <= cand.layers or b.layers.isdisjoint(cand.layers))
               for b in accepted):
            continue
        for b in accepted:
            if b.layers <= cand.layers and b.parent is None:
                b.parent = cand
        accepted.append(cand)
    return accepted


def _extend_by_name(blocks: list[_Block], layers: list[_Layer]) -> None:
    """Pull into a named pattern block the loose layers beside it that carry its name ("fire2/squeeze1x1")."""
    in_block = {k for b in blocks for k in b.layers}
    for block in blocks:
        if not block.name or block.parent is not None:
            continue
        members = set(block.layers)
        for step in (-1, 1):
            k = (min(members) if step < 0 else max(members)) + step
            while 0 <= k < len(layers) and k not in in_block and _owned_by(layers[k], block):
                members.add(k)
                in_block.add(k)
                k += step
        block.layers = frozenset(members)
        block.first = min(members)


def _owned_by(layer: _Layer, block: _Block) -> bool:
    if not layer.named or layer.given is not None or layer.scope != block.scope:
        return False
    parts = len(_name_parts(layer.name))
    return parts >= 2 and _prefix(layer.name, parts - 1) == block.name


def _named_runs(layers: list[_Layer], blocks: list[_Block]) -> list[_Block]:
    """Blocks from runs of consecutive top-level layers whose frontend names share a prefix."""
    in_block = {k for b in blocks for k in b.layers}
    runs: list[_Block] = []
    current: list[int] = []
    key: tuple[str, str] | None = None
    for k, layer in enumerate(layers):
        parts = len(_name_parts(layer.name)) if layer.named and layer.given is None and k not in in_block else 0
        this = (layer.scope, _prefix(layer.name, parts - 1)) if parts >= 2 else None
        if this is None or this != key:
            if len(current) >= 2 and key is not None:
                runs.append(_Block(frozenset(current), "named", key[0], current[0], name=key[1]))
            current, key = [], this
        if this is not None:
            current.append(k)
    if len(current) >= 2 and key is not None:
        runs.append(_Block(frozenset(current), "named", key[0], current[0], name=key[1]))
    return runs


# ====================================================================== the pass
def _reset(graph: Graph) -> str:
    """Drop regions formed before; return the network root (a given one if there is one)."""
    old = dict(graph.regions)
    formed = {name for name, r in old.items() if r.pattern}

    def survivor(name: str | None) -> str | None:
        """The nearest ancestor that stays (a given region nested in a formed block goes back to its own)."""
        seen: set[str] = set()
        while name in formed and name not in seen:
            seen.add(name)
            name = old[name].parent
        return name

    for r in old.values():
        r.parent = survivor(r.parent)
    for name in formed:
        del graph.regions[name]
    for node in graph.nodes:
        node.region = survivor(node.region)
        if node.region is not None and node.region not in graph.regions:
            node.region = None
    given_roots = [r for r in graph.regions.values() if r.kind == "network" and r.parent is None]
    if given_roots:
        root = given_roots[0].name
    else:
        root = _Names(graph.regions).claim(graph.name or "network")
        graph.regions[root] = Region(root, "network", None, "network")
    for r in graph.regions.values():
        if r.name != root and (r.parent is None or r.parent not in graph.regions):
            r.parent = root
    return root


def _name_layers(graph: Graph, layers: list[_Layer], names: _Names) -> None:
    uses = Counter(id(v) for n in graph.nodes for v in n.inputs if v is not None)
    for layer in layers:
        if layer.given is not None:
            continue
        label = _layer_label(layer, uses)
        layer.named = label is not None
        layer.name = names.claim(label or layer.head.name)


def _name_blocks(blocks: list[_Block], layers: list[_Layer], names: _Names) -> None:
    counters: Counter = Counter()
    for block in sorted(blocks, key=lambda b: b.first):
        if block.name:
            block.name = names.claim(block.name)
            continue
        labels = [layers[k].name for k in sorted(block.layers) if layers[k].named]
        prefix = _common_prefix(labels)
        if not prefix:
            prefix = f"{block.pattern}{counters[block.pattern]}"
            counters[block.pattern] += 1
        block.name = names.claim(prefix)


@graph_pass("form_regions")
def form_regions(graph: Graph) -> Graph:
    """Put every node in a layer region, layers in blocks where a pattern or the names say so, all under one network."""
    root = _reset(graph)
    names = _Names(graph.regions)
    layers, layer_of = _form_layers(graph, root)
    _name_layers(graph, layers, names)
    blocks = _nest(_candidates(graph, layers, layer_of), layers, root)
    _name_blocks(blocks, layers, names)
    _extend_by_name(blocks, layers)
    runs = _named_runs(layers, blocks)
    _name_blocks(runs, layers, names)
    _write_regions(graph, layers, blocks + runs)
    _prune(graph, root)
    return graph


def _write_regions(graph: Graph, layers: list[_Layer], blocks: list[_Block]) -> None:
    """Record the blocks and layers as regions; point every node at its layer."""
    innermost: dict[int, _Block] = {}
    for block in sorted(blocks, key=lambda b: -len(b.layers)):
        for k in block.layers:
            innermost[k] = block
    for block in sorted(blocks, key=lambda b: (b.first, -len(b.layers))):
        parent = block.parent.name if block.parent is not None else block.scope
        graph.regions[block.name] = Region(block.name, "block", parent, block.pattern)
    for k, layer in enumerate(layers):
        parent = innermost[k].name if k in innermost else layer.scope
        if layer.given is not None:
            graph.regions[layer.given].parent = parent
            continue
        graph.regions[layer.name] = Region(layer.name, "layer", parent, layer.head.op)
        for node in layer.nodes:
            node.region = layer.name


def _prune(graph: Graph, root: str) -> None:
    """Drop regions that hold no node, directly or through a child."""
    live: set[str] = {root}
    for node in graph.nodes:
        live.update(graph.region_path(node.region))
    for name in [n for n in graph.regions if n not in live]:
        del graph.regions[name]


def check_regions(graph: Graph) -> None:
    """Raise IRError unless regions form one tree under a network root with every node in exactly one leaf layer."""
    roots = [r.name for r in graph.regions.values() if r.parent is None]
    if len(roots) != 1 or graph.regions[roots[0]].kind != "network":
        raise IRError(f"graph {graph.name!r}: expected one network root region, found top-level regions {roots}")
    parents = {r.parent for r in graph.regions.values()}
    for r in graph.regions.values():
        seen = {r.name}
        p = r.parent
        while p is not None:
            if p in seen or p not in graph.regions:
                raise IRError(f"region {r.name!r}: its parent chain is broken at {p!r}")
            seen.add(p)
            if graph.regions[p].kind == "layer":
                raise IRError(f"region {r.name!r}: a layer ({p!r}) cannot hold regions")
            p = graph.regions[p].parent
    for node in graph.nodes:
        region = graph.regions.get(node.region) if node.region is not None else None
        if region is None or region.kind != "layer" or region.name in parents:
            raise IRError(f"node {node.name!r} ({node.op}): region {node.region!r} is not a leaf layer region")


# ====================================================================== summary
@dataclass(frozen=True)
class UnitSummary:
    """One row of a summary: a node, layer, block or the network, with its cost."""

    name: str
    grain: str
    kind: str
    parent: str
    ops: str
    nodes: int
    flops: int
    param_bytes: int


def _has_regions(graph: Graph) -> bool:
    try:
        check_regions(graph)
    except IRError:
        return False
    return True


def _unit(graph: Graph, node: Node, grain: Grain) -> str:
    if grain == "op":
        return node.name
    path = graph.region_path(node.region)
    if grain == "network":
        return path[0]
    if grain == "block":
        blocks = [name for name in path if graph.regions[name].kind == "block"]
        if blocks:
            return blocks[-1]
    return path[-1]


def _op_summary(nodes: list[Node]) -> str:
    counts = Counter(n.op for n in nodes)
    if len(nodes) <= 6 and all(c == 1 for c in counts.values()):
        return "+".join(n.op for n in nodes)
    return " ".join(op if c == 1 else f"{op}*{c}" for op, c in counts.items())


def _region_kind(graph: Graph, name: str, nodes: list[Node]) -> str:
    region = graph.regions[name]
    if region.pattern:
        return region.pattern
    if region.kind == "layer":
        return next((n.op for n in nodes if n.op in ANCHOR_OPS), nodes[0].op)
    return region.kind


def summarize(graph: Graph, granularity: Grain = "layer") -> list[UnitSummary]:
    """Rows of (name, kind, ops, node count, FLOPs, parameter bytes) per unit of the grain, in graph order.

    Regions are formed on a copy when the graph has none. Each constant's bytes count once, at its
    first consumer, so FLOP and byte totals are the same at every grain.
    """
    if granularity not in GRAINS:
        raise ValueError(f"granularity must be one of {', '.join(GRAINS)}, not {granularity!r}")
    if not _has_regions(graph):
        graph = form_regions(graph.copy())
    units: dict[str, list[Node]] = {}
    params: Counter = Counter()
    counted: set[int] = set()
    for node in graph.nodes:
        unit = _unit(graph, node, granularity)
        units.setdefault(unit, []).append(node)
        for v in node.inputs:
            if v is not None and v.is_const and id(v) not in counted:
                counted.add(id(v))
                params[unit] += v.type.nbytes or 0
    rows = []
    for unit, nodes in units.items():
        flops = sum(get_op(n.op).flop_count(n) for n in nodes)
        if granularity == "op":
            node = nodes[0]
            row = UnitSummary(unit, "op", node.op, node.region or "", node.op, 1, flops, params[unit])
        else:
            region = graph.regions[unit]
            row = UnitSummary(unit, region.kind, _region_kind(graph, unit, nodes), region.parent or "",
                              _op_summary(nodes), len(nodes), flops, params[unit])
        rows.append(row)
    return rows


def _si(n: float, unit: str = "") -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {prefix}{unit}"
    return f"{int(n)} {unit}".rstrip()


def _bytes(n: int) -> str:
    for scale, prefix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= scale:
            return f"{n / scale:.2f} {prefix}"
    return f"{n} B"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def render_summary(rows: list[UnitSummary], *, title: str | None = None, max_width: int = 40) -> str:
    """A plain-text table of summary rows with a total line (FLOPs count a symbolic batch dim as 1)."""
    header = ("name", "grain", "kind", "ops", "nodes", "FLOPs", "params")
    body = [(_clip(r.name, max_width), r.grain, r.kind, _clip(r.ops, max_width), str(r.nodes),
             _si(r.flops), _bytes(r.param_bytes)) for r in rows]
    total = ("total", "", f"{len(rows)} units", "", str(sum(r.nodes for r in rows)),
             _si(sum(r.flops for r in rows)), _bytes(sum(r.param_bytes for r in rows)))
    widths = [max(len(line[i]) for line in [header, *body, total]) for i in range(len(header))]
    right = {4, 5, 6}

    def fmt(line: tuple[str, ...]) -> str:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = ([title] if title else []) + [fmt(header), rule, *(fmt(b) for b in body), rule, fmt(total)]
    return "\n".join(lines)
