"""papa kernel benchmarks: our kernel against papa 1.0.6, measured in the same run.

Both kernels are driven the same way: started in the foreground on a free TCP
port, in their own session, and spoken to over raw protocol sockets from the
bench process. Neither client library is used, so only the kernels are
compared. The wire protocol spoken here is the small subset the scenarios
need: the banner, ``make process``, ``watch processes`` with its records and
acks, and ``quit``.

Scenarios:

* ``run_throughput``: 4 processes write numbered lines flat out, one
  connection watches them all: MiB/s and bytes lost;
* ``run_latency``: one process writes a timestamped line every 10 ms: the
  delay from its write to the watcher's receive, p50 and p99;
* ``run_idle``: 100 ``sleep`` processes, no client: kernel RSS and CPU.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import _proc
import psutil
from scenarios import SLEEP, Result, ScenarioError, workdir

REPO = Path(__file__).resolve().parent.parent
OURS_PAPA_SRC = REPO / "packages" / "papa" / "src"

BANNER_END = b"\n> "
BATCH_END = b"] "
NOTHING_LEFT = b"Nothing left to watch\n> "
RECV_SIZE = 1 << 20
# A kernel gets this long to listen; 1.0.6 and ours both start in well under 1 s.
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class KernelSpec:
    """One papa kernel under test: the argv that runs it in the foreground."""

    kind: str  # "ours" or "papa"
    label: str
    command: tuple[str, ...]  # argv before "-p PORT"
    env: dict[str, str] = field(default_factory=dict)


def ours_kernel(*, from_src: bool = False) -> KernelSpec:
    """Our kernel, ``python -m papa.server``: the installed wheel, or the source tree."""
    python = REPO / ".venv" / "bin" / "python"
    command = (str(python) if python.exists() else "python3", "-m", "papa.server")
    if from_src:
        return KernelSpec("ours", "ours (src)", command, env={"PYTHONPATH": str(OURS_PAPA_SRC)})
    return KernelSpec("ours", "ours", command)


def peer_kernel(daemon: Path) -> KernelSpec:
    """papa 1.0.6's kernel: the ``papa`` console script of its peer venv."""
    return KernelSpec("papa", "papa 1.0.6", (str(daemon),))


# -- running a kernel -------------------------------------------------------------------


def _free_port() -> int:
    # The port is released before the kernel binds it; on a quiet loopback the
    # window in which another program could take it does not matter.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RunningKernel:
    """A launched kernel: its process, port and the temp dir it runs in."""

    spec: KernelSpec
    popen: subprocess.Popen[bytes]
    port: int
    workdir: Path

    @property
    def pid(self) -> int:
        """The kernel's pid."""
        return self.popen.pid

    def check_alive(self) -> None:
        """Raise ScenarioError, with the end of its output, if the kernel has exited."""
        if self.popen.poll() is None:
            return
        tail = ""
        with contextlib.suppress(OSError):
            lines = (self.workdir / "kernel.out").read_text(errors="replace").splitlines()
            tail = " | ".join(lines[-5:])
        raise ScenarioError(f"{self.spec.label} exited with {self.popen.returncode}: {tail}")

    def connect(self, timeout: float = START_TIMEOUT) -> Wire:
        """A new protocol connection, retried until the kernel listens (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                return Wire(self.port, deadline)
            except (ConnectionRefusedError, ConnectionResetError):
                if time.monotonic() > deadline:
                    raise ScenarioError(f"{self.spec.label} not listening after "
                                        f"{timeout:.0f}s") from None
                time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL the kernel and every process it started (each in its own group)."""
        # Collected before the kernel dies: afterwards they are re-parented to
        # the bench (a subreaper) and only the generic cleanup would find them.
        _proc.kill_all(_proc.descendants(self.pid))
        _proc.kill_and_reap(self.popen)


