"""The CLI verbs of the partitioner and runtime: ``plan``, ``profile``, ``run --cluster --trace``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from hetflow.cli import app
from hetflow.partition.plan import Plan

runner = CliRunner()


def test_plan_prints_the_report_explains_and_saves(tmp_path):
    result = runner.invoke(app, ["plan", "squeezenet", "-c", "datacenter-node", "--pin", "op:max_pool=node0/cpu:0",
                                 "--explain", "n1", "--save", str(tmp_path / "plan")])
    assert result.exit_code == 0, result.output
    assert "subgraph" in result.output and "node0/cpu:0" in result.output and "model:roofline" in result.output
    assert "node 'n1' (relu)" in result.output
    assert "placement took" in result.output and "(measured)" in result.output
    assert Plan.load(tmp_path / "plan").cluster_name == "datacenter-node"


def test_plan_errors_are_one_line_with_exit_code_2():
    result = runner.invoke(app, ["plan", "squeezenet", "-c", "datacenter-node", "--pin", "op:conv=node0/nvdla:0"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "cannot run on node0/nvdla:0" in result.output
    result = runner.invoke(app, ["plan", "squeezenet", "-c", "no-such-cluster"])
    assert result.exit_code == 2 and "unknown cluster" in result.output
    result = runner.invoke(app, ["plan", "squeezenet", "-c", "datacenter-node", "--objective", "fastest"])
    assert result.exit_code == 2 and "unknown objective" in result.output


def test_run_on_a_cluster_writes_a_trace_and_says_times_are_modelled(tmp_path):
    trace = tmp_path / "trace.json"
    result = runner.invoke(app, ["run", "squeezenet", "-c", "datacenter-node", "--objective", "throughput",
                                 "--trace", str(trace)])
    assert result.exit_code == 0, result.output
    assert "model:discrete-event" in result.output and "not a wall-clock measurement" in result.output
    assert json.loads(trace.read_text())["traceEvents"]


def test_trace_without_cluster_is_refused(tmp_path):
    result = runner.invoke(app, ["run", "squeezenet", "--trace", str(tmp_path / "t.json")])
    assert result.exit_code == 2 and "--trace needs --cluster" in result.output


def test_profile_writes_measurements_for_this_machine_only(tmp_path):
    out = tmp_path / "profile.json"
    result = runner.invoke(app, ["profile", "-c", "host-only", "-o", str(out), "--repeats", "1"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["times"]["host/cpu"]
    result = runner.invoke(app, ["profile", "-c", "datacenter-node", "-o", str(out)])
    assert result.exit_code == 2 and "emulated devices cannot be profiled" in result.output
