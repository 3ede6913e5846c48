"""The one spawner: builds argv and environment and forks+execs a child.

Why ``subprocess.Popen`` without ``preexec_fn``: uid, gid, supplementary
groups, the new session and the umask all have native Popen arguments, so the
child is created by CPython's C fork/exec path (about 4x faster than with a
Python ``preexec_fn``, measured here). Only rlimits need Python code in the
child, so ``preexec_fn`` is used only for watchers that set them.

Every child calls ``setsid()``: it leads its own session and process group,
so stopping it can signal the whole group and nothing survives.
"""

from __future__ import annotations

import fcntl
import functools
import grp
import logging
import os
import pwd
import re
import resource
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from circus._watching.hooks import daemon_sys_path

logger = logging.getLogger("circus")

_VARIABLE = re.compile(
    r"\$\(\s*circus\.([A-Za-z0-9_.\-]+)\s*\)|\(\(\s*circus\.([A-Za-z0-9_.\-]+)\s*\)\)",
    re.IGNORECASE,
)


_LEGACY_WID = re.compile(r"\$WID\b")
_warned_legacy: set[str] = set()


def expand_variables(template: str, variables: Mapping[str, object], env: Mapping[str, str]) -> str:
    """Replace ``$(circus.X)`` and ``((circus.X))`` in ``template``.

    ``X`` is a watcher option (``wid``, ``numprocesses``, ``sockets.web``...),
    looked up case-insensitively, or ``env.NAME``. Unknown names stay as they are.
    The old ``$WID`` spelling still works and is reported once as deprecated.
    """
    if "$WID" in template and "wid" in variables:
        if template not in _warned_legacy:
            _warned_legacy.add(template)
            logger.warning("$WID in %r is deprecated; use $(circus.wid)", template)
        template = _LEGACY_WID.sub(str(variables["wid"]), template)

    def replace(match: re.Match[str]) -> str:
        key = match.group(1) or match.group(2)
        lowered = key.lower()
        if lowered.startswith("env."):
            name = key[4:]
            if name in env:
                return env[name]
            for env_key, value in env.items():
                if env_key.lower() == name.lower():
                    return value
            return match.group(0)
        if lowered in variables:
            found = variables[lowered]
            return "" if found is None else str(found)
        return match.group(0)

    return _VARIABLE.sub(replace, template)


@functools.lru_cache(maxsize=512)
def _split(command: str) -> tuple[str, ...]:
    # Every spawn of a watcher splits the same command: parse it once.
    return tuple(shlex.split(command))


def has_variables(*templates: str | Sequence[str] | None) -> bool:
    """True if any template mentions ``circus.`` or ``$WID`` and needs expanding."""
    for template in templates:
        if template is None:
            continue
        texts = [template] if isinstance(template, str) else template
        for text in texts:
            if "$WID" in text or "circus." in text.lower():
                return True
    return False


def build_argv(
    cmd: str,
    args: str | Sequence[str] | None,
    *,
    shell: bool,
    shell_args: str | None,
    variables: Mapping[str, object],
    env: Mapping[str, str],
) -> list[str]:
    """Return the argv for one spawn, with every variable expanded."""
    command = expand_variables(cmd, variables, env)
    if isinstance(args, str):
        extra = list(_split(expand_variables(args, variables, env)))
    elif args:
        extra = [expand_variables(str(arg), variables, env) for arg in args]
    else:
        extra = []
    if shell:
        line = " ".join([command, *(shlex.quote(a) for a in extra)])
        shell_extra = (
            shlex.split(expand_variables(shell_args, variables, env)) if shell_args else []
        )
        return ["/bin/sh", "-c", line, *shell_extra]
    argv = [*_split(command), *extra]
    if not argv:
        raise ValueError("cmd is empty")
    return argv


def build_env(
    env: Mapping[str, str] | None,
    *,
    copy_env: bool,
    copy_path: bool,
    virtualenv: str | None,
    virtualenv_py_ver: str | None,
) -> dict[str, str]:
    """Return the child's environment, built as circus 0.19 builds it.

    Without ``copy_env`` the child gets ``env`` and nothing else: no entries
    means an empty environment. With it, circusd's environment, then
    ``PYTHONPATH`` = circusd's ``sys.path`` if ``copy_path`` (without what hook
    lookup appended: :func:`~circus._watching.hooks.daemon_sys_path`), then ``env`` on
    top (an explicit ``PYTHONPATH`` entry wins over ``copy_path``, as upstream).
    ``virtualenv`` then adds its ``bin`` to ``PATH`` and its site-packages to
    ``PYTHONPATH`` (see :func:`_apply_virtualenv`).

    Raises:
        ValueError: the virtualenv has no site-packages for its Python version.
    """
    result: dict[str, str] = dict(os.environ) if copy_env else {}
    if copy_env and copy_path:
        result["PYTHONPATH"] = os.pathsep.join(p for p in daemon_sys_path() if p)
    if env:
        result.update(env)
    if virtualenv:
        _apply_virtualenv(result, virtualenv, virtualenv_py_ver)
    return result


