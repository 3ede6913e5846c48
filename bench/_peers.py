"""The peers we measure against: upstream circus 0.19, supervisor 4.3 and papa 1.0.6.

Each lives in its own throwaway virtualenv under ``bench/.peers/`` (git-ignored),
created once with ``python3 -m venv`` and ``pip install`` from PyPI, then
reused. Nothing of them is vendored or imported by the bench: they only ever
run as separate daemons.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent / ".peers"


@dataclass(frozen=True)
class PeerSpec:
    """How to install one peer and which program of it is the daemon."""

    name: str  # also the venv directory name
    requirement: str
    daemon: str  # console script in the venv's bin/
    version: str  # the version the installed peer must report
    # papa 1.0.6 has no --version: its installed distribution's metadata says instead.
    version_from_metadata: bool = False


PEERS: dict[str, PeerSpec] = {
    "circus": PeerSpec("circus", "circus==0.19.0", "circusd", "0.19.0"),
    "supervisor": PeerSpec("supervisor", "supervisor==4.3.0", "supervisord", "4.3.0"),
    "papa": PeerSpec("papa", "papa==1.0.6", "papa", "1.0.6", version_from_metadata=True),
}


@dataclass
class Peer:
    """An installed peer, or the reason it is unavailable."""

    spec: PeerSpec
    daemon: Path | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the peer can be run."""
        return self.daemon is not None


def _python3() -> str:
    # The system interpreter, not our .venv's: a venv made from a venv works
    # but would tie the peers to .venv's lifetime (make clean removes it).
    return shutil.which("python3") or sys.executable


def _version_of(spec: PeerSpec, daemon: Path) -> str | None:
    argv = [str(daemon), "--version"]
    if spec.version_from_metadata:
        argv = [str(daemon.parent / "python"), "-c",
                f"import importlib.metadata as m; print(m.version({spec.name!r}))"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout + out.stderr).strip()
    return text.splitlines()[-1].strip() if text else None


def ensure_peer(spec: PeerSpec, *, log: bool = True) -> Peer:
    """Return the installed peer, installing it on first use; never raises."""
    venv = PEERS_DIR / spec.name
    daemon = venv / "bin" / spec.daemon
    if daemon.exists() and _version_of(spec, daemon) == spec.version:
        return Peer(spec, daemon)
    if log:
        print(f"installing peer {spec.requirement} into {venv} ...", flush=True)
    try:
        if venv.exists():
            shutil.rmtree(venv)  # half-made or wrong version: start over
        PEERS_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([_python3(), "-m", "venv", str(venv)], check=True,
                       capture_output=True, text=True, timeout=300)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        spec.requirement], check=True, capture_output=True, text=True,
                       timeout=600)
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
        return Peer(spec, problem=f"install failed: {' | '.join(tail) or exc}")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Peer(spec, problem=f"install failed: {exc}")
    version = _version_of(spec, daemon)
    if version != spec.version:
        return Peer(spec, problem=f"{daemon} reports version {version!r}, "
                                  f"expected {spec.version}")
    return Peer(spec, daemon)
