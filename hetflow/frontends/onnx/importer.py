"""ONNX ModelProto -> hetflow IR, node by node through the mapping table."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from hetflow.frontends.context import Ctx
from hetflow.frontends.onnx.table import attribute_names, lookup
from hetflow.ir import DType, Graph, Value
from hetflow.ir.errors import HetflowError, ModelError
from hetflow.passes import run_passes

IMPORT_PASSES = ("constant_fold", "dce", "cse", "dce")
"""Run after import: weights built by ConstantOfShape become constants here."""

_ONNX_DTYPES = {
    onnx.TensorProto.FLOAT: DType.float32, onnx.TensorProto.DOUBLE: DType.float64,
    onnx.TensorProto.FLOAT16: DType.float16, onnx.TensorProto.BFLOAT16: DType.bfloat16,
    onnx.TensorProto.INT64: DType.int64, onnx.TensorProto.INT32: DType.int32,
    onnx.TensorProto.INT16: DType.int16, onnx.TensorProto.INT8: DType.int8,
    onnx.TensorProto.UINT64: DType.uint64, onnx.TensorProto.UINT32: DType.uint32,
    onnx.TensorProto.UINT16: DType.uint16, onnx.TensorProto.UINT8: DType.uint8,
    onnx.TensorProto.BOOL: DType.bool, onnx.TensorProto.STRING: DType.string,
}


def onnx_dtype(elem_type: int, where: str) -> DType:
    try:
        return _ONNX_DTYPES[elem_type]
    except KeyError:
        name = onnx.TensorProto.DataType.Name(elem_type) if elem_type in onnx.TensorProto.DataType.values() else elem_type
        raise ModelError(f"{where}: element type {name} is not supported") from None


def read_model(source: str | Path | bytes | onnx.ModelProto) -> onnx.ModelProto:
    """Parse a model file or bytes, with a one-line error for anything that is not a valid ONNX model."""
    if isinstance(source, onnx.ModelProto):
        return source
    where = "<bytes>" if isinstance(source, bytes) else str(source)
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as exc:
        raise ModelError(f"{where}: cannot read: {exc.strerror or exc}") from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ModelError(f"{where}: not an ONNX model (protobuf parse failed: {exc}); is the file truncated?") from None
    if not model.graph.node and not model.graph.output:
        raise ModelError(f"{where}: not an ONNX model (no graph found)")
    if model.ir_version == 0:
        raise ModelError(f"{where}: not an ONNX model (ir_version is missing)")
    return model


def _value_info_type(vi: onnx.ValueInfoProto, where: str) -> tuple[DType, tuple[int | str, ...] | None]:
    t = vi.type.tensor_type
    dtype = onnx_dtype(t.elem_type, f"{where}: input '{vi.name}'")
    if not t.HasField("shape"):
        return dtype, None
    dims: list[int | str] = []
    for i, d in enumerate(t.shape.dim):
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or f"{vi.name}_{i}")
    return dtype, tuple(dims)


def import_model(
    source: str | Path | bytes | onnx.ModelProto,
    *,
    bind: dict[str, np.ndarray] | None = None,
    passes: tuple[str, ...] = IMPORT_PASSES,
) -> Graph:
    """Import an ONNX model. ``bind`` turns the named graph inputs into constants (specialization)."""
    model = read_model(source)
    where = "<model>" if isinstance(source, (bytes, onnx.ModelProto)) else str(source)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    domains = {o.domain: o.version for o in model.opset_import if o.domain not in ("", "ai.onnx")}
    graph = Graph(model.graph.name or "model")
    env: dict[str, Value] = {}
    for init in model.graph.initializer:
        try:
            env[init.name] = graph.constant(numpy_helper.to_array(init), name=init.name)
        except Exception as exc:  # noqa: BLE001 - onnx raises assorted types for bad tensors
            raise ModelError(f"{where}: initializer '{init.name}' cannot be read: {exc}") from None
    for vi in model.graph.input:
        if vi.name in env:
            continue
        if bind and vi.name in bind:
            env[vi.name] = graph.constant(np.asarray(bind[vi.name]), name=vi.name)
            continue
        dtype, shape = _value_info_type(vi, where)
        env[vi.name] = graph.add_input(vi.name, dtype, shape)
    for index, node in enumerate(model.graph.node):
        _import_node(graph, env, node, index, opset, where, domains)
    for vi in model.graph.output:
        if vi.name not in env:
            raise ModelError(f"{where}: graph output '{vi.name}' is not produced by any node")
        graph.outputs.append(_named_output(graph, env[vi.name], vi.name))
    return run_passes(graph, passes)


def _named_output(graph: Graph, value: Value, name: str) -> Value:
    """The value under the ONNX output's name; never renames a graph input, a constant or another output."""
    if value.name == name:
        return value
    computed = value.producer is not None and all(v is not value for v in graph.outputs)
    if computed and graph.rename(value, name):
        return value
    return graph.add_node("identity", [value], name=name, output_names=[name]).outputs[0]


