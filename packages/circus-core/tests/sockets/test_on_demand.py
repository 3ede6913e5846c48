"""on_demand: started by a connection to one of its own sockets, and again after it exits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from circus.sockets import CircusSocket
from circus.watcher import Watcher
from conftest import apoll

from ._workers import ask_pid, serve_cmd

MakeArbiter = Callable[..., Any]


def _tcp(name: str, **options: Any) -> CircusSocket:
    return CircusSocket(name=name, host="127.0.0.1", port=0, **options)


async def test_first_connection_starts_and_is_served(make_arbiter: MakeArbiter) -> None:
    web = _tcp("web")
    harness = await make_arbiter(Watcher("w", serve_cmd(), on_demand=True),
                                 sockets={"web": web})
    watcher = harness.watcher("w")
    assert watcher.status() == "stopped" and watcher.pids == []
    pid = await ask_pid("127.0.0.1", web.port)  # the connection that wakes it
    assert watcher.pids == [pid] and watcher.status() == "active"


async def test_after_exit_the_next_connection_starts_it_again(
    make_arbiter: MakeArbiter,
) -> None:
    web = _tcp("web")
    harness = await make_arbiter(Watcher("w", serve_cmd("$(circus.sockets.web)", "--once"),
                                         on_demand=True), sockets={"web": web})
    watcher = harness.watcher("w")
    first = await ask_pid("127.0.0.1", web.port)
    await apoll(lambda: watcher.status() == "stopped" and not watcher.pids)
    second = await ask_pid("127.0.0.1", web.port)
    assert second != first
    await apoll(lambda: watcher.status() == "stopped")
    assert harness.topics(".start").count("watcher.w.start") == 2


async def test_stopped_by_command_waits_for_the_next_connection(
    make_arbiter: MakeArbiter,
) -> None:
    web = _tcp("web")
    harness = await make_arbiter(Watcher("w", serve_cmd(), on_demand=True),
                                 sockets={"web": web})
    watcher = harness.watcher("w")
    first = await ask_pid("127.0.0.1", web.port)
    await watcher.stop()
    assert watcher.pids == []
    second = await ask_pid("127.0.0.1", web.port)
    assert second != first and watcher.pids == [second]


async def test_only_its_own_sockets_start_it(make_arbiter: MakeArbiter) -> None:
    mine, other = _tcp("mine"), _tcp("other")
    lazy = Watcher("lazy", serve_cmd("$(circus.sockets.mine)"), on_demand=True)
    busy = Watcher("busy", serve_cmd("$(circus.sockets.other)"))
    harness = await make_arbiter(lazy, busy, sockets={"mine": mine, "other": other})
    served = await ask_pid("127.0.0.1", other.port)
    assert served in harness.watcher("busy").pids
    # Only its own socket is watched, so a connection elsewhere cannot wake it.
    assert harness.arbiter._on_demand._armed == {"lazy": [mine.fileno()]}
    assert harness.watcher("lazy").pids == []
    pid = await ask_pid("127.0.0.1", mine.port)
    assert harness.watcher("lazy").pids == [pid]


async def test_reuseport_socket_does_not_start_it(make_arbiter: MakeArbiter) -> None:
    shared = _tcp("shared", so_reuseport=True)
    watcher = Watcher("w", serve_cmd("$(circus.sockets.shared)"), on_demand=True)
    harness = await make_arbiter(watcher, sockets={"shared": shared})
    # Upstream started such a watcher at once. Nothing of it is watched here, so
    # nothing can wake it.
    assert harness.arbiter._on_demand._armed == {}
    assert harness.watcher("w").pids == []
    assert harness.watcher("w").status() == "stopped"
    assert "watcher.w.start" not in harness.topics()


async def test_an_on_demand_watcher_added_at_runtime_waits_for_a_connection(
    make_arbiter: MakeArbiter,
) -> None:
    web = _tcp("web")
    harness = await make_arbiter(sockets={"web": web})
    # Not started by `add` (an explicit start would start it): armed by its add event.
    added = await harness.arbiter.add_watcher("late", serve_cmd(), on_demand=True)
    assert added.pids == [] and added.status() == "stopped"
    pid = await ask_pid("127.0.0.1", web.port)
    assert added.pids == [pid] and added.status() == "active"
