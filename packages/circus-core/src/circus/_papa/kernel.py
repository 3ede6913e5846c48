"""Talking to the papa kernel: discovery, the version check and commands off the loop.

papa's client blocks, so every command runs in one dedicated worker thread
(one thread keeps the commands in order); the event loop only awaits them.
The ``papa`` package is imported here, and only when some ``use_papa`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from circus._base.protocol import EndpointError, parse_endpoint
from circus._papa.worker import Worker
from circus.errors import CircusError

T = TypeVar("T")

DEFAULT_ENDPOINT = "tcp://127.0.0.1:20202"
"""papa's own default, as in upstream circus."""

# Seconds to reach papa, starting one included.
CONNECT_TIMEOUT = 10.0
# Seconds a command may take: a papa that hangs counts as gone, so nothing waits forever.
COMMAND_TIMEOUT = 10.0
_PROTOCOL = "1.0.6"


class PapaError(CircusError):
    """papa is missing, unreachable, incompatible or refused a command.

    ``lost`` is True when the connection broke or papa did not answer in
    time (papa is gone), False when papa answered with an error.
    """

    def __init__(self, message: str, lost: bool = False) -> None:
        super().__init__(message)
        self.lost = lost


def import_papa() -> ModuleType:
    """Import the papa client, or say which extra installs it."""
    try:
        return importlib.import_module("papa")
    except ImportError:
        raise PapaError("use_papa needs the papa package: pip install 'circus-core[papa]'"
                        ) from None


def client_address(endpoint: str) -> int | str:
    """What ``papa.Papa()`` takes for ``endpoint``: a port (tcp) or an absolute path (ipc).

    Raises:
        PapaError: not tcp://127.0.0.1:PORT (papa only listens on the loopback)
            nor ipc:///absolute/path (or a bare absolute path).
    """
    text = endpoint.strip()
    if "://" not in text:
        text = f"ipc://{text}"
    try:
        parsed = parse_endpoint(text, ("tcp", "ipc"))
    except EndpointError as exc:
        raise PapaError(f"papa_endpoint {endpoint!r}: {exc}") from None
    if parsed.scheme == "ipc":
        if not parsed.address.startswith("/"):
            raise PapaError(f"papa_endpoint {endpoint!r}: the ipc path must be absolute")
        return parsed.address
    if parsed.host not in ("127.0.0.1", "localhost"):
        raise PapaError(f"papa_endpoint {endpoint!r}: papa listens on 127.0.0.1 only")
    assert parsed.port is not None
    return parsed.port


class PapaKernel:
    """One connection to papa plus the thread its blocking commands run in.

    Build it with :meth:`connect`. ``client`` is the ``papa.Papa`` object;
    call its methods through :meth:`call` from the loop.
    """

    def __init__(self, endpoint: str, client: Any, version: str, worker: Worker,
                 refusal: type[Exception] = RuntimeError, handover: bool = False,
                 keep: bool = False) -> None:
        self.endpoint = endpoint
        self.client = client
        self.version = version
        # papa can hand output sockets over: a unix socket endpoint and a kernel
        # that says so. Then circusd reads the output itself (circus._papa.handed).
        self.handover = handover
        # papa keeps a watch open for processes added later (one connection per watcher).
        self.keep = keep
        # papa.Error itself is papa's answer; its subclasses (a lost connection) are not.
        self._refusal = refusal
        self._worker = worker

    @classmethod
    async def connect(cls, endpoint: str, timeout: float = CONNECT_TIMEOUT) -> PapaKernel:
        """Reach papa at ``endpoint``, starting a detached kernel if nothing listens.

        Raises:
            PapaError: papa is not installed, unreachable (the message names
                the endpoint) or of an incompatible version.
        """
        module = import_papa()
        address = client_address(endpoint)
        worker = Worker("papa")
        try:
            client, reply = await worker.submit(
                lambda: _open(module, endpoint, address, timeout))
        except BaseException:
            worker.close()
            raise
        features = reply.get("features", "").split(",")
        handover = (isinstance(address, str) and "handover" in features
                    and not os.environ.get("CIRCUS_PAPA_NO_HANDOVER"))
        return cls(endpoint, client, reply.get("version", ""), worker, module.Error, handover,
                   "keep" in features)

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function(*args, **kwargs)`` (a client method) in the papa thread.

        Raises:
            PapaError: papa refused or the connection is lost; the message
                names the endpoint.
        """
        running = self._worker.submit(lambda: function(*args, **kwargs))
        try:
            return await asyncio.wait_for(running, COMMAND_TIMEOUT)
        except asyncio.TimeoutError:
            raise PapaError(f"papa at {self.endpoint} did not answer in {COMMAND_TIMEOUT:g} s",
                            lost=True) from None
        except RuntimeError as exc:  # papa.Error is a RuntimeError
            raise PapaError(f"papa at {self.endpoint}: {exc}",
                            lost=type(exc) is not self._refusal) from exc
        except OSError as exc:
            raise PapaError(f"papa at {self.endpoint}: {exc}", lost=True) from exc

    async def close(self, wait: bool = True) -> None:
        """Close the connection (papa and its processes keep running).

        The close runs after the queued commands, in the papa thread; with
        ``wait`` False (papa is gone or hung) nothing waits for it.
        """
        closing = self._worker.submit(self.client.close)
        self._worker.close()
        if wait:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(closing, COMMAND_TIMEOUT)


def _open(module: ModuleType, endpoint: str, address: int | str,
          timeout: float) -> tuple[Any, dict[str, str]]:
    try:
        client = module.Papa(address, connection_timeout=timeout)
    except (module.Error, OSError) as exc:
        raise PapaError(f"papa at {endpoint} is unreachable: {exc}") from None
    try:
        reply = client.version()
    except module.Error as exc:
        client.close()
        raise PapaError(f"papa at {endpoint} is not compatible: it does not answer 'version' "
                        f"({exc}); circus needs the kernel of the papa package "
                        "(python -m papa.server)") from None
    except OSError as exc:
        client.close()
        raise PapaError(f"papa at {endpoint} is unreachable: {exc}") from None
    if reply.get("protocol") != _PROTOCOL:
        client.close()
        raise PapaError(f"papa at {endpoint} is not compatible: it speaks protocol "
                        f"{reply.get('protocol') or 'unknown'}, circus needs {_PROTOCOL} "
                        f"(papa version {reply.get('version') or 'unknown'})")
    return client, reply
