"""Wiring: bind the endpoints, start the tasks, run the one timer until a signal.

Everything shares one asyncio loop: the event follower, the resync task,
the socket-hit epoll reader and the tick timer. Binds happen first so that a
taken address fails the start with one clear line instead of a silent
aggregator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING

import zmq
import zmq.asyncio
from circus.client import close_ssh_tunnels
from circus.stats._circusd import CircusdLink, LinkError
from circus.stats._cli import Options, version
from circus.stats._curve import start_authenticator
from circus.stats._publisher import BindError, StatsPublisher
from circus.stats._report import Reporter
from circus.stats._sampler import make_sampler
from circus.stats._sockets import SocketHits

if TYPE_CHECKING:
    from circus.stats._prometheus import PrometheusServer
    from zmq.auth.thread import ThreadAuthenticator

log = logging.getLogger("circus.stats")


class StartupError(Exception):
    """circusd-stats cannot start; the message is the one line to show."""


def _serve_prometheus(options: Options) -> PrometheusServer | None:
    if options.prometheus is None:
        return None
    # Imported here: prometheus_client costs import time that only this option needs.
    from circus.stats._prometheus import PrometheusServer

    host, port = options.prometheus
    try:
        return PrometheusServer(host, port)
    except OSError as exc:
        raise StartupError(f"cannot serve Prometheus metrics on {host}:{port}: "
                           f"{exc.strerror or exc}") from exc


async def _tick_forever(reporter: Reporter, interval: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time()
    while True:
        deadline += interval
        delay = deadline - loop.time()
        if delay < 0:  # a slow tick (or a suspended host): skip, do not catch up
            deadline, delay = loop.time(), 0.0
        await asyncio.sleep(delay)
        try:
            reporter.tick()
        except Exception as exc:  # one bad tick must not end the publishing
            # A bug, not bad input: the traceback only at debug level.
            log.error("a stats tick failed: %s: %s", type(exc).__name__, exc,
                      exc_info=log.isEnabledFor(logging.DEBUG))


async def run(options: Options) -> None:
    """Publish stats until SIGTERM/SIGINT; raises :class:`StartupError` on a bind failure."""
    sync_context = zmq.Context()
    async_context = zmq.asyncio.Context()
    publisher: StatsPublisher | None = None
    prometheus: PrometheusServer | None = None
    authenticator: ThreadAuthenticator | None = None
    loop = asyncio.get_running_loop()
    try:
        server_keys = None
        if options.curve is not None and options.curve_authorized_keys:
            try:
                authenticator = start_authenticator(sync_context, options.curve,
                                                    options.curve_authorized_keys)
            except NotADirectoryError as exc:
                raise StartupError(str(exc)) from exc
            server_keys = (options.curve.public, options.curve.secret)
        try:
            publisher = StatsPublisher(sync_context, options.statspoint, server_keys)
        except BindError as exc:
            raise StartupError(str(exc)) from exc
        prometheus = _serve_prometheus(options)
        log.info("circusd-stats %s: control %s, events %s, publishing on %s%s", version(),
                 options.endpoint, options.pubsub, options.statspoint,
                 "" if prometheus is None else
                 f", Prometheus metrics on http://{prometheus.host}:{prometheus.port}/metrics")
        link = CircusdLink(options.endpoint, options.pubsub, options.ssh, options.ssh_keyfile,
                           async_context, options.curve)
        hits = SocketHits(loop)
        sampler = make_sampler()
        reporter = Reporter(link, publisher, sampler, hits, prometheus)
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        tasks = [asyncio.create_task(coro) for coro in (
            link.follow_events(), link.keep_in_sync(), _tick_forever(reporter, options.interval))]
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper:
                    try:
                        task.result()  # a task that ended on its own did so by raising
                    except LinkError as exc:
                        raise StartupError(str(exc)) from exc
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            for task in [*tasks, stopper]:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            hits.close()
            sampler.close()
        log.info("circusd-stats stopped")
    finally:
        if prometheus is not None:
            prometheus.close()
        if publisher is not None:
            publisher.close()
        if authenticator is not None:
            authenticator.stop()
        # --ssh tunnels are forks of this process, whose SIGTERM handling they
        # inherited: end them here, or the exit would wait for them forever.
        close_ssh_tunnels()
        sync_context.term()
        async_context.term()
