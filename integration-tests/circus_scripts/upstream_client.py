"""Drive a circusd with upstream circus 0.19's OWN client library.

Run with the python of the throwaway circus 0.19.0 venv, never with ours:

    <peer>/bin/python upstream_client.py calls ENDPOINT '[["list", {}], ...]'
    <peer>/bin/python upstream_client.py events ENDPOINT PUBSUB WATCHER

``calls`` sends each ``[command, properties]`` with ``CircusClient.call`` and
prints ``{"circus_file": ..., "replies": [...]}``. ``events`` listens with
``CircusConsumer`` while it stops and starts WATCHER through ``CircusClient``
and prints every ``[topic, payload]`` it received. Output is one JSON line.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
from typing import Any

# The peer's circus is not the one mypy sees in the test venv; treat it as opaque.
circus: Any = importlib.import_module("circus")
client_module: Any = importlib.import_module("circus.client")
consumer_module: Any = importlib.import_module("circus.consumer")

DEADLINE = 30.0


def _finish(result: dict[str, Any]) -> None:
    result["circus_file"] = circus.__file__
    print(json.dumps(result), flush=True)
    # A consumer thread may still block in zmq: leave without joining it.
    os._exit(0)


def calls(endpoint: str, plan: str) -> None:
    client = client_module.CircusClient(endpoint=endpoint, timeout=20.0)
    replies = []
    for command, props in json.loads(plan):
        replies.append(client.call({"command": command, "properties": props}))
    # send_message is the other public entry point: it builds the same request.
    replies.append(client.send_message("numwatchers"))
    client.stop()
    _finish({"replies": replies})


def events(endpoint: str, pubsub: str, watcher: str) -> None:
    seen: list[list[Any]] = []
    consumer = consumer_module.CircusConsumer([b"watcher."], endpoint=pubsub, timeout=0.1)

    def collect() -> None:
        for topic, message in consumer:
            seen.append([topic.decode(), json.loads(message)])

    threading.Thread(target=collect, daemon=True).start()
    client = client_module.CircusClient(endpoint=endpoint, timeout=20.0)

    def wait(what: str, predicate: Any, timeout: float = DEADLINE) -> bool:
        give_up = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > give_up:
                return False
            time.sleep(0.01)
        return True

    # A SUB socket misses what is published before its subscription arrives:
    # add processes until the first spawn event shows the channel is live.
    primed = False
    for _attempt in range(50):
        client.send_message("incr", name=watcher, waiting=True)
        if wait("spawn", lambda: any(t.endswith(".spawn") for t, _ in seen), 0.5):
            primed = True
            break
    if not primed:
        raise SystemExit("no spawn event ever arrived")
    mark = len(seen)
    replies = [client.send_message("stop", name=watcher, waiting=True),
               client.send_message("start", name=watcher, waiting=True)]
    topic = f"watcher.{watcher}."
    wanted = {topic + "stop", topic + "start", topic + "reap", topic + "kill", topic + "spawn"}
    wait("events", lambda: wanted <= {t for t, _ in seen[mark:]})
    client.stop()
    _finish({"replies": replies, "before": seen[:mark], "events": seen[mark:]})


def main() -> None:
    scenario, *args = sys.argv[1:]
    if scenario == "calls":
        calls(*args)
    elif scenario == "events":
        events(*args)
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")


if __name__ == "__main__":
    main()
