"""Fusion grouping (group_fusion / group_epilogues), the compile pipeline's region formation, and region
pins on an ONNX model (SqueezeNet's fire2) through the Python API and the CLI."""

from __future__ import annotations

import io

import numpy as np
from typer.testing import CliRunner

import hetflow as hf
from hetflow.backends.cpu_c import CpuCBackend
from hetflow.cli import app, resolve_model
from hetflow.config import set_config
from hetflow.ir import Graph, Node
from hetflow.passes import COMPILE_PIPELINE, PASSES, run_passes
from hetflow.passes.fusion import IR_RULES, FusionRules, Group, group_fusion
from hetflow.passes.pipeline import pass_names

RNG = np.random.default_rng(3)
CONV = {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1)}


def residual_block() -> Graph:
    """conv -> + bias -> relu -> conv -> + skip -> clip; the skip is the block input."""
    g = Graph("residual")
    x = g.add_input("x", "float32", (1, 4, 6, 6))
    y = g.add_node("conv", [x, g.constant(RNG.standard_normal((4, 4, 3, 3)).astype(np.float32), "w1")], CONV,
                   name="conv1").outputs[0]
    y = g.add_node("add", [y, g.constant(np.ones((4, 1, 1), np.float32), "b1")], name="bias1").outputs[0]
    y = g.add_node("relu", [y], name="relu1").outputs[0]
    y = g.add_node("conv", [y, g.constant(RNG.standard_normal((4, 4, 3, 3)).astype(np.float32), "w2")], CONV,
                   name="conv2").outputs[0]
    y = g.add_node("add", [y, x], name="skip").outputs[0]
    g.outputs = [g.add_node("clip", [y], {"min": 0.0, "max": 6.0}, name="clip").outputs[0]]
    return g


def _names(nodes: list[Node]) -> list[str]:
    return [n.name for n in nodes]


def test_bias_activation_and_residual_become_the_anchors_epilogues():
    g = residual_block()
    grouping = group_fusion(g, IR_RULES)
    first, second = grouping.epilogue(g.node("conv1")), grouping.epilogue(g.node("conv2"))
    assert first is not None and _names(first.nodes) == ["bias1", "relu1"] and first.acc is g.node("conv1").outputs[0]
    assert second is not None and _names(second.nodes) == ["skip", "clip"]
    assert [v.name for v in second.operands()] == ["x"]  # the residual is an operand; acc comes in registers
    assert grouping.in_epilogue() == {id(g.node(n)) for n in ("bias1", "relu1", "skip", "clip")}


def test_a_value_read_outside_the_group_ends_it():
    g = residual_block()
    relu = g.node("relu1")
    g.outputs.append(relu.outputs[0])  # relu1 is now also a graph output
    grouping = group_fusion(g, IR_RULES)
    assert _names(grouping.epilogue(g.node("conv1")).nodes) == ["bias1", "relu1"]  # relu1 is that group's export
    g.outputs.append(g.node("bias1").outputs[0])
    grouping = group_fusion(g, IR_RULES)
    assert _names(grouping.epilogue(g.node("conv1")).nodes) == ["bias1"]
    assert _names(grouping.group_of[id(relu)].nodes) == ["relu1"] and grouping.epilogue(g.node("conv2")) is not None


def test_swish_shares_its_input_inside_one_group():
    g = Graph("swish")
    x = g.add_input("x", "float32", (8, 4))
    y = g.add_node("matmul", [x, g.constant(np.ones((4, 4), np.float32), "B")], name="mm").outputs[0]
    s = g.add_node("sigmoid", [y], name="sig").outputs[0]
    g.outputs = [g.add_node("mul", [y, s], name="swish").outputs[0]]
    group = group_fusion(g, IR_RULES).epilogue(g.node("mm"))
    assert group is not None and _names(group.nodes) == ["sig", "swish"]


def test_backend_rules_narrow_the_grouping():
    g = residual_block()
    no_relu = FusionRules(lambda n: IR_RULES.elementwise(n) and n.op != "relu", IR_RULES.anchor)
    grouping = group_fusion(g, no_relu)
    assert _names(grouping.epilogue(g.node("conv1")).nodes) == ["bias1"]
    refused: list[str] = []

    def accept(anchor: Node, group: Group) -> bool:
        refused.append(anchor.name)
        return False

    grouping = group_fusion(g, FusionRules(IR_RULES.elementwise, IR_RULES.anchor, accept))
    assert not grouping.epilogue_of and refused == ["conv1", "conv2"] and len(grouping.groups) == 2


def test_dump_after_group_epilogues_lists_the_groups():
    buf = io.StringIO()
    g = residual_block()
    before = [n.name for n in g.nodes]
    run_passes(g, ["group_epilogues"], dump_after="group_epilogues", out=buf)
    assert [n.name for n in g.nodes] == before  # an analysis: the IR is unchanged
    text = buf.getvalue()
    assert "IR after group_epilogues" in text and "// fusion groups:" in text
    assert "conv1 (conv) + bias1, relu1 -> %relu1" in text and "conv2 (conv) + skip, clip -> %clip" in text


def test_every_pipeline_pass_is_named():
    assert {"fold_affine", "group_epilogues", "form_regions"} <= set(PASSES)
    assert pass_names(COMPILE_PIPELINE) == ("form_regions",)


# ---------------------------------------------------------------------------- region pins on ONNX
def test_region_pin_matches_squeezenet_fire2_through_the_api():
    graph = hf.load(resolve_model("squeezenet"))
    plan = hf.compile(graph, "datacenter-node", pins=["region:*fire2*=node0/cpu:0"], emulate_with="reference")
    on_cpu = {n.name for sub in plan.subgraphs if sub.device == "node0/cpu:0" for n in sub.nodes}
    fire2 = {n.name for n in graph.nodes if any("fire2" in r for r in graph.region_path(n.region))}
    assert len(fire2) >= 7 and fire2 <= on_cpu  # squeeze conv + relu, two expand convs + relus, the concat


def test_region_pin_matches_squeezenet_fire2_through_the_cli():
    result = CliRunner().invoke(app, ["plan", "squeezenet", "-c", "datacenter-node", "--pin",
                                      "region:*fire2*=node0/cpu:0"])
    assert result.exit_code == 0, result.output
    assert "node0/cpu:0" in result.output and "no region" not in result.output


def test_hetflow_dump_shows_the_new_passes_in_compile_and_in_each_backend(monkeypatch, capsys):
    monkeypatch.setenv("HETFLOW_DUMP", "after:form_regions,after:fold_affine,after:group_epilogues")
    set_config(None)
    try:
        hf.compile(residual_block(), "host-only", emulate_with="reference")
        err = capsys.readouterr().err
        assert "// ---- IR after form_regions" in err
        CpuCBackend().compile(residual_block())
        err = capsys.readouterr().err
        assert "// ---- IR after fold_affine (residual)" in err and "// cpu_c fusion groups:" in err
        assert "conv1 (conv) + relu1 -> %relu1" in err  # bias1 was folded into conv1's bias first
        assert "conv2 (conv) + skip, clip -> %clip" in err
    finally:
        monkeypatch.delenv("HETFLOW_DUMP")
        set_config(None)