def _attributes(node: onnx.NodeProto, where: str, subgraphs: set[str] | None = None) -> dict[str, Any]:
    """The node's attributes as Python values; a subgraph stays a GraphProto where ``subgraphs`` names it."""
    attrs: dict[str, Any] = {}
    for a in node.attribute:
        is_graph = a.type == onnx.AttributeProto.GRAPH or a.type == onnx.AttributeProto.GRAPHS
        if is_graph and a.name not in (subgraphs or set()):
            raise ModelError(f"{where}: attribute '{a.name}' holds a subgraph; control flow is not supported")
        value = onnx.helper.get_attribute_value(a)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        attrs[a.name] = value
    return attrs


def _import_node(graph: Graph, env: dict[str, Value], node: onnx.NodeProto, index: int, opset: int, where: str,
                 domains: dict[str, int] | None = None) -> None:
    name = node.name or f"{node.op_type}_{index}"
    here = f"{where}: node '{name}' ({node.op_type})"
    # A custom domain has its own version in the model's opset_import; ai.onnx ops use the main opset.
    domain_opset = opset if node.domain in ("", "ai.onnx") else (domains or {}).get(node.domain, 1)
    mapping = lookup(node.op_type, node.domain, domain_opset, here)
    inputs: list[Value | None] = []
    for i in node.input:
        if i == "":
            inputs.append(None)
        elif i in env:
            inputs.append(env[i])
        else:
            raise ModelError(f"{here}: input '{i}' is not defined before this node")
    while inputs and inputs[-1] is None:
        inputs.pop()
    attrs = _attributes(node, here, attribute_names(mapping.fn))
    unknown = set(attrs) - attribute_names(mapping.fn)
    if unknown:
        raise ModelError(f"{here}: attribute(s) {sorted(unknown)} are not supported by hetflow's mapping")
    ctx = Ctx(graph, opset)
    ctx.node_name, ctx.op_type = name, node.op_type
    ctx.outputs = list(node.output)
    try:
        inspect.signature(mapping.fn).bind(ctx, *inputs, **attrs)
    except TypeError as exc:
        raise ModelError(f"{here}: wrong number of inputs ({len(inputs)}): {exc}") from None
    first_new = len(graph.nodes)
    try:
        result = mapping.fn(ctx, *inputs, **attrs)
    except HetflowError as exc:
        exc.args = (f"{where}: {exc}",)
        raise
    new_nodes = {id(n) for n in graph.nodes[first_new:]}
    outputs = result if isinstance(result, (list, tuple)) else [result]
    for out_name, value in zip(node.output, outputs):
        if out_name == "" or value is None:
            continue
        # A value this node made (a new node's output, or a constant folded as it was emitted) takes the ONNX name.
        if id(value.producer) in new_nodes if value.producer is not None else all(value is not v for v in inputs):
            graph.rename(value, out_name)
        env[out_name] = value
