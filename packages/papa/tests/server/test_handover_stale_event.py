"""A pipe event left over from the select() round in which the pipe was handed over.

The kernel's loop handles a round's events in turn. An acknowledgement early
in the round can send the next batch, which hands a process's sockets to its
watcher; an event for one of those sockets later in the same round is then
stale. Reading it would make a chunk a record sent after the handover, while
the watcher already reads the output that follows it: lines out of order
across a circusd restart (seen in integration-tests/test_papa_proof_output.py).
"""

from __future__ import annotations

import selectors
import sys

from papa.server._children import Children
from papa.server._processes import Process, ProcessSpec
from papa.server._spawn import spawn


def test_an_event_for_a_socket_handed_over_in_the_same_round_is_ignored():
    spec = ProcessSpec(args=(sys.executable, "-c",
                             "import sys, time; sys.stdout.write('one\\n'); sys.stdout.flush();"
                             " time.sleep(30)"), handover=True)
    process = Process("p", spec, spawn(spec, {}))
    selector = selectors.DefaultSelector()
    outputs: list[bytes] = []
    children = Children(selector, lambda _p, _kind, data: outputs.append(data),
                        lambda _p, _code: None, use_pidfd=True)
    try:
        children.add(process)
        stdout_fd = process.popen.stdout.fileno()  # type: ignore[union-attr]
        stale = None
        for _ in range(100):  # until the child's line makes the socket readable
            ready = [key for key, _ in selector.select(5.0) if key.fd == stdout_fd]
            if ready:
                stale = ready[0]
                break
        assert stale is not None, "the child's output never arrived"
        handed = children.hand_over(process)  # earlier in the same round
        assert [kind for kind, _ in handed] == ["out", "err"]
        stale.data(selectors.EVENT_READ)  # the round's later, stale event
        assert outputs == []
        children.take_back(process)  # the watcher went away: papa reads again
        for _ in range(100):
            for key, mask in selector.select(5.0):
                if key.fd == stdout_fd:
                    key.data(mask)
            if outputs:
                break
        assert outputs == [b"one\n"]
    finally:
        process.popen.kill()
        process.popen.wait()
        children.close()
        selector.close()
