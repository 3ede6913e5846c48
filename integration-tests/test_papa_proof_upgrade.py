"""circus-core is upgraded under running papa processes, which do not notice.

A throwaway venv gets the circus-core, circus-ctl and papa wheels that
``make`` built (their dependencies from the package index). circusd runs from
it with a papa-hosted watcher. While it runs, a circus-core wheel built from a
copy of packages/circus-core with a bumped version is installed into the venv.
circusd is then restarted from the venv: the children keep their pids and run
on, the papa kernel is the same process, and ``circusctl version`` reports the
new version of the daemon that answers.

Without use_papa the restart replaces the children.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _circus_run import alive, watcher_section
from _papa_proof_run import PapaRun

REPO = Path(__file__).resolve().parent.parent
WHEELS = REPO / "build" / "wheels"
CORE = REPO / "packages" / "circus-core"
PROCESSES = 2


def _wheel(name: str) -> Path:
    found = sorted(WHEELS.glob(f"{name}-*.whl"))
    assert found, f"no {name} wheel in {WHEELS}: run `make install` first"
    return found[-1]


def _env() -> dict[str, str]:
    """This environment without what would point the venv's python at other code."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def _pip(python: Path, *args: str) -> None:
    result = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args],
                            capture_output=True, text=True, env=_env(), timeout=600, check=False)
    assert result.returncode == 0, f"pip {args} failed:\n{result.stdout}\n{result.stderr}"


def _version(text: str, where: Path) -> str:
    found = [match.group(1) for match in
             re.finditer(r'^version = "([^"]+)"$', text, re.MULTILINE)]
    assert len(found) == 1, f"no single version line in {where}"
    return found[0]


@pytest.fixture(scope="module")
def upgrade_kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, str,
                                                                             str]]:
    """(venv, newer circus-core wheel, installed version, newer version)."""
    root = tmp_path_factory.mktemp("papa-upgrade")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    _pip(venv / "bin" / "python", "install", "--quiet", str(_wheel("circus_core")),
         str(_wheel("circus_ctl")), str(_wheel("papa")))

    # The same sources under a higher version: pyproject.toml and __version__.
    source = root / "circus-core"
    shutil.copytree(CORE, source, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info",
                                                                "__pycache__", "tests"))
    pyproject = source / "pyproject.toml"
    old = _version(pyproject.read_text(), pyproject)
    new = f"{old}.post1" if ".post" not in old else f"{old}1"
    pyproject.write_text(pyproject.read_text().replace(f'version = "{old}"',
                                                       f'version = "{new}"', 1))
    init = source / "src" / "circus" / "__init__.py"
    text = init.read_text()
    assert text.count(f'__version__ = "{old}"') == 1, f"{init} does not hold {old}"
    init.write_text(text.replace(f'__version__ = "{old}"', f'__version__ = "{new}"'))
    built = root / "wheel"
    result = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(built),
                             str(source)], capture_output=True, text=True, env=_env(),
                            timeout=600, check=False)
    assert result.returncode == 0, f"cannot build the newer wheel:\n{result.stderr}"
    (wheel,) = built.glob("circus_core-*.whl")
    yield venv, wheel, old, new


def test_upgrading_circus_core_leaves_papa_children_untouched(
        papa_run: PapaRun, upgrade_kit: tuple[Path, Path, str, str]) -> None:
    venv, wheel, old, new = upgrade_kit
    circusd, circusctl = [str(venv / "bin" / "circusd")], [str(venv / "bin" / "circusctl")]
    env = _env()
    sections = watcher_section("app", papa_run.token, PROCESSES,
                               "use_papa = true\ncopy_env = true\n")
    config, endpoint, pubsub = papa_run.papa_config("upgrade", sections)

    def version() -> str:
        done = papa_run._run([*circusctl, "--endpoint", endpoint, "--timeout", "20", "version"],
                             env, None, 60)
        assert done.returncode == 0, f"circusctl version failed: {done.stdout} {done.stderr}"
        return str(done.stdout)

    daemon = papa_run.start_papa_daemon(config, endpoint, pubsub, circusd, env)
    pids = sorted(daemon.wait_pids("app", PROCESSES))
    papa_run.seen.update(pids)
    kernel = papa_run.papa_stats()["pid"]
    before = version()
    assert old in before and new not in before, before

    _pip(venv / "bin" / "python", "install", "--quiet", "--no-deps", str(wheel))
    papa_run.stop_daemon(daemon, "quit", circusctl, env)
    assert all(alive(pid) for pid in pids), "a child died with the old circusd"
    daemon = papa_run.start_papa_daemon(config, endpoint, pubsub, circusd, env)

    assert sorted(papa_run.list_pids(daemon, "app")) == pids, daemon.log_text()
    assert all(alive(pid) for pid in pids)
    assert papa_run.papa_stats()["pid"] == kernel, "the papa kernel was replaced"
    assert new in version()
    assert f"circusd {new} starting" in daemon.log_text(), daemon.log_text()
    assert "Traceback" not in papa_run.logs(), papa_run.logs()
