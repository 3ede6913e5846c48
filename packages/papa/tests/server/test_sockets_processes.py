"""Sockets and processes as children see them: fds, env, identity, limits."""

from __future__ import annotations

import os
import pwd
import re
import socket
import stat

from .conftest import NOTHING_LEFT, child, drain_watch, esc, field, wait_for


def output_of(client, name: str) -> bytes:
    """Wait for the process to finish; return its stdout, acking everything."""
    client.send(f"w p {name}\n".encode())
    client.read_until(b"Watching 1\n")
    batches = client.read_until(b"\n] ") + drain_watch(client)
    data = b""
    for match in re.finditer(rb"out:[^:]+:[\d.]+:(\d+)\n", batches):
        data += batches[match.end() : match.end() + int(match[1])]
    return data


def test_unix_socket_umask_and_removal(kernel, client):
    path = f"{kernel.short}/app.sock"
    client.ok(f"m s app path={path} umask=18")
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o022 == 0
    with socket.socket(socket.AF_UNIX) as probe:
        probe.connect(path)
    assert (
        client.cmd(f"m s other path={path}")
        == b"Error: Socket app already uses " + path.encode() + b"\n> "
    )
    assert client.cmd("r s app") == b"\n> "
    assert not os.path.exists(path)


def test_idempotent_socket_and_port_zero(client):
    first = client.ok("m s web")
    assert client.ok("m s web port=0") == first
    assert client.ok(f"m s web port={field(first, 'port')}") == first
    assert client.ok("m s web host=127.0.0.1 backlog=5") == first


def test_udp_socket_is_bound_not_listening(client):
    line = client.ok("m s dg type=dgram")
    port = int(field(line, "port"))
    code = (
        "import socket,sys,os; s=socket.socket(fileno=int(sys.argv[1])); os.write(1, s.recv(100))"
    )
    client.ok(f"m p udp {child(code)} $(socket.dg.fileno)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"datagram", ("127.0.0.1", port))
    assert output_of(client, "udp") == b"datagram"


def test_interface_binds_to_device(client):
    line = client.ok("m s lo interface=lo port=0")
    assert field(line, "interface") == "lo" and field(line, "host") == "0.0.0.0"
    with socket.create_connection(("127.0.0.1", int(field(line, "port"))), timeout=5):
        pass
    assert client.cmd("m s bad interface=no-such-if0").startswith(b"Error: [Errno 19]")


def test_every_reference_replaced_and_only_referenced_fds_passed(client):
    web = client.ok("m s web")
    client.ok("m s other")
    port, fileno = field(web, "port"), field(web, "fileno")
    code = (
        "import os,sys; os.write(1, (' '.join(sys.argv[1:]) + '|'"
        " + ' '.join(os.listdir('/proc/self/fd'))).encode())"
    )
    client.ok(f"m p fds {child(code)} $(socket.web.port)-$(socket.web.port) x$(socket.web.fileno)")
    args, fds = output_of(client, "fds").decode().split("|")
    assert args == f"{port}-{port} x{fileno}"
    # stdin, stdout, stderr, web, and the fd listing /proc/self/fd itself: no other socket.
    assert {"0", "1", "2", fileno} < set(fds.split())
    assert len(fds.split()) == 5


def test_reuseport_gives_each_process_a_fresh_socket(client):
    line = client.ok("m s rp reuseport=1")
    assert "fileno" not in line
    port = int(field(line, "port"))
    code = ("import socket,sys,os; s=socket.socket(fileno=int(sys.argv[1]));"
            " c,_=s.accept(); c.sendall(b'from child'); os.write(1,b'served')")  # fmt: skip
    client.ok(f"m p srv {child(code)} $(socket.rp.fileno)")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        assert conn.recv(100) == b"from child"
    assert output_of(client, "srv") == b"served"


def test_environment_inherited_unless_given(kernel, client):
    client.ok("m p inherit /usr/bin/env")
    assert f"\nPAPA_TEST_TAG={kernel.tag}\n".encode() in b"\n" + output_of(client, "inherit")
    client.ok(f"m p given env.PAPA_TEST_TAG={kernel.tag} env.FOO=a\\ b /usr/bin/env")
    env = output_of(client, "given").decode().splitlines()
    assert sorted(env) == ["FOO=a b", f"PAPA_TEST_TAG={kernel.tag}"]


def test_working_dir_rlimit_and_identity(kernel, client, tmp_path):
    script = esc("echo $(pwd) $(ulimit -n) $(id -u) $(id -g)")
    nobody = pwd.getpwnam("nobody")
    os.chmod(tmp_path, 0o755)
    line = client.ok(
        f"m p who uid=nobody working_dir={tmp_path} rlimit.nofile=64 /bin/sh -c {script}"
    )
    assert field(line, "uid") == str(nobody.pw_uid)
    assert field(line, "gid") == str(nobody.pw_gid)
    assert output_of(client, "who").decode() == f"{tmp_path} 64 {nobody.pw_uid} {nobody.pw_gid}\n"


def test_exit_codes(client):
    client.ok(f"m p seven {child('raise SystemExit(7)')}")
    line = client.ok(f"m p term {child('import time; time.sleep(60)')}")
    os.kill(int(field(line, "pid")), 15)
    for name, code in (("seven", b"7"), ("term", b"-15")):
        client.send(f"w p {name}\n".encode())
        client.read_until(b"Watching 1\n")
        batch = client.read_until(b"\n] ")
        assert re.search(rb"closed:" + name.encode() + rb":[\d.]+:" + code + rb"\n\] $", batch)
        assert client.cmd("") == NOTHING_LEFT


def test_idempotent_process_and_conflict(client):
    first = client.ok(f"m p nap {child('import time; time.sleep(60)')}")
    assert client.ok(f"m p nap {child('import time; time.sleep(60)')}") == first
    assert (
        client.cmd("m p nap /bin/true")
        == f"Error: Process for nap has already been created - {first}\n> ".encode()
    )


def test_remove_processes_keeps_them_running(kernel, client):
    keeper = child("import os,time; os.write(1,b'x'); time.sleep(60)")
    line = client.ok(f"m p keep {keeper}")
    pid = int(field(line, "pid"))
    client.ok("r p keep")
    os.kill(pid, 0)  # still alive
    assert client.cmd("w p keep") == b"Error: keep not found\n> "
    assert field(client.ok("l p keep"), "running") == "True"
    # The name is free for a new process while the old one runs on.
    assert field(client.ok("m p keep /bin/true"), "pid") != str(pid)
    os.kill(pid, 15)
    assert client.ok("r p *") == ""
    wait_for(lambda: client.cmd("l p") == b"\n> ", what="removed entries to go")


def test_processes_survive_client_death(kernel):
    first = kernel.client()
    pid = int(field(first.ok(f"m p nap {child('import time; time.sleep(60)')}"), "pid"))
    first.sock.close()
    second = kernel.client()
    wait_for(lambda: b"connections=1" in second.cmd("stats"))
    os.kill(pid, 0)
    assert field(second.ok("l p nap"), "running") == "True"


def test_shell_option(client):
    line = client.ok(f"m p sh shell=1 echo {esc('$((6*7))')}")
    assert "shell=True" in line
    assert output_of(client, "sh") == b"42\n"
