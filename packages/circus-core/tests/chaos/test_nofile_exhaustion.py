"""RLIMIT_NOFILE reached: circusd refuses the spawns it cannot afford, keeps serving, recovers.

circusd runs with RLIMIT_NOFILE 400 and without CAP_SYS_RESOURCE (dropped from
its bounding set before the exec; this container's root lacks it anyway), so
it cannot raise the limit itself. Each process costs it two pipes (stdout and
stderr streams), and circusd keeps 256 fds for its channels, logs and
sockets: 72 processes fit. ``hog`` runs 40 and ``piped`` 20; ``incr piped 30``
is answered with a clear error, 12 more start, the rest are refused with one
log line and one ``spawn_refused`` event, and commands on fresh connections
keep being answered. Then ``stop hog`` frees 80 fds, and the missing
processes start at the next retry (every second). Raising the limit from
outside (``prlimit``) is seen by the same retry, which reads the limit at each
pass; this container's root may not raise a hard limit, so the test frees
fds instead.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time
from pathlib import Path

import zmq
from conftest import CircusdLauncher

from ._chaos import fd_count, latency_summary, report

LIMIT = 400
EXPECTED_CAPACITY = (LIMIT - 256) // 2
HOG = 40
FIRST = 20
MORE = 30
_CAP_SYS_RESOURCE = 24
_PR_CAPBSET_DROP = 24

LAUNCH = f"""\
import ctypes, os, resource, sys
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl({_PR_CAPBSET_DROP}, {_CAP_SYS_RESOURCE}, 0, 0, 0) == 0
resource.setrlimit(resource.RLIMIT_NOFILE, ({LIMIT}, {LIMIT}))
os.execv(sys.executable, [sys.executable, "-m", "circus.circusd", sys.argv[1]])
"""


def _pids(circusd: CircusdLauncher, name: str = "piped") -> list[int]:
    pids: list[int] = circusd.call("list", name=name)["pids"]
    return pids


def test_nofile_limit_refuses_spawns_keeps_serving_and_recovers(circusd, tmp_path: Path) -> None:
    token = f"3600.{random.randrange(10**8, 10**9)}"
    text = ""
    for name, count in (("hog", HOG), ("piped", FIRST)):
        text += (f"[watcher:{name}]\ncmd = sleep {token}\nnumprocesses = {count}\n"
                 f"stdout_stream.class = FileStream\n"
                 f"stdout_stream.filename = {tmp_path}/{name}.out\n"
                 f"stderr_stream.class = FileStream\n"
                 f"stderr_stream.filename = {tmp_path}/{name}.err\n\n")
    config = circusd.write("circus.ini", text)
    proc = circusd.start(argv=[sys.executable, "-c", LAUNCH, str(config)])
    deadline = time.monotonic() + 30
    while True:
        try:
            if len(_pids(circusd)) == FIRST and len(_pids(circusd, "hog")) == HOG:
                break
        except (AssertionError, zmq.ZMQError):
            pass
        assert time.monotonic() < deadline, "the first processes never started"
        time.sleep(0.05)
    assert resource.prlimit(proc.pid, resource.RLIMIT_NOFILE) == (LIMIT, LIMIT)

    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(circusd.pubsub_endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, b"watcher.piped.spawn_refused")
    time.sleep(0.2)  # a SUB socket only sees what is published after it joined
    try:
        reply = circusd.call("incr", name="piped", nb=MORE, waiting=True)
        running = _pids(circusd)
        latencies = []
        for _ in range(20):
            began = time.perf_counter()
            assert circusd.call("status", name="piped")["status"] == "active"
            latencies.append((time.perf_counter() - began) * 1000)
        fds_at_limit = fd_count(proc.pid)
        assert sub.poll(5000), "no spawn_refused event"
        _topic, body = sub.recv_multipart()
        event = json.loads(body)
        time.sleep(2.5)  # two retries go by: the refusal is not logged again
        log = proc.stdout() + proc.stderr()
        refusals = [line for line in log.splitlines() if "out of file descriptors" in line]
        still = len(_pids(circusd))

        stopped = circusd.call("stop", name="hog")
        raised_at = time.monotonic()
        while len(_pids(circusd)) < FIRST + MORE:
            assert time.monotonic() - raised_at < 10, "spawning never resumed"
            time.sleep(0.02)
        recovery = time.monotonic() - raised_at
    finally:
        sub.close(linger=0)
        context.term()
    log = proc.stdout() + proc.stderr()
    report("nofile_exhaustion", {
        "rlimit_nofile": LIMIT, "asked": HOG + FIRST + MORE,
        "running_at_limit": HOG + len(running),
        "circusd_fds_at_limit": fds_at_limit, "incr_reply": reply.get("reason"),
        "status_on_new_connections": latency_summary(latencies),
        "refusal_log_lines": len(refusals), "recovery_s": round(recovery, 3),
    })
    assert stopped["status"] == "ok", stopped
    assert reply["status"] == "error" and reply["errno"] == 4
    assert reply["reason"].startswith(
        f"watcher piped: circusd is out of file descriptors (RLIMIT_NOFILE {LIMIT} allows "
        f"about {EXPECTED_CAPACITY} processes with their pipes); "
        f"{HOG + FIRST + MORE - EXPECTED_CAPACITY} processes not started; numprocesses is "
        f"{FIRST + MORE}")
    assert HOG + len(running) == HOG + still == EXPECTED_CAPACITY
    assert fds_at_limit < LIMIT
    assert event["missing"] == HOG + FIRST + MORE - EXPECTED_CAPACITY
    assert len(refusals) == 1
    assert "spawning resumed" in log
    assert recovery < 3.0
    assert "Traceback" not in log
    assert proc.stop() == 0
