"""Fuzzing a real circusd's control channel: it replies or drops, and keeps serving.

Each hypothesis example sends a batch of arbitrary messages from one DEALER:
frame lists of any length, bytes that are not JSON, JSON that is not a
command, and commands whose properties have the wrong types. Then a plain
``list`` must be answered within a few seconds. Every reply that does come is
a well-formed JSON object. At the end circusd still runs, its stderr holds no
traceback, and it stops cleanly.

The generated values are kept away from what would harm the machine rather
than circusd: no command runs but ``sleep``, counts stay small (no fork
bomb), and no pid is one another process could own.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import zmq
from circus.commands import load_commands
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = 500
MAX_CHILDREN = 30
COMMANDS = sorted(set(load_commands()) - {"quit"})
PROPERTY_NAMES = ["name", "pid", "process", "keys", "option", "value", "extended", "waiting",
                  "match", "nb", "signum", "options", "cmd", "args", "start", "nostop",
                  "graceful", "sequential", "children", "recursive", "childpid",
                  "graceful_timeout", "action", "lines", "sleeper", "", "\x00"]
SAFE_OPTION_KEYS = ["numprocesses", "graceful_timeout", "priority", "stop_signal", "respawn",
                    "warmup_delay", "singleton", "max_age", "max_retry", "env", "copy_env",
                    "autostart", "check_flapping", "send_hup", "stop_children", "nope", ""]
# Options that would run or load something of the fuzzer's choosing.
UNSAFE = ("cmd", "args", "executable", "shell", "shell_args", "virtualenv", "uid", "gid",
          "use_papa", "hooks", "stdout_stream", "stderr_stream", "working_dir", "rlimit_")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 4),
    st.floats(-3, 4) | st.sampled_from([math.nan, math.inf, -math.inf]),
    st.sampled_from(["sleeper", "SLEEPER", "ghost", "*", "sl*", "HUP", "KILL", "STOP", "9",
                     "1", "-1", "", "x y", "numprocesses", "true", "\x00", "é"]),
    st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)
options = st.dictionaries(st.one_of(st.sampled_from(SAFE_OPTION_KEYS), st.text(max_size=6)),
                          values, max_size=3)
properties = st.dictionaries(st.sampled_from(PROPERTY_NAMES),
                             st.one_of(values, options), max_size=5)
commands = st.fixed_dictionaries(
    {"command": st.one_of(st.sampled_from(COMMANDS), st.text(max_size=6)),
     "properties": st.one_of(properties, values)},
    optional={"id": st.one_of(values, st.text(max_size=8)),
              "msg_type": st.sampled_from(["cast", "dealer", "", "x"])})
payloads = st.one_of(
    commands.map(lambda m: json.dumps(_defuse(m)).encode()),
    values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=40),
    st.sampled_from([b"", b"{", b"[]", b"null", b'{"command": null}', b"\xff\xfe",
                     b'{"command": "list", "properties": []}', b"NaN", b"1e999"]),
)
# The control socket's messages are [identity, payload]: a DEALER sends the payload
# alone; extra frames (or none) make the message malformed.
messages = st.one_of(payloads.map(lambda p: [p]),
                     st.lists(st.binary(max_size=16), min_size=2, max_size=4))


def _unsafe(key: object) -> bool:
    return isinstance(key, str) and key.lower().strip().startswith(UNSAFE)


def _defuse(message: dict[str, Any]) -> dict[str, Any]:
    """Keep a generated command from touching anything but circusd's own sleepers."""
    props = message.get("properties")
    if isinstance(props, dict):
        for key in ("pid", "childpid"):
            # Never a pid that is not circusd's: -1 and 0 would mean a group or everyone.
            if isinstance(props.get(key), (int, float)) and not isinstance(props[key], bool):
                props[key] = 4_194_304 + abs(int(props[key])) if math.isfinite(props[key]) \
                    else props[key]
        if "cmd" in props:
            props["cmd"] = "sleep 60"
        props.pop("args", None)
        for key in list(props):
            if _unsafe(key) and key != "cmd":
                del props[key]
        if isinstance(props.get("options"), dict):
            for key in list(props["options"]):
                if _unsafe(key):
                    del props["options"][key]
        if props.get("option") is not None and _unsafe(str(props["option"])):
            props["option"] = "numprocesses"
            props["value"] = 1
    return message


CONFIG = """\
[circus]
check_delay = 0.1

[watcher:sleeper]
cmd = sleep 3600
numprocesses = 2
graceful_timeout = 1
"""


def _probe(sock: zmq.Socket[bytes], timeout_ms: int = 10_000) -> tuple[int, int]:
    """Send ``list`` and read until its reply; return (other replies, malformed ones)."""
    probe_id = uuid.uuid4().hex
    sock.send(json.dumps({"command": "list", "properties": {}, "id": probe_id}).encode())
    others = malformed = 0
    while True:
        assert sock.poll(timeout_ms), "circusd did not answer a plain `list` after a batch"
        frames = sock.recv_multipart()
        try:
            reply = json.loads(frames[0])
        except ValueError:
            reply = None
        # A reply carrying "tb" is an unexpected exception: malformed as far as we care.
        if len(frames) != 1 or not isinstance(reply, dict) or "status" not in reply \
                or reply.get("tb"):
            malformed += 1
            continue
        if reply.get("id") == probe_id:
            assert reply["status"] == "ok", reply
            return others, malformed
        others += 1


def test_arbitrary_control_messages_get_a_reply_or_a_drop(circusd) -> None:
    proc = circusd.start(str(circusd.write("circus.ini", CONFIG)))
    proc.wait_children(2, timeout=20)
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(circusd.endpoint)
    stats = {"examples": 0, "messages": 0, "replies": 0, "malformed": 0, "resets": 0}
    try:
        _probe(sock, 20_000)

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(batch=st.lists(messages, min_size=1, max_size=4))
        def check(batch: list[list[bytes]]) -> None:
            for frames in batch:
                sock.send_multipart(frames)
            replies, malformed = _probe(sock)
            stats["examples"] += 1
            stats["messages"] += len(batch)
            stats["replies"] += replies
            stats["malformed"] += malformed
            assert proc.popen.poll() is None, "circusd exited"
            if len(proc.children()) > MAX_CHILDREN:
                # incr/add piled processes up: back to the file's watchers.
                sock.send(json.dumps({"command": "reloadconfig", "id": "reset",
                                      "properties": {"waiting": True}}).encode())
                _probe(sock, 30_000)
                stats["resets"] += 1

        check()
        # Late replies of slow commands (stop/reload waiting on a graceful timeout).
        while sock.poll(3000):
            frames = sock.recv_multipart()
            stats["replies"] += 1
            reply = json.loads(frames[0])
            assert isinstance(reply, dict) and "status" in reply
    finally:
        sock.close(0)
        context.term()
    crashes = proc.stderr().count("Traceback") + proc.stdout().count("Traceback")
    print(f"\ncontrol fuzz: {stats['examples']} examples, {stats['messages']} messages, "
          f"{stats['replies']} replies, {stats['malformed']} malformed replies, "
          f"{stats['resets']} resets, {crashes} crashes")
    assert stats["malformed"] == 0
    assert crashes == 0, proc.stderr()[-4000:]
    assert proc.stop() == 0
