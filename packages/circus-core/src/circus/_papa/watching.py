"""One watcher's processes in papa: spawn, adopt, output, exits and numprocesses.

The watcher keeps its own logic (slots, backoff, hooks, stops by pid); this
object only does what differs with papa: ``make process`` instead of a fork,
a watch connection instead of the reaper and the pipes, and adoption of the
processes a previous circusd left in papa.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from circus._papa import names
from circus._papa.handed import HandedReader, now_or
from circus._papa.kernel import PapaError
from circus._papa.lines import LineJoiner
from circus._papa.process import PapaProcess
from circus._watching import spawn as _spawn
from circus.stream import StreamMessage

if TYPE_CHECKING:
    from circus._papa.host import PapaHost
    from circus.watcher import Watcher

logger = logging.getLogger("circus")

# Seconds an exited process's output sockets get to reach their end (EOF)
# before its exit is reported: a daemonised grandchild may keep them open.
_DRAIN_TIMEOUT = 5.0


@dataclass(frozen=True)
class Survivor:
    """A process a previous circusd left in papa."""

    wid: int
    name: str
    pid: int
    started: float


def wait_status(exit_code: int) -> int:
    """papa's exit code (negative: killed by that signal) as a wait status."""
    return -exit_code if exit_code < 0 else exit_code << 8


