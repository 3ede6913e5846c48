"""A tiny WSGI application, served by gunicorn on a socket circusd bound.

See wsgi.ini: circusd binds the socket and starts gunicorn with
``--bind fd://N``, so gunicorn never binds a port itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any],
        start_response: Callable[[str, list[tuple[str, str]]], Any]) -> Iterable[bytes]:
    """Answer every request with the path asked for and the serving process's pid."""
    body = f"hello {environ.get('PATH_INFO', '/')} from wsgi worker {os.getpid()}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
