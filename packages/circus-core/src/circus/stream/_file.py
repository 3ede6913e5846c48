"""File streams: FileStream (size rotation) and WatchedFileStream (external rotation)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from ._base import (
    Clock,
    TimePrefixer,
    option_count,
    option_path,
    option_size,
    option_text,
    prefix_lines,
    wall_clock,
    write_all,
)

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


class BaseFileStream:
    """Append-only log file written with raw ``os.write`` calls.

    Nothing is buffered in Python: each call is one ``os.write`` of the whole
    (possibly prefixed) chunk, so a crash of the daemon loses nothing that was
    handed to the stream, and concurrent writers never interleave mid-chunk.
    Subclasses decide when to rotate or reopen in :meth:`_before_write`.
    """

    #: Clock for line prefixes (and timed rotation); replaceable in tests.
    _now: Clock = wall_clock
    #: Seconds between checks that the path still names our open file.
    _check_interval = 1.0

    def __init__(self, filename: Any, time_format: Any = None, *, utc: bool = False) -> None:
        self.filename = option_path("filename", filename)
        fmt = option_text("time_format", time_format)
        self._prefixer = TimePrefixer(fmt, utc=utc) if fmt else None
        # The daemon writes from its event loop only, but custom code may share a
        # stream across threads; rotation must never race with a write.
        self._lock = threading.Lock()
        self._fd = -1
        self._ident = (0, 0)
        self._size = 0
        self._next_check = time.monotonic() + self._check_interval
        try:
            self._open()
        except OSError as exc:
            # Raised while the configuration is applied: report it as a bad value.
            raise ValueError(f"filename: cannot open {self.filename!r}: {exc.strerror}") from exc

    @property
    def time_format(self) -> str | None:
        """The strftime format of line prefixes, or None when lines are not prefixed."""
        return self._prefixer.time_format if self._prefixer else None

    def __call__(self, data: Mapping[str, Any]) -> None:
        """Append ``data["data"]`` to the file, prefixing every line if configured."""
        chunk: bytes = data["data"]
        if not chunk:
            return
        if self._prefixer is not None:
            chunk = prefix_lines(chunk, self._prefixer.prefix(data.get("pid"), self._now()))
        with self._lock:
            if self._fd < 0:
                # Written to after close(): a stream outlives stop/start of its
                # watcher, so reopen instead of failing (upstream #912).
                self._open()
            self._before_write(len(chunk))
            write_all(self._fd, chunk)
            self._size += len(chunk)

    def reopen(self) -> None:
        """Close the file and open ``filename`` again (SIGHUP / reload)."""
        with self._lock:
            self._close_fd()
            self._open()

    def close(self) -> None:
        """Close the file; a later write opens it again."""
        with self._lock:
            self._close_fd()

    # -- helpers for subclasses (called with the lock held) ------------------------------------

    def _before_write(self, nbytes: int) -> None:
        """Hook run before each write of ``nbytes``; may rotate or reopen."""

    def _open(self, truncate: bool = False) -> None:
        flags = _OPEN_FLAGS | (os.O_TRUNC if truncate else 0)
        fd = os.open(self.filename, flags, 0o644)
        st = os.fstat(fd)
        self._fd = fd
        self._ident = (st.st_dev, st.st_ino)
        self._size = st.st_size

    def _close_fd(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def _follow_rotation_now_and_then(self) -> None:
        """Reopen if the file was moved away, checking at most every ``_check_interval``.

        A ``stat`` of the path costs about 2 µs, more than a small write, so
        streams that write often only look once a second.
        """
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self._check_interval
            if self._path_moved():
                self._close_fd()
                self._open()

    def _path_moved(self) -> bool:
        """True when ``filename`` no longer names the file we hold open.

        Compares device and inode of the path with those of our descriptor: an
        external tool renamed or deleted the file (logrotate without
        copytruncate). As a side effect the cached size is refreshed from the
        path, which also corrects it when another writer appends to the file.
        """
        try:
            st = os.stat(self.filename)
        except FileNotFoundError:
            return True
        except OSError:
            # Unreadable directory and the like: keep writing where we are.
            return False
        if (st.st_dev, st.st_ino) != self._ident:
            return True
        self._size = st.st_size
        return False


class FileStream(BaseFileStream):
    """Append to ``filename``, optionally rotating by size.

    * ``max_bytes`` (``0`` = never rotate): before a write that would make the
      file larger than this, ``app.log`` is renamed ``app.log.1`` (older backups
      shift to ``.2`` … ``.<backup_count>``, the oldest is dropped) and a new
      ``app.log`` is started. A single chunk larger than ``max_bytes`` is still
      written whole: chunks are never torn.
    * ``backup_count = 0`` with ``max_bytes``: no backups are kept, the file is
      truncated instead, so it still never grows much beyond ``max_bytes``.
    * ``time_format``: every line is prefixed with ``"<time> [<pid>] | "``; a
      chunk not ending in a newline is then terminated with one.

    The stream also notices, within a second, when the file was moved or
    deleted by an external tool and reopens it.
    """

    def __init__(
        self,
        filename: Any,
        max_bytes: Any = 0,
        backup_count: Any = 0,
        time_format: Any = None,
    ) -> None:
        self.max_bytes = option_size("max_bytes", max_bytes)
        self.backup_count = option_count("backup_count", backup_count)
        super().__init__(filename, time_format)

    def _before_write(self, nbytes: int) -> None:
        self._follow_rotation_now_and_then()
        if self.max_bytes and self._size > 0 and self._size + nbytes > self.max_bytes:
            self._rollover()

    def _rollover(self) -> None:
        self._close_fd()
        if self.backup_count == 0:
            self._open(truncate=True)
            return
        base = self.filename
        # Shift from the oldest down so no backup is overwritten before it moved;
        # os.replace onto ".<backup_count>" drops the oldest one.
        for index in range(self.backup_count - 1, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{base}.{index}", f"{base}.{index + 1}")
        with contextlib.suppress(FileNotFoundError):
            os.replace(base, f"{base}.1")
        self._open()


class WatchedFileStream(BaseFileStream):
    """Append to ``filename`` and follow external rotation (logrotate and friends).

    No rotation of its own: before every write (the pipe reader writes once per
    batch of lines) the path is checked and, when the file was moved or deleted,
    a new one is opened at ``filename``.
    """

    def __init__(self, filename: Any, time_format: Any = None) -> None:
        super().__init__(filename, time_format)

    def _before_write(self, nbytes: int) -> None:
        if self._path_moved():
            self._close_fd()
            self._open()
