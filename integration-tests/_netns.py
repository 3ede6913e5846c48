"""Two "hosts" on one machine: network namespaces joined by a veth pair.

The tests that put circusd on one host and its clients on another use these
helpers: make and remove the namespaces (as root, as CI runs), cut or slow
the link, build a venv holding only the wheels one program needs, start a
program inside a namespace, and ask circusd something from inside one.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WHEELS = REPO / "build" / "wheels"


def ip(*args: str) -> None:
    """Run ``ip ARGS``; a failure raises with ip's own message."""
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def clean_env() -> dict[str, str]:
    """This environment without PYTHON* variables, so a venv sees only its own packages."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


@dataclass(frozen=True)
class Link:
    """Host A and host B: a namespace each, one veth end each, a link-local address each."""

    ns_a: str
    ns_b: str
    dev_a: str
    dev_b: str
    ip_a: str
    ip_b: str

    def set_up(self, up: bool) -> None:
        """Bring host A's end of the link up or down (a cable pulled on A's side)."""
        ip("-n", self.ns_a, "link", "set", self.dev_a, "up" if up else "down")

    def delay(self, ms: int | None) -> bool:
        """Add ``ms`` of delay to both ends with netem (None removes it); False without netem."""
        for ns, dev in ((self.ns_a, self.dev_a), (self.ns_b, self.dev_b)):
            argv = (["tc", "-n", ns, "qdisc", "del", "dev", dev, "root"] if ms is None else
                    ["tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", "netem", "delay",
                     f"{ms}ms"])
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                if ms is None:
                    continue
                return False
        return True

    def multicast_route(self) -> None:
        """Route multicast over the link on both sides (there is no other interface)."""
        for ns, dev in ((self.ns_a, self.dev_a), (self.ns_b, self.dev_b)):
            ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)


@contextlib.contextmanager
def linked_namespaces(prefix: str, ip_a: str, ip_b: str) -> Iterator[Link]:
    """Make two namespaces joined by a /30 veth link; both are removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    link = Link(f"{prefix}a-{tag}", f"{prefix}b-{tag}", f"va{tag}", f"vb{tag}", ip_a, ip_b)
    ip("netns", "add", link.ns_a)
    try:
        ip("netns", "add", link.ns_b)
        try:
            ip("link", "add", link.dev_a, "type", "veth", "peer", "name", link.dev_b)
            ip("link", "set", link.dev_a, "netns", link.ns_a)
            ip("link", "set", link.dev_b, "netns", link.ns_b)
            for ns, dev, addr in ((link.ns_a, link.dev_a, ip_a), (link.ns_b, link.dev_b, ip_b)):
                ip("-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
                ip("-n", ns, "link", "set", dev, "up")
                ip("-n", ns, "link", "set", "lo", "up")
            yield link
        finally:
            ip("netns", "del", link.ns_b)  # takes the veth pair with it
    finally:
        ip("netns", "del", link.ns_a)


def make_venv(root: Path, *dists: str) -> Path:
    """A venv at ``root`` with only the wheels of ``dists`` (``circus_ctl``...) and their deps."""
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, capture_output=True)
    wheels = [sorted(WHEELS.glob(f"{name}-*.whl")) for name in dists]
    assert all(wheels), f"no wheels in {WHEELS}: run `make install` first"
    result = subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", *(str(found[-1]) for found in wheels)],
        capture_output=True, text=True, env=clean_env(), timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    return root


def installed(venv: Path) -> set[str]:
    """The distributions installed in ``venv`` whose name starts with ``circus`` or ``papa``."""
    code = ("import importlib.metadata as m; print('\\n'.join(sorted("
            "d.metadata['Name'] for d in m.distributions())))")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                         text=True, check=True, env=clean_env()).stdout
    return {name for name in out.split() if name.startswith(("circus", "papa"))}


def start_in(ns: str, argv: list[str], log: Path, env: dict[str, str] | None = None
             ) -> subprocess.Popen[bytes]:
    """Start ``argv`` inside namespace ``ns``, its output appended to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=out,
                                stderr=subprocess.STDOUT, env=env)


def ask(ns: str, endpoint: str, command: str, keys: tuple[str, str] | None = None,
        **props: Any) -> dict[str, Any]:
    """One call to circusd from inside ``ns`` (circus.client); ``{"status": "unreachable"}``.

    ``keys``: the server's public key file and ours (``.key_secret``), for CURVE.
    """
    code = ("import json, sys; from circus.client import CircusClient, load_curve_keys; "
            "keys = json.loads(sys.argv[4]); "
            "c = CircusClient(sys.argv[1], timeout=3, "
            "curve=load_curve_keys(*keys) if keys else None); "
            "print(json.dumps(c.call(sys.argv[2], **json.loads(sys.argv[3]))))")
    result = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code, endpoint,
                             command, json.dumps(props), json.dumps(keys)],
                            capture_output=True, text=True, check=False, timeout=20)
    return json.loads(result.stdout) if result.returncode == 0 else {"status": "unreachable"}


def stop(*procs: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM each still running process, wait up to 30 s, then SIGKILL it."""
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.terminate()
    for proc in procs:
        if proc is None:
            continue
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