class PapaWatching:
    """The papa side of one watcher (a :class:`~circus._papa.pump.WatchClient`)."""

    def __init__(self, watcher: Watcher, host: PapaHost) -> None:
        self._watcher = watcher
        self._host = host
        self._by_name: dict[str, PapaProcess] = {}
        self._lines = LineJoiner()
        # Output sockets papa handed over, per papa name and stream.
        self._readers: dict[tuple[str, str], HandedReader] = {}
        # Batches whose exits wait for the handed-over output to be drained.
        self._draining: set[asyncio.Task[None]] = set()
        self._releasing = False
        # The watch connection new processes are added to (papa's keep=1).
        self._feed: Any = None
        # The numprocesses of the config: a stored value made under another
        # config value is stale (the config changed across the restart).
        self._configured = watcher.numprocesses

    @property
    def watches(self) -> int:
        """Watch connections open to papa (of every watcher): one fd each."""
        return self._host.pump.watches

    def fds_per_process(self, pipes: int) -> int:
        """circusd's fds per papa process: its watch connection (unless they share
        one), plus its ``pipes`` output sockets when papa hands them over."""
        kernel = self._host.kernel
        return max((0 if kernel.keep else 1) + (pipes if kernel.handover else 0), 1)

    @property
    def endpoint(self) -> str:
        """papa's endpoint, for messages."""
        return self._host.endpoint

    # -- adoption ---------------------------------------------------------------------

    async def survivors(self) -> list[Survivor]:
        """The processes of this watcher papa still has, oldest first."""
        kernel = self._host.kernel
        listing: dict[str, dict[str, Any]] = await kernel.call(
            kernel.client.list_processes, names.process_pattern(self._watcher.name))
        found = []
        for name, details in listing.items():
            wid = names.wid_of(self._watcher.name, name)
            if wid is not None:
                found.append(Survivor(wid, name, int(details["pid"]),
                                      float(details.get("started", 0.0))))
        return sorted(found, key=lambda s: (s.started, s.wid))

    async def adopt(self, survivors: list[Survivor]) -> None:
        """Take the survivors over: same pids and wids, one watch for all of them.

        Those that died while circusd was down are reaped when their
        ``closed`` record arrives, and respawned as usual.
        """
        watcher = self._watcher
        for survivor in survivors:
            proc = self.new_process(survivor.wid)
            proc.hosted(survivor.name, survivor.pid, survivor.started)
            self._by_name[survivor.name] = proc
            watcher.register(proc, adopted=True)
        kernel = self._host.kernel
        await self._take_partial_lines()
        handle = await kernel.call(kernel.client.watch_processes,
                                   *(s.name for s in survivors), handover=kernel.handover)
        self._host.pump.add(handle, self)
        logger.info("watcher %s: adopted %d processes from papa", watcher.name, len(survivors))

    async def restore_numprocesses(self) -> None:
        """Take back the numprocesses stored by a previous circusd (incr/decr/set)."""
        kernel = self._host.kernel
        stored = await kernel.call(kernel.client.get, names.numprocesses_key(self._watcher.name))
        count, _, configured = (stored or "").partition(" ")
        if count.isdigit() and configured == str(self._configured):
            self._watcher.numprocesses = int(count)

    async def store_numprocesses(self) -> None:
        """Keep numprocesses in papa so the next circusd restores it."""
        kernel = self._host.kernel
        try:
            await kernel.call(kernel.client.set, names.numprocesses_key(self._watcher.name),
                              f"{self._watcher.numprocesses} {self._configured}")
        except PapaError as exc:
            logger.warning("watcher %s: cannot store numprocesses in papa: %s",
                           self._watcher.name, exc)

    # -- spawning ---------------------------------------------------------------------

    def new_process(self, wid: int) -> PapaProcess:
        """A process object for slot ``wid``, not started."""
        watcher = self._watcher
        return PapaProcess(
            watcher.name, wid, watcher.cmd, args=watcher.args,
            working_dir=watcher.working_dir, shell=watcher.shell,
            shell_args=watcher.shell_args, uid=watcher.uid, gid=watcher.gid,
            env=watcher.child_env(), rlimits=watcher.rlimits,
            executable=watcher.executable, watcher=watcher, spawn=False,
            variables=self._host.socket_references(), close_child_stdin=True)

    async def spawn(self, wid: int) -> PapaProcess:
        """Start process ``wid`` in papa and watch it.

        Raises:
            PapaError: papa refused or is gone.
            OSError, ValueError: the command cannot be built.
        """
        watcher = self._watcher
        proc = self.new_process(wid)
        env = proc.env or {}
        argv = _spawn.build_argv(proc.cmd, proc.args, shell=proc.shell,
                                 shell_args=proc.shell_args, variables=proc.variables(),
                                 env=env if env else os.environ)
        name = names.process_name(watcher.name, wid)
        kernel = self._host.kernel
        details = await kernel.call(
            kernel.client.make_process, name, proc.executable or argv[0], args=argv[1:],
            env=env or None, working_dir=proc.working_dir, uid=proc.uid, gid=proc.gid,
            rlimits={key: (-1 if value is None else value)
                     for key, value in proc.rlimits.items()} or None,
            stdout=self._pipe(watcher.output.pipe_stdout, watcher.close_child_stdout),
            stderr=self._pipe(watcher.output.pipe_stderr, watcher.close_child_stderr),
            # A writer that outruns circusd (or writes while circusd is down) blocks
            # on its pipe, as it would with circusd reading it, instead of papa
            # dropping its oldest output: no line is ever lost.
            backpressure=True,
            # Output through sockets that papa hands over to circusd's watch
            # connection: circusd reads them as it reads a plain process's pipes.
            handover=kernel.handover or None)
        proc.hosted(name, int(details["pid"]), float(details.get("started", 0.0)))
        self._by_name[name] = proc
        pump = self._host.pump
        if self._feed is not None and await pump.watch_more(self._feed, name):
            return proc
        try:
            # One connection for this watcher's processes: later ones are added
            # to it (keep), instead of a connection per process.
            handle = await kernel.call(kernel.client.watch_processes, name,
                                       handover=kernel.handover, keep=kernel.keep)
        except PapaError:
            self._by_name.pop(name, None)
            raise
        pump.add(handle, self)
        if kernel.keep:
            self._feed = handle
        return proc

    @staticmethod
    def _pipe(streamed: bool, closed: bool) -> int:
        return subprocess.PIPE if streamed and not closed else subprocess.DEVNULL

    # -- what the watch connections carry (on the loop) ------------------------------

    def batch(self, out: list[Any], err: list[Any], closed: list[Any], handovers: list[Any],
              ack: Callable[[], None]) -> None:
        """Write the output, take handed-over sockets, reap the exits, then acknowledge.

        An exit whose output sockets circusd reads is reported (and the batch
        acknowledged, which lets papa drop its copies) once they are drained.
        """
        try:
            for kind, records in (("stdout", out), ("stderr", err)):
                for record in records:
                    data, stamp = self._lines.add((record.name, kind), record.data,
                                                  record.timestamp)
                    self._write(record.name, kind, data, stamp)
            for handover in handovers:
                self._take_over(handover)
            if any(key[0] == record.name for record in closed for key in self._readers):
                task = asyncio.get_running_loop().create_task(self._reap_drained(closed, ack))
                self._draining.add(task)
                task.add_done_callback(self._draining.discard)
                return
        except BaseException:
            ack()
            raise
        try:
            self._reap(closed)
        finally:
            ack()

    def _reap(self, closed: list[Any]) -> None:
        for record in closed:
            self._flush(record.name)
            proc = self._by_name.pop(record.name, None)
            if proc is not None:
                self._watcher.papa_exited(proc, wait_status(int(record.data)))

    async def _reap_drained(self, closed: list[Any], ack: Callable[[], None]) -> None:
        try:
            for record in closed:
                for kind in ("stdout", "stderr"):
                    reader = self._readers.pop((record.name, kind), None)
                    if reader is not None and not await reader.wait_closed(_DRAIN_TIMEOUT):
                        logger.warning("watcher %s: output of %s still open after its exit; "
                                       "closing it", self._watcher.name, record.name)
                        reader.finish()
            self._reap(closed)
        finally:
            ack()

    def _take_over(self, handover: Any) -> None:
        """Read the sockets of a ``papa.Handover`` on the loop, from where papa stopped."""
        for kind, sock in (("stdout", handover.stdout), ("stderr", handover.stderr)):
            if sock is None:
                continue
            key = (handover.name, kind)
            if self._releasing or key in self._readers:
                sock.close()  # not ours to read: papa reads on once the connection closes
                continue
            # A line begun in papa's records ends in the socket.
            started = self._lines.flush_key(key)

            def sink(data: bytes, stamp: float | None, name: str = handover.name,
                     stream: str = kind) -> None:
                self._write(name, stream, data, now_or(stamp))

            reader = HandedReader(sock, sink, asyncio.get_running_loop(), started)
            self._readers[key] = reader
            reader.start()

    def _write(self, name: str, kind: str, data: bytes, timestamp: float) -> None:
        if not data:
            return
        proc = self._by_name.get(name)
        message: StreamMessage = {
            "pid": proc.pid if proc is not None else 0,
            "name": "stdout" if kind == "stdout" else "stderr",
            "data": data, "timestamp": timestamp}
        self._watcher.output.feed(kind, message)

    def _flush(self, name: str | None = None) -> None:
        """Write unfinished last lines: acknowledged output must not be lost."""
        for (proc_name, kind), data, stamp in self._lines.flush(name):
            self._write(proc_name, kind, data, stamp)

    def ended(self) -> None:
        """The processes of one watch connection all ended; nothing to do."""

    def lost(self, reason: str) -> None:
        """The watch connection broke: papa is gone."""
        self._host.kernel_lost(reason)

    async def release(self) -> None:
        """Stop watching (circusd quits); papa keeps the processes and unwritten output.

        Unfinished last lines were acknowledged to papa already: they are
        stored in papa's values for the next circusd, which completes them, so
        no line is cut in two by a restart.
        """
        self._releasing = True
        await asyncio.gather(*self._draining)
        for (name, kind), reader in self._readers.items():
            # Stopped before the watch connection closes: papa reads on from
            # the first byte not written, once it sees the connection go.
            started = reader.stop()
            if started is not None:
                self._lines.seed((name, kind), *started)
        self._readers.clear()
        await self._host.pump.detach(self)
        self._feed = None
        await self._keep_partial_lines()
        self._by_name.clear()

    async def _keep_partial_lines(self) -> None:
        kernel = self._host.kernel
        for (name, kind), data, stamp in self._lines.flush():
            try:
                await kernel.call(kernel.client.set, names.partial_key(name, kind),
                                  f"{stamp!r} {base64.b64encode(data).decode()}")
            except PapaError as exc:
                logger.warning("watcher %s: cannot keep an unfinished line in papa (%s); "
                               "writing it now", self._watcher.name, exc)
                self._write(name, kind, data, stamp)

    async def _take_partial_lines(self) -> None:
        """Take back the unfinished lines stored by :meth:`_keep_partial_lines`."""
        kernel = self._host.kernel
        stored: dict[str, str] = await kernel.call(
            kernel.client.list_values, names.partial_pattern(self._watcher.name))
        taken = []
        for key, value in stored.items():
            name, _, rest = key.rpartition(".")[0].rpartition(".")
            if rest not in ("stdout", "stderr") or not key.endswith(".partial"):
                continue
            taken.append(key)
            stamp, _, encoded = value.partition(" ")
            try:
                data = base64.b64decode(encoded, validate=True)
                self._lines.seed((name, rest), data, float(stamp))
            except ValueError:
                logger.warning("watcher %s: ignoring a damaged papa value %s",
                               self._watcher.name, key)
        if taken:
            await kernel.call(kernel.client.remove_values, *taken)

    def forget(self) -> list[PapaProcess]:
        """papa is gone: return the processes it hosted, which nobody watches any more."""
        self._flush()
        self._feed = None
        procs = list(self._by_name.values())
        self._by_name.clear()
        return procs
