"""PyTorch -> hetflow IR: ``torch.export``, decomposition to core ATen, then one table lookup per node.

Parameters, buffers and lifted constants become IR constants; user inputs become graph inputs whose batch
dim is the symbol ``batch`` when exported with ``dynamic_batch``. Size arithmetic on symbols (``sym_size``,
``operator.mul``, ...) is not IR: it is evaluated here into IR dim strings from export's own record.
"""

from __future__ import annotations

import inspect
import operator
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import fx

from hetflow.frontends.table import Mapping
from hetflow.frontends.torch.context import TorchCtx
from hetflow.frontends.torch.table import ATEN_TABLE
from hetflow.ir import DType, Graph, TensorType, Value
from hetflow.ir.errors import HetflowError, ModelError
from hetflow.ir.types import Dim
from hetflow.passes import run_passes

IMPORT_PASSES = ("constant_fold", "dce", "cse", "dce")
BATCH = "batch"
"""The IR name of the symbolic batch dim ``from_torch(..., dynamic_batch=True)`` creates."""

_IGNORED_KWARGS = {"layout", "device", "pin_memory", "memory_format", "non_blocking"}
"""Placement and memory-layout hints: they do not change values, so a mapping need not declare them."""

_NO_VALUE_OPS = {"_assert_tensor_metadata", "_assert_scalar", "sym_constrain_range_for_size", "sym_constrain_range"}
"""Checks export inserts; they produce nothing the graph uses."""

_SYMBOLIC_OPS = {"sym_size", "sym_numel", "sym_stride", "sym_storage_offset"}

_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def export_module(module: torch.nn.Module, example_inputs: Any, dynamic_batch: bool, where: str) -> Any:
    """``torch.export`` ``module`` on ``example_inputs`` and decompose to core ATen; one-line error if export refuses."""
    args = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    dynamic_shapes = None
    if dynamic_batch:
        # A batch of 1 would be specialized by export (sizes 0 and 1 are never symbolic): trace a batch of 2.
        args = tuple(_batch_of_two(a) for a in args)
        batch = torch.export.Dim(BATCH, min=1)
        dynamic_shapes = tuple({0: batch} if _has_batch(a) else None for a in args)
    try:
        with torch.no_grad():
            program = torch.export.export(module, args, dynamic_shapes=dynamic_shapes)
        return program.run_decompositions()
    except Exception as exc:  # noqa: BLE001 - export raises many types; the user needs its message, on one line
        hint = " (retry with dynamic_batch=False if the model fixes its batch size)" if dynamic_batch else ""
        raise ModelError(f"{where}: torch.export rejected the module: {_one_line(exc)}{hint}") from None


def _has_batch(a: Any) -> bool:
    return isinstance(a, torch.Tensor) and a.dim() > 0


def _batch_of_two(a: Any) -> Any:
    if _has_batch(a) and a.shape[0] == 1:
        return torch.cat([a, a])
    return a


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = " ".join(lines[:3]) if lines else type(exc).__name__
    return text if len(text) <= 400 else text[:397] + "..."


def import_program(program: Any, where: str = "<exported program>", passes: Sequence[str] = IMPORT_PASSES) -> Graph:
    """Map a (decomposed) ``torch.export.ExportedProgram`` into a hetflow Graph."""
    builder = _Builder(program, where)
    for node in program.graph.nodes:
        builder.visit(node)
    return run_passes(builder.graph, tuple(passes))


