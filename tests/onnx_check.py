"""Shared test helpers: build one-node ONNX models and compare hetflow against an oracle.

The oracle is onnxruntime, or onnx's ReferenceEvaluator where onnxruntime lacks a kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

import hetflow as hf


def node_model(
    op_type: str,
    inputs: dict[str, np.ndarray | None],
    attrs: dict[str, Any] | None = None,
    *,
    opset: int = 17,
    n_outputs: int = 1,
    const_inputs: Sequence[str] = (),
    domain: str = "",
) -> onnx.ModelProto:
    """A model with one node. Inputs named in ``const_inputs`` become initializers; a None input is omitted."""
    names = [name if arr is not None else "" for name, arr in inputs.items()]
    outputs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outputs, domain=domain, **(attrs or {}))
    graph_inputs = [
        helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
        for k, v in inputs.items() if v is not None and k not in const_inputs
    ]
    inits = [numpy_helper.from_array(inputs[k], k) for k in const_inputs if inputs[k] is not None]
    graph_outputs = [helper.make_value_info(o, onnx.TypeProto()) for o in outputs]
    graph = helper.make_graph([node], f"{op_type}_test", graph_inputs, graph_outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(domain, opset)])
    model.ir_version = 8
    return model


def run_oracle(model: onnx.ModelProto, feeds: dict[str, np.ndarray], oracle: str = "ort") -> list[np.ndarray]:
    if oracle == "ort":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        return sess.run(None, feeds)
    from onnx.reference import ReferenceEvaluator

    return list(ReferenceEvaluator(model).run(None, feeds))


def run_hetflow(model: onnx.ModelProto, feeds: dict[str, np.ndarray], backend: str = "reference") -> list[np.ndarray]:
    graph = hf.load(model)
    plan = hf.compile(graph, backend=backend)
    out = plan.run(feeds)
    return [out[o.name] for o in model.graph.output]


def assert_close(got: np.ndarray, want: np.ndarray, rtol: float = 1e-5, atol: float = 1e-6, what: str = "") -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def check_node(
    op_type: str,
    inputs: dict[str, np.ndarray | None],
    attrs: dict[str, Any] | None = None,
    *,
    opset: int = 17,
    n_outputs: int = 1,
    const_inputs: Sequence[str] = (),
    oracle: str = "ort",
    rtol: float = 1e-5,
    atol: float = 1e-6,
    backend: str = "reference",
) -> list[np.ndarray]:
    """Run one node through hetflow and the oracle and assert every output matches."""
    model = node_model(op_type, inputs, attrs, opset=opset, n_outputs=n_outputs, const_inputs=const_inputs)
    feeds = {k: v for k, v in inputs.items() if v is not None and k not in const_inputs}
    want = run_oracle(model, feeds, oracle)
    got = run_hetflow(model, feeds, backend)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, rtol, atol, f"{op_type} output {i}")
    return got
