"""The graph: values, nodes, regions. One small node type; ops live in the registry."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hetflow.ir.dtypes import DType
from hetflow.ir.types import TensorType

RegionKind = Literal["layer", "block", "network"]


@dataclass(eq=False)
class Value:
    """A tensor edge. A value with ``const`` set is a constant (a weight or a folded result)."""

    name: str
    type: TensorType
    producer: Node | None = None
    const: np.ndarray | None = None

    @property
    def is_const(self) -> bool:
        return self.const is not None

    def __repr__(self) -> str:
        return f"%{self.name}: {self.type}"


@dataclass(eq=False)
class Node:
    """One operator application. ``inputs`` may hold None for an absent optional input."""

    op: str
    inputs: list[Value | None]
    outputs: list[Value]
    attrs: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    region: str | None = None

    @property
    def bodies(self) -> list[Graph]:
        """The nested graphs this node runs (a control-flow op's branches or loop body), in attribute order."""
        return [v for v in self.attrs.values() if isinstance(v, Graph)]

    def __repr__(self) -> str:
        return f"Node({self.name}: {self.op})"


@dataclass
class Region:
    """A named group of nodes at a coarser grain: layer within block within network."""

    name: str
    kind: RegionKind
    parent: str | None = None
    pattern: str = ""
    """What formed it: "" when given by a frontend or the DSL, else the pattern matched ("conv", "residual", ...)."""


class Graph:
    """A DAG of nodes kept in topological order, with named inputs, outputs and constants."""

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.nodes: list[Node] = []
        self.regions: dict[str, Region] = {}
        self._names: set[str] = set()  # value names
        self._node_names: set[str] = set()  # node names live apart, so a node and a value may share one
        self._counter = itertools.count()

    # ---------------------------------------------------------------- naming
    def fresh_name(self, hint: str = "v", *, node: bool = False) -> str:
        """A value name (or, with ``node``, a node name) not used yet in this graph."""
        pool = self._node_names if node else self._names
        if hint not in pool:
            pool.add(hint)
            return hint
        while True:
            name = f"{hint}_{next(self._counter)}"
            if name not in pool:
                pool.add(name)
                return name

    # ---------------------------------------------------------------- building
    def add_input(self, name: str, dtype: DType | str, shape: Iterable[int | str] | None) -> Value:
        value = Value(self.fresh_name(name), TensorType(DType.of(dtype), None if shape is None else tuple(shape)))
        self.inputs.append(value)
        return value

    def constant(self, array: np.ndarray | float | int, name: str = "const") -> Value:
        """A constant value holding ``array`` (kept as given, never copied)."""
        array = np.asarray(array)
        return Value(self.fresh_name(name), TensorType(DType.of(array.dtype), array.shape), None, array)

    def add_node(
        self,
        op: str,
        inputs: list[Value | None],
        attrs: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        num_outputs: int | None = None,
        output_names: list[str] | None = None,
        region: str | None = None,
    ) -> Node:
        """Append a node, completing its attributes from the op's defaults and inferring output types."""
        from hetflow.ir.registry import get_op

        opdef = get_op(op)
        full_attrs = opdef.resolve_attrs(attrs or {}, where=name or op)
        n_out = num_outputs if num_outputs is not None else opdef.num_outputs(full_attrs, len(inputs))
        node = Node(op, list(inputs), [], full_attrs, self.fresh_name(name or op, node=True), region)
        out_types = opdef.infer_types(node)
        if len(out_types) < n_out:
            out_types = list(out_types) + [TensorType(DType.float32, None)] * (n_out - len(out_types))
        names = output_names or [f"{node.name}_out{i}" if n_out > 1 else node.name for i in range(n_out)]
        for i in range(n_out):
            vname = names[i] if names[i] not in self._names else self.fresh_name(names[i])
            self._names.add(vname)
            node.outputs.append(Value(vname, out_types[i], node))
        self.nodes.append(node)
        return node

    def add_region(self, name: str, kind: RegionKind, parent: str | None = None) -> Region:
        if name in self.regions:
            raise ValueError(f"region {name!r} already exists")
        region = Region(name, kind, parent)
        self.regions[name] = region
        return region

    # ---------------------------------------------------------------- queries
    def values(self) -> Iterator[Value]:
        """Every value reachable in the graph: inputs, constants, node outputs (each once)."""
        seen: set[int] = set()
        for v in itertools.chain(self.inputs, *(n.inputs for n in self.nodes), *(n.outputs for n in self.nodes)):
            if v is not None and id(v) not in seen:
                seen.add(id(v))
                yield v

    def constants(self) -> list[Value]:
        return [v for v in self.values() if v.is_const]

    def users(self) -> dict[int, list[Node]]:
        """Map id(value) -> nodes consuming it."""
        table: dict[int, list[Node]] = {}
        for node in self.nodes:
            for v in node.inputs:
                if v is not None:
                    table.setdefault(id(v), []).append(node)
        return table

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r} in graph {self.name!r}")

    def region_path(self, region: str | None) -> list[str]:
        """The chain of region names from the outermost to ``region``."""
        path: list[str] = []
        while region is not None:
            path.append(region)
            region = self.regions[region].parent if region in self.regions else None
        return path[::-1]

    # ---------------------------------------------------------------- rewriting
    def rename(self, value: Value, name: str) -> bool:
        """Give ``value`` the name ``name`` if no other value holds it; report whether it did."""
        if name == value.name:
            return True
        if name in self._names:
            return False
        self._names.discard(value.name)
        self._names.add(name)
        value.name = name
        return True

    def replace_uses(self, old: Value, new: Value) -> None:
        """Point every consumer (and graph output) of ``old`` at ``new``."""
        for node in self.nodes:
            node.inputs = [new if v is old else v for v in node.inputs]
        self.outputs = [new if v is old else v for v in self.outputs]

    def toposort(self) -> None:
        """Reorder ``nodes`` topologically (stable with respect to the current order)."""
        producer_index = {id(o): i for i, n in enumerate(self.nodes) for o in n.outputs}
        order: list[Node] = []
        state: dict[int, int] = {}
        for start in range(len(self.nodes)):
            stack = [(start, 0)]
            while stack:
                i, k = stack.pop()
                if k == 0:
                    if state.get(i) == 2:
                        continue
                    if state.get(i) == 1:
                        raise ValueError(f"graph {self.name!r} has a cycle through node {self.nodes[i].name!r}")
                    state[i] = 1
                deps = [producer_index[id(v)] for v in self.nodes[i].inputs if v is not None and id(v) in producer_index]
                if k < len(deps):
                    stack.append((i, k + 1))
                    if state.get(deps[k]) != 2:
                        stack.append((deps[k], 0))
                else:
                    state[i] = 2
                    order.append(self.nodes[i])
        self.nodes = order

    def copy(self) -> Graph:
        """A structural copy: new Value and Node objects; constant arrays are shared, not copied."""
        g = Graph(self.name)
        g._names = set(self._names)
        g._node_names = set(self._node_names)
        g._counter = itertools.count(next(self._counter))
        vmap: dict[int, Value] = {}

        def cp(v: Value | None) -> Value | None:
            if v is None:
                return None
            if id(v) not in vmap:
                vmap[id(v)] = Value(v.name, v.type, None, v.const)
            return vmap[id(v)]

        g.inputs = [cp(v) for v in self.inputs]  # type: ignore[misc]
        for n in self.nodes:
            attrs = {k: a.copy() if isinstance(a, Graph) else a for k, a in n.attrs.items()}  # bodies are owned
            nn = Node(n.op, [cp(v) for v in n.inputs], [], attrs, n.name, n.region)
            for o in n.outputs:
                no = cp(o)
                assert no is not None
                no.producer = nn
                nn.outputs.append(no)
            g.nodes.append(nn)
        g.outputs = [cp(v) for v in self.outputs]  # type: ignore[misc]
        g.regions = {k: Region(r.name, r.kind, r.parent, r.pattern) for k, r in self.regions.items()}
        return g

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.nodes)} nodes)"
