"""circus-plugins needs only circus-ctl: a venv without circus-core runs its plugins.

The venv gets the circus-ctl and circus-plugins wheels that ``make`` built
(their dependencies from the package index), nothing else of ours: there
``circus`` is a PEP 420 namespace, and ``from circus.plugins import
CircusPlugin`` must work as it does beside circus-core in the main venv. Its
``circus-plugin`` runs Flapping against a circusd from the main venv, as a
plugin on another host would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from _circus_run import wait_for
from circus.client import CircusClient, ClientError

REPO = Path(__file__).resolve().parent.parent
WHEELS = REPO / "build" / "wheels"
BIN = Path(sys.executable).parent


def _wheel(name: str) -> Path:
    found = sorted(WHEELS.glob(f"{name}-*.whl"))
    assert found, f"no {name} wheel in {WHEELS}: run `make install` first"
    return found[-1]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


@pytest.fixture(scope="module")
def plugins_only_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("plugins-only") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, capture_output=True)
    result = subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", str(_wheel("circus_ctl")),
         str(_wheel("circus_plugins"))],
        capture_output=True, text=True, env=_env(), timeout=600, check=False)
    assert result.returncode == 0, f"cannot build the plugins-only venv:\n{result.stderr}"
    yield root


def test_circus_plugins_imports_without_circus_core(plugins_only_venv: Path) -> None:
    probe = ("import importlib.util as u, circus; from circus.plugins import CircusPlugin; "
             "import circus.plugins.flapping, circus.plugins.watchdog; "
             "print(circus.__file__, u.find_spec('circus.arbiter'), CircusPlugin.__name__)")
    result = subprocess.run([str(plugins_only_venv / "bin" / "python"), "-c", probe],
                            capture_output=True, text=True, env=_env(), check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "None", "CircusPlugin"]  # a namespace package


def test_circus_plugins_beside_circus_core_share_the_namespace() -> None:
    import circus
    from circus.plugins import CircusPlugin

    assert circus.__file__ is not None  # circus-core owns circus/__init__.py
    assert hasattr(circus, "get_arbiter")
    assert CircusPlugin.__module__ == "circus.plugins._base"


def test_flapping_from_the_venv_stops_a_crashing_watcher(plugins_only_venv: Path,
                                                          tmp_path: Path) -> None:
    crash = tmp_path / "crash.py"
    crash.write_text("import sys, time; time.sleep(0.05); sys.exit(2)\n")
    endpoint, pubsub = f"ipc://{tmp_path}/ctl.sock", f"ipc://{tmp_path}/pub.sock"
    ini = tmp_path / "circus.ini"
    ini.write_text(textwrap.dedent(f"""
        [circus]
        endpoint = {endpoint}
        pubsub_endpoint = {pubsub}

        [watcher:crasher]
        cmd = {sys.executable} {crash}
    """))
    log = tmp_path / "plugin.log"
    daemon = subprocess.Popen([str(BIN / "circusd"), str(ini)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    plugin = None
    try:
        with CircusClient(endpoint, timeout=2) as client:
            def answers() -> bool:
                try:
                    return client.call("numwatchers").get("status") == "ok"
                except ClientError:
                    return False

            wait_for(answers, "circusd", timeout=30)
            plugin = subprocess.Popen(
                [str(plugins_only_venv / "bin" / "circus-plugin"), "--endpoint", endpoint,
                 "--pubsub", pubsub, "--log-output", str(log), "--config",
                 "window:5:::max_retry:0", "circus.plugins.flapping.Flapping"],
                env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for(lambda: client.call("status", name="crasher")["status"] == "stopped",
                      "the venv's flapping plugin to stop crasher", timeout=30)
        assert "crasher: flapping detected" in log.read_text()
    finally:
        for proc in (plugin, daemon):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(20)
