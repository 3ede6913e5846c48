"""The console in a real browser against real circusd + circusd-stats daemons.

Headless Debian chromium (``make test`` installs it; these tests never skip).
Each page is screenshotted into build/test-results/circus-web-screenshots/.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.common.by import By

from .browser import console_errors, log_in, screenshot
from .conftest import free_port, wait_for


def css(driver: webdriver.Chrome, selector: str) -> list[Any]:
    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def text_of(driver: webdriver.Chrome, selector: str) -> str:
    found = css(driver, selector)
    return str(found[0].text) if found else ""


def test_the_eight_steps(daemons: Any, webs: Any, users_file: Path, browser: webdriver.Chrome,
                         tmp_path: Path) -> None:
    port = free_port()
    circusd = daemons(f"[socket:front]\nhost = 127.0.0.1\nport = {port}\n\n")
    # publish_output: circusd itself publishes each line the workers print.
    circusd.call("add", name="w", cmd="python3", args=["-u", str(circusd.dir / "worker.py")],
                 start=True, options={"numprocesses": 2, "working_dir": str(circusd.dir),
                                      "publish_output": True, "graceful_timeout": 2})
    web = webs("--endpoint", circusd.endpoint, "--users-file", str(users_file))
    _eight_steps(circusd, web.base, browser, port)


def _eight_steps(circusd: Any, base: str, driver: webdriver.Chrome, port: int) -> None:
    # 1. Log in.
    driver.get(base + "/watchers")
    assert driver.current_url == base + "/login"
    screenshot(driver, "login")
    log_in(driver, base, "alice", "wonderland")
    wait_for(lambda: driver.current_url == base + "/", what="the nodes page")
    wait_for(lambda: text_of(driver, '[data-testid="state-n0"]') == "up", what="node up")
    screenshot(driver, "nodes")

    # 2. See the watchers.
    driver.get(base + "/watchers")
    wait_for(lambda: css(driver, '[data-testid="row-n0-w"] .count')
             and text_of(driver, '[data-testid="row-n0-w"] .count') == "2", what="w, 2 procs")

    # 3. A chart value changes within 3 s (circusd-stats ticks once a second).
    spark = '[data-testid="row-n0-w"] .spark.cpu'
    wait_for(lambda: css(driver, spark)[0].get_attribute("data-points"), what="a first point")
    points = int(css(driver, spark)[0].get_attribute("data-points"))
    wait_for(lambda: int(css(driver, spark)[0].get_attribute("data-points")) > points,
             timeout=3, what="the chart to move within 3 s")
    screenshot(driver, "watchers")

    # 4. Stop, checked through circusctl.
    css(driver, '[data-testid="stop-n0-w"]')[0].click()
    wait_for(lambda: circusd.circusctl("status", "w") == "stopped", what="w stopped")
    wait_for(lambda: text_of(driver, '[data-testid="row-n0-w"] .status') == "stopped",
             what="the page to say stopped")
    css(driver, '[data-testid="start-n0-w"]')[0].click()
    wait_for(lambda: circusd.circusctl("status", "w") == "active" and len(circusd.pids("w")) == 2,
             what="w active again")

    # 5. Kill a pid; its replacement shows up.
    driver.get(base + "/node/n0/watcher/w")
    wait_for(lambda: len(css(driver, "#procs .proc")) == 2, what="two process cards")
    before = {card.get_attribute("data-pid") for card in css(driver, "#procs .proc")}
    victim = sorted(before)[0]
    css(driver, f'[data-testid="kill-{victim}"]')[0].click()

    def replaced() -> bool:
        # One script call: cards found one by one may be removed before they are read.
        now = set(driver.execute_script(
            "return [...document.querySelectorAll('#procs .proc')].map(c => c.dataset.pid)"))
        return victim not in now and len(now - before) == 1
    wait_for(replaced, timeout=20, what="a new pid in place of the killed one")
    assert int(victim) not in circusd.pids("w")

    # 6. Incr: the count changes.
    css(driver, '[data-testid="incr"]')[0].click()
    wait_for(lambda: text_of(driver, '[data-testid="numprocesses"]') == "3", what="3 processes")
    assert len(circusd.pids("w")) == 3

    # Options are edited through `set`.
    field = css(driver, '[data-testid="opt-graceful_timeout"]')[0]
    field.clear()
    field.send_keys("7")
    field.find_element(By.XPATH, "./following-sibling::button").click()
    wait_for(lambda: circusd.call("get", name="w", keys=["graceful_timeout"])
             .get("options", {}).get("graceful_timeout") in (7, 7.0, "7"),
             what="graceful_timeout set to 7")

    # 7. The tail shows a line printed after the page opened.
    driver.refresh()
    # What the workers had printed by then, as circusd's own tail command has it.
    opened_with = set(circusd.circusctl("tail", "w", "-n", "1000").splitlines())
    assert opened_with, "circusctl tail shows the workers' lines"
    wait_for(lambda: any(line and line not in opened_with
                         for line in text_of(driver, "#tail").splitlines()),
             what="a fresh worker line in the tail")
    wait_for(lambda: all(card.get_attribute("data-points")
                         for card in css(driver, "#procs .chart")), what="charts drawn")
    driver.execute_script("window.scrollTo(0, 0)")  # the refresh kept the options' scroll
    screenshot(driver, "watcher")

    # The remaining pages, for the record.
    with socket.create_connection(("127.0.0.1", port)):
        pass
    driver.get(base + "/sockets")
    wait_for(lambda: css(driver, '[data-testid="sock-n0-front"]'), what="the socket card")
    screenshot(driver, "sockets")
    driver.get(base + "/node/n0/add")
    screenshot(driver, "add")
    assert console_errors(driver) == []

    # Add a watcher through the form.
    driver.find_element(By.NAME, "name").send_keys("added")
    driver.find_element(By.NAME, "cmd").send_keys(f"python3 -u {circusd.dir / 'worker.py'}")
    driver.find_element(By.CSS_SELECTOR, "#add-form button").click()
    wait_for(lambda: driver.current_url.endswith("/node/n0/watcher/added"), what="its page")
    wait_for(lambda: len(circusd.pids("added")) == 1, what="the added watcher running")

    # 8. As a read-only user: no buttons, and a forged POST is refused.
    driver.delete_all_cookies()
    log_in(driver, base, "bob", "builder")
    wait_for(lambda: driver.current_url == base + "/", what="bob logged in")
    for page in ("/watchers", "/node/n0/watcher/w", "/"):
        driver.get(base + page)
        wait_for(lambda: text_of(driver, '[data-testid="who"]').startswith("bob"),
                 what="the page")
        if page == "/watchers":
            wait_for(lambda: css(driver, '[data-testid="row-n0-w"]'), what="the row")
        assert css(driver, "button.act, button.bulk-act, form.set-form") == []
    screenshot(driver, "watchers-read-only")
    status = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const xsrf = document.querySelector('meta[name="xsrf"]').content;
        fetch('/api/n0/stop', {method: 'POST', body: new URLSearchParams({name: 'w'}),
                               headers: {'X-XSRFToken': xsrf}}).then(r => done(r.status));
    """)
    assert status == 403
    assert circusd.circusctl("status", "w") == "active"
    assert len(circusd.pids("w")) == 3


