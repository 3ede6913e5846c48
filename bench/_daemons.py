"""Starting and stopping the daemons under test, each from a generated config.

Three daemons are driven exactly the same way, since ours has no control
channel yet: write a config into a temp dir, launch the daemon in the
foreground (its own session, output into ``daemon.out``), watch its children
through /proc, stop it with SIGTERM. Whatever happens, :func:`launch` kills
the daemon and every process it left behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import _proc

REPO = Path(__file__).resolve().parent.parent
OURS_SRC = REPO / "packages" / "circus-core" / "src"


@dataclass(frozen=True)
class Program:
    """One group of identical processes, in daemon-neutral terms.

    ``argv`` may contain ``{wid}``: it becomes ``$(circus.wid)`` for circus
    and ``%(process_num)s`` for supervisor, so each copy learns its number.
    """

    name: str
    argv: Sequence[str]
    numprocesses: int
    crash_loop: bool = False  # respawn at once, forever (no backoff, no give-up)
    stdout_file: Path | None = None  # route stdout into this file ({wid} allowed)


@dataclass(frozen=True)
class DaemonSpec:
    """One daemon under test: how to run it and how to write its config."""

    kind: str  # "ours", "circus" or "supervisor"
    label: str
    command: tuple[str, ...]  # argv before the config path
    env: dict[str, str] = field(default_factory=dict)
    check_delay: float | None = None  # upstream circus only; None = its default

    def write_config(self, workdir: Path, programs: Sequence[Program]) -> Path:
        """Write this daemon's config for ``programs`` into ``workdir``."""
        if self.kind == "supervisor":
            text = _supervisor_config(workdir, programs)
            path = workdir / "supervisord.conf"
        else:
            text = _circus_config(workdir, programs, upstream=self.kind == "circus",
                                  check_delay=self.check_delay)
            path = workdir / "circus.ini"
        path.write_text(text)
        return path


@dataclass(frozen=True)
class IniSpec(DaemonSpec):
    """A daemon spec whose config is given as text (launch() asks it to write it)."""

    ini: str = ""

    def write_config(self, workdir: Path, programs: Sequence[Program]) -> Path:
        path = workdir / "circus.ini"
        path.write_text(self.ini)
        return path


def with_ini(spec: DaemonSpec, ini: str) -> IniSpec:
    """``spec`` running the config ``ini`` instead of one generated from programs."""
    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(DaemonSpec)}
    return IniSpec(**fields, ini=ini)


def ours(*, from_src: bool = False) -> DaemonSpec:
    """Our circusd: the installed .venv/bin/circusd, or the source tree when iterating."""
    if from_src:
        return DaemonSpec("ours", "ours (src)", (_venv_python(), "-m", "circus.circusd"),
                          env={"PYTHONPATH": str(OURS_SRC)})
    return DaemonSpec("ours", "ours", (str(REPO / ".venv" / "bin" / "circusd"),))


def upstream_circus(daemon: Path, check_delay: float | None = None) -> DaemonSpec:
    """Upstream circusd 0.19 from its peer venv."""
    return DaemonSpec("circus", "circus 0.19", (str(daemon),), check_delay=check_delay)


def supervisor(daemon: Path) -> DaemonSpec:
    """supervisord 4.3 from its peer venv (``-c`` takes the config path)."""
    return DaemonSpec("supervisor", "supervisor 4.3", (str(daemon), "-c"))


def _venv_python() -> str:
    candidate = REPO / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else "python3"


# -- configs ----------------------------------------------------------------------------


def _circus_config(workdir: Path, programs: Sequence[Program], *, upstream: bool,
                   check_delay: float | None) -> str:
    lines = ["[circus]", "loglevel = info", f"logoutput = {workdir / 'daemon.log'}",
             "warmup_delay = 0"]
    # ipc endpoints in the temp dir: no port clashes, nothing left listening.
    # No stats_endpoint: it starts circusd-stats (both daemons); stats_scenarios does that.
    lines += [f"endpoint = ipc://{workdir / 'ctl.sock'}",
              f"pubsub_endpoint = ipc://{workdir / 'pub.sock'}"]
    if upstream and check_delay is not None:
        lines.append(f"check_delay = {check_delay}")
    for prog in programs:
        cmd = shlex.join(prog.argv).replace("{wid}", "$(circus.wid)")
        lines += ["", f"[watcher:{prog.name}]", f"cmd = {cmd}",
                  f"numprocesses = {prog.numprocesses}", "warmup_delay = 0",
                  "graceful_timeout = 10"]
        if prog.crash_loop:
            lines.append("max_retry = -1")
            if not upstream:
                lines.append("backoff = false")  # our option; upstream has no backoff
        if prog.stdout_file is not None:
            filename = str(prog.stdout_file).replace("{wid}", "$(circus.wid)")
            lines += ["stdout_stream.class = FileStream",
                      f"stdout_stream.filename = {filename}"]
    return "\n".join(lines) + "\n"


