"""circusd with ``use_papa``, restarted under a test's eyes; nothing survives the test.

A :class:`PapaRun` is a :class:`CircusRun` whose configs name a private papa
kernel (``papa_endpoint = ipc://<its own dir>/papa.sock``). circusd starts
that kernel itself, detached, the first time it needs it; the kernel and the
processes it hosts are session leaders that outlive every circusd and are no
children of the test. So they cannot be found by parentage: teardown asks the
kernel (over its socket, raw protocol, never the client library, whose
constructor would start a kernel when none answers) for its pid and the pids
of everything it hosts, adds every pid the test saw in ``list`` replies, kills
them all by pid, and only then looks for anything else carrying the test's
token: such a process is reported as left behind and fails the test.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from _circus_run import (
    PYTHON,
    CircusRun,
    Daemon,
    _kill_tree,
    _read,
    alive,
    answers,
    marked,
    terminate,
    wait_for,
)

PROMPT = b"\n> "
WRITER = Path(__file__).resolve().parent / "papa_scripts" / "numbered_writer.py"


# -- talking to the kernel ------------------------------------------------------------


def papa_command(path: Path, command: str, timeout: float = 5.0) -> str | None:
    """Send one *command* to the kernel on unix socket *path*; its reply, or None if none answers.

    The reply is what came before the prompt, without it.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        data = b""
        while not data.endswith(PROMPT):  # the banner
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        sock.sendall(command.encode() + b"\n")
        data = b""
        while not data.endswith(PROMPT):
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        sock.sendall(b"quit\n")
        return data[: -len(PROMPT)].decode(errors="replace")
    except OSError:
        return None
    finally:
        sock.close()


def parse_pairs(line: str) -> dict[str, str]:
    """``key=value`` words of one listing or stats line (``args=`` and after dropped)."""
    pairs = {}
    for word in line.split(" args=", 1)[0].split():
        key, sep, value = word.partition("=")
        if sep:
            pairs[key] = value
    return pairs


# -- numbered writers' output (papa_scripts/numbered_writer.py) ------------------------


def read_lines(path: Path) -> dict[int, list[str]]:
    """The file's lines grouped by writer pid, in file order (the rest of each line)."""
    by_pid: dict[int, list[str]] = defaultdict(list)
    if not path.exists():
        return by_pid
    for number, line in enumerate(path.read_bytes().decode().split("\n")[:-1], 1):
        pid, sep, rest = line.partition(" ")
        assert sep and pid.isdigit(), f"{path}:{number}: not a writer's line: {line!r}"
        by_pid[int(pid)].append(rest)
    return by_pid


def check_sequence(pid: int, lines: list[str], *, repeats_allowed: bool = False
                   ) -> tuple[int, int]:
    """Assert *lines* are ``0 .. n-1`` then ``end n``, each once; return (n, repeats).

    With *repeats_allowed* (at least once: a SIGKILLed circusd may have
    written a chunk it could not acknowledge), a number seen before is a
    repeat and is left out; what remains must still be ``0 .. n-1`` in order.
    """
    assert lines, f"nothing from writer {pid}"
    assert lines[-1].startswith("end "), f"writer {pid} has no end line: {lines[-3:]}"
    count = int(lines[-1].split()[1])
    numbers = [int(text) for text in lines[:-1]]
    repeats = 0
    if repeats_allowed:
        seen_once: set[int] = set()
        firsts = []
        for number in numbers:
            if number in seen_once:
                repeats += 1
            else:
                seen_once.add(number)
                firsts.append(number)
        numbers = firsts
    if numbers != list(range(count)):
        seen: dict[int, int] = defaultdict(int)
        for number in numbers:
            seen[number] += 1
        missing = [n for n in range(count) if n not in seen]
        doubled = [n for n, times in seen.items() if times > 1]
        disorder = next((i for i in range(1, len(numbers)) if numbers[i] <= numbers[i - 1]),
                        None)
        raise AssertionError(
            f"writer {pid}: {len(numbers)} lines for {count} written; "
            f"{len(missing)} missing (first {missing[:5]}), {len(doubled)} doubled "
            f"(first {doubled[:5]}), first out of order at index {disorder}")
    return count, repeats


