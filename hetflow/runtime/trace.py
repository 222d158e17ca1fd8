"""Chrome / Perfetto trace JSON of a run: one track per device and one per link.

Open the file in ui.perfetto.dev or chrome://tracing. Devices are threads of one process,
links threads of another; subgraphs are slices with their nodes nested inside, transfers are
slices on their link. A device that reports its own units (an NVDLA's engines) gets one more
track per unit, ``device [unit]``, beside it, with one slice per engine operation.
``otherData`` says which clock the times come from: a discrete-event model unless every
device was measured.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hetflow.runtime.clock import Span

_DEVICES_PID = 1
_LINKS_PID = 2


def trace_events(spans: list[Span], devices: list[str], links: list[str], *, title: str) -> list[dict[str, Any]]:
    """The traceEvents list: metadata naming each track, then one complete ("X") event per span."""
    tids = {name: i + 1 for i, name in enumerate(devices)}
    tids.update({name: i + 1 for i, name in enumerate(links)})
    events: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": _DEVICES_PID, "tid": 0, "args": {"name": f"{title}: devices"}},
        {"ph": "M", "name": "process_name", "pid": _LINKS_PID, "tid": 0, "args": {"name": f"{title}: links"}},
    ]
    for name in devices:
        events.append({"ph": "M", "name": "thread_name", "pid": _DEVICES_PID, "tid": tids[name], "args": {"name": name}})
    for name in links:
        events.append({"ph": "M", "name": "thread_name", "pid": _LINKS_PID, "tid": tids[name], "args": {"name": name}})
    # Parents before children at equal start times, so that viewers nest nodes inside their subgraph.
    order = {"subgraph": 0, "transfer": 0, "node": 1, "engine": 1}
    for span in sorted(spans, key=lambda s: (s.start, order[s.kind], -s.end)):
        events.append({
            "ph": "X", "name": span.name, "cat": span.kind,
            "pid": _LINKS_PID if span.kind == "transfer" else _DEVICES_PID, "tid": tids[span.track],
            "ts": span.start * 1e6, "dur": max(span.end - span.start, 0.0) * 1e6,
            "args": {"item": span.item, **span.args},
        })
    return events


def write_trace(path: str | Path, spans: list[Span], devices: list[str], links: list[str], *, title: str,
                clock: str) -> Path:
    """Write the trace JSON to ``path``; ``clock`` states where the times come from."""
    path = Path(path)
    data = {"traceEvents": trace_events(spans, devices, links, title=title), "displayTimeUnit": "ns",
            "otherData": {"title": title, "clock": clock}}
    path.write_text(json.dumps(data))
    return path
