"""Turning one raw control message into its reply.

This is the transport-free half of the control channel: the controller hands
it the JSON frame and sends back whatever it returns. Replies that are known
at once come back as bytes, with no task or future, so ``status`` and
``list`` stay on the fast path; long operations come back as an awaitable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from collections.abc import Awaitable, Coroutine, Mapping
from typing import TYPE_CHECKING, Union

from circus.errors import (
    BAD_MSG_DATA_ERROR,
    COMMAND_ERROR,
    INVALID_JSON,
    MESSAGE_ERROR,
    OS_ERROR,
    UNKNOWN_COMMAND,
    CircusError,
    PermissionDenied,
)

from ._props import Props
from ._registry import Command, Operation, load_commands
from ._roles import Caller, refusal

if TYPE_CHECKING:
    from circus.arbiter import Arbiter

logger = logging.getLogger("circus")

MAX_MESSAGE_SIZE = 1024 * 1024
"""Requests larger than this are refused with an error (no command needs as much)."""

Outcome = Union[bytes, None, Awaitable[bytes | None]]  # noqa: UP007 (a runtime alias)
"""A reply to send now, no reply at all (a cast), or a reply still to come."""


def error_reply(reason: str, errno: int, msg_id: object = None, tb: str | None = None) -> bytes:
    """Encode an error reply the way upstream clients expect it."""
    return _encode({"status": "error", "reason": reason, "tb": tb, "time": time.time(),
                    "errno": errno, "id": msg_id})


class RawJSON(str):
    """A reply value that is already JSON text; it is spliced into the reply verbatim.

    Big replies (``stats`` of thousands of processes) encode their bulk in
    chunks between yields to the loop; one ``json.dumps`` of it all would
    block every other client for milliseconds.
    """


def _encode(reply: Mapping[str, object]) -> bytes:
    raw = {key: value for key, value in reply.items() if isinstance(value, RawJSON)}
    if not raw:
        return json.dumps(reply).encode()
    plain = json.dumps({key: value for key, value in reply.items() if key not in raw})
    spliced = "".join(f", {json.dumps(key)}: {value}" for key, value in raw.items())
    return f"{plain[:-1]}{spliced}}}".encode()


def _ok_reply(fields: object, msg_id: object) -> bytes:
    if fields is None:
        reply: dict[str, object] = {"status": "ok", "time": time.time()}
    elif isinstance(fields, dict):
        reply = {"status": "ok", "time": time.time(), **fields}
    elif isinstance(fields, list):
        reply = {"status": "ok", "time": time.time(), "results": fields}
    else:
        return error_reply("server error: the command returned no reply", BAD_MSG_DATA_ERROR,
                           msg_id)
    reply["id"] = msg_id
    try:
        return _encode(reply)
    except (TypeError, ValueError) as exc:
        logger.error("reply of id %s cannot be encoded: %s", msg_id, exc)
        return error_reply(f"server error: {exc}", BAD_MSG_DATA_ERROR, msg_id)


class Dispatcher:
    """Runs control commands against one arbiter."""

    def __init__(self, arbiter: Arbiter) -> None:
        self.arbiter = arbiter
        self.commands: dict[str, Command] = load_commands()
        # Operations whose reply was already sent; kept so they are not garbage collected.
        self._background: set[asyncio.Future[bytes | None]] = set()

    def handle(self, raw: bytes, caller: Caller | None = None) -> Outcome:
        """Handle one request frame; see :data:`Outcome`.

        ``caller`` is the CURVE client's role and key name; None (CURVE off)
        allows every command.
        """
        if len(raw) > MAX_MESSAGE_SIZE:
            return error_reply(f"message too large: {len(raw)} bytes (the limit is "
                               f"{MAX_MESSAGE_SIZE} bytes)", MESSAGE_ERROR)
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return error_reply("json invalid", INVALID_JSON)
        if not isinstance(message, dict):
            return error_reply("message invalid: expected a JSON object, got "
                               f"{type(message).__name__}", MESSAGE_ERROR)
        msg_id = message.get("id")
        cast = message.get("msg_type") == "cast"
        outcome = self._run(message, msg_id, raw, caller)
        if cast:
            if isinstance(outcome, Awaitable):
                self._in_background(outcome)
            return None
        return outcome

    def _run(self, message: Mapping[str, object], msg_id: object, raw: bytes,
             caller: Caller | None) -> Outcome:
        name = message.get("command")
        if not isinstance(name, str) or not name:
            return error_reply("message invalid 'command' is missing", MESSAGE_ERROR, msg_id)
        command = self.commands.get(name.lower())
        if command is None:
            return error_reply(f"unknown command: {name!r}", UNKNOWN_COMMAND, msg_id)
        properties = message.get("properties")
        if properties is None:
            properties = {}
        if not isinstance(properties, dict):
            return error_reply("message invalid 'properties' must be an object", MESSAGE_ERROR,
                               msg_id)
        if caller is not None:
            reason = refusal(caller, command.name, properties)
            if reason is not None:
                self._audit_refusal(caller, command.name, reason)
                return error_reply(reason, PermissionDenied.errno, msg_id)
        props = Props(properties)
        try:
            waiting = props.waiting
            result = command.handler(self.arbiter, props)
        except Exception as exc:
            return self._failure(exc, msg_id, raw)
        if not isinstance(result, Coroutine):
            return _ok_reply(result, msg_id)
        if waiting or command.always_wait:
            return self._finish(result, msg_id)
        self._in_background(self._finish(result, msg_id))
        return _ok_reply(None, msg_id)

    def _audit_refusal(self, caller: Caller, command: str, reason: str) -> None:
        # Names only the key and the command: never the request's properties,
        # which may hold a command line or environment.
        logger.warning("refused %r from key %r (role %s)", command, caller.name, caller.role)
        self.arbiter.events.publish_topic("arbiter.refused", {
            "command": command, "key": caller.name, "role": caller.role, "reason": reason,
        })

    def _failure(self, exc: BaseException, msg_id: object, raw: bytes) -> bytes:
        if isinstance(exc, CircusError):
            return error_reply(str(exc), exc.errno, msg_id)
        if isinstance(exc, OSError):
            return error_reply(str(exc), OS_ERROR, msg_id)
        logger.exception("command %r failed", raw)
        return error_reply(f"command {raw!r}: {exc}", COMMAND_ERROR, msg_id,
                           tb=traceback.format_exc())

    async def _finish(self, operation: Operation, msg_id: object) -> bytes:
        try:
            fields = await operation
        except CircusError as exc:
            return error_reply(str(exc), exc.errno, msg_id)
        except Exception as exc:
            logger.exception("command id %s failed", msg_id)
            return error_reply(f"server error: {exc}", BAD_MSG_DATA_ERROR, msg_id)
        return _ok_reply(fields, msg_id)

    def _in_background(self, operation: Awaitable[bytes | None]) -> None:
        task = asyncio.ensure_future(operation)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for operations still running after their reply was sent."""
        while self._background:
            await asyncio.gather(*tuple(self._background), return_exceptions=True)
