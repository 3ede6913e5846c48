"""The REAL papa 1.0.6 client library drives OUR papa kernel (issue 6, section 3).

Our kernel is the installed wheel, started in the foreground with
``python -m papa.server -p PORT``. Each scenario of papa_scripts/real_client.py
runs under the python of a throwaway venv holding papa==1.0.6 from PyPI, so
every command on the wire is built, and every reply parsed, by the real client.
Fixtures (conftest.py) check before each script that our kernel answers with
papa's banner, that the client never forked a kernel of its own, and that no
process of the test outlives it.
"""

from __future__ import annotations

import os
import time
from typing import Any

from conftest import OurKernel, banner_received, children_of

# What BYTES_CHILD in real_client.py writes: every byte value, then bytes that
# look like watch framing, then the two env values as Python reprs.
BYTES_OUT = (bytes(range(256)) + b"\n] out:fake:1.5:3\nclosed:x:1:0\n"
             + b"'a  b' 'x\\\\'\n")
SPACED_ENV = {"PAPA_COMPAT_SPACED": "a  b", "PAPA_COMPAT_TRAIL": "x\\"}


def _collect(batches: list[Any]) -> tuple[dict[tuple[str, str], bytes], dict[str, list[int]]]:
    """Join the watched output per (name, stream) and list the exit codes per name.

    Also checks the batch shapes: every read() but the last returned lists, the
    last returned None (end of the watch), and the timestamps of one stream never
    go back.
    """
    assert batches[-1] is None
    assert all(batch is not None for batch in batches[:-1])
    data: dict[tuple[str, str], bytes] = {}
    last_seen: dict[tuple[str, str], float] = {}
    codes: dict[str, list[int]] = {}
    for batch in batches[:-1]:
        for stream in ("out", "err"):
            for name, timestamp, text in batch[stream]:
                assert isinstance(timestamp, float)
                assert timestamp >= last_seen.get((name, stream), 0.0)
                last_seen[name, stream] = timestamp
                data[name, stream] = data.get((name, stream), b"") + text.encode("latin-1")
        for name, timestamp, code in batch["closed"]:
            assert isinstance(timestamp, float) and isinstance(code, int)
            codes.setdefault(name, []).append(code)
    return data, codes


def _check_process_line(info: dict[str, Any], args: str) -> None:
    assert isinstance(info["pid"], int) and info["pid"] > 0
    assert isinstance(info["running"], bool)
    assert isinstance(info["started"], float)
    assert abs(info["started"] - time.time()) < 120
    assert info["args"] == args


def test_sockets_are_made_listed_and_removed(our_kernel: OurKernel) -> None:
    """make_socket (inet port=0, unix path, family/socket_type ints, backlog), its
    idempotence and conflict error, list_sockets with int fields, remove_sockets."""
    result = our_kernel.run("sockets")
    web = result["web"]
    assert web == {"family": "inet", "type": "stream", "backlog": 5, "host": "127.0.0.1",
                   "port": web["port"], "fileno": web["fileno"]}
    assert isinstance(web["port"], int) and web["port"] > 0
    assert isinstance(web["fileno"], int)
    # Same name, same parameters (port=0 matches any port): the same socket.
    assert result["web_again"] == web
    assert result["conflict"].startswith("Socket for web has already been created - web ")
    assert result["unixy"] == {"family": "unix", "type": "stream", "backlog": 5,
                               "path": result["path"], "umask": "2",
                               "fileno": result["unixy"]["fileno"]}
    typed = result["typed"]
    assert (typed["family"], typed["type"], typed["backlog"]) == ("inet", "stream", 17)
    assert result["web_accepts"] and result["unixy_accepts"], "the sockets really listen"
    assert result["listed"] == {"web": web, "unixy": result["unixy"], "typed": typed}
    assert list(result["listed"]) == ["typed", "unixy", "web"], "sorted by name"
    assert result["listed_prefix"] == {"typed": typed}
    assert result["remove_missing"] == "nosuch not found"
    assert result["removed"] is True
    assert result["after_remove"] == {"typed": typed}
    assert result["path_exists_after_remove"] is False, "removing unlinks the unix path"
    assert result["removed_all"] is True
    assert result["after_remove_all"] == {}


