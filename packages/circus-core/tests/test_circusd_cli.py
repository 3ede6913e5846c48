"""``circusd`` on the command line: version, usage, logging options, pidfile, [circus] options.

Every test runs a real circusd subprocess on a config in its own tmp dir, and
stops it with the ``circusd`` fixture's ``stop()``, which asserts that every
child circusd had is gone afterwards.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time

import circus
import psutil
from conftest import poll

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d circus\[(\d+)\] \[(\w+)\] (.*)$")

# A child that reports itself (and the umask it inherited), then sleeps.
CHILD = """\
import os, sys, time
name = sys.argv[1]
mask = os.umask(0)
os.umask(mask)
path = f"{name}-{os.getpid()}.child"
with open(path, "w") as handle:
    handle.write(f"{mask:o} {time.time()!r}\\n")
while True:
    time.sleep(0.2)
"""


def _config(circusd, *watchers: str, circus_section: str = "") -> str:
    """Write child.py and an INI with one watcher per name; return the INI's path."""
    circusd.write("child.py", CHILD)
    parts = [f"[circus]\n{circus_section}\n"] if circus_section else []
    for name in watchers:
        parts.append(
            f"[watcher:{name}]\ncmd = {sys.executable} child.py {name}\n"
            "graceful_timeout = 2\n"
        )
    return str(circusd.write("circus.ini", "\n".join(parts)))


def _log_lines(text: str) -> list[tuple[int, str, str]]:
    return [(int(m[1]), m[2], m[3]) for m in map(LOG_LINE.match, text.splitlines()) if m]


def test_version_prints_the_version_and_exits_0(circusd):
    result = circusd.run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"circusd {circus.__version__}"


def test_no_config_prints_usage_and_exits_0(circusd):
    result = circusd.run()
    assert result.returncode == 0
    assert result.stdout.startswith("usage: circusd")
    assert "[config]" in result.stdout


def test_help_lists_every_option_of_the_man_page(circusd):
    result = circusd.run("--help")
    assert result.returncode == 0
    for option in ("--log-level", "--log-output", "--logger-config", "--daemon", "--pidfile",
                   "--version", "config"):
        assert option in result.stdout


def test_bad_arguments_exit_2_with_usage(circusd):
    for args in (("--bogus",), ("--log-level", "chatty", "x.ini"), ("a.ini", "b.ini")):
        result = circusd.run(*args)
        assert result.returncode == 2, args
        assert result.stderr.startswith("usage: circusd"), args
        assert "circusd: error:" in result.stderr
        assert "Traceback" not in result.stderr


def test_installed_console_script_runs_circusd(circusd, tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "circusd")
    assert os.access(script, os.X_OK), f"no circusd console script next to {sys.executable}"
    version = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=30)
    assert (version.returncode, version.stdout.strip()) == (0, f"circusd {circus.__version__}")
    config = _config(circusd, "web")
    proc = circusd.start(argv=[script, config])
    poll(lambda: list(tmp_path.glob("web-*.child")))
    proc.wait_children(1)
    assert psutil.Process(proc.pid).cmdline()[1] == script  # the script, not `-m circus.circusd`
    assert proc.stop() == 0


def test_default_logging_is_info_on_stdout(circusd, tmp_path):
    proc = circusd.start(_config(circusd, "web"))
    poll(lambda: "arbiter running" in proc.stdout())
    assert proc.stop() == 0
    lines = _log_lines(proc.stdout())
    assert lines, proc.stdout()
    assert {pid for pid, _, _ in lines} == {proc.pid}
    assert {level for _, level, _ in lines} == {"INFO"}
    assert any("circusd stopped" in message for _, _, message in lines)


def test_log_level_debug_shows_debug_lines(circusd, tmp_path):
    proc = circusd.start("--log-level", "debug", _config(circusd, "web"))
    poll(lambda: "arbiter running" in proc.stdout())
    assert proc.stop() == 0
    levels = [level for _, level, _ in _log_lines(proc.stdout())]
    assert "DEBUG" in levels
    spawned = [m for _, level, m in _log_lines(proc.stdout()) if "spawned pid" in m]
    assert spawned, "the spawn of each process is logged at debug level"


def test_log_level_error_hides_info(circusd):
    proc = circusd.start("--log-level", "ERROR", _config(circusd, "web"))
    proc.wait_children(1)
    assert proc.stop() == 0
    assert proc.stdout() == ""


