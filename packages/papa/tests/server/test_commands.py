"""Every command's replies and errors, and the lexical rules of the protocol."""

from __future__ import annotations

import re

import pytest

from .conftest import child, field


def test_empty_lines_crlf_and_pipelining(client):
    client.send(b"\n")
    assert client.read_until(b"> ") == b"> "
    client.send(b"   \n")
    assert client.read_until(b"> ") == b"> "
    assert client.cmd(b"set k v\r") == b"\n> "
    client.send(b"get k\nset k w\nget k\n")
    assert client.read_until(b"\n> ") == b"v\n> "
    assert client.read_until(b"\n> ") == b"\n> "
    assert client.read_until(b"\n> ") == b"w\n> "


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("bogus", b'Error: Unknown command "bogus"\n> '),
        ("list", b'Error: "list" must be followed by one of: processes, sockets, values\n> '),
        ("l x", b'Error: Bad "list" command. The following word must be one of: '
                b"processes, sockets, values\n> "),
        ("make", b'Error: "make" must be followed by one of: processes, sockets\n> '),
        ("watch", b'Error: "watch" must be followed by one of: processes\n> '),
        ("e", b'Error: You cannot abbreviate "exit-if-idle"\n> '),
        ("exit-if", b'Error: You cannot abbreviate "exit-if-idle"\n> '),
        ("set", b"Error: Value requires a name\n> "),
        ("set *", b"Error: Value requires a name\n> "),
        ("get", b"Error: Value requires a name\n> "),
        ("r v", b"Error: You cannot remove all variables\n> "),
        ("r v nosuch", b"Error: nosuch not found\n> "),
        ("r s", b'Error: "remove sockets" needs names or "*" to remove them all\n> '),
        ("r p", b'Error: "remove processes" needs names or "*" to remove them all\n> '),
        ("r s nosuch", b"Error: nosuch not found\n> "),
        ("w p", b"Error: Nothing to watch\n> "),
        ("w p nosuch", b"Error: nosuch not found\n> "),
        ("m p", b"Error: Process requires a name\n> "),
        ("m p x", b"Error: No command\n> "),
        ("m p x uid=0", b"Error: No command\n> "),
        ("m p a:b /bin/true", b'Error: Process names cannot contain ":"\n> '),
        ("m s a:b", b'Error: Socket names cannot contain ":"\n> '),
        ("m p x bufsize= /bin/true", b'Error: Missing value for option "bufsize"\n> '),
        ("m p x bufsize=2x /bin/true", b'Error: Bad size "2x"\n> '),
        ("m p x foo=1 /bin/true", b'Error: Unknown process option "foo"\n> '),
        ("m p x rlimit.bogus=1 /bin/true", b'Error: Unknown rlimit "bogus"\n> '),
        ("m p x uid=no-such-user /bin/true", b"Error: 'no-such-user' is not a valid user name\n> "),
        ("m p x gid=no-such-group /bin/true", b"Error: No such group: 'no-such-group'\n> "),
        ("m p x /no/such/exe", b"Error: Bad command - [Errno 2] No such file or directory: "
                               b"'/no/such/exe'\n> "),
        ("m p x working_dir=/no/such/dir /bin/true",
         b"Error: Bad working_dir - [Errno 2] No such file or directory: '/no/such/dir'\n> "),
        ("m p x /bin/echo $(socket.nosuch.port)", b"Error: Socket nosuch not found\n> "),
        ("m s s path=relative", b"Error: Absolute path required for Unix sockets\n> "),
        ("m s s family=bogus", b'Error: Unknown socket family "bogus"\n> '),
        ("m s s type=bogus", b'Error: Unknown socket type "bogus"\n> '),
        ("m s s bogus=1", b'Error: Unknown socket option "bogus"\n> '),
        ("help bogus", b'Error: Unknown command "bogus"\n> '),
    ],
)  # fmt: skip
def test_errors(client, line, reply):
    assert client.cmd(line) == reply
    assert client.cmd("l p") == b"\n> "  # nothing was started by a refused command


def test_forgotten_socket_attribute(client):
    client.ok("m s web")
    assert client.cmd("m p x /bin/echo $(socket.web)") == (
        b'Error: You forgot to specify either ".port" or ".fileno" after the name\n> '
    )


def test_abbreviations_case_and_names(client):
    client.ok("SET Circus.a 1")
    client.ok("se circus.b 2")
    assert client.cmd("LI VA") == b"Circus.a 1\ncircus.b 2\n> "
    assert client.cmd("l v circus.*") == b"circus.b 2\n> "
    assert client.cmd("l v Circus.*") == b"Circus.a 1\n> "
    assert client.cmd("l v nosuch circus.b") == b"circus.b 2\n> "
    assert client.cmd("g CIRCUS.a") == b"\n> "


def test_wildcards_and_removal(client):
    for name in ("a.1", "a.2", "b.1"):
        client.ok(f"set {name} x")
    assert client.cmd("l v *") == b"a.1 x\na.2 x\nb.1 x\n> "
    assert client.cmd("r v a.*") == b"\n> "
    assert client.cmd("l v") == b"b.1 x\n> "
    assert client.cmd("set b.1") == b"\n> "
    assert client.cmd("l v") == b"\n> "


def test_escapes_and_spaces(client):
    assert client.cmd("set k   many   spaces") == b"\n> "
    assert client.cmd("get k") == b"many spaces\n> "
    client.ok(r"set e a\ \ b")
    assert client.cmd("get e") == b"a  b\n> "
    client.ok("set t ends\\ next")
    assert client.cmd("get t") == b"ends next\n> "
    line = client.ok(r'm p q env.X="tail\" /bin/echo one\ arg two')
    assert line.endswith("args=/bin/echo one arg two")


def test_help_topics(client):
    assert client.ok("help").startswith("Papa keeps sockets")
    assert client.ok("h m s").startswith("make socket NAME")
    assert "watch processes" in client.ok("help watch")
    assert "make socket" in client.ok("help make") and "make process" in client.ok("help make")
    assert client.ok("help exit").startswith("exit-if-idle")


def test_version_and_stats(kernel, client):
    assert re.fullmatch(r"version=\d+\.\d+\.\d+ protocol=1\.0\.6 python=\S+"
                        r" features=backpressure,handover,keep", client.ok("version"))
    client.ok("set a b")
    client.ok("m s web")
    talker = child("import os; os.write(1, b'12345')")
    client.ok(f"m p talk {talker}")
    stats = client.ok("stats")
    assert field(stats, "pid") == str(kernel.pid)
    assert float(field(stats, "uptime")) >= 0
    assert (field(stats, "processes"), field(stats, "sockets"), field(stats, "values")) == (
        "1", "1", "1",
    )  # fmt: skip
    assert field(stats, "connections") == "1"
