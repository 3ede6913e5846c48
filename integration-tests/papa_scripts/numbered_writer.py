"""Writes numbered lines to stdout at a fixed rate until a stop file appears.

    python numbered_writer.py LINES_PER_S STOP_FILE [TOKEN]

Every line is ``<pid> <seq>`` with seq counting from 0, padded to a fixed
width. Each ``write`` holds whole lines and stays under PIPE_BUF, so a reader
of the pipe never sees a line cut by another process's output. Once
STOP_FILE exists the writer prints ``<pid> end <count>`` and sleeps until it
is killed, so its pid stays observable. TOKEN is only there to mark the argv.
"""

from __future__ import annotations

import os
import sys
import time

PIPE_BUF = 4096


def main() -> None:
    rate = float(sys.argv[1])
    stop_file = sys.argv[2]
    pid = os.getpid()
    line_size = len(f"{pid} {0:09d}\n")
    per_write = max(1, PIPE_BUF // line_size)
    start = time.monotonic()
    seq = 0
    while not os.path.exists(stop_file):
        due = int((time.monotonic() - start) * rate)
        while seq < due:
            count = min(due - seq, per_write)
            os.write(1, "".join(f"{pid} {n:09d}\n"
                                           for n in range(seq, seq + count)).encode())
            seq += count
        time.sleep(0.002)
    os.write(1, f"{pid} end {seq}\n".encode())
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main()
