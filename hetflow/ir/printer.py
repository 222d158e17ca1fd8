"""A readable text form of a graph; a control-flow node's bodies are printed indented under it."""

from __future__ import annotations

from typing import Any

import numpy as np

from hetflow.ir.graph import Graph, Value


def _attr(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_attr(x) for x in v) + "]"
    if isinstance(v, np.ndarray):
        return f"array{list(v.shape)}"
    return repr(v) if isinstance(v, str) else str(v)


def _operand(v: Value | None) -> str:
    if v is None:
        return "_"
    if v.is_const and v.const is not None and v.const.size == 1:
        return f"{v.const.reshape(()).item()!r}:{v.type.dtype}"
    return f"%{v.name}"


def format_graph(graph: Graph, *, show_regions: bool = True, indent: str = "") -> str:
    """One line per node: ``%out: type = op(%in, ...) {attrs}  # region``; bodies follow their node, indented."""
    lines = [f"{indent}graph {graph.name}("]
    lines += [f"{indent}    %{v.name}: {v.type}," for v in graph.inputs]
    lines.append(f"{indent}) {{")
    consts = [v for v in graph.constants() if v.const is not None and v.const.size > 1]
    for v in consts:
        lines.append(f"{indent}  const %{v.name}: {v.type}")
    for node in graph.nodes:
        outs = ", ".join(f"%{o.name}: {o.type}" for o in node.outputs)
        args = ", ".join(_operand(v) for v in node.inputs)
        attrs = ", ".join(f"{k}={_attr(v)}" for k, v in node.attrs.items() if v is not None and not isinstance(v, Graph))
        text = f"{indent}  {outs} = {node.op}({args})" + (f" {{{attrs}}}" if attrs else "")
        if show_regions and node.region:
            text += f"  # {'/'.join(graph.region_path(node.region))}"
        lines.append(text)
        for key, body in node.attrs.items():
            if isinstance(body, Graph):
                lines.append(f"{indent}    {key}:")
                lines.append(format_graph(body, show_regions=show_regions, indent=indent + "      "))
    lines.append(f"{indent}  return " + ", ".join(f"%{v.name}" for v in graph.outputs))
    lines.append(f"{indent}}}")
    return "\n".join(lines)