def restart_under_writers(run: PapaRun, hows: list[str], *, processes: int = 2,
                          lines_per_s: int = 5000, down_bytes: int = 50_000,
                          repeats_allowed: bool = False) -> tuple[int, int]:
    """Papa-hosted numbered writers into one FileStream, circusd ended once per *hows*.

    Each end (``quit``, ``term`` or ``kill``: see :meth:`PapaRun.stop_daemon`)
    is followed by a wait until papa holds *down_bytes* of their output (papa
    reads it while no circusd does), then a new circusd on the same config,
    which must adopt the same pids and get output to the file again. At the
    end each writer's lines must be in the file exactly once, in order (with
    *repeats_allowed*, at least once: see :func:`check_sequence`).

    Returns:
        The number of lines the writers wrote, and how many were repeated.
    """
    out = run.tmp_path / "writers.log"
    stop = run.tmp_path / "stop"
    cmd = (f"{shlex.quote(PYTHON)} {shlex.quote(str(WRITER))} {lines_per_s} "
           f"{shlex.quote(str(stop))} {run.token}")
    sections = (f"[watcher:writer]\ncmd = {cmd}\nnumprocesses = {processes}\n"
                f"use_papa = true\ncopy_env = true\ngraceful_timeout = 5\n"
                f"stdout_stream.class = FileStream\nstdout_stream.filename = {out}\n"
                f"stdout_stream.max_bytes = 1073741824\n")
    config, endpoint, pubsub = run.papa_config("writer", sections)
    daemon = run.start_papa_daemon(config, endpoint, pubsub)
    pids = sorted(daemon.wait_pids("writer", processes))
    run.seen.update(pids)
    names = sorted(run.papa_processes())
    assert names == [f"circus.writer.{wid}" for wid in range(1, processes + 1)], names

    def written_by_all(lines: int) -> bool:
        got = read_lines(out)
        return all(len(got[pid]) >= lines for pid in pids)

    wait_for(lambda: written_by_all(1000), "the writers' first lines in the file")
    for number, how in enumerate(hows):
        run.stop_daemon(daemon, how)
        wait_for(lambda: int(run.papa_stats()["buffered"]) >= down_bytes,
                 f"papa to buffer {down_bytes} bytes while circusd is down ({how} {number})")
        assert all(alive(pid) for pid in pids), f"a writer died after {how} {number}"
        daemon = run.start_papa_daemon(config, endpoint, pubsub)
        assert sorted(run.list_pids(daemon, "writer")) == pids, (
            f"{how} {number}: the new circusd did not adopt {pids}\n{daemon.log_text()}")
        # The replay reaches the file; then the writers' new lines do too.
        target = max(len(lines) for lines in read_lines(out).values()) + 1000
        wait_for(partial(written_by_all, target), f"output after {how} {number}")
    stop.touch()
    wait_for(lambda: all(lines and lines[-1].startswith("end ")
                         for lines in (read_lines(out)[pid] for pid in pids)),
             "the writers' end lines in the file", 30)
    by_pid = read_lines(out)
    assert sorted(by_pid) == pids, f"lines from unexpected pids: {sorted(by_pid)} vs {pids}"
    checked = [check_sequence(pid, by_pid[pid], repeats_allowed=repeats_allowed)
               for pid in pids]
    assert sorted(run.list_pids(daemon, "writer")) == pids
    assert "Traceback" not in run.logs(), run.logs()
    return sum(count for count, _ in checked), sum(repeats for _, repeats in checked)


# -- the run ----------------------------------------------------------------------------


