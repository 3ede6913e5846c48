"""From an INI file to a running arbiter: what the loaded config turns into."""

from __future__ import annotations

import resource

from circus._watching import rlimits as _rlimits
from circus.arbiter import Arbiter
from circus.watcher import Watcher


def test_free_form_keys_reach_the_watcher_options(tmp_path):
    """Dotted keys such as ``flapping.max_retry`` are kept for plugins."""
    config = tmp_path / "circus.ini"
    config.write_text(
        "[watcher:web]\ncmd = sleep 1\nflapping.max_retry = 3\nflapping.window = 1.5\n"
    )
    watcher = Arbiter.load_from_config(str(config)).get_watcher("web")
    assert watcher.options == {"flapping.max_retry": "3", "flapping.window": "1.5"}


def test_circusd_raises_its_own_soft_nofile_limit():
    """Supervising many piped children raises the soft RLIMIT_NOFILE as needed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
        _rlimits.ensure_nofile(children=1000, fds_per_child=2)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= min(2000, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_autostart_false_is_skipped_at_arbiter_start(make_arbiter):
    """The arbiter leaves ``autostart = false`` watchers stopped until started by hand."""
    eager = Watcher("eager", "sleep 60")
    lazy = Watcher("lazy", "sleep 60", autostart=False)
    await make_arbiter(eager, lazy)
    assert eager.status() == "active" and len(eager.pids) == 1
    assert lazy.status() == "stopped" and lazy.pids == []
    await lazy.start()
    assert lazy.status() == "active" and len(lazy.pids) == 1
