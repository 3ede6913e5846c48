"""The guards every suite loads (tools/pytest-circus-guards), run on a suite of their own.

A leaked child must be killed and fail only the test that leaked it, and a
suite started with SIGINT ignored (``make test &``) must still give the
programs it starts a working Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from _circus_run import alive

INNER_SUITE = '''
import subprocess
import sys
from pathlib import Path

LEAKED = Path(__file__).with_name("leaked.pid")


def test_a_leaks_a_child():
    child = subprocess.Popen(["sleep", "60"])
    LEAKED.write_text(str(child.pid))


def test_b_runs_after_the_leak():
    assert True


def test_c_children_get_a_working_ctrl_c():
    code = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "True", out
'''


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_a_leak_fails_only_its_test_and_ctrl_c_works(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER_SUITE)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", "test_inner.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        preexec_fn=_ignore_sigint, env=dict(os.environ, PYTHONSAFEPATH="1"), check=False)
    out = result.stdout
    assert result.returncode == 1, out
    assert "left child processes behind (killed)" in out, out
    assert "sleep 60" in out, out
    assert "ERROR test_inner.py::test_a_leaks_a_child" in out, out
    assert "PASSED test_inner.py::test_b_runs_after_the_leak" in out, out
    assert "PASSED test_inner.py::test_c_children_get_a_working_ctrl_c" in out, out
    leaked = int((tmp_path / "leaked.pid").read_text())
    assert not alive(leaked)
