"""``circusctl tail NAME [-n N] [-f]``: a watcher's last lines, then (``-f``) the new ones.

The last lines come from circusd's ``tail`` command; the new ones from its
event channel, topic ``watcher.<name>.output`` (``publish_output``). With
``-f`` the subscription is opened first, so nothing written between the two
is lost; lines the event channel delivers that were already in the backlog
(published no later than its newest line, or than the reply when it is
empty) are skipped.
"""

from __future__ import annotations

import sys
from argparse import Namespace
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from circus.client import CircusClient, ClientError, raise_for_status
from circus.ctl._console import output_text
from circus.ctl._run import EXIT_ERROR_REPLY, EXIT_FAILED, EXIT_OK, dump_json, print_error
from circus.ctl._wakeup import signal_wakeup

if TYPE_CHECKING:
    from circus.client import EventPayload, EventSubscriber

# How long -f waits for a first event before asking for the backlog: a chatty
# watcher proves the subscription is live, a quiet one has nothing to lose.
_SUBSCRIBE_GRACE = 0.5


def _print_lines(lines: Iterable[Mapping[str, object]], as_json: bool) -> None:
    for line in lines:
        if as_json:
            sys.stdout.write(dump_json(dict(line), False) + "\n")
        else:
            sys.stdout.write(output_text(line.get("data", "")))
    sys.stdout.flush()


def _subscribe(client: CircusClient, ns: Namespace) -> EventSubscriber:
    """A subscriber to the watcher's output topic on circusd's event channel.

    Raises:
        ClientError: circusd does not answer, or has no event channel.
    """
    # pyzmq only now: a plain ``tail`` starts as fast as every other command.
    from circus.client import EventSubscriber

    reply = raise_for_status(client.call("globaloptions"))
    endpoint = reply.get("options", {}).get("pubsub_endpoint")
    if not endpoint:
        raise ClientError("circusd has no event channel (pubsub_endpoint): cannot follow")
    # circusd's topic spelling of a name: lowercased, spaces as underscores.
    topic = f"watcher.{str(ns.name).lower().replace(' ', '_')}.output"
    return EventSubscriber(str(endpoint), [topic],
                           ssh_server=ns.ssh, ssh_keyfile=ns.ssh_keyfile,
                           curve=getattr(ns, "curve", None))


def tail(client: CircusClient, ns: Namespace, props: Mapping[str, object]) -> int:
    """Print the backlog ``props`` asks for, then follow with ``ns.follow``; the exit code."""
    as_json = bool(getattr(ns, "json", False))
    subscriber: EventSubscriber | None = None
    try:
        try:
            early: list[EventPayload] = []
            if ns.follow:
                subscriber = _subscribe(client, ns)
                first = subscriber.recv(_SUBSCRIBE_GRACE)
                if first is not None:
                    early.append(first[1])
            reply = client.call("tail", **props)
        except ClientError as exc:
            print_error(f"error: {exc}")
            return EXIT_FAILED
        if reply.get("status") == "error":
            print_error(f"error: {reply.get('reason', 'unknown error')}")
            return EXIT_ERROR_REPLY
        backlog = reply.get("lines", [])
        if as_json and not ns.follow:
            print(dump_json(reply, getattr(ns, "prettify", False)))
            return EXIT_OK
        _print_lines(backlog, as_json)
        if subscriber is None:
            return EXIT_OK
        # Lines are stamped per chunk, and a chunk is kept whole before the reply
        # is made: anything stamped no later than this is already shown.
        cutoff = float(backlog[-1]["time"] if backlog else reply.get("time", 0.0))
        _print_lines((p for p in early if float(p.get("time", 0.0)) > cutoff), as_json)
        with signal_wakeup() as wakeup:
            while True:
                event = subscriber.recv(wakeup_fd=wakeup)
                if event is not None and float(event[1].get("time", 0.0)) > cutoff:
                    _print_lines([event[1]], as_json)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how -f ends
    finally:
        if subscriber is not None:
            subscriber.close()
    return EXIT_OK
