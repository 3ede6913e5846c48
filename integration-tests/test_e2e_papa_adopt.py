"""use_papa, quit and adopt: papa-hosted processes outlive circusd and the next one takes them.

Each test runs its own papa on a unix socket (``_papa_run``), and two circusd
one after the other on the same config.
"""

from __future__ import annotations

import datetime
import os
import signal
import socket
import time
import uuid
from pathlib import Path

from _circus_run import PYTHON, CircusRun, alive, check, wait_for
from _papa_run import PapaKernel, papa_config, quit_daemon, sleeper, start

HOOK_CODE = (
    "import os\n"
    "def mark(watcher, hook_name, **kwargs):\n"
    "    here = os.path.dirname(os.path.abspath(__file__))\n"
    "    with open(os.path.join(here, 'hooks.log'), 'a') as log:\n"
    "        log.write(f'{hook_name}\\n')\n"
    "    return True\n"
)


def test_quit_leaves_papa_processes_and_the_next_circusd_adopts_them(
        circus_run: CircusRun, papa_kernel: PapaKernel, tmp_path: Path) -> None:
    name = f"e2e_papa_hooks_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{name}.py").write_text(HOOK_CODE)
    config = papa_config(circus_run, papa_kernel, "adopt", (
        f"[watcher:web]\ncmd = {sleeper(circus_run)}\nnumprocesses = 2\nuse_papa = true\n"
        f"hooks.before_start = {name}.mark\nhooks.before_spawn = {name}.mark\n"))
    first = start(circus_run, config)
    pids = sorted(first.wait_pids("web", 2))
    assert papa_kernel.running() == dict(zip(["circus.web.1", "circus.web.2"], pids, strict=True))
    hooks = tmp_path / "hooks.log"
    assert hooks.read_text().split() == ["before_start", "before_spawn", "before_spawn"]

    quit_daemon(circus_run, first)
    assert all(alive(pid) for pid in pids)

    second = start(circus_run, config)
    assert sorted(second.wait_pids("web", 2)) == pids
    # Status and psutil's stats work by pid on adopted processes.
    assert second.call("status", name="web")["status"] == "active"
    stats = second.call("stats", name="web")
    assert set(stats["info"]) == {str(pid) for pid in pids}, stats
    assert all(info["pid"] == int(pid) and "cpu" in info for pid, info in stats["info"].items())
    # Adopting is no start: neither hook ran again.
    assert hooks.read_text().split() == ["before_start", "before_spawn", "before_spawn"]
    # The wids came from the names: the next process is wid 3.
    check(circus_run.ours_ctl(second.endpoint, "incr", "web"))
    third = wait_for(lambda: set(papa_kernel.running()) - {"circus.web.1", "circus.web.2"},
                     "a third papa process")
    assert third == {"circus.web.3"}
    assert "adopted 2 processes from papa" in second.log_text()


REAP_HOOK = (
    "import os\n"
    "def reaped(watcher, hook_name, process_pid=None, exit_code=None, **kwargs):\n"
    "    here = os.path.dirname(os.path.abspath(__file__))\n"
    "    with open(os.path.join(here, 'reaps.log'), 'a') as log:\n"
    "        log.write(f'{process_pid} {exit_code}\\n')\n"
    "    return True\n"
)

# Exits with code 7 on SIGTERM.
EXIT_7 = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))\n"
    "while True:\n"
    "    time.sleep(1)\n"
)

# Prints a numbered line every 20 ms; argv[1] gets the last number, for the test to poll.
COUNTER = (
    "import os, sys, time\n"
    "i = 0\n"
    "while True:\n"
    "    print(i, flush=True)\n"
    "    with open(sys.argv[1] + '.tmp', 'w') as out:\n"
    "        out.write(str(i))\n"
    "    os.replace(sys.argv[1] + '.tmp', sys.argv[1])\n"
    "    i += 1\n"
    "    time.sleep(0.02)\n"
)


def script(run: CircusRun, tmp_path: Path, name: str, code: str, *args: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(code)
    return " ".join([PYTHON, str(path), *args, run.token])


def test_a_process_that_died_while_circusd_was_down_is_reaped_and_respawned(
        circus_run: CircusRun, papa_kernel: PapaKernel, tmp_path: Path) -> None:
    name = f"e2e_papa_reaps_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{name}.py").write_text(REAP_HOOK)
    config = papa_config(circus_run, papa_kernel, "dead", (
        f"[watcher:web]\ncmd = {script(circus_run, tmp_path, 'exit7', EXIT_7)}\n"
        f"numprocesses = 2\nuse_papa = true\nhooks.after_reap = {name}.reaped\n"))
    first = start(circus_run, config)
    dead, kept = first.wait_pids("web", 2)
    quit_daemon(circus_run, first)

    os.kill(dead, signal.SIGTERM)
    wait_for(lambda: not alive(dead), "the process to exit while circusd is down")

    second = start(circus_run, config)

    def replaced() -> list[int] | None:
        pids = second.pids("web")
        return pids if len(pids) == 2 and dead not in pids and all(map(alive, pids)) else None

    pids = wait_for(replaced, "the dead process to be replaced")
    assert kept in pids
    wait_for(lambda: f"pid {dead} exited with code 7" in second.log_text(),
             "the exit code collected from papa")
    # A reap like any other: the after_reap hook got the pid and the exit code.
    reaps = tmp_path / "reaps.log"
    wait_for(lambda: reaps.exists() and f"{dead} 7" in reaps.read_text().splitlines(),
             "the after_reap hook")


