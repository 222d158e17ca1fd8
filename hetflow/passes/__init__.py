"""Graph passes. Each pass has a name; the IR can be printed after any of them."""

from hetflow.passes.manager import PASSES, graph_pass, run_passes

__all__ = ["PASSES", "graph_pass", "run_passes"]
