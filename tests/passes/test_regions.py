"""form_regions (layer ⊂ block ⊂ network) and summarize, on hand-built graphs and the model zoo."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

import hetflow as hf
from hetflow import dsl
from hetflow.ir import Graph, IRError, Region, verify
from hetflow.passes import render_summary, run_passes, summarize
from hetflow.passes.regions import GRAINS, _common_prefix, _node_label, _weight_label, check_regions

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def _formed(graph: Graph) -> Graph:
    run_passes(graph, ["form_regions"])
    check_regions(graph)
    verify(graph)
    return graph


def _kinds(graph: Graph) -> Counter:
    return Counter((r.kind, r.pattern) for r in graph.regions.values())


def _blocks(graph: Graph, pattern: str) -> list[str]:
    return [r.name for r in graph.regions.values() if r.kind == "block" and r.pattern == pattern]


def _assert_totals_agree(graph: Graph) -> None:
    totals = {g: (sum(r.flops for r in rows), sum(r.param_bytes for r in rows), sum(r.nodes for r in rows))
              for g in GRAINS for rows in [summarize(graph, g)]}
    assert len(set(totals.values())) == 1, totals
    flops, params, nodes = totals["op"]
    assert flops > 0 and nodes == len(graph.nodes)
    assert params == sum(v.type.nbytes for v in graph.constants())


# ---------------------------------------------------------------------------- the model zoo
@pytest.fixture(scope="module")
def resnet50() -> Graph:
    return _formed(hf.load(LIGHT / "light_resnet50.onnx"))


@pytest.fixture(scope="module")
def inception_v1() -> Graph:
    return _formed(hf.load(LIGHT / "light_inception_v1.onnx"))


def test_resnet50_has_16_residual_blocks_of_conv_layers(resnet50):
    kinds = _kinds(resnet50)
    assert kinds[("block", "residual")] == 16
    assert kinds[("layer", "conv")] == 53
    assert kinds[("network", "network")] == 1
    # Block names come from the weights' names (gpu_0/res2_0_branch2a_w_0 -> layer res2_0_branch2a).
    assert _blocks(resnet50, "residual") == [f"res{s}_{i}" for s, n in ((2, 3), (3, 4), (4, 6), (5, 3)) for i in range(n)]
    first = [r.name for r in resnet50.regions.values() if r.parent == "res2_0"]
    assert sorted(first) == sorted(["res2_0_branch2a", "res2_0_branch2b", "res2_0_branch2c", "res2_0_branch1",
                                    next(n for n in first if resnet50.regions[n].pattern == "add")])
    ops = [n.op for n in resnet50.nodes if n.region == "res2_0_branch2a"]
    assert ops == ["conv", "batch_norm", "relu"]


def test_resnet50_residual_join_layer_takes_its_relu(resnet50):
    adds = [r.name for r in resnet50.regions.values() if r.pattern == "add"]
    assert len(adds) == 16
    for name in adds:
        assert [n.op for n in resnet50.nodes if n.region == name] == ["add", "relu"]
        assert resnet50.regions[resnet50.regions[name].parent].pattern == "residual"


def test_resnet50_summaries_agree_across_grains(resnet50):
    _assert_totals_agree(resnet50)
    blocks = summarize(resnet50, "block")
    assert [r.name for r in blocks][:3] == ["conv1", blocks[1].name, "res2_0"]
    assert sum(r.grain == "block" for r in blocks) == 16
    res2_0 = next(r for r in blocks if r.name == "res2_0")
    assert res2_0.kind == "residual" and res2_0.nodes == 12 and "conv*4" in res2_0.ops
    network = summarize(resnet50, "network")
    assert len(network) == 1 and network[0].flops > 7e9  # ~4 GMAC at 224x224
    assert len(summarize(resnet50, "layer")) == 73 and len(summarize(resnet50, "op")) == len(resnet50.nodes)


def test_inception_v1_has_9_inception_blocks(inception_v1):
    kinds = _kinds(inception_v1)
    assert kinds[("block", "inception")] == 9
    assert kinds[("layer", "conv")] == 57 and kinds[("layer", "concat")] == 9
    modules = ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")
    assert _blocks(inception_v1, "inception") == [f"inception_{k}" for k in modules]
    block = [r.name for r in inception_v1.regions.values() if r.parent == "inception_3a"]
    assert "inception_3a/1x1" in block and "inception_3a/pool_proj" in block and len(block) == 8
    # Layers outside any pattern whose names share a prefix form a named block.
    assert inception_v1.regions["conv2/3x3"].parent == "conv2" and inception_v1.regions["conv2"].pattern == "named"
    _assert_totals_agree(inception_v1)


def test_rerunning_after_other_passes_gives_the_same_regions(inception_v1):
    g = inception_v1.copy()
    before = {n.name: g.region_path(n.region) for n in g.nodes}
    _formed(run_passes(g, ["cse", "dce", "form_regions"]))
    assert {n.name: g.region_path(n.region) for n in g.nodes} == before


def test_render_summary_is_a_table_with_totals(resnet50):
    text = render_summary(summarize(resnet50, "block"), title="resnet50 by block")
    lines = text.splitlines()
    assert lines[0] == "resnet50 by block" and lines[1].split()[:3] == ["name", "grain", "kind"]
    assert any(line.startswith("res4_5 ") and "residual" in line for line in lines)
    assert lines[-1].startswith("total") and "21 units" in lines[-1] and "8.22 G" in lines[-1]


# ---------------------------------------------------------------------------- hand-built patterns
def _residual_mlp() -> Graph:
    """x -> fc1 -> relu -> fc2 -> add(x) -> relu -> fc3: one residual block forked by the graph input."""
    g = Graph("resmlp")
    rng = np.random.default_rng(0)
    x = g.add_input("x", "float32", ("N", 8))

    def fc(v, name):
        w = g.constant(rng.standard_normal((8, 8)).astype(np.float32), f"{name}.weight")
        b = g.constant(rng.standard_normal(8).astype(np.float32), f"{name}.bias")
        return g.add_node("add", [g.add_node("matmul", [v, w]).outputs[0], b]).outputs[0]

    h = g.add_node("relu", [fc(x, "body.fc1")]).outputs[0]
    s = g.add_node("add", [fc(h, "body.fc2"), x]).outputs[0]
    y = fc(g.add_node("relu", [s]).outputs[0], "head")
    g.outputs = [y]
    return g


def test_residual_forked_by_a_graph_input():
    g = _formed(_residual_mlp())
    assert _blocks(g, "residual") == ["body"]  # common prefix of body.fc1 and body.fc2
    layers = {r.name: r for r in g.regions.values() if r.kind == "layer"}
    assert [n.op for n in g.nodes if n.region == "body.fc1"] == ["matmul", "add", "relu"]
    assert layers["body.fc1"].parent == "body" and layers["head"].parent == "resmlp"
    assert g.regions["resmlp"].kind == "network" and g.regions["resmlp"].parent is None


def test_dense_block_when_the_concat_takes_the_fork_itself():
    g = Graph("dense")
    x = g.add_input("x", "float32", (1, 4, 5, 5))
    w = g.constant(np.ones((2, 4, 1, 1), np.float32), "w")
    y = g.add_node("conv", [x, w], {"strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1)}).outputs[0]
    g.outputs = [g.add_node("concat", [x, g.add_node("relu", [y]).outputs[0]], {"axis": 1}).outputs[0]]
    _formed(g)
    assert _kinds(g)[("block", "dense")] == 1


def test_no_block_without_a_fork_or_without_compute():
    g = Graph("flat")
    a = g.add_input("a", "float32", (3,))
    b = g.add_input("b", "float32", (3,))
    s = g.add_node("add", [a, b]).outputs[0]  # joins two inputs: no fork dominates it
    e = g.add_node("exp", [s]).outputs[0]
    t = g.add_node("add", [e, g.add_node("tanh", [e]).outputs[0]]).outputs[0]  # forked, but no compute op
    g.outputs = [t]
    _formed(g)
    assert not [r for r in g.regions.values() if r.kind == "block"]
    assert len([r for r in g.regions.values() if r.kind == "layer"]) == 3  # add+exp, tanh, add


def test_epilogue_stops_at_a_value_used_twice():
    g = Graph("fanout")
    x = g.add_input("x", "float32", ("N", 4))
    h = g.add_node("matmul", [x, g.constant(np.ones((4, 4), np.float32), "w")]).outputs[0]
    r = g.add_node("relu", [h]).outputs[0]
    g.outputs = [r, h]
    _formed(g)
    assert g.nodes[0].region != g.nodes[1].region


def test_check_regions_rejects_nodes_outside_leaf_layers():
    g = _formed(_residual_mlp())
    g.nodes[0].region = "body"  # a block
    with pytest.raises(IRError, match="not a leaf layer"):
        check_regions(g)
    g.nodes[0].region = None
    with pytest.raises(IRError, match="not a leaf layer"):
        check_regions(g)
    g.regions["loop"] = Region("loop", "block", "loop2")
    g.regions["loop2"] = Region("loop2", "block", "loop")
    with pytest.raises(IRError, match="broken"):
        check_regions(g)


def test_summarize_forms_regions_on_a_copy_and_rejects_unknown_grains():
    g = _residual_mlp()
    rows = summarize(g, "block")
    assert [r.name for r in rows] == ["body", "head"] and not g.regions
    assert all(n.region is None for n in g.nodes)
    with pytest.raises(ValueError, match="granularity"):
        summarize(g, "neuron")  # type: ignore[arg-type]
    _assert_totals_agree(_formed(g))


# ---------------------------------------------------------------------------- given regions (DSL)
def test_dsl_layers_and_blocks_are_kept_and_completed():
    with dsl.model("net") as m:
        x = m.input("x", (1, 3, 8, 8))
        with m.layer("stem"):
            h = dsl.relu(dsl.conv2d(x, m.param("w", dsl.he((4, 3, 3, 3))), padding=1))
        with m.block("res1"):
            with m.layer("conv"):
                y = dsl.conv2d(h, m.param("w", dsl.he((4, 4, 3, 3))), padding=1)
            y = dsl.relu(y + h)  # made in the block, outside any layer
        m.output(dsl.global_avg_pool(y))
    g = _formed(m.graph)
    assert g.regions["net"].kind == "network" and g.regions["net"].pattern == ""
    assert g.regions["stem"].pattern == "" and g.regions["res1/conv"].parent == "res1"
    loose = [n for n in g.nodes if n.op in ("add", "relu") and g.region_path(n.region)[1] == "res1"]
    assert len(loose) == 2 and len({n.region for n in loose}) == 1
    assert g.regions[loose[0].region].parent == "res1" and g.regions[loose[0].region].pattern == "add"
    # The residual pattern equals the given block: no second block says it again.
    assert not _blocks(g, "residual")
    layer_rows = summarize(g, "layer")
    assert [r.name for r in layer_rows][:2] == ["stem", "res1/conv"] and layer_rows[0].kind == "conv"


def test_pattern_block_inside_a_given_block_survives_a_rerun():
    with dsl.model("staged") as m:
        x = m.input("x", (1, 4, 6, 6))
        with m.block("stage"):
            with m.layer("pre"):
                h = dsl.relu(dsl.conv2d(x, m.param("w", dsl.he((4, 4, 1, 1)))))
            with m.layer("a"):
                a = dsl.relu(dsl.conv2d(h, m.param("w", dsl.he((4, 4, 3, 3))), padding=1))
            h = a + h
            with m.layer("post"):
                y = dsl.conv2d(h, m.param("w", dsl.he((4, 4, 1, 1))))
        m.output(y)
    g = _formed(m.graph)
    residual = g.regions["stage/a"].parent
    assert g.regions[residual].pattern == "residual" and g.regions[residual].parent == "stage"
    assert g.regions["stage/pre"].parent == "stage" and g.regions["stage/post"].parent == "stage"
    before = {n.name: g.region_path(n.region) for n in g.nodes}
    _formed(g)
    assert {n.name: g.region_path(n.region) for n in g.nodes} == before


def test_pattern_tables_name_registered_ops():
    from hetflow.ir import all_ops
    from hetflow.passes import regions

    tables = regions.ANCHOR_OPS | regions.EPILOGUE_OPS | regions.STANDALONE_OPS | set(regions.JOIN_PATTERNS)
    unknown = tables - set(all_ops()) - {"flatten", "squeeze", "unsqueeze", "dropout"}  # frontends lower these
    assert not unknown


# ---------------------------------------------------------------------------- naming helpers
@pytest.mark.parametrize("name, op, label", [
    ("/layer1/layer1.0/conv1/Conv", "conv", "layer1/layer1.0/conv1"),
    ("Conv_12", "conv", None),
    ("n7", "relu", None),
    ("relu_3", "relu", None),
    ("fc6", "matmul", "fc6"),
])
def test_node_labels(name, op, label):
    from hetflow.ir import Node

    assert _node_label(Node(op, [], [], name=name)) == label


@pytest.mark.parametrize("name, label", [
    ("gpu_0/res2_0_branch2a_w_0", "res2_0_branch2a"),
    ("inception_3a/1x1_b_0", "inception_3a/1x1"),
    ("layer1.0.conv1.weight", "layer1.0.conv1"),
    ("onnx::Conv_193", None),
    ("w1", None),
])
def test_weight_labels(name, label):
    from hetflow.ir import TensorType, Value

    assert _weight_label(Value(name, TensorType("float32", (2,)), None, np.zeros(2, np.float32))) == label


def test_common_prefix_is_by_hierarchy_level():
    assert _common_prefix(["res2_0_branch2a", "res2_0_branch1"]) == "res2_0"
    assert _common_prefix(["inception_3a/1x1", "inception_3a/3x3_reduce"]) == "inception_3a"
    assert _common_prefix(["conv2_1/x1/bn", "conv2_1/x1", "conv2_1/x2"]) == "conv2_1"
    assert _common_prefix(["a/b"]) == "a" and _common_prefix(["fc1", "fc2"]) == ""
