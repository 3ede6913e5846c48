"""Per-process health of one watcher: ``starting``, ``ready`` or ``unhealthy``.

A watcher without ``check`` has its processes ready from their spawn. With a
check, each process starts as ``starting`` and is probed (see
:mod:`circus._watching.probes`):

* while starting, every ``min(check_interval, 0.25)`` seconds, so readiness is
  seen promptly; failures then do not count, but a process that is not ready
  within its *ready window* (``check_timeout x check_retries``) is unhealthy;
* once ready, every ``check_interval`` seconds; ``check_retries`` failures in
  a row make it unhealthy.

An unhealthy process is announced (``unhealthy`` event, one log line with the
probe's output) and restarted by its watcher. Why one timer per process rather
than one sweep per watcher: probes of 1000 processes then spread over the
interval instead of landing in one burst, and a slow probe delays only its own
process. Each timer starts one probe task; nothing polls.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from circus._base.states import ProcessState
from circus._watching import spawn as _spawn
from circus._watching.probes import ProbeResult, run_probe, trim
from circus.config._check import ProbeSpec, probe_spec

if TYPE_CHECKING:
    from circus.process import Process
    from circus.watcher import Watcher

logger = logging.getLogger("circus")

# Probe cadence while a process is starting (capped by check_interval).
START_STEP = 0.25


class Health(enum.Enum):
    """Where a process stands with its watcher's check."""

    STARTING = "starting"  # spawned, no probe passed yet
    READY = "ready"  # a probe passed (or the watcher has no check)
    UNHEALTHY = "unhealthy"  # failed check_retries probes in a row, or never got ready; restarting


