"""Declarative tables of every option of ``[watcher:*]``, ``[socket:*]`` and ``[circus]``.

Each option is declared once, here: its parser, its default, its doc line,
how a new value takes effect on a running daemon (:data:`LiveKind`), and
whether it is accepted but not acted on yet (``inert``). The loader, ``set``,
``add``, ``reloadconfig`` and the constructors' defaults all follow these
tables (the tests hold the constructors' defaults equal to them). Each parser
takes text (or an already-typed value) and raises ``ValueError("expected ...")``.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from .._base.parsers import (
    parse_bool,
    parse_duration,
    parse_int,
    parse_octal,
    parse_signal,
)
from .._base.protocol import DEFAULT_ENDPOINT, DEFAULT_PUBSUB, EndpointError, parse_endpoint
from ..errors import ConfigError
from ._check import parse_check, parse_depends_on
from ._errors import show_value, suggestion

logger = logging.getLogger("circus")

# The points of a watcher's life a hook can run at (upstream's names).
HOOK_NAMES: tuple[str, ...] = (
    "before_start",
    "after_start",
    "before_spawn",
    "after_spawn",
    "before_stop",
    "after_stop",
    "before_signal",
    "after_signal",
    "before_reap",
    "after_reap",
    "extended_stats",
)

Parser = Callable[[object], object]
"""Turns raw input (INI text, a JSON value, a Python value) into an option value."""

LiveKind = Literal["attr", "manage", "spawn", "max_age", "stream", "output", "hooks"]
"""How a new value takes effect on a running watcher (or arbiter):

* ``attr``: read at the next use (timings, signals, retry policy);
* ``manage``: a convergence pass follows (numprocesses, respawn);
* ``spawn``: used when a process is started (cmd, env, uid, rlimits, ...), so
  a running watcher is reloaded gracefully and new processes use the value;
* ``max_age``: the expiry timers of running processes are re-drawn;
* ``stream``: the stream object is swapped; pipes keep flowing into the new one;
* ``output``: ``publish_output``, at once; if children then need pipes they
  had not (or no longer need them), a running watcher is reloaded gracefully;
* ``hooks``: the hook callables are re-imported.

``None``: the option cannot change while its watcher (or circusd) exists;
``set`` refuses it, ``reloadconfig`` re-creates the watcher (or asks for a
restart of circusd).
"""


@dataclass(frozen=True)
class Option:
    """One option: its parser, default and doc line, how it changes live, whether it is inert."""

    name: str
    parse: Parser
    default: object
    doc: str
    live: LiveKind | None = None
    required: bool = False
    # Accepted (configs written for upstream carry it) but not acted on yet: a value
    # other than the default is logged once, when the watcher or arbiter gets it.
    inert: bool = False



# -- parsers -----------------------------------------------------------------------------


def parse_text(value: object) -> str | None:
    """Free text; an empty value means "not set"."""
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _nonempty(what: str) -> Parser:
    def parse(value: object) -> str:
        text = "" if value is None else str(value).strip()
        if not text:
            raise ValueError(f"expected {what}")
        return text

    return parse


parse_command = _nonempty("a non-empty command")
_host = _nonempty("a host name or address")


def _int_range(low: int | None, high: int | None) -> Parser:
    def parse(value: object) -> int:
        number = parse_int(value)
        if low is not None and number < low:
            raise ValueError(f"expected an integer >= {low}")
        if high is not None and number > high:
            raise ValueError(f"expected an integer <= {high}")
        return number

    return parse


def _positive_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("expected a duration > 0")
    return seconds


def _choice(*choices: str, lower: bool = False) -> Parser:
    canonical = {choice.lower(): choice for choice in choices}

    def parse(value: object) -> str:
        text = str(value).strip().lower()
        if text not in canonical:
            raise ValueError("expected one of " + ", ".join(choices))
        return text if lower else canonical[text]

    return parse


def parse_user(value: object) -> str | int | None:
    """A user name known to the password database, or a numeric uid."""
    return _account(value, pwd.getpwnam, "user", "uid")


def parse_group(value: object) -> str | int | None:
    """A group name known to the group database, or a numeric gid."""
    return _account(value, grp.getgrnam, "group", "gid")


def _account(
    value: object, lookup: Callable[[str], object], kind: str, num: str
) -> str | int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = str(value).strip()
        if not text:
            return None
        if not text.isdigit():
            try:
                lookup(text)
            except KeyError:
                raise ValueError(
                    f"unknown {kind}; expected an existing {kind} name or a numeric {num}"
                ) from None
            return text
        number = int(text)
    if number < 0:
        raise ValueError(f"expected a {kind} name or a non-negative {num}")
    return number


def parse_directory(value: object) -> str | None:
    """An existing directory (relative paths are resolved by the caller)."""
    text = parse_text(value)
    if text is None:
        return None
    if not os.path.isdir(text):
        raise ValueError("expected an existing directory")
    return text


def parse_optional_octal(value: object) -> int | None:
    """An octal file-mode mask, or nothing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_octal(value)


