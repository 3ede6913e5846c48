"""Everything papa holds: sockets, processes and values.

The loop feeds process output and exits in through ``record_output`` and
``record_exit``; command handlers change the tables through the other methods.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ._errors import CommandError
from ._lexer import check_name, select_names, split_options
from ._processes import Process, parse_make_process
from ._sockets import PapaSocket, parse_socket_spec
from ._spawn import spawn
from ._values import Values


class Kernel:
    """The tables papa serves, independent of any connection."""

    def __init__(
        self,
        on_spawn: Callable[[Process], None],
        on_forget: Callable[[Process], None] = lambda process: None,
    ) -> None:
        self._on_spawn = on_spawn
        # Told when an exited process leaves the table, so its held sockets close.
        self._on_forget = on_forget
        self.values = Values()
        self.sockets: dict[str, PapaSocket] = {}
        self.processes: dict[str, Process] = {}
        self.started = time.monotonic()
        # Kept current by the loop, for ``stats``.
        self.connections = 0
        self.watchers = 0

    @property
    def idle(self) -> bool:
        """True when papa holds no process, socket or value."""
        return not (self.processes or self.sockets or len(self.values))

    def buffered_bytes(self) -> int:
        """Output bytes waiting for an acknowledgement, over all processes."""
        return sum(process.output.size for process in self.processes.values())

    # sockets -------------------------------------------------------------

    def make_socket(self, tokens: Sequence[str]) -> PapaSocket:
        """Create a socket, or return the existing one for an identical request."""
        if not tokens:
            raise CommandError("Socket requires a name")
        name = tokens[0]
        check_name("Socket", name)
        options, rest = split_options(tokens[1:])
        if rest:
            raise CommandError(f'Unexpected argument "{rest[0]}" (options are key=value)')
        spec = parse_socket_spec(options)
        existing = self.sockets.get(name)
        if existing is not None:
            if existing.matches(spec):
                return existing
            raise CommandError(f"Socket for {name} has already been created - {existing.line()}")
        if spec.path:
            for other in self.sockets.values():
                if other.spec.path == spec.path:
                    raise CommandError(f"Socket {other.name} already uses {spec.path}")
        papa_socket = PapaSocket(name, spec)
        self.sockets[name] = papa_socket
        return papa_socket

    def list_sockets(self, patterns: Sequence[str]) -> str:
        names = select_names(self.sockets, patterns, strict=False)
        return "\n".join(self.sockets[name].line() for name in names)

    def remove_sockets(self, patterns: Sequence[str]) -> None:
        """Close the selected sockets; processes keep the copies they inherited."""
        if not patterns:
            raise CommandError('"remove sockets" needs names or "*" to remove them all')
        for name in select_names(self.sockets, patterns, strict=True):
            self.sockets.pop(name).close()

    # processes -----------------------------------------------------------

    def make_process(self, tokens: Sequence[str]) -> tuple[Process, bool]:
        """Start a process, or return the existing one for an identical request.

        Returns:
            The process and whether the caller asked to watch it at once.
        """
        name, spec, watch = parse_make_process(tokens)
        existing = self.processes.get(name)
        if existing is not None and not existing.removed:
            if existing.spec == spec:
                return existing, watch
            raise CommandError(f"Process for {name} has already been created - {existing.line()}")
        if existing is not None:
            # Removed but still running: it lives on unnamed, and the name is free.
            del self.processes[name]
        popen = spawn(spec, self.sockets)
        process = Process(name, spec, popen)
        process.started = time.time()
        self.processes[name] = process
        self._on_spawn(process)
        return process, watch

    def list_processes(self, patterns: Sequence[str]) -> str:
        names = select_names(self.processes, patterns, strict=False)
        return "\n".join(self.processes[name].line() for name in names)

    def watchable(self, patterns: Sequence[str]) -> list[str]:
        """Names a ``watch processes`` selects (removed processes excluded)."""
        live = {name for name, proc in self.processes.items() if not proc.removed}
        names = select_names(live, patterns, strict=True)
        if not names:
            raise CommandError("Nothing to watch")
        return names

    def remove_processes(self, patterns: Sequence[str]) -> None:
        """Give up on the output of the selected processes; they keep running."""
        if not patterns:
            raise CommandError('"remove processes" needs names or "*" to remove them all')
        for name in select_names(self.processes, patterns, strict=True):
            process = self.processes[name]
            process.removed = True
            process.output.clear()
            if not process.running:
                del self.processes[name]
                self._on_forget(process)

    def record_output(self, process: Process, kind: str, data: bytes) -> None:
        """Keep a chunk read from a process pipe, stamped now."""
        if not process.removed:
            process.output.append(kind, data, time.time())

    def record_exit(self, process: Process, returncode: int) -> None:
        """Note a process's exit; its entry stays until the exit is acknowledged."""
        process.returncode = returncode
        process.output.close(returncode, time.time())
        if process.removed and self.processes.get(process.name) is process:
            del self.processes[process.name]
            self._on_forget(process)

    def acknowledge(self, name: str, upto: int) -> None:
        """Delete acknowledged records; an acknowledged exit ends the entry."""
        process = self.processes.get(name)
        if process is not None and process.output.ack(upto):
            del self.processes[name]
            self._on_forget(process)

    def close(self) -> None:
        """Close every socket (the processes are left alone)."""
        for papa_socket in self.sockets.values():
            papa_socket.close()
        self.sockets.clear()