def stamped_lines(path: Path) -> list[tuple[float, int, int]]:
    """(timestamp, pid, number) of each line of a FileStream with our time_format."""
    found = []
    for line in path.read_text().splitlines():
        stamp, rest = line.split(" [", 1)
        pid, number = rest.split("] | ", 1)
        moment = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").timestamp()
        found.append((moment, int(pid), int(number)))
    return found


def test_output_written_while_circusd_was_down_is_replayed_once_in_order_with_papa_times(
        circus_run: CircusRun, papa_kernel: PapaKernel, tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    out = tmp_path / "out.log"
    config = papa_config(circus_run, papa_kernel, "replay", (
        f"[watcher:web]\ncmd = {script(circus_run, tmp_path, 'count', COUNTER, str(counter))}\n"
        f"use_papa = true\nstdout_stream.class = FileStream\n"
        f"stdout_stream.filename = {out}\n"
        "stdout_stream.time_format = %Y-%m-%dT%H:%M:%S.%f\n"))

    def count() -> int:
        try:
            return int(counter.read_text())
        except (OSError, ValueError):
            return -1

    first = start(circus_run, config)
    [pid] = first.wait_pids("web", 1)
    wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= 10, "some output")
    quit_daemon(circus_run, first)
    written = len(out.read_text().splitlines())
    # 1.5 s of output while nobody reads papa: those lines must keep papa's times.
    wait_for(lambda: count() >= written + 75, "output while circusd is down")
    restarted = time.time()
    second = start(circus_run, config)
    assert second.wait_pids("web", 1) == [pid]
    target = count() + 10
    wait_for(lambda: len(out.read_text().splitlines()) > target, "output after the restart")
    quit_daemon(circus_run, second)

    lines = stamped_lines(out)
    numbers = [number for _, _, number in lines]
    assert numbers == list(range(len(numbers))), "a line is missing, repeated or out of order"
    assert {line_pid for _, line_pid, _ in lines} == {pid}
    down = [stamp for stamp, _, number in lines if written <= number < written + 50]
    assert len(down) == 50
    assert max(down) < restarted - 0.2, "replayed output is stamped with the replay time"
    stamps = [stamp for stamp, _, _ in lines]
    assert stamps == sorted(stamps)


def test_numprocesses_set_by_incr_decr_and_set_survives_a_restart(
        circus_run: CircusRun, papa_kernel: PapaKernel) -> None:
    config = papa_config(circus_run, papa_kernel, "count", (
        f"[watcher:web]\ncmd = {sleeper(circus_run)}\nnumprocesses = 1\nuse_papa = true\n"))
    first = start(circus_run, config)
    first.wait_pids("web", 1)
    check(circus_run.ours_ctl(first.endpoint, "incr", "web", "2"))
    pids = sorted(first.wait_pids("web", 3))
    quit_daemon(circus_run, first)

    second = start(circus_run, config)
    assert sorted(second.wait_pids("web", 3)) == pids
    reply = second.call("numprocesses", name="web")
    assert reply["numprocesses"] == 3, reply
    check(circus_run.ours_ctl(second.endpoint, "decr", "web"))
    two = second.wait_pids("web", 2)
    quit_daemon(circus_run, second)

    third = start(circus_run, config)
    assert sorted(third.wait_pids("web", 2)) == sorted(two)
    check(circus_run.ours_ctl(third.endpoint, "set", "web", "numprocesses", "4"))
    four = third.wait_pids("web", 4)
    quit_daemon(circus_run, third)

    fourth = start(circus_run, config)
    assert sorted(fourth.wait_pids("web", 4)) == sorted(four)


def test_papa_and_plain_watchers_mix_and_quit_stops_only_the_plain_ones(
        circus_run: CircusRun, papa_kernel: PapaKernel) -> None:
    config = papa_config(circus_run, papa_kernel, "mix", (
        f"[watcher:held]\ncmd = {sleeper(circus_run)}\nuse_papa = true\n"
        f"[watcher:plain]\ncmd = {sleeper(circus_run)}\ngraceful_timeout = 5\n"))
    first = start(circus_run, config)
    [held] = first.wait_pids("held", 1)
    [plain] = first.wait_pids("plain", 1)
    assert list(papa_kernel.running().values()) == [held]
    quit_daemon(circus_run, first)
    assert alive(held)
    assert not alive(plain)

    second = start(circus_run, config)
    assert second.wait_pids("held", 1) == [held]
    [new_plain] = second.wait_pids("plain", 1)
    assert new_plain != plain