def test_two_circusd_on_one_page_with_bulk_actions(daemons: Any, webs: Any,
                                                   browser: webdriver.Chrome) -> None:
    first = daemons("", name="a")
    second = daemons("", name="b")
    for daemon, name in ((first, "alpha"), (second, "beta")):
        daemon.call("add", name=name, cmd="python3", args=["-u", str(daemon.dir / "worker.py")],
                    start=True, options={"working_dir": str(daemon.dir), "graceful_timeout": 2})
    web = webs("--endpoint", first.endpoint, "--endpoint", second.endpoint)  # loopback: no login
    browser.get(web.base + "/watchers")
    wait_for(lambda: css(browser, '[data-testid="row-n0-alpha"]')
             and css(browser, '[data-testid="row-n1-beta"]'), what="both watchers")
    # One watcher of each node, stopped from the same page.
    css(browser, '[data-testid="stop-n1-beta"]')[0].click()
    wait_for(lambda: second.circusctl("status", "beta") == "stopped", what="beta stopped")
    assert first.circusctl("status", "alpha") == "active"
    # Bulk: select both, restart then stop, with progress.
    for box in css(browser, 'input.pick[data-name="alpha"], input.pick[data-name="beta"]'):
        box.click()
    css(browser, 'button.bulk-act[data-action="start"]')[0].click()
    wait_for(lambda: text_of(browser, '[data-testid="bulk-status"]') == "start: 2/2 done",
             what="bulk start done")
    assert second.circusctl("status", "beta") == "active"
    css(browser, 'button.bulk-act[data-action="stop"]')[0].click()
    wait_for(lambda: text_of(browser, '[data-testid="bulk-status"]') == "stop: 2/2 done",
             what="bulk stop done")
    assert first.circusctl("status", "alpha") == "stopped"
    assert second.circusctl("status", "beta") == "stopped"
    screenshot(browser, "two-nodes")
    assert console_errors(browser) == []


def test_many_processes_are_paged(daemons: Any, webs: Any, browser: webdriver.Chrome) -> None:
    """A watcher of many processes gets one page of cards (and charts) at a time."""
    circusd = daemons("[watcher:many]\ncmd = sleep 3600\nnumprocesses = 30\n")
    wait_for(lambda: len(circusd.pids("many")) == 30, what="30 sleepers")
    web = webs("--endpoint", circusd.endpoint)
    browser.get(web.base + "/node/n0/watcher/many")
    wait_for(lambda: len(css(browser, "#procs .proc")) == 24, what="a first page of 24")
    assert text_of(browser, "#pager .where") == "processes 1\u201324 of 30"
    first = {card.get_attribute("data-pid") for card in css(browser, "#procs .proc")}
    css(browser, '[data-testid="page-next"]')[0].click()
    wait_for(lambda: len(css(browser, "#procs .proc")) == 6, what="the last 6")
    rest = {card.get_attribute("data-pid") for card in css(browser, "#procs .proc")}
    assert not first & rest
    assert first | rest == {str(pid) for pid in circusd.pids("many")}
    assert console_errors(browser) == []


def test_a_hostile_watcher_name_stays_text(daemons: Any, webs: Any,
                                          browser: webdriver.Chrome) -> None:
    """Names reach the DOM through textContent only: no element, no script."""
    import sys

    circusd = daemons("")
    evil = '<img src=x id=pwned onerror="alert(1)">'
    assert circusd.call("add", name=evil, cmd=sys.executable,
                        args=["-c", "import time; time.sleep(3600)"], start=True)["status"] == "ok"
    web = webs("--endpoint", circusd.endpoint)
    browser.get(web.base + "/watchers")
    wait_for(lambda: any(link.text == evil for link in css(browser, "table.watchers a")),
             what="the name shown as text")
    assert css(browser, "#pwned") == [] and css(browser, "img") == []
