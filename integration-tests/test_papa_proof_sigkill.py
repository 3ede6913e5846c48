"""circusd killed with SIGKILL over papa processes: they live on, and no line is lost.

Issue 17, §1 (chaos), "circusd killed with SIGKILL, with papa". Two
papa-hosted writers emit 10,000 numbered lines per second between them into
one FileStream. circusd is SIGKILLed three times while they write, so it
never releases anything: its watch connections simply drop. Each time the
writers must survive, papa must take their output back (it buffers at least
:data:`DOWN_BYTES` while no circusd runs), and a new circusd must adopt the
same pids and replay what papa kept. At the end every line of each writer is
in the file, in order: at least once, not exactly once.

What makes this hold: papa reads a process's output itself whenever no
circusd watches it, and while circusd reads the socket papa handed over,
circusd consumes a byte only after writing it (``circus._papa.handed``), so
a kill leaves every unwritten byte, an unfinished line included, to papa.
Why a line may be repeated: circusd writes, then acknowledges (papa's
records) or consumes (a handed socket). A SIGKILL between the two leaves
papa a chunk that is already in the file, and the next circusd writes it
again. Only a graceful restart (test_papa_proof_output.py) is exactly once.
"""

from __future__ import annotations

from _papa_proof_run import PapaRun, restart_under_writers

PROCESSES = 2
LINES_PER_S = 5000  # per writer
KILLS = 3
DOWN_BYTES = 50_000  # ~0.3 s of output held by papa while circusd is dead


def test_sigkilled_circusd_leaves_the_writers_and_loses_no_line(papa_run: PapaRun) -> None:
    lines, repeats = restart_under_writers(papa_run, ["kill"] * KILLS, processes=PROCESSES,
                                           lines_per_s=LINES_PER_S, down_bytes=DOWN_BYTES,
                                           repeats_allowed=True)
    print(f"\n{lines} lines from {PROCESSES} writers over {KILLS} SIGKILLs of circusd: "
          f"none lost, all in order, {repeats} written twice")
