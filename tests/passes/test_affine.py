"""fold_affine: batch norm and per-channel mul / add / sub folded into conv and matmul weights, checked
numerically against the unfolded graph on the NumPy reference backend."""

from __future__ import annotations

import io

import numpy as np
import pytest

from hetflow.backends.reference import ReferenceBackend
from hetflow.ir import Graph, verify
from hetflow.passes import run_passes
from hetflow.passes.affine import batch_norm_affine, channel_affine, fold_affine_into

RNG = np.random.default_rng(7)
CONV = {"strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1)}


def _rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _bn_params(g: Graph, c: int, name: str) -> list:
    return [g.constant(RNG.uniform(0.5, 1.5, c).astype(np.float32), f"{name}_s"), g.constant(_rand(c), f"{name}_b"),
            g.constant(_rand(c), f"{name}_m"), g.constant(RNG.uniform(0.5, 2, c).astype(np.float32), f"{name}_v")]


def conv_bn_chain(bias: bool = True) -> Graph:
    """conv -> batch_norm -> mul (per channel) -> sub (per channel) -> relu."""
    g = Graph("conv_bn")
    x = g.add_input("x", "float32", ("N", 3, 8, 8))
    ins = [x, g.constant(_rand(4, 3, 3, 3), "w")] + ([g.constant(_rand(4), "b")] if bias else [])
    y = g.add_node("conv", ins, {**CONV, "pads": (1, 1, 1, 1)}, name="conv").outputs[0]
    y = g.add_node("batch_norm", [y, *_bn_params(g, 4, "bn")], name="bn").outputs[0]
    y = g.add_node("mul", [y, g.constant(_rand(1, 4, 1, 1), "k")], name="scale").outputs[0]
    y = g.add_node("sub", [y, g.constant(_rand(4, 1, 1), "t")], name="shift").outputs[0]
    g.outputs = [g.add_node("relu", [y], name="relu").outputs[0]]
    return g


def _same(graph: Graph, feeds: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], Graph]:
    """Outputs of ``graph`` before and after fold_affine (by name), and the folded graph."""
    want = ReferenceBackend().compile(graph.copy()).run(feeds)
    folded = run_passes(graph.copy(), ["fold_affine"])
    got = ReferenceBackend().compile(folded).run(feeds)
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-5)
    return want, folded


@pytest.mark.parametrize("bias", [True, False])
def test_conv_batch_norm_and_channel_ops_fold_into_the_conv(bias):
    g = conv_bn_chain(bias)
    _, folded = _same(g, {"x": _rand(2, 3, 8, 8)})
    assert [n.op for n in folded.nodes] == ["conv", "relu"]
    conv = folded.nodes[0]
    assert len(conv.inputs) == 3 and conv.inputs[2] is not None and conv.inputs[2].const.dtype == np.float32
    assert conv.outputs[0].name == "shift"  # the last folded node's value keeps its name and consumer


def test_fold_map_names_every_folded_node():
    assert fold_affine_into(conv_bn_chain()) == {"bn": "conv", "scale": "conv", "shift": "conv"}


def test_matmul_folds_a_per_column_scale_but_keeps_a_bias_add():
    g = Graph("mm")
    x = g.add_input("x", "float32", ("N", 6))
    y = g.add_node("matmul", [x, g.constant(_rand(6, 5), "B")], name="mm").outputs[0]
    y = g.add_node("mul", [g.constant(_rand(5), "k"), y], name="scale").outputs[0]  # constant first
    g.outputs = [g.add_node("add", [y, g.constant(_rand(5), "bias")], name="bias").outputs[0]]
    _, folded = _same(g, {"x": _rand(3, 6)})
    assert [n.op for n in folded.nodes] == ["matmul", "add"]  # a matmul has no bias input to take the add


def test_matmul_followed_by_batch_norm_1d():
    g = Graph("mm_bn")
    x = g.add_input("x", "float32", (4, 6))
    y = g.add_node("matmul", [x, g.constant(_rand(6, 5), "B")], name="mm").outputs[0]
    g.outputs = [g.add_node("mul", [y, g.constant(_rand(1, 5), "k")], name="scale").outputs[0]]
    _, folded = _same(g, {"x": _rand(4, 6)})
    assert [n.op for n in folded.nodes] == ["matmul"] and folded.outputs[0].name == "scale"


