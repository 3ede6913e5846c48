"""``bench/run.py --check`` (``make bench-check``): a missed target is a failed run.

The scenarios themselves are the bench's; here ``run`` is replaced by a report
with known numbers, so the test checks the verdict and the exit status only.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """bench/run.py imported as a module, with nothing of the machine touched by main()."""
    monkeypatch.syspath_prepend(str(BENCH))
    for name in [n for n in sys.modules if n in ("run", "_proc")]:
        monkeypatch.delitem(sys.modules, name)
    import run

    monkeypatch.setattr(run._proc, "become_subreaper", lambda: True)
    monkeypatch.setattr(run._proc, "raise_nofile", lambda wanted: wanted)
    monkeypatch.setattr(run._proc, "cleanup_descendants", lambda: None)
    # main() turns SIGTERM into KeyboardInterrupt for itself; not for pytest.
    previous = signal.getsignal(signal.SIGTERM)
    yield run
    signal.signal(signal.SIGTERM, previous)


def _report(start_s: Any) -> dict[str, Any]:
    """What run() returns for ``--only start`` with our daemon only."""
    return {"machine": {}, "daemons": {"ours": "ours"}, "kernels": {"ours": "ours"},
            "peer_problems": {}, "args": {"only": ["start"]},
            "runs": {"sleepers": {"ours": {"start_s": start_s, "start_with_boot_s": 1.5}}}}


def _main(bench: ModuleType, tmp_path: Path, report: dict[str, Any], *args: str) -> int:
    setattr(bench, "run", lambda _args: report)  # noqa: B010 (the module is untyped)
    code: int = bench.main(["--only", "start", "--skip-peers",
                            "--json", str(tmp_path / "latest.json"), *args])
    return code


def test_a_missed_target_fails_the_check(bench: ModuleType, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(bench, tmp_path, _report(2.5), "--check") == 1
    err = capsys.readouterr().err
    assert "1 target(s) missed" in err
    assert "start 1000 sleep (1st child -> all exec'd): 2.50 (target <= 1 s)" in err


def test_without_check_a_miss_is_only_shown(bench: ModuleType, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(bench, tmp_path, _report(2.5)) == 0
    assert "MISS" in capsys.readouterr().out


def test_met_targets_pass(bench: ModuleType, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(bench, tmp_path, _report(0.4), "--check") == 0
    assert "every target met" in capsys.readouterr().out


@pytest.mark.parametrize("result", [{"error": "ScenarioError: boom"}, {}])
def test_an_error_or_a_missing_number_fails_the_check(bench: ModuleType, tmp_path: Path,
                                                      result: dict[str, Any]) -> None:
    report = _report(0.4)
    report["runs"]["sleepers"]["ours"] = result
    assert _main(bench, tmp_path, report, "--check") == 1
