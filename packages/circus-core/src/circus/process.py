"""One running child process (``circus.process.Process``, a documented path).

A ``Process`` is created by a ``Watcher`` (or directly, for library use),
spawns through ``circus._watching.spawn`` and records what the reaper reports. Its
``returncode`` and ``status`` are derived from that record, never stored twice.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypedDict, final

import psutil

from circus._base.parsers import signal_name
from circus._base.states import PROCESS_MOVES, IllegalTransition
from circus._base.states import ProcessState as ProcessState  # re-exported: a documented path
from circus._watching import spawn as _spawn
from circus._watching import stopping as _stopping

if TYPE_CHECKING:
    from circus.watcher import Watcher

# Upstream's status constants, returned by ``Process.status``.
RUNNING = 0
DEAD_OR_ZOMBIE = 1
UNEXISTING = 2
OTHER = 3


# Final, so that ``"error" in info`` tells the two shapes apart to a type checker.
@final
class ProcessInfo(TypedDict):
    """What :meth:`Process.info` returns for a live process (upstream's keys)."""

    pid: int
    cmdline: str  # the command line, space-joined
    username: str
    nice: int
    mem_info1: int  # RSS, bytes
    mem_info2: int  # VMS, bytes
    cpu: float  # percent since the previous call
    mem: float  # percent of the host's memory
    ctime: float  # CPU time (user + system), seconds
    age: float  # seconds since the spawn
    children: list[int]  # pids of the direct children


@final
class ProcessGone(TypedDict):
    """What :meth:`Process.info` returns once the process is gone."""

    pid: int
    error: str  # "No such process (stopped?)"


class Process:
    """A child process started by Circus.

    Args:
        name: the watcher name, used in logs and events.
        wid: the worker id, unique within the watcher (``$(circus.wid)``).
        cmd: the command; ``$(circus.*)`` variables are expanded at spawn.
        args: extra arguments, a string (shlex-split) or a list.
        working_dir, shell, shell_args, uid, gid, env, rlimits, executable:
            as the watcher options of the same names.
        use_fds: keep ``pass_fds`` open in the child (sockets).
        pass_fds: the fds the child keeps (with ``use_fds``).
        variables: values that win over the watcher's in ``$(circus.X)``.
        stdin_fd: an fd (a circus socket) given to the child as its stdin.
        listen_fds: ``(name, fd)`` pairs handed over by systemd socket
            activation: at fds 3, 4, ... with ``LISTEN_FDS``/``LISTEN_PID``.
        watcher: the owning watcher, if any; its options feed the variables.
        spawn: spawn immediately.
        pipe_stdout, pipe_stderr: read the child's output through pipes.
        close_child_stdin, close_child_stdout, close_child_stderr: point the
            child's stdio at /dev/null.
    """

    # Slots, not a __dict__: ~1.5 KiB less per process, 1.5 MiB per 1000.
    __slots__ = (
        "__weakref__",
        "_psutil",
        "_started_monotonic",
        "_state",
        "_variables",
        "args",
        "close_child_stderr",
        "close_child_stdin",
        "close_child_stdout",
        "cmd",
        "env",
        "executable",
        "exit_status",
        "gid",
        "listen_fds",
        "name",
        "pass_fds",
        "pipe_stderr",
        "pipe_stdout",
        "popen",
        "rlimits",
        "shell",
        "shell_args",
        "signalled",
        "started",
        "stderr_fd",
        "stdin_fd",
        "stdout_fd",
        "stopping_since",
        "uid",
        "umask",
        "use_fds",
        "watcher",
        "wid",
        "working_dir",
    )

    def __init__(
        self,
        name: str,
        wid: int,
        cmd: str,
        args: str | Sequence[str] | None = None,
        working_dir: str | None = None,
        shell: bool = False,
        uid: str | int | None = None,
        gid: str | int | None = None,
        env: Mapping[str, str] | None = None,
        rlimits: Mapping[str, int | None] | None = None,
        executable: str | None = None,
        use_fds: bool = False,
        watcher: Watcher | None = None,
        spawn: bool = True,
        pipe_stdout: bool = True,
        pipe_stderr: bool = True,
        close_child_stdout: bool = False,
        close_child_stderr: bool = False,
        # Ours, after the manual's parameters so its positional order still holds.
        close_child_stdin: bool = True,
        shell_args: str | None = None,
        umask: int | None = None,
        pass_fds: Sequence[int] = (),
        variables: Mapping[str, object] | None = None,
        stdin_fd: int | None = None,
        listen_fds: Sequence[tuple[str, int]] = (),
    ) -> None:
        self.name = name
        self.wid = wid
        self.cmd = cmd
        self.args = args
        self.working_dir = working_dir
        self.shell = shell
        self.shell_args = shell_args
        self.uid = _spawn.resolve_uid(uid)
        self.gid = _spawn.resolve_gid(gid)
        self.env = dict(env) if env is not None else None
        self.rlimits = dict(rlimits or {})
        self.executable = executable
        self.use_fds = use_fds
        self.watcher = watcher
        self.pipe_stdout = pipe_stdout
        self.pipe_stderr = pipe_stderr
        self.close_child_stdin = close_child_stdin
        self.close_child_stdout = close_child_stdout
        self.close_child_stderr = close_child_stderr
        self.umask = umask
        self.pass_fds = tuple(pass_fds) if use_fds else ()
        self._variables = dict(variables or {})
        self.stdin_fd = stdin_fd
        self.listen_fds = tuple(listen_fds)
        self.popen: subprocess.Popen[bytes] | None = None
        self.stdout_fd: int | None = None
        self.stderr_fd: int | None = None
        self._state = ProcessState.RUNNING
        # Set once circus delivers a signal to it on command: if it then dies,
        # that death was asked for and is no quick exit (no backoff).
        self.signalled = False
        self.started = 0.0  # wall-clock spawn time (time.time())
        self._started_monotonic = 0.0
        # The raw wait status once reaped, not the exit code: after_reap hooks get it
        # as upstream's process_status; returncode and exit_code derive from it.
        self.exit_status: int | None = None
        self.stopping_since: float | None = None
        self._psutil: psutil.Process | None = None  # made on first use (stats)
        if spawn:
            self.spawn()

    def __repr__(self) -> str:
        if self.popen is None:
            return f"<Process {self.name}#{self.wid} not spawned>"
        if self.state is ProcessState.EXITED:
            return f"<Process {self.name}#{self.wid} pid {self.pid} {self.describe_exit()}>"
        return f"<Process {self.name}#{self.wid} pid {self.pid} {self.state.value}>"

    # -- spawning -----------------------------------------------------------

    def variables(self) -> dict[str, object]:
        """The values ``$(circus.X)`` expands to for this process."""
        values: dict[str, object] = {}
        if self.watcher is not None:
            values.update(self.watcher.format_variables())
        values.update(self._variables)
        values["wid"] = self.wid
        return values

    def spawn(self) -> None:
        """Fork and exec the child. Raises ``OSError``/``ValueError`` if it cannot start."""
        self._psutil = None
        env = self.env or {}
        argv = _spawn.build_argv(
            self.cmd,
            self.args,
            shell=self.shell,
            shell_args=self.shell_args,
            variables=(self.variables() if _spawn.has_variables(
                self.cmd, self.args, self.shell_args) else {}),
            env=env if env else os.environ,
        )
        spec = _spawn.SpawnSpec(
            argv=argv,
            executable=self.executable,
            cwd=self.working_dir,
            env=self.env,
            uid=self.uid,
            gid=self.gid,
            umask=self.umask,
            rlimits={_spawn.rlimit_resource(k): v for k, v in self.rlimits.items()},
            pipe_stdout=self.pipe_stdout,
            pipe_stderr=self.pipe_stderr,
            close_stdin=self.close_child_stdin,
            close_stdout=self.close_child_stdout,
            close_stderr=self.close_child_stderr,
            pass_fds=self.pass_fds,
            stdin_fd=self.stdin_fd,
            listen_fds=self.listen_fds,
        )
        spawned = _spawn.spawn(spec)
        self.popen = spawned.popen
        self.stdout_fd = spawned.stdout_fd
        self.stderr_fd = spawned.stderr_fd
        self.started = time.time()
        self._started_monotonic = time.monotonic()

    # -- identity and state ---------------------------------------------------

    @property
    def state(self) -> ProcessState:
        """Where the process is in its life; changed only through :meth:`move_to`."""
        return self._state

    def move_to(self, state: ProcessState) -> None:
        """Change the state: running → stopping → exited, or running → exited.

        Raises:
            IllegalTransition: any other move (exited is final); the state is
                left as it was.
        """
        if state not in PROCESS_MOVES[self._state]:
            raise IllegalTransition(f"process {self.name}#{self.wid} (pid {self.pid}): "
                                    f"cannot go from {self._state.value} to {state.value}")
        self._state = state

    @property
    def pid(self) -> int:
        """The process id (0 before the spawn)."""
        return self.popen.pid if self.popen is not None else 0

    @property
    def stdout(self) -> int | None:
        """The read end of the stdout pipe, if piped and not yet handed to a reader."""
        return self.stdout_fd

    @property
    def stderr(self) -> int | None:
        """The read end of the stderr pipe, if piped and not yet handed to a reader."""
        return self.stderr_fd

    @property
    def returncode(self) -> int | None:
        """Exit code, or ``-signum`` if killed by a signal; ``None`` while alive."""
        if self.exit_status is None:
            return None
        return os.waitstatus_to_exitcode(self.exit_status)

    @property
    def exit_code(self) -> int | None:
        """Upstream's ``exit_code``: the code, or the signal number when signalled."""
        code = self.returncode
        if code is None:
            return None
        return -code if code < 0 else code

    @property
    def status(self) -> int:
        """Upstream's status constant: RUNNING, DEAD_OR_ZOMBIE, UNEXISTING or OTHER."""
        if self.popen is None:
            return UNEXISTING
        if self.state is ProcessState.EXITED:
            return UNEXISTING
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return UNEXISTING
        except PermissionError:
            return OTHER
        try:
            zombie = psutil.Process(self.pid).status() == psutil.STATUS_ZOMBIE
        except psutil.Error:
            return UNEXISTING
        # Exited but not yet reaped (no reaper watches a stand-alone Process).
        return DEAD_OR_ZOMBIE if zombie else RUNNING

    @property
    def is_alive(self) -> bool:
        """True until the reaper has reported the exit."""
        return self.popen is not None and self.state is not ProcessState.EXITED

    def age(self) -> float:
        """Seconds since the spawn."""
        if self.popen is None:
            return 0.0
        return time.monotonic() - self._started_monotonic

    def record_exit(self, wait_status: int) -> None:
        """Store what the reaper reported (called only by the owning watcher)."""
        self.move_to(ProcessState.EXITED)
        self.exit_status = wait_status
        if self.popen is not None:
            # Tell Popen the child is gone so it never waits on the pid itself.
            self.popen.returncode = self.returncode

    def describe_exit(self) -> str:
        """Human description: ``exited with code 3`` or ``killed by SIGKILL``."""
        code = self.returncode
        if code is None:
            return "running"
        if code < 0:
            return f"killed by {signal_name(-code)}"
        return f"exited with code {code}"

    # -- signals ---------------------------------------------------------------

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the process itself."""
        if self.is_alive:
            os.kill(self.pid, signum)
            self.signalled = True

    def send_signal_group(self, signum: int) -> bool:
        """Send ``signum`` to the whole process group; False if the group is gone."""
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            return False
        self.signalled = True
        return True

    def group_alive(self) -> bool:
        """True while any member of the process group (zombies aside) remains."""
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def children(self, recursive: bool = False) -> list[int]:
        """Pids of the child processes (all descendants if ``recursive``)."""
        try:
            return [c.pid for c in psutil.Process(self.pid).children(recursive=recursive)]
        except psutil.Error:
            return []

    def is_child(self, pid: int) -> bool:
        """True if ``pid`` is a direct child of this process."""
        return pid in self.children()

    def send_signal_child(self, pid: int, signum: int) -> None:
        """Send ``signum`` to one child of this process."""
        if not self.is_child(pid):
            raise ProcessLookupError(f"{pid} is not a child of {self.pid}")
        os.kill(pid, signum)

    def send_signal_children(self, signum: int, recursive: bool = False) -> None:
        """Send ``signum`` to every child (every descendant if ``recursive``)."""
        for pid in self.children(recursive=recursive):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    # -- information -------------------------------------------------------------

    def psutil_process(self) -> psutil.Process:
        """psutil's view of this process, made once and then reused (by ``stats``).

        It stays valid: this object stands for one child until it is reaped,
        so its pid cannot belong to another process meanwhile.

        Raises:
            psutil.NoSuchProcess: the process is gone (or was never spawned).
        """
        if self._psutil is None:
            if self.popen is None:
                raise psutil.NoSuchProcess(0, msg="not spawned")
            self._psutil = psutil.Process(self.pid)
        proc: psutil.Process = self._psutil
        return proc

    def info(self) -> ProcessInfo | ProcessGone:
        """Upstream's info mapping: pid, cmdline, username, nice, mem_info1/2, cpu, mem, ctime."""
        try:
            proc = psutil.Process(self.pid)
            with proc.oneshot():
                mem = proc.memory_info()
                times = proc.cpu_times()
                return {
                    "pid": self.pid,
                    "cmdline": " ".join(proc.cmdline()),
                    "username": proc.username(),
                    "nice": proc.nice(),
                    "mem_info1": mem.rss,
                    "mem_info2": mem.vms,
                    "cpu": proc.cpu_percent(interval=None),
                    "mem": round(proc.memory_percent(), 1),
                    "ctime": round(times.user + times.system, 2),
                    "age": round(self.age(), 2),
                    "children": [c.pid for c in proc.children()],
                }
        except psutil.Error:
            return {"pid": self.pid, "error": "No such process (stopped?)"}

    def stop(self) -> None:
        """Stop a process used without a watcher, and close its pipes.

        The watcher's stop (``circus._watching.stopping``), blocking and with the
        manual's values: SIGTERM to the group, SIGKILL to the group and any
        descendant that left it after 1 s, and return once no member of the
        group remains. Inside circusd the watcher stops processes.
        """
        if self.popen is None or self._state is ProcessState.EXITED:
            return
        _stopping.stop_blocking(self, signal.SIGTERM, 1.0)
        for fd in (self.stdout_fd, self.stderr_fd):
            if fd is not None:
                os.close(fd)
        self.stdout_fd = self.stderr_fd = None