def _supervisor_config(workdir: Path, programs: Sequence[Program]) -> str:
    nofile = 4 * sum(p.numprocesses for p in programs) + 1024
    lines = ["[supervisord]", "nodaemon = true", "loglevel = info",
             f"logfile = {workdir / 'daemon.log'}", "logfile_maxbytes = 0",
             f"pidfile = {workdir / 'supervisord.pid'}", f"childlogdir = {workdir}",
             # supervisor pipes every child's stdout and stderr (plus a stdin pipe).
             f"minfds = {nofile}", f"minprocs = {sum(p.numprocesses for p in programs) + 512}"]
    for prog in programs:
        # supervisor expands %(...)s in command: a literal % must be doubled.
        cmd = shlex.join(prog.argv).replace("%", "%%").replace("{wid}", "%(process_num)s")
        lines += ["", f"[program:{prog.name}]", f"command = {cmd}",
                  f"numprocs = {prog.numprocesses}",
                  "process_name = %(program_name)s_%(process_num)s",
                  "startsecs = 0", "autorestart = true", "stopwaitsecs = 10",
                  # Crash loops must never end in FATAL.
                  f"startretries = {10**9 if prog.crash_loop else 3}",
                  "stderr_logfile = NONE"]
        if prog.stdout_file is not None:
            filename = str(prog.stdout_file).replace("%", "%%").replace(
                "{wid}", "%(process_num)s")
            lines += [f"stdout_logfile = {filename}", "stdout_logfile_maxbytes = 0",
                      "stdout_logfile_backups = 0"]
        else:
            # Like the circus configs: no per-process log files.
            lines.append("stdout_logfile = NONE")
    return "\n".join(lines) + "\n"


# -- running ------------------------------------------------------------------------------


class RunningDaemon:
    """A launched daemon, observed from outside."""

    def __init__(self, spec: DaemonSpec, popen: subprocess.Popen[bytes], workdir: Path,
                 launched: float) -> None:
        self.spec = spec
        self.popen = popen
        self.pid = popen.pid
        self.workdir = workdir
        self.launched = launched  # time.monotonic() just before the launch

    def alive(self) -> bool:
        """Whether the daemon process still runs."""
        return self.popen.poll() is None

    def children(self) -> list[int]:
        """The daemon's direct children right now."""
        return _proc.children_of(self.pid)

    def terminate(self) -> None:
        """Ask the daemon to quit (SIGTERM), as an init system would."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    def log_text(self) -> str:
        """The daemon's log file plus whatever it printed on stdout/stderr."""
        parts = []
        for name in ("daemon.log", "daemon.out"):
            with contextlib.suppress(OSError):
                parts.append((self.workdir / name).read_text(errors="replace"))
        return "\n".join(parts)

    def describe_death(self) -> str:
        """Why the daemon is gone, with the end of its output."""
        tail = " | ".join(self.log_text().strip().splitlines()[-5:])
        return f"{self.spec.label} exited with {self.popen.returncode}: {tail}"

    def kill(self) -> None:
        """SIGKILL the daemon and every descendant; reap them all."""
        _proc.kill_and_reap(self.popen)


@contextlib.contextmanager
def launch(spec: DaemonSpec, workdir: Path, programs: Sequence[Program]) -> Iterator[
        RunningDaemon]:
    """Run ``spec`` on a config for ``programs``; always cleans everything up."""
    config = spec.write_config(workdir, programs)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(spec.env)
    out = open(workdir / "daemon.out", "wb")  # noqa: SIM115 - closed in finally
    launched = time.monotonic()
    try:
        popen = subprocess.Popen([*spec.command, str(config)], cwd=workdir, env=env,
                                 stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    except BaseException:
        out.close()
        raise
    daemon = RunningDaemon(spec, popen, workdir, launched)
    try:
        yield daemon
    finally:
        daemon.kill()
        out.close()
