import numpy as np
import pytest
from onnx_check import check_node

from hetflow.frontends.onnx import onnx_op
from hetflow.ir.errors import HetflowError


def test_add_and_relu_match_onnxruntime():
    rng = np.random.default_rng(0)
    check_node("Add", {"a": rng.standard_normal((2, 3)).astype(np.float32), "b": rng.standard_normal(3).astype(np.float32)})
    check_node("Relu", {"x": rng.standard_normal((4, 5)).astype(np.float32)})


def test_reshape_with_constant_shape():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    check_node("Reshape", {"x": x, "shape": np.array([0, -1], np.int64)}, const_inputs=["shape"])


def test_mapping_an_op_twice_raises():
    with pytest.raises(HetflowError, match="mapped twice"):
        @onnx_op()
        def Relu(ctx, x):  # noqa: N802
            return x
