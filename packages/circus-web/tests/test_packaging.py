"""The wheel carries the pinned uPlot and serves it; discovery by multicast finds circusd."""

from __future__ import annotations

import random
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

from .conftest import Client, wait_for


def test_wheel_ships_uplot_with_its_licence() -> None:
    vendor = files("circus.web") / "static" / "vendor"
    script = (vendor / "uPlot.iife.min.js").read_bytes()
    assert b"uPlot" in script and len(script) > 40_000
    assert b"MIT" in (vendor / "uPlot.LICENSE.txt").read_bytes()
    assert (vendor / "uPlot.min.css").read_bytes().startswith(b".uplot")
    # Not a hand-written stand-in: the source tree has no copy of it.
    assert not (Path(__file__).parents[1] / "src" / "circus" / "web" / "static" /
                "vendor").exists()


def test_pages_load_their_scripts_from_the_console(daemons: Any, webs: Any) -> None:
    circusd = daemons("")
    web = webs("--endpoint", circusd.endpoint)
    client = Client(web.base)
    status, headers, page = client.request("GET", "/watchers")
    assert status == 200
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for asset in ("vendor/uPlot.iife.min.js", "console.js", "console.css"):
        found = re.search(rf'"(/static/{re.escape(asset)}\?v=[0-9a-f]+)"', page)
        assert found, asset
        status, _, body = client.request("GET", found.group(1))
        installed = (files("circus.web") / "static" / asset).read_text()
        assert status == 200 and body == installed


def test_multicast_discovery_adds_the_circusd_that_answer(daemons: Any, webs: Any) -> None:
    group = f"udp://237.219.251.97:{random.randrange(20000, 60000)}"
    circusd = daemons("", circus_extra=f"multicast_endpoint = {group}\n")
    web = webs("--multicast", group)
    client = Client(web.base)
    nodes = wait_for(lambda: client.state()["nodes"], what="a discovered node")
    assert [node["endpoint"] for node in nodes] == [circusd.endpoint]
    wait_for(lambda: client.state()["nodes"][0]["state"] == "up", what="the node up")