class _Builder:
    """Walks the exported FX graph in order, keeping each FX node's IR value (or Python value) in ``env``."""

    def __init__(self, program: Any, where: str) -> None:
        self.program = program
        self.where = where
        self.graph = Graph(where)
        self.env: dict[fx.Node, Any] = {}
        self.symbols: dict[str, tuple[Value, int]] = {}
        self.symbol_names: dict[str, str] = {}
        self.specs = {spec.arg.name: spec for spec in program.graph_signature.input_specs if hasattr(spec.arg, "name")}
        self.state = {**program.state_dict, **program.constants}

    def visit(self, node: fx.Node) -> None:
        handler = {"placeholder": self.placeholder, "call_function": self.call, "output": self.output}.get(node.op)
        if handler is None:
            raise ModelError(f"{self.where}: node '{node.name}': FX node kind {node.op!r} is not supported")
        handler(node)

    # ------------------------------------------------------------------ inputs and outputs

    def placeholder(self, node: fx.Node) -> None:
        spec = self.specs.get(node.name)
        kind = spec.kind.name if spec is not None else "USER_INPUT"
        if kind != "USER_INPUT":
            tensor = self.state.get(spec.target)
            if not isinstance(tensor, torch.Tensor):
                raise ModelError(f"{self.where}: {kind.lower()} '{spec.target}' is not a tensor ({type(tensor).__name__})")
            self.env[node] = self.graph.constant(_to_numpy(tensor), name=_ir_name(spec.target))
            return
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            self.env[node] = self.value_of(val)
            return
        dims = self.dims(val.shape, node.name)
        value = self.graph.add_input(node.name, torch_dtype(val.dtype, f"{self.where}: input '{node.name}'"), dims)
        for axis, d in enumerate(dims):
            if isinstance(d, str):
                self.symbols.setdefault(d, (value, axis))
        self.env[node] = value

    def output(self, node: fx.Node) -> None:
        results = node.args[0] if isinstance(node.args[0], (list, tuple)) else [node.args[0]]
        kinds = [spec.kind.name for spec in self.program.graph_signature.output_specs]
        user = [r for r, k in zip(results, kinds) if k == "USER_OUTPUT"]
        for i, result in enumerate(user):
            value = self.env.get(result) if isinstance(result, fx.Node) else result
            if not isinstance(value, Value):
                value = self.graph.constant(np.asarray(value), name="output_const")
            name = "output" if len(user) == 1 else f"output_{i}"
            self.graph.outputs.append(self.named_output(value, name))

    def named_output(self, value: Value, name: str) -> Value:
        computed = value.producer is not None and all(v is not value for v in self.graph.outputs)
        if computed and self.graph.rename(value, name):
            return value
        return self.graph.add_node("identity", [value], name=name, output_names=[name]).outputs[0]

    # ------------------------------------------------------------------ symbols

    def dims(self, shape: Sequence[Any], what: str) -> tuple[Dim, ...]:
        return tuple(self.dim(d, what) for d in shape)

    def dim(self, d: Any, what: str) -> Dim:
        if isinstance(d, int):
            return d
        expr = d.node.expr
        if expr.is_number:
            return int(expr)
        for symbol in sorted(expr.free_symbols, key=str):
            # Dims of user inputs are the only free symbols from_torch creates: all of them are the batch.
            self.symbol_names.setdefault(str(symbol), BATCH if not self.symbol_names else f"s{len(self.symbol_names)}")
        text = str(expr)
        for raw, name in sorted(self.symbol_names.items(), key=lambda kv: -len(kv[0])):
            text = re.sub(rf"\b{re.escape(raw)}\b", name, text)
        return text.replace(" ", "")

    def value_of(self, val: Any) -> Any:
        """A non-tensor result export recorded: an int, float, bool, or a symbolic size as an IR dim string."""
        if isinstance(val, (torch.SymInt, int)) and not isinstance(val, bool):
            return self.dim(val, "size")
        if isinstance(val, (torch.SymFloat, torch.SymBool)):
            hint = val.node.hint
            if hint is None:
                raise ModelError(f"{self.where}: a data-dependent scalar ({val}) is not supported")
            return hint
        return val

    # ------------------------------------------------------------------ ops

    def call(self, node: fx.Node) -> None:
        target = node.target
        if target is operator.getitem:
            source, index = self.env[node.args[0]], node.args[1]
            self.env[node] = source[index] if isinstance(source, (list, tuple)) else _fail_getitem(self, node)
            return
        if not isinstance(target, torch._ops.OpOverload):
            if _is_scalar(node.meta.get("val")):  # Python arithmetic on sizes: export recorded the result
                self.env[node] = self.value_of(node.meta["val"])
                return
            raise ModelError(f"{self.here(node)}: Python function {getattr(target, '__name__', target)!r} is not supported")
        packet = target._schema.name.split("::", 1)[-1]
        if packet in _NO_VALUE_OPS:
            return
        if packet in _SYMBOLIC_OPS:
            self.env[node] = self.value_of(node.meta["val"])
            return
        mapping = ATEN_TABLE.lookup(packet, target.namespace, 1, self.here(node))
        self.env[node] = self.apply(node, mapping)

    def apply(self, node: fx.Node, mapping: Mapping) -> Any:
        here = self.here(node)
        args = [self.arg(a) for a in node.args]
        accepted = inspect.signature(mapping.fn).parameters
        kwargs = {k: self.arg(v) for k, v in node.kwargs.items() if k in accepted or k not in _IGNORED_KWARGS}
        ctx = TorchCtx(self.graph, self.symbols)
        ctx.node_name, ctx.op_type = node.name, str(target_name(node.target))
        ctx.results = self.results(node)
        ctx.outputs = _used_outputs(node, len(ctx.results))
        try:
            inspect.signature(mapping.fn).bind(ctx, *args, **kwargs)
        except TypeError as exc:
            raise ModelError(f"{here}: arguments do not match hetflow's mapping: {exc}") from None
        first_new = len(self.graph.nodes)
        try:
            result = mapping.fn(ctx, *args, **kwargs)
        except HetflowError as exc:
            exc.args = (f"{self.where}: {exc}{_location(node)}",)
            raise
        new_nodes = {id(n) for n in self.graph.nodes[first_new:]}
        outputs = result if isinstance(result, (list, tuple)) else [result]
        for value, recorded in zip(outputs, ctx.results):
            if isinstance(value, Value) and value.producer is not None and id(value.producer) in new_nodes:
                _adopt_symbols(value, recorded)
        if isinstance(result, Value) and result.producer is not None and id(result.producer) in new_nodes:
            self.graph.rename(result, node.name)
        return result

    def arg(self, a: Any) -> Any:
        if isinstance(a, fx.Node):
            return self.env[a]
        if isinstance(a, (list, tuple)):
            return [self.arg(x) for x in a]
        if isinstance(a, torch.dtype):
            return torch_dtype(a, self.where)
        if isinstance(a, (torch.device, torch.layout, torch.memory_format)):
            return str(a)
        return a

    def results(self, node: fx.Node) -> list[TensorType | None]:
        val = node.meta.get("val")
        vals = val if isinstance(val, (list, tuple)) else [val]
        return [TensorType(torch_dtype(v.dtype, self.where), self.dims(v.shape, node.name))
                if isinstance(v, torch.Tensor) else None for v in vals]

    def here(self, node: fx.Node) -> str:
        return f"{self.where}: node '{node.name}' ({target_name(node.target)}){_location(node)}"


