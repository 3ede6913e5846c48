"""examples/systemd/*.service are units systemd accepts, running our installed programs.

``systemd-analyze verify`` reads each unit as systemd would: an unknown key,
a bad value or a command that is not executable is reported. The units name
``/opt/circus/bin``; the test points them at this venv's bin directory, so
the programs they start are the ones the wheels installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "examples" / "systemd"
BIN = Path(sys.executable).parent


def _verify(unit_dir: Path, *names: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("systemd-analyze")
    assert exe, "systemd-analyze is missing: `make system-deps` installs it"
    return subprocess.run([exe, "verify", "--man=no", *(f"./{name}" for name in names)],
                          capture_output=True, text=True, timeout=120, check=False,
                          cwd=unit_dir)


def _copy(tmp_path: Path, edit: str = "") -> Path:
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace("/opt/circus/bin/", f"{BIN}/")
        (tmp_path / unit.name).write_text(text.replace("[Service]\n", f"[Service]\n{edit}"))
    return tmp_path


def test_the_units_verify_cleanly(tmp_path: Path) -> None:
    units = _copy(tmp_path)
    assert sorted(p.name for p in units.iterdir()) == ["circusd.service", "papa.service"]
    result = _verify(units, "circusd.service", "papa.service")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize(("edit", "report"), [
    ("NoSuchKey=1\n", "Unknown key 'NoSuchKey'"),
    ("WatchdogSec=often\n", "Failed to parse sec value, ignoring: often"),
])
def test_verify_reports_a_mistake(tmp_path: Path, edit: str, report: str) -> None:
    """The check can fail: a bad line in a unit is reported, with the unit's name."""
    result = _verify(_copy(tmp_path, edit), "circusd.service")
    assert "circusd.service:" in result.stderr
    assert report in result.stderr


def test_circusd_unit_asks_for_notify_and_the_watchdog() -> None:
    text = (UNITS / "circusd.service").read_text()
    assert "\nType=notify\n" in text
    assert "\nWatchdogSec=" in text
    assert "\nNotifyAccess=main\n" in text
    assert "ExecStart=/opt/circus/bin/circusd " in text
    assert "ExecStart=/opt/circus/bin/papa " in (UNITS / "papa.service").read_text()
