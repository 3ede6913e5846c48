"""The bench's baseline for socket scenarios: the app binding its port without circus.

    python _prefork.py --port P --workers 2 [--backlog 2048] -- APP_ARGV... {fd} ...

A pre-fork parent binds ``127.0.0.1:P`` itself, exactly as circus would bind a
``[socket:NAME]`` (SO_REUSEADDR, ``listen(backlog)``, non-blocking like circus's
``blocking = false`` default), then starts ``--workers`` copies of the app,
each inheriting that one listening socket with ``{fd}`` in its argv replaced
by the fd number. The kernel objects are the ones circus sets up (one
listening socket, one accept queue, N acceptors), so the only difference left
is who created them. Like circusd, it starts each worker in a session of
its own. The parent only waits; SIGTERM stops the workers.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backlog", type=int, default=2048)
    parser.add_argument("app", nargs=argparse.REMAINDER, help="app argv; {fd} is replaced")
    args = parser.parse_args(argv)
    app = [a for a in args.app if a != "--"]
    if not app or not any("{fd}" in a for a in app):
        parser.error("give the app's argv after --, with {fd} where the fd number goes")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"_prefork: cannot bind {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    sock.listen(args.backlog)
    sock.setblocking(False)
    fd = sock.fileno()
    argv_fd = [a.replace("{fd}", str(fd)) for a in app]
    # Each worker in its own session, as circusd starts them: with the kernel's
    # sched_autogroup, CPU is shared between sessions, so this decides how much
    # of the machine the workers get against the load generator.
    workers = [subprocess.Popen(argv_fd, pass_fds=(fd,), start_new_session=True)
               for _ in range(args.workers)]

    def stop(*_: object) -> None:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.wait()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for proc in workers:
        proc.wait()  # a worker dying is not replaced: the bench sees it in its counts
    return 0


if __name__ == "__main__":
    sys.exit(main())
