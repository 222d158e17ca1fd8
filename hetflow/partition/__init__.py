"""Placement of graph nodes on devices, and the Plan that results."""

from hetflow.partition.plan import Plan, compile_graph

__all__ = ["Plan", "compile_graph"]
