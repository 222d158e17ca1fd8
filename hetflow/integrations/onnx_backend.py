"""hetflow as an ``onnx.backend.base.Backend``: the API the ONNX conformance suite drives.

An integration, not a frontend: it sits above the compiler (it imports, compiles and runs).

``prepare`` imports the model with its symbolic dims and compiles it once; a run at shapes the plan's
executables cannot take as compiled is specialized by the plan itself (``hetflow.runtime.specialize``: one
compile per new input-shape signature, cached). The data a model computes on is never baked into it.

Two kinds of model need more, because hetflow's IR has static op parameters (a Reshape's target shape, a Tile's
repeats, ...) and the mapping raises ``NeedsConstant`` when such a parameter is computed at run time:

- computed from the inputs' *shapes* in a way the IR cannot keep symbolic: the model is imported again at the
  concrete input shapes of the run (one plan per input-shape signature);
- computed from the *values* of parameter inputs (a Reshape whose target is itself a graph input, as in many
  ONNX node tests): those inputs, and only those, become constants, one plan per distinct value.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep, Device, DeviceType, namedtupledict

from hetflow.api import compile as compile_graph
from hetflow.frontends.context import NeedsConstant
from hetflow.frontends.onnx.importer import import_model, read_model
from hetflow.ir.errors import InputError, ModelError

if TYPE_CHECKING:
    from hetflow.partition import Plan

DEVICE_BACKENDS: dict[str, str] = {"CPU": "cpu_c"}
"""The hetflow code generator used for each ONNX device type when the caller names none."""

MAX_SPECIALIZATIONS = 32
"""Compiled plans kept per prepared model when it must be imported per input shape or parameter value (least
recently used ones are dropped)."""

SHAPE_ONLY_OPS = frozenset({"Shape", "Size"})
"""ONNX ops whose output depends on their input's shape, never its values: a parameter computed through one of
them is made constant by importing at concrete shapes, not by binding the input's data."""


