"""Hooks: which are called, with what, and what their answers (and failures) change.

The hooks live in ``tests/hookmods/recording_hooks.py`` and are given as dotted
paths, imported from the watcher's ``working_dir`` as a user's would be.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from circus._watching.hooks import Hooks
from circus.config import HOOK_NAMES
from circus.watcher import Watcher
from conftest import ArbiterHarness, apoll, pid_exists_not_zombie, python_cmd

HOOKMODS = Path(__file__).parent / "hookmods"
MODULE = "recording_hooks"
SLEEPER = python_cmd("import time; time.sleep(60)")
# Says it is ready (a file named after its pid in argv[1]), exits 3 on SIGUSR1 and
# leaves a "term" file when SIGTERM reaches it.
SIGNAL_AWARE = python_cmd(
    "import os, signal, sys, time\n"
    "d = sys.argv[1]\n"
    "def on_term(*_):\n"
    "    open(os.path.join(d, 'term'), 'w').close()\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, on_term)\n"
    "signal.signal(signal.SIGUSR1, lambda *_: sys.exit(3))\n"
    "open(os.path.join(d, str(os.getpid())), 'w').close()\n"
    "time.sleep(60)"
)
MakeArbiter = Callable[..., Any]


@pytest.fixture(autouse=True)
def fresh_hook_module() -> Iterator[None]:
    """Each test imports the hook module anew, through its watcher's working_dir."""
    sys.modules.pop(MODULE, None)
    yield
    sys.modules.pop(MODULE, None)


def hooked(hooks: dict[str, Any], **options: Any) -> tuple[Watcher, ModuleType]:
    """A watcher named ``hooked`` with ``hooks``; returns it and the freshly reset module.

    Hook values are function names in recording_hooks (or ``(name, ignore)``).
    """
    specs = {
        name: (f"{MODULE}.{value[0]}", value[1]) if isinstance(value, tuple)
        else f"{MODULE}.{value}"
        for name, value in hooks.items()
    }
    options.setdefault("cmd", SLEEPER)
    watcher = Watcher("hooked", hooks=specs, working_dir=str(HOOKMODS), **options)
    module = sys.modules[MODULE]
    module.reset()
    return watcher, module


def called(module: ModuleType, name: str | None = None) -> list[dict[str, Any]]:
    """The recorded calls (of hook ``name`` only, if given)."""
    return [c for c in module.CALLS if name is None or c["hook_name"] == name]


def events(harness: ArbiterHarness, event: str) -> list[dict[str, Any]]:
    """Payloads of the recorded ``watcher.hooked.<event>`` events."""
    return [p for t, p in harness.events if t == f"watcher.hooked.{event}"]


async def started(make_arbiter: MakeArbiter, watcher: Watcher) -> ArbiterHarness:
    harness: ArbiterHarness = await make_arbiter(watcher)
    return harness


# -- resolution -------------------------------------------------------------------------------


async def test_dotted_path_is_imported_from_the_working_dir() -> None:
    assert importlib.util.find_spec(MODULE) is None  # not importable from sys.path
    with pytest.raises(ValueError, match="cannot import hook"):
        Watcher("nowd", cmd=SLEEPER, hooks={"before_start": f"{MODULE}.record"})
    path_before = list(sys.path)
    watcher, module = hooked({"before_start": "record"})
    assert Path(module.__file__ or "").parent == HOOKMODS
    assert sys.path == path_before  # working_dir was only borrowed for the import
    assert watcher.hooks.specs()["before_start"] == (module.record, False)


async def test_all_eleven_hooks_resolve_and_unknown_names_are_refused() -> None:
    watcher, _module = hooked({name: "record" for name in HOOK_NAMES})
    assert set(watcher.hooks.specs()) == {
        "before_start", "after_start", "before_spawn", "after_spawn", "before_stop",
        "after_stop", "before_signal", "after_signal", "before_reap", "after_reap",
        "extended_stats",
    }
    with pytest.raises(ValueError, match="unknown hook"):
        Watcher("bad", cmd=SLEEPER, hooks={"before_strat": f"{MODULE}.record"},
                working_dir=str(HOOKMODS))


