"""A tiny pre-fork HTTP app serving on a listening socket that circusd bound.

circusd binds ``[socket:web]`` once and starts several copies of this program,
each given the socket's file descriptor::

    python3 web.py --fd $(circus.sockets.web)

Every copy accepts on the same socket, so the kernel spreads connections over
them, and each answers ``GET`` with a line naming its own pid.

Signals:

* SIGTERM or SIGINT: stop accepting, finish the request in progress, exit 0.
  Connections still waiting in the socket's queue are not lost: circusd and the
  other workers keep the socket open, and one of them accepts them. This is what
  makes a graceful ``reload`` drop nothing.
* SIGHUP: "reload the configuration". There is none, so the worker only counts
  it; the count is in every response, which shows ``send_hup`` at work.
"""

from __future__ import annotations

import argparse
import http.server
import os
import signal
import socket
import socketserver
import sys
import threading
from typing import Any

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class InheritedSocketServer(socketserver.TCPServer):
    """A TCPServer over a socket that is already bound and listening."""

    def __init__(self, sock: socket.socket,
                 handler: type[socketserver.BaseRequestHandler]) -> None:
        # BaseServer, not TCPServer: TCPServer.__init__ would create and bind
        # a socket of its own.
        socketserver.BaseServer.__init__(self, sock.getsockname(), handler)
        self.socket = sock
        self.hups = 0
        # The socket's file description is shared with every worker. Non-blocking,
        # a worker that loses the race for a connection gets EAGAIN (which
        # socketserver ignores) instead of blocking in accept() and missing a stop.
        sock.setblocking(False)

    def get_request(self) -> tuple[Any, Any]:
        conn, address = self.socket.accept()
        conn.setblocking(True)
        return conn, address


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the worker's pid and how many SIGHUPs it got."""

    server: InheritedSocketServer

    def do_GET(self) -> None:
        body = f"hello from worker {os.getpid()} (hups: {self.server.hups})\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Worker-Pid", str(os.getpid()))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # One line per request would swamp the log under load.
        pass


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True,
                        help="file descriptor of a listening socket, e.g. $(circus.sockets.web)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        sock = socket.socket(fileno=args.fd)
    except OSError as exc:
        print(f"web.py: --fd {args.fd} is not a socket: {exc.strerror}", file=sys.stderr)
        return 2
    # Block the signals before the server thread starts, so it inherits the mask
    # and they are only ever taken by sigwait() below.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS | {signal.SIGHUP})
    server = InheritedSocketServer(sock, Handler)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    serving.start()
    print(f"worker {os.getpid()} serving on {sock.getsockname()}", flush=True)
    while (signum := signal.sigwait(STOP_SIGNALS | {signal.SIGHUP})) == signal.SIGHUP:
        server.hups += 1
        print(f"worker {os.getpid()} got SIGHUP ({server.hups})", flush=True)
    # shutdown() returns once serve_forever has finished the request in hand.
    server.shutdown()
    serving.join()
    server.server_close()  # closes this worker's copy only; circusd keeps its own
    print(f"worker {os.getpid()} stopped on {signal.Signals(signum).name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