class HealthMonitor:
    """The health states and probe timers of one watcher's processes."""

    def __init__(self, watcher: Watcher) -> None:
        self._watcher = watcher
        self._states: dict[int, Health] = {}
        self._failures: dict[int, int] = {}
        self._outputs: dict[int, str] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._deadlines: dict[int, asyncio.TimerHandle] = {}
        self._probes: dict[int, asyncio.Task[None]] = {}
        self._changed: asyncio.Event | None = None
        self._spec: ProbeSpec | None = None

    def __repr__(self) -> str:
        counts = {h.value: sum(1 for s in self._states.values() if s is h) for h in Health}
        return f"<HealthMonitor {self._watcher.name} {counts}>"

    # -- what others read ----------------------------------------------------

    @property
    def checked(self) -> bool:
        """Whether the watcher has a check (else every process is ready)."""
        return self._watcher.check is not None

    def state(self, pid: int) -> Health:
        """The health of process ``pid`` (``starting`` if it is not known yet)."""
        if not self.checked:
            return Health.READY
        return self._states.get(pid, Health.STARTING)

    def states(self) -> dict[str, str]:
        """``{"<pid>": state}`` for every process of the watcher (the wire form)."""
        return {str(pid): self.state(pid).value for pid in self._watcher.processes}

    def last_output(self, pid: int) -> str:
        """The output of the last probe of ``pid`` ("" if none ran)."""
        return self._outputs.get(pid, "")

    def all_ready(self) -> bool:
        """Whether the watcher runs all its processes and each one is ready."""
        watcher = self._watcher
        running = [p for p in watcher.processes.values() if p.state is ProcessState.RUNNING]
        if watcher.status() != "active" or len(running) < watcher.numprocesses:
            return False
        return all(self.state(p.pid) is Health.READY for p in running)

    async def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds, at most ``timeout`` seconds; returns it.

        Woken by every health change and every exit, never by a poll.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            left = deadline - loop.time()
            if left <= 0:
                return False
            if self._changed is None:
                self._changed = asyncio.Event()
            waiter = asyncio.ensure_future(self._changed.wait())
            try:
                await asyncio.wait({waiter}, timeout=left)
            finally:
                waiter.cancel()
        return True

    async def wait_ready(self, pids: Iterable[int], timeout: float) -> list[int]:
        """Wait until every process of ``pids`` is ready; returns those that are not.

        A process that exits meanwhile counts as not ready.
        """
        wanted = list(pids)

        def pending() -> list[int]:
            return [pid for pid in wanted if pid not in self._watcher.processes
                    or self.state(pid) is not Health.READY]

        await self.wait(lambda: not pending(), timeout)
        return pending()

    # -- what the watcher tells ----------------------------------------------

    def spawned(self, proc: Process) -> None:
        """A new (or adopted) process: ready at once, or probed until it is."""
        self._forget(proc.pid)
        if not self.checked:
            self._notify()
            return
        self._states[proc.pid] = Health.STARTING
        loop = asyncio.get_running_loop()
        self._deadlines[proc.pid] = loop.call_later(
            self._watcher.ready_window, self._start_expired, proc.pid)
        self._arm(proc.pid, self._start_step())
        self._notify()

    def exited(self, pid: int) -> None:
        """Process ``pid`` is gone: its timers and state go too."""
        self._forget(pid)
        self._notify()

    def check_changed(self) -> None:
        """``check`` changed: every running process starts over with the new one."""
        self._spec = None
        for pid in list(self._states):
            self._forget(pid)
        for proc in list(self._watcher.processes.values()):
            if proc.state is ProcessState.RUNNING:
                self.spawned(proc)
        self._notify()

    def close(self) -> None:
        """Cancel every timer and probe (the watcher stops)."""
        for pid in list(self._states):
            self._forget(pid)
        self._notify()

    # -- probing -------------------------------------------------------------

    def _start_step(self) -> float:
        return min(self._watcher.check_interval, START_STEP)

    def _arm(self, pid: int, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers[pid] = loop.call_later(delay, self._due, pid)

    def _due(self, pid: int) -> None:
        self._timers.pop(pid, None)
        if pid in self._states:
            self._probes[pid] = asyncio.get_running_loop().create_task(self._probe(pid))

    async def _probe(self, pid: int) -> None:
        watcher = self._watcher
        proc = watcher.processes.get(pid)
        if proc is None or proc.state is not ProcessState.RUNNING:
            self._probes.pop(pid, None)
            return
        result = await self._run(proc)
        self._probes.pop(pid, None)
        state = self._states.get(pid)
        if state is None or state is Health.UNHEALTHY or watcher.processes.get(pid) is not proc:
            return  # gone, or its check changed, while the probe ran
        self._outputs[pid] = result.output
        if result.ok:
            self._failures[pid] = 0
            if state is Health.STARTING:
                self._became_ready(proc)
            self._arm(pid, watcher.check_interval)
            return
        failures = self._failures[pid] = self._failures.get(pid, 0) + 1
        if state is Health.READY and failures >= watcher.check_retries:
            self._unhealthy(proc, failures, result.output)
            return
        self._arm(pid, watcher.check_interval if state is Health.READY else self._start_step())

    async def _run(self, proc: Process) -> ProbeResult:
        watcher = self._watcher
        try:
            spec = self._spec_for(proc)
        except ValueError as exc:
            return ProbeResult(False, f"check {watcher.check!r}: {exc}")
        env = None
        if spec.kind == "exec" and watcher.env:
            env = {**os.environ, **watcher.env}
        try:
            return await run_probe(spec, watcher.check_timeout, reaper=watcher.reaper,
                                   env=env, cwd=watcher.working_dir)
        except Exception as exc:
            # A bug or an odd failure in one probe must not end the probing of
            # this process (its timer is re-armed from the result).
            logger.exception("watcher %s: probe %r failed", watcher.name, spec.text)
            return ProbeResult(False, f"check {spec.text!r}: {type(exc).__name__}: {exc}")

    def _spec_for(self, proc: Process) -> ProbeSpec:
        text = self._watcher.check or ""
        spec = self._spec
        if spec is None or spec.text != text:
            spec = self._spec = probe_spec(text)
        if not spec.templated:
            return spec
        variables = {**proc.variables(), "pid": proc.pid}
        return probe_spec(_spawn.expand_variables(text, variables, self._watcher.env))

    def _became_ready(self, proc: Process) -> None:
        self._states[proc.pid] = Health.READY
        deadline = self._deadlines.pop(proc.pid, None)
        if deadline is not None:
            deadline.cancel()
        logger.debug("watcher %s: pid %d is ready", self._watcher.name, proc.pid)
        self._watcher.notify_event("ready", {"process_pid": proc.pid, "time": time.time()})
        self._notify()

    def _start_expired(self, pid: int) -> None:
        self._deadlines.pop(pid, None)
        proc = self._watcher.processes.get(pid)
        if proc is None or self._states.get(pid) is not Health.STARTING:
            return
        window = self._watcher.ready_window
        output = self._outputs.get(pid) or "no probe finished"
        self._unhealthy(proc, self._failures.get(pid, 0),
                        trim(f"not ready within {window:g}s; last probe: {output}"))

    def _unhealthy(self, proc: Process, failures: int, output: str) -> None:
        pid = proc.pid
        self._forget(pid)
        self._states[pid] = Health.UNHEALTHY
        self._outputs[pid] = output
        watcher = self._watcher
        logger.warning("watcher %s: pid %d is unhealthy (%d failed probes); restarting it: %s",
                       watcher.name, pid, failures, output)
        watcher.notify_event("unhealthy", {"process_pid": pid, "output": trim(output),
                                           "failures": failures, "time": time.time()})
        self._notify()
        watcher.restart_unhealthy(proc)

    def _forget(self, pid: int) -> None:
        self._states.pop(pid, None)
        self._failures.pop(pid, None)
        self._outputs.pop(pid, None)
        for table in (self._timers, self._deadlines):
            handle = table.pop(pid, None)
            if handle is not None:
                handle.cancel()
        task = self._probes.pop(pid, None)
        if task is not None:
            task.cancel()

    def _notify(self) -> None:
        # One event per change: waiters re-check, later ones wait on a fresh event.
        if self._changed is not None:
            self._changed.set()
            self._changed = None