async def test_extended_stats_is_called_with_pid_and_stats() -> None:
    watcher, module = hooked({"extended_stats": "record"})
    stats = {"cpu": 1.5}
    assert await watcher.hooks.run(watcher, "extended_stats", pid=4242, stats=stats)
    (call,) = called(module)
    assert call == {"watcher": watcher, "arbiter": None, "hook_name": "extended_stats",
                    "pid": 4242, "stats": stats}
    assert call["stats"] is stats  # the hook may add its own stats in place


async def test_hooks_class_takes_callables_and_ignore_flags() -> None:
    seen: list[str] = []
    hooks = Hooks({"before_start": (lambda **kw: seen.append(kw["hook_name"]), True)},
                  working_dir=None, timeout=1.0)
    watcher = Watcher("plain", cmd=SLEEPER)
    # The lambda returns None (false), so the start would be refused.
    assert await hooks.run(watcher, "before_start") is False
    assert seen == ["before_start"]
    assert await hooks.run(watcher, "after_start") is True  # no hook: go on


# -- arguments ----------------------------------------------------------------------------------


async def test_every_hook_gets_its_documented_keyword_arguments(
    make_arbiter: MakeArbiter, tmp_path: Path
) -> None:
    lifecycle = [n for n in HOOK_NAMES if n != "extended_stats"]
    watcher, module = hooked({name: "record" for name in lifecycle}, cmd=SIGNAL_AWARE,
                             args=[str(tmp_path)], min_uptime=0)
    harness = await started(make_arbiter, watcher)
    assert [c["hook_name"] for c in called(module)] == [
        "before_start", "before_spawn", "after_spawn", "after_start"]
    for call in called(module):
        assert call["watcher"] is watcher
        assert call["arbiter"] is harness.arbiter
    (first,) = watcher.pids
    assert called(module, "after_spawn")[0]["pid"] == first
    await apoll((tmp_path / str(first)).exists)

    assert await watcher.send_signal(signal.SIGUSR1) == [first]
    assert [{k: c[k] for k in ("pid", "signum")} for c in called(module, "before_signal")] == [
        {"pid": first, "signum": signal.SIGUSR1}]
    assert [{k: c[k] for k in ("pid", "signum")} for c in called(module, "after_signal")] == [
        {"pid": first, "signum": signal.SIGUSR1}]
    await apoll(lambda: called(module, "after_reap"))
    (before_reap,) = called(module, "before_reap")
    (after_reap,) = called(module, "after_reap")
    assert before_reap["process_pid"] == after_reap["process_pid"] == first
    assert abs(before_reap["time"] - time.time()) < 30
    assert abs(after_reap["time"] - time.time()) < 30
    assert after_reap["exit_code"] == 3
    assert "process_status" in after_reap
    names = [c["hook_name"] for c in called(module)]
    assert names.index("before_reap") < names.index("after_reap")

    # The respawned process is stopped: stop and signal hooks, then its reap.
    await apoll(lambda: len(called(module, "after_spawn")) == 2)
    second = [p for p in watcher.pids if p != first]
    module.CALLS.clear()
    await watcher.stop()
    await apoll(lambda: called(module, "after_reap"))
    names = [c["hook_name"] for c in called(module)]
    # The reap hooks run as the death is seen, concurrently with the rest of the stop.
    assert [n for n in names if not n.endswith("_reap")] == [
        "before_stop", "before_signal", "after_signal", "after_stop"]
    assert [n for n in names if n.endswith("_reap")] == ["before_reap", "after_reap"]
    (term,) = called(module, "before_signal")
    assert (term["pid"], term["signum"]) == (second[0], signal.SIGTERM)
    assert called(module, "after_reap")[0]["process_pid"] == second[0]
    for call in called(module):
        assert call["watcher"] is watcher
        assert call["arbiter"] is harness.arbiter
        assert call["hook_name"] in lifecycle


