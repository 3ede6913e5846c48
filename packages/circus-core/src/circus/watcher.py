"""A watcher keeps ``numprocesses`` copies of one program alive.

(``circus.watcher.Watcher`` is a documented import path.)

Commands change the desired state (active or stopped, ``numprocesses``) and
``manage`` converges on it. Every operation on one watcher runs under that
watcher's lock, so commands queue and run in order instead of failing; other
watchers are not blocked. Deaths arrive from the reaper as plain callbacks and
only schedule a management pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import random
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from circus._base import parsers as _parsers
from circus._base.events import EventBus, EventPayload
from circus._base.states import ProcessState
from circus._base.states import WatcherState as WatcherState  # re-exported: a public path
from circus._papa.kernel import PapaError
from circus._papa.process import PapaProcess
from circus._watching import rlimits as _rlimits
from circus._watching import spawn as _spawn
from circus._watching.crashloop import SlotBackoff, SlotDescription
from circus._watching.depends import ready_dependencies
from circus._watching.health import HealthMonitor
from circus._watching.hooks import HookCallable, Hooks, HookSpec
from circus._watching.output import WatcherOutput
from circus._watching.reaper import Reaper
from circus._watching.stopping import ProcessStopper
from circus._watching.tail import OutputLine
from circus._watching.wids import WidPool
from circus.config._check import parse_check, parse_depends_on
from circus.config._options import WATCHER_OPTIONS, warn_inert
from circus.errors import CommandError, ConfigError
from circus.process import Process
from circus.sockets import SpawnSockets, referenced_sockets, spawn_sockets
from circus.stream import Stream

if TYPE_CHECKING:
    from circus._papa.watching import PapaWatching, Survivor
    from circus.arbiter import Arbiter

logger = logging.getLogger("circus")

# Spawning many processes yields to the loop this often so commands stay fast.
_SPAWN_BATCH = 32
# Seconds between two spawn passes while circusd is short of file descriptors.
_FD_RETRY = 1.0


class ReloadRolledBack(CommandError):
    """A gated reload was rolled back: the new processes never got ready (errno 5)."""


# Options a running watcher only applies by starting new processes, and the
# compound ones of that kind: what a rolled-back reload restores.
_SPAWN_ATTRS = (*(name for name, opt in WATCHER_OPTIONS.items() if opt.live == "spawn"),
                "env", "rlimits")


class WatcherOptions(TypedDict, total=False):
    """The keyword options of :class:`Watcher` (those after ``name`` and ``cmd``).

    What ``Arbiter.add_watcher``/``create_watcher`` accept as keywords; a test
    holds it equal to the constructor's parameters. Free-form keys of plugins
    (``flapping.max_retry``) are not in it: they still pass at run time, and
    typed code gives them to ``Watcher(name, cmd, **options)``.
    """

    args: str | Sequence[str] | None
    numprocesses: int
    warmup_delay: float
    working_dir: str | None
    shell: bool
    shell_args: str | None
    uid: str | int | None
    max_retry: int
    gid: str | int | None
    send_hup: bool
    stop_signal: int | str
    stop_children: bool
    env: Mapping[str, str] | None
    graceful_timeout: float
    prereload_fn: Callable[..., object] | None
    rlimits: Mapping[str, int | None] | None
    executable: str | None
    stdout_stream: Mapping[str, object] | None
    stderr_stream: Mapping[str, object] | None
    priority: int
    loop: object
    singleton: bool
    use_sockets: bool
    copy_env: bool
    copy_path: bool
    max_age: float
    max_age_variance: float
    hooks: Mapping[str, HookSpec | HookCallable | str] | None
    respawn: bool
    autostart: bool
    on_demand: bool
    virtualenv: str | None
    close_child_stdout: bool
    close_child_stderr: bool
    virtualenv_py_ver: str | None
    use_papa: bool
    close_child_stdin: bool
    retry_in: float
    backoff: bool
    min_uptime: float
    umask: int | None
    stdin_socket: str | None
    hook_timeout: float
    check_flapping: bool
    socket_activation: bool
    publish_output: bool
    check: str | None
    check_interval: float
    check_timeout: float
    check_retries: int
    depends_on: str | Sequence[str] | None


class Watcher:
    """Runs and supervises ``numprocesses`` instances of one command.

    The keyword arguments are the watcher options of the manual (plus
    ``backoff``, ``retry_in``, ``min_uptime`` and ``hook_timeout``); unknown
    keywords are kept in ``options`` for plugins.
    """

    def __init__(
        self,
        name: str,
        cmd: str,
        args: str | Sequence[str] | None = None,
        numprocesses: int = 1,
        warmup_delay: float = 0.0,
        working_dir: str | None = None,
        shell: bool = False,
        shell_args: str | None = None,
        uid: str | int | None = None,
        max_retry: int = 5,
        gid: str | int | None = None,
        send_hup: bool = False,
        stop_signal: int | str = signal.SIGTERM,
        stop_children: bool = False,
        env: Mapping[str, str] | None = None,
        graceful_timeout: float = 30.0,
        prereload_fn: Callable[..., object] | None = None,
        rlimits: Mapping[str, int | None] | None = None,
        executable: str | None = None,
        stdout_stream: Mapping[str, object] | None = None,
        stderr_stream: Mapping[str, object] | None = None,
        priority: int = 0,
        loop: object = None,
        singleton: bool = False,
        use_sockets: bool = False,
        copy_env: bool = False,
        copy_path: bool = False,
        max_age: float = 0,
        max_age_variance: float = 30,
        hooks: Mapping[str, HookSpec | HookCallable | str] | None = None,
        respawn: bool = True,
        autostart: bool = True,
        on_demand: bool = False,
        virtualenv: str | None = None,
        close_child_stdout: bool = False,
        close_child_stderr: bool = False,
        virtualenv_py_ver: str | None = None,
        use_papa: bool = False,
        # Ours, after the manual's parameters so its positional order still holds.
        close_child_stdin: bool = True,
        retry_in: float = 0.5,
        backoff: bool = True,
        min_uptime: float = 1.0,
        umask: int | None = None,
        stdin_socket: str | None = None,
        hook_timeout: float = 30.0,
        check_flapping: bool = True,
        socket_activation: bool = False,
        publish_output: bool = False,
        check: str | None = None,
        check_interval: float = 5.0,
        check_timeout: float = 3.0,
        check_retries: int = 3,
        depends_on: str | Sequence[str] | None = (),
        **options: object,
    ) -> None:
        self.name = name
        self.cmd = cmd
        self.args = args
        self.numprocesses = _parsers.parse_int(numprocesses)
        self.warmup_delay = _parsers.parse_duration(warmup_delay)
        self.working_dir = working_dir
        self.shell = _parsers.parse_bool(shell)
        self.shell_args = shell_args
        self.uid = uid
        self.gid = gid
        self.max_retry = _parsers.parse_int(max_retry)
        self.send_hup = _parsers.parse_bool(send_hup)
        self.stop_signal = _parsers.parse_signal(stop_signal)
        self.stop_children = _parsers.parse_bool(stop_children)
        self.env = dict(env or {})
        self.graceful_timeout = _parsers.parse_duration(graceful_timeout)
        self.prereload_fn = prereload_fn
        self.rlimits = dict(rlimits or {})
        self.executable = executable
        self.stdout_stream = dict(stdout_stream or {})
        self.stderr_stream = dict(stderr_stream or {})
        self.priority = _parsers.parse_int(priority)
        self.singleton = _parsers.parse_bool(singleton)
        self.use_sockets = _parsers.parse_bool(use_sockets)
        self.copy_env = _parsers.parse_bool(copy_env)
        self.copy_path = _parsers.parse_bool(copy_path)
        self.max_age = _parsers.parse_duration(max_age)
        self.max_age_variance = _parsers.parse_duration(max_age_variance)
        self.respawn = _parsers.parse_bool(respawn)
        self.autostart = _parsers.parse_bool(autostart)
        self.on_demand = _parsers.parse_bool(on_demand)
        self.virtualenv = virtualenv
        self.virtualenv_py_ver = virtualenv_py_ver
        self.close_child_stdin = _parsers.parse_bool(close_child_stdin)
        self.close_child_stdout = _parsers.parse_bool(close_child_stdout)
        self.close_child_stderr = _parsers.parse_bool(close_child_stderr)
        self.use_papa = _parsers.parse_bool(use_papa)
        self.retry_in = _parsers.parse_duration(retry_in)
        self.backoff = _parsers.parse_bool(backoff)
        self.min_uptime = _parsers.parse_duration(min_uptime)
        self.umask = umask
        self.stdin_socket = stdin_socket
        self.socket_activation = _parsers.parse_bool(socket_activation)
        self.check_flapping = _parsers.parse_bool(check_flapping)
        self.publish_output = _parsers.parse_bool(publish_output)
        self.options = dict(options)
        try:
            self._check = parse_check(check)
        except ValueError as exc:
            raise ValueError(f"watcher {name}: check: {exc}") from None
        self.check_interval = _parsers.parse_duration(check_interval)
        self.check_timeout = _parsers.parse_duration(check_timeout)
        self.check_retries = _parsers.parse_int(check_retries)
        if self.check_interval <= 0 or self.check_timeout <= 0:
            raise ValueError(f"watcher {name}: check_interval and check_timeout must be > 0")
        if self.check_retries < 1:
            raise ValueError(f"watcher {name}: check_retries must be >= 1")
        try:
            self.depends_on = parse_depends_on(depends_on)
        except ValueError as exc:
            raise ValueError(f"watcher {name}: depends_on: {exc}") from None
        if name.lower() in (dep.lower() for dep in self.depends_on):
            raise ValueError(f"watcher {name}: circular depends_on: {name} -> {name}")
        if self.copy_path and not self.copy_env:
            raise ValueError(f"watcher {name}: copy_path requires copy_env")
        if self.singleton and self.numprocesses > 1:
            raise ValueError(f"watcher {name}: a singleton cannot have numprocesses > 1")
        if self.numprocesses < 0:
            raise ValueError(f"watcher {name}: numprocesses must be >= 0")
        # The child env's PYTHONPATH joins sys.path before hooks resolve (upstream #477);
        # building it here also refuses a virtualenv without site-packages at once.
        self.hooks = Hooks(hooks, working_dir=working_dir, timeout=hook_timeout,
                           env=self.build_env())
        warn_inert(f"watcher {name}", WATCHER_OPTIONS,
                   {key: getattr(self, key) for key, opt in WATCHER_OPTIONS.items() if opt.inert})

        self.arbiter: Arbiter | None = None
        self.events = EventBus()
        self._reaper: Reaper | None = None
        self.state = WatcherState.STOPPED
        self.processes: dict[int, Process] = {}
        self._lock = asyncio.Lock()
        self._slots = SlotBackoff(self._manage_now)  # per-slot crash-loop backoff
        self._running = 0  # processes in RUNNING state (not stopping, not exited)
        self._wids = WidPool()
        self._manage_task: asyncio.Task[None] | None = None
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._child_env: dict[str, str] | None = None
        self._output = WatcherOutput(self)
        self._stopper = ProcessStopper(self)
        self._detached = False  # removed with rm --nostop: processes run unmanaged
        # Why spawns are refused for lack of file descriptors (None: they are not).
        self.fd_shortage: str | None = None
        self._fd_retry: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None
        # The papa side while use_papa processes run (None: plain processes).
        self._papa: PapaWatching | None = None
        self.health = HealthMonitor(self)

    def __repr__(self) -> str:
        return f"<Watcher {self.name} {self.state.value} {len(self.processes)} processes>"

    @classmethod
    def load_from_config(cls, config: Mapping[str, Any], source: str = "config") -> Watcher:
        """Build a watcher from a ``[watcher:NAME]`` mapping (``circus.config``'s).

        Raises:
            ConfigError: the options do not make a watcher; the message names
                ``source`` (the file) and the section.
        """
        kwargs = dict(config)
        name = kwargs.pop("name")
        cmd = kwargs.pop("cmd")
        try:
            return cls(name, cmd, **kwargs)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{source}, [watcher:{name}]: {exc}") from exc

    # -- wiring ----------------------------------------------------------------

    @property
    def reaper(self) -> Reaper:
        """The reaper this watcher registers children with (the arbiter's, if any)."""
        if self.arbiter is not None:
            return self.arbiter.reaper
        if self._reaper is None:
            self._reaper = Reaper(asyncio.get_running_loop())
        return self._reaper

    @property
    def check(self) -> str | None:
        """The health probe (``tcp://``, ``http://`` or ``exec:``), None: no check.

        Setting it (``set``, ``reloadconfig``) re-probes every running process
        from ``starting``.
        """
        return self._check

    @check.setter
    def check(self, value: str | None) -> None:
        parsed = parse_check(value)
        if parsed != self._check:
            self._check = parsed
            self.health.check_changed()

    @property
    def ready_window(self) -> float:
        """Seconds a new process has to become ready: ``check_timeout x check_retries``."""
        return self.check_timeout * self.check_retries

    def health_states(self) -> dict[str, str]:
        """``{"<pid>": "starting" | "ready" | "unhealthy"}`` for every process."""
        return self.health.states()

    @property
    def hook_timeout(self) -> float:
        """Seconds a hook may run before it counts as failed (the hooks' timeout)."""
        return self.hooks.timeout

    @hook_timeout.setter
    def hook_timeout(self, seconds: float) -> None:
        self.hooks.timeout = seconds

    def notify_event(self, topic: str, msg: EventPayload) -> None:
        """Publish event ``topic`` for this watcher on the event bus."""
        self.events.publish(self.name, topic, msg)

    def reopen_streams(self) -> None:
        """Reopen the stream files (SIGHUP and reload call this)."""
        self._output.reopen()

    @property
    def output(self) -> WatcherOutput:
        """The streams and pipe readers of this watcher."""
        return self._output

    def child_env(self) -> dict[str, str] | None:
        """The environment built for children at the last start or change."""
        return self._child_env

    def status(self) -> str:
        """The state as upstream names it: active, stopped, starting or stopping."""
        return self.state.value

    @property
    def pids(self) -> list[int]:
        """Pids of the live processes, oldest first."""
        return [p.pid for p in self._by_age()]

    def backoff_slots(self) -> list[SlotDescription]:
        """The slots waiting out a crash-loop backoff, soonest retry first."""
        return self._slots.describe()

    def output_dropped(self) -> dict[str, dict[str, object]]:
        """Per stream (stdout/stderr), the output dropped because writes failed (a full disk).

        Only streams that dropped some are listed: ``dropped_bytes``,
        ``dropped_chunks`` (totals while the watcher runs) and ``error`` (the
        last write error, None once writing works again).
        """
        return self._output.dropped()

    def build_env(self) -> dict[str, str]:
        """The environment children get: ``env`` only, unless ``copy_env`` (as upstream)."""
        return _spawn.build_env(
            self.env,
            copy_env=self.copy_env,
            copy_path=self.copy_path,
            virtualenv=self.virtualenv,
            virtualenv_py_ver=self.virtualenv_py_ver,
        )

    def format_variables(self) -> dict[str, object]:
        """Option values available to ``$(circus.X)`` in cmd and args."""
        values: dict[str, object] = {
            key: value
            for key, value in vars(self).items()
            if not key.startswith("_") and isinstance(value, (str, int, float, bool, type(None)))
        }
        if self.arbiter is not None:
            values.update(self.arbiter.socket_variables())
        return values

    # -- public operations (each serialised by the watcher lock) --------------

    async def start(self) -> dict[str, list[int]]:
        """Start the watcher; returns ``{"started": [pids], "kept": [pids]}``.

        Raises:
            DependencyError: a watcher of ``depends_on`` is not ready (this
                one stays stopped).
        """
        if self.depends_on and self.state is WatcherState.STOPPED:
            # Before the lock: a dependency's start must not wait behind us.
            await ready_dependencies(self)
        async with self._lock:
            return await self._start()

    async def stop(self) -> None:
        """Stop every process (stop_signal, graceful_timeout, SIGKILL) and the watcher."""
        async with self._lock:
            await self._stop()

    async def restart(self) -> dict[str, list[int]]:
        """Stop then start; returns stopped, started and kept pids."""
        async with self._lock:
            stopped = self.pids
            await self._stop()
            info = await self._start()
            return {"stopped": stopped, **info}

    async def reload(self, graceful: bool = True, sequential: bool = False) -> dict[str, list[int]]:
        """Reload as upstream does: SIGHUP, sequential, or overlap-then-retire."""
        async with self._lock:
            return await self._reload(graceful, sequential)

    async def set_numprocesses(self, count: int) -> int:
        """Set the target process count and converge; returns the new target."""
        async with self._lock:
            return await self._set_numprocesses(count)

    async def incr(self, nb: int = 1) -> int:
        """Add ``nb`` processes (a no-op on singletons)."""
        if self.singleton:
            return self.numprocesses
        async with self._lock:
            # Read the count under the lock: commands queued earlier may change it.
            return await self._set_numprocesses(self.numprocesses + nb)

    async def decr(self, nb: int = 1) -> int:
        """Remove ``nb`` processes, oldest first (a no-op on singletons)."""
        if self.singleton:
            return self.numprocesses
        async with self._lock:
            return await self._set_numprocesses(max(0, self.numprocesses - nb))

    async def manage_processes(self) -> None:
        """Converge once: spawn missing processes, retire surplus and expired ones."""
        async with self._lock:
            await self._manage()

    async def kill_process(
        self, process: Process, signum: int | None = None, graceful_timeout: float | None = None
    ) -> None:
        """Stop one process: signal its group, wait, escalate to SIGKILL."""
        await self._stopper.stop(process, signum, graceful_timeout)

    async def kill_processes(self, signum: int | None = None) -> None:
        """Stop every process concurrently."""
        await asyncio.gather(*(self.kill_process(p, signum) for p in list(self.processes.values())))

    def reap_processes(self) -> None:
        """Collect any process of this watcher that already exited.

        Deaths are normally collected the moment they happen; this is the
        manual's explicit entry point and a safety net.
        """
        for pid in list(self.processes):
            self.reaper.poll(pid)

    async def reap_and_manage_processes(self) -> None:
        """Collect exited processes, then converge once."""
        self.reap_processes()
        await self.manage_processes()

    async def send_signal_child(self, pid: int, child_pid: int, signum: int) -> None:
        """Send ``signum`` to ``child_pid``, a child of this watcher's process ``pid``."""
        self.processes[pid].send_signal_child(child_pid, signum)

    async def spawn_processes(self) -> None:
        """Spawn until ``numprocesses`` run (honouring warmup_delay)."""
        async with self._lock:
            await self._spawn_missing()

    def spawn_process(self) -> Process | None:
        """Spawn one process now; returns it, or None if it failed to start."""
        return self._spawn_one(self._slots.take_ready())

    async def send_signal(self, signum: int, pid: int | None = None) -> list[int]:
        """Send ``signum`` to one process (or all); goes through the signal hooks."""
        targets = [self.processes[pid]] if pid is not None else list(self.processes.values())
        sent = []
        for proc in targets:
            if await self._stopper.signal(proc, signum):
                sent.append(proc.pid)
        return sent

    def detach(self) -> None:
        """Leave the processes running, unmanaged (``rm --nostop``).

        Their exits are still collected, so none becomes a zombie, but they are
        neither announced nor replaced; the streams close after the last exit.
        """
        self._detached = True
        for pid in self.processes:
            self.reaper.unguard(pid)
        self.state = WatcherState.STOPPED
        self._cancel_timers()
        self.events = EventBus()
        if not self.processes:
            self._close_output_later()

    def _close_output_later(self) -> None:
        self._closing = asyncio.get_running_loop().create_task(self._output.close())

    async def reconfigure(self, apply: Callable[[], Iterable[str]]) -> None:
        """Change options of this watcher, then bring its processes in line.

        A template method for ``set`` and ``reloadconfig``: under the watcher
        lock, ``apply()`` assigns the new values and returns how they take
        effect (the ``live`` kinds of ``circus.config.WATCHER_OPTIONS``). If
        the watcher runs, this then re-draws the ``max_age`` timers
        (``max_age``), reloads gracefully so that new processes get a new
        command line or environment (``spawn``), and converges.

        Raises:
            ReloadRolledBack: with a ``check``, the new processes did not get
                ready; the old ones keep running and the options that need
                new processes (``spawn``) are back to their old values.
        """
        async with self._lock:
            before = {attr: getattr(self, attr) for attr in _SPAWN_ATTRS}
            kinds = set(apply())
            if self.state not in (WatcherState.ACTIVE, WatcherState.STARTING):
                return
            if "max_age" in kinds:
                self._redraw_expiry()
            if "spawn" in kinds:
                self._child_env = self.build_env()
                if self.state is WatcherState.ACTIVE:
                    # A SIGHUP reload keeps the old processes, which never see the
                    # new command or environment: new values need new processes.
                    send_hup, self.send_hup = self.send_hup, False
                    try:
                        await self._reload(graceful=True, sequential=False)
                    except ReloadRolledBack:
                        # Respawns of the old generation must use what works.
                        for attr, value in before.items():
                            setattr(self, attr, value)
                        self._child_env = self.build_env()
                        raise
                    finally:
                        self.send_hup = send_hup
            await self._manage()
            if self._papa is not None:  # `set numprocesses` survives a restart too
                await self._papa.store_numprocesses()

    def swap_stream(self, attr: str, spec: Mapping[str, object], stream: Stream | None) -> bool:
        """Replace ``stdout_stream`` or ``stderr_stream`` (``attr``) by ``stream``.

        For :meth:`reconfigure`'s ``apply``. Pipes keep flowing into the new
        stream. Returns True when the change needs new processes: whether
        output is piped at all changed, and running processes have no pipe
        to the new stream (or one that nothing reads).
        """
        pipes_before = (self._output.pipe_stdout, self._output.pipe_stderr)
        setattr(self, attr, dict(spec))
        self._output.swap(attr[: -len("_stream")], stream)
        return (self._output.pipe_stdout, self._output.pipe_stderr) != pipes_before

    def swap_publish_output(self, publish: bool) -> bool:
        """Turn ``publish_output`` on or off; for :meth:`reconfigure`'s ``apply``.

        Returns True when the change needs new processes: whether output is
        piped at all changed (as :meth:`swap_stream`).
        """
        pipes_before = (self._output.pipe_stdout, self._output.pipe_stderr)
        self.publish_output = publish
        return (self._output.pipe_stdout, self._output.pipe_stderr) != pipes_before

    def tail(self, count: int) -> list[OutputLine]:
        """The last ``count`` lines of output kept (oldest first; ``publish_output`` only)."""
        return self._output.tail.last(count)

    # -- convergence (lock held) ---------------------------------------------------

    async def _start(self) -> dict[str, list[int]]:
        if self.state is WatcherState.ACTIVE:
            return {"started": [], "kept": self.pids}
        kept = self.pids
        survivors = await self._papa_survivors()
        # Adopting processes that already run is no start: before_start is skipped.
        if not survivors and not await self.hooks.run(self, "before_start"):
            logger.warning("watcher %s: before_start hook said no; not started", self.name)
            return {"started": [], "kept": kept}
        self.state = WatcherState.STARTING
        self._release_slots(self._slots.clear())
        self._child_env = self.build_env()
        self._output.open()
        await self._papa_adopt(survivors)
        kept = self.pids
        await self._spawn_missing()
        if self.state is not WatcherState.STARTING:
            # A spawn hook or max_retry stopped us meanwhile.
            return {"started": [], "kept": kept}
        self.state = WatcherState.ACTIVE
        started = [pid for pid in self.pids if pid not in kept]
        logger.info("watcher %s started (%d processes)", self.name, len(self.processes))
        self.notify_event("start", {})
        if not await self.hooks.run(self, "after_start"):
            logger.warning("watcher %s: after_start hook said no; stopping", self.name)
            await self._stop()
            return {"started": [], "kept": kept}
        return {"started": started, "kept": kept}

    async def _stop(self) -> None:
        if self.state is WatcherState.STOPPED and not self.processes:
            return
        if self._papa is not None and self.arbiter is not None and self.arbiter.quitting:
            await self._leave_to_papa()
            return
        self.state = WatcherState.STOPPING
        self._cancel_timers()
        await self.hooks.run(self, "before_stop")
        await self.kill_processes()
        await self._output.close()
        self.state = WatcherState.STOPPED
        logger.info("watcher %s stopped", self.name)
        self.notify_event("stop", {})
        await self.hooks.run(self, "after_stop")

    async def _manage(self) -> None:
        if self.state not in (WatcherState.ACTIVE, WatcherState.STARTING):
            return
        await self._spawn_missing()
        await self._retire_surplus()

    async def _set_numprocesses(self, count: int) -> int:
        if count < 0:
            raise ValueError("numprocesses must be >= 0")
        if self.singleton and count > 1:
            raise ValueError(f"watcher {self.name} is a singleton")
        self.numprocesses = count
        await self._manage()
        if self._papa is not None:
            await self._papa.store_numprocesses()
        return self.numprocesses

    async def _spawn_missing(self) -> None:
        # Spawn what is missing *now*. Deaths during this pass schedule a pass
        # of their own; chasing them here would never end under a crash loop.
        self._release_slots(self._slots.trim(max(0, self.numprocesses - self._running_count())))
        # Slots still waiting out a backoff are not missing: their timer
        # calls manage when their wait is over.
        missing = self.numprocesses - self._running_count() - self._slots.waiting
        if missing <= 0:
            if self.fd_shortage is not None:
                self._fds_back()
            return
        per_child = self.reaper.fds_per_child + self._output.pipe_stdout + self._output.pipe_stderr
        children = self.reaper.tracked + missing
        if self._papa is not None:
            # No reaper fds, but one papa watch connection per process (and its
            # output sockets when papa hands them over).
            children += self._papa.watches
            per_child = self._papa.fds_per_process(
                self._output.pipe_stdout + self._output.pipe_stderr)
        capacity = _rlimits.ensure_nofile(children, per_child)
        refused = 0
        if capacity is not None and children > capacity:
            refused = min(missing, children - capacity)
            missing -= refused
        for spawned in range(1, missing + 1):
            if self.state not in (WatcherState.ACTIVE, WatcherState.STARTING):
                return
            if self.arbiter is not None and self.arbiter.quitting:
                return  # the daemon is quitting: spawning more only delays it
            # A failed spawn is the slot's business (it waits); the others go on.
            proc, go_on = await self._spawn_with_hooks()
            if not go_on or (proc is None and self.fd_shortage is not None):
                return
            if self.warmup_delay and spawned < missing:
                await asyncio.sleep(self.warmup_delay)
            elif spawned % _SPAWN_BATCH == 0:
                await asyncio.sleep(0)
        if refused:
            self._out_of_fds(refused, f"RLIMIT_NOFILE {_rlimits.nofile_limit()} allows about "
                             f"{capacity} processes with their pipes")
        elif self.fd_shortage is not None:
            self._fds_back()

    async def _spawn_with_hooks(self) -> tuple[Process | None, bool]:
        """Spawn one process between the before_spawn and after_spawn hooks.

        Returns (the process, or None if it failed to start; whether to go on).
        A hook saying no has stopped the watcher (and so killed the process).
        """
        if "before_spawn" in self.hooks and not await self.hooks.run(self, "before_spawn"):
            logger.warning("watcher %s: before_spawn hook said no; stopping", self.name)
            await self._stop()
            return None, False
        if self._papa is not None:
            proc = await self._spawn_papa(self._slots.take_ready())
        else:
            proc = self._spawn_one(self._slots.take_ready())
        if proc is not None and "after_spawn" in self.hooks and not await self.hooks.run(
            self, "after_spawn", pid=proc.pid
        ):
            logger.warning("watcher %s: after_spawn hook said no; stopping", self.name)
            await self._stop()
            return None, False
        return proc, True

    async def _retire_surplus(self) -> None:
        surplus = self._running_count() - self.numprocesses
        if surplus <= 0:
            return
        victims = [p for p in self._by_age() if p.state is ProcessState.RUNNING][:surplus]
        await asyncio.gather(*(self.kill_process(p) for p in victims))

    async def _reload(self, graceful: bool, sequential: bool) -> dict[str, list[int]]:
        """The reload flavours, as upstream has them; returns stopped, started, kept pids.

        * not active: a plain start;
        * ``graceful=False``: stop, then start;
        * ``send_hup``: SIGHUP to every process, nothing respawned;
        * ``sequential``: oldest first, stop one, spawn its replacement, warmup_delay;
        * default: spawn a full new set first, then retire the old processes, so
          a socket server never has a moment without workers.
        """
        old = self.pids
        if self.state is not WatcherState.ACTIVE:
            return {"stopped": [], **(await self._start())}
        if not graceful:
            await self._stop()
            return {"stopped": old, **(await self._start())}
        if self.send_hup:
            for proc in list(self.processes.values()):
                proc.send_signal(signal.SIGHUP)
            self.notify_event("reload", {})
            return {"stopped": [], "started": [], "kept": old}
        # Reload spawns are spawns too: the spawn hooks run and may stop the watcher.
        if sequential:
            for proc in [self.processes[p] for p in old if p in self.processes]:
                await self.kill_process(proc)
                new, go_on = await self._spawn_with_hooks()
                if not go_on:
                    break
                if new is not None:
                    await self._gate_reload([new], rollback=False)
                if self.warmup_delay:
                    await asyncio.sleep(self.warmup_delay)
        else:
            generation: list[Process] = []
            for _ in range(self.numprocesses):
                new, go_on = await self._spawn_with_hooks()
                if not go_on:
                    break
                if new is not None:
                    generation.append(new)
            else:
                await self._gate_reload(generation, rollback=True)
                await self._retire_surplus()
        self.notify_event("reload", {})
        alive = self.processes
        return {
            "stopped": [p for p in old if p not in alive],
            "started": [p for p in self.pids if p not in old],
            "kept": [p for p in old if p in alive],
        }

    async def _gate_reload(self, generation: list[Process], rollback: bool) -> None:
        """With a check, wait until the new ``generation`` is ready before the old goes.

        Raises:
            ReloadRolledBack: with ``rollback``, not ready within the ready
                window; the new processes were stopped (the old ones keep
                serving); the message says which were not ready and why.
            CommandError: without ``rollback`` (sequential), the same.
        """
        if self.check is None or not generation:
            return
        window = self.ready_window
        late = await self.health.wait_ready((p.pid for p in generation), window)
        if not late:
            return
        why = "; ".join(f"pid {pid}: {self._why_not_ready(pid)}" for pid in late[:3])
        if rollback:
            await asyncio.gather(*(self.kill_process(p) for p in generation
                                   if self.processes.get(p.pid) is p))
            what = f"rolled back, the {len(self.pids)} old processes keep serving"
        else:
            what = "stopped there (a sequential reload cannot roll back)"
        message = (f"reload of watcher {self.name} {what}: {len(late)} new process(es) not "
                   f"ready within {window:g}s (check_timeout x check_retries); {why}")
        logger.error("%s", message)
        raise ReloadRolledBack(message) if rollback else CommandError(message)

    def _why_not_ready(self, pid: int) -> str:
        if pid not in self.processes:
            return "exited"
        return self.health.last_output(pid) or "no probe finished yet"

    # -- spawning and exits ----------------------------------------------------------

    def _spawn_one(self, wid: int | None = None) -> Process | None:
        """Spawn into slot ``wid`` (a slot whose backoff is over), or a new slot."""
        if wid is None:
            wid = self._wids.take()
        plan: SpawnSockets | None = None
        try:
            plan = self._socket_plan()
            proc = Process(
                self.name,
                wid,
                self.cmd,
                args=self.args,
                working_dir=self.working_dir,
                shell=self.shell,
                shell_args=self.shell_args,
                uid=self.uid,
                gid=self.gid,
                env=self._child_env,
                rlimits=self.rlimits,
                executable=self.executable,
                use_fds=True,
                watcher=self,
                spawn=False,
                pipe_stdout=self._output.pipe_stdout,
                pipe_stderr=self._output.pipe_stderr,
                close_child_stdin=self.close_child_stdin,
                close_child_stdout=self.close_child_stdout,
                close_child_stderr=self.close_child_stderr,
                umask=self.umask,
                pass_fds=plan.pass_fds,
                variables=plan.variables,
                stdin_fd=plan.stdin_fd,
                listen_fds=plan.listen_fds,
            )
            proc.spawn()
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE):
                logger.error("watcher %s: cannot start %r: %s", self.name, self.cmd, exc)
                self._spawn_failed(wid)
                return None
            # circusd's shortage, not the program's failure: no backoff, no max_retry.
            self._slots.forget(wid)
            self._wids.release(wid)
            missing = self.numprocesses - self._running_count() - self._slots.waiting
            self._out_of_fds(max(1, missing), f"{exc.strerror}, RLIMIT_NOFILE "
                             f"{_rlimits.nofile_limit()}")
            return None
        except ValueError as exc:
            logger.error("watcher %s: cannot start %r: %s", self.name, self.cmd, exc)
            self._spawn_failed(wid)
            return None
        finally:
            if plan is not None:
                plan.close()  # circusd's copies of per-process so_reuseport sockets
        # No await between the spawn and the registration: the reaper owns the pid now.
        self.reaper.watch(proc.pid, self._on_exit, guard=True)
        self._output.attach(proc)
        self.register(proc)
        return proc

    def _out_of_fds(self, missing: int, why: str) -> None:
        """circusd cannot afford ``missing`` more processes' fds: refuse them, retry later.

        One log line and one ``spawn_refused`` event when the shortage begins;
        then a pass every ``_FD_RETRY`` seconds (and after each exit, as ever)
        spawns what the fds allow again.
        """
        message = (f"circusd is out of file descriptors ({why}); {missing} "
                   f"process{'es' if missing != 1 else ''} not started")
        if self.fd_shortage is None:
            logger.error("watcher %s: %s; retrying every %gs and after each exit",
                         self.name, message, _FD_RETRY)
            self.notify_event("spawn_refused", {"reason": message, "missing": missing,
                                                "time": time.time()})
        self.fd_shortage = message
        if self._fd_retry is None:
            self._fd_retry = asyncio.get_running_loop().call_later(_FD_RETRY, self._fd_retry_due)

    def _fd_retry_due(self) -> None:
        self._fd_retry = None
        if self.fd_shortage is not None and self.state in (WatcherState.ACTIVE,
                                                            WatcherState.STARTING):
            self._manage_now()

    def _fds_back(self) -> None:
        logger.info("watcher %s: file descriptors available again; spawning resumed", self.name)
        self.fd_shortage = None

    def register(self, proc: Process, adopted: bool = False) -> None:
        """Count a started (or, from papa, ``adopted``) process as one of ours."""
        self.processes[proc.pid] = proc
        self._running += 1
        if adopted:
            self._wids.claim(proc.wid)
        else:
            self._slots.spawned(proc.wid)
        if self.max_age:
            self._arm_expiry(proc)
        self.health.spawned(proc)
        if adopted:
            logger.debug("watcher %s: adopted pid %d (wid %d)", self.name, proc.pid, proc.wid)
            return
        logger.debug("watcher %s: spawned pid %d (wid %d)", self.name, proc.pid, proc.wid)
        self.notify_event("spawn", {"process_pid": proc.pid, "time": proc.started})

    # -- papa (use_papa) -------------------------------------------------------------

    async def _papa_survivors(self) -> list[Survivor]:
        """Attach to papa (use_papa) and list what a previous circusd left running."""
        papa = self._papa
        if papa is None and self.use_papa and self.arbiter is not None:
            host = self.arbiter.papa
            papa = self._papa = host.watching(self) if host is not None else None
            if papa is None:
                logger.warning("watcher %s: use_papa is set but papa is not in use (it died, "
                               "or no use_papa was configured at start); running plain "
                               "processes", self.name)
        if papa is None:
            return []
        try:
            return await papa.survivors()
        except PapaError as exc:
            self._papa_failed(exc)
            return []

    async def _papa_adopt(self, survivors: list[Survivor]) -> None:
        papa = self._papa
        if papa is None:
            return
        try:
            if survivors:
                await papa.adopt(survivors)
            await papa.restore_numprocesses()
        except PapaError as exc:
            self._papa_failed(exc)

    def _papa_failed(self, exc: PapaError) -> None:
        logger.error("watcher %s: %s", self.name, exc)
        if self.arbiter is not None and self.arbiter.papa is not None:
            self.arbiter.papa.kernel_lost(str(exc))
        elif self.papa_lost():
            self._manage_now()

    async def _spawn_papa(self, wid: int | None) -> Process | None:
        """Start slot ``wid`` (or a new slot) in papa."""
        papa = self._papa
        assert papa is not None
        if wid is None:
            wid = self._wids.take()
        try:
            proc = await papa.spawn(wid)
        except PapaError as exc:
            if exc.lost:  # papa is gone: the watcher falls back, this slot is no failure
                self._wids.release(wid)
                self._papa_failed(exc)
                return None
            logger.error("watcher %s: cannot start %r in papa: %s", self.name, self.cmd, exc)
            self._spawn_failed(wid)
            return None
        except (OSError, ValueError) as exc:
            logger.error("watcher %s: cannot start %r: %s", self.name, self.cmd, exc)
            self._spawn_failed(wid)
            return None
        if self._papa is not papa or self.state not in (WatcherState.ACTIVE,
                                                         WatcherState.STARTING):
            # papa went away, or the watcher stopped, during the spawn: not ours to keep.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            self._wids.release(wid)
            return None
        self.register(proc)
        return proc

    def papa_exited(self, proc: PapaProcess, wait_status: int) -> None:
        """papa reported the exit of ``proc``: a reap, as the reaper's."""
        if self.processes.get(proc.pid) is proc:
            self._on_exit(proc.pid, wait_status)

    def papa_lost(self) -> list[int]:
        """papa is gone: kill its stranded processes by pid and reap them; returns their pids.

        From now on the watcher runs plain processes; the caller (``PapaHost``)
        has it converge once the killed ones are gone.
        """
        papa, self._papa = self._papa, None
        if papa is None:
            return []
        killed = []
        for proc in papa.forget():
            if self.processes.get(proc.pid) is not proc:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            killed.append(proc.pid)
            self.mark_stopping(proc)  # a death we caused: no backoff, no crash
            self._on_exit(proc.pid, signal.SIGKILL)
        return killed

    async def _leave_to_papa(self) -> None:
        """circusd quits: papa keeps the processes; stop watching them, write what came."""
        papa = self._papa
        assert papa is not None
        self.state = WatcherState.STOPPING
        self._cancel_timers()
        await papa.release()
        left = len(self.processes)
        self.processes.clear()
        self._running = 0
        self._wids = WidPool()
        self._papa = None
        await self._output.close()
        self.state = WatcherState.STOPPED
        logger.info("watcher %s: left %d processes running in papa", self.name, left)

    def socket_names(self) -> list[str]:
        """Sockets its processes get: those cmd/args name, then all with use_sockets."""
        names = referenced_sockets(self.cmd, self.args, self.shell_args)
        if self.use_sockets and self.arbiter is not None:
            names += [name for name in self.arbiter.sockets if name not in names]
        return names

    def _socket_plan(self) -> SpawnSockets:
        sockets = self.arbiter.sockets if self.arbiter is not None else {}
        if not sockets and not self.stdin_socket:
            return SpawnSockets()
        return spawn_sockets(sockets, self.socket_names(), self.stdin_socket,
                             activation=self.socket_activation)

    def _on_exit(self, pid: int, wait_status: int) -> None:
        proc = self.processes.pop(pid, None)
        if proc is None:
            return
        expected = proc.state is ProcessState.STOPPING
        if not expected:
            self._running -= 1
        proc.record_exit(wait_status)
        timer = self._timers.pop(pid, None)
        if timer is not None:
            timer.cancel()
        self.health.exited(pid)
        self._stopper.exited(pid)
        if self._detached:
            self._wids.release(proc.wid)
            if not self.processes:
                self._close_output_later()
            return
        # Ours: "commanded" tells plugins a death circus caused (a stop, kill
        # or a user's signal) from a crash, which flapping must not count.
        self.notify_event("reap", {"process_pid": pid, "exit_code": proc.returncode,
                                   "commanded": expected or proc.signalled})
        if "before_reap" in self.hooks or "after_reap" in self.hooks:
            asyncio.get_running_loop().create_task(self._run_reap_hooks(proc))
        if expected:
            self._slots.forget(proc.wid)
            self._wids.release(proc.wid)
            return
        self._log_death(proc)
        # An on-demand watcher is not kept alive: once its processes are gone
        # it stops and waits for the next connection (circus._watching.on_demand).
        respawning = self.respawn and not self.on_demand
        live = self.state in (WatcherState.ACTIVE, WatcherState.STARTING)
        # Without respawn nothing is retried, so a quick exit is no crash loop.
        # Nor is a death after a signal a user sent (`circusctl signal w TERM`):
        # commanded deaths never count as crashes.
        if live and respawning and not proc.signalled and proc.age() < self.min_uptime:
            self._quick_exit(proc)  # the slot keeps its wid while it waits
            return
        self._slots.forget(proc.wid)
        self._wids.release(proc.wid)
        if live:
            if respawning:
                self._manage_now()
            elif not self.processes:
                asyncio.get_running_loop().create_task(self.stop())

    async def _run_reap_hooks(self, proc: Process) -> None:
        now = time.time()
        await self.hooks.run(self, "before_reap", process_pid=proc.pid, time=now)
        await self.hooks.run(
            self, "after_reap", process_pid=proc.pid, time=now,
            exit_code=proc.returncode, process_status=proc.exit_status,
        )

    def _log_death(self, proc: Process) -> None:
        code = proc.returncode
        level = logging.INFO if code == 0 else logging.WARNING
        if code == -signal.SIGKILL:
            level = logging.ERROR  # nobody here sent it: perhaps the OOM killer
        logger.log(level, "watcher %s: pid %d %s after %.2fs", self.name, proc.pid,
                   proc.describe_exit(), proc.age())

    def _quick_exit(self, proc: Process) -> None:
        record = self._slots.quick_exit(proc.wid, self.retry_in, self.backoff)
        if record.delay:
            logger.warning("watcher %s: slot %d exited within min_uptime (%gs), %d in a row; "
                           "respawning it in %.2fs", self.name, proc.wid, self.min_uptime,
                           record.quick_exits, record.delay)
        self._announce_backoff(record.wid, record.delay, record.quick_exits,
                               record.spawn_failures, proc.pid)

    def _spawn_failed(self, wid: int) -> None:
        record = self._slots.spawn_failed(wid, self.retry_in, self.backoff)
        if 0 <= self.max_retry < record.spawn_failures:
            logger.error("watcher %s: slot %d failed to spawn %d times in a row; "
                         "giving up (max_retry=%d)", self.name, wid, record.spawn_failures,
                         self.max_retry)
            self.state = WatcherState.STOPPING
            asyncio.get_running_loop().create_task(self._give_up())
            return
        if record.delay:
            logger.info("watcher %s: retrying slot %d in %.2fs", self.name, wid, record.delay)
        self._announce_backoff(wid, record.delay, record.quick_exits, record.spawn_failures,
                               None)

    def _announce_backoff(self, wid: int, delay: float, quick_exits: int, spawn_failures: int,
                          pid: int | None) -> None:
        if not delay:
            return  # backoff = false: the slot is respawned at once, nothing to announce
        self.notify_event("backoff", {
            "wid": wid, "delay": round(delay, 3), "quick_exits": quick_exits,
            "spawn_failures": spawn_failures, "process_pid": pid, "time": time.time(),
        })

    def _release_slots(self, wids: list[int]) -> None:
        for wid in wids:
            self._wids.release(wid)

    async def _give_up(self) -> None:
        async with self._lock:
            if self.state is WatcherState.STOPPING:
                await self._stop()

    def _manage_now(self) -> None:
        # A pass already queued absorbs this request: it converges on the
        # state as it is when it runs.
        if self._manage_task is None or self._manage_task.done():
            self._manage_task = asyncio.get_running_loop().create_task(self._managed())

    async def _managed(self) -> None:
        async with self._lock:
            self._manage_task = None
            await self._manage()

    def _arm_expiry(self, proc: Process) -> None:
        lifetime = self.max_age + random.uniform(0, self.max_age_variance)
        delay = max(lifetime - proc.age(), 0)
        loop = asyncio.get_running_loop()
        self._timers[proc.pid] = loop.call_later(delay, self._expire, proc.pid)

    def _redraw_expiry(self) -> None:
        """Re-arm the max_age timers of the running processes with the current values."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self.max_age:
            for proc in list(self.processes.values()):
                self._arm_expiry(proc)

    def _expire(self, pid: int) -> None:
        self._timers.pop(pid, None)
        proc = self.processes.get(pid)
        if proc is not None and proc.state is ProcessState.RUNNING:
            asyncio.get_running_loop().create_task(self._replace_expired(proc))

    async def _replace_expired(self, proc: Process) -> None:
        async with self._lock:
            if proc.state is ProcessState.RUNNING:
                logger.info("watcher %s: pid %d reached max_age", self.name, proc.pid)
                await self.kill_process(proc)
                await self._manage()

    def restart_unhealthy(self, proc: Process) -> None:
        """Replace ``proc``, which its health check found unhealthy (from the monitor)."""
        if self.state is WatcherState.ACTIVE:
            asyncio.get_running_loop().create_task(self._replace_unhealthy(proc))

    async def _replace_unhealthy(self, proc: Process) -> None:
        async with self._lock:
            if proc.state is ProcessState.RUNNING and self.processes.get(proc.pid) is proc:
                await self.kill_process(proc)
                await self._manage()

    def _cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self.health.close()
        self._release_slots(self._slots.clear())
        if self._fd_retry is not None:
            self._fd_retry.cancel()
            self._fd_retry = None
        self.fd_shortage = None

    # -- helpers ------------------------------------------------------------------

    def mark_stopping(self, proc: Process) -> None:
        """Move a running process to STOPPING: its death is expected from now on."""
        if proc.state is ProcessState.RUNNING:
            proc.move_to(ProcessState.STOPPING)
            self._running -= 1

    def _running_count(self) -> int:
        return self._running

    def _by_age(self) -> list[Process]:
        # ``processes`` is filled in spawn order, so it is already oldest first.
        return list(self.processes.values())