# Writes a whole line and the start of the next in one write, then finishes
# that line only once the file argv[1] exists.
HALF_LINE = (
    "import os, sys, time\n"
    "os.write(1, b'ready\\nhalf-')\n"
    "while not os.path.exists(sys.argv[1]):\n"
    "    time.sleep(0.01)\n"
    "os.write(1, b'done\\n')\n"
    "os.write(1, b'after\\n')\n"
    "while True:\n"
    "    time.sleep(1)\n"
)


def test_a_line_cut_by_a_restart_is_written_whole_once(
        circus_run: CircusRun, papa_kernel: PapaKernel, tmp_path: Path) -> None:
    finish = tmp_path / "finish"
    out = tmp_path / "out.log"
    config = papa_config(circus_run, papa_kernel, "half", (
        f"[watcher:web]\ncmd = {script(circus_run, tmp_path, 'half', HALF_LINE, str(finish))}\n"
        f"use_papa = true\nstdout_stream.class = FileStream\nstdout_stream.filename = {out}\n"))
    first = start(circus_run, config)
    [pid] = first.wait_pids("web", 1)
    # "half-" came in the same record as "ready": circusd holds it when "ready" is written.
    wait_for(lambda: out.exists() and out.read_text() == "ready\n", "the first line")
    quit_daemon(circus_run, first)
    assert out.read_text() == "ready\n"
    finish.touch()

    second = start(circus_run, config)
    assert second.wait_pids("web", 1) == [pid]
    wait_for(lambda: out.read_text().endswith("after\n"), "the lines after the restart")
    assert out.read_text() == "ready\nhalf-done\nafter\n"
    with papa_kernel.client() as client:
        assert client.list_values("circus.web.*") == {}  # the kept half line was taken back


# Waits for the file named by argv[1], then writes 6 MiB of numbered lines (3x papa's
# buffer) as fast as it can, then "done".
FLOOD = (
    "import os, sys, time\n"
    "while not os.path.exists(sys.argv[1]):\n"
    "    time.sleep(0.01)\n"
    "pad = 'x' * 90\n"
    "for i in range(60000):\n"
    "    sys.stdout.write(f'{i} {pad}\\n')\n"
    "sys.stdout.write('done\\n')\n"
    "sys.stdout.flush()\n"
    "time.sleep(3600)\n"
)


def test_more_output_than_papa_holds_while_circusd_is_down_is_all_written(
        circus_run: CircusRun, papa_kernel: PapaKernel, tmp_path: Path) -> None:
    """The writer blocks once papa holds 2 MiB for it, instead of papa dropping old output."""
    go = tmp_path / "go"
    out = tmp_path / "out.log"
    config = papa_config(circus_run, papa_kernel, "flood", (
        f"[watcher:flood]\ncmd = {script(circus_run, tmp_path, 'flood', FLOOD, str(go))}\n"
        f"use_papa = true\nstdout_stream.class = FileStream\n"
        f"stdout_stream.filename = {out}\nstdout_stream.max_bytes = 1073741824\n"))
    first = start(circus_run, config)
    [pid] = first.wait_pids("flood", 1)
    quit_daemon(circus_run, first)
    go.touch()

    # The writer is stuck once papa holds its 2 MiB: nothing more arrives meanwhile.
    wait_for(lambda: (papa_kernel.processes("circus.flood.*")
                      and _papa_buffered(papa_kernel) >= 2 * 2**20),
             "papa's buffer to fill while circusd is down")
    second = start(circus_run, config)
    assert second.wait_pids("flood", 1) == [pid]
    wait_for(lambda: out.exists() and out.read_text().endswith("done\n"), "every line")
    quit_daemon(circus_run, second)
    lines = out.read_text().splitlines()
    assert lines[-1] == "done"
    numbers = [int(line.split(" ", 1)[0]) for line in lines[:-1]]
    assert numbers == list(range(60000)), "a line is missing, repeated or out of order"


def _papa_buffered(kernel: PapaKernel) -> int:
    """Bytes papa holds unacknowledged, from its ``stats`` command (ours, not papa 1.0.6's)."""
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(5)
        conn.connect(str(kernel.path))
        received = b""
        for command in (b"", b"stats\n"):
            conn.sendall(command)
            while not received.endswith(b"> "):
                chunk = conn.recv(4096)
                assert chunk, "papa closed the connection"
                received += chunk
            if command:
                break
            received = b""
    fields = dict(item.split("=", 1) for item in received.decode().split() if "=" in item)
    return int(fields["buffered"])