async def test_hooks_called_with_named_arguments_only(
    make_arbiter: MakeArbiter, tmp_path: Path
) -> None:
    watcher, module = hooked({"before_signal": "with_signature"}, cmd=SIGNAL_AWARE,
                             args=[str(tmp_path)])
    await started(make_arbiter, watcher)
    (pid,) = watcher.pids
    await apoll((tmp_path / str(pid)).exists)
    await watcher.stop()
    assert [(c["pid"], c["signum"]) for c in called(module)] == [(pid, signal.SIGTERM)]
    assert (tmp_path / "term").exists()


# -- what the answers change -----------------------------------------------------------------------


async def test_before_start_false_keeps_the_watcher_stopped(make_arbiter: MakeArbiter) -> None:
    watcher, module = hooked({"before_start": "record", "before_spawn": "record"})
    module.RESULTS["before_start"] = False
    harness = await started(make_arbiter, watcher)
    assert watcher.status() == "stopped"
    assert watcher.pids == []
    assert [c["hook_name"] for c in called(module)] == ["before_start"]
    assert events(harness, "spawn") == []
    assert events(harness, "start") == []
    assert [e["name"] for e in events(harness, "hook_success")] == ["before_start"]


async def test_after_start_false_stops_the_started_watcher(make_arbiter: MakeArbiter) -> None:
    watcher, module = hooked({"after_start": "record"}, numprocesses=2)
    module.RESULTS["after_start"] = False
    harness = await started(make_arbiter, watcher)
    spawned = [e["process_pid"] for e in events(harness, "spawn")]
    assert len(spawned) == 2
    assert watcher.status() == "stopped"
    assert watcher.pids == []
    assert not any(pid_exists_not_zombie(pid) for pid in spawned)
    assert len(events(harness, "stop")) == 1


async def test_before_spawn_false_stops_the_watcher_before_any_spawn(
    make_arbiter: MakeArbiter,
) -> None:
    watcher, module = hooked({"before_spawn": "record", "after_start": "record"})
    module.RESULTS["before_spawn"] = False
    harness = await started(make_arbiter, watcher)
    assert watcher.status() == "stopped"
    assert events(harness, "spawn") == []
    assert [c["hook_name"] for c in called(module)] == ["before_spawn"]  # no after_start


async def test_after_spawn_false_kills_the_process_and_stops_the_watcher(
    make_arbiter: MakeArbiter,
) -> None:
    watcher, module = hooked({"after_spawn": "record"}, numprocesses=3)
    module.RESULTS["after_spawn"] = False
    harness = await started(make_arbiter, watcher)
    (call,) = called(module)  # the first refusal ends the start: no more spawns
    pid = call["pid"]
    assert [e["process_pid"] for e in events(harness, "spawn")] == [pid]
    assert watcher.status() == "stopped"
    assert not pid_exists_not_zombie(pid)
    assert [e["process_pid"] for e in events(harness, "reap")] == [pid]


@pytest.mark.parametrize("sequential", [False, True])
async def test_spawn_hooks_run_for_the_spawns_of_a_reload(
    make_arbiter: MakeArbiter, sequential: bool
) -> None:
    watcher, module = hooked({"before_spawn": "record", "after_spawn": "record"},
                             numprocesses=2)
    await started(make_arbiter, watcher)
    old = watcher.pids
    module.CALLS.clear()
    info = await watcher.reload(graceful=True, sequential=sequential)
    assert sorted(info["started"]) == sorted(watcher.pids)
    assert not set(old) & set(watcher.pids)
    assert [c["hook_name"] for c in called(module)] == ["before_spawn", "after_spawn"] * 2
    assert sorted(c["pid"] for c in called(module, "after_spawn")) == sorted(watcher.pids)


