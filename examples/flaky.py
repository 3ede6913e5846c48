"""Run for a few seconds, then crash: something for circus to restart.

It always runs well over a second first, so circus counts each run as a
successful start followed by a crash and respawns it at once, instead of
treating it as a quick exit and backing off.
"""

import os
import random
import sys
import time


def main() -> None:
    lifetime = random.uniform(3.0, 8.0)
    print(f"flaky (pid {os.getpid()}): up, will crash in {lifetime:.1f} s", flush=True)
    time.sleep(lifetime)
    if random.random() < 0.5:
        print("flaky: giving up with exit code 3", file=sys.stderr, flush=True)
        sys.exit(3)
    raise RuntimeError("flaky: simulated crash")


if __name__ == "__main__":
    main()
