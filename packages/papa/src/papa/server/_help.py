"""Help texts for the ``help`` command (our own wording)."""

from __future__ import annotations

GENERAL = """\
Papa keeps sockets, processes and values alive while their manager restarts.
Commands (any unambiguous prefix works, e.g. "l p" for "list processes"):
  make socket NAME [key=value...]      create a socket
  make process NAME [key=value...] EXE [ARGS...]
                                       start a process and capture its output
  list sockets|processes|values [PATTERN...]
  remove sockets|processes|values PATTERN...
  watch processes [handover=1] [keep=1] [PATTERN...]
                                       stream output; ack each batch with a newline
  set NAME [VALUE...]                  store a value (no VALUE deletes it)
  get NAME                             read a value
  exit-if-idle                         exit once nothing is held and all clients left
  version                              kernel and protocol versions
  stats                                uptime, counts and buffered bytes
  quit                                 close this connection
A PATTERN is an exact name or a prefix ending in "*". Use "\\ " for a space
inside an argument. Type "help WORD..." for details."""

TOPICS = {
    ("make", "sockets"): """\
make socket NAME [family=inet|inet6|unix] [type=stream|dgram|seqpacket|raw|rdm]
            [backlog=N] [host=ADDR] [port=N] [path=/ABS/PATH] [umask=N]
            [interface=IFNAME] [reuseport=1]
Creates a bound socket (listening when its type allows). port=0, the default,
lets the system pick a port; the reply shows it. A path makes a unix socket.
Asking again with the same options returns the existing socket.""",
    ("make", "processes"): """\
make process NAME [key=value...] EXECUTABLE [ARGS...]
Options: uid= gid= working_dir= bufsize=N[k|m|g] (alias output=, default 2m)
         stdout=0|1 stderr=0|1|stdout shell=1 watch=1 env.NAME=VALUE
         rlimit.NAME=N backpressure=1 handover=1
The process runs in its own session. Without env.* options it inherits papa's
environment. $(socket.NAME.port) and $(socket.NAME.fileno) in the arguments
are replaced, and only the referenced sockets are passed to the process.
watch=1 starts watching at once, as "watch processes" would.
Output waiting for an ack is kept up to bufsize; beyond it the oldest chunks
are dropped. With backpressure=1 nothing is dropped: papa stops reading the
process's output until an ack makes room, so the process blocks on its full
pipe, as with a pipe read by a slow reader. With handover=1 stdout and stderr
are unix stream sockets instead of pipes, which "watch processes handover=1"
can hand to its watcher.""",
    ("list", "sockets"): "list sockets [PATTERN...]\nShows the selected sockets.",
    ("list", "processes"): "list processes [PATTERN...]\nShows the selected processes.",
    ("list", "values"): "list values [PATTERN...]\nShows NAME VALUE for the selected values.",
    ("remove", "sockets"): """\
remove sockets PATTERN...
Closes the sockets. "*" is required to remove them all.""",
    ("remove", "processes"): """\
remove processes PATTERN...
Drops the captured output; the processes keep running and disappear from the
list when they exit. "*" is required to remove them all.""",
    ("remove", "values"): "remove values PATTERN...\nDeletes values; all at once is refused.",
    ("watch", "processes"): """\
watch processes [handover=1] [keep=1] [PATTERN...]
Replies "Watching N", then sends batches of records ended by "] ":
  out:NAME:TIMESTAMP:LENGTH\\n<bytes>   err:...   closed:NAME:TIMESTAMP:EXITCODE
Send a line (e.g. "-") to acknowledge a batch, or "q" to stop watching.
Unacknowledged output is sent again to the next watcher.
handover=1 (unix socket connections only): the output sockets of handover=1
processes come in an fds:NAME:TIMESTAMP:out,err record, with the descriptors
attached (SCM_RIGHTS). Papa stops reading them until this connection ends or
says "q", then reads on from the first byte the watcher did not consume.
keep=1: the watch goes on when its processes are gone, and a line "+NAME..."
adds processes to it (that line acknowledges nothing).""",
    ("set", ""): "set NAME [VALUE...]\nStores the value; without one the name is deleted.",
    ("get", ""): "get NAME\nReplies with the value, or an empty line.",
    ("exit-if-idle", ""): """\
exit-if-idle
Replies "Exiting papa!" when no process, socket or value is held, and papa
exits once the last client has gone (a new connection cancels); otherwise
replies "not idle".""",
    ("version", ""): "version\nReplies version=... protocol=... python=... features=...",
    ("stats", ""): "stats\nReplies uptime, process, socket and value counts, buffered bytes.",
    ("quit", ""): 'quit\nReplies "ok" and closes the connection.',
    ("help", ""): "help [WORD...]\nShows help for a command.",
}