async def test_after_spawn_false_during_a_reload_stops_the_watcher(
    make_arbiter: MakeArbiter,
) -> None:
    watcher, module = hooked({"after_spawn": "record"}, numprocesses=2)
    harness = await started(make_arbiter, watcher)
    old = watcher.pids
    module.RESULTS["after_spawn"] = False
    await watcher.reload(graceful=True)
    assert watcher.status() == "stopped"
    assert watcher.pids == []
    refused = called(module, "after_spawn")[-1]["pid"]
    assert not any(pid_exists_not_zombie(pid) for pid in [*old, refused])
    assert len(events(harness, "stop")) == 1


async def test_before_signal_false_withholds_the_signal_but_not_sigkill(
    make_arbiter: MakeArbiter, tmp_path: Path
) -> None:
    watcher, module = hooked({"before_signal": "record", "after_signal": "record"},
                             cmd=SIGNAL_AWARE, args=[str(tmp_path)], graceful_timeout=0.3)
    module.RESULTS["before_signal"] = False
    harness = await started(make_arbiter, watcher)
    (pid,) = watcher.pids
    await apoll((tmp_path / str(pid)).exists)

    # SIGUSR1 would make the child exit with 3; the hook keeps it from being sent.
    assert await watcher.send_signal(signal.SIGUSR1) == []
    await watcher.stop()
    assert [c["signum"] for c in called(module, "before_signal")] == [
        signal.SIGUSR1, signal.SIGTERM]
    assert called(module, "after_signal") == []
    assert not (tmp_path / "term").exists()  # SIGTERM never arrived either
    # ... yet the process is gone: SIGKILL after graceful_timeout is always sent.
    assert [(e["process_pid"], e["exit_code"]) for e in events(harness, "reap")] == [
        (pid, -signal.SIGKILL)]


async def test_a_raising_before_signal_does_not_block_the_signal(
    make_arbiter: MakeArbiter, tmp_path: Path
) -> None:
    watcher, _module = hooked({"before_signal": "boom"}, cmd=SIGNAL_AWARE,
                             args=[str(tmp_path)], graceful_timeout=10)
    harness = await started(make_arbiter, watcher)
    (pid,) = watcher.pids
    await apoll((tmp_path / str(pid)).exists)
    began = time.monotonic()
    await watcher.stop()
    assert time.monotonic() - began < 5  # no wait for SIGKILL: SIGTERM was sent
    assert (tmp_path / "term").exists()
    assert [e["name"] for e in events(harness, "hook_failure")] == ["before_signal"]


async def test_stop_hooks_cannot_abort_a_stop(make_arbiter: MakeArbiter) -> None:
    watcher, module = hooked({"before_stop": "boom", "after_stop": "record"})
    module.RESULTS["after_stop"] = False
    harness = await started(make_arbiter, watcher)
    (pid,) = watcher.pids
    await watcher.stop()
    assert watcher.status() == "stopped"
    assert not pid_exists_not_zombie(pid)
    assert [e["name"] for e in events(harness, "hook_failure")] == ["before_stop"]
    assert [c["hook_name"] for c in called(module)] == ["before_stop", "after_stop"]


# -- failures and events ----------------------------------------------------------------------


async def test_a_raising_hook_fails_with_hook_failure(make_arbiter: MakeArbiter) -> None:
    watcher, _module = hooked({"before_start": "boom"})
    harness = await started(make_arbiter, watcher)
    assert watcher.status() == "stopped"
    assert watcher.pids == []
    (failure,) = events(harness, "hook_failure")
    assert failure["name"] == "before_start"
    assert "boom from the hook" in failure["error"]
    assert isinstance(failure["time"], float)
    assert events(harness, "hook_success") == []


async def test_the_ignore_flag_turns_a_raising_hook_into_success(
    make_arbiter: MakeArbiter,
) -> None:
    watcher, _module = hooked({"before_start": ("boom", True), "after_start": "record"})
    harness = await started(make_arbiter, watcher)
    assert watcher.status() == "active"
    assert len(watcher.pids) == 1
    assert [e["name"] for e in events(harness, "hook_failure")] == ["before_start"]
    assert [e["name"] for e in events(harness, "hook_success")] == ["after_start"]