def test_log_output_writes_the_log_to_a_file(circusd, tmp_path):
    log = tmp_path / "circusd.log"
    proc = circusd.start("--log-output", str(log), _config(circusd, "web"))
    poll(lambda: log.exists() and "arbiter running" in log.read_text())
    assert proc.stop() == 0
    lines = _log_lines(log.read_text())
    assert len(lines) == len(log.read_text().splitlines())  # every line has the format
    assert lines[0] == (proc.pid, "INFO", lines[0][2])
    assert lines[0][2].startswith(f"circusd {circus.__version__} starting (pid {proc.pid})")
    assert proc.stdout() == ""


def test_logger_config_ini(circusd, tmp_path):
    log = tmp_path / "ini.log"
    circusd.write("logging.ini", f"""\
[loggers]
keys = root

[handlers]
keys = file

[formatters]
keys = plain

[logger_root]
level = DEBUG
handlers = file

[handler_file]
class = FileHandler
level = DEBUG
formatter = plain
args = ({str(log)!r},)

[formatter_plain]
format = INI %(levelname)s %(message)s
""")
    proc = circusd.start("--logger-config", "logging.ini", _config(circusd, "web"))
    poll(lambda: log.exists() and "arbiter running" in log.read_text())
    assert proc.stop() == 0
    text = log.read_text()
    assert "INI DEBUG watcher web: spawned pid" in text
    assert "INI INFO circusd stopped" in text
    assert proc.stdout() == ""


def test_logger_config_json(circusd, tmp_path):
    log = tmp_path / "json.log"
    circusd.write("logging.json", json.dumps({
        "version": 1,
        "formatters": {"plain": {"format": "JSON %(levelname)s %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(log),
                              "formatter": "plain", "level": "INFO"}},
        "loggers": {"circus": {"handlers": ["file"], "level": "INFO"}},
    }))
    proc = circusd.start("--logger-config", "logging.json", _config(circusd, "web"))
    poll(lambda: log.exists() and "arbiter running" in log.read_text())
    assert proc.stop() == 0
    text = log.read_text()
    assert "JSON INFO watcher web started (1 processes)" in text
    assert "DEBUG" not in text
    assert proc.stdout() == ""


def test_logger_config_yaml_from_the_manual(circusd, tmp_path):
    """The manual's YAML logging example (with the optional PyYAML) configures circusd."""
    log = tmp_path / "logoutput.txt"
    circusd.write("logging.yaml", f"""\
version: 1
disable_existing_loggers: false
formatters:
  simple:
    format: '%(asctime)s - %(name)s - [%(levelname)s] %(message)s'
handlers:
  logfile:
    class: logging.FileHandler
    filename: {log}
    level: DEBUG
    formatter: simple
loggers:
  circus:
    level: DEBUG
    handlers: [logfile]
    propagate: no
root:
  level: DEBUG
  handlers: [logfile]
""")
    proc = circusd.start("--logger-config", "logging.yaml", _config(circusd, "web"))
    poll(lambda: log.exists() and "arbiter running" in log.read_text())
    assert proc.stop() == 0
    assert " - circus - [DEBUG] watcher web: spawned pid" in log.read_text()


def test_bad_logger_config_is_a_clear_error(circusd):
    circusd.write("broken.json", "{not json")
    result = circusd.run("--logger-config", "broken.json", _config(circusd, "web"))
    assert result.returncode == 1
    assert result.stderr.startswith("circusd: error: logger config broken.json")
    assert "Traceback" not in result.stderr


def test_loglevel_and_logoutput_from_the_config_file(circusd, tmp_path):
    log = tmp_path / "from-config.log"
    config = _config(circusd, "web", circus_section=f"loglevel = debug\nlogoutput = {log}")
    proc = circusd.start(config)
    poll(lambda: log.exists() and "arbiter running" in log.read_text())
    assert proc.stop() == 0
    assert "DEBUG" in {level for _, level, _ in _log_lines(log.read_text())}
    assert proc.stdout() == ""


def test_command_line_wins_over_the_config_file(circusd, tmp_path):
    config_log = tmp_path / "config.log"
    cli_log = tmp_path / "cli.log"
    config = _config(circusd, "web",
                     circus_section=f"loglevel = debug\nlogoutput = {config_log}")
    proc = circusd.start("--log-level", "info", "--log-output", str(cli_log), config)
    poll(lambda: cli_log.exists() and "arbiter running" in cli_log.read_text())
    assert proc.stop() == 0
    assert not config_log.exists()
    assert {level for _, level, _ in _log_lines(cli_log.read_text())} == {"INFO"}