def _apply_virtualenv(env: dict[str, str], root: str, py_ver: str | None) -> None:
    """Point ``env`` at the virtualenv ``root`` the way upstream's load_virtualenv does.

    ``PATH`` gets ``root/bin`` in front (when that directory exists);
    ``PYTHONPATH`` becomes the paths the site-packages' ``.pth`` files name,
    then the existing ``PYTHONPATH``, then the site-packages itself. Upstream
    sets no ``VIRTUAL_ENV``, so neither do we. The ``.pth`` paths come in file
    and line order (upstream's order was a set's, i.e. arbitrary).
    """
    version = py_ver or f"{sys.version_info.major}.{sys.version_info.minor}"
    tried = [os.path.join(root, "lib", f"{impl}{version}", "site-packages")
             for impl in ("python", "pypy")]
    site_dir = next((path for path in tried if os.path.exists(path)), None)
    if site_dir is None:
        raise ValueError(
            f"virtualenv {root}: no site-packages for Python {version} (looked for "
            f"{' and '.join(tried)}); set virtualenv_py_ver to the virtualenv's Python "
            "version, such as 3.11"
        )
    bin_dir = os.path.join(root, "bin")
    if os.path.exists(bin_dir):
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", os.defpath)])
    try:
        names = sorted(os.listdir(site_dir))
    except OSError:
        names = []  # not a directory: no .pth files to read
    entries: list[str] = []
    for name in names:
        if name.endswith(".pth"):
            entries.extend(p for p in _pth_paths(site_dir, name) if p not in entries)
    if env.get("PYTHONPATH"):
        entries.append(env["PYTHONPATH"])
    if site_dir not in os.pathsep.join(entries).split(os.pathsep):
        entries.append(site_dir)
    env["PYTHONPATH"] = os.pathsep.join(entries)


