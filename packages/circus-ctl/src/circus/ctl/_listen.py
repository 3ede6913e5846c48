"""``circusctl listen``: print events from the pubsub endpoint until Ctrl-C."""

from __future__ import annotations

import json
import sys

from circus.client import DEFAULT_PUBSUB, ClientError, CurveKeys, EventSubscriber
from circus.client._probe import probe
from circus.ctl._run import EXIT_FAILED, EXIT_OK, print_error
from circus.ctl._wakeup import signal_wakeup


def listen(endpoint: str | None, topics: list[str], as_json: bool,
           ssh_server: str | None = None, ssh_keyfile: str | None = None,
           curve: CurveKeys | None = None) -> int:
    """Subscribe to ``topics`` (all when empty) and print each event on its own line.

    With ``ssh_server`` the endpoint is reached through an ssh tunnel, as for
    every other command; with ``curve`` it is a CURVE client.
    """
    # Upstream ignores CIRCUSCTL_ENDPOINT here: that names the control endpoint.
    endpoint = endpoint or DEFAULT_PUBSUB
    subscriber: EventSubscriber | None = None
    # Ctrl-C is how listen ends, whenever it comes: also while connecting,
    # after the subscription already reached the publisher.
    try:
        try:
            if ssh_server is None:
                probe(endpoint)  # through ssh, the endpoint is the server's to reach
            subscriber = EventSubscriber(endpoint, topics or [""], ssh_server=ssh_server,
                                         ssh_keyfile=ssh_keyfile, curve=curve)
        except ClientError as exc:
            print_error(f"error: {exc}".replace("circusd at", "circusd's pubsub endpoint at"))
            return EXIT_FAILED
        with signal_wakeup() as wakeup:
            while True:
                event = subscriber.recv(wakeup_fd=wakeup)
                if event is None:
                    continue  # a signal other than Ctrl-C
                topic, payload = event
                if as_json:
                    line = json.dumps({"topic": topic, "event": payload})
                else:
                    line = f"{topic}: {json.dumps(payload)}"
                print(line, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        if subscriber is not None:
            subscriber.close()
    sys.stdout.flush()
    return EXIT_OK
