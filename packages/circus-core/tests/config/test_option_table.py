"""Every option is declared once (``circus.config._options``) and everyone agrees with it.

The constructors' defaults equal the table's, so an arbiter or watcher built in
Python behaves as one built from a file; the live kinds are the only record of
how an option changes at runtime; inert options say so when they are set.
"""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from circus._daemon.from_config import build_arbiter
from circus._reconfig.live_options import is_live, parse_set_options
from circus._setup.build import ArbiterOptions, arbiter_options
from circus.arbiter import Arbiter
from circus.commands import Dispatcher
from circus.config import CIRCUS_OPTIONS, WATCHER_OPTIONS, load_config
from circus.config._options import WATCHER_COMPOUND
from circus.errors import MessageError
from circus.process import Process
from circus.watcher import Watcher, WatcherOptions

# The manual's Arbiter signature gives these None, meaning "not given": the
# arbiter then leaves logging to circusd (loglevel, logoutput: circusd-stats
# gets no --log-level) and papa's default endpoint (circus._papa's).
_ARBITER_NOT_GIVEN = {"loglevel", "logoutput", "papa_endpoint"}


def _defaults(cls: type) -> dict[str, Any]:
    return {name: p.default for name, p in inspect.signature(cls).parameters.items()
            if p.default is not inspect.Parameter.empty}


@pytest.mark.parametrize(("cls", "tables"), [
    (Watcher, (WATCHER_OPTIONS, WATCHER_COMPOUND)),
    (Process, (WATCHER_OPTIONS, WATCHER_COMPOUND)),
    (Arbiter, (CIRCUS_OPTIONS,)),
], ids=["Watcher", "Process", "Arbiter"])
def test_constructor_defaults_equal_the_table(cls: type, tables: tuple[Any, ...]) -> None:
    defaults = _defaults(cls)
    shared = {name: option for table in tables for name, option in table.items()
              if name in defaults}
    assert shared, cls
    differ = {name for name, option in shared.items() if defaults[name] != option.default}
    if cls is Arbiter:
        assert differ == _ARBITER_NOT_GIVEN
        assert all(defaults[name] is None for name in differ)
    else:
        assert differ == set(), {n: (defaults[n], shared[n].default) for n in differ}


def test_every_watcher_option_is_a_watcher_parameter() -> None:
    parameters = inspect.signature(Watcher).parameters
    assert set(WATCHER_OPTIONS) | set(WATCHER_COMPOUND) <= set(parameters)


def _globaloptions(arbiter: Arbiter) -> dict[str, Any]:
    raw = json.dumps({"command": "globaloptions", "properties": {}, "id": "x"}).encode()
    reply = Dispatcher(arbiter).handle(raw)
    assert isinstance(reply, bytes)
    options: dict[str, Any] = json.loads(reply)["options"]
    return options


def test_arbiter_options_name_every_arbiter_parameter() -> None:
    # build() passes a typed ArbiterOptions to Arbiter(**options): its keys must
    # be exactly the constructor's, and the [circus] reader must fill every
    # [circus] option the constructor takes (the loader's own keys aside).
    parameters = set(inspect.signature(Arbiter).parameters) - {"watchers"}
    assert set(ArbiterOptions.__annotations__) == parameters
    read = set(arbiter_options({}))
    assert read == set(CIRCUS_OPTIONS) & parameters
    assert set(CIRCUS_OPTIONS) - read == {"include", "include_dir", "stream_backend"}


def test_watcher_options_name_every_watcher_keyword() -> None:
    # Arbiter.add_watcher(name, cmd, **options: Unpack[WatcherOptions]).
    parameters = set(inspect.signature(Watcher).parameters) - {"name", "cmd", "options"}
    assert set(WatcherOptions.__annotations__) == parameters


def test_globaloptions_is_the_same_however_the_arbiter_was_built(tmp_path: Path) -> None:
    path = tmp_path / "circus.ini"
    path.write_text("[watcher:app]\ncmd = sleep 60\n")
    from_file = build_arbiter(load_config(path))
    from_python = Arbiter([Watcher("app", "sleep 60")])
    assert _globaloptions(from_file) == _globaloptions(from_python)
    assert _globaloptions(from_file)["check_delay"] == CIRCUS_OPTIONS["check_delay"].default
    from_file.close()
    from_python.close()


def test_check_delay_says_what_it_does() -> None:
    assert "nothing polls" in CIRCUS_OPTIONS["check_delay"].doc
    assert "globaloptions" in CIRCUS_OPTIONS["check_delay"].doc


@pytest.mark.parametrize("name", sorted(WATCHER_OPTIONS))
def test_set_accepts_exactly_the_live_options(name: str) -> None:
    watcher = Watcher("w", "sleep 60")
    value = watcher.stop_signal if name == "stop_signal" else getattr(watcher, name)
    if name == "cmd":
        value = "sleep 61"
    if WATCHER_OPTIONS[name].live is None:
        assert not is_live(name)
        with pytest.raises(MessageError, match="cannot change while the watcher exists"):
            parse_set_options(watcher, {name: value})
    else:
        assert is_live(name)
        [change] = parse_set_options(watcher, {name: value})
        assert change.attr == name


def test_compound_options_are_live_and_free_keys_too() -> None:
    assert all(is_live(name) for name in WATCHER_COMPOUND)
    assert is_live("flapping.max_retry")
    assert not is_live("name")


# httpd* (circus-web), check_flapping (the flapping plugin), use_papa and
# papa_endpoint (circus._papa) are acted on now.
INERT_WATCHER: dict[str, Any] = {}
INERT_ARBITER: dict[str, Any] = {"proc_name": "mydaemon"}


def _inert_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "is accepted but not acted on" in
            r.getMessage()]


def test_the_inert_options_are_those_of_the_issue() -> None:
    inert = {n for n, o in {**WATCHER_OPTIONS, **CIRCUS_OPTIONS}.items() if o.inert}
    assert inert == (set(INERT_WATCHER) | set(INERT_ARBITER)) - {"proc_name"}


def test_no_watcher_option_is_inert(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="circus")
    Watcher("quiet", "sleep 60", check_flapping=False, use_papa=True)
    assert INERT_WATCHER == {}
    assert _inert_lines(caplog) == []


def test_inert_arbiter_options_warn_once_when_set(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="circus")
    Arbiter([]).close()
    assert _inert_lines(caplog) == []
    Arbiter([], **INERT_ARBITER).close()
    lines = _inert_lines(caplog)
    assert len(lines) == len(INERT_ARBITER)
    for name, value in INERT_ARBITER.items():
        assert sum(line.startswith(f"arbiter: {name} = {value!r} ") for line in lines) == 1


def test_papa_options_from_a_file_no_longer_warn(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="circus")
    path = tmp_path / "circus.ini"
    path.write_text("[circus]\npapa_endpoint = ipc:///tmp/papa.sock\n\n[watcher:app]\n"
                    "cmd = sleep 60\nuse_papa = true\n")
    arbiter = build_arbiter(load_config(path))
    arbiter.close()
    assert _inert_lines(caplog) == []
    assert arbiter.papa_endpoint == "ipc:///tmp/papa.sock"
    assert arbiter.watchers[0].use_papa is True