def _pth_paths(site_dir: str, name: str) -> list[str]:
    """The existing directories a ``.pth`` file of ``site_dir`` names (not its imports)."""
    try:
        with open(os.path.join(site_dir, name), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    found = []
    for line in lines:
        if not line.strip() or line.startswith(("#", "import")):
            continue
        path = os.path.abspath(os.path.join(site_dir, line.rstrip()))
        if os.path.exists(path):
            found.append(path)
    return found


def resolve_uid(user: str | int | None) -> int | None:
    """Turn a user name or number into a uid (``None`` means unchanged)."""
    if user is None or user == "":
        return None
    if isinstance(user, int) or str(user).isdigit():
        return int(user)
    try:
        return pwd.getpwnam(str(user)).pw_uid
    except KeyError:
        raise ValueError(f"unknown user {user!r}") from None


def resolve_gid(group: str | int | None) -> int | None:
    """Turn a group name or number into a gid (``None`` means unchanged)."""
    if group is None or group == "":
        return None
    if isinstance(group, int) or str(group).isdigit():
        return int(group)
    try:
        return grp.getgrnam(str(group)).gr_gid
    except KeyError:
        raise ValueError(f"unknown group {group!r}") from None


def rlimit_resource(name: str) -> int:
    """Map an rlimit name (``nofile``) to its ``resource.RLIMIT_*`` constant."""
    value = getattr(resource, "RLIMIT_" + name.upper(), None)
    if value is None:
        raise ValueError(f"unknown rlimit {name!r}")
    return int(value)


@dataclass
class SpawnSpec:
    """Everything the spawner needs for one child, already resolved."""

    argv: list[str]
    executable: str | None = None
    cwd: str | None = None
    env: dict[str, str] | None = None
    uid: int | None = None
    gid: int | None = None
    umask: int | None = None
    rlimits: dict[int, int | None] = field(default_factory=dict)
    pipe_stdout: bool = False
    pipe_stderr: bool = False
    close_stdin: bool = True
    close_stdout: bool = False
    close_stderr: bool = False
    pass_fds: tuple[int, ...] = ()
    stdin_fd: int | None = None
    # systemd socket activation: (name, fd) moved to fds 3, 4, ... in the child.
    listen_fds: tuple[tuple[str, int], ...] = ()


def _child_groups(uid: int | None, gid: int | None) -> tuple[int | None, list[int] | None]:
    """Return (gid, supplementary groups) as ``initgroups`` would set them."""
    if uid is None or os.geteuid() != 0:
        return gid, None
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return gid, None
    primary = gid if gid is not None else entry.pw_gid
    try:
        groups = os.getgrouplist(entry.pw_name, primary)
    except OSError:
        groups = [primary]
    return primary, groups


def _rlimit_setter(limits: dict[int, int | None]) -> Callable[[], None]:
    def apply() -> None:
        for res, value in limits.items():
            if value is None:
                limit = resource.RLIM_INFINITY
                if res == resource.RLIMIT_NOFILE:
                    # NOFILE can never be infinite; the hard limit is the ceiling.
                    limit = resource.getrlimit(res)[1]
            else:
                limit = value
            resource.setrlimit(res, (limit, limit))

    return apply


@dataclass
class Spawned:
    """A freshly started child and the read ends of its output pipes."""

    popen: subprocess.Popen[bytes]
    stdout_fd: int | None
    stderr_fd: int | None


def spawn(spec: SpawnSpec) -> Spawned:
    """Fork and exec one child in its own session. Raises ``OSError`` on failure.

    Output pipes are plain fds made here (not Popen file objects), so the
    caller hands the read ends straight to a reader without extra copies.
    """
    argv = spec.argv
    executable = spec.executable
    if executable is None and os.sep not in argv[0]:
        # Exec the resolved path; argv[0] stays the name the user wrote.
        executable = _find_program(argv[0], spec.env)
    gid, groups = _child_groups(spec.uid, spec.gid)
    if spec.stdin_fd is not None:
        stdin: int | None = spec.stdin_fd
    else:
        stdin = subprocess.DEVNULL if spec.close_stdin else None
    out_r, stdout = _output_target(spec.close_stdout, spec.pipe_stdout)
    err_r, stderr = _output_target(spec.close_stderr, spec.pipe_stderr)
    env = spec.env
    pass_fds = spec.pass_fds
    preexec: Callable[[], None] | None = (
        _rlimit_setter(spec.rlimits) if spec.rlimits else None)
    if spec.listen_fds:
        argv, executable, env, preexec = _socket_activation(
            argv, executable, env, spec.listen_fds, preexec)
        pass_fds = ()  # the preexec function keeps exactly the fds it moved
    try:
        popen = subprocess.Popen(
            argv,
            executable=executable,
            cwd=spec.cwd,
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            close_fds=not spec.listen_fds,
            pass_fds=pass_fds,
            start_new_session=True,
            user=spec.uid,
            group=gid,
            extra_groups=groups,
            umask=-1 if spec.umask is None else spec.umask,
            preexec_fn=preexec,
        )
    except BaseException:
        for fd in (out_r, err_r):
            if fd is not None:
                os.close(fd)
        raise
    finally:
        # The child holds its own copies of the write ends now.
        for fd, target in ((out_r, stdout), (err_r, stderr)):
            if fd is not None and target is not None:
                os.close(target)
    return Spawned(popen, out_r, err_r)


# LISTEN_PID must be the child's own pid, known only after the fork; Popen's env
# is fixed before it, so a shell sets it and then execs the real program.
_ACTIVATION_SHELL = 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"'


def _socket_activation(
    argv: list[str],
    executable: str | None,
    env: dict[str, str] | None,
    listen_fds: tuple[tuple[str, int], ...],
    then: Callable[[], None] | None,
) -> tuple[list[str], str, dict[str, str], Callable[[], None]]:
    """Wrap a spawn for systemd socket activation (``sd_listen_fds``).

    Returns the argv, executable, env and preexec function to spawn with.
    """
    child_env = dict(os.environ if env is None else env)
    child_env.pop("LISTEN_PID", None)
    child_env["LISTEN_FDS"] = str(len(listen_fds))
    child_env["LISTEN_FDNAMES"] = ":".join(name for name, _ in listen_fds)
    program = executable or argv[0]
    wrapped = ["/bin/sh", "-c", _ACTIVATION_SHELL, program, *argv[1:]]
    sources = [fd for _, fd in listen_fds]

    def move_fds() -> None:
        # Runs in the child between fork and exec. Popen's fd closing would
        # undo these moves, so it is off and this closes what it would have.
        count = len(sources)
        floor = 3 + count + max(sources, default=0)
        temps = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in sources]
        for index, temp in enumerate(temps):
            os.dup2(temp, 3 + index, inheritable=True)
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            # Non-inheritable fds close at exec by themselves; one of them is
            # Popen's error pipe, which must stay open until then.
            if fd >= 3 + count and _inheritable(fd):
                os.close(fd)
        if then is not None:
            then()

    return wrapped, "/bin/sh", child_env, move_fds


def _inheritable(fd: int) -> bool:
    try:
        return os.get_inheritable(fd)
    except OSError:
        return False  # the listing's own fd, closed already


_found_programs: dict[tuple[str, str], str] = {}



def _find_program(name: str, env: Mapping[str, str] | None) -> str | None:
    """Resolve ``name`` on the child's PATH once, instead of at every spawn.

    The result is reused until it stops being executable.

    A child env without PATH is searched in ``os.defpath`` (``/bin:/usr/bin``),
    never in circusd's own PATH: that is what exec does in the child, and
    what circus 0.19 does. ``env=None`` means the child inherits circusd's.
    """
    if env is None:
        env = os.environ
    path = env.get("PATH", os.defpath)
    key = (name, path)
    found = _found_programs.get(key)
    # One access() instead of a stat per PATH entry; a moved program is looked up again.
    if found is None or not os.access(found, os.X_OK):
        if not all(os.path.isabs(entry) for entry in path.split(os.pathsep)):
            return None  # relative entries are resolved in the child's working_dir
        found = shutil.which(name, path=path)
        if found is None:
            return None
        _found_programs[key] = found
    return found


def _output_target(close: bool, pipe: bool) -> tuple[int | None, int | None]:
    """Return (read end for us, what the child gets) for one output stream."""
    if close:
        return None, subprocess.DEVNULL
    if pipe:
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        return read_fd, write_fd
    return None, None
