"""The compose stack (docker-compose.yml) is valid and describes the tested topology.

There is no container engine here, so nothing is started: ``docker-compose
config`` (Debian's docker-compose package) validates the file and resolves
its anchors, and the resolved services are checked against what the stack
promises. Each component is its own service built from a target of the one
Dockerfile; the clients reach circusd and circusd-stats only over their
documented endpoints, each with a CURVE key of its own from the read-only
keys volume; circusd's config (deploy/compose/circus.ini) is one circusd loads.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CLIENTS = {"stats": "circusd-stats", "plugin-flapping": "circus-plugin",
           "plugin-statsd": "circus-plugin", "plugin-redis": "circus-plugin",
           "web": "circushttpd"}
# Where a client may connect: circusd's control and event channels, the stats channel.
DOCUMENTED = {"tcp://circusd:5555", "tcp://circusd:5556", "tcp://stats:5557"}


def _compose(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is missing: `make system-deps` installs it"
    return subprocess.run([exe, "--project-directory", str(REPO), "-f",
                           str(REPO / "docker-compose.yml"), *args], capture_output=True,
                          text=True, timeout=120, check=False, cwd=REPO)


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # not even a warning
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def _targets() -> set[str]:
    text = (REPO / "Dockerfile").read_text()
    return set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", text, re.MULTILINE | re.IGNORECASE))


def test_the_file_validates_quietly() -> None:
    result = _compose("config", "--quiet")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_a_broken_file_is_refused(tmp_path: Path) -> None:
    """The validation can fail: a service with an unknown key is reported by name."""
    broken = (REPO / "docker-compose.yml").read_text().replace(
        "\n  redis:\n", "\n  redis:\n    no_such_key: 1\n", 1)
    (tmp_path / "docker-compose.yml").write_text(broken)
    result = subprocess.run(["docker-compose", "-f", str(tmp_path / "docker-compose.yml"),
                             "config", "--quiet"], capture_output=True, text=True,
                            timeout=120, check=False, cwd=tmp_path)
    assert result.returncode != 0
    assert "no_such_key" in result.stderr


def test_one_service_per_component(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) == {"keys", "papa", "circusd", "stats", "plugin-flapping",
                             "plugin-statsd", "plugin-redis", "web", "redis", "statsd"}
    programs = {name: service["command"][0] for name, service in services.items()
                if isinstance(service.get("command"), list)}
    assert programs["papa"] == "papa"
    assert programs["circusd"] == "circusd"
    for name, program in CLIENTS.items():
        assert programs[name] == program, name
    plugins = {services[name]["command"][-1] for name in services if name.startswith("plugin-")}
    assert plugins == {"circus.plugins.flapping.Flapping", "circus.plugins.statsd.StatsdEmitter",
                       "circus.plugins.redis_observer.RedisObserver"}


def test_every_image_of_ours_is_a_target_of_the_one_dockerfile(
        resolved: dict[str, Any]) -> None:
    targets = _targets()
    assert {"wheels", "circusd", "stats", "plugins", "web", "ctl"} <= targets
    built = {name: service["build"] for name, service in resolved["services"].items()
             if "build" in service}
    assert set(built) == set(resolved["services"]) - {"redis", "statsd"}
    for name, build in built.items():
        assert Path(build["context"]) == REPO, name
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile", name
        assert build["target"] in targets, name
    # Each component's stage installs its wheels from the wheels stage, never from PyPI.
    stages = re.split(r"^FROM ", (REPO / "Dockerfile").read_text(), flags=re.MULTILINE)
    for stage in stages:
        head = stage.split("\n", 1)[0]
        if "pip install" in stage and " AS wheels" not in head:
            installs = re.findall(r"pip install[^\n]*(?:\\\n[^\n]*)*", stage)
            for line in installs:
                assert "/wheels/" in line, head


def test_clients_use_only_documented_endpoints_with_their_own_keys(
        resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    keys_seen = set()
    for name in CLIENTS:
        service = services[name]
        words = [word for arg in service["command"] for word in re.split(r"[,=]", arg)]
        endpoints = {word for word in words if word.startswith(("tcp://", "ipc://"))}
        # Key files are the keys volume's, read-only.
        assert all(word.startswith("/keys/") for word in words if word.endswith(".key")), name
        assert endpoints - {"tcp://0.0.0.0:5557"} <= DOCUMENTED, (name, endpoints)
        env = service["environment"]
        assert env["CIRCUS_CURVE_SERVER_KEY"] == "/keys/circusd.key", name
        assert env["CIRCUS_CURVE_KEY"].endswith(".key_secret"), name
        keys_seen.add(env["CIRCUS_CURVE_KEY"])
        assert service["volumes"] == ["keys:/keys:ro"], name
        assert "circusd" in service["depends_on"], name
    assert len(keys_seen) == len(CLIENTS), "each client has a key of its own"
    # circusd and the readers of /proc share papa's pid namespace; no one shares a network.
    for name in ("circusd", "stats"):
        assert services[name]["pid"] == "service:papa", name
        assert services[name]["init"] is False, name  # papa's init is that namespace's pid 1
    assert all("network_mode" not in service for service in services.values())


def test_the_keys_job_writes_every_key_the_clients_use(resolved: dict[str, Any]) -> None:
    script = resolved["services"]["keys"]["command"][-1]
    for name in CLIENTS:
        key = resolved["services"][name]["environment"]["CIRCUS_CURVE_KEY"]
        stem = Path(key).name.removesuffix(".key_secret")
        assert stem in script, stem
        # The role is the last part of the name, as curve_authorized_keys reads it.
        assert stem.rsplit(".", 1)[-1] in {"reader", "operator"}, stem


def test_circusd_config_loads(tmp_path: Path) -> None:
    """deploy/compose/circus.ini is a config our circusd accepts (use_papa, CURVE), silently."""
    code = ("import sys; from circus.config import load_config; "
            "config = load_config(sys.argv[1]); "
            "print(sorted(w[\"name\"] for w in config.watchers))")
    result = subprocess.run([sys.executable, "-c", code, str(REPO / "deploy/compose/circus.ini")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['flaky', 'web', 'worker']"
    assert result.stderr == ""  # no option unknown or ignored (CURVE's included)
