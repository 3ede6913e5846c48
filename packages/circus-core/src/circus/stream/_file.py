"""File streams: FileStream (size rotation) and WatchedFileStream (external rotation)."""

from __future__ import annotations

import contextlib
import os
import threading
import time

from ._base import (
    Clock,
    StreamMessage,
    TimePrefixer,
    option_count,
    option_path,
    option_seconds,
    option_size,
    option_text,
    prefix_lines,
    wall_clock,
    write_all,
)
from ._drops import REPORT_INTERVAL, DropCounter

#: A file name as the constructors accept it: text or a path object.
FileName = str | os.PathLike[str]

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


class BaseFileStream:
    """Append-only log file written with raw ``os.write`` calls.

    Nothing is buffered in Python: each call is one ``os.write`` of the whole
    (possibly prefixed) chunk, so a crash of the daemon loses nothing that was
    handed to the stream, and concurrent writers never interleave mid-chunk.
    (A FileStream splitting a chunk over several files writes once per file.)
    Subclasses decide when to rotate or reopen in :meth:`_before_write`, or
    take over the whole write in :meth:`_write`.

    A chunk whose write fails (a full disk) is dropped and counted in
    :attr:`drops`, never raised to the pipe reader nor retried, so the worker
    never blocks; the failure is logged once per ``error_report_interval``
    seconds (60 by default) while it lasts, and once more when writing works
    again. A write failing part-way may leave the chunk's head in the file;
    the next successful write then starts on a new line.
    """

    #: Clock for line prefixes (and timed rotation); replaceable in tests.
    _now: Clock = wall_clock
    #: Seconds between checks that the path still names our open file.
    _check_interval = 1.0

    def __init__(
        self, filename: FileName, time_format: str | None = None, *, utc: bool = False,
        error_report_interval: float | str = REPORT_INTERVAL,
    ) -> None:
        self.filename = option_path("filename", filename)
        #: Output dropped because writes failed, and the reports about it.
        self.drops = DropCounter(self.filename, option_seconds(
            "error_report_interval", error_report_interval))
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

    def __call__(self, data: StreamMessage) -> None:
        """Append ``data["data"]`` to the file, prefixing every line if configured."""
        chunk: bytes = data["data"]
        if not chunk:
            return
        # One clock reading per chunk, for its prefixes and for timed rotation:
        # a line is never stamped with a time outside the period of its file.
        now = data.get("timestamp") or self._now()
        if self._prefixer is not None:
            chunk = prefix_lines(chunk, self._prefixer.prefix(data.get("pid"), now))
        with self._lock:
            try:
                if self._fd < 0:
                    # Written to after close(): a stream outlives stop/start of its
                    # watcher, so reopen instead of failing (upstream #912).
                    self._open()
                if self.drops.error is not None:
                    self._end_cut_line()
                self._write(chunk, now)
            except OSError as exc:
                self._write_failed()
                self.drops.dropped(len(chunk), exc)
                return
            self.drops.written()

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

    def _write(self, chunk: bytes, now: float) -> None:
        """Write one (prefixed) chunk handed over at ``now``: run the hook, then one write."""
        self._before_write(len(chunk), now)
        write_all(self._fd, chunk)
        self._size += len(chunk)

    def _before_write(self, nbytes: int, now: float) -> None:
        """Hook run before each write of ``nbytes`` at ``now``; may rotate or reopen."""

    def _write_failed(self) -> None:
        """After a failed write: take the size from the file (a part may have landed)."""
        if self._fd >= 0:
            try:
                self._size = os.fstat(self._fd).st_size
            except OSError:
                self._close_fd()  # reopened by the next write

    def _end_cut_line(self) -> None:
        """Writes failed before: end a line a partial write left unterminated."""
        if not self._size:
            return
        # Our fd is write-only; /proc gives a readable one on the same file.
        reader = os.open(f"/proc/self/fd/{self._fd}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            last = os.pread(reader, 1, self._size - 1)
        finally:
            os.close(reader)
        if last not in (b"\n", b""):
            write_all(self._fd, b"\n")
            self._size += 1

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

    * ``max_bytes`` (``0`` = never rotate): no file grows past it. Before a
      write would overflow the file, ``app.log`` is renamed ``app.log.1``
      (older backups shift to ``.2`` … ``.<backup_count>``, the oldest is
      dropped) and a new ``app.log`` is started. A chunk that does not fit is
      split at line boundaries, its lines spread over as many files as needed.
      The one exception: a single line longer than ``max_bytes`` gets a file
      to itself. The bytes written count, line prefixes included.
    * ``backup_count = 0`` with ``max_bytes``: no backups are kept, the file is
      truncated instead, so it only ever holds the latest lines.
    * ``time_format``: every line is prefixed with ``"<time> [<pid>] | "``; a
      chunk not ending in a newline is then terminated with one.

    Read oldest first (``.<backup_count>`` … ``.1``, then ``filename``) the
    files hold a contiguous tail of the output, every line once and in order.
    A line is only ever split across two files when it arrived in pieces (the
    pipe reader's last words of a process, or a line over 1 MiB) and its
    start was written after other lines, before its full length was known.

    The stream also notices, within a second, when the file was moved or
    deleted by an external tool and reopens it.
    """

    def __init__(
        self,
        filename: FileName,
        max_bytes: int | str = 0,
        backup_count: int | str = 0,
        time_format: str | None = None,
        error_report_interval: float | str = REPORT_INTERVAL,
    ) -> None:
        self.max_bytes = option_size("max_bytes", max_bytes)
        self.backup_count = option_count("backup_count", backup_count)
        # Offset in the file where its unterminated last line starts; None
        # when the file ends with a newline (or is taken as such: a file left
        # by an earlier run, or one another writer appended to).
        self._line_start: int | None = None
        super().__init__(filename, time_format, error_report_interval=error_report_interval)

    def _open(self, truncate: bool = False) -> None:
        super()._open(truncate)
        self._line_start = None

    def _write_failed(self) -> None:
        super()._write_failed()
        self._line_start = None  # _end_cut_line ends the cut line before the next write

    def _write(self, chunk: bytes, now: float) -> None:
        self._follow_rotation_now_and_then()
        if not self.max_bytes:
            write_all(self._fd, chunk)
            self._size += len(chunk)
        elif self._size + len(chunk) <= self.max_bytes and self._line_start is None:
            self._append(chunk, 0, len(chunk))  # the common case: it fits
        else:
            self._write_split(chunk)

    def _write_split(self, chunk: bytes) -> None:
        """Write ``chunk`` over as many files as ``max_bytes`` requires, cutting at newlines."""
        limit, end = self.max_bytes, len(chunk)
        pos = 0
        # Set right after a rollover of ours: if the new file is still not
        # empty (another writer got there first), write anyway rather than
        # rotating forever.
        rotated = False
        while pos < end:
            room = limit - self._size
            if self._line_start is not None:
                # The file ends inside a line: the chunk starts with its rest.
                stop = _line_end(chunk, pos)
                if stop - pos <= room or self._line_start == 0:
                    # It fits, or it belongs to a line that has the file to itself.
                    self._append(chunk, pos, stop)
                    pos, rotated = stop, False
                else:
                    # The line's start already shares a file with other lines.
                    self._rollover()
                    rotated = True
            elif end - pos <= room:
                self._append(chunk, pos, end)
                return
            elif room > 0 and (cut := chunk.rfind(b"\n", pos, pos + room) + 1) > pos:
                # Whole lines up to the limit; the rest of the chunk cannot be
                # empty here, so rotating now leaves no empty file behind.
                self._append(chunk, pos, cut)
                self._rollover()
                pos, rotated = cut, True
            elif self._size > 0 and not rotated:
                self._rollover()
                rotated = True
            else:
                # A fresh file and a line longer than max_bytes: it gets the
                # file to itself (the next write finds no room and rotates).
                stop = _line_end(chunk, pos)
                self._append(chunk, pos, stop)
                pos, rotated = stop, False

    def _append(self, chunk: bytes, start: int, stop: int) -> None:
        """Write ``chunk[start:stop]`` and keep track of where its last line starts."""
        whole = start == 0 and stop == len(chunk)
        write_all(self._fd, chunk if whole else memoryview(chunk)[start:stop])
        offset = self._size
        self._size += stop - start
        if chunk[stop - 1] == _NEWLINE:
            self._line_start = None
        elif self._line_start is None:
            last = chunk.rfind(b"\n", start, stop)
            self._line_start = offset + (last + 1 - start if last >= 0 else 0)

    def _rollover(self) -> None:
        self._close_fd()
        if self.backup_count == 0:
            self._open(truncate=True)
            return
        base = self.filename
        # Shift only the backups that exist (a loop over all of backup_count
        # would cost that many syscalls per rotation), from the oldest down so
        # none is overwritten before it moved; os.replace onto
        # ".<backup_count>" drops the oldest one.
        highest = 0
        while highest < self.backup_count - 1 and os.path.exists(f"{base}.{highest + 1}"):
            highest += 1
        for index in range(highest, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{base}.{index}", f"{base}.{index + 1}")
        with contextlib.suppress(FileNotFoundError):
            os.replace(base, f"{base}.1")
        self._open()


_NEWLINE = ord("\n")


def _line_end(chunk: bytes, pos: int) -> int:
    """Index just past the newline ending the line at ``pos`` (or the end of ``chunk``)."""
    return chunk.find(b"\n", pos) + 1 or len(chunk)


class WatchedFileStream(BaseFileStream):
    """Append to ``filename`` and follow external rotation (logrotate and friends).

    No rotation of its own: before every write (the pipe reader writes once per
    batch of lines) the path is checked and, when the file was moved or deleted,
    a new one is opened at ``filename``.
    """

    def __init__(self, filename: FileName, time_format: str | None = None,
                 error_report_interval: float | str = REPORT_INTERVAL) -> None:
        super().__init__(filename, time_format, error_report_interval=error_report_interval)

    def _before_write(self, nbytes: int, now: float) -> None:
        if self._path_moved():
            self._close_fd()
            self._open()
