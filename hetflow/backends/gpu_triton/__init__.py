"""The GPU backend: IR -> Triton kernels generated from templates -> a CUDA GPU, or Triton's interpreter.

``table.py`` maps IR ops to kernel templates (and is the capability), ``fusion.py`` groups nodes into
kernels (pointwise chains, epilogues, attention), ``codegen.py`` configures ``templates.py`` into Triton
source, ``tuning.py`` holds launch configurations, ``memory.py`` lays intermediates out in one arena,
``executable.py`` loads and launches, ``cost.py`` is the GPU cost model, ``aot.py`` compiles every kernel
for a named GPU (PTX + cubin) without one, ``driver.py`` is the ``gpu_triton`` device driver.
Needs the ``gpu`` extra (torch, triton); nothing here imports them until a graph is compiled.
``profiling.py`` times kernels with CUDA events for ``hetflow profile`` (on a GPU of the described chip only).

Versions: the tests of this package pass in Triton's interpreter with triton 3.7.1 + torch 2.13.0 (the extra) and
with triton 3.6.0 + torch 2.11.0 (the lent GPU machines' versions; there as CPU wheels), and every kernel compiles
ahead of time for sm_90 and sm_80 with both. The one difference met so far: Triton 3.6's interpreter cannot take a
tensor as a ``range`` bound, so templates keep loop bounds constant. Not yet run on a real GPU.
"""

from __future__ import annotations

from typing import Any

from hetflow.backends.base import Backend, Estimate
from hetflow.backends.gpu_triton import table
from hetflow.backends.gpu_triton.cost import estimate_node
from hetflow.backends.gpu_triton.executable import (
    GpuCompileError,
    GpuFallbackError,
    GpuMemoryError,
    GpuTritonExecutable,
    Options,
)
from hetflow.backends.gpu_triton.runtime import INSTALL_HINT, GpuExtraMissingError
from hetflow.ir import Graph, Node
from hetflow.ir.errors import HetflowError
from hetflow.targets import MachineDescription

FALLBACKS = ("reference", "error")


class GpuTritonBackend(Backend):
    """Generates Triton kernels for NVIDIA GPUs (and runs them in Triton's interpreter without one)."""

    name = "gpu_triton"
    falls_back = True

    def supports(self, node: Node) -> str | None:
        return table.supports(node)

    def compile(self, graph: Graph, description: MachineDescription | None = None, *, tf32: bool = False,
                fallback: str = "reference", cuda_graph: bool = True,
                memory_capacity: int | None = None, device_name: str | None = None, tune: bool = False,
                **options: Any) -> GpuTritonExecutable:
        """Compile ``graph``. ``tf32``: float32 matmuls on TF32 tensor cores; ``fallback="error"`` refuses nodes
        outside the table instead of running them on the host; ``cuda_graph``: replay runs as a CUDA graph;
        ``memory_capacity``: bytes the device has (a plan that needs more is refused before any launch);
        ``tune``: search every kernel's launch configuration on the GPU now (never done unless asked; the
        winners are cached on disk and used by later compiles)."""
        if description is not None and memory_capacity is None:
            memory_capacity = description.memory.capacity  # the plan must fit the GPU it is for
        if fallback not in FALLBACKS:
            raise HetflowError(f"gpu_triton: fallback must be 'reference' or 'error', got {fallback!r}")
        exe = GpuTritonExecutable(graph, Options(tf32, fallback, cuda_graph, memory_capacity, device_name))
        if tune:
            exe.tune()
        return exe

    def estimate(self, node: Node, description: MachineDescription) -> Estimate | None:
        """The GPU cost model's time for ``node`` on ``description`` (None: no GPU cost fields)."""
        found = estimate_node(node, description)
        return None if found is None else Estimate(found[0], found[1])


__all__ = ["INSTALL_HINT", "GpuCompileError", "GpuExtraMissingError", "GpuFallbackError", "GpuMemoryError",
           "GpuTritonBackend", "GpuTritonExecutable"]
