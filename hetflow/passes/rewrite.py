"""What the precision rewrites (``passes/quantize.py``, ``passes/half.py``) share: emitting replacement nodes off
the graph's node list, and finding a value's single consumer of a given op."""

from __future__ import annotations

from hetflow.ir import Graph, Node, Value


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
