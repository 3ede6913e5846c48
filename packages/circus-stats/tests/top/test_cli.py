"""The command line: usage errors in one line with status 2, --version, no terminal."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from circus.top import __version__


def run_top(*args: str) -> subprocess.CompletedProcess[str]:
    """circus-top from the installed wheel, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "circus.top", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=30)


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--process-timeout", "soon"], "--process-timeout: expected a number of seconds"),
        (["--process-timeout", "0"], "--process-timeout: must be a number of seconds above 0"),
        (["--endpoint", "localhost:5557"], "invalid endpoint 'localhost:5557'"),
        (["--endpoint", "tcp://127.0.0.1:70000"], "port 70000 is out of range"),
        (["--ssh-keyfile", "id_rsa"], "--ssh-keyfile needs --ssh"),
        (["--colour"], "unrecognized arguments: --colour"),
        (["--curve-server-key", "circusd.key"], "--curve-key is missing"),
        (["--curve-server-key", "nope.key", "--curve-key", "nope.key_secret"],
         "CURVE key file nope.key: cannot read it"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(args, complaint, no_children):
    result = run_top(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("circus-top: error: ")
    assert complaint in result.stderr


def test_version_prints_the_package_version(no_children):
    result = run_top("--version")
    assert (result.returncode, result.stdout) == (0, f"circus-top {__version__}\n")
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert re.search(rf'^version = "{re.escape(__version__)}"$', pyproject, re.MULTILINE)


def test_without_a_terminal_it_fails_in_one_line(no_children):
    result = run_top("--endpoint", "ipc:///tmp/nowhere.sock")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "needs a terminal" in result.stderr
