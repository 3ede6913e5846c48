"""``[circus]`` options left empty (``option =``): what each one means, or why it is refused.

circus 0.19 runs with some options empty (``multicast_endpoint =`` is how its
configs turn discovery off) and refuses others; the table in the package README
records what upstream did with each, measured by
integration-tests/test_config_compat_empty.py. Here: what we do.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from circus.config import CIRCUS_OPTIONS, ConfigError, load_config

# Options an empty value is accepted for, and what it means.
EMPTY_MEANS = {
    "multicast_endpoint": None,  # discovery off
    "stats_endpoint": None,  # not set: circusd-stats' default, statsd not implied
    "prometheus": None,
    "statsd_close_outputs": False,
    "httpd_host": "localhost",
    "httpd_close_outputs": False,
    "stream_backend": "thread",
    "loglevel": "info",
    "logoutput": "-",
    "loggerconfig": None,
    "pidfile": None,
    "fqdn_prefix": None,
    "include": None,
    "include_dir": None,
    "ssh_server": None,
    "papa_endpoint": "tcp://127.0.0.1:20202",
    # Refused by circus 0.19 with a traceback; "not set" here, which is harmless.
    "umask": None,
    "endpoint_owner": None,
    # CURVE stays off.
    "curve_secret_key": None,
    "curve_authorized_keys": None,
}
# Options an empty value is refused for (so does circus 0.19), with what we say.
EMPTY_REFUSED = {
    "endpoint": "expected tcp://host:port or ipc://path",
    "pubsub_endpoint": "expected tcp://host:port or ipc://path",
    "check_delay": "expected a number of seconds",
    "warmup_delay": "expected a number of seconds",
    "statsd": "expected a boolean",
    "httpd": "expected a boolean",
    "debug": "expected a boolean",
    "debug_gc": "expected a boolean",
    "httpd_port": "expected an integer",
}


def load_with(tmp_path: Path, option: str) -> dict[str, object]:
    path = tmp_path / "circus.ini"
    path.write_text(f"[circus]\n{option} =\n[watcher:a]\ncmd = sleep 60\n")
    return dict(load_config(path).circus)


def test_every_circus_option_is_classified() -> None:
    assert set(EMPTY_MEANS) | set(EMPTY_REFUSED) == set(CIRCUS_OPTIONS)
    assert not set(EMPTY_MEANS) & set(EMPTY_REFUSED)


@pytest.mark.parametrize("option", sorted(EMPTY_MEANS))
def test_empty_value_is_accepted_with_its_meaning(tmp_path: Path, option: str) -> None:
    assert load_with(tmp_path, option)[option] == EMPTY_MEANS[option]


@pytest.mark.parametrize("option", sorted(EMPTY_REFUSED))
def test_empty_value_is_refused_naming_the_option(tmp_path: Path, option: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_with(tmp_path, option)
    message = str(info.value)
    assert f"line 2, [circus] {option} = '': {EMPTY_REFUSED[option]}" in message
    assert "\n" not in message


def test_an_empty_quoted_value_means_the_same(tmp_path: Path) -> None:
    path = tmp_path / "circus.ini"
    path.write_text('[circus]\nmulticast_endpoint = ""\nloglevel = ""\n')
    circus = load_config(path).circus
    assert circus["multicast_endpoint"] is None
    assert circus["loglevel"] == "info"


def test_a_set_multicast_endpoint_is_still_checked(tmp_path: Path) -> None:
    path = tmp_path / "circus.ini"
    path.write_text("[circus]\nmulticast_endpoint = tcp://1.2.3.4:5\n")
    with pytest.raises(ConfigError, match=r"multicast_endpoint = tcp://1\.2\.3\.4:5: expected udp"):
        load_config(path)


def test_an_empty_stats_endpoint_does_not_turn_statsd_on(tmp_path: Path) -> None:
    from circus._daemon.from_config import build_arbiter

    path = tmp_path / "circus.ini"
    path.write_text("[circus]\nstats_endpoint =\n")
    arbiter = build_arbiter(load_config(path))
    assert arbiter.statsd is False
