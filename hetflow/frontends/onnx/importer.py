"""ONNX ModelProto -> hetflow IR, node by node through the mapping table."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from hetflow.frontends.context import Ctx
from hetflow.frontends.onnx.symbolic import input_dim, propagate
from hetflow.frontends.onnx.table import attribute_names, lookup
from hetflow.ir import DType, Graph, TensorType, Value
from hetflow.ir.errors import HetflowError, InputError, ModelError, UnsupportedOpError
from hetflow.ir.types import MAX_DIM, Dim
from hetflow.passes import run_passes

IMPORT_PASSES = ("constant_fold", "dce", "cse", "dce")
"""Run after import: weights built by ConstantOfShape become constants here."""

MAX_OPSET = 2**31 - 1
"""Opset versions beyond the newest onnx knows are accepted (a newer exporter); beyond this none can exist."""


SEQUENCE_OPS = frozenset({
    "SequenceEmpty", "SequenceConstruct", "SequenceInsert", "SequenceAt", "SequenceErase", "SequenceLength",
    "SequenceMap", "SplitToSequence", "ConcatFromSequence", "Optional", "OptionalHasElement", "OptionalGetElement",
})
"""ONNX ops on sequence or optional values: their error says that those types, not just the op, are unsupported."""


class MalformedGraphError(ModelError):
    """A graph whose structure is broken (a name read before any node makes it), whatever the input shapes."""


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
    _check_names(model.graph, where)
    return model


def _check_names(graph: onnx.GraphProto, where: str) -> None:
    """Every name in the graph is text: protobuf hands back a string field that is not UTF-8 as bytes."""
    names: list[Any] = [graph.name]
    for node in graph.node:
        names += [node.name, node.op_type, node.domain, *node.input, *node.output, *(a.name for a in node.attribute)]
        for a in node.attribute:  # a control-flow node's bodies
            for body in [a.g] if a.type == _A.GRAPH else a.graphs if a.type == _A.GRAPHS else []:
                _check_names(body, where)
    names += [v.name for v in (*graph.input, *graph.output, *graph.value_info, *graph.initializer)]
    bad = next((n for n in names if not isinstance(n, str) or not n.isprintable()), None)
    if bad is not None:
        raise ModelError(f"{where}: the name {bad!r} is not printable UTF-8 text; the file is damaged")


class Scope:
    """The ONNX names visible while one graph is imported: its own, then (in a body) the enclosing graphs'.

    A body that reads an enclosing value captures it: the body gets an input of that name, and the outer
    value is appended to ``captured`` (the control-flow node passes it). Constants are copied in instead.
    """

    def __init__(self, graph: Graph, parent: Scope | None = None) -> None:
        self.graph = graph
        self.parent = parent
        self.values: dict[str, Value] = {}
        self.captured: list[Value] = []

    def lookup(self, name: str) -> Value | None:
        if name in self.values:
            return self.values[name]
        outer = self.parent.lookup(name) if self.parent is not None else None
        if outer is None:
            return None
        if outer.const is not None:
            inner = self.graph.constant(outer.const, name=name)
        else:
            inner = self.graph.add_input(name, outer.type.dtype, outer.type.shape)
            self.captured.append(outer)
        self.values[name] = inner
        return inner


class OnnxCtx(Ctx):
    """The conversion context of one ONNX node, with what a control-flow mapping needs to import its bodies."""

    def __init__(self, graph: Graph, version: int, scope: Scope, domains: dict[str, int]) -> None:
        super().__init__(graph, version)
        self.scope, self.domains = scope, domains


def _value_info_type(vi: onnx.ValueInfoProto, where: str) -> tuple[DType, tuple[int | str, ...] | None]:
    """An input's declared type. A dim of -1 or 0, ``?`` or none is a symbol of its own (``symbolic.input_dim``);
    a dim larger than MAX_DIM is refused here, before anything is sized from it."""
    if vi.type.WhichOneof("value") != "tensor_type":
        kind = vi.type.WhichOneof("value") or "no type"
        raise ModelError(f"{where}: input '{vi.name}' is a {kind}; hetflow imports tensor inputs only")
    t = vi.type.tensor_type
    dtype = onnx_dtype(t.elem_type, f"{where}: input '{vi.name}'")
    if not t.HasField("shape"):
        return dtype, None
    dims: list[int | str] = []
    for i, d in enumerate(t.shape.dim):
        if d.HasField("dim_value") and d.dim_value > MAX_DIM:
            raise ModelError(f"{where}: input '{vi.name}' declares dim {i} = {d.dim_value}, "
                             f"larger than any tensor hetflow can hold ({MAX_DIM})")
        dims.append(input_dim(vi.name, i, int(d.dim_value) if d.HasField("dim_value") else None, d.dim_param))
    return dtype, tuple(dims)


def import_model(
    source: str | Path | bytes | onnx.ModelProto,
    *,
    bind: dict[str, np.ndarray] | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    passes: tuple[str, ...] = IMPORT_PASSES,
) -> Graph:
    """Import an ONNX model. ``bind`` turns the named graph inputs into constants (specialization);
    ``input_shapes`` gives named inputs concrete shapes in place of their symbolic dims (``hetflow run`` and the
    onnx.backend adapter import at the shapes they are given when a shape computation cannot stay symbolic)."""
    model = read_model(source)
    where = "<model>" if isinstance(source, (bytes, onnx.ModelProto)) else str(source)
    opset = _default_opset(model, where)
    domains = {o.domain: o.version for o in model.opset_import if o.domain not in ("", "ai.onnx")}
    graph = Graph(model.graph.name or "model")
    scope = Scope(graph)
    env = scope.values
    _initializers(graph, env, model.graph, where)
    for vi in model.graph.input:
        if vi.name in env:
            continue
        if bind and vi.name in bind:
            env[vi.name] = graph.constant(np.asarray(bind[vi.name]), name=vi.name)
            continue
        dtype, shape = _value_info_type(vi, where)
        if input_shapes and vi.name in input_shapes:
            shape = _given_shape(vi.name, dtype, shape, tuple(input_shapes[vi.name]))
        env[vi.name] = graph.add_input(vi.name, dtype, shape)
    for index, node in enumerate(model.graph.node):
        _import_node(scope, node, index, opset, where, domains)
    for vi in model.graph.output:
        if vi.name not in env:
            raise ModelError(f"{where}: graph output '{vi.name}' is not produced by any node")
        graph.outputs.append(_named_output(graph, env[vi.name], vi.name))
    return run_passes(graph, passes)


def _given_shape(name: str, dtype: DType, declared: tuple[Dim, ...] | None, given: tuple[int, ...]) -> tuple[Dim, ...]:
    """``given`` for input ``name``, once it fits the declared shape (same rank, the same size where static)."""
    if declared is not None and (len(given) != len(declared) or any(
            isinstance(d, int) and d != n for d, n in zip(declared, given))):
        raise InputError(f"input '{name}': expected shape {dtype}[{','.join(str(d) for d in declared)}], "
                         f"got {list(given)}")
    return given


def _initializers(graph: Graph, env: dict[str, Value], proto: onnx.GraphProto, where: str) -> None:
    for init in proto.initializer:
        try:
            env[init.name] = graph.constant(numpy_helper.to_array(init), name=init.name)
        except Exception as exc:  # noqa: BLE001 - onnx raises assorted types for bad tensors
            raise ModelError(f"{where}: initializer '{init.name}' cannot be read: {exc}") from None


def import_body(ctx: OnnxCtx, proto: onnx.GraphProto, formal: list[TensorType], what: str) -> tuple[Graph, list[Value]]:
    """Import a control-flow body whose inputs have the types ``formal``: (the body graph, the enclosing values
    it captures, in the order of its trailing capture inputs)."""
    here = f"{ctx.where}, {what}"
    if len(proto.input) != len(formal):
        raise MalformedGraphError(f"{here}: {what} declares {len(proto.input)} inputs; the op passes it {len(formal)}")
    body = Graph(proto.name or what)
    scope = Scope(body, ctx.scope)
    _initializers(body, scope.values, proto, here)
    for vi, t in zip(proto.input, formal):
        scope.values[vi.name] = body.add_input(vi.name, t.dtype, t.shape)
    for index, node in enumerate(proto.node):
        _import_node(scope, node, index, ctx.version, here, ctx.domains)  # the outer node adds the file
    for vi in proto.output:
        value = scope.lookup(vi.name)
        if value is None:
            raise MalformedGraphError(f"{here}: output '{vi.name}' is not produced by any node")
        body.outputs.append(_named_output(body, value, vi.name))
    return body, scope.captured


def _default_opset(model: onnx.ModelProto, where: str) -> int:
    """The model's ai.onnx opset (1 when it imports none); a version no opset ever had is a ModelError."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    if not 1 <= opset <= MAX_OPSET:
        raise ModelError(f"{where}: opset_import names ai.onnx version {opset}; versions run from 1 "
                         f"(this onnx knows up to {onnx.defs.onnx_opset_version()})")
    return opset


