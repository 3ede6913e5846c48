"""The --config encoding and the option readers, as pure functions."""

from __future__ import annotations

import signal

import pytest
from circus.plugins import CircusPlugin, ConfigError, encode_config, parse_config
from circus.plugins._options import Options, parse_signal, parse_size


def test_values_keep_spaces_colons_and_quotes() -> None:
    text = "a: hello   world :::url:http://h:80/x y:::q:'it''s' \"x\":::empty:"
    assert parse_config(text) == {"a": "hello   world", "url": "http://h:80/x y",
                                  "q": "'it''s' \"x\"", "empty": ""}


def test_encode_then_parse_round_trips() -> None:
    config = {"name": "plugin:flapping", "max_retry": "5", "msg": "a b:c"}
    text = encode_config(config)
    assert text == "max_retry:5:::msg:a b:c:::name:plugin:flapping"  # sorted, as upstream
    assert parse_config(text) == config


def test_json_object_form() -> None:
    assert parse_config('{"a": "x:::y", "n": 3}') == {"a": "x:::y", "n": "3"}
    with pytest.raises(ConfigError, match="invalid JSON"):
        parse_config("{nope")


@pytest.mark.parametrize("text", ["novalue", "a:1:::broken", ":x"])
def test_malformed_items_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="--config: item"):
        parse_config(text)


def test_empty_config() -> None:
    assert parse_config(None) == {} and parse_config("  ") == {}


def test_sizes_and_signals() -> None:
    assert parse_size("250M") == 250 * 1024**2
    assert parse_size("1.5K") == 1536 and parse_size("512B") == 512
    assert parse_size("2G") == 2 * 1024**3
    with pytest.raises(ValueError):
        parse_size("12X")
    assert parse_signal("TERM") == parse_signal("sigterm") == int(signal.SIGTERM)
    assert parse_signal("9") == 9
    with pytest.raises(ValueError):
        parse_signal("NOPE")


def test_option_errors_name_plugin_option_and_expectation() -> None:
    options = Options("plugin:x", {"n": "five", "r": "(", "b": "maybe"})
    with pytest.raises(ConfigError, match=r"plugin plugin:x: option 'n' expects a number"):
        options.number("n", 1.0)
    with pytest.raises(ConfigError, match=r"option 'r' expects a regular expression"):
        options.regex("r", ".*")
    with pytest.raises(ConfigError, match=r"option 'b' expects true or false"):
        options.boolean("b", True)


def test_split_data_keeps_dotted_names_whole() -> None:
    """Upstream took the 2nd and 3rd dot-fields: 'web.v2' lost its action."""
    assert CircusPlugin.split_data([b"watcher.web.spawn", b"{}"]) == ("web", "spawn", b"{}")
    assert CircusPlugin.split_data([b"watcher.web.v2.reap", b"{}"]) == ("web.v2", "reap", b"{}")
    assert CircusPlugin.load_message(b'{"process_pid": 3}') == {"process_pid": 3}
