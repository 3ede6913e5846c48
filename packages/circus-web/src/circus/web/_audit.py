"""The audit trail: every action (and every refused one) with its user.

Each record is logged on the ``circus.web.audit`` logger, sent to every
open browser (SSE event ``audit``), and, with ``--audit-endpoint``,
published on a ZeroMQ PUB socket as topic ``circushttpd.audit`` with a JSON
payload, the same two-frame shape as circusd's event channel, so
``circusctl listen --endpoint <audit endpoint> circushttpd.`` shows it.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import zmq
from circus.web._hub import Hub

logger = logging.getLogger("circus.web.audit")

AUDIT_TOPIC = b"circushttpd.audit"
"""The topic audit records are published under."""


class Audit:
    """Records actions; owns the optional PUB socket."""

    def __init__(self, hub: Hub, endpoint: str | None = None) -> None:
        self.hub = hub
        self._context: zmq.Context[Any] | None = None
        self._socket: zmq.Socket[Any] | None = None
        if endpoint:
            self._context = zmq.Context()
            self._socket = self._context.socket(zmq.PUB)
            self._socket.setsockopt(zmq.LINGER, 0)
            try:
                self._socket.bind(endpoint)
            except zmq.ZMQError as exc:
                self.close()
                raise OSError(f"cannot bind the audit endpoint {endpoint}: {exc}") from exc

    def record(self, user: str, role: str, action: str, node: str, target: dict[str, Any],
               result: str) -> dict[str, Any]:
        """Log, stream and publish one action; returns the record."""
        entry = {"time": time.time(), "user": user, "role": role, "action": action,
                 "node": node, "target": target, "result": result}
        logger.info("user=%s role=%s action=%s node=%s target=%s result=%s", user, role,
                    action, node, json.dumps(target, sort_keys=True), result)
        self.hub.publish("audit", entry)
        if self._socket is not None:
            self._socket.send_multipart([AUDIT_TOPIC, json.dumps(entry).encode()])
        return entry

    def close(self) -> None:
        """Close the PUB socket, if any."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._context is not None:
            self._context.term()
            self._context = None