def _named_output(graph: Graph, value: Value, name: str) -> Value:
    """The value under the ONNX output's name; never renames a graph input, a constant or another output."""
    if value.name == name:
        return value
    computed = value.producer is not None and all(v is not value for v in graph.outputs)
    if computed and graph.rename(value, name):
        return value
    return graph.add_node("identity", [value], name=name, output_names=[name]).outputs[0]


_A = onnx.AttributeProto
ATTRIBUTE_KINDS: dict[str, tuple[int, ...]] = {
    "int": (_A.INT,), "int | None": (_A.INT,),
    "float": (_A.FLOAT, _A.INT), "float | None": (_A.FLOAT, _A.INT),
    "str": (_A.STRING,), "str | None": (_A.STRING,),
    "Ints": (_A.INTS,), "Sequence[int]": (_A.INTS,), "Sequence[int] | None": (_A.INTS,), "list[int] | None": (_A.INTS,),
    "Sequence[float]": (_A.FLOATS,), "Sequence[float] | None": (_A.FLOATS,),
    "Sequence[str] | None": (_A.STRINGS,),
    "np.ndarray | None": (_A.TENSOR,), "onnx.GraphProto | None": (_A.GRAPH,),
}
"""A mapping parameter's annotation -> the attribute kinds it accepts (an INT where a FLOAT is expected is
widened); an annotation not listed here accepts any kind."""


