"""Placement of graph nodes on devices, and the Plan that results.

capability (who can run what, asked before lowering) -> cost (seconds per node and transfer,
with their source) -> placement (latency: HEFT + local search + merging; two devices: exact
min cut; throughput: pipeline balancing with replication; pins) -> Plan (subgraphs, transfers,
schedule, estimates; saved and loaded as a versioned directory).
"""

from hetflow.partition.capability import PlacementError
from hetflow.partition.cost import Estimate, Profile
from hetflow.partition.pins import PinError
from hetflow.partition.plan import OBJECTIVES, Plan, Subgraph, Transfer, check_feeds
from hetflow.partition.serialize import PlanFormatError

__all__ = [
    "OBJECTIVES", "Estimate", "PinError", "PlacementError", "Plan", "PlanFormatError", "Profile", "Subgraph",
    "Transfer", "check_feeds",
]
