"""Every circusctl command: its arguments and flags, the properties it sends, its output.

The properties match what upstream's circusctl 0.19 sends, except where its
bugs are fixed: ``rm`` forwards ``--waiting``/``--nostop``, ``kill`` forwards
``--waiting`` and sends ``graceful_timeout`` as a number, ``set env A=1,B=2``
works.
"""

from __future__ import annotations

from argparse import Namespace

from circus.client import DEFAULT_PUBSUB
from circus.ctl import _console as console
from circus.ctl._convert import UsageError, check_signal, option_pairs, to_float, to_int
from circus.ctl._spec import Arg, Command, Flag

WAITING = Flag("--waiting", "wait until the operation has really finished before replying")
MATCH = Flag("--match", "how NAME selects watchers: simple (exact), glob or regex",
             metavar="simple|glob|regex", default="glob")
WATCHER = Arg("name", "the name of the watcher")
OPT_WATCHER = Arg("name", "the name of the watcher (default: all)", nargs="?")
PATTERN = Arg("name", "the watcher name or pattern (default: all watchers)", nargs="?")


def _name(ns: Namespace) -> dict[str, object]:
    return {"name": ns.name} if ns.name is not None else {}


def _none(ns: Namespace) -> dict[str, object]:
    return {}


def _waiting(ns: Namespace) -> dict[str, object]:
    return {"waiting": ns.waiting}


def _scale(ns: Namespace) -> dict[str, object]:
    props: dict[str, object] = {"name": ns.name}
    if ns.nb is not None:
        props["nb"] = to_int("nb", ns.nb)
    props["waiting"] = ns.waiting
    return props


def _lifecycle(ns: Namespace) -> dict[str, object]:
    if ns.match not in ("simple", "glob", "regex"):
        raise UsageError(f"--match must be simple, glob or regex, not {ns.match!r}")
    return {**_name(ns), "waiting": ns.waiting, "match": ns.match}


def _add(ns: Namespace) -> dict[str, object]:
    return {"name": ns.name, "cmd": " ".join(ns.cmd), "start": ns.start}


def _status(ns: Namespace) -> dict[str, object]:
    # Only sent when asked: upstream's reply (and request) stay as they are.
    return {**_name(ns), "verbose": True} if ns.verbose else _name(ns)


def _get(ns: Namespace) -> dict[str, object]:
    return {"name": ns.name, "keys": list(ns.keys)}


def _globaloptions(ns: Namespace) -> dict[str, object]:
    return {"option": ns.option} if ns.option is not None else {}


def _kill(ns: Namespace) -> dict[str, object]:
    props: dict[str, object] = {"name": ns.name}
    if ns.pid is not None:
        props["pid"] = to_int("pid", ns.pid)
    if ns.signum is not None:
        props["signum"] = check_signal(ns.signum)
    if ns.graceful_timeout is not None:
        props["graceful_timeout"] = to_float("--graceful_timeout", ns.graceful_timeout)
    if ns.waiting:
        props["waiting"] = True
    return props


def _reload(ns: Namespace) -> dict[str, object]:
    return {**_name(ns), "graceful": not ns.terminate, "waiting": ns.waiting,
            "sequential": ns.sequential}


def _rm(ns: Namespace) -> dict[str, object]:
    props: dict[str, object] = {"name": ns.name}
    if ns.nostop:
        props["nostop"] = True
    if ns.waiting:
        props["waiting"] = True
    return props


def _set(ns: Namespace) -> dict[str, object]:
    return {"name": ns.name, "waiting": ns.waiting, "options": option_pairs(ns.options)}


def _signal(ns: Namespace) -> dict[str, object]:
    words = list(ns.targets)
    if not 1 <= len(words) <= 3:
        raise UsageError("expected: NAME [PID [CHILDPID]] SIGNUM")
    props: dict[str, object] = {"name": ns.name}
    if len(words) >= 2:
        props["pid"] = to_int("pid", words[0])
    if len(words) == 3:
        props["childpid"] = to_int("childpid", words[1])
    props["children"] = ns.children
    props["recursive"] = ns.recursive
    props["signum"] = check_signal(words[-1])
    return props


def _stats(ns: Namespace) -> dict[str, object]:
    props = _name(ns)
    if ns.process is not None:
        if ns.name is None:
            raise UsageError("a PROCESS needs a watcher NAME")
        props["process"] = to_int("process", ns.process)
    props["extended"] = ns.extended
    return props