def _attribute_kinds(fn: Any) -> dict[str, tuple[int, ...]]:
    """Per keyword parameter of a mapping function, the attribute kinds it accepts."""
    params = inspect.signature(fn).parameters.values()
    return {p.name: ATTRIBUTE_KINDS[str(p.annotation)] for p in params
            if p.kind is inspect.Parameter.KEYWORD_ONLY and str(p.annotation) in ATTRIBUTE_KINDS}


def _attributes(node: onnx.NodeProto, where: str, fn: Any) -> dict[str, Any]:
    """The node's attributes as Python values, each checked against the kind the mapping expects."""
    kinds = _attribute_kinds(fn)
    attrs: dict[str, Any] = {}
    for a in node.attribute:
        wanted = kinds.get(a.name)
        if wanted is not None and a.type not in wanted:
            got = _A.AttributeType.Name(a.type) if a.type in _A.AttributeType.values() else str(a.type)
            expected = " or ".join(_A.AttributeType.Name(k) for k in wanted)
            raise ModelError(f"{where}: attribute '{a.name}' is {got}, expected {expected}")
        if a.type == _A.GRAPHS or (a.type == _A.GRAPH and wanted is None):
            raise ModelError(f"{where}: attribute '{a.name}' holds a subgraph, which this op's mapping does not take")
        value = _attribute_value(a, where)
        attrs[a.name] = float(value) if a.type == _A.INT and wanted and wanted[0] == _A.FLOAT else value
    return attrs


def _attribute_value(a: onnx.AttributeProto, where: str) -> Any:
    """One attribute as a Python value; a tensor that cannot be decoded or a non-UTF-8 string is a ModelError."""
    try:
        value = onnx.helper.get_attribute_value(a)
        if isinstance(value, bytes):
            return value.decode()
        if isinstance(value, onnx.TensorProto):
            return numpy_helper.to_array(value)
        if isinstance(value, list) and value and isinstance(value[0], bytes):
            return [v.decode() for v in value]
        return value
    except UnicodeDecodeError:
        raise ModelError(f"{where}: attribute '{a.name}' holds a string that is not UTF-8") from None
    except Exception as exc:  # noqa: BLE001 - onnx raises assorted types for malformed tensors
        raise ModelError(f"{where}: attribute '{a.name}' cannot be read: {type(exc).__name__}: {exc}") from None