def target_name(target: Any) -> str:
    """``aten.add.Tensor`` for an OpOverload, the function's name otherwise."""
    if isinstance(target, torch._ops.OpOverload):
        return f"{target.namespace}.{target._schema.name.split('::', 1)[-1]}.{target._overloadname}"
    return getattr(target, "__name__", str(target))


def _location(node: fx.Node) -> str:
    """`` at file:line in fn`` from the innermost frame of the node's stack trace (user code), or ""."""
    frames = _FRAME.findall(node.meta.get("stack_trace") or "")
    if not frames:
        return ""
    path, line, fn = frames[-1]
    return f" at {path}:{line} in {fn}"


def _used_outputs(node: fx.Node, n: int) -> list[str]:
    """For a multi-result op: the names of the results some user takes ("" for unused ones)."""
    if n <= 1:
        return [node.name]
    used = [""] * n
    for user in node.users:
        if user.target is operator.getitem and isinstance(user.args[1], int) and user.args[1] < n and user.users:
            used[user.args[1]] = user.name
    return used


def _adopt_symbols(value: Value, recorded: TensorType | None) -> None:
    """Give a new value export's symbolic dims where IR inference had to invent a symbol.

    IR shape inference names a dim it cannot relate to its inputs afresh (``view_7_d``); export knows it is
    ``batch`` (or ``12*batch``). Keeping export's names lets later mappings see that dims agree.
    """
    shape = value.type.shape
    if recorded is None or recorded.shape is None or shape is None or len(shape) != len(recorded.shape):
        return
    if value.type.dtype == recorded.dtype and any(isinstance(d, str) for d in shape):
        value.type = TensorType(value.type.dtype, tuple(r if isinstance(d, str) else d for d, r in zip(shape, recorded.shape)))


def _fail_getitem(builder: _Builder, node: fx.Node) -> Any:
    raise ModelError(f"{builder.here(node)}: indexing a single result is not supported")


def _is_scalar(val: Any) -> bool:
    return isinstance(val, (int, float, bool, torch.SymInt, torch.SymFloat, torch.SymBool))


def _ir_name(target: str) -> str:
    return target.replace(".", "_")


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    t = tensor.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(DType.bfloat16.numpy)
    return t.numpy().copy()


_DTYPES = {
    torch.float32: DType.float32, torch.float64: DType.float64, torch.float16: DType.float16,
    torch.bfloat16: DType.bfloat16, torch.int64: DType.int64, torch.int32: DType.int32, torch.int16: DType.int16,
    torch.int8: DType.int8, torch.uint8: DType.uint8, torch.bool: DType.bool,
}


def torch_dtype(dtype: torch.dtype, where: str) -> DType:
    """The IR dtype for a torch dtype; a one-line error for those the IR lacks (complex, quantized)."""
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise ModelError(f"{where}: dtype {dtype} is not supported") from None
