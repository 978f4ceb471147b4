"""Operating sockbox: systemd socket activation and sd_notify, --inetd (under a real activator,
and as classic inetd hands it: stdin, stdout and stderr all the client's socket), make install
and uninstall, bash completion against --help, version."""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import (IO_TIMEOUT, REPO, SOCKBOX_BIN, kill_group, kill_proc, needs, popen,
                      recv_exact, sockbox, start_peer_server)

COMMANDS = ["serve", "connect", "listen", "send", "resolve", "port", "ls", "scan", "ping",
            "bench"]


def echo_once(port, payload=b"activated\n"):
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        s.sendall(payload)
        return recv_exact(s, len(payload))


@needs("systemd-socket-activate")
def test_socket_activation_hands_sockbox_its_listener():
    p, port = start_peer_server(lambda port: [
        "systemd-socket-activate", "-l", f"127.0.0.1:{port}", SOCKBOX_BIN, "serve", "echo"])
    try:
        assert echo_once(port) == b"activated\n"
        assert echo_once(port, b"again\n") == b"again\n"  # the same process serves on
    finally:
        err = b""
        kill_group(p)
        err = p.stderr.read() if p.stderr else b""
    assert f"listening on 127.0.0.1:{port}".encode() in err, err


@needs("systemd-socket-activate")
def test_inetd_mode_under_an_activator_serves_each_connection_in_its_own_process():
    p, port = start_peer_server(lambda port: [
        "systemd-socket-activate", "--inetd", "-a", "-l", f"127.0.0.1:{port}", SOCKBOX_BIN,
        "serve", "--inetd", "reverse"])
    try:
        for word in (b"abc", b"hello"):
            with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
                s.sendall(word + b"\n")
                s.shutdown(socket.SHUT_WR)
                got = b""
                s.settimeout(IO_TIMEOUT)
                while True:
                    chunk = s.recv(100)
                    if not chunk:
                        break
                    got += chunk
                assert got == word[::-1] + b"\n"  # and then the process exits: EOF
    finally:
        kill_group(p)


def test_inetd_with_stderr_on_the_socket_sends_the_client_nothing_but_the_service():
    """Classic inetd: 0, 1 and 2 are all the client's socket. The log must not reach it."""
    a, b = socket.socketpair()
    try:
        p = popen([SOCKBOX_BIN, "serve", "--inetd", "echo", "-v"], stdin=b.fileno(),
                  stdout=b.fileno(), stderr=b.fileno())
        b.close()
        a.sendall(b"just this")
        a.shutdown(socket.SHUT_WR)
        got = b""
        a.settimeout(IO_TIMEOUT)
        while True:
            chunk = a.recv(4096)
            if not chunk:
                break
            got += chunk
        assert got == b"just this"
        assert p.wait(IO_TIMEOUT) == 0
    finally:
        a.close()


def test_sd_notify_says_ready_status_and_stopping(serve, short_tmp):
    path = os.path.join(short_tmp, "notify")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(path)
    ns.settimeout(IO_TIMEOUT)
    try:
        os.environ["NOTIFY_SOCKET"] = path
        try:
            srv = serve("echo", "-l", "127.0.0.1:0")
        finally:
            del os.environ["NOTIFY_SOCKET"]
        msg = ns.recv(4096).decode()
        assert "READY=1" in msg.split("\n") and "STATUS=serving, 0 connections" in msg, msg
        srv.proc.send_signal(signal.SIGTERM)
        msg = ns.recv(4096).decode()
        assert "STOPPING=1" in msg.split("\n"), msg
        assert srv.wait_exit(IO_TIMEOUT) == 0
    finally:
        ns.close()


