"""Our client drives a real kernel, papa 1.0.6 from PyPI and ours, through every command."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import papa
import pytest

from .conftest import Kernel, python_child, wait_for

# Prints "first", then "second" once the file named by argv[1] exists, then exits 0.
TWO_STEPS = (
    "import os, sys, time\n"
    "print('first', flush=True)\n"
    "while not os.path.exists(sys.argv[1]):\n"
    "    time.sleep(0.01)\n"
    "print('second', flush=True)\n"
)


def drain(watcher: papa.Watcher) -> tuple[bytes, bytes, list[papa.ProcessOutput]]:
    """Read until the watcher is done; return all stdout, all stderr and the closed records."""
    out, err, closed = b"", b"", []
    while watcher:
        batch = watcher.read()
        assert batch is not None
        for record in batch[0]:
            out += record.data  # type: ignore[operator]
        for record in batch[1]:
            err += record.data  # type: ignore[operator]
        closed += batch[2]
    return out, err, closed


def read_out(watcher: papa.Watcher, expected: bytes) -> None:
    """Read batches until stdout adds up to *expected* (a write may arrive in several chunks).

    The last batch is left unacknowledged; earlier ones are acknowledged, since
    the kernel sends nothing more until then.
    """
    out = b""
    while out != expected:
        assert expected.startswith(out), out
        watcher.acknowledge()
        wait_for(lambda: watcher.ready, 10, f"output {expected!r}")
        batch = watcher.read()
        assert batch is not None
        out += b"".join(record.data for record in batch[0])  # type: ignore[misc]


def test_sockets_are_made_listed_and_removed(kernel: Kernel, tmp_path: Path) -> None:
    with kernel.client() as client:
        web = client.make_socket("web")
        assert web["family"] == "inet" and web["type"] == "stream"
        assert web["host"] == "127.0.0.1" and web["backlog"] == 5
        assert isinstance(web["port"], int) and web["port"] > 0
        assert isinstance(web["fileno"], int)
        with socket.create_connection(("127.0.0.1", web["port"]), timeout=5):
            pass  # papa really listens there

        assert client.make_socket("web") == web  # same parameters: the same socket
        with pytest.raises(papa.Error, match="already been created"):
            client.make_socket("web", port=1)

        path = str(tmp_path / "u.sock")
        unix = client.make_socket("unixy", family=socket.AF_UNIX, path=path)
        assert unix["family"] == "unix" and unix["path"] == path
        assert os.path.exists(path)
        with pytest.raises(papa.Error, match="absolute"):
            client.make_socket("rel", path="relative.sock")

        assert set(client.list_sockets()) == {"web", "unixy"}
        assert set(client.list_sockets("we*")) == {"web"}
        assert client.list_sockets("unixy", "nosuch") == {"unixy": unix}

        assert client.remove_sockets("web", "unixy") is True
        assert client.list_sockets() == {}
        assert not os.path.exists(path)


def test_values_round_trip(kernel: Kernel) -> None:
    with kernel.client() as client:
        assert client.get("nosuch") is None
        client.set("app.state", '{"a": 1,  "b": [2]}')
        client.set("app.note", "two\nlines")
        client.set("other", "x")
        assert client.get("app.state") == '{"a": 1,  "b": [2]}'
        assert client.get("app.note") == "two lines"  # the protocol has no newlines
        assert client.list_values("app.*") == {"app.note": "two lines",
                                               "app.state": '{"a": 1,  "b": [2]}'}
        client.set("other", None)
        assert client.get("other") is None
        with pytest.raises(papa.Error) as error:
            client.remove_values("*")
        assert str(error.value) == "You cannot remove all variables"
        assert client.remove_values("app.*") is True
        assert client.list_values() == {}


def test_process_output_and_exit_code(kernel: Kernel) -> None:
    code = ("import os, sys\n"
            "print('hi', os.environ['FOO'], sys.argv[1:], flush=True)\n"
            "print('oops', file=sys.stderr, flush=True)\n"
            "sys.exit(7)\n")
    with kernel.client() as client:
        executable, args = python_child(code)
        details = client.make_process("job.1", executable, args=(*args, "one arg", "x"),
                                      env={"FOO": "a b"})
        kernel.pids.add(details["pid"])
        assert isinstance(details["pid"], int) and isinstance(details["started"], float)
        assert isinstance(details["running"], bool)
        assert details["args"].startswith(sys.executable + " -c ")
        assert details["args"].endswith(" one arg x")

        with client.watch_processes("job.*") as watcher:
            out, err, closed = drain(watcher)
            assert out == b"hi a b ['one arg', 'x']\n"
            assert err == b"oops\n"
            assert [(c.name, c.data) for c in closed] == [("job.1", 7)]
            assert closed[0].timestamp > details["started"]
            assert watcher.exit_code == {"job.1": 7}
            assert not watcher
            assert watcher.read() is None  # end of stream, documented
        # Acknowledged CLOSED record: papa forgets the process.
        assert client.list_processes() == {}


def test_empty_environment_values_are_passed(kernel: Kernel) -> None:
    # os.environ often holds empty values; a bare "env.X=" crashes papa 1.0.6's
    # parser, so the client sends env.X="" (the kernel strips the quotes).
    code = "import os; print(repr(os.environ['EMPTY']), repr(os.environ['SLASH']))"
    with kernel.client() as client:
        kernel.spawn(client, "envs", code, env={"EMPTY": "", "SLASH": "ends\\"})
        with client.watch_processes("envs") as watcher:
            assert drain(watcher)[0] == b"'' 'ends\\\\'\n"


def test_watch_immediately_streams_from_the_start(kernel: Kernel, tmp_path: Path) -> None:
    go = tmp_path / "go"
    with kernel.client() as client:
        executable, args = python_child(TWO_STEPS)
        watcher = client.make_process("wi", executable, args=(*args, str(go)),
                                      watch_immediately=True)
        with watcher:
            assert isinstance(watcher, papa.Watcher)
            kernel.pids.update(d["pid"] for d in client.list_processes("wi").values())
            read_out(watcher, b"first\n")
            go.touch()
            out, _, closed = drain(watcher)
            assert out == b"second\n"
            assert [c.data for c in closed] == [0]


def test_stream_choices(kernel: Kernel) -> None:
    code = "import sys; print('to out', flush=True); print('to err', file=sys.stderr, flush=True)"
    with kernel.client() as client:
        kernel.spawn(client, "merged", code, stderr=papa.STDOUT)
        kernel.spawn(client, "quiet", code, stdout=papa.DEVNULL, stderr=papa.PIPE)
        with client.watch_processes("merged") as watcher:
            out, err, _ = drain(watcher)
            assert (out, err) == (b"to out\nto err\n", b"")
        with client.watch_processes("quiet") as watcher:
            out, err, _ = drain(watcher)
            assert (out, err) == (b"", b"to err\n")
        with pytest.raises(papa.Error, match="stdout"):
            client.make_process("bad", sys.executable, stdout=papa.STDOUT)


def test_process_options_reach_the_child(kernel: Kernel, tmp_path: Path) -> None:
    code = ("import json, os, resource, sys\n"
            "print(json.dumps([os.getcwd(), resource.getrlimit(resource.RLIMIT_NOFILE),"
            " sys.argv[1:]]))\n")
    with kernel.client() as client:
        kernel.spawn(client, "opts", code, working_dir=str(tmp_path),
                     rlimits={"nofile": 64}, bufsize="64k")
        with client.watch_processes("opts") as watcher:
            out, _, _ = drain(watcher)
        assert json.loads(out) == [str(tmp_path), [64, 64], []]


def test_args_given_as_one_string(kernel: Kernel) -> None:
    with kernel.client() as client:
        details = client.make_process("single", sys.executable,
                                      args="import sys; print(sys.argv)")
        assert details["args"] == f"{sys.executable} import sys; print(sys.argv)"
        kernel.pids.add(details["pid"])
        with client.watch_processes("single") as watcher:
            _, err, closed = drain(watcher)
        # One argument: python tried to open a script by that whole name.
        assert b"import sys; print(sys.argv)" in err
        assert [c.data for c in closed] == [2]


def test_executable_from_args(kernel: Kernel) -> None:
    with kernel.client() as client:
        details = client.make_process("fromargs", None, args=(sys.executable, "-c", "print(1)"))
        kernel.pids.add(details["pid"])
        assert details["args"] == f"{sys.executable} -c print(1)"
        with client.watch_processes("fromargs") as watcher:
            assert drain(watcher)[0] == b"1\n"


def test_list_remove_and_signal_exit(kernel: Kernel) -> None:
    sleeper = "import time; time.sleep(60)"
    with kernel.client() as client:
        for name in ("grp.a", "grp.b", "other"):
            kernel.spawn(client, name, sleeper)
        listed = client.list_processes("grp.*")
        assert sorted(listed) == ["grp.a", "grp.b"]
        assert all(entry["running"] is True for entry in listed.values())
        os.kill(listed["grp.a"]["pid"], 15)
        with client.watch_processes("grp.a") as watcher:
            _, _, closed = drain(watcher)
        assert [c.data for c in closed] == [-15]
        # Removed: nobody will read it, so papa drops the entry as soon as it exits.
        assert client.remove_processes("other") is True
        os.kill(client.list_processes("other")["other"]["pid"], 15)
        wait_for(lambda: "other" not in client.list_processes(), 10, "the entry to go")


def test_errors_leave_the_connection_usable(kernel: Kernel) -> None:
    with kernel.client() as client:
        with pytest.raises(papa.Error, match="nosuch not found"):
            client.watch_processes("nosuch")
        with pytest.raises(papa.Error, match="Process names cannot contain ':'"):
            client.make_process("bad:name", sys.executable)
        assert client.list_processes() == {}  # refused before anything was sent
        client.set("still", "works")
        assert client.get("still") == "works"
        client.remove_values("still")


def test_acknowledged_output_is_gone_for_the_next_watcher(kernel: Kernel, tmp_path: Path) -> None:
    go = tmp_path / "go"
    with kernel.client() as client:
        kernel.spawn(client, "acked", TWO_STEPS.replace("sys.argv[1]", repr(str(go))))
        watcher = client.watch_processes("acked")
        read_out(watcher, b"first\n")
        watcher.close()  # acknowledges with "q" and returns the connection
        assert not watcher
        go.touch()
        with client.watch_processes("acked") as again:
            out, _, closed = drain(again)
        assert out == b"second\n"
        assert [c.data for c in closed] == [0]


def test_unacknowledged_output_is_delivered_again(kernel: Kernel, tmp_path: Path) -> None:
    with kernel.client() as client:
        kernel.spawn(client, "again", "print('payload', flush=True)")
        wait_for(lambda: not client.list_processes("again")["again"]["running"], 10,
                 "the process to exit")
    # A separate client reads one batch and dies without acknowledging it.
    reader = (
        "import json, os, sys, papa\n"
        f"w = papa.Papa({kernel.port}, connection_timeout=5).watch_processes('again')\n"
        "out, err, closed = w.read()\n"
        "print(json.dumps([[r.timestamp, r.data.decode()] for r in out]"
        " + [[r.timestamp, r.data] for r in closed]), flush=True)\n"
        "os._exit(0)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True,
                            timeout=30, env=env, check=False)
    assert result.returncode == 0, result.stderr
    first = [tuple(record) for record in json.loads(result.stdout)]
    assert first and "payload\n".startswith(first[0][1])
    with kernel.client() as client, client.watch_processes("again") as watcher:
        seen = []
        while watcher:
            batch = watcher.read()
            assert batch is not None
            seen += [(r.timestamp, r.data.decode()) for r in batch[0]]  # type: ignore[union-attr]
            seen += [(r.timestamp, r.data) for r in batch[2]]
    assert set(first) <= set(seen)  # same records, same capture timestamps


def test_ready_never_blocks(kernel: Kernel, tmp_path: Path) -> None:
    go = tmp_path / "go"

    def timed_ready(watcher: papa.Watcher) -> bool:
        start = time.monotonic()
        ready = watcher.ready
        assert time.monotonic() - start < 5  # blocking would last until the go file
        return ready

    with kernel.client() as client:
        kernel.spawn(client, "slow", TWO_STEPS.replace("sys.argv[1]", repr(str(go))))
        with client.watch_processes("slow") as watcher:
            wait_for(lambda: timed_ready(watcher), 10, "the first output")
            read_out(watcher, b"first\n")
            assert timed_ready(watcher) is False  # the batch awaits its ack
            watcher.acknowledge()
            assert timed_ready(watcher) is False  # the process is silent
            assert select.select([watcher], [], [], 0)[0] == []
            go.touch()
            wait_for(lambda: timed_ready(watcher), 10, "the second output")
            out, _, _ = drain(watcher)
            assert out == b"second\n"
            assert timed_ready(watcher) is False


def test_exit_if_idle(kernel: Kernel) -> None:
    with kernel.client() as client:
        client.set("keep", "me")
        assert client.exit_if_idle() is False
        client.remove_values("keep")
        assert client.exit_if_idle() is True
    kernel.process.wait(timeout=10)
    assert kernel.process.returncode == 0


def test_version(kernel: Kernel) -> None:
    with kernel.client() as client:
        if kernel.kind == "papa-1.0.6":
            with pytest.raises(papa.Error, match="nknown"):
                client.version()
            client.set("still", "usable")  # the error left the connection in command mode
            assert client.get("still") == "usable"
        else:
            reply = client.version()
            assert reply["protocol"] == "1.0.6"
            assert reply["version"] and reply["python"]