def test_debug_true_turns_on_debug_logging(circusd):
    proc = circusd.start(_config(circusd, "web", circus_section="debug = true"))
    poll(lambda: "arbiter running" in proc.stdout())
    assert proc.stop() == 0
    assert "DEBUG" in {level for _, level, _ in _log_lines(proc.stdout())}


def test_umask_from_the_config_applies_to_children(circusd, tmp_path):
    inherited = os.umask(0)
    os.umask(inherited)
    assert inherited != 0o027, "circusd would inherit 027 anyway; the test proves nothing"
    proc = circusd.start(_config(circusd, "web", circus_section="umask = 027"))
    [created] = poll(lambda: list(tmp_path.glob("web-*.child")))
    poll(lambda: created.read_text().endswith("\n"))
    assert created.read_text().split()[0] == "27"
    assert stat.S_IMODE(created.stat().st_mode) == 0o640
    assert proc.stop() == 0


def test_warmup_delay_spaces_out_watcher_starts(circusd, tmp_path):
    config = _config(circusd, "first", "second", circus_section="warmup_delay = 0.8")
    proc = circusd.start(config)
    poll(lambda: len(list(tmp_path.glob("*.child"))) == 2)
    files = {path.name.split("-")[0]: path for path in tmp_path.glob("*.child")}
    poll(lambda: all(p.read_text().endswith("\n") for p in files.values()))
    started = {name: float(path.read_text().split()[1]) for name, path in files.items()}
    assert abs(started["second"] - started["first"]) >= 0.7
    assert proc.stop() == 0


def test_check_delay_is_accepted(circusd):
    proc = circusd.start(_config(circusd, "web", circus_section="check_delay = 0.5"))
    proc.wait_children(1)
    assert proc.stop() == 0
    assert "Traceback" not in proc.stderr()


# -- pidfile ---------------------------------------------------------------------


def test_pidfile_holds_the_pid_and_is_removed_on_exit(circusd, tmp_path):
    pidfile = tmp_path / "run" / "circusd.pid"
    pidfile.parent.mkdir()
    proc = circusd.start("--pidfile", str(pidfile), _config(circusd, "web"))
    poll(lambda: pidfile.exists() and pidfile.read_text().strip() == str(proc.pid))
    proc.wait_children(1)
    assert proc.stop() == 0
    assert not pidfile.exists()


def test_pidfile_from_the_circus_section(circusd, tmp_path):
    pidfile = tmp_path / "from-config.pid"
    proc = circusd.start(_config(circusd, "web", circus_section=f"pidfile = {pidfile}"))
    poll(lambda: pidfile.exists() and pidfile.read_text().strip() == str(proc.pid))
    assert proc.stop() == 0
    assert not pidfile.exists()


def test_pidfile_naming_a_live_process_refuses_the_start(circusd, tmp_path):
    pidfile = tmp_path / "busy.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    before = pidfile.stat()
    result = circusd.run("--pidfile", str(pidfile), _config(circusd, "web"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"circusd: error: pidfile {pidfile} names pid {os.getpid()}")
    assert "running" in result.stderr
    assert "Traceback" not in result.stderr
    assert pidfile.read_text() == f"{os.getpid()}\n"
    assert pidfile.stat().st_mtime_ns == before.st_mtime_ns
    assert not list(tmp_path.glob("*.child")), "no watcher may start"


def test_stale_pidfile_is_replaced(circusd, tmp_path):
    stale = _dead_pid()
    pidfile = tmp_path / "stale.pid"
    pidfile.write_text(f"{stale}\n")
    proc = circusd.start("--pidfile", str(pidfile), _config(circusd, "web"))
    poll(lambda: pidfile.read_text().strip() == str(proc.pid)
                 if pidfile.exists() else False)
    proc.wait_children(1)
    assert proc.stop() == 0
    assert not pidfile.exists()


def _dead_pid() -> int:
    """A pid that belonged to a process which has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    # pids are recycled only after wrapping around pid_max; make sure anyway.
    deadline = time.monotonic() + 5
    while psutil.pid_exists(child.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not psutil.pid_exists(child.pid)
    return child.pid
