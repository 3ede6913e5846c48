"""The output side of a watcher: its two streams and one pipe reader per pipe.

Streams are built when the watcher starts and closed when it stops, after
every pipe was drained to EOF, so the last words of a dying process are kept.
With ``publish_output`` every line also goes to the watcher's
:class:`~circus._watching.tail.OutputTail` (the ``tail`` buffer and the
``watcher.<name>.output`` topic).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping
from typing import Protocol

from circus._base.events import EventPayload
from circus._watching.tail import OutputLine, OutputTail
from circus.stream import PipeReader, Stream, StreamMessage, build_stream
from circus.stream._drops import DropCounter, DropReport

logger = logging.getLogger("circus")

# A pipe still open this long after the stop belongs to a process that escaped
# (a daemonised grandchild holding the fd); we stop waiting for it.
_DRAIN_TIMEOUT = 5.0


class StreamOwner(Protocol):
    """What :class:`WatcherOutput` needs of its watcher (a :class:`~circus.watcher.Watcher`)."""

    @property
    def name(self) -> str:
        """The watcher's name."""
        ...

    @property
    def stdout_stream(self) -> Mapping[str, object]:
        """The ``stdout_stream.*`` options (empty: no stream)."""
        ...

    @property
    def stderr_stream(self) -> Mapping[str, object]:
        """The ``stderr_stream.*`` options (empty: no stream)."""
        ...

    @property
    def publish_output(self) -> bool:
        """Whether each line is published and kept for ``tail``."""
        ...

    def notify_event(self, topic: str, msg: EventPayload) -> None:
        """Publish event ``watcher.<name>.<topic>``."""
        ...


class Piped(Protocol):
    """What reading a child's output needs of it (a :class:`~circus.process.Process`).

    Its pipe fds are taken over: :meth:`WatcherOutput.attach` sets them to None.
    """

    stdout_fd: int | None
    stderr_fd: int | None

    @property
    def pid(self) -> int:
        """The child's pid."""
        ...


class WatcherOutput:
    """Streams and readers of one watcher."""

    def __init__(self, watcher: StreamOwner) -> None:
        self._watcher = watcher
        self._streams: dict[str, Stream] = {}
        self._readers: set[PipeReader] = set()
        self._opened = False  # between open() and close(): the watcher runs
        self.tail = OutputTail(self._publish_line)

    @property
    def pipe_stdout(self) -> bool:
        """Whether children get a stdout pipe (a stream is configured, or publish_output)."""
        return "stdout" in self._streams or self._watcher.publish_output

    @property
    def pipe_stderr(self) -> bool:
        """Whether children get a stderr pipe (a stream is configured, or publish_output)."""
        return "stderr" in self._streams or self._watcher.publish_output

    def open(self) -> None:
        """Build the configured streams (no-op for those already open)."""
        self._opened = True
        for name, spec in (("stdout", self._watcher.stdout_stream),
                           ("stderr", self._watcher.stderr_stream)):
            if spec and name not in self._streams:
                self._streams[name] = self._listened(name, build_stream(spec))

    def _listened(self, name: str, stream: Stream) -> Stream:
        """``stream``, its dropped output reported as ``output_dropped`` events."""
        drops = getattr(stream, "drops", None)
        if isinstance(drops, DropCounter):
            drops.listener = functools.partial(self._dropped, name)
        return stream

    def _dropped(self, name: str, report: DropReport) -> None:
        self._watcher.notify_event("output_dropped", {
            "stream": name, "filename": report["filename"],
            "dropped_bytes": report["dropped_bytes"], "dropped_chunks": report["dropped_chunks"],
            "error": report["error"], "resumed": report["resumed"], "time": time.time()})

    def dropped(self) -> dict[str, dict[str, object]]:
        """Output each stream dropped so far (failed writes), for streams that dropped some."""
        found: dict[str, dict[str, object]] = {}
        for name, stream in sorted(self._streams.items()):
            drops = getattr(stream, "drops", None)
            if isinstance(drops, DropCounter) and drops.dropped_chunks:
                found[name] = {"dropped_bytes": drops.dropped_bytes,
                               "dropped_chunks": drops.dropped_chunks, "error": drops.error}
        return found

    def reopen(self) -> None:
        """Reopen stream files (SIGHUP, reload, external rotation)."""
        for stream in self._streams.values():
            stream.reopen()

    def attach(self, proc: Piped) -> None:
        """Start reading the pipes of a freshly spawned process."""
        loop = asyncio.get_running_loop()
        for name, fd in (("stdout", proc.stdout_fd), ("stderr", proc.stderr_fd)):
            if fd is None:
                continue
            # The sink looks the stream up at each write, so ``swap`` redirects
            # the pipes of running processes too.
            reader = PipeReader(fd, pid=proc.pid, name=name, sink=functools.partial(
                self._write, name), loop=loop, on_closed=self._readers.discard)
            self._readers.add(reader)
            reader.start()
        proc.stdout_fd = proc.stderr_fd = None

    def feed(self, name: str, data: StreamMessage) -> None:
        """Write output that did not come through a pipe (papa's records) to stream ``name``."""
        self._write(name, data)

    def _write(self, name: str, data: StreamMessage) -> None:
        # The tail first: a stream failing (a full disk) must not blind the console.
        if self._watcher.publish_output:
            self.tail.add(data)
        stream = self._streams.get(name)
        if stream is not None:
            stream(data)

    def _publish_line(self, line: OutputLine) -> None:
        self._watcher.notify_event("output", dict(line))

    def swap(self, name: str, stream: Stream | None) -> None:
        """Replace stream ``name`` (stdout/stderr) by ``stream`` (None: remove it).

        Only while the watcher runs; otherwise ``stream`` is closed and the
        next start builds the stream from the watcher's option.
        """
        if not self._opened:
            if stream is not None:
                stream.close()
            return
        old = self._streams.pop(name, None)
        if stream is not None:
            self._streams[name] = self._listened(name, stream)
        if old is not None:
            old.close()

    async def close(self) -> None:
        """Drain every pipe to EOF (bounded), then close the streams."""
        deadline = time.monotonic() + _DRAIN_TIMEOUT
        for reader in list(self._readers):
            if not await reader.wait_closed(max(deadline - time.monotonic(), 0)):
                logger.warning("watcher %s: output of pid %d still open; closing it",
                               self._watcher.name, reader.pid)
                reader.close()
        self._readers.clear()
        for stream in self._streams.values():
            stream.close()
        self._streams.clear()
        self._opened = False
