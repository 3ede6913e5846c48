"""The upstream circus 0.19.0 peer: a throwaway venv built from PyPI, never vendored.

It lives beside the papa peer under ``$TMPDIR/circus-test-peers/`` and is built
once per machine under a file lock, so parallel runs share one copy. Its
programs always run with :func:`peer_env`, so nothing of ours is on their path.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PEER_VERSION = "0.19.0"
# Variables that could put our circus on the peer's import path.
HIDDEN = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE"}


def peer_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without what would make the peer import our packages."""
    env = {key: value for key, value in os.environ.items() if key not in HIDDEN}
    # circusctl reads its endpoint from here; tests always pass --endpoint.
    env.pop("CIRCUSCTL_ENDPOINT", None)
    env.update(extra or {})
    return env


def _install(root: Path) -> str | None:
    """Build the venv at *root*; return pip's complaint if it failed."""
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True,
                   capture_output=True)
    result = subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", f"circus=={PEER_VERSION}"],
        capture_output=True, text=True, timeout=600, check=False, env=peer_env())
    if result.returncode != 0:
        return result.stderr.strip() or result.stdout.strip()
    return None


def circus_peer_root() -> Path:
    """The venv holding upstream circus==0.19.0 (installed on first use, then reused).

    Fails the calling test, saying why, if the peer cannot be installed or does
    not run on this Python: these tests are never skipped.
    """
    peers = Path(tempfile.gettempdir()) / "circus-test-peers"
    peers.mkdir(parents=True, exist_ok=True)
    root = peers / f"circus-{PEER_VERSION}"
    with open(peers / f"circus-{PEER_VERSION}.lock", "w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        stamp = root / ".complete"
        if not stamp.exists():
            problem = _install(root)
            if problem is not None:
                pytest.fail(f"could not install circus=={PEER_VERSION} from PyPI into {root} "
                            f"with Python {sys.version.split()[0]}; these tests need it "
                            f"(pip said: {problem})")
            stamp.touch()
    found = subprocess.run(
        [str(root / "bin" / "python"), "-c",
         "import circus, circus.client; print(circus.__version__); print(circus.__file__)"],
        env=peer_env(), capture_output=True, text=True, check=False)
    lines = found.stdout.split()
    if found.returncode != 0 or len(lines) != 2:
        pytest.fail(f"upstream circus {PEER_VERSION} in {root} does not import on Python "
                    f"{sys.version.split()[0]}: {found.stderr.strip()}")
    assert lines[0] == PEER_VERSION, f"the peer in {root} is circus {lines[0]}"
    assert lines[1].startswith(str(root)), f"the peer imported circus from {lines[1]}"
    return root
