"""circusd killed with SIGKILL over papa processes: they live on, and no line is lost.

Issue 17, §1 (chaos), "circusd killed with SIGKILL, with papa". Two
papa-hosted writers emit 10,000 numbered lines per second between them into
one FileStream. circusd is SIGKILLed three times while they write, so it
never releases anything: its watch connections simply drop. Each time the
writers must survive, papa must take their output back (it buffers at least
:data:`DOWN_BYTES` while no circusd runs), and a new circusd must adopt the
same pids and replay what papa kept. At the end every line of each writer is
in the file exactly once and in order.

What makes this hold: papa reads a process's output itself whenever no
circusd watches it, and while circusd reads the socket papa handed over,
circusd consumes a byte only after writing it (``circus._papa.handed``), so
a kill leaves every unwritten byte, an unfinished line included, to papa.
"""

from __future__ import annotations

import shlex
from functools import partial
from pathlib import Path

from _circus_run import PYTHON, alive, wait_for
from _papa_proof_run import PapaRun, check_sequence, read_lines

WRITER = Path(__file__).resolve().parent / "papa_scripts" / "numbered_writer.py"
PROCESSES = 2
LINES_PER_S = 5000  # per writer
KILLS = 3
DOWN_BYTES = 50_000  # ~0.3 s of output held by papa while circusd is dead


def test_sigkilled_circusd_leaves_the_writers_and_loses_no_line(papa_run: PapaRun) -> None:
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

    def written_by_all(lines: int) -> bool:
        got = read_lines(out)
        return all(len(got[pid]) >= lines for pid in pids)

    wait_for(lambda: written_by_all(1000), "both writers' first lines in the file")
    for kill in range(KILLS):
        papa_run.stop_daemon(daemon, "kill")
        wait_for(lambda: int(papa_run.papa_stats()["buffered"]) >= DOWN_BYTES,
                 f"papa to buffer {DOWN_BYTES} bytes after circusd's SIGKILL {kill}")
        assert all(alive(pid) for pid in pids), "a writer died with circusd"
        daemon = papa_run.start_papa_daemon(config, endpoint, pubsub)
        assert sorted(papa_run.list_pids(daemon, "writer")) == pids, (
            f"kill {kill}: the new circusd did not adopt {pids}\n{daemon.log_text()}")
        target = max(len(lines) for lines in read_lines(out).values()) + 1000
        wait_for(partial(written_by_all, target), f"output after kill {kill}")
    stop.touch()
    wait_for(lambda: all(lines and lines[-1].startswith("end ")
                         for lines in (read_lines(out)[pid] for pid in pids)),
             "both writers' end lines in the file", 30)

    by_pid = read_lines(out)
    assert sorted(by_pid) == pids, f"lines from unexpected pids: {sorted(by_pid)} vs {pids}"
    counts = [check_sequence(pid, by_pid[pid]) for pid in pids]
    assert sorted(papa_run.list_pids(daemon, "writer")) == pids
    assert "Traceback" not in papa_run.logs(), papa_run.logs()
    print(f"\n{sum(counts)} lines from {PROCESSES} writers over {KILLS} SIGKILLs of circusd, "
          "none lost or doubled")
