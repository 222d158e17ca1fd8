"""The runtime: executes a Plan across devices (threads per device, transfers, pipelined streams), a
discrete-event clock for modelled devices, and Chrome/Perfetto traces."""

from hetflow.runtime.emulated import EmulatedArtifact, EmulatedDevice
from hetflow.runtime.executor import Executor, RunReport, execute

__all__ = ["EmulatedArtifact", "EmulatedDevice", "Executor", "RunReport", "execute"]