def test_activated_socket_that_is_not_a_socket_is_refused(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("")
    # LISTEN_PID must be the process's own pid: the shell sets it, then execs sockbox
    r = subprocess.run(["/bin/sh", "-c", 'exec 3<"$1"; LISTEN_PID=$$ LISTEN_FDS=1 exec "$2" serve',
                        "sh", str(plain), SOCKBOX_BIN], capture_output=True, timeout=15)
    assert r.returncode == 2, r.stderr
    assert b"fd 3 passed by systemd is not a socket" in r.stderr


def test_make_install_puts_every_file_under_destdir_and_uninstall_takes_them(tmp_path):
    dest = tmp_path / "root"
    env = dict(os.environ)
    r = subprocess.run(["make", "-s", "-n", "install", f"DESTDIR={dest}", "PREFIX=/usr"],
                       cwd=REPO, capture_output=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    targets = [l.split()[-1] for l in r.stdout.decode().splitlines() if l.startswith("install")]
    assert targets and all(t.startswith(str(dest) + "/") for t in targets), targets
    r = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", "PREFIX=/usr"], cwd=REPO,
                       capture_output=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == [
        "usr/bin/sockbox",
        "usr/share/bash-completion/completions/sockbox",
        "usr/share/doc/sockbox/README.md",
        "usr/share/doc/sockbox/systemd/sockbox-inetd.socket",
        "usr/share/doc/sockbox/systemd/sockbox-inetd@.service",
        "usr/share/doc/sockbox/systemd/sockbox.service",
        "usr/share/doc/sockbox/systemd/sockbox.socket",
        "usr/share/man/man1/sockbox.1",
    ], files
    assert os.access(dest / "usr/bin/sockbox", os.X_OK)
    r = subprocess.run([str(dest / "usr/bin/sockbox"), "--version"], capture_output=True,
                       timeout=15)
    assert r.returncode == 0 and r.stdout.startswith(b"sockbox ")
    r = subprocess.run(["make", "-s", "uninstall", f"DESTDIR={dest}", "PREFIX=/usr"], cwd=REPO,
                       capture_output=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert [p for p in dest.rglob("*") if p.is_file()] == []


def _help_flags(*command):
    r = sockbox(*command, "--help", timeout=15)
    flags = set()
    for line in r.stdout.decode().splitlines():
        m = re.match(r"\s+((?:--?[A-Za-z0-9][\w-]*(?:, )?)+)(?:\s|$)", line)
        if m:
            flags |= set(re.findall(r"--?[A-Za-z0-9][\w-]*", m.group(1)))
    return flags


def complete(*words):
    """What the bash completion offers for the command line words (the last one partial)."""
    script = os.path.join(REPO, "contrib", "bash-completion", "sockbox")
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    r = subprocess.run(["bash", "-c", f'source "{script}"; COMP_WORDS=({quoted}); '
                        f'COMP_CWORD={len(words) - 1}; _sockbox; printf "%s\\n" "${{COMPREPLY[@]}}"'],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.decode().split())


@needs("bash")
@pytest.mark.parametrize("command", COMMANDS)
def test_bash_completion_offers_every_flag_help_lists(command):
    flags = _help_flags(command)
    offered = complete(SOCKBOX_BIN, command, "-")
    missing = sorted(flags - offered)
    assert not missing, f"completion lacks {command} flags {missing}"


@needs("bash")
@pytest.mark.parametrize("sub", ["plot", "merge"])
def test_bash_completion_bench_subcommands(sub):
    assert {"plot", "merge"} <= complete(SOCKBOX_BIN, "bench", "")
    flags = _help_flags("bench", sub)
    offered = complete(SOCKBOX_BIN, "bench", sub, "-")
    assert flags and not sorted(flags - offered), (flags, offered)
    assert "--rate" not in offered  # bench's own flags are not merge's or plot's


@needs("bash")
def test_bash_completion_commands_and_services():
    assert set(COMMANDS) <= complete(SOCKBOX_BIN, "")
    services = complete(SOCKBOX_BIN, "serve", "")
    assert {"echo", "reverse", "chat", "ack"} <= services


def test_version_names_the_build_and_its_libraries():
    for args in (["--version"], ["version"]):
        r = sockbox(*args, timeout=15)
        assert r.returncode == 0
        out = r.stdout.decode()
        assert re.match(r"^sockbox \d+\.\d+\.\d+ \(\S+\)\nbuilt with OpenSSL \d", out), out
        assert "hiredis 0.14" in out
        for lib in ("libmicrohttpd", "libsystemd", "jansson"):
            assert re.search(lib + r" \d", out), out
