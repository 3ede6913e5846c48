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

import time

from _papa_proof_run import PapaRun, restart_under_writers

PROCESSES = 2
LINES_PER_S = 5000  # per writer: 10,000 lines/s in all
RESTARTS = 5
# Output papa must hold for circusd before a restart ends: ~0.3 s of output.
DOWN_BYTES = 50_000


def test_five_restarts_lose_no_line_and_keep_the_pids(papa_run: PapaRun) -> None:
    started = time.monotonic()
    hows = ["quit" if restart % 2 == 0 else "term" for restart in range(RESTARTS)]
    lines, _ = restart_under_writers(papa_run, hows, processes=PROCESSES,
                                     lines_per_s=LINES_PER_S, down_bytes=DOWN_BYTES)
    print(f"\n{lines} lines from {PROCESSES} writers over {RESTARTS} restarts "
          f"in {time.monotonic() - started:.1f} s, none lost or doubled")
