"""Shared pieces of the chaos tests: the process table, a daemon's resources, the figures.

Each test prints its figures (``pytest -s`` shows them) and writes them to
``build/chaos/<name>.json`` at the repository root (``CIRCUS_CHAOS_RESULTS``
names another directory), so a CI run keeps them.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from conftest import is_orphan_guard

RESULTS = Path(os.environ.get("CIRCUS_CHAOS_RESULTS")
               or Path(__file__).resolve().parents[4] / "build" / "chaos")


def seconds(variable: str, default: float) -> float:
    """A duration from the environment (``make test`` keeps the defaults short)."""
    return float(os.environ.get(variable) or default)


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, zombies included, from every thread's children list."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                found.extend(int(p) for p in handle.read().split())
        except OSError:
            continue
    return found


def state(pid: int) -> str | None:
    """The /proc state letter of ``pid`` (``Z``: zombie), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode(errors="replace")
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()[0]


def zombies(pids: list[int]) -> list[int]:
    return [pid for pid in pids if state(pid) == "Z"]


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latency_summary(values_ms: list[float]) -> dict[str, float]:
    return {"count": len(values_ms), "p50_ms": round(statistics.median(values_ms), 2),
            "p99_ms": round(percentile(values_ms, 0.99), 2),
            "max_ms": round(max(values_ms), 2)}


def report(name: str, figures: dict[str, Any]) -> None:
    """Print ``figures`` and write them to RESULTS/<name>.json."""
    print(f"\n{name}: " + json.dumps(figures, sort_keys=True))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def reap_guards(timeout: float = 5.0) -> None:
    """Wait for the orphan guards re-parented to this (subreaper) test process; reap them.

    A guard exits once its circusd is gone (within ``timeout``); without this
    its zombie would be counted as a leaked child.
    """
    deadline = time.monotonic() + timeout
    for pid in [p for p in children(os.getpid()) if is_orphan_guard(p)]:
        while state(pid) not in (None, "Z") and time.monotonic() < deadline:
            time.sleep(0.01)
        if state(pid) == "Z":
            os.waitpid(pid, os.WNOHANG)
