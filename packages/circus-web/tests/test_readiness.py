"""Readiness on the console: in each node snapshot, live from the events, and on the pages.

A scripted circusd (tests/scripted.py) publishes the ``ready`` and
``unhealthy`` events on cue; a long poll interval proves the pages learn
them from the events, not from the next poll.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from .browser import console_errors, screenshot
from .conftest import EventStream, wait_for
from .scripted import ScriptedCircusd, one_watcher

SLOW_POLL = ("--poll-interval", "60")  # no poll after the first: only the events move things


@pytest.fixture
def scripted() -> Iterator[ScriptedCircusd]:
    fake = ScriptedCircusd()
    yield fake
    fake.close()


def _web_health(snapshot: dict[str, Any]) -> dict[str, str] | None:
    health: dict[str, str] | None = snapshot["watchers"].get("web", {}).get("health")
    return health


def _until_delivered(fake: ScriptedCircusd, stream: EventStream, topic: str,
                     payload: dict[str, Any], delivered: Any, what: str) -> tuple[str, Any]:
    """Publish until a snapshot shows it: a PUB drops what it sends before the SUB connects."""
    def sent_and_seen() -> tuple[str, Any] | None:
        fake.publish(topic, {**payload, "time": time.time()})
        with stream.lock:
            return next(((e, d) for e, d in stream.events if e == "node" and delivered(d)), None)
    found: tuple[str, Any] = wait_for(sent_and_seen, 15, what)
    return found


def test_snapshots_carry_readiness_and_follow_the_events(scripted: ScriptedCircusd,
                                                         webs: Any) -> None:
    scripted.script = one_watcher("web", [101, 102], {"101": "starting", "102": "ready"},
                                  scripted.pubsub)
    web = webs("--endpoint", scripted.endpoint, *SLOW_POLL)
    stream = EventStream(web.base)
    try:
        _, snap = stream.first(lambda e, d: e == "node" and d["state"] == "up", what="up")
        assert _web_health(snap) == {"101": "starting", "102": "ready"}
        polls = scripted.counts["status"]
        _until_delivered(scripted, stream, "watcher.web.ready", {"process_pid": 101},
                         lambda d: (_web_health(d) or {}).get("101") == "ready", "101 ready")
        _, snap = _until_delivered(
            scripted, stream, "watcher.web.unhealthy",
            {"process_pid": 102, "output": "connection refused", "failures": 3},
            lambda d: (_web_health(d) or {}).get("102") == "unhealthy", "102 unhealthy")
        assert _web_health(snap) == {"101": "ready", "102": "unhealthy"}
        failed = snap["watchers"]["web"]["last_unhealthy"]
        assert (failed["pid"], failed["output"], failed["failures"]) == (
            102, "connection refused", 3)
        assert scripted.counts["status"] == polls  # the events did it, not a poll
    finally:
        stream.close()


def test_upstream_circusd_gives_no_readiness(scripted: ScriptedCircusd, webs: Any) -> None:
    scripted.script = one_watcher("web", [101], None, scripted.pubsub)
    web = webs("--endpoint", scripted.endpoint)
    stream = EventStream(web.base)
    try:
        _, snap = stream.first(lambda e, d: e == "node" and d["state"] == "up", what="up")
        assert snap["watchers"]["web"] == {"status": "active", "pids": [101],
                                           "numprocesses": 1}
    finally:
        stream.close()


def _badge(driver: webdriver.Chrome, pid: int) -> tuple[str, str]:
    found = driver.find_elements(By.CSS_SELECTOR, f'[data-testid="health-{pid}"]')
    if not found:
        return "", ""
    return str(found[0].text), str(found[0].get_attribute("class"))


def test_watcher_page_shows_a_live_badge_per_process(scripted: ScriptedCircusd, webs: Any,
                                                     browser: webdriver.Chrome) -> None:
    scripted.script = one_watcher("web", [101, 102, 103],
                                  {"101": "starting", "102": "ready", "103": "ready"},
                                  scripted.pubsub)
    web = webs("--endpoint", scripted.endpoint, *SLOW_POLL)
    browser.get(web.base + "/watchers")
    wait_for(lambda: [td.text for td in browser.find_elements(
        By.CSS_SELECTOR, 'tr[data-watcher="web"] td.ready')] == ["2/3"], what="2/3 ready")
    browser.get(web.base + "/node/n0/watcher/web")
    wait_for(lambda: _badge(browser, 101) == ("starting", "health starting"), what="starting")
    assert _badge(browser, 102) == ("ready", "health ready")
    ready_count = '[data-testid="ready-count"]'
    assert browser.find_element(By.CSS_SELECTOR, ready_count).text == "2/3 ready"

    def publish_until(topic: str, payload: dict[str, Any], pid: int, state: str) -> None:
        def shown() -> bool:
            scripted.publish(topic, {**payload, "time": time.time()})
            return _badge(browser, pid)[0] == state
        wait_for(shown, 15, f"{pid} {state} on the page")

    publish_until("watcher.web.ready", {"process_pid": 101}, 101, "ready")
    assert browser.find_element(By.CSS_SELECTOR, ready_count).text == "3/3 ready"
    publish_until("watcher.web.unhealthy", {"process_pid": 103, "output": "HTTP 503 <b>x</b>",
                                            "failures": 3}, 103, "unhealthy")
    assert _badge(browser, 103)[1] == "health unhealthy"
    failed = browser.find_element(By.CSS_SELECTOR, '[data-testid="last-unhealthy"]').text
    assert failed.startswith("last unhealthy: pid 103 after 3 failed checks at ")
    assert failed.endswith(": HTTP 503 <b>x</b>")  # text, never markup
    screenshot(browser, "readiness")
    assert console_errors(browser) == []


def test_a_thousand_processes_page_stays_fast(scripted: ScriptedCircusd, webs: Any,
                                              browser: webdriver.Chrome) -> None:
    pids = list(range(10_000, 11_000))
    health = {str(pid): "ready" if pid % 10 else "starting" for pid in pids}
    scripted.script = one_watcher("web", pids, health, scripted.pubsub)
    web = webs("--endpoint", scripted.endpoint, *SLOW_POLL)
    browser.get(web.base + "/node/n0/watcher/web")  # warm: templates, static files
    wait_for(lambda: _badge(browser, 10_000)[0] == "starting", what="the first page")
    started = time.monotonic()
    browser.get(web.base + "/node/n0/watcher/web")
    wait_for(lambda: _badge(browser, 10_023)[0] == "ready", what="24 cards with badges")
    loaded = time.monotonic() - started
    assert len(browser.find_elements(By.CSS_SELECTOR, "#procs .proc")) == 24
    assert browser.find_element(By.CSS_SELECTOR, '[data-testid="ready-count"]').text \
        == "900/1000 ready"
    def changed_on_the_page() -> bool:
        scripted.publish("watcher.web.ready", {"process_pid": 10_010, "time": time.time()})
        return _badge(browser, 10_010)[0] == "ready"

    started = time.monotonic()
    wait_for(changed_on_the_page, 15, "a live change")
    changed = time.monotonic() - started
    print(f"\n1000 processes: watcher page to badges {loaded * 1000:.0f} ms, "
          f"event to badge {changed * 1000:.0f} ms")
    # Generous bounds (a shared 2-core machine): the README's figures are the bench's.
    assert loaded < 3.0 and changed < 3.0, (loaded, changed)
    assert console_errors(browser) == []


def test_real_circusd_with_a_check(daemons: Any, webs: Any, browser: webdriver.Chrome) -> None:
    """circusd of this project: an ``exec:`` check the test passes by creating a file."""
    circusd = daemons("")
    flag = circusd.dir / "ready"
    circusd.call("add", name="web", cmd="sleep", args=["600"], start=True,
                 options={"numprocesses": 2, "check": f"exec:test -e {flag}",
                          "check_interval": 0.2, "check_timeout": 1, "check_retries": 100})
    wait_for(lambda: len(circusd.pids("web")) == 2, what="two processes")
    pids = circusd.pids("web")
    web = webs("--endpoint", circusd.endpoint)
    browser.get(web.base + "/node/n0/watcher/web")
    def all_shown(state: str) -> bool:
        return all(_badge(browser, pid)[0] == state for pid in pids)

    wait_for(lambda: all_shown("starting"), what="both starting")
    ready_count = '[data-testid="ready-count"]'
    assert browser.find_element(By.CSS_SELECTOR, ready_count).text == "0/2 ready"
    flag.touch()
    wait_for(lambda: all_shown("ready"), what="both ready")
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, ready_count).text == "2/2 ready",
             what="2/2 ready")
    screenshot(browser, "readiness-real")
    assert console_errors(browser) == []