def _tail(ns: Namespace) -> dict[str, object]:
    lines = to_int("--lines", ns.lines)
    if lines < 0:
        raise UsageError(f"--lines: expected a number >= 0, got {ns.lines!r}")
    return {"name": ns.name, "lines": lines}


COMMANDS: dict[str, Command] = {cmd.name: cmd for cmd in (
    Command(
        "add", "Add a watcher",
        "Add a watcher running CMD (all remaining words, joined by spaces). It is not "
        "saved to the configuration file, so a later reloadconfig forgets it.",
        _add, console.ok,
        args=(Arg("name", "the name of the new watcher"),
              Arg("cmd", "the command line the processes run", nargs="+")),
        flags=(Flag("--start", "start the watcher right away"),),
        takes_watcher=False),
    Command(
        "decr", "Decrement the number of processes in a watcher",
        "Stop NB processes of a watcher (default 1), the oldest first. With --waiting "
        "the new number of processes is printed.",
        _scale, console.render_scale,
        args=(WATCHER, Arg("nb", "how many processes to remove (default 1)", nargs="?")),
        flags=(WAITING,)),
    Command(
        "dstats", "Get circusd stats",
        "Show CPU, memory and age of the circusd process itself.",
        _none, console.render_dstats, takes_watcher=False),
    Command(
        "get", "Get the value of specific watcher options",
        "Print the current value of one or more options of a watcher.",
        _get, console.render_keys,
        args=(WATCHER, Arg("keys", "the option names", nargs="+"))),
    Command(
        "globaloptions", "Get the arbiter options",
        "Print the daemon's options (endpoint, pubsub_endpoint, stats_endpoint, "
        "check_delay, multicast_endpoint), or only OPTION.",
        _globaloptions, console.render_keys,
        args=(Arg("option", "only this option", nargs="?"),), takes_watcher=False),
    Command(
        "incr", "Increment the number of processes in a watcher",
        "Start NB more processes in a watcher (default 1). With --waiting the new "
        "number of processes is printed. Singleton watchers are not changed.",
        _scale, console.render_scale,
        args=(WATCHER, Arg("nb", "how many processes to add (default 1)", nargs="?")),
        flags=(WAITING,)),
    Command(
        "ipython", "Create shell into circusd process",
        "Ask circusd to start an IPython kernel and attach a console to it "
        "(needs IPython on both sides).",
        _none, console.ok, takes_watcher=False),
    Command(
        "kill", "Kill a specific process",
        "Stop one process of a watcher (or all of them) the way circus stops "
        "processes: send the stop signal, wait graceful_timeout, then SIGKILL. "
        "The watcher then respawns them.",
        _kill, console.ok,
        args=(WATCHER, Arg("pid", "the process to kill (default: all)", nargs="?")),
        flags=(Flag("--signum", "the signal to send instead of the watcher's stop_signal",
                    metavar="SIGNUM"),
               Flag("--graceful_timeout", "seconds to wait before SIGKILL",
                    metavar="SECONDS"),
               WAITING)),
    Command(
        "list", "Get list of watchers or processes in a watcher",
        "Without NAME, list the watchers; with NAME, the pids of its processes.",
        _name, console.render_list, args=(OPT_WATCHER,)),
    Command(
        "listen", "Subscribe to a watcher event",
        "Print circusd's events as they happen, until Ctrl-C. --endpoint names the "
        f"pubsub endpoint (default {DEFAULT_PUBSUB}); TOPICS are topic prefixes "
        "such as watcher.web. (default: every event).",
        _none, console.ok,
        args=(Arg("topics", "topic prefixes to subscribe to", nargs="*"),),
        takes_watcher=False),
    Command(
        "listsockets", "Get the list of sockets",
        "List the sockets circusd holds for its watchers.",
        _none, console.render_sockets, takes_watcher=False),
    Command(
        "numprocesses", "Get the number of processes",
        "Print the number of processes of a watcher, or of all watchers.",
        _name, console.render_number("numprocesses"), args=(OPT_WATCHER,)),
    Command(
        "numwatchers", "Get the number of watchers",
        "Print how many watchers circusd runs.",
        _none, console.render_number("numwatchers"), takes_watcher=False),
    Command(
        "options", "Get the value of all options for a watcher",
        "Print every option of a watcher as key: value lines.",
        _name, console.render_options, args=(WATCHER,)),
    Command(
        "quit", "Quit the arbiter immediately",
        "Stop every watcher, then circusd itself.",
        _waiting, console.ok, flags=(WAITING,), takes_watcher=False),
    Command(
        "reload", "Reload the arbiter or a watcher",
        "Replace the processes of a watcher (or of all watchers) with new ones: by "
        "default new processes start before the old ones stop; send_hup watchers get "
        "SIGHUP instead.",
        _reload, console.ok, args=(OPT_WATCHER,),
        flags=(Flag("--terminate", "stop the old processes at once (not gracefully)"),
               WAITING,
               Flag("--sequential", "restart the processes one at a time"))),
    Command(
        "reloadconfig", "Reload the configuration file",
        "Re-read the configuration file circusd was started with and apply the changes.",
        _waiting, console.ok, flags=(WAITING,), takes_watcher=False),
    Command(
        "restart", "Restart the arbiter or a watcher",
        "Stop then start the watchers whose name matches NAME (default: all).",
        _lifecycle, console.ok, args=(PATTERN,), flags=(WAITING, MATCH)),
    Command(
        "rm", "Remove a watcher",
        "Remove a watcher; its processes are stopped unless --nostop is given.",
        _rm, console.ok, args=(WATCHER,),
        flags=(WAITING, Flag("--nostop", "leave the processes running, unmanaged"))),
    Command(
        "set", "Set a watcher option",
        "Change options of a running watcher: set NAME KEY VALUE [KEY VALUE ...]. "
        "Values are converted (numbers, true/false, signal names); env takes "
        "A=1,B=2 and hooks takes name:module.callable,...",
        _set, console.ok,
        args=(WATCHER, Arg("options", "KEY VALUE pairs", nargs="+")), flags=(WAITING,)),
    Command(
        "signal", "Send a signal",
        "Send SIGNUM (a number or a name like HUP) to every process of a watcher, to "
        "process PID, or to CHILDPID, a child of PID.",
        _signal, console.ok,
        args=(WATCHER, Arg("targets", "[PID [CHILDPID]] SIGNUM", nargs="+")),
        flags=(Flag("--children", "signal the children of the processes instead"),
               Flag("--recursive", "signal the processes and all their descendants"))),
    Command(
        "start", "Start the arbiter or a watcher",
        "Start the watchers whose name matches NAME (default: all autostart watchers).",
        _lifecycle, console.ok, args=(PATTERN,), flags=(WAITING, MATCH)),
    Command(
        "stats", "Get process infos",
        "Show pid, command, user, nice, memory, CPU and CPU time of the processes of "
        "every watcher, of watcher NAME, or of one PROCESS.",
        _stats, console.render_stats,
        args=(OPT_WATCHER, Arg("process", "only this pid", nargs="?")),
        flags=(Flag("--extended", "ask the extended_stats hook for more fields"),)),
    Command(
        "tail", "Show the last lines a watcher's processes wrote",
        "Print the last N lines (default 10) of the stdout and stderr of a watcher's "
        "processes. With --follow, keep printing new lines as they are written, until "
        "Ctrl-C. The watcher needs publish_output = true (circusd of this project only).",
        _tail, console.render_tail, args=(WATCHER,),
        flags=(Flag("--lines", "how many lines to print first (default 10)", metavar="N",
                    default="10", short="-n"),
               Flag("--follow", "then print new lines as they come, until Ctrl-C",
                    short="-f"))),
    Command(
        "status", "Get the status of a watcher or all watchers",
        "Print the state (active, stopped, starting, stopping) of a watcher or of all. "
        "With --verbose, also the process slots that wait out a crash-loop backoff.",
        _status, console.render_status, args=(OPT_WATCHER,),
        flags=(Flag("--verbose", "also show slots backing off after quick exits or "
                    "failed spawns (circusd of this project only)"),)),
    Command(
        "stop", "Stop watchers",
        "Stop the watchers whose name matches NAME (default: all); circusd stays up.",
        _lifecycle, console.ok, args=(PATTERN,), flags=(WAITING, MATCH)),
    Command(
        "version", "Get the daemon's version",
        "Print the version of circus-core that runs circusd (ours; circusctl --version "
        "prints circusctl's own). Upstream's circusd answers that the command is unknown.",
        _none, console.render_version, takes_watcher=False),
)}
