"""Starting a process: socket references, descriptors, identity and limits.

Every ``$(socket.NAME.port)`` and ``$(socket.NAME.fileno)`` in every argument
is replaced (papa 1.0.6 replaced only the first per argument), and a process
receives only the descriptors its arguments reference (papa 1.0.6 let every
child inherit every socket).
"""

from __future__ import annotations

import os
import re
import resource
import socket
import subprocess
from collections.abc import Callable, Mapping

from ._errors import CommandError
from ._processes import ProcessSpec
from ._sockets import PapaSocket

SOCKET_REFERENCE = re.compile(r"\$\(socket\.([^)]*)\)")


class _Substitution:
    """Resolves socket references for one spawn and remembers the fds used."""

    def __init__(self, sockets: Mapping[str, PapaSocket]) -> None:
        self.sockets = sockets
        self.fds: set[int] = set()
        # One fresh SO_REUSEPORT socket per referenced reuseport socket.
        self.fresh: dict[str, socket.socket] = {}

    def __call__(self, match: re.Match[str]) -> str:
        reference = match.group(1)
        if reference in self.sockets:
            raise CommandError('You forgot to specify either ".port" or ".fileno" after the name')
        name, _, attribute = reference.rpartition(".")
        if attribute not in ("port", "fileno"):
            raise CommandError(f"Socket {reference} not found")
        papa_socket = self.sockets.get(name)
        if papa_socket is None:
            raise CommandError(f"Socket {name} not found")
        if papa_socket.sock is None:
            sock = self.fresh.get(name)
            if sock is None:
                sock = self.fresh[name] = papa_socket.fresh_reuseport_socket()
            fileno = sock.fileno()
        else:
            fileno = papa_socket.sock.fileno()
        if attribute == "port":
            return str(papa_socket.port)
        self.fds.add(fileno)
        return str(fileno)

    def close(self) -> None:
        for sock in self.fresh.values():
            sock.close()


def _limits_setter(rlimits: tuple[tuple[str, int], ...]) -> Callable[[], None] | None:
    if not rlimits:
        return None
    pairs = [(getattr(resource, "RLIMIT_" + name.upper()), value) for name, value in rlimits]

    def set_limits() -> None:
        for limit, value in pairs:
            resource.setrlimit(limit, (value, value))

    return set_limits


def spawn(spec: ProcessSpec, sockets: Mapping[str, PapaSocket]) -> subprocess.Popen[bytes]:
    """Start the process in its own session with stdin on /dev/null.

    Raises:
        CommandError: a socket reference is wrong or the process cannot start.
    """
    substitution = _Substitution(sockets)
    try:
        argv = [SOCKET_REFERENCE.sub(substitution, arg) for arg in spec.args]
        if spec.shell:
            argv = ["/bin/sh", "-c", " ".join(argv)]
        capture = spec.bufsize > 0
        stdout = subprocess.PIPE if capture and spec.stdout else subprocess.DEVNULL
        stderr = {"1": subprocess.PIPE, "stdout": subprocess.STDOUT}.get(spec.stderr)
        if not capture or stderr is None or (stderr == subprocess.STDOUT and not spec.stdout):
            stderr = subprocess.DEVNULL
        # handover=1: socket pairs instead of pipes, so that a watcher that takes
        # the reading end over can peek at the output and consume it only once
        # written (a pipe can only be read destructively).
        pairs = _socket_pairs(stdout, stderr) if spec.handover else {}
        stdout = pairs["out"][1].fileno() if "out" in pairs else stdout
        stderr = pairs["err"][1].fileno() if "err" in pairs else stderr
        extra_groups: list[int] | None = None
        if spec.uid is not None and spec.gid is not None:
            # initgroups() semantics: the user's own supplementary groups.
            extra_groups = os.getgrouplist(spec.user, spec.gid) if spec.user else [spec.gid]
        popen: subprocess.Popen[bytes] | None = None
        try:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                bufsize=0,
                cwd=spec.working_dir,
                env=dict(spec.env) if spec.env is not None else None,
                start_new_session=True,
                close_fds=True,
                pass_fds=sorted(substitution.fds),
                user=spec.uid,
                group=spec.gid,
                extra_groups=extra_groups,
                preexec_fn=_limits_setter(spec.rlimits),
            )
        except OSError as exc:
            if spec.working_dir is not None and exc.filename == spec.working_dir:
                raise CommandError(f"Bad working_dir - {exc}") from exc
            raise CommandError(f"Bad command - {exc}") from exc
        except (ValueError, subprocess.SubprocessError) as exc:
            raise CommandError(f"Bad command - {exc}") from exc
        finally:
            for ours, child_end in pairs.values():
                child_end.close()
                if popen is None:
                    ours.close()
        if "out" in pairs:
            popen.stdout = open(pairs["out"][0].detach(), "rb", buffering=0)  # noqa: SIM115
        if "err" in pairs:
            popen.stderr = open(pairs["err"][0].detach(), "rb", buffering=0)  # noqa: SIM115
        return popen
    finally:
        substitution.close()


# The child's end buffers up to this much (the system caps it at wmem_max),
# close to what a pipe enlarged by the reader would hold.
HANDOVER_SNDBUF = 1 << 20


def _socket_pairs(stdout: int, stderr: int) -> dict[str, tuple[socket.socket, socket.socket]]:
    """(papa's end, the child's end) per captured stream, for ``handover=1``."""
    pairs: dict[str, tuple[socket.socket, socket.socket]] = {}
    for kind, target in (("out", stdout), ("err", stderr)):
        if target == subprocess.PIPE:
            ours, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            child.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, HANDOVER_SNDBUF)
            pairs[kind] = (ours, child)
    return pairs
