"""Every ATen mapping against PyTorch eager on random inputs, one op per exported program.

Each case calls the ATen overload directly, and the program is imported without decomposition, so the op
under test reaches its mapping as written (asserted). Schema defaults of the mappings are checked too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import hetflow as hf  # noqa: E402
from hetflow.frontends.torch import table  # noqa: E402
from hetflow.frontends.torch.importer import import_program  # noqa: E402

A = torch.ops.aten
G = torch.Generator().manual_seed(0)


def r(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=G)


def pos(*shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=G) + 0.5


def ints(high: int, *shape: int) -> torch.Tensor:
    return torch.randint(0, high, shape, generator=G)


W = r(5, 4)
# Parameters are made once, outside the ops: a tensor created inside forward would be traced as a random op.
BN = (pos(3), r(3), r(3), pos(3))
MAT, CONV_W, CONV_B = r(4), r(4, 1, 3, 3), r(4)
GN, LN = (pos(4), r(4)), (pos(3, 4), r(3, 4))
CASES: dict[str, tuple[Callable[..., torch.Tensor], tuple]] = {
    "_adaptive_avg_pool2d": (lambda x: A._adaptive_avg_pool2d.default(x, [2, 3]), (r(1, 2, 4, 6),)),
    "_log_softmax": (lambda x: A._log_softmax.default(x, 1, False), (r(2, 5),)),
    "_native_batch_norm_legit_no_training": (
        lambda x: A._native_batch_norm_legit_no_training.default(x, *BN, 0.1, 1e-5)[0], (r(2, 3, 4, 4),)),
    "_softmax": (lambda x: A._softmax.default(x, -1, False), (r(2, 5),)),
    "_to_copy": (lambda x: A._to_copy.default(x, dtype=torch.int32), (r(2, 5) * 4,)),
    "_unsafe_view": (lambda x: A._unsafe_view.default(x, [5, 2]), (r(2, 5),)),
    "abs": (lambda x: A.abs.default(x), (r(2, 5),)),
    "add": (lambda x, y: A.add.Tensor(x, y, alpha=2), (r(2, 5), r(5))),
    "addmm": (lambda x, y: A.addmm.default(MAT, x, y, beta=0.5, alpha=2), (r(3, 5), r(5, 4))),
    "alias": (lambda x: A.alias.default(x) + 1, (r(2, 5),)),
    "amax": (lambda x: A.amax.default(x, [1], True), (r(2, 5),)),
    "amin": (lambda x: A.amin.default(x, [0]), (r(2, 5),)),
    "any": (lambda x: A.any.dim(x > 1, 1), (r(3, 5),)),
    "arange": (lambda x: x + A.arange.start_step(1, 11, 2, dtype=torch.float32), (r(5),)),
    "argmax": (lambda x: A.argmax.default(x, 1), (r(3, 5),)),
    "argmin": (lambda x: A.argmin.default(x, 0, True), (r(3, 5),)),
    "avg_pool2d": (lambda x: A.avg_pool2d.default(x, [3, 3], [2, 2], [1, 1], False, False), (r(1, 2, 7, 7),)),
    "bmm": (lambda x, y: A.bmm.default(x, y), (r(2, 3, 4), r(2, 4, 5))),
    "cat": (lambda x, y: A.cat.default([x, y], 1), (r(2, 3), r(2, 4))),
    "ceil": (lambda x: A.ceil.default(x), (r(2, 5) * 3,)),
    "clamp": (lambda x: A.clamp.default(x, -0.5, 0.7), (r(2, 5),)),
    "clone": (lambda x: A.clone.default(x) * 2, (r(2, 5),)),
    "constant_pad_nd": (lambda x: A.constant_pad_nd.default(x, [1, 2, 0, 1], 0.5), (r(1, 2, 3, 3),)),
    "convolution": (lambda x: A.convolution.default(x, CONV_W, CONV_B, [2, 1], [1, 0], [1, 2], False, [0, 0], 2),
                    (r(1, 2, 7, 8),)),
    "cos": (lambda x: A.cos.default(x), (r(2, 5),)),
    "cumsum": (lambda x: A.cumsum.default(x, 1), (r(2, 5),)),
    "div": (lambda x, y: A.div.Tensor_mode(x, y, rounding_mode="floor"), (r(2, 5) * 5, pos(5))),
    "elu": (lambda x: A.elu.default(x, 0.7), (r(2, 5),)),
    "embedding": (lambda i: A.embedding.default(W, i), (ints(5, 2, 3),)),
    "eq": (lambda x: A.eq.Scalar(x, 2), (ints(4, 2, 5),)),
    "erf": (lambda x: A.erf.default(x), (r(2, 5),)),
    "exp": (lambda x: A.exp.default(x), (r(2, 5),)),
    "expand": (lambda x: A.expand.default(x, [3, -1, 4]), (r(1, 2, 1),)),
    "flip": (lambda x: A.flip.default(x, [0, 2]), (r(2, 3, 4),)),
    "floor": (lambda x: A.floor.default(x), (r(2, 5) * 3,)),
    "full": (lambda x: x + A.full.default([2, 5], 1.5), (r(2, 5),)),
    "full_like": (lambda x: A.full_like.default(x, 7.0) + x, (r(2, 5),)),
    "gather": (lambda x, i: A.gather.default(x, 1, i), (r(3, 5), ints(5, 3, 2))),
    "ge": (lambda x, y: A.ge.Tensor(x, y), (r(2, 5), r(2, 5))),
    "gelu": (lambda x: A.gelu.default(x, approximate="tanh"), (r(2, 5),)),
    "gt": (lambda x: A.gt.Scalar(x, 0.1), (r(2, 5),)),
    "hardsigmoid": (lambda x: A.hardsigmoid.default(x), (r(2, 5) * 4,)),
    "hardswish": (lambda x: A.hardswish.default(x), (r(2, 5) * 4,)),
    "hardtanh": (lambda x: A.hardtanh.default(x, 0.0, 6.0), (r(2, 5) * 4,)),
    "index_select": (lambda x, i: A.index_select.default(x, 1, i), (r(3, 5), ints(5, 4))),
    "le": (lambda x, y: A.le.Tensor(x, y), (r(2, 5), r(5))),
    "leaky_relu": (lambda x: A.leaky_relu.default(x, 0.2), (r(2, 5),)),
    "lift_fresh_copy": (lambda x: A.lift_fresh_copy.default(x) + 1, (r(2, 5),)),
    "log": (lambda x: A.log.default(x), (pos(2, 5),)),
    "logical_and": (lambda x, y: A.logical_and.default(x > 0, y > 0), (r(2, 5), r(2, 5))),
    "logical_not": (lambda x: A.logical_not.default(x > 0), (r(2, 5),)),
    "logical_or": (lambda x, y: A.logical_or.default(x > 0, y > 0), (r(2, 5), r(2, 5))),
    "lt": (lambda x, y: A.lt.Tensor(x, y), (r(2, 5), r(2, 5))),
    "max_pool2d_with_indices": (lambda x: A.max_pool2d_with_indices.default(x, [3, 2], [2, 2], [1, 1], [1, 1], True)[0],
                                (r(1, 2, 7, 8),)),
    "maximum": (lambda x, y: A.maximum.default(x, y), (r(2, 5), r(2, 5))),
    "mean": (lambda x: A.mean.dim(x, [0, 2], True), (r(2, 3, 4),)),
    "minimum": (lambda x, y: A.minimum.default(x, y), (r(2, 5), r(5))),
    "mm": (lambda x, y: A.mm.default(x, y), (r(3, 4), r(4, 5))),
    "mul": (lambda x: A.mul.Scalar(x, 3.0), (r(2, 5),)),
    "native_group_norm": (lambda x: A.native_group_norm.default(x, *GN, 2, 4, 9, 2, 1e-5)[0], (r(2, 4, 3, 3),)),
    "native_layer_norm": (lambda x: A.native_layer_norm.default(x, [3, 4], *LN, 1e-5)[0], (r(2, 3, 4),)),
    "ne": (lambda x: A.ne.Scalar(x, 1), (ints(3, 2, 5),)),
    "neg": (lambda x: A.neg.default(x), (r(2, 5),)),
    "permute": (lambda x: A.permute.default(x, [2, 0, 1]), (r(2, 3, 4),)),
    "pow": (lambda x: A.pow.Tensor_Scalar(x, 3), (r(2, 5),)),
    "prod": (lambda x: A.prod.dim_int(x, 1), (r(2, 5),)),
    "reciprocal": (lambda x: A.reciprocal.default(x), (pos(2, 5),)),
    "relu": (lambda x: A.relu.default(x), (r(2, 5),)),
    "reshape": (lambda x: A.reshape.default(x, [5, -1]), (r(2, 5),)),
    "round": (lambda x: A.round.default(x), (r(2, 5) * 3,)),
    "rsqrt": (lambda x: A.rsqrt.default(x), (pos(2, 5),)),
    "rsub": (lambda x: A.rsub.Scalar(x, 2.0), (r(2, 5),)),
    "scalar_tensor": (lambda x: x * A.scalar_tensor.default(2.5), (r(2, 5),)),
    "select": (lambda x: A.select.int(x, 1, -1), (r(2, 5, 3),)),
    "sigmoid": (lambda x: A.sigmoid.default(x), (r(2, 5),)),
    "sign": (lambda x: A.sign.default(x), (r(2, 5),)),
    "silu": (lambda x: A.silu.default(x), (r(2, 5),)),
    "sin": (lambda x: A.sin.default(x), (r(2, 5),)),
    "slice": (lambda x: A.slice.Tensor(x, 1, 1, 5, 2), (r(2, 6),)),
    "split_with_sizes": (lambda x: A.split_with_sizes.default(x, [2, 4], 1)[1], (r(2, 6),)),
    "sqrt": (lambda x: A.sqrt.default(x), (pos(2, 5),)),
    "squeeze": (lambda x: A.squeeze.dims(x, [0, 2]), (r(1, 5, 1),)),
    "sub": (lambda x, y: A.sub.Tensor(x, y, alpha=0.5), (r(2, 5), r(2, 5))),
    "sum": (lambda x: A.sum.dim_IntList(x, [1]), (r(2, 5),)),
    "tanh": (lambda x: A.tanh.default(x), (r(2, 5),)),
    "unsqueeze": (lambda x: A.unsqueeze.default(x, 1), (r(2, 5),)),
    "view": (lambda x: A.view.default(x, [10]), (r(2, 5),)),
    "where": (lambda c, x: A.where.self(c > 0, x, -x), (r(2, 5), r(2, 5))),
}


class _Op(torch.nn.Module):
    def __init__(self, fn: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(*xs)


def test_every_mapping_has_an_eager_case() -> None:
    assert {m.op_type for m in table()} == set(CASES)


@pytest.mark.parametrize("op", sorted(CASES))
def test_mapping_matches_eager(op: str) -> None:
    fn, args = CASES[op]
    program = torch.export.export(_Op(fn), args)
    used = {n.target._schema.name.split("::")[-1] for n in program.graph.nodes if isinstance(n.target, torch._ops.OpOverload)}
    assert op in used, f"the exported program does not call aten.{op}: {sorted(used)}"
    graph = import_program(program, op)
    got = hf.compile(graph, backend="reference").run({v.name: a.numpy() for v, a in zip(graph.inputs, args)})
    expected = fn(*args).numpy()
    result = got[graph.outputs[0].name]
    assert result.shape == expected.shape and result.dtype == expected.dtype
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mapping", table(), ids=lambda m: m.op_type)
def test_mapping_defaults_follow_the_schema(mapping: object) -> None:
    """A parameter named like a schema argument has that argument's default (for every overload that has it)."""
    packet = getattr(torch.ops.aten, mapping.op_type)  # type: ignore[attr-defined]
    params = inspect.signature(mapping.fn).parameters  # type: ignore[attr-defined]
    for overload in packet.overloads():
        for arg in getattr(packet, overload)._schema.arguments:
            p = params.get(arg.name)
            if p is None or arg.default_value is None or p.default is inspect.Parameter.empty:
                continue
            schema = list(arg.default_value) if isinstance(arg.default_value, (list, tuple)) else arg.default_value
            mine = list(p.default) if isinstance(p.default, (list, tuple)) else p.default
            if isinstance(schema, torch.dtype | torch.layout | torch.device | torch.memory_format):
                continue
            assert mine == schema, f"aten.{mapping.op_type}.{overload}: {arg.name} defaults to {schema!r}, mapping {mine!r}"