def test_values_are_set_read_listed_and_removed(our_kernel: OurKernel) -> None:
    """set/get/list_values/remove_values; a missing value reads as None and
    remove_values('*') is refused with papa.Error."""
    result = our_kernel.run("values")
    assert result["set"] is None
    assert result["get"] == "hello world"
    assert result["get_json"] == '{"state": "active"}'
    assert result["get_missing"] is None
    assert result["listed"] == {"circus.a": "hello world", "circus.b": '{"state": "active"}',
                                "other": "x"}
    assert result["listed_prefix"] == {"circus.a": "hello world",
                                       "circus.b": '{"state": "active"}'}
    assert result["remove_all"] == "You cannot remove all variables"
    assert result["removed"] is True
    assert result["after_remove"] == {"other": "x"}
    assert result["after_delete"] == {}, "set(name) without a value deletes it"


def test_processes_are_started_listed_and_watched_with_acks(our_kernel: OurKernel) -> None:
    """make_process with env=os.environ, args, working_dir and PIPE/STDOUT/DEVNULL;
    list_processes field types; $(socket.web.port); watch_processes reading exact
    bytes and exit codes 7 and -15 (SIGTERM) through acknowledged batches."""
    result = our_kernel.run("processes", SPACED_ENV)
    made = result["made"]
    assert sorted(made) == ["p.bytes", "p.cwd", "p.merged", "p.port", "p.quiet", "p.sleep"]
    args = {name: info["args"] for name, info in made.items()}
    assert args["p.merged"] == "/bin/sh -c echo to-out; echo to-err >&2"
    assert args["p.cwd"] == "/bin/pwd"
    assert args["p.port"] == "/bin/sh -c echo $(socket.web.port)", "listed as given"
    assert args["p.sleep"] == "/bin/sleep 60"
    assert args["p.bytes"].startswith(str(our_kernel.peer / "bin" / "python") + " -c import")
    for name, info in made.items():
        _check_process_line(info, args[name])
    assert made["p.sleep"]["running"] is True
    assert result["made_again"] == made["p.sleep"], "identical make_process is idempotent"

    running = result["listed_running"]
    assert sorted(running) == sorted(made)
    for name, info in running.items():
        _check_process_line(info, args[name])
        assert (info["pid"], info["started"]) == (made[name]["pid"], made[name]["started"])
    assert running["p.sleep"]["running"] is True
    # Exited processes stay listed, not running, until a watcher acks their exit.
    exited = result["listed_exited"]
    assert sorted(exited) == sorted(made)
    assert all(info["running"] is False for info in exited.values())
    assert result["listed_prefix"] == ["p.sleep"]

    data, codes = _collect(result["batches"])
    assert data.get(("p.bytes", "out")) == BYTES_OUT
    assert data.get(("p.bytes", "err")) == b"E" * 100000
    assert data.get(("p.merged", "out")) == b"to-out\nto-err\n"
    assert ("p.merged", "err") not in data, "stderr=STDOUT merges into out"
    assert ("p.quiet", "out") not in data, "stdout=DEVNULL discards"
    assert data.get(("p.quiet", "err")) == b"shown\n"
    assert data.get(("p.cwd", "out")) == os.path.realpath(result["workdir"]).encode() + b"\n"
    assert data.get(("p.port", "out")) == f"{result['web_port']}\n".encode()
    assert not [key for key in data if key[0] == "p.sleep"]
    expected = {"p.bytes": 7, "p.merged": 0, "p.quiet": 0, "p.cwd": 0, "p.port": 0,
                "p.sleep": -15}
    assert codes == {name: [code] for name, code in expected.items()}
    assert result["exit_code"] == expected
    assert result["watcher_true_after"] is False
    assert result["listed_after_watch"] == {}, "acked exits free the entries"
    # The kernel reaped every child: none is left, not even a zombie.
    assert children_of(our_kernel.process.pid) == []


