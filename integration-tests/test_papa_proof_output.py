"""No output is lost, doubled or reordered while circusd restarts over papa processes.

Two papa-hosted writers emit 10,000 numbered lines per second between them
into one FileStream. circusd is ended five times during the run (``circusctl
quit`` and SIGTERM in turn), each time staying down until papa holds at least
:data:`DOWN_BYTES` of unacknowledged output, and a new circusd is started on
the same config. The new circusd must adopt the same two pids and replay what
papa kept. At the end every line of each writer is in the file exactly once,
in order, from 0 to the count the writer printed last.

Without use_papa the quit stops the writers (the pids change, and what they
wrote while circusd was down has nowhere to go); with a papa that circusd
does not drain, or drains without acknowledging, lines are missing or doubled.
"""

from __future__ import annotations

import shlex
import time
from functools import partial
from pathlib import Path

from _circus_run import PYTHON, alive, wait_for
from _papa_proof_run import PapaRun, check_sequence, read_lines

WRITER = Path(__file__).resolve().parent / "papa_scripts" / "numbered_writer.py"
PROCESSES = 2
LINES_PER_S = 5000  # per writer: 10,000 lines/s in all
RESTARTS = 5
# Output papa must hold for circusd before a restart ends: ~0.3 s of output.
DOWN_BYTES = 50_000


def test_five_restarts_lose_no_line_and_keep_the_pids(papa_run: PapaRun) -> None:
    out = papa_run.tmp_path / "writers.log"
    stop = papa_run.tmp_path / "stop"
    cmd = (f"{shlex.quote(PYTHON)} {shlex.quote(str(WRITER))} {LINES_PER_S} "
           f"{shlex.quote(str(stop))} {papa_run.token}")
    sections = (f"[watcher:writer]\ncmd = {cmd}\nnumprocesses = {PROCESSES}\n"
                f"use_papa = true\ncopy_env = true\ngraceful_timeout = 5\n"
                f"stdout_stream.class = FileStream\nstdout_stream.filename = {out}\n"
                f"stdout_stream.max_bytes = 1073741824\n")
    config, endpoint, pubsub = papa_run.papa_config("writer", sections)
    daemon = papa_run.start_papa_daemon(config, endpoint, pubsub)
    pids = sorted(daemon.wait_pids("writer", PROCESSES))
    papa_run.seen.update(pids)
    names = sorted(papa_run.papa_processes())
    assert names == [f"circus.writer.{wid}" for wid in range(1, PROCESSES + 1)], names

    def written_by_all(lines: int) -> bool:
        got = read_lines(out)
        return all(len(got[pid]) >= lines for pid in pids)

    wait_for(lambda: written_by_all(1000), "both writers' first lines in the file")
    started = time.monotonic()
    for restart in range(RESTARTS):
        how = "quit" if restart % 2 == 0 else "term"
        papa_run.stop_daemon(daemon, how)
        # Writers keep writing while no circusd listens: papa holds their output.
        wait_for(lambda: int(papa_run.papa_stats()["buffered"]) >= DOWN_BYTES,
                 f"papa to buffer {DOWN_BYTES} bytes while circusd is down (restart {restart})")
        assert all(alive(pid) for pid in pids), f"a writer died after {how}"
        daemon = papa_run.start_papa_daemon(config, endpoint, pubsub)
        assert sorted(papa_run.list_pids(daemon, "writer")) == pids, (
            f"restart {restart} ({how}) did not adopt {pids}\n{daemon.log_text()}")
        # The replay reaches the file; then the writers' new lines do too.
        target = max(len(lines) for lines in read_lines(out).values()) + 1000
        wait_for(partial(written_by_all, target), f"output after restart {restart}")
    running = time.monotonic() - started
    stop.touch()
    wait_for(lambda: all(lines and lines[-1].startswith("end ")
                         for lines in (read_lines(out)[pid] for pid in pids)),
             "both writers' end lines in the file", 30)

    by_pid = read_lines(out)
    assert sorted(by_pid) == pids, f"lines from unexpected pids: {sorted(by_pid)} vs {pids}"
    counts = [check_sequence(pid, by_pid[pid]) for pid in pids]
    assert sorted(papa_run.list_pids(daemon, "writer")) == pids
    assert "Traceback" not in papa_run.logs(), papa_run.logs()
    print(f"\n{sum(counts)} lines from {PROCESSES} writers over {RESTARTS} restarts "
          f"in {running:.1f} s, none lost or doubled")