@contextlib.contextmanager
def launch_kernel(spec: KernelSpec, wd: Path) -> Iterator[RunningKernel]:
    """Run ``spec`` on a free port in ``wd``; always kills it and all it started."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(spec.env)
    out = open(wd / "kernel.out", "wb")  # noqa: SIM115 - closed in finally
    try:
        popen = subprocess.Popen([*spec.command, "-p", str(port)], cwd=wd, env=env,
                                 stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    except BaseException:
        out.close()
        raise
    kernel = RunningKernel(spec, popen, port, wd)
    try:
        yield kernel
    finally:
        kernel.kill()
        out.close()


# -- the wire protocol ------------------------------------------------------------------


@dataclass
class Record:
    """One watch record, stamped with the time the bench had received all of it."""

    kind: str  # "out", "err" or "closed"
    name: str
    data: bytes  # output bytes; empty for "closed"
    code: int | None  # exit code of "closed"
    received_ns: int  # time.time_ns(): comparable with a timestamp the writer embeds
    received: float  # time.monotonic()


def arg(text: str) -> str:
    """Quote a protocol argument: a space inside an argument is written ``\\ ``."""
    return text.replace(" ", "\\ ")


class Wire:
    """One raw protocol connection to a kernel: the bench speaks the protocol itself."""

    def __init__(self, port: int, deadline: float) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5.0)
        # An ack is a single byte sent right after the previous command: with
        # Nagle's algorithm it can sit ~40 ms waiting for a delayed ACK, which
        # would be measured as kernel latency.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.received_ns = 0
        self.received = 0.0
        try:
            self._read_until(BANNER_END, deadline)
        except BaseException:
            self.sock.close()
            raise

    def close(self) -> None:
        """Close the connection (the kernel keeps everything it made)."""
        with contextlib.suppress(OSError):
            self.sock.close()

    def _fill(self, deadline: float) -> None:
        """Receive more bytes, bounded by ``deadline``; stamps when they arrived."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ScenarioError("timed out waiting for the kernel")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(RECV_SIZE)
        except TimeoutError:
            raise ScenarioError("timed out waiting for the kernel") from None
        self.received_ns, self.received = time.time_ns(), time.monotonic()
        if not chunk:
            raise ScenarioError("the kernel closed the connection")
        self.buf += chunk

    def _read_until(self, end: bytes, deadline: float) -> bytes:
        """Consume and return everything up to and including ``end``."""
        start = 0
        while True:
            at = self.buf.find(end, start)
            if at >= 0:
                text = bytes(self.buf[:at + len(end)])
                del self.buf[:at + len(end)]
                return text
            start = max(0, len(self.buf) - len(end) + 1)  # do not rescan old bytes
            self._fill(deadline)

    def command(self, line: str, deadline: float) -> str:
        """Send one command; return its reply without the prompt. ``Error:`` raises."""
        self.sock.sendall(line.encode() + b"\n")
        reply = self._read_until(BANNER_END, deadline)[:-len(BANNER_END)].decode(
            errors="replace")
        if reply.startswith("Error:"):
            raise ScenarioError(f"{line[:60]}: {reply}")
        return reply

    def make_process(self, name: str, argv: list[str], deadline: float,
                     options: str = "") -> str:
        """``make process NAME [options] EXE ARGS``; returns the process line."""
        words = " ".join(arg(a) for a in argv)
        return self.command(f"make process {name} {options} {words}".replace("  ", " "),
                            deadline)

    def quit(self, deadline: float) -> None:
        """Say ``quit`` (reply ``ok``) and close, as a well-behaved client would."""
        self.sock.sendall(b"quit\n")
        with contextlib.suppress(ScenarioError):
            self._read_until(b"ok\n", deadline)
        self.close()

    def watch(self, pattern: str, deadline: float) -> Iterator[Record]:
        """``watch processes PATTERN``: yield every record, ack every batch at once.

        Ends when the kernel says ``Nothing left to watch`` (every watched
        process has exited and its exit was acknowledged).
        """
        self.sock.sendall(f"watch processes {pattern}\n".encode())
        first = self._read_until(b"\n", deadline)
        if not first.startswith(b"Watching "):
            raise ScenarioError(f"watch {pattern}: {first.decode(errors='replace').strip()}")
        while True:
            # A batch: records joined by "\n", then "\n] ". The header of an
            # output record gives the length of the raw bytes that follow it.
            head = bytes(self.buf[:len(NOTHING_LEFT)])
            if NOTHING_LEFT.startswith(head):  # the end, or not enough bytes to tell
                if head == NOTHING_LEFT:
                    del self.buf[:len(NOTHING_LEFT)]
                    return
                self._fill(deadline)
                continue
            if self.buf.startswith(BATCH_END):  # an empty batch; ack it all the same
                del self.buf[:len(BATCH_END)]
                self.sock.sendall(b"\n")
                continue
            eol = self.buf.find(b"\n")
            if eol < 0:
                self._fill(deadline)
                continue
            parts = bytes(self.buf[:eol]).split(b":")
            kind = parts[0].decode(errors="replace")
            if kind == "closed" and len(parts) == 4:
                body_end = eol
                record = Record(kind, parts[1].decode(), b"", int(parts[3]),
                                self.received_ns, self.received)
            elif kind in ("out", "err") and len(parts) == 4:
                body_end = eol + 1 + int(parts[3])
                while len(self.buf) < body_end + 1:
                    self._fill(deadline)  # the record is complete only when all is here
                record = Record(kind, parts[1].decode(), bytes(self.buf[eol + 1:body_end]),
                                None, self.received_ns, self.received)
            else:
                raise ScenarioError(f"unexpected watch data: {bytes(self.buf[:80])!r}")
            # After a record: "\n" and another record, or "\n] " which ends the batch
            # (no record starts with "]").
            while len(self.buf) < body_end + 2:
                self._fill(deadline)
            batch_done = self.buf[body_end + 1] == BATCH_END[0]
            while batch_done and len(self.buf) < body_end + 1 + len(BATCH_END):
                self._fill(deadline)
            del self.buf[:body_end + 1 + (len(BATCH_END) if batch_done else 0)]
            if batch_done:
                # Acked before the consumer sees the record: the kernel may send
                # the next batch while the bench looks at this one.
                self.sock.sendall(b"\n")
            yield record


