"""Pretend to process jobs, logging one line per job.

Usage: worker.py WID. circus gives each process of a watcher a small number
(its wid) through $(circus.wid); the worker puts it in every line so the
interleaved log shows which process did what. On SIGTERM it finishes the
current job and exits cleanly, which is what a graceful stop looks like.
"""

import os
import random
import signal
import sys
import time

stopping = False


def request_stop(signum: int, frame: object) -> None:
    global stopping
    stopping = True


def main() -> None:
    wid = sys.argv[1] if len(sys.argv) > 1 else "?"
    signal.signal(signal.SIGTERM, request_stop)
    print(f"worker {wid} (pid {os.getpid()}): ready", flush=True)
    job = 0
    while not stopping:
        job += 1
        took = random.uniform(0.1, 0.6)
        time.sleep(took)
        print(f"worker {wid}: job {job} done in {took * 1000:.0f} ms", flush=True)
    print(f"worker {wid}: SIGTERM received, stopped after {job} jobs", flush=True)


if __name__ == "__main__":
    main()
