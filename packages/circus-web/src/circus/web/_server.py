"""Start and stop the console: nodes, HTTP(S) server, signals."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
from pathlib import Path

import tornado.httpserver
import tornado.netutil
from circus.web._app import Console, make_app
from circus.web._audit import Audit
from circus.web._auth import AuthConfigError, Authenticator, load_tokens, load_users
from circus.web._cli import Options, fd_address, is_loopback, package_version
from circus.web._hub import Hub
from circus.web._node import Node, NodeSpec

logger = logging.getLogger("circus.web")


class StartupError(Exception):
    """circushttpd cannot start; the message is one line for the user."""


def _authenticator(options: Options) -> Authenticator:
    try:
        users = load_users(Path(options.users_file)) if options.users_file else {}
        tokens = load_tokens(Path(options.token_file)) if options.token_file else {}
    except AuthConfigError as exc:
        raise StartupError(str(exc)) from None
    return Authenticator(users, tokens)


def _ssl_context(options: Options) -> ssl.SSLContext | None:
    if not options.certfile:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(options.certfile, options.keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(f"cannot load --certfile {options.certfile} / --keyfile "
                           f"{options.keyfile}: {exc}") from None
    return context


def _listeners(options: Options) -> tuple[list[socket.socket], str]:
    if options.fd is not None:
        try:
            address = fd_address(options.fd)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        sock = socket.socket(fileno=options.fd)
        sock.setblocking(False)
        return [sock], address
    try:
        return tornado.netutil.bind_sockets(options.port, options.host), options.host
    except OSError as exc:
        raise StartupError(f"cannot listen on {options.host}:{options.port}: "
                           f"{exc.strerror or exc}") from None


async def _discover(options: Options) -> list[NodeSpec]:
    if not options.multicast:
        return []
    from circus.web._discovery import discover, parse_multicast
    group, port = parse_multicast(options.multicast)
    found = await asyncio.get_running_loop().run_in_executor(None, discover, group, port)
    logger.info("multicast %s: found %s", options.multicast, ", ".join(found) or "nothing")
    return [NodeSpec(endpoint) for endpoint in found]


async def run(options: Options, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGTERM or SIGINT.

    Raises:
        StartupError: bad auth files, TLS files, address, or an unsafe bind.
    """
    auth = _authenticator(options)
    tls = _ssl_context(options)
    cookie_secret = None
    if options.cookie_secret_file:
        try:
            cookie_secret = Path(options.cookie_secret_file).read_bytes().strip()
        except OSError as exc:
            raise StartupError(f"--cookie-secret-file {options.cookie_secret_file}: "
                               f"{exc.strerror or exc}") from None
        if len(cookie_secret) < 32:
            raise StartupError(f"--cookie-secret-file {options.cookie_secret_file}: "
                               "needs at least 32 bytes")
    sockets, address = _listeners(options)
    if not is_loopback(address) and not auth.enabled:
        for sock in sockets:
            sock.close()
        raise StartupError(f"refusing to serve on {address} without authentication: "
                           "give --users-file or --token-file, or listen on 127.0.0.1")
    hub = Hub()
    try:
        audit = Audit(hub, options.audit_endpoint)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise StartupError(str(exc)) from None
    specs = list(options.nodes) + [spec for spec in await _discover(options)
                                   if spec not in options.nodes]
    nodes = {f"n{index}": Node(f"n{index}", spec, hub, interval=options.poll_interval,
                               ssh_server=options.ssh, ssh_keyfile=options.ssh_keyfile,
                               curve=options.curve)
             for index, spec in enumerate(specs)}
    console = Console(nodes=nodes, hub=hub, auth=auth, audit=audit, tls=tls is not None,
                      version=package_version())
    server = tornado.httpserver.HTTPServer(make_app(console, cookie_secret), ssl_options=tls,
                                          xheaders=False)
    server.add_sockets(sockets)
    for node in nodes.values():
        node.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    scheme = "https" if tls else "http"
    logger.info("circushttpd %s serving %s on %s://%s (%s)", console.version,
                ", ".join(s.endpoint for s in specs) or "no circusd", scheme,
                ", ".join("{}:{}".format(*s.getsockname()[:2]) for s in sockets
                          if s.family != socket.AF_UNIX),
                "login required" if auth.enabled else "no login: loopback only")
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        server.stop()
        for node in nodes.values():
            await node.close()
        audit.close()
        await server.close_all_connections()
