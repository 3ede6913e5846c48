"""``make process`` options, and the record papa keeps for each process."""

from __future__ import annotations

import grp
import pwd
import resource
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

from ._errors import CommandError
from ._lexer import check_name, parse_flag, parse_int, parse_size, split_options
from ._output import OutputBuffer

# The manual promises 2 MiB per process; papa 1.0.6 actually used 1 MiB.
DEFAULT_BUFSIZE = 2 << 20
KEYS = (
    "uid", "gid", "working_dir", "bufsize", "output", "stdout", "stderr", "watch", "shell",
    "backpressure", "handover",
)


@dataclass(frozen=True)
class ProcessSpec:
    """Everything that defines a process; two identical specs are one process."""

    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] | None = None
    working_dir: str | None = None
    uid: int | None = None
    gid: int | None = None
    user: str | None = field(default=None, compare=False)
    bufsize: int = DEFAULT_BUFSIZE
    stdout: bool = True
    stderr: str = "1"  # "1" captured, "0" discarded, "stdout" merged into stdout
    shell: bool = False
    # Ours: stop reading the pipes while the buffer is full instead of dropping.
    backpressure: bool = False
    # Ours: stdout/stderr are unix stream sockets a watcher may take over.
    handover: bool = False
    rlimits: tuple[tuple[str, int], ...] = ()


def _resolve_user(text: str) -> tuple[int, str | None, int | None]:
    """Return (uid, user name, primary gid) for a user name or number."""
    if text.isdigit():
        try:
            entry = pwd.getpwuid(int(text))
        except KeyError:
            return int(text), None, None
    else:
        try:
            entry = pwd.getpwnam(text)
        except KeyError:
            raise CommandError(f"'{text}' is not a valid user name") from None
    return entry.pw_uid, entry.pw_name, entry.pw_gid


def _resolve_group(text: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        return grp.getgrnam(text).gr_gid
    except KeyError:
        raise CommandError(f"No such group: '{text}'") from None


def _rlimit(name: str, text: str) -> tuple[str, int]:
    if not isinstance(getattr(resource, "RLIMIT_" + name.upper(), None), int):
        raise CommandError(f'Unknown rlimit "{name}"')
    if text.lower() in ("infinity", "unlimited"):
        return name.lower(), resource.RLIM_INFINITY
    return name.lower(), parse_int("rlimit." + name, text)


def parse_make_process(tokens: Sequence[str]) -> tuple[str, ProcessSpec, bool]:
    """Parse ``make process`` arguments.

    Returns:
        The name, the spec, and whether the caller asked to watch at once.
    """
    if not tokens:
        raise CommandError("Process requires a name")
    name = tokens[0]
    check_name("Process", name)
    options, command = split_options(tokens[1:])
    env: dict[str, str] = {}
    rlimits: dict[str, int] = {}
    flags = {"watch": False, "shell": False, "stdout": True, "backpressure": False,
             "handover": False}
    bufsize, stderr = DEFAULT_BUFSIZE, "1"
    working_dir: str | None = None
    uid: int | None = None
    gid: int | None = None
    user: str | None = None
    for key, value in options.items():
        if key.startswith("env."):
            env[key[4:]] = value
        elif key.startswith("rlimit."):
            limit, number = _rlimit(key[7:], value)
            rlimits[limit] = number
        elif key not in KEYS:
            raise CommandError(f'Unknown process option "{key}"')
        elif key in ("bufsize", "output"):
            bufsize = parse_size(value)
        elif key in flags:
            flags[key] = parse_flag(key, value)
        elif key == "stderr":
            stderr = value.lower()
            if stderr not in ("0", "1", "stdout"):
                raise CommandError(f'Bad value for "stderr": {value}')
        elif key == "working_dir":
            working_dir = value
        elif key == "gid":
            gid = _resolve_group(value)
    if "uid" in options:
        uid, user, primary_gid = _resolve_user(options["uid"])
        gid = primary_gid if gid is None else gid
    if not command:
        raise CommandError("No command")
    spec = ProcessSpec(
        args=tuple(command),
        env=tuple(env.items()) if env else None,
        working_dir=working_dir,
        uid=uid,
        gid=gid,
        user=user,
        bufsize=bufsize,
        stdout=flags["stdout"],
        stderr=stderr,
        shell=flags["shell"],
        backpressure=flags["backpressure"],
        handover=flags["handover"],
        rlimits=tuple(sorted(rlimits.items())),
    )
    return name, spec, flags["watch"]


class Process:
    """A process papa started: its Popen, pipes, output and exit status."""

    def __init__(self, name: str, spec: ProcessSpec, popen: subprocess.Popen[bytes]) -> None:
        self.name = name
        self.spec = spec
        self.popen = popen
        self.pid = popen.pid
        self.started = 0.0
        self.output = OutputBuffer(spec.bufsize, drop=not spec.backpressure)
        self.returncode: int | None = None
        # Set by ``remove processes``: nobody will read the output any more.
        self.removed = False

    @property
    def running(self) -> bool:
        """True until the exit has been seen."""
        return self.returncode is None

    def line(self) -> str:
        """The listing line, with ``args=`` last as the real client requires."""
        parts = [self.name, f"pid={self.pid}", f"running={self.running}"]
        parts.append(f"started={self.started!r}")
        if self.spec.uid is not None:
            parts.append(f"uid={self.spec.uid}")
        if self.spec.gid is not None:
            parts.append(f"gid={self.spec.gid}")
        if self.spec.shell:
            parts.append("shell=True")
        parts.append("args=" + " ".join(self.spec.args))
        return " ".join(parts)
