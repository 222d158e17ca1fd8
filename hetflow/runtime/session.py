"""Running a Plan: what ``Plan.run`` calls (registered with the partitioner's ``Plan`` as its runner).

A plan that spans devices keeps one session (an ``Executor``: devices open, programs loaded, arenas
of buffers) from its first run until the plan is garbage or ``release`` is called, so that later runs
reuse the same device buffers. A session whose plan changed (a subgraph's artifact replaced) is
rebuilt; one whose run failed is closed, so that the next run starts clean. A plan with no devices
(``hf.compile(graph)`` for this host) runs its executables in this thread, with nothing to move.
"""

from __future__ import annotations

import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from hetflow.partition.plan import Plan, register_runner
from hetflow.runtime.executor import Executor, RunReport
from hetflow.runtime.specialize import SpecializationCache

_SESSIONS: dict[int, tuple[tuple[Any, ...], Executor, weakref.finalize]] = {}
_LOCK = threading.Lock()
_CACHE_LOCK = threading.Lock()


def run_plan(plan: Plan, items: list[dict[str, np.ndarray]], trace: str | Path | None = None
             ) -> tuple[list[dict[str, np.ndarray]], RunReport | None]:
    """Run checked ``items`` through ``plan``; outputs in item order, and the run's report (None on the host).

    Items at input shapes the plan's executables cannot take as compiled run on the plan's specialization for
    their shapes (``runtime.specialize``); a stream mixing shapes runs as consecutive runs of one shape each,
    and the report (and trace) is the last one's.
    """
    groups = specializations(plan).groups(plan, items)
    if len(groups) == 1:
        return run_compiled(groups[0][0], groups[0][1], trace)
    outputs: list[dict[str, np.ndarray]] = []
    report = None
    for target, group in groups:
        outs, report = run_compiled(target, group, trace)
        outputs += outs
    return outputs, report


def specializations(plan: Plan) -> SpecializationCache:
    """The plan's shape-specialization cache (made on first use; see ``runtime.specialize``)."""
    cache = plan.specializations
    if not isinstance(cache, SpecializationCache):
        with _CACHE_LOCK:  # two threads running a new plan make one cache
            cache = plan.specializations
            if not isinstance(cache, SpecializationCache):
                cache = SpecializationCache(plan, on_evict=release)
                plan.specializations = cache
    return cache


def run_compiled(plan: Plan, items: list[dict[str, np.ndarray]], trace: str | Path | None = None
                 ) -> tuple[list[dict[str, np.ndarray]], RunReport | None]:
    """Run ``items`` with the plan's executables as they are (no specialization)."""
    if not plan.devices:
        return [run_on_host(plan, feeds) for feeds in items], None
    executor = _session(plan)
    with executor.lock:  # one run of a plan at a time: its arenas and devices are shared by its runs
        try:
            return executor.run(items, trace=trace)
        except BaseException:
            _drop(id(plan))
            raise


def run_on_host(plan: Plan, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A host plan's subgraphs in order, in this thread: their executables share host memory."""
    env = dict(feeds)
    for sub in plan.subgraphs:
        env.update(sub.executable.run(env))
    return {v.name: env[v.name] if v.name in env else np.asarray(v.const) for v in plan.graph.outputs}


def session(plan: Plan) -> Executor:
    """The plan's open session (opened now if it has none)."""
    return _session(plan)


def release(plan: Plan) -> None:
    """Close the plan's session now: its devices, programs and buffers (the next run opens a new one)."""
    _drop(id(plan))


def _fingerprint(plan: Plan) -> tuple[Any, ...]:
    return (id(plan.graph), *((s.name, id(s.executable), s.driver, tuple(s.replicas)) for s in plan.subgraphs))


def _session(plan: Plan) -> Executor:
    key, fingerprint = id(plan), _fingerprint(plan)
    with _LOCK:
        found = _SESSIONS.get(key)
        if found is not None and found[0] == fingerprint:
            return found[1]
    if found is not None:
        _drop(key)
    with _LOCK:  # opened under the lock, so that two threads running one new plan open one session
        found = _SESSIONS.get(key)
        if found is None:
            # closed when the plan is collected: the session holds only a weak reference to it
            found = (fingerprint, Executor(plan), weakref.finalize(plan, _drop, key))
            _SESSIONS[key] = found
        return found[1]


def _drop(key: int) -> None:
    with _LOCK:
        found = _SESSIONS.pop(key, None)
    if found is not None:
        _, executor, finalizer = found
        finalizer.detach()
        with executor.lock:  # re-entrant: a failed run drops its own session
            executor.close()


register_runner(run_plan)