def test_make_process_can_watch_immediately(our_kernel: OurKernel) -> None:
    """make_process(..., watch_immediately=True) returns a Watcher that sees the
    output, then the exit, then hands the connection back to the Papa object."""
    result = our_kernel.run("watch_immediately")
    assert result["type"] == "Watcher"
    data, codes = _collect(result["batches"])
    assert data == {("wi", "out"): b"a\nb\n"}
    assert codes == {"wi": [0]}
    assert result["exit_code"] == {"wi": 0}
    assert result["listed_after"] == {}


def test_closing_a_watcher_with_a_pending_batch_acks_it(our_kernel: OurKernel) -> None:
    """Watcher.close() with a batch unacknowledged sends 'q': the kernel stops the
    watch, the connection goes back to command mode, and the acked output is not
    sent again to the next watcher, which sees only the exit (-15, SIGTERM)."""
    result = our_kernel.run("watch_q")
    assert result["q_batch"]["out"][0][0] == "wq"
    assert "".join(text for _name, _ts, text in result["q_batch"]["out"]) == "first\n"
    assert result["listed_after_q"]["wq"]["running"] is True
    assert result["listed_after_q"]["wq"]["pid"] == result["made"]["pid"]
    data, codes = _collect(result["after_q_batches"])
    assert data == {}, "output acked by 'q' is gone"
    assert codes == {"wq": [-15]}
    assert result["listed_at_end"] == {}


def test_unacked_output_is_redelivered_after_the_client_drops(our_kernel: OurKernel) -> None:
    """A watcher that dies without acking loses nothing: the next watcher gets the
    same records (same timestamps), and the processes outlived the first client."""
    first = our_kernel.run("redeliver_first")
    batch = first["batch"]
    assert first["need_ack"] is True
    # rd.done had exited before the watch; rd.live cannot end before the second client.
    assert [[name, code] for name, _ts, code in batch["closed"]] == [["rd.done", 3]]

    second = our_kernel.run("redeliver_second")
    listed = second["listed_before"]
    assert sorted(listed) == ["rd.done", "rd.live"]
    assert listed["rd.done"]["running"] is False, "the exit is kept until acked"
    assert listed["rd.live"]["running"] is True, "it survived the client's death"
    redelivered = second["batches"][0]
    for stream in ("out", "err", "closed"):
        # More may have been captured since, but what the first client saw comes
        # again first, byte for byte and with the timestamps of capture.
        assert redelivered[stream][:len(batch[stream])] == batch[stream], stream
    data, codes = _collect(second["batches"])
    assert data == {("rd.done", "out"): b"done\n", ("rd.live", "out"): b"one\n",
                    ("rd.live", "err"): b"two\n"}
    assert codes == {"rd.done": [3], "rd.live": [5]}
    assert second["exit_code"] == {"rd.done": 3, "rd.live": 5}
    assert second["listed_after"] == {}


def test_exit_if_idle_stops_our_kernel_once_empty(our_kernel: OurKernel) -> None:
    """exit_if_idle() is False while a process, socket or value exists, True once
    all are gone, and our kernel then exits by itself with status 0."""
    result = our_kernel.run("exit_if_idle")
    assert result["with_everything"] is False
    _data, codes = _collect(result["batches"])
    assert codes == {"idle.proc": [0]}
    assert result["with_socket_and_value"] is False
    assert result["with_value"] is False
    assert result["listed"] == [{}, {}, {}]
    assert result["when_empty"] is True
    assert our_kernel.process.wait(timeout=15) == 0, our_kernel.log_text()
    assert not banner_received(our_kernel.port)
    our_kernel.assert_no_peer_kernel()