def parse_socket_umask(value: object) -> int | None:
    """A socket umask: octal text (``000``, ``0o022``), or upstream's decimal form.

    Upstream read this option as a decimal integer (its default was ``8``);
    text that is not valid octal but is decimal digits is read that way so such
    configs keep meaning what they meant.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return parse_octal(value)
    except ValueError:
        text = str(value).strip()
        if text.isdigit() and int(text) <= 0o777:
            return int(text)
        raise


def _endpoint(*schemes: str, allow_path: bool = False) -> Parser:
    expected = " or ".join(
        f"{scheme}://host:port" if scheme != "ipc" else "ipc://path" for scheme in schemes
    )
    if allow_path:
        expected += " or a socket path"

    def parse(value: object) -> str:
        text = str(value).strip()
        if allow_path and text and "://" not in text:
            return text
        try:
            parse_endpoint(text, schemes)
        except EndpointError:
            scheme = text.partition("://")[0].lower()
            if scheme == "ipc" and scheme in schemes:
                raise ValueError(f"expected {expected} (the ipc path is empty)") from None
            if scheme in schemes:
                raise ValueError(f"expected {expected} with a port between 1 and 65535") from None
            raise ValueError(f"expected {expected}") from None
        return text

    return parse


def parse_host_port(value: object) -> str:
    """``host:port`` (``[::1]:port`` for IPv6), as circusd-stats --prometheus takes it."""
    text = str(value).strip()
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected host:port with a port between 1 and 65535")
    return text


def empty_means(default: object, parse: Parser) -> Parser:
    """Wrap ``parse`` so that an empty value means ``default``.

    Used for the ``[circus]`` options that circus 0.19 runs with when they are
    left empty (``multicast_endpoint =`` turns discovery off); the package
    README has the table of what upstream does with each empty option.
    """

    def parse_or_default(value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return default
        return parse(value)

    return parse_or_default


def _mapping(value: object) -> dict[object, object]:
    """Copy a mapping: what the compound options hold once their keys are routed."""
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping")
    return dict(value)


def parse_stream_backend(value: object) -> str:
    """Only the thread backend exists here."""
    text = str(value).strip().lower()
    if text == "gevent":
        raise ValueError("gevent is not supported; use thread (the only backend)")
    if text != "thread":
        raise ValueError("expected thread")
    return text


def _opt(name: str, parse: Parser, default: object, doc: str, live: LiveKind | None = None,
         inert: bool = False) -> Option:
    return Option(name=name, parse=parse, default=default, doc=doc, live=live, inert=inert)


def _table(*options: Option) -> Mapping[str, Option]:
    return MappingProxyType({option.name: option for option in options})


_bool = parse_bool
_dur = parse_duration

WATCHER_OPTIONS: Mapping[str, Option] = _table(
    Option("cmd", parse_command, None, "program to run, with its arguments", "spawn", True),
    _opt("args", parse_text, None, "extra arguments appended to cmd", "spawn"),
    _opt("shell", _bool, False, "run the command through /bin/sh -c", "spawn"),
    _opt("shell_args", parse_text, None, "arguments given to the shell", "spawn"),
    _opt("executable", parse_text, None, "program to exec instead of argv[0]", "spawn"),
    _opt("working_dir", parse_directory, None, "working directory of the processes", "spawn"),
    _opt("uid", parse_user, None, "user the processes run as (name or uid)", "spawn"),
    _opt("gid", parse_group, None, "group the processes run as (name or gid)", "spawn"),
    _opt("copy_env", _bool, False, "start from circusd's environment", "spawn"),
    _opt("copy_path", _bool, False, "pass circusd's sys.path as PYTHONPATH", "spawn"),
    _opt("virtualenv", parse_text, None, "root of a virtualenv to activate", "spawn"),
    _opt("virtualenv_py_ver", parse_text, None, "python version of that virtualenv", "spawn"),
    _opt("numprocesses", _int_range(0, None), 1, "number of processes to keep running",
         "manage"),
    _opt("warmup_delay", _dur, 0.0, "seconds between two spawns", "attr"),
    _opt("autostart", _bool, True, "start the watcher with the arbiter", "attr"),
    _opt("priority", parse_int, 0, "higher priorities start first", "attr"),
    _opt("singleton", _bool, False, "never run more than one process", "attr"),
    _opt("respawn", _bool, True, "restart processes that exit", "manage"),
    _opt("max_retry", _int_range(-1, None), 5,
         "failed spawns of one slot in a row before the watcher stops; -1 = never", "attr"),
    _opt("retry_in", _dur, 0.5, "base delay of a slot's backoff (quick exit, failed spawn)",
         "attr"),
    _opt("backoff", _bool, True, "back off exponentially per slot; false respawns at once",
         "attr"),
    _opt("min_uptime", _dur, 1.0, "an exit sooner is a quick exit; staying up clears the slot",
         "attr"),
    _opt("hook_timeout", _dur, 30.0, "seconds a hook may run before it counts as failed",
         "attr"),
    _opt("max_age", _dur, 0.0, "restart processes older than this; 0 = never", "max_age"),
    _opt("max_age_variance", _dur, 30.0, "random extra age added to max_age", "max_age"),
    _opt("graceful_timeout", _dur, 30.0, "seconds between stop_signal and SIGKILL", "attr"),
    _opt("stop_signal", parse_signal, 15, "signal sent to stop a process", "attr"),
    _opt("stop_children", _bool, False, "send stop_signal to the children too", "attr"),
    _opt("send_hup", _bool, False, "reload processes with SIGHUP", "attr"),
    _opt("close_child_stdin", _bool, True, "give processes /dev/null as stdin", "spawn"),
    _opt("close_child_stdout", _bool, False, "send process stdout to /dev/null", "spawn"),
    _opt("close_child_stderr", _bool, False, "send process stderr to /dev/null", "spawn"),
    _opt("use_sockets", _bool, False, "let processes inherit the circus sockets"),
    _opt("on_demand", _bool, False, "start processes at the first socket event"),
    _opt("stdin_socket", parse_text, None, "socket given to processes as stdin"),
    _opt("socket_activation", _bool, False,
         "hand sockets over as systemd does (fds 3.., LISTEN_FDS, LISTEN_PID)"),
    _opt("use_papa", _bool, False, "run processes in papa, so they survive circusd restarts"),
    _opt("umask", parse_optional_octal, None, "umask of the processes", "spawn"),
    _opt("check_flapping", _bool, True,
         "let the flapping plugin watch this watcher (it reads this option)", "attr"),
    _opt("publish_output", _bool, False,
         "publish each output line as watcher.<name>.output and keep the last ones for tail",
         "output"),
    # Health checks and dependencies (circus-core README, "Health checks and dependencies").
    _opt("check", parse_check, None,
         "readiness/health probe: tcp://HOST:PORT, http://HOST[:PORT]/PATH or exec:COMMAND",
         "attr"),
    _opt("check_interval", _positive_duration, 5.0, "seconds between two probes of a process",
         "attr"),
    _opt("check_timeout", _positive_duration, 3.0,
         "seconds one probe may take; times check_retries: the time a process has to get ready",
         "attr"),
    _opt("check_retries", _int_range(1, None), 3,
         "failed probes in a row that make a ready process unhealthy (it is restarted)", "attr"),
    _opt("depends_on", parse_depends_on, (),
         "watchers that must be ready before this one starts (comma-separated)"),
)

WATCHER_COMPOUND: Mapping[str, Option] = _table(
    # Options built from several keys or a section of their own; ``circus.config._keys``
    # routes their keys (the parser here only stands for "a mapping").
    _opt("env", _mapping, None, "environment entries: [env:NAME] sections, or env in set/add",
         "spawn"),
    _opt("rlimits", _mapping, None, "resource limits: rlimit_<resource> keys", "spawn"),
    _opt("hooks", _mapping, None, "hooks: hooks.<name> = dotted.path[, ignore_errors] keys",
         "hooks"),
    _opt("stdout_stream", _mapping, None, "stdout stream: stdout_stream.<key> keys", "stream"),
    _opt("stderr_stream", _mapping, None, "stderr stream: stderr_stream.<key> keys", "stream"),
)
"""Watcher options that are no single key; their live kinds, as :data:`WATCHER_OPTIONS`'."""

