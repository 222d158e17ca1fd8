"""What the precision rewrites (``passes/quantize.py``, ``passes/half.py``) share: emitting replacement nodes off
the graph's node list, finding a value's single consumer of a given op, and the pass that runs each node's rewrite
and splices what it emitted into the graph."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hetflow.ir import Graph, Node, Value, verify
from hetflow.passes.dce import dead_code_elimination

Rewrite = Callable[[Any, Node], "list[Node] | None"]
"""A node's rewrite: the nodes it replaced (emitting their replacements), or None to keep the node as it is."""


class RewriteState:
    """A rewrite's state: ``graph``, its ``users`` (value id -> consuming nodes), the ids of its ``outputs``, and the
    nodes it has ``emitted`` (spliced into the graph when the rewrite is done). Subclasses declare the fields."""

    graph: Graph
    users: dict[int, list[Node]]
    outputs: set[int]
    emitted: list[Node]

    def emit(self, op: str, inputs: list[Value | None], name: str, **attrs: object) -> Value:
        """A new ``op`` node's output, the node kept in ``emitted`` rather than appended to the graph's nodes."""
        node = self.graph.add_node(op, inputs, dict(attrs), name=name)
        self.graph.nodes.pop()
        self.emitted.append(node)
        return node.outputs[0]

    def only_user(self, v: Value, op: str) -> Node | None:
        """The single consumer of ``v`` when it is an ``op`` node and ``v`` is not a graph output."""
        users = self.users.get(id(v), [])
        if len(users) == 1 and users[0].op == op and id(v) not in self.outputs:
            return users[0]
        return None

    def rewrite_nodes(self, rewrite_for: Callable[[Node], Rewrite | None]) -> list[Node]:
        """Run ``rewrite_for(node)``'s rewrite on each node in graph order (a node a rewrite has already taken
        is skipped), splice the emitted nodes in place of those replaced, drop what nothing reads any more and
        verify. Returns the nodes kept as they were, in graph order."""
        done: set[int] = set()
        kept: list[Node] = []
        untouched: list[Node] = []
        for node in list(self.graph.nodes):
            if id(node) in done:
                continue
            rewrite = rewrite_for(node)
            group = rewrite(self, node) if rewrite is not None else None
            if group is None:
                kept.append(node)
                untouched.append(node)
                continue
            done.update(id(n) for n in group)
            kept.extend(self.emitted)
            self.emitted.clear()
        self.graph.nodes = kept
        self.graph.toposort()
        dead_code_elimination(self.graph)  # the ops the rewrites replaced feed nothing now
        verify(self.graph)
        return untouched
