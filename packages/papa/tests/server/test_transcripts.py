"""The spec's recorded papa 1.0.6 session (section 1.12), byte for byte.

Pids, ports, fds and timestamps are matched by pattern. Where we deliberately
differ (UDP works, ``output=`` is accepted, every socket reference is
replaced) the expected bytes are ours and the comment says so.
"""

from __future__ import annotations

import os
import re
import signal

from .conftest import TS, child, drain_watch, esc, field, wait_for


def fullmatch(pattern: bytes, data: bytes) -> re.Match[bytes]:
    match = re.fullmatch(pattern, data, re.S)
    assert match, (pattern, data)
    return match


def test_sockets_and_values(kernel, client):
    assert client.banner == b'Papa is home. Type "help" for commands.\n> '
    web = client.cmd("make socket web")
    fullmatch(
        rb"web family=inet type=stream backlog=5 host=127\.0\.0\.1 port=\d+ fileno=\d+\n> ", web
    )
    assert client.cmd("make socket web port=1") == (
        b"Error: Socket for web has already been created - " + web
    )
    path = f"{kernel.short}/u.sock"
    fullmatch(
        rf"unixy family=unix type=stream backlog=5 path={path} umask=2 fileno=\d+\n> ".encode(),
        client.cmd(f"m s unixy path={path} umask=2"),
    )
    fullmatch(
        rb"six family=inet6 type=stream backlog=5 host=::1 port=\d+ fileno=\d+\n> ",
        client.cmd("m s six family=inet6"),
    )
    fullmatch(
        rb"rp family=inet type=stream backlog=5 host=127\.0\.0\.1 port=\d+ reuseport=1\n> ",
        client.cmd("m s rp reuseport=1 port=0"),
    )
    # Deliberate difference: papa 1.0.6 answered "[Errno 95] Operation not supported".
    fullmatch(
        rb"dg family=inet type=dgram backlog=5 host=127\.0\.0\.1 port=\d+ fileno=\d+\n> ",
        client.cmd("m s dg type=dgram"),
    )
    assert client.cmd("set a.b hello world") == b"\n> "
    assert client.cmd("get a.b") == b"hello world\n> "
    assert client.cmd("get nosuch") == b"\n> "
    assert client.cmd("r v *") == b"Error: You cannot remove all variables\n> "
    assert client.cmd("exit") == b'Error: You cannot abbreviate "exit-if-idle"\n> '
    assert client.cmd("exit-if-idle") == b"not idle\n> "
    client.send(b"quit\n")
    assert client.read_eof() == b"ok\n"


def test_echo_substitution_idempotence_and_watch(kernel, client):
    web = client.ok("make socket web")
    port, fileno = field(web, "port"), field(web, "fileno")
    line = r"m p echo1 /bin/echo hello\ world $(socket.web.port) $(socket.web.fileno)"
    shown = b"args=/bin/echo hello world $(socket.web.port) $(socket.web.fileno)\n> "
    first = client.cmd(line)
    fullmatch(rb"echo1 pid=(\d+) running=True started=" + TS + b" " + re.escape(shown), first)
    wait_for(lambda: b"running=False" in client.cmd("l p echo1"), what="echo1 to exit")
    # Idempotent: the same entry comes back, now not running, and nothing respawns.
    assert client.cmd(line) == first.replace(b"running=True", b"running=False")
    data = f"hello world {port} {fileno}\n".encode()
    watched = client.cmd_watch("w p echo1")
    fullmatch(
        b"Watching 1\nout:echo1:" + TS + b":%d\n" % len(data) + re.escape(data)
        + b"\nclosed:echo1:" + TS + b":0\n] ",
        watched,
    )  # fmt: skip
    assert client.cmd("") == b"Nothing left to watch\n> "
    assert client.cmd("l p") == b"\n> "


def test_output_option_is_an_alias(client):
    # Deliberate difference: papa 1.0.6 refused output= with a TypeError text.
    fullmatch(rb"outopt pid=\d+ running=True started=" + TS + b" args=/bin/true\n> ",
              client.cmd("m p outopt output=1m /bin/true"))  # fmt: skip


def test_two_streams_and_a_signal(client):
    se = child(
        "import os,time; os.write(1,b'out1\\n'); time.sleep(0.05);"
        " os.write(2,b'err1\\n'); time.sleep(0.05); os.write(1,b'out2\\n')"
    )
    client.ok(f"m p se {se}")
    sig = client.ok(f"m p sig {child('import time; time.sleep(60)')}")
    os.kill(int(field(sig, "pid")), signal.SIGTERM)
    wait_for(lambda: client.cmd("l p").count(b"running=False") == 2, what="both to exit")
    fullmatch(
        b"Watching 2\nout:se:" + TS + b":5\nout1\n\nerr:se:" + TS + b":5\nerr1\n\n"
        b"out:se:" + TS + b":5\nout2\n\nclosed:se:" + TS + b":0\nclosed:sig:" + TS + b":-15\n] ",
        client.cmd_watch("w p se sig"),
    )  # fmt: skip
    assert client.cmd("-") == b"Nothing left to watch\n> "


def test_watch_immediately(client):
    script = esc("echo a;sleep 0.3;echo b")
    first = client.cmd_watch(f"m p wi watch=1 /bin/sh -c {script}")
    fullmatch(
        rb"wi pid=\d+ running=True started=" + TS + rb" args=/bin/sh -c echo a;sleep 0\.3;echo b\n"
        rb"out:wi:" + TS + rb":2\na\n\n] ",
        first,
    )
    # papa 1.0.6 polled, so "b" and the exit came in one batch; we push "b" as
    # soon as it is written, and the exit may follow in a batch of its own.
    rest = drain_watch(client, ack=b"-\n")
    fullmatch(rb"out:wi:" + TS + rb":2\nb\n\n(\] )?closed:wi:" + TS + rb":0\n\] ", rest)


def test_exit_if_idle_when_empty(kernel, client):
    client.send(b"exit-if-idle\n")
    assert client.read_eof() == b"Exiting papa!\n> "
    assert kernel.proc.wait(10) == 0
    assert not os.path.exists(kernel.address)