SOCKET_OPTIONS: Mapping[str, Option] = _table(
    _opt("host", _host, "localhost", "address to bind"),
    _opt("port", _int_range(0, 65535), None, "port to bind; 0 lets the system pick"),
    _opt("path", parse_text, None, "path of a unix socket (forces AF_UNIX)"),
    _opt("family", _choice("AF_UNIX", "AF_INET", "AF_INET6"), "AF_INET", "address family"),
    _opt(
        "type",
        _choice("SOCK_STREAM", "SOCK_DGRAM", "SOCK_SEQPACKET", "SOCK_RAW", "SOCK_RDM"),
        "SOCK_STREAM",
        "socket type",
    ),
    _opt("proto", parse_text, None, "protocol name or number"),
    _opt("interface", parse_text, None, "network interface to bind to (SO_BINDTODEVICE)"),
    _opt("backlog", _int_range(0, None), 2048, "listen backlog"),
    _opt("umask", parse_socket_umask, None, "umask used when creating a unix socket"),
    _opt("replace", _bool, False, "remove a stale unix socket file"),
    _opt("so_reuseport", _bool, False, "one SO_REUSEPORT socket per process"),
    _opt("blocking", _bool, False, "leave the socket in blocking mode"),
    _opt("use_papa", _bool, False, "let papa own the socket"),
)