def _import_node(scope: Scope, node: onnx.NodeProto, index: int, opset: int, where: str,
                 domains: dict[str, int] | None = None) -> None:
    graph, env = scope.graph, scope.values
    name = node.name or f"{node.op_type}_{index}"
    here = f"{where}: node '{name}' ({node.op_type})"
    # A custom domain has its own version in the model's opset_import; ai.onnx ops use the main opset.
    domain_opset = opset if node.domain in ("", "ai.onnx") else (domains or {}).get(node.domain, 1)
    try:
        mapping = lookup(node.op_type, node.domain, domain_opset, here)
    except UnsupportedOpError as exc:
        if node.op_type in SEQUENCE_OPS:
            exc.args = (f"{exc}; sequence types are not supported (hetflow imports tensor values only)",)
        raise
    inputs: list[Value | None] = []
    for i in node.input:
        value = scope.lookup(i) if i else None
        if i and value is None:
            raise MalformedGraphError(f"{here}: input '{i}' is not defined before this node")
        inputs.append(value)
    while inputs and inputs[-1] is None:
        inputs.pop()
    _check_against_schema(node, inputs, domain_opset, here)
    attrs = _attributes(node, here, mapping.fn)
    unknown = set(attrs) - attribute_names(mapping.fn)
    if unknown:
        raise ModelError(f"{here}: attribute(s) {sorted(unknown)} are not supported by hetflow's mapping")
    ctx = OnnxCtx(graph, opset, scope, domains or {})
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
    if len(node.output) == 1 and node.output[0] in env:
        propagate(node.op_type, inputs, env[node.output[0]], attrs)


_SCHEMA_MISSING = object()


@functools.cache
def _schema(op_type: str, domain: str, opset: int) -> Any:
    """ONNX's own schema of the op at this opset (``_SCHEMA_MISSING`` for a custom op or an opset onnx lacks)."""
    if not 1 <= opset <= MAX_OPSET:  # a custom domain's version, not checked as ai.onnx's is
        return _SCHEMA_MISSING
    try:
        return onnx.defs.get_schema(op_type, opset, domain)
    except onnx.defs.SchemaError:
        return _SCHEMA_MISSING


@functools.cache
def _type_name(dtype: DType) -> str:
    """An IR dtype as ONNX's schemas write it: ``tensor(float)``."""
    elem = next((k for k, v in _ONNX_DTYPES.items() if v is dtype), None)
    return f"tensor({dtype})" if elem is None else f"tensor({onnx.TensorProto.DataType.Name(elem).lower()})"


def _check_against_schema(node: onnx.NodeProto, inputs: list[Value | None], opset: int, where: str) -> None:
    """Required inputs present, and every input's element type one the ONNX schema allows (the same type
    where the schema ties inputs together), so that no mapping or kernel meets an input it cannot take."""
    schema = _schema(node.op_type, "" if node.domain == "ai.onnx" else node.domain, opset)
    if schema is _SCHEMA_MISSING or not schema.inputs:
        return
    Option = onnx.defs.OpSchema.FormalParameterOption
    formals = schema.inputs
    if len(inputs) > len(formals) and formals[-1].option != Option.Variadic:
        raise ModelError(f"{where}: {len(inputs)} inputs given, {node.op_type}-{schema.since_version} takes "
                         f"at most {len(formals)}")
    allowed = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}
    bound: dict[str, DType] = {}
    for i, formal in enumerate(formals):
        if i >= len(inputs) or (inputs[i] is None and formal.option != Option.Variadic):
            if formal.option == Option.Single:
                raise ModelError(f"{where}: required input {i} ('{formal.name}') is missing")
            continue
        values = inputs[i:] if formal.option == Option.Variadic else inputs[i:i + 1]
        for j, value in enumerate(values):
            if value is None:
                if formal.option == Option.Variadic:  # no schema lets a variadic input be left out
                    raise ModelError(f"{where}: input {i + j} ('{formal.name}', variadic) is empty")
                continue
            dtype = value.type.dtype
            if _type_name(dtype) not in allowed.get(formal.type_str, {formal.type_str}):
                raise ModelError(f"{where}: input {i} ('{formal.name}') has element type {dtype}, which "
                                 f"{node.op_type}-{schema.since_version} does not accept")
            if formal.type_str in allowed and formal.is_homogeneous and bound.setdefault(formal.type_str, dtype) != dtype:
                raise ModelError(f"{where}: input {i} ('{formal.name}') is {dtype} but another input of type "
                                 f"{formal.type_str} is {bound[formal.type_str]}; ONNX requires them to match")
