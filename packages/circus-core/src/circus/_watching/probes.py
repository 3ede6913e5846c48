"""Running one health probe: a TCP connect, an HTTP GET, or a command.

Why no ``asyncio.create_subprocess_exec`` for ``exec:`` checks: circusd is a
child subreaper and its reaper collects every child that exits, so asyncio's
own child watcher would lose the race for the exit status. The probe command
goes through the one spawner and is registered with the reaper right after
the fork, as every worker is; a probe past its timeout has its process group
killed, and the reaper reaps it, so no probe ever stays a zombie.

Why a raw HTTP/1.0 request rather than an HTTP client: one GET whose status
line is all we read costs one connection and no extra dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shlex
import signal
import socket
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

from circus._watching import spawn as _spawn
from circus._watching.reaper import Reaper
from circus.config._check import ProbeSpec

# What a probe keeps of its output: enough for an event and a log line.
OUTPUT_LIMIT = 1000
_READ_LIMIT = 4096


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe: passed or not, and what it said (trimmed)."""

    ok: bool
    output: str


def trim(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """``text`` stripped and cut to ``limit`` characters (an ellipsis marks a cut)."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def run_probe(spec: ProbeSpec, timeout: float, *, reaper: Reaper,
                    env: Mapping[str, str] | None = None,
                    cwd: str | None = None) -> ProbeResult:
    """Run the probe ``spec`` once; a probe that takes longer than ``timeout`` fails.

    Never raises for what the probed program does: refusals, timeouts and
    commands that cannot start are failed probes with their reason as output.
    """
    if spec.kind == "exec":
        return await _run_exec(spec.command, timeout, reaper, env, cwd)
    if spec.port is None:
        return ProbeResult(False, f"{spec.text}: no port (unexpanded variable)")
    what = f"{spec.host}:{spec.port}"
    if spec.kind == "tcp":
        return await _bounded(_tcp(spec.host, spec.port), timeout, f"tcp {what}")
    return await _bounded(_http(spec.host, spec.port, spec.path), timeout,
                          f"http {what}{spec.path}")


async def _bounded(work: Awaitable[ProbeResult], timeout: float, what: str) -> ProbeResult:
    # Not asyncio.wait_for: before Python 3.12 it can swallow a cancellation.
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if not done:
        return ProbeResult(False, f"{what}: no answer within {timeout:g}s")
    try:
        return task.result()
    except (OSError, EOFError, ValueError) as exc:
        return ProbeResult(False, f"{what}: {exc or type(exc).__name__}")


async def _tcp(host: str, port: int) -> ProbeResult:
    # A bare non-blocking socket, not open_connection: no stream objects, so
    # 1000 probes a second leave little for the garbage collector.
    loop = asyncio.get_running_loop()
    address = await _resolve(loop, host, port)
    with socket.socket(address[0], socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, address[1])
    return ProbeResult(True, f"tcp {host}:{port}: connected")


async def _resolve(loop: asyncio.AbstractEventLoop, host: str,
                   port: int) -> tuple[socket.AddressFamily, tuple[Any, ...]]:
    """(family, address) of ``host``: at once for an IP address, else through the resolver."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        if not infos:
            raise OSError(f"cannot resolve {host!r}") from None
        family, _, _, _, sockaddr = infos[0]
        return family, sockaddr
    if ip.version == 6:
        return socket.AF_INET6, (host, port, 0, 0)
    return socket.AF_INET, (host, port)


async def _http(host: str, port: int, path: str) -> ProbeResult:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        header_host = f"[{host}]" if ":" in host else host
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {header_host}:{port}\r\n"
                     "User-Agent: circus-check\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        answer = await reader.read(_READ_LIMIT)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    text = answer.decode("utf-8", "replace")
    status_line = text.partition("\r\n")[0]
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return ProbeResult(False, f"http {host}:{port}{path}: not an HTTP answer: "
                                  f"{trim(text, 200)!r}")
    body = text.partition("\r\n\r\n")[2]
    # As Kubernetes does: any 2xx or 3xx status is healthy.
    ok = 200 <= int(parts[1]) < 400
    return ProbeResult(ok, trim(f"http {host}:{port}{path}: {status_line}\n{body}"))


async def _run_exec(full_command: str, timeout: float, reaper: Reaper,
                    env: Mapping[str, str] | None, cwd: str | None) -> ProbeResult:
    # Messages name the command, shortened: its output is what matters.
    command = full_command if len(full_command) <= 60 else full_command[:57] + "..."
    try:
        argv = shlex.split(full_command)
        spawned = _spawn.spawn(_spawn.SpawnSpec(
            argv=argv, cwd=cwd, env=dict(env) if env is not None else None,
            pipe_stdout=True, pipe_stderr=True))
    except (OSError, ValueError) as exc:
        return ProbeResult(False, f"exec {command}: cannot start: {exc}")
    loop = asyncio.get_running_loop()
    pid = spawned.popen.pid
    exited: asyncio.Future[int] = loop.create_future()

    def on_exit(_pid: int, status: int) -> None:
        if not exited.done():
            exited.set_result(status)

    # No await between the spawn and the registration: the reaper owns the pid now.
    reaper.watch(pid, on_exit)
    output = _Collector(loop, [fd for fd in (spawned.stdout_fd, spawned.stderr_fd)
                               if fd is not None])
    try:
        done, _ = await asyncio.wait({exited}, timeout=timeout)
        if not done:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            status = await asyncio.shield(exited)
            spawned.popen.returncode = -signal.SIGKILL
            return ProbeResult(False, trim(f"exec {command}: no exit within {timeout:g}s\n"
                                           f"{output.text()}"))
    except asyncio.CancelledError:
        # The watcher stopped, or the process went: the probe goes too; the
        # reaper collects it, and Popen must not think it still runs.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        spawned.popen.returncode = -signal.SIGKILL
        raise
    finally:
        # What the pipes hold now is all we keep; a grandchild still holding
        # them must not keep a probe open.
        output.close()
    status = exited.result()
    code = os.waitstatus_to_exitcode(status)
    # Tell Popen the child is gone so it never waits on the pid itself.
    spawned.popen.returncode = code
    text = output.text()
    if code == 0:
        return ProbeResult(True, trim(text or f"exec {command}: exit 0"))
    return ProbeResult(False, trim(f"exec {command}: exit {code}\n{text}"))


class _Collector:
    """Reads a probe's output pipes on the loop, keeping the first bytes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fds: list[int]) -> None:
        self._loop = loop
        self._fds = list(fds)
        self._chunks: list[bytes] = []
        self._kept = 0
        for fd in fds:
            os.set_blocking(fd, False)
            loop.add_reader(fd, self._read, fd)

    def _read(self, fd: int) -> bool:
        """Read what ``fd`` has; returns False once it reached its end."""
        while True:
            try:
                data = os.read(fd, _READ_LIMIT)
            except BlockingIOError:
                return True
            except OSError:
                data = b""
            if not data:
                self._drop(fd)
                return False
            if self._kept < _READ_LIMIT:
                self._chunks.append(data[: _READ_LIMIT - self._kept])
                self._kept += len(self._chunks[-1])

    def _drop(self, fd: int) -> None:
        if fd in self._fds:
            self._fds.remove(fd)
            self._loop.remove_reader(fd)
            os.close(fd)

    def text(self) -> str:
        """What was read so far, decoded."""
        return b"".join(self._chunks).decode("utf-8", "replace")

    def close(self) -> None:
        """Read what is left without waiting, then close every pipe."""
        for fd in list(self._fds):
            if self._read(fd):
                self._drop(fd)
