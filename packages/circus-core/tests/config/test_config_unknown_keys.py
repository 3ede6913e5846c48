"""Keys we do not know load as circus 0.19 loads them, each with one warning line.

circus 0.19 ignores an unknown key in ``[circus]``, ``[watcher:NAME]`` and
``[socket:NAME]``, so such configs run there and must run here. Ours still
says so: one line naming the file, line, section and key, with the hint the
error used to give, and the key changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pytest
from circus.config import ConfigError, load_config

FIXTURES = Path(__file__).parent / "fixtures"

# fixture -> (line, fragments the warning contains)
CASES: dict[str, tuple[int, tuple[str, ...]]] = {
    "unknown_option_did_you_mean.ini": (
        3,
        ("[watcher:web] numprocess = 3", "unknown [watcher:NAME] option",
         "did you mean 'numprocesses'?"),
    ),
    "option_of_socket_in_watcher.ini": (
        3,
        ("host = 127.0.0.1", "'host' is a [socket:NAME] option, not a [watcher:NAME] option"),
    ),
    "option_of_watcher_in_circus.ini": (
        2,
        ("[circus] numprocesses = 3", "'numprocesses' is a [watcher:NAME] option"),
    ),
    "env_option_in_watcher.ini": (3, ("env = A=1", "[env:web]")),
    "unknown_socket_option.ini": (
        4,
        ("[socket:web] so_reuse_port = true", "unknown [socket:NAME] option",
         "did you mean 'so_reuseport'?"),
    ),
}

def _mapping(value: object) -> dict[str, object]:
    """A mapping value of a loaded watcher (env, streams, rlimits), as a dict."""
    assert isinstance(value, Mapping), value
    return dict(value)


@pytest.mark.parametrize("name", sorted(CASES))
def test_unknown_key_loads_with_one_warning(name: str, caplog: pytest.LogCaptureFixture) -> None:
    line, fragments = CASES[name]
    path = FIXTURES / name
    with caplog.at_level(logging.WARNING, logger="circus"):
        load_config(path)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    message = warnings[0]
    assert message.startswith(f"{path}, line {line}, "), message
    assert message.endswith("; ignored, as circus 0.19 ignores it"), message
    for fragment in fragments:
        assert fragment in message, message


def test_an_unknown_key_changes_nothing() -> None:
    config = load_config(FIXTURES / "unknown_option_did_you_mean.ini")
    watcher = config.watcher("web")
    assert watcher["numprocesses"] == 1
    assert "numprocess" not in watcher
    assert _mapping(watcher["env"]) == {}
    assert "numprocesses" not in load_config(FIXTURES / "option_of_watcher_in_circus.ini").circus
    socket = load_config(FIXTURES / "unknown_socket_option.ini").sockets[0]
    assert (socket["port"], socket["so_reuseport"]) == (8080, False)
    assert "so_reuse_port" not in socket


def test_an_unknown_key_does_not_hide_a_bad_value(tmp_path: Path) -> None:
    path = tmp_path / "circus.ini"
    path.write_text("[watcher:web]\ncmd = sleep 60\nflavour = mint\nnumprocesses = many\n")
    with pytest.raises(ConfigError, match=r"line 4, \[watcher:web\] numprocesses = many"):
        load_config(path)
