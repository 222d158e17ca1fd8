"""The runtime: executes a Plan across devices (threads per device, explicit transfers, device-resident values
in per-device arenas, pipelined streams), a discrete-event clock for modelled devices, and Chrome/Perfetto traces.

Importing it registers ``run_plan`` as the runner behind ``Plan.run`` (the partitioner's Plan is data and
never imports the runtime)."""

from hetflow.runtime.arena import Arena
from hetflow.runtime.emulated import EmulatedArtifact, EmulatedDevice
from hetflow.runtime.executor import Executor, RunReport, execute
from hetflow.runtime.session import release, run_plan, session
from hetflow.runtime.transfer import TransferLog

__all__ = ["Arena", "EmulatedArtifact", "EmulatedDevice", "Executor", "RunReport", "TransferLog", "execute", "release",
           "run_plan", "session"]
