"""The arbiter's side of papa: the kernel, the watch thread, sockets and outages."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import psutil

from circus._papa import names
from circus._papa.kernel import PapaError, PapaKernel
from circus._papa.pump import WatchPump
from circus._papa.watching import PapaWatching
from circus.errors import ConfigError
from circus.sockets import CircusSocket, referenced_sockets

if TYPE_CHECKING:
    from circus.arbiter import Arbiter
    from circus.watcher import Watcher

logger = logging.getLogger("circus")

# Seconds to wait for the processes of a dead papa to die of our SIGKILL.
_STRANDED_TIMEOUT = 5.0
_POLL = 0.02


def uses_papa(arbiter: Arbiter) -> bool:
    """Whether any watcher or socket of ``arbiter`` has ``use_papa``."""
    return any(w.use_papa for w in arbiter.watchers) or any(
        isinstance(s, CircusSocket) and s.use_papa for s in arbiter.sockets.values())


class PapaHost:
    """papa for one arbiter: build it with :meth:`open`, end it with :meth:`close`."""

    def __init__(self, arbiter: Arbiter, kernel: PapaKernel, pump: WatchPump) -> None:
        self._arbiter = arbiter
        self.kernel = kernel
        self.pump = pump
        self.alive = True
        self._watching: dict[str, PapaWatching] = {}
        self._fallback: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, arbiter: Arbiter, endpoint: str) -> PapaHost:
        """Reach papa (starting a detached one if none listens) and make the papa sockets.

        Raises:
            PapaError: papa is missing, unreachable or incompatible; a socket
                cannot be made.
            ConfigError: a watcher uses a socket papa cannot give it.
        """
        check_config(arbiter)
        kernel = await PapaKernel.connect(endpoint)
        logger.info("using papa %s at %s", kernel.version, endpoint)
        host = cls(arbiter, kernel, WatchPump(asyncio.get_running_loop()))
        try:
            await host.make_sockets()
        except BaseException:
            await host.close()
            raise
        return host

    @property
    def endpoint(self) -> str:
        """Where papa listens."""
        return self.kernel.endpoint

    def watching(self, watcher: Watcher) -> PapaWatching | None:
        """The papa side of ``watcher``, or None once papa is gone (plain processes)."""
        if not self.alive:
            return None
        found = self._watching.get(watcher.name)
        if found is None:
            names.check_name("watcher", watcher.name)
            found = self._watching[watcher.name] = PapaWatching(watcher, self)
        return found

    def socket_references(self) -> dict[str, str]:
        """``sockets.<name>`` → papa's fd reference, for papa processes' ``$(circus.sockets.X)``."""
        return {f"sockets.{name.lower()}": names.socket_reference(name)
                for name, sock in self._arbiter.sockets.items()
                if isinstance(sock, CircusSocket) and sock.papa_held}

    async def make_sockets(self) -> None:
        """Have papa listen on every use_papa socket (it returns those it already has)."""
        client = self.kernel.client
        for name, sock in self._arbiter.sockets.items():
            if not (isinstance(sock, CircusSocket) and sock.use_papa):
                continue
            names.check_name("socket", name)
            options: dict[str, Any] = {
                "family": int(sock.family),
                "socket_type": int(sock.type),
                "backlog": sock.backlog,
            }
            if sock.path:
                options.update(path=sock.path, umask=sock.umask)
            else:
                options.update(host=sock.host, port=sock.port, interface=sock.interface,
                               reuseport=sock.so_reuseport or None)
            try:
                details = await self.kernel.call(client.make_socket, names.socket_name(name),
                                                 **options)
            except PapaError as exc:
                raise PapaError(f"socket {name!r}: {exc}") from None
            sock.held_by_papa(details.get("host"), details.get("port"))

    def kernel_lost(self, reason: str) -> None:
        """papa died: say so once, then every papa watcher falls back to plain processes."""
        if not self.alive:
            return
        self.alive = False
        watchers = [w for w in self._arbiter.watchers if w.name in self._watching]
        self._watching.clear()
        logger.error("papa at %s is gone (%s); watchers %s fall back to processes of "
                     "circusd's own, and papa sockets are bound by circusd", self.endpoint,
                     reason, ", ".join(w.name for w in watchers) or "(none)")
        stranded = [pid for watcher in watchers for pid in watcher.papa_lost()]
        self._fallback = asyncio.get_running_loop().create_task(
            self._fall_back(watchers, stranded))

    async def _fall_back(self, watchers: list[Watcher], stranded: list[int]) -> None:
        # The killed processes hold copies of papa's listening sockets: binding
        # the addresses again has to wait until they are gone.
        await _until_gone(stranded, _STRANDED_TIMEOUT)
        for sock in self._arbiter.sockets.values():
            if isinstance(sock, CircusSocket) and sock.papa_held:
                sock.papa_held = False
                try:
                    sock.bind_and_listen()
                except Exception as exc:
                    logger.error("%s", exc)
        await asyncio.gather(*(watcher.manage_processes() for watcher in watchers))

    async def close(self) -> None:
        """Stop watching and disconnect; papa keeps its processes, sockets and values."""
        if self._fallback is not None:
            self._fallback.cancel()
        await self.pump.stop()
        await self.kernel.close(wait=self.alive)


async def _until_gone(pids: list[int], timeout: float) -> None:
    """Wait (polling: they are not our children) until no pid runs; zombies count as gone."""
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if _running(pid)]
        if pids:
            await asyncio.sleep(_POLL)


def _running(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def check_config(arbiter: Arbiter) -> None:
    """Refuse a watcher and a socket that cannot meet: papa cannot hand over circusd's
    sockets, and circusd has no copy of papa's.

    Raises:
        ConfigError: naming the watcher, the socket and the fix.
    """
    for watcher in arbiter.watchers:
        if watcher.use_papa:
            for option in ("stdin_socket", "socket_activation", "on_demand"):
                if getattr(watcher, option):
                    raise ConfigError(f"[watcher:{watcher.name}]: {option} cannot be used with "
                                      "use_papa (papa holds the sockets and hands them over "
                                      "only as $(circus.sockets.NAME))")
            if watcher.umask is not None:
                logger.warning("watcher %s: umask is not applied to papa processes (papa has "
                               "no such option)", watcher.name)
        used = referenced_sockets(watcher.cmd, watcher.args, watcher.shell_args)
        if watcher.stdin_socket:
            used.append(watcher.stdin_socket.lower())
        for name in used:
            sock = arbiter.sockets.get(name)
            if not isinstance(sock, CircusSocket) or sock.use_papa == watcher.use_papa:
                continue
            if watcher.use_papa:
                raise ConfigError(f"[watcher:{watcher.name}] has use_papa = true but socket "
                                  f"{name!r} does not: set use_papa = true in [socket:{name}]")
            raise ConfigError(f"[watcher:{watcher.name}] uses socket {name!r}, which papa "
                              f"holds (use_papa = true): set use_papa = true in "
                              f"[watcher:{watcher.name}] too")