# -- throughput -------------------------------------------------------------------------

LINE_LEN = 100  # bytes per line, newline included
_PAD = LINE_LEN - 13 - 1  # after "W NNNNNNNNNN " (writer, 10-digit number, spaces)

THROUGHPUT_WRITER = f'''\
"""papa bench writer: build numbered lines in memory, wait for "go", write them flat out."""
import os, sys, time
wid, nlines, workdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
pad = b"x" * {_PAD}
view = memoryview(b"".join([b"%d %010d %s\\n" % (wid, i, pad) for i in range(nlines)]))
open(os.path.join(workdir, "ready.%d" % wid), "w").close()
go = os.path.join(workdir, "go")
while not os.path.exists(go):
    time.sleep(0.001)
while view:
    view = view[os.write(1, view[:1 << 20]):]
'''


def _expected_output(wid: int, nlines: int) -> bytes:
    """Exactly what THROUGHPUT_WRITER writes, to check what the watcher got."""
    pad = b"x" * _PAD
    return b"".join([b"%d %010d %s\n" % (wid, i, pad) for i in range(nlines)])


def run_throughput(spec: KernelSpec, *, procs: int = 4, mb_per_proc: int = 32,
                   bufsize: str = "64m", repeats: int = 3, timeout: float = 60.0) -> Result:
    """MiB/s of ``procs`` writers through one watching connection, and bytes lost.

    Run ``repeats`` times, each on a fresh kernel: on a small shared machine
    one run can be off by a factor of 2, so the median is reported, next to
    every run's figure. Bytes lost and broken streams are summed over the runs.
    """
    runs = [_throughput_once(spec, procs, mb_per_proc, bufsize, timeout)
            for _ in range(repeats)]
    rates = sorted(r["mb_per_s"] for r in runs)
    median = rates[len(rates) // 2] if len(rates) % 2 else sum(
        rates[len(rates) // 2 - 1:len(rates) // 2 + 1]) / 2
    typical = min(runs, key=lambda r: abs(r["mb_per_s"] - median))
    lost = sum(r["lost_bytes"] for r in runs)
    broken = sum(procs - r["intact_streams"] for r in runs)
    result: Result = {
        "procs": procs, "mb_per_proc": mb_per_proc, "bufsize": bufsize, "repeats": repeats,
        "mb_per_s": median, "mb_per_s_runs": [round(r["mb_per_s"]) for r in runs],
        "mb_per_s_from_make": typical["mb_per_s_from_make"],
        "seconds": typical["seconds"], "first_byte_s": typical["first_byte_s"],
        "expected_bytes": sum(r["expected_bytes"] for r in runs),
        "lost_bytes": lost, "broken_streams": broken,
        "exit_codes": sorted({c for r in runs for c in r["exit_codes"]})}
    if lost or broken:
        result["note"] = (f"lost {lost} of {result['expected_bytes']} bytes over {repeats} "
                          f"runs; {broken} streams not received intact")
    return result


def _throughput_once(spec: KernelSpec, procs: int, mb_per_proc: int, bufsize: str,
                     timeout: float) -> Result:
    """One throughput run on a fresh kernel.

    The writers build their lines in memory first; the main clock runs from
    the moment all of them are told to go to the receipt of the last
    ``closed`` record, so interpreter start-up and line formatting (CPU the
    writers take from the kernel on a small machine) stay out of it. A second
    clock runs from the first ``make process``. Each process's buffer
    (``bufsize``) is larger than all it writes, so a kernel that works as
    documented loses nothing, whenever the watcher catches up.
    """
    nlines = mb_per_proc * 2**20 // LINE_LEN
    with workdir(f"papa-{spec.kind}") as wd, launch_kernel(spec, wd) as kernel:
        script = wd / "writer.py"
        script.write_text(THROUGHPUT_WRITER)
        wire = kernel.connect()
        deadline = time.monotonic() + timeout
        chunks: dict[str, list[bytes]] = {f"tp.{i}": [] for i in range(procs)}
        closed: dict[str, int | None] = {}
        t_make = time.monotonic()
        for i in range(procs):
            wire.make_process(f"tp.{i}",
                              [sys.executable, str(script), str(i), str(nlines), str(wd)],
                              deadline, options=f"bufsize={bufsize}")
        while len(list(wd.glob("ready.*"))) < procs:
            kernel.check_alive()
            if time.monotonic() > deadline:
                raise ScenarioError("writers never got ready")
            time.sleep(0.005)
        t0 = time.monotonic()
        # The watch command goes out right after "go": the writers take about
        # a millisecond to notice it, so the watcher is there when data flows.
        (wd / "go").touch()
        t_first = t_end = None
        for record in wire.watch("tp.*", deadline):
            if record.kind == "closed":
                closed[record.name] = record.code
                if len(closed) == procs:
                    t_end = record.received
            else:
                chunks.setdefault(record.name, []).append(record.data)
                if t_first is None:
                    t_first = record.received
        wire.close()
        kernel.check_alive()
    if t_end is None:
        raise ScenarioError(f"only {len(closed)}/{procs} processes reported closed")
    received = sum(len(c) for parts in chunks.values() for c in parts)
    # Checked after the clock stopped: the bench must not take CPU from the kernel.
    intact = sum(b"".join(chunks[f"tp.{i}"]) == _expected_output(i, nlines)
                 for i in range(procs))
    expected = procs * nlines * LINE_LEN
    return {"bytes": received, "expected_bytes": expected, "lost_bytes": expected - received,
            "intact_streams": intact, "seconds": t_end - t0,
            "mb_per_s": received / 2**20 / (t_end - t0),
            "mb_per_s_from_make": received / 2**20 / (t_end - t_make),
            "first_byte_s": None if t_first is None else t_first - t0,
            "exit_codes": sorted({str(c) for c in closed.values()})}


# -- latency ----------------------------------------------------------------------------

LATENCY_WRITER = '''\
"""papa bench ticker: one line "SEQ TIME_NS" every PERIOD seconds, COUNT times."""
import os, sys, time
count, period = int(sys.argv[1]), float(sys.argv[2])
due = time.monotonic()
for i in range(count):
    os.write(1, b"%d %d\\n" % (i, time.time_ns()))
    due += period
    time.sleep(max(0.0, due - time.monotonic()))
'''


def _percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil without floats
    return sorted_values[int(rank) - 1]


def run_latency(spec: KernelSpec, *, seconds: float = 3.0, period: float = 0.01,
                timeout: float = 20.0) -> Result:
    """Delay from a process's write to the watcher's receipt, over ``seconds`` of ticks.

    The writer embeds ``time.time_ns()`` in each line just before writing it;
    the bench notes ``time.time_ns()`` when the recv that completed the record
    returned. Both clocks are the same system clock.
    """
    count = int(seconds / period)
    with workdir(f"papa-{spec.kind}") as wd, launch_kernel(spec, wd) as kernel:
        script = wd / "ticker.py"
        script.write_text(LATENCY_WRITER)
        wire = kernel.connect()
        deadline = time.monotonic() + timeout
        wire.make_process("lat", [sys.executable, str(script), str(count), str(period)],
                          deadline)
        pending = b""  # output is not line-aligned: a line may span two records
        delays_ms: list[float] = []
        seen: set[int] = set()
        code: int | None = None
        for record in wire.watch("lat", deadline):
            if record.kind == "closed":
                code = record.code
                continue
            *lines, pending = (pending + record.data).split(b"\n")
            for line in lines:
                seq, written_ns = (int(x) for x in line.split())
                seen.add(seq)
                delays_ms.append((record.received_ns - written_ns) / 1e6)
        wire.close()
        kernel.check_alive()
    if not delays_ms:
        raise ScenarioError("no line received")
    delays_ms.sort()
    return {"lines": len(delays_ms), "lost_lines": count - len(seen), "exit_code": code,
            "p50_ms": _percentile(delays_ms, 50), "p99_ms": _percentile(delays_ms, 99),
            "max_ms": delays_ms[-1], "mean_ms": sum(delays_ms) / len(delays_ms)}


# -- idle -------------------------------------------------------------------------------


def run_idle(spec: KernelSpec, *, procs: int = 100, settle: float = 2.0,
             idle_seconds: float = 10.0, timeout: float = 30.0) -> Result:
    """Kernel RSS and CPU with ``procs`` ``sleep 3600`` processes and no client.

    The processes are made over one connection, which then quits; after
    ``settle`` seconds the kernel's own user + system CPU time (children
    excluded) is measured over ``idle_seconds``, then its RSS.
    """
    with workdir(f"papa-{spec.kind}") as wd, launch_kernel(spec, wd) as kernel:
        wire = kernel.connect()
        deadline = time.monotonic() + timeout
        for i in range(procs):
            wire.make_process(f"idle.{i}", [SLEEP, "3600"], deadline)
        wire.quit(deadline)
        time.sleep(settle)  # let the kernel finish with the connection and the execs
        kernel.check_alive()
        proc = psutil.Process(kernel.pid)
        before = proc.cpu_times()
        t0 = time.monotonic()
        time.sleep(idle_seconds)
        after = proc.cpu_times()
        wall = time.monotonic() - t0
        kernel.check_alive()
        used = (after.user - before.user) + (after.system - before.system)
        sleeping = sum(_proc.comm(pid) == "sleep" for pid in _proc.children_of(kernel.pid))
        result: Result = {"procs": procs, "idle_cpu_pct": 100.0 * used / wall,
                          "rss_mb": proc.memory_info().rss / 2**20,
                          "threads": proc.num_threads(), "sleeping_children": sleeping}
    if sleeping != procs:
        result["note"] = f"only {sleeping}/{procs} sleep processes were running"
    return result
