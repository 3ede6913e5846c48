"""``circusctl listen``: print events from the pubsub endpoint until Ctrl-C."""

from __future__ import annotations

import json
import sys

from circus.client import DEFAULT_PUBSUB, ClientError, EventSubscriber
from circus.client._probe import probe
from circus.ctl._run import EXIT_FAILED, EXIT_OK, print_error


def listen(endpoint: str | None, topics: list[str], as_json: bool) -> int:
    """Subscribe to ``topics`` (all when empty) and print each event on its own line."""
    # Upstream ignores CIRCUSCTL_ENDPOINT here: that names the control endpoint.
    endpoint = endpoint or DEFAULT_PUBSUB
    try:
        probe(endpoint)
    except ClientError as exc:
        print_error(f"error: {exc}".replace("circusd at", "circusd's pubsub endpoint at"))
        return EXIT_FAILED
    subscriber = EventSubscriber(endpoint, topics or [""])
    try:
        for topic, payload in subscriber:
            if as_json:
                line = json.dumps({"topic": topic, "event": payload})
            else:
                line = f"{topic}: {json.dumps(payload)}"
            print(line, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        subscriber.close()
    sys.stdout.flush()
    return EXIT_OK
