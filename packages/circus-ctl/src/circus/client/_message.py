"""Request building and reply decoding for the JSON control channel."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypeAlias, cast

from circus.client._errors import ProtocolError

if TYPE_CHECKING:
    from circus.client._shapes import JSONObject, Reply, Request

Message: TypeAlias = Mapping[str, object]
"""A whole request, as ``call`` also takes one (a :class:`Request` or any mapping)."""


def parse_published(frames: Sequence[bytes]) -> tuple[str, JSONObject] | None:
    """``(topic, payload)`` of a published ``[topic, json]`` message, or None if malformed.

    For any PUB channel (events, stats). Strict, unlike the subscribers'
    decoding: anything but two frames, a UTF-8 topic and a JSON object is refused.
    """
    if len(frames) != 2:
        return None
    try:
        topic = frames[0].decode("utf-8")
        payload = json.loads(frames[1])
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return None
    return (topic, payload) if isinstance(payload, dict) else None


def make_message(command: str, **props: object) -> Request:
    """A request body ``{"command": ..., "properties": {...}}`` (no id yet)."""
    return {"command": command, "properties": props}


def normalise(command: str | Message, props: dict[str, object]) -> dict[str, object]:
    """Turn ``call``'s arguments into a request dict with a fresh ``id``.

    ``command`` may be a command name (then ``props`` are its properties), a
    request dict or a JSON string holding one, as upstream's ``call(cmd)`` took.
    """
    if isinstance(command, str) and command.lstrip().startswith("{"):
        try:
            command = json.loads(command)
        except ValueError as exc:
            raise ValueError(f"the message is not valid JSON: {exc}") from None
    if isinstance(command, str):
        message: dict[str, object] = {"command": command, "properties": props}
    elif isinstance(command, Mapping):
        if "command" not in command:
            raise ValueError("the message has no 'command' key")
        message = dict(command)
        given = message.get("properties") or {}
        if not isinstance(given, Mapping):
            raise TypeError("the message's 'properties' must be a mapping, "
                            f"not {type(given).__name__}")
        message["properties"] = {**given, **props}
    else:
        raise TypeError(f"command must be a str or a mapping, not {type(command).__name__}")
    message["id"] = os.urandom(16).hex()  # a uuid4-sized random id, without importing uuid
    return message


def encode(message: Message) -> bytes:
    """The one UTF-8 JSON frame sent for ``message``."""
    return json.dumps(message).encode("utf-8")


def decode_reply(frame: bytes) -> Reply:
    """Parse a reply frame; raise :class:`ProtocolError` if it is not a JSON object.

    The object is returned as the daemon sent it: its keys are not checked
    against the :class:`Reply` shapes, which describe what circusd sends.
    """
    try:
        reply = json.loads(frame)
    except ValueError as exc:
        raise ProtocolError(f"the daemon sent a frame that is not JSON: {frame[:80]!r}") from exc
    if not isinstance(reply, dict):
        raise ProtocolError(f"the daemon sent a reply that is not an object: {frame[:80]!r}")
    return cast("Reply", reply)