def _not_folded(g: Graph, feeds: dict[str, np.ndarray]) -> None:
    ops = [n.op for n in g.nodes]
    _, folded = _same(g, feeds)
    assert [n.op for n in folded.nodes] == ops


def test_no_fold_when_the_intermediate_has_another_consumer():
    g = Graph("shared")
    x = g.add_input("x", "float32", (1, 3, 6, 6))
    y = g.add_node("conv", [x, g.constant(_rand(4, 3, 1, 1), "w")], CONV, name="conv").outputs[0]
    z = g.add_node("batch_norm", [y, *_bn_params(g, 4, "bn")], name="bn").outputs[0]
    g.outputs = [g.add_node("add", [y, z], name="res").outputs[0]]
    _not_folded(g, {"x": _rand(1, 3, 6, 6)})


def test_no_fold_when_the_intermediate_is_a_graph_output():
    g = Graph("exported")
    x = g.add_input("x", "float32", (1, 3, 6, 6))
    y = g.add_node("conv", [x, g.constant(_rand(4, 3, 1, 1), "w")], CONV, name="conv").outputs[0]
    g.outputs = [y, g.add_node("mul", [y, g.constant(_rand(4, 1, 1), "k")], name="scale").outputs[0]]
    _not_folded(g, {"x": _rand(1, 3, 6, 6)})


def test_no_fold_when_weights_are_not_constant_or_the_constant_is_not_per_channel():
    g = Graph("dynamic")
    x = g.add_input("x", "float32", (2, 6))
    w = g.add_input("w", "float32", (6, 5))
    y = g.add_node("matmul", [x, w], name="mm").outputs[0]
    g.outputs = [g.add_node("mul", [y, g.constant(_rand(5), "k")], name="scale").outputs[0]]
    _not_folded(g, {"x": _rand(2, 6), "w": _rand(6, 5)})

    g = Graph("spatial")
    x = g.add_input("x", "float32", (1, 3, 6, 6))
    y = g.add_node("conv", [x, g.constant(_rand(4, 3, 1, 1), "w")], CONV, name="conv").outputs[0]
    g.outputs = [g.add_node("mul", [y, g.constant(_rand(6, 6), "k")], name="scale").outputs[0]]  # varies in H, W
    _not_folded(g, {"x": _rand(1, 3, 6, 6)})

    g = Graph("sub_from_const")
    x = g.add_input("x", "float32", (1, 3, 6, 6))
    y = g.add_node("conv", [x, g.constant(_rand(4, 3, 1, 1), "w")], CONV, name="conv").outputs[0]
    g.outputs = [g.add_node("sub", [g.constant(_rand(4, 1, 1), "k"), y], name="neg").outputs[0]]  # c - y: a negation
    _not_folded(g, {"x": _rand(1, 3, 6, 6)})


def test_affine_helpers():
    g = conv_bn_chain()
    bn = g.node("bn")
    scale, shift = batch_norm_affine(bn)  # type: ignore[misc]
    s, b, m, v = (p.const.astype(np.float64) for p in bn.inputs[1:])
    np.testing.assert_allclose(scale, s / np.sqrt(v + bn.attrs["epsilon"]))
    np.testing.assert_allclose(shift, b - m * scale)
    sub = g.node("shift")
    assert channel_affine(sub, sub.inputs[0], 4, 1)[1].tolist() == (-sub.inputs[1].const.reshape(-1)).tolist()
    assert channel_affine(sub, sub.inputs[0], 4, -1) is None  # the constant varies along axis 1, not the last


def test_dump_after_fold_affine_prints_the_folded_ir():
    buf = io.StringIO()
    g = run_passes(conv_bn_chain(), ["fold_affine"], dump_after="fold_affine", out=buf)
    verify(g)
    text = buf.getvalue()
    assert "IR after fold_affine" in text and "batch_norm" not in text and "conv(" in text