async def test_the_ignore_flag_does_not_override_a_false_answer(
    make_arbiter: MakeArbiter,
) -> None:
    watcher, module = hooked({"before_start": ("record", True)})
    module.RESULTS["before_start"] = False
    await started(make_arbiter, watcher)
    assert watcher.status() == "stopped"


async def test_hook_success_is_emitted_for_each_successful_hook(
    make_arbiter: MakeArbiter,
) -> None:
    watcher, _module = hooked({n: "record" for n in ("before_start", "before_spawn",
                                                    "after_spawn", "after_start")})
    harness = await started(make_arbiter, watcher)
    successes = events(harness, "hook_success")
    assert [e["name"] for e in successes] == [
        "before_start", "before_spawn", "after_spawn", "after_start"]
    assert all(isinstance(e["time"], float) for e in successes)


async def _start_measuring_lag(watcher: Watcher) -> tuple[float, float]:
    """Start ``watcher`` while ticking on the loop; return (start duration, worst lag)."""
    worst = 0.0
    task = asyncio.ensure_future(watcher.start())
    began = time.monotonic()
    while not task.done():
        before = time.monotonic()
        await asyncio.sleep(0.01)
        worst = max(worst, time.monotonic() - before - 0.01)
    await task
    return time.monotonic() - began, worst


@pytest.mark.parametrize("hook", ["slow", "slow_async"])
async def test_a_slow_hook_times_out_and_the_loop_stays_responsive(
    make_arbiter: MakeArbiter, hook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hook outlasts any scheduling delay a busy machine can cause, so
    # "start did not wait for it" and "the loop never stalled for it" hold
    # with deadlines far from the hook's 60 s.
    watcher, module = hooked({"before_start": hook}, hook_timeout=0.2)
    monkeypatch.setattr(module, "SLOW_SECONDS", 60)
    harness = await make_arbiter(watcher, start=False)
    duration, lag = await _start_measuring_lag(watcher)
    assert duration < 30, "start waited for the slow hook"
    assert lag < 30, f"the loop stalled for {lag:.3f}s while the hook ran"
    assert not module.SLOW_DONE.is_set()
    assert watcher.status() == "stopped"  # a timed-out hook is a failed hook
    (failure,) = events(harness, "hook_failure")
    assert failure["name"] == "before_start"
    assert "timed out" in failure["error"]
    if hook == "slow":
        # The thread cannot be interrupted: release it and let it finish before
        # the test ends.
        module.SLOW_RELEASE.set()
        await apoll(module.SLOW_DONE.is_set)


async def test_async_hooks_are_awaited(make_arbiter: MakeArbiter) -> None:
    watcher, module = hooked({"after_spawn": "record_async", "after_start": "record_async"})
    module.RESULTS["after_start"] = False
    harness = await started(make_arbiter, watcher)
    (spawn,) = called(module, "after_spawn")
    assert spawn["pid"] == events(harness, "spawn")[0]["process_pid"]
    assert spawn["watcher"] is watcher
    assert spawn["arbiter"] is harness.arbiter
    assert watcher.status() == "stopped"  # the async after_start said no
    assert [e["name"] for e in events(harness, "hook_success")] == ["after_spawn", "after_start"]


async def test_hooks_run_with_circusds_environment(
    make_arbiter: MakeArbiter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIRCUS_HOOK_MARKER", "daemon")
    seen: list[str | None] = []

    def hook(**kwargs: Any) -> bool:
        seen.append(os.environ.get("CIRCUS_HOOK_MARKER"))
        return True

    watcher = Watcher("hooked", cmd=SLEEPER, env={"CIRCUS_HOOK_MARKER": "watcher"},
                      hooks={"before_start": hook})
    await started(make_arbiter, watcher)
    assert seen == ["daemon"]
