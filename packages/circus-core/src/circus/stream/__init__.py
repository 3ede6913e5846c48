"""Output streams: where the stdout/stderr of watched processes goes.

A stream is a callable receiving a :class:`StreamMessage` ``{"pid": int,
"name": "stdout" | "stderr", "data": bytes}`` with ``close()`` and ``reopen()``
methods (see :class:`Stream`).
:class:`PipeReader` reads a child's pipe on the event loop and feeds a stream
whole lines; :func:`build_stream` builds a stream from the ``stdout_stream.*``
/ ``stderr_stream.*`` options of a watcher.
"""

from __future__ import annotations

from ._base import Stream, StreamMessage
from ._factory import build_stream
from ._file import FileStream, WatchedFileStream
from ._queue import QueueStream
from ._reader import PipeReader
from ._stdout import FancyStdoutStream, StdoutStream
from ._timed import TimedRotatingFileStream

__all__ = [
    "FancyStdoutStream",
    "FileStream",
    "PipeReader",
    "QueueStream",
    "StdoutStream",
    "Stream",
    "StreamMessage",
    "TimedRotatingFileStream",
    "WatchedFileStream",
    "build_stream",
]