class HetflowBackendRep(BackendRep):
    """A prepared ONNX model: compiled once, or once per input shape / parameter value it must specialize on."""

    def __init__(self, model: onnx.ModelProto, backend: str = "reference", **compile_options: Any) -> None:
        self.model = model
        self.backend = backend
        self.compile_options = compile_options
        initializers = {t.name for t in model.graph.initializer}
        self.input_names = [vi.name for vi in model.graph.input if vi.name not in initializers]
        self.output_names = [vi.name for vi in model.graph.output]
        self._onnx_producers = _producers(model)
        self._symbolic = _symbolic_inputs(model, set(self.input_names))
        self._by_shape = False  # imported at each run's concrete input shapes
        self._bound: list[str] = []  # parameter inputs whose values become import-time constants, in discovery order
        self._plans: OrderedDict[tuple, Plan] = OrderedDict()
        self._outputs_type = namedtupledict("Outputs", self.output_names)
        self.compiles = 0
        """Imports + ``hf.compile`` calls so far (the plans' own shape specializations are in their reports)."""
        try:
            self._plans[()] = self._compile({}, {})
        except NeedsConstant as exc:
            self._needs(exc)  # specialize at the first run, when shapes and values are known
        except ModelError:
            if not self._symbolic or not self._imports_at_some_shape():
                raise
            self._by_shape = True  # a symbolic dim the IR cannot keep: import at each run's shapes

    @property
    def specializations(self) -> int:
        """How many compiled plans this model holds (1 when nothing is specialized at import)."""
        return len(self._plans)

    @property
    def bound_inputs(self) -> tuple[str, ...]:
        """The parameter inputs whose values are compiled in as constants (one plan per distinct value)."""
        return tuple(self._bound)

    @property
    def imports_per_shape(self) -> bool:
        """Whether the model is imported at each run's input shapes (else once, with its symbolic dims)."""
        return self._by_shape

    def run(self, inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Run on inputs given as a list (graph-input order), a dict by name, or one array."""
        feeds = self._feeds(inputs)
        plan = self._plan_for(feeds)
        # Bound inputs are constants in the plan, and an input no output depends on may be gone from it.
        wanted = {v.name for v in plan.graph.inputs}
        outputs = plan.run({k: v for k, v in feeds.items() if k in wanted or k not in self.input_names})
        return self._outputs_type(*(outputs[name] for name in self.output_names))

    # ---------------------------------------------------------------- internals
    def _feeds(self, inputs: Any) -> dict[str, np.ndarray]:
        if isinstance(inputs, Mapping):
            return {k: np.asarray(v) for k, v in inputs.items()}
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        inputs = list(inputs)
        if len(inputs) != len(self.input_names):
            raise InputError(f"the model takes {len(self.input_names)} input(s) {self.input_names}, got {len(inputs)}")
        return {name: np.asarray(x) for name, x in zip(self.input_names, inputs)}

    def _shapes(self, feeds: dict[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
        return {n: tuple(np.shape(feeds[n])) for n in self._symbolic if n in feeds} if self._by_shape else {}

    def _plan_for(self, feeds: dict[str, np.ndarray]) -> Plan:
        while True:
            missing = [n for n in self._bound if n not in feeds]
            if missing:
                raise InputError(f"input '{missing[0]}' is missing")
            shapes = self._shapes(feeds)
            key = (tuple(shapes.items()), *(_fingerprint(n, feeds[n]) for n in self._bound))
            if not shapes and not self._bound:
                key = ()
            if key in self._plans:
                self._plans.move_to_end(key)
                return self._plans[key]
            try:
                plan = self._compile({n: feeds[n] for n in self._bound}, shapes)
            except NeedsConstant as exc:
                self._needs(exc)
                continue
            self._plans[key] = plan
            while len(self._plans) > MAX_SPECIALIZATIONS:
                self._plans.popitem(last=False)
            return plan

    def _compile(self, bind: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]]) -> Plan:
        graph = import_model(self.model, bind=bind or None, input_shapes=shapes or None)
        plan = compile_graph(graph, backend=self.backend, **self.compile_options)
        self.compiles += 1
        return plan

    def _imports_at_some_shape(self) -> bool:
        """Whether the model imports once its symbolic dims are sizes (1 each): then only the symbolic import
        failed, and each run's shapes will do. Otherwise the first error is the model's, for ``prepare``."""
        shapes = {}
        for vi in self.model.graph.input:
            if vi.name in self._symbolic:
                shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
                                        for d in vi.type.tensor_type.shape.dim)
        try:
            import_model(self.model, input_shapes=shapes)
        except NeedsConstant:
            return True  # the parameter-value path takes it from here at the first run
        except ModelError:
            return False
        return True

    def _needs(self, exc: NeedsConstant) -> None:
        """A parameter the IR needs as a constant is computed at run time: first import at the run's concrete
        input shapes (a computation on shapes then folds), then bind the parameter inputs it is computed from."""
        if self._symbolic and not self._by_shape:
            self._by_shape = True
            self._plans.clear()
            return
        wanted = [n for n in self._value_ancestors(exc.value_name) if n not in self._bound]
        if not wanted:
            # Binding more cannot help: the value depends on no input's values, or only on inputs already bound.
            raise ModelError(f"{exc}; specializing on the graph inputs' shapes and parameter values does not make it "
                             f"constant") from None
        self._bound.extend(wanted)
        self._plans.clear()

    def _value_ancestors(self, value_name: str) -> list[str]:
        """The graph inputs whose values ``value_name`` is computed from (not through Shape/Size), in input order."""
        inputs = set(self.input_names)
        if value_name in inputs:
            return [value_name]
        if value_name not in self._onnx_producers:
            # The IR renamed the value: bind the non-float inputs (parameters), never float data, rather than guess.
            return [n for n in self.input_names if n in self._integer_inputs()]
        seen: set[str] = set()
        stack = [value_name]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            op, ins = self._onnx_producers.get(name, ("", ()))
            if op not in SHAPE_ONLY_OPS:
                stack.extend(ins)
        return [n for n in self.input_names if n in seen]

    def _integer_inputs(self) -> set[str]:
        floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16}
        return {vi.name for vi in self.model.graph.input if vi.type.tensor_type.elem_type not in floats}


def _producers(model: onnx.ModelProto) -> dict[str, tuple[str, tuple[str, ...]]]:
    """ONNX value name -> the op type and input names of the node that produces it (for a control-flow node, the
    names its bodies read too: a body captures enclosing values without listing them as inputs)."""
    table: dict[str, tuple[str, tuple[str, ...]]] = {}
    for node in model.graph.node:
        ins = tuple(dict.fromkeys(i for i in (*node.input, *_body_reads(node)) if i))
        for out in node.output:
            if out:
                table[out] = (node.op_type, ins)
    return table


def _body_reads(node: onnx.NodeProto) -> list[str]:
    """Every value name read inside ``node``'s subgraph attributes, nested bodies included."""
    names: list[str] = []
    bodies = [a.g for a in node.attribute if a.HasField("g")] + [g for a in node.attribute for g in a.graphs]
    for body in bodies:
        for inner in body.node:
            names += [*inner.input, *_body_reads(inner)]
    return names


def _symbolic_inputs(model: onnx.ModelProto, names: set[str]) -> list[str]:
    """The graph inputs with a dim that is not a positive size (named, -1, 0 or missing), in input order."""
    out = []
    for vi in model.graph.input:
        if vi.name not in names or vi.type.WhichOneof("value") != "tensor_type":
            continue
        shape = vi.type.tensor_type.shape
        if not vi.type.tensor_type.HasField("shape") or any(
                not d.HasField("dim_value") or d.dim_value <= 0 for d in shape.dim):
            out.append(vi.name)
    return out


def _fingerprint(name: str, array: np.ndarray) -> tuple:
    array = np.ascontiguousarray(array)
    data = array.tobytes() if array.dtype != object else repr(array.tolist()).encode()
    return name, str(array.dtype), array.shape, data


class HetflowBackend(Backend):
    """ONNX's backend API over hetflow: ``prepare`` imports and compiles, ``run`` executes the Plan.

    ``prepare(model, device, backend="cpu_c")`` picks a hetflow code generator; without it the
    device's default from ``DEVICE_BACKENDS`` is used.
    """

    default_backend: ClassVar[str | None] = None
    """When set (see ``for_backend``), the code generator used whatever the device."""

    @classmethod
    def for_backend(cls, backend: str) -> type[HetflowBackend]:
        """A variant of this Backend class that compiles with ``backend`` (e.g. for BackendTest)."""
        return type(f"HetflowBackend_{backend}", (cls,), {"default_backend": backend})

    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        return cls.supports_device(device)

    @classmethod
    def prepare(cls, model: onnx.ModelProto | bytes | str, device: str = "CPU", **kwargs: Any) -> HetflowBackendRep:
        """Import and compile ``model``; extra keywords other than ``backend`` go to ``hf.compile``."""
        model = read_model(model)
        if not cls.supports_device(device):
            raise ModelError(f"device '{device}' is not supported by the hetflow ONNX backend (devices: CPU)")
        backend = kwargs.pop("backend", None) or cls.default_backend or DEVICE_BACKENDS[device.split(":")[0]]
        # rtol/atol come from the ONNX test runner's per-test kwargs; they are not compile options.
        options = {k: v for k, v in kwargs.items() if k not in ("rtol", "atol")}
        return HetflowBackendRep(model, backend, **options)

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple[Any, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(
        cls,
        node: onnx.NodeProto,
        inputs: Any,
        device: str = "CPU",
        outputs_info: Sequence[tuple[np.dtype, tuple[int, ...]]] | None = None,
        **kwargs: Any,
    ) -> tuple[Any, ...]:
        """Run one node on concrete inputs by wrapping it in a one-node model."""
        opset = kwargs.pop("opset_version", None) or onnx.defs.onnx_opset_version()
        arrays = [np.asarray(x) for x in (inputs.values() if isinstance(inputs, Mapping) else inputs)]
        names = [n for n in node.input if n]
        if len(names) != len(arrays):
            raise InputError(f"node '{node.name or node.op_type}' takes {len(names)} input(s), got {len(arrays)}")
        graph_inputs = [
            onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for n, a in zip(names, arrays)
        ]
        graph_outputs = []
        for i, name in enumerate(o for o in node.output if o):
            if outputs_info and i < len(outputs_info):
                dtype, shape = outputs_info[i]
                elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
                graph_outputs.append(onnx.helper.make_tensor_value_info(name, elem, shape))
            else:
                graph_outputs.append(onnx.helper.make_value_info(name, onnx.TypeProto()))
        graph = onnx.helper.make_graph([node], f"{node.op_type}_node", graph_inputs, graph_outputs)
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid(node.domain, opset)])
        return cls.run_model(model, arrays, device, **kwargs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        try:
            kind = Device(device).type
        except (AttributeError, ValueError):
            return False
        return kind == DeviceType.CPU


prepare = HetflowBackend.prepare
run_model = HetflowBackend.run_model
run_node = HetflowBackend.run_node
supports_device = HetflowBackend.supports_device
