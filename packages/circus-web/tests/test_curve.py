"""circushttpd in front of a circusd with CURVE on: snapshots, stats and actions go through
CURVE, and an action the console's key may not run is refused with circusd's reason.

circusd runs its own circusd-stats (with circusd's key pair); a second
circusd-stats, started here as one runs on another host, has a key pair of
its own, and circushttpd reaches it with ``--curve-stats-server-key``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from circus.client import write_key_pair

from .conftest import Client, EventStream, _stop


def test_snapshots_and_stats_through_curve(daemons: Any, webs: Any, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    server_public, server_secret = write_key_pair(str(keys), "circusd")
    web_public, web_secret = write_key_pair(str(keys), "web", "operator")
    stats_public, stats_secret = write_key_pair(str(keys), "stats", "reader")
    authorized = tmp_path / "authorized"  # circusd's clients
    authorized.mkdir()
    subscribers = tmp_path / "subscribers"  # the second circusd-stats's clients
    subscribers.mkdir()
    for source, directory in ((web_public, authorized), (stats_public, authorized),
                              (web_public, subscribers)):
        (directory / Path(source).name).write_text(Path(source).read_text())
    # The section Circusd.watcher writes, for the directory daemons() makes ("circusd-a").
    watcher = (f"[watcher:w]\ncmd = {sys.executable} -u worker.py\n"
               f"working_dir = {tmp_path / 'circusd-a'}\nnumprocesses = 2\ncopy_env = True\n")
    circusd = daemons(watcher, circus_extra=f"curve_secret_key = {server_secret}\n"
                                            f"curve_authorized_keys = {authorized}\n")
    statspoint = f"ipc://{circusd.ipc}/stats-b"
    stats_b = subprocess.Popen(
        [sys.executable, "-m", "circus.stats", "--endpoint", circusd.endpoint,
         "--pubsub", circusd.pubsub, "--statspoint", statspoint,
         "--curve-server-key", server_public, "--curve-key", stats_secret,
         "--curve-authorized-keys", str(subscribers),
         "--log-output", str(tmp_path / "stats-b.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        curve = ["--curve-server-key", server_public, "--curve-key", web_secret]
        for stats_args in ([], ["--curve-stats-server-key", stats_public]):
            endpoint = circusd.endpoint if not stats_args else (
                f"{circusd.endpoint},stats={statspoint}")
            web = webs("--endpoint", endpoint, *curve, *stats_args)
            stream = EventStream(web.base)
            try:
                _, snap = stream.first(lambda e, d: e == "node" and len(
                    d["watchers"].get("w", {}).get("pids", [])) >= 2, timeout=30,
                    what="w with its pids")
                pids = [str(pid) for pid in snap["watchers"]["w"]["pids"]]

                def both(event: str, data: Any, pids: list[str] = pids) -> bool:
                    return event == "stats" and all(pid in data["pids"] for pid in pids)

                stream.first(both, timeout=30, what="stats of both pids")
                if not stats_args:
                    # Actions go to circusd with the console's key: an operator's.
                    client = Client(web.base)
                    client.request("GET", "/")  # no login: the page sets the XSRF cookie
                    assert client.post("/api/n0/incr", {"name": "w"})[0] == 200
                    status, body = client.post("/api/n0/reloadconfig", {})
                    assert status != 200 and "permission denied" in str(body), (status, body)
            finally:
                stream.close()
    finally:
        assert _stop(stats_b) == 0
