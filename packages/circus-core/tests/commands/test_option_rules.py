"""One rule, three doors: a watcher key is checked the same in a file, in ``set`` and in ``add``.

The INI loader, ``set`` and ``add`` route keys through one router
(``circus.config._keys``); each rule below is tried through all three, and
each must refuse the value at once (``add`` too, not at the watcher's start).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from circus.config import load_config
from circus.errors import ConfigError
from circus.watcher import Watcher

RULES = [
    pytest.param("stdout_stream.backup_count", "-1", "expected a non-negative integer",
                 id="backup_count"),
    pytest.param("stderr_stream.rotate_interval", "-2", "expected a non-negative integer",
                 id="rotate_interval"),
    pytest.param("stdout_stream.rotate_when", "fortnight",
                 "expected one of S, M, H, D, W0..W6, midnight", id="rotate_when"),
    pytest.param("stdout_stream.utc", "maybe", "expected a boolean", id="utc"),
    pytest.param("hooks.before_start", "not_dotted", "expected a dotted path",
                 id="hook_target"),
    pytest.param("hooks.before_strat", "mypkg.hooks.func", "unknown hook 'before_strat'",
                 id="hook_name"),
    pytest.param("hooks.after_start", "mypkg.hooks.func, perhaps", "ignore-errors flag",
                 id="hook_flag"),
    pytest.param("rlimit_nofiles", "100", "unknown resource limit 'nofiles'", id="rlimit_name"),
    pytest.param("rlimit_nofile", "-5", "expected a non-negative integer", id="rlimit_value"),
]


def _mapping(value: object) -> dict[str, object]:
    """A mapping value of a loaded watcher (env, streams, rlimits), as a dict."""
    assert isinstance(value, Mapping), value
    return dict(value)


@pytest.mark.parametrize(("key", "value", "expected"), RULES)
def test_the_ini_loader_refuses(tmp_path: Path, key: str, value: str, expected: str) -> None:
    path = tmp_path / "circus.ini"
    path.write_text(f"[watcher:app]\ncmd = sleep 60\n{key} = {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"line 3, [watcher:app] {key} = " in str(caught.value)
    assert expected in str(caught.value)


@pytest.mark.parametrize(("key", "value", "expected"), RULES)
async def test_set_refuses(make_arbiter: Any, ctl: Any, key: str, value: str,
                           expected: str) -> None:
    harness = await make_arbiter(Watcher("app", "sleep 60", graceful_timeout=5))
    watcher = harness.watcher("app")
    before = (dict(watcher.stdout_stream), dict(watcher.rlimits), watcher.hooks.specs())
    reply = await ctl(harness)("set", name="app", waiting=True, options={key: value})
    assert (reply["status"], reply["errno"]) == ("error", 3)
    assert reply["reason"].startswith(f"cannot set {key!r}: "), reply["reason"]
    assert expected in reply["reason"]
    assert (dict(watcher.stdout_stream), dict(watcher.rlimits), watcher.hooks.specs()) == before
    assert not harness.topics(".updated")


@pytest.mark.parametrize(("key", "value", "expected"), RULES)
async def test_add_refuses_at_once(make_arbiter: Any, ctl: Any, key: str, value: str,
                                   expected: str) -> None:
    harness = await make_arbiter()
    reply = await ctl(harness)("add", name="new", cmd="sleep 60", start=True, waiting=True,
                               options={key: value})
    assert (reply["status"], reply["errno"]) == ("error", 3)
    assert reply["reason"].startswith(f"cannot set {key!r}: "), reply["reason"]
    assert expected in reply["reason"]
    assert harness.arbiter.watchers == []
    assert not harness.topics(".add")


async def test_set_and_add_take_what_the_file_takes(make_arbiter: Any, ctl: Any,
                                                    tmp_path: Path) -> None:
    # The same keys, valid this time, mean the same thing through each door.
    options = {"stdout_stream.class": "TimedRotatingFileStream",
               "stdout_stream.filename": str(tmp_path / "out.log"),
               "stdout_stream.rotate_when": "midnight", "stdout_stream.backup_count": "3",
               "rlimit_nofile": "512"}
    ini = tmp_path / "circus.ini"
    ini.write_text("[watcher:app]\ncmd = sleep 60\n"
                   + "".join(f"{key} = {value}\n" for key, value in options.items()))
    [loaded] = load_config(ini).watchers
    harness = await make_arbiter()
    reply = await ctl(harness)("add", name="added", cmd="sleep 60", waiting=True,
                               options=options)
    assert reply["status"] == "ok", reply
    added = harness.watcher("added")
    assert added.stdout_stream == _mapping(loaded["stdout_stream"])
    assert added.rlimits == _mapping(loaded["rlimits"]) == {"nofile": 512}
    await harness.arbiter.add_watcher("changed", "sleep 60")
    reply = await ctl(harness)("set", name="changed", waiting=True, options=options)
    assert reply["status"] == "ok", reply
    changed = harness.watcher("changed")
    assert changed.stdout_stream == _mapping(loaded["stdout_stream"])
    assert changed.rlimits == {"nofile": 512}


async def test_set_of_check_flapping_is_acted_on_and_does_not_warn(
        make_arbiter: Any, ctl: Any, caplog: pytest.LogCaptureFixture) -> None:
    # It was inert until the flapping plugin (circus-plugins), which reads it, existed.
    caplog.set_level(logging.WARNING, logger="circus")
    harness = await make_arbiter(Watcher("app", "sleep 60", graceful_timeout=5))
    reply = await ctl(harness)("set", name="app", waiting=True,
                               options={"check_flapping": False})
    assert reply["status"] == "ok", reply
    assert harness.watcher("app").check_flapping is False
    assert [r.getMessage() for r in caplog.records if "not acted on" in r.getMessage()] == []
