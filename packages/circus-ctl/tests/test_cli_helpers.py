"""circus.client.cli: the options every Circus tool shares, parsed by a throwaway tool."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
from circus.client.cli import (
    LOG_LEVELS,
    OneLineParser,
    add_endpoint,
    add_log_level,
    add_ssh,
    check_ssh,
    endpoint_type,
    seconds_type,
)
from circus.client.protocol import ZMQ_SCHEMES

# A tool built only from the shared helpers, run as a real program so that
# what reaches stderr and the exit status are what a user sees.
_TOOL = """
import sys
from circus.client.cli import *
parser = OneLineParser(prog="tool")
add_endpoint(parser, default="tcp://127.0.0.1:5555", help="(default: %(default)s)")
parser.add_argument("--every", type=seconds_type(), default=1.0)
add_log_level(parser)
add_ssh(parser)
ns = parser.parse_args(sys.argv[1:])
check_ssh(parser, ns)
print(ns.endpoint, ns.every, ns.log_level, ns.ssh, ns.ssh_keyfile)
"""


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _TOOL, *args], capture_output=True, text=True,
                          timeout=30)


def test_good_options_parse():
    result = run_tool("--endpoint", "ipc:///tmp/c.sock", "--every", "0.5", "--log-level", "DEBUG",
                      "--ssh", "me@host:22", "--ssh_keyfile", "k")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ipc:///tmp/c.sock 0.5 debug me@host:22 k\n"
    assert run_tool("--ssh-keyfile", "k", "--ssh", "h").stdout.endswith("h k\n")


@pytest.mark.parametrize(("args", "complaint"), [
    (["--endpoint", "localhost:5555"],
     "argument --endpoint: invalid endpoint 'localhost:5555': this is not a ZeroMQ endpoint"),
    (["--endpoint", "tcp://127.0.0.1:99999"], "port 99999 is out of range"),
    (["--every", "soon"], "argument --every: expected a number of seconds, got 'soon'"),
    (["--every", "0"], "argument --every: must be a number of seconds above 0, got '0'"),
    (["--every", "inf"], "must be a number of seconds above 0, got 'inf'"),
    (["--every", "nan"], "must be a number of seconds above 0, got 'nan'"),
    (["--log-level", "chatty"], "argument --log-level: invalid choice: 'chatty'"),
    (["--ssh-keyfile", "k"], "--ssh-keyfile needs --ssh"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_usage_errors_are_one_line_with_status_2(args, complaint):
    result = run_tool(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("tool: error: ") and result.stderr.endswith(" (see --help)\n")
    assert complaint in result.stderr


def test_endpoint_type_takes_the_schemes_asked_for():
    assert endpoint_type(ZMQ_SCHEMES)("inproc://x") == "inproc://x"
    with pytest.raises(argparse.ArgumentTypeError, match="invalid endpoint 'inproc://x'"):
        endpoint_type()("inproc://x")


def test_unchecked_endpoint_is_left_for_later():
    parser = OneLineParser(prog="tool")
    add_endpoint(parser, default=None, help="h", schemes=None)
    assert parser.parse_args(["--endpoint", "anything"]).endpoint == "anything"


def test_seconds_messages_can_keep_a_tools_wording():
    seconds = seconds_type(not_a_number="--x expects seconds, got {text!r}",
                           not_positive="--x must be positive, got {text!r}")
    assert seconds("2.5") == 2.5
    with pytest.raises(argparse.ArgumentTypeError, match=r"^--x expects seconds, got 'a'$"):
        seconds("a")
    with pytest.raises(argparse.ArgumentTypeError, match=r"^--x must be positive, got '-1'$"):
        seconds("-1")


def test_hidden_options_with_suppressed_defaults():
    parser = argparse.ArgumentParser(prog="tool")
    add_ssh(parser, keyfile_flags=("--ssh_keyfile", "--ssh-keyfile"), default=argparse.SUPPRESS,
            show_help=False)
    add_log_level(parser, default="warning")
    assert "--ssh" not in parser.format_help()
    ns = parser.parse_args([])
    assert not hasattr(ns, "ssh") and ns.log_level == "warning"
    ns = parser.parse_args(["--ssh-keyfile", "k"])
    with pytest.raises(SystemExit):
        check_ssh(parser, ns, "--ssh_keyfile")
    assert LOG_LEVELS == ("debug", "info", "warning", "error", "critical")
