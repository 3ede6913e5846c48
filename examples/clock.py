"""Print a tick once a second: the simplest long-running program."""

import time


def main() -> None:
    start = time.monotonic()
    ticks = 0
    while True:
        ticks += 1
        print(f"tick {ticks} (up {time.monotonic() - start:.0f} s)", flush=True)
        time.sleep(1.0)


if __name__ == "__main__":
    main()