@dataclass
class PapaRun(CircusRun):
    """Daemons of one test sharing one private papa kernel."""

    papa_pids: set[int] = field(default_factory=set)

    @property
    def papa_path(self) -> Path:
        # In the short socket dir: sun_path is 108 bytes.
        return self.sockdir / "papa.sock"

    @property
    def papa_endpoint(self) -> str:
        return f"ipc://{self.papa_path}"

    def papa_config(self, label: str, sections: str,
                    circus_extra: str = "") -> tuple[Path, str, str]:
        """Like :meth:`config`, with ``papa_endpoint`` set to this run's kernel."""
        return self.config(label, sections,
                           f"papa_endpoint = {self.papa_endpoint}\n{circus_extra}")

    # -- the kernel --

    def papa(self, command: str) -> str:
        """The kernel's reply to *command*; fails the test if the kernel does not answer."""
        reply = papa_command(self.papa_path, command)
        assert reply is not None, f"papa does not answer on {self.papa_path}\n{self.logs()}"
        return reply

    def papa_stats(self) -> dict[str, str]:
        """The kernel's ``stats`` line as a dict (pid, buffered, processes, ...)."""
        stats = parse_pairs(self.papa("stats"))
        self.papa_pids.add(int(stats["pid"]))
        return stats

    def papa_processes(self) -> dict[str, dict[str, str]]:
        """``list processes``: name -> its key=value pairs (pid, running, ...)."""
        found = {}
        for line in self.papa("list processes").splitlines():
            if line.strip():
                name, _, rest = line.partition(" ")
                found[name] = parse_pairs(rest)
                self.seen.add(int(found[name]["pid"]))
        return found

    # -- daemons --

    def start_papa_daemon(self, config: Path, endpoint: str, pubsub: str,
                          argv: list[str] | None = None,
                          env: dict[str, str] | None = None) -> Daemon:
        """circusd (ours, or *argv* + config) on *config*, waiting until it answers."""
        if argv is None:
            return self.start("ours", config, endpoint, pubsub)
        log = self.tmp_path / f"{config.stem}-{len(self.daemons)}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [*argv, str(config)], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, cwd=self.tmp_path, start_new_session=True,
                env=self.client_env(dict(os.environ) if env is None else env))
        daemon = Daemon("ours", process, endpoint, pubsub, config, log)
        self.daemons.append(daemon)
        wait_for(lambda: not daemon.running() or answers(endpoint),
                 f"circusd to answer on {endpoint}", 30)
        assert daemon.running(), f"circusd exited: {daemon.log_text()}"
        return daemon

    def list_pids(self, daemon: Daemon, watcher: str) -> list[int]:
        """``list <watcher>`` pids, remembered for teardown."""
        pids = daemon.pids(watcher)
        self.seen.update(pids)
        return pids

    def stop_daemon(self, daemon: Daemon, how: str,
                    ctl: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        """End *daemon* with ``circusctl quit`` (``how="quit"``), SIGTERM (``"term"``)
        or SIGKILL (``"kill"``: circusd gets no chance to tidy up)."""
        if how == "quit":
            argv = ctl if ctl is not None else self.ours_argv("circusctl")
            done = self._run([*argv, "--endpoint", daemon.endpoint, "--timeout", "20", "quit"],
                             dict(os.environ) if env is None else env, None, 60)
            assert done.returncode == 0, f"quit failed: {done.stdout} {done.stderr}"
        elif how == "kill":
            daemon.process.send_signal(signal.SIGKILL)
        else:
            assert how == "term", how
            daemon.process.send_signal(signal.SIGTERM)
        try:
            code = daemon.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"circusd did not exit after {how}:\n{daemon.log_text()}")\
                from None
        expected = -signal.SIGKILL if how == "kill" else 0
        assert code == expected, f"circusd exited {code} after {how}:\n{daemon.log_text()}"

    # -- teardown --

    def close(self) -> list[str]:
        """Stop the daemons, kill the kernel and all it hosts; report anything else left."""
        problems = []
        for daemon in self.daemons:
            if daemon.running() and not terminate(daemon):
                problems.append("circusd ignored SIGTERM")
                daemon.process.kill()
                daemon.process.wait()
        # circusd is gone, so nothing respawns what is killed below.
        if papa_command(self.papa_path, "stats", timeout=2) is not None:
            self.papa_stats()
            self.papa_processes()
        for pid in sorted(self.papa_pids):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        for pid in sorted(self.seen):
            if alive(pid):
                _kill_tree(pid)
        expected = self.papa_pids | self.seen
        deadline = time.monotonic() + 10
        while [pid for pid in expected if alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.02)
        for pid in expected:
            if alive(pid):
                problems.append(f"survived SIGKILL: {pid}")
        for pid in marked(self.token):
            problems.append(f"left running, unknown to papa and circusd: {pid} "
                            f"{_read(f'/proc/{pid}/cmdline')!r}")
            _kill_tree(pid)
        shutil.rmtree(self.sockdir, ignore_errors=True)
        return problems