_CONTROL = _endpoint("tcp", "ipc")

CIRCUS_OPTIONS: Mapping[str, Option] = _table(
    _opt("endpoint", _CONTROL, DEFAULT_ENDPOINT, "control socket for circusctl"),
    _opt("endpoint_owner", parse_user, None, "user owning an ipc endpoint"),
    _opt("pubsub_endpoint", _CONTROL, DEFAULT_PUBSUB, "where events are published"),
    # Options wrapped in empty_means() run empty in circus 0.19 too (README table).
    _opt(
        "multicast_endpoint",
        empty_means(None, _endpoint("udp")),
        None,
        "multicast discovery address (udp://237.219.251.97:12027 upstream); unset/empty: off",
    ),
    # None: not set. Setting it implies statsd, as upstream (see circus._setup.statsd);
    # an empty value is "not set" (upstream turned statsd on with no endpoint).
    _opt("stats_endpoint", empty_means(None, _CONTROL), None,
         "where circusd-stats publishes stats"),
    _opt("statsd", _bool, False, "run circusd-stats"),
    _opt("prometheus", empty_means(None, parse_host_port), None,
         "host:port where circusd-stats serves /metrics"),
    _opt("statsd_close_outputs", empty_means(False, _bool), False,
         "send circusd-stats output to /dev/null"),
    # Nothing polls here (reaping and the channels are event-driven): the value is
    # only reported by globaloptions, so circusctl and plugins read what was set.
    _opt("check_delay", _dur, 1.0,
         "accepted for upstream's configs and reported by globaloptions; nothing polls",
         "attr"),
    _opt("include", parse_text, None, "space-separated globs of files to include"),
    _opt("include_dir", parse_text, None, "space-separated directories of *.ini to include"),
    _opt("stream_backend", empty_means("thread", parse_stream_backend), "thread",
         "stream backend (thread only)"),
    _opt("warmup_delay", _dur, 0.0, "seconds between starting two watchers", "attr"),
    # circushttpd comes with circus-web; circusd runs it as a watcher (_setup/httpd.py).
    _opt("httpd", _bool, False, "run circushttpd (circus-web) as the watcher circushttpd"),
    _opt("httpd_host", empty_means("localhost", _host), "localhost",
         "host circushttpd listens on (loopback unless it has authentication)"),
    _opt("httpd_port", _int_range(1, 65535), 8080, "port circushttpd listens on"),
    _opt("httpd_close_outputs", empty_means(False, _bool), False,
         "send circushttpd output to /dev/null"),
    _opt("debug", _bool, False, "keep daemon output on circusd's stdout/stderr"),
    _opt("debug_gc", _bool, False, "log garbage collector details"),
    _opt("pidfile", parse_text, None, "file holding circusd's pid"),
    _opt("umask", parse_optional_octal, None, "umask of circusd"),
    _opt(
        "loglevel",
        empty_means("info", _choice("debug", "info", "warning", "error", "critical", lower=True)),
        "info",
        "log level",
        "attr",
    ),
    _opt(
        "logoutput",
        empty_means("-", _nonempty("-, a file name or a syslog:// URL")),
        "-",
        "log destination: -, a file or syslog://",
    ),
    _opt("loggerconfig", parse_text, None, "logging config file (INI, JSON, YAML) or default"),
    _opt("fqdn_prefix", parse_text, None, "prefix of the fqdn used in stats"),
    _opt(
        "papa_endpoint",
        empty_means("tcp://127.0.0.1:20202", _endpoint("tcp", "ipc", allow_path=True)),
        "tcp://127.0.0.1:20202",
        "papa kernel address (tcp or ipc), for use_papa",
    ),
    _opt("ssh_server", parse_text, None, "ssh server to tunnel through"),
    # CURVE (issue 16): file and directory paths only; circusd never reports the keys.
    _opt("curve_secret_key", parse_text, None,
         "circusd's CURVE key pair (.key_secret file); turns CURVE on for every endpoint"),
    _opt("curve_authorized_keys", parse_text, None,
         "directory of the clients' CURVE public keys (*.key), role in each file or name"),
)


def parse_option(table: Mapping[str, Option], name: str, value: object) -> object:
    """Parse ``value`` for option ``name`` of ``table`` (as the ``set`` command does).

    Raises ConfigError("option NAME: expected ...") for unknown options and bad values.
    """
    key = name.strip().lower()
    option = table.get(key)
    if option is None:
        raise ConfigError(f"option {name}: unknown option{suggestion(key, table)}")
    try:
        return option.parse(value)
    except ValueError as exc:
        shown = show_value(value) if isinstance(value, str) else repr(value)
        raise ConfigError(f"option {key}: {exc} (got {shown})") from None


def warn_inert(owner: str, table: Mapping[str, Option], values: Mapping[str, object]) -> None:
    """Log one warning per inert option of ``table`` that ``values`` sets to a non-default.

    ``owner`` names who got the values (``watcher web``, ``arbiter``). As for
    the sockets' ``use_papa``: the option is accepted so that upstream's
    configs run, and the warning keeps it from being a silent no-op.
    """
    for name, value in values.items():
        option = table.get(name)
        if option is not None and option.inert and value is not None and value != option.default:
            logger.warning("%s: %s = %r is accepted but not acted on: %s", owner, name, value,
                           option.doc)
