"""Drive a papa kernel with the REAL papa 1.0.6 client library.

Run with the python of the throwaway papa 1.0.6 venv, never with ours:

    <peer>/bin/python real_client.py SCENARIO PORT WORKDIR

Each scenario talks to the kernel on 127.0.0.1:PORT and prints one JSON object
on stdout, which test_papa_real_client.py asserts on. Every result also says
which ``papa`` was imported and whether the client tried to start a kernel of
its own (it must not: the kernel under test is always listening first).

Captured bytes travel in JSON as latin-1 text, which maps each byte to one
character and back.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

# The peer's papa is not the one mypy sees in the test venv; treat it as opaque.
papa: Any = importlib.import_module("papa")

DEADLINE = 20.0


def _wait(what: str, predicate: Callable[[], object]) -> None:
    """Poll *predicate* until true, or fail the scenario after DEADLINE seconds."""
    give_up = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > give_up:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)


def _records(items: list[Any]) -> list[list[Any]]:
    """ProcessOutput tuples as JSON: [name, timestamp, data]; bytes become latin-1 text."""
    return [[item.name, item.timestamp,
             item.data.decode("latin-1") if isinstance(item.data, bytes) else item.data]
            for item in items]


def _batch(batch: Any) -> Any:
    if batch is None:
        return None
    out, err, closed = batch
    return {"out": _records(out), "err": _records(err), "closed": _records(closed)}


def _read_all(watcher: Any) -> list[Any]:
    """Read (and so acknowledge) batches until the watch ends; read() then returns None."""
    batches = []
    while True:
        batch = watcher.read()
        batches.append(_batch(batch))
        if batch is None:
            return batches


def _error(call: Callable[[], object]) -> str | None:
    """The message of the papa.Error that *call* raises, or None if it raises nothing."""
    try:
        call()
    except papa.Error as exc:
        return str(exc)
    return None


def _connects(address: Any, family: int) -> bool:
    """True if something accepts connections at *address*."""
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        try:
            probe.connect(address)
        except OSError:
            return False
        return True


def scenario_sockets(port: int, workdir: str) -> dict[str, Any]:
    path = os.path.join(workdir, "unixy.sock")
    result: dict[str, Any] = {"path": path}
    with papa.Papa(port) as p:
        result["web"] = p.make_socket("web", port=0)
        result["web_again"] = p.make_socket("web", port=0)
        result["conflict"] = _error(lambda: p.make_socket("web", port=1))
        result["unixy"] = p.make_socket("unixy", family=socket.AF_UNIX, path=path, umask=2)
        result["typed"] = p.make_socket("typed", family=socket.AF_INET,
                                        socket_type=socket.SOCK_STREAM, backlog=17)
        result["web_accepts"] = _connects(("127.0.0.1", result["web"]["port"]), socket.AF_INET)
        result["unixy_accepts"] = _connects(path, socket.AF_UNIX)
        result["listed"] = p.list_sockets()
        result["listed_prefix"] = p.list_sockets("t*")
        result["remove_missing"] = _error(lambda: p.remove_sockets("nosuch"))
        result["removed"] = p.remove_sockets("web", "unixy")
        result["after_remove"] = p.list_sockets()
        result["path_exists_after_remove"] = os.path.exists(path)
        result["removed_all"] = p.remove_sockets("*")
        result["after_remove_all"] = p.list_sockets()
    return result


def scenario_values(port: int, workdir: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with papa.Papa(port) as p:
        result["set"] = p.set("circus.a", "hello world")
        p.set("circus.b", '{"state": "active"}')
        p.set("other", "x")
        result["get"] = p.get("circus.a")
        result["get_json"] = p.get("circus.b")
        result["get_missing"] = p.get("nosuch")
        result["listed"] = p.list_values()
        result["listed_prefix"] = p.list_values("circus.*")
        result["remove_all"] = _error(lambda: p.remove_values("*"))
        result["removed"] = p.remove_values("circus.*")
        result["after_remove"] = p.list_values()
        p.set("other")  # no value: delete
        result["after_delete"] = p.list_values()
    return result


# A child that writes every byte value, bytes that look like watch framing, a
# large stderr and two spaced env values, then exits with 7.
BYTES_CHILD = (
    "import os,sys;"
    "sys.stdout.buffer.write(bytes(range(256))+b'\\n] out:fake:1.5:3\\nclosed:x:1:0\\n');"
    "sys.stdout.flush();"
    "sys.stderr.buffer.write(b'E'*100000);"
    "sys.stderr.flush();"
    "print(repr(os.environ['PAPA_COMPAT_SPACED']),repr(os.environ['PAPA_COMPAT_TRAIL']));"
    "sys.exit(7)"
)


def scenario_processes(port: int, workdir: str) -> dict[str, Any]:
    result: dict[str, Any] = {"workdir": workdir}
    with papa.Papa(port) as p:
        web = p.make_socket("web", port=0)
        result["web_port"] = web["port"]
        made = {
            "p.bytes": p.make_process("p.bytes", sys.executable, args=("-c", BYTES_CHILD),
                                      env=os.environ, working_dir=workdir,
                                      stdout=papa.PIPE, stderr=papa.PIPE),
            "p.merged": p.make_process("p.merged", "/bin/sh",
                                       args=("-c", "echo to-out; echo to-err >&2"),
                                       env=os.environ, stderr=papa.STDOUT),
            "p.quiet": p.make_process("p.quiet", "/bin/sh",
                                      args=("-c", "echo hidden; echo shown >&2"),
                                      env=os.environ, stdout=papa.DEVNULL),
            "p.cwd": p.make_process("p.cwd", "/bin/pwd", env=os.environ, working_dir=workdir),
            "p.port": p.make_process("p.port", "/bin/sh",
                                     args=("-c", "echo $(socket.web.port)"),
                                     env=os.environ),
            # args may be one plain string
            "p.sleep": p.make_process("p.sleep", "/bin/sleep", args="60", env=os.environ),
        }
        result["made"] = made
        result["made_again"] = p.make_process("p.sleep", "/bin/sleep", args="60",
                                              env=os.environ)
        result["listed_running"] = p.list_processes()
        os.kill(made["p.sleep"]["pid"], signal.SIGTERM)  # papa never signals; we do

        def all_exited() -> bool:
            return not any(info["running"] for info in p.list_processes("p.*").values())

        _wait("every process to exit", all_exited)
        # Exited processes stay listed until their exit is acknowledged.
        result["listed_exited"] = p.list_processes()
        result["listed_prefix"] = sorted(p.list_processes("p.s*"))
        watcher = p.watch_processes("p.*")
        with watcher:
            result["batches"] = _read_all(watcher)
            result["exit_code"] = watcher.exit_code
            result["watcher_true_after"] = bool(watcher)
        result["listed_after_watch"] = p.list_processes()
        p.remove_sockets("web")
    return result


def scenario_watch_immediately(port: int, workdir: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with papa.Papa(port) as p:
        watcher = p.make_process("wi", "/bin/sh", args=("-c", "echo a; sleep 0.3; echo b"),
                                 env=os.environ, watch_immediately=True)
        result["type"] = type(watcher).__name__
        with watcher:
            result["batches"] = _read_all(watcher)
            result["exit_code"] = watcher.exit_code
        # The watcher handed the connection back: the same Papa keeps working.
        result["listed_after"] = p.list_processes()
    return result


def scenario_watch_q(port: int, workdir: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with papa.Papa(port) as p:
        # Closing a watcher with a batch pending sends 'q': the kernel acks the
        # batch, answers "Stopped watching" and the connection serves commands.
        made = p.make_process("wq", "/bin/sh", args=("-c", "echo first; exec sleep 60"),
                              env=os.environ)
        result["made"] = made
        watcher = p.watch_processes("wq")
        result["q_batch"] = _batch(watcher.read())
        watcher.close()
        result["listed_after_q"] = p.list_processes("wq")
        os.kill(made["pid"], signal.SIGTERM)
        with p.watch_processes("wq") as watcher:
            result["after_q_batches"] = _read_all(watcher)
        result["listed_at_end"] = p.list_processes()
    return result


# rd.done exits at once; rd.live writes, then waits for a file that only the
# second client creates, so the first client can only ever see part of it.
REDELIVER_LIVE = ("echo one; : > started; while [ ! -e go ]; do sleep 0.01; done;"
                  " echo two >&2; exit 5")


def scenario_redeliver_first(port: int, workdir: str) -> None:
    """Start two processes, read one batch WITHOUT acking it, and die abruptly."""
    p = papa.Papa(port)
    made = {
        "rd.done": p.make_process("rd.done", "/bin/sh", args=("-c", "echo done; exit 3"),
                                  env=os.environ),
        "rd.live": p.make_process("rd.live", "/bin/sh", args=("-c", REDELIVER_LIVE),
                                  env=os.environ, working_dir=workdir),
    }
    _wait("rd.done to exit", lambda: not p.list_processes("rd.done")["rd.done"]["running"])
    _wait("rd.live to write", lambda: os.path.exists(os.path.join(workdir, "started")))
    watcher = p.watch_processes("rd.*")
    batch = watcher.read()  # nothing to acknowledge yet on the first read
    result = {"made": made, "batch": _batch(batch), "need_ack": watcher._need_ack,
              "papa_file": papa.__file__, "spawned": papa.Papa.spawned}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # no ack, no 'q', no close: the kernel just sees the connection drop


def scenario_redeliver_second(port: int, workdir: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with papa.Papa(port) as p:
        result["listed_before"] = p.list_processes()
        with p.watch_processes("rd.*") as watcher:
            first = watcher.read()
            # Only now may rd.live finish: what follows comes after the redelivery.
            with open(os.path.join(workdir, "go"), "w"):
                pass
            result["batches"] = [_batch(first), *_read_all(watcher)]
            result["exit_code"] = watcher.exit_code
        result["listed_after"] = p.list_processes()
    return result


def scenario_exit_if_idle(port: int, workdir: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with papa.Papa(port) as p:
        p.make_socket("idle.sock", port=0)
        p.set("idle.value", "1")
        made = p.make_process("idle.proc", "/bin/sh", args=("-c", "exit 0"), env=os.environ)
        result["made"] = made
        result["with_everything"] = p.exit_if_idle()
        with p.watch_processes("idle.proc") as watcher:
            result["batches"] = _read_all(watcher)
        result["with_socket_and_value"] = p.exit_if_idle()
        p.remove_sockets("idle.sock")
        result["with_value"] = p.exit_if_idle()
        p.remove_values("idle.value")
        result["listed"] = [p.list_sockets(), p.list_processes(), p.list_values()]
        result["when_empty"] = p.exit_if_idle()
    return result


SCENARIOS: dict[str, Callable[[int, str], Any]] = {
    "sockets": scenario_sockets,
    "values": scenario_values,
    "processes": scenario_processes,
    "watch_immediately": scenario_watch_immediately,
    "watch_q": scenario_watch_q,
    "redeliver_first": scenario_redeliver_first,
    "redeliver_second": scenario_redeliver_second,
    "exit_if_idle": scenario_exit_if_idle,
}


def main() -> None:
    name, port, workdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    # Never wait 10 s for a kernel that is not there: fail fast instead.
    papa.set_default_connection_timeout(5)
    result = SCENARIOS[name](port, workdir)
    result["papa_file"] = papa.__file__
    result["spawned"] = papa.Papa.spawned
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
