"""serve exec: a program per connection, relayed through the loop, with the UCSPI environment,
end of stream both ways without a lost byte, backpressure, and every child reaped."""

import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import IO_TIMEOUT, SANITIZED, recv_until_eof, sockbox, vm_rss_kib


def zombies_of(pid):
    """The children of pid that are zombies right now."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st.rsplit(")", 1)[1].split()
        if fields[0] == "Z" and int(fields[1]) == pid:
            out.append(int(d))
    return out


def test_the_environment_line_then_3_mib_back_exactly_after_a_half_close(serve, tmp_path):
    srv = serve("exec", "-l", "127.0.0.1:0", "--",
                "/bin/sh", "-c", 'echo "$TCPREMOTEIP $TCPREMOTEPORT $PROTO $TCPLOCALPORT"; cat')
    data = os.urandom(3 << 20)
    with socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT) as s:
        me = s.getsockname()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)  # the program's stdin ends after every byte
        got = recv_until_eof(s, timeout=60)
    line, rest = got.split(b"\n", 1)
    assert line.decode() == f"{me[0]} {me[1]} TCP {srv.port}"
    assert rest == data


def test_a_program_that_exits_early_ends_the_connection_with_what_it_wrote(serve):
    srv = serve("exec", "-l", "127.0.0.1:0", "--", "/usr/bin/head", "-c", "10")
    with socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT) as s:
        s.sendall(b"0123456789abcdef")
        t0 = time.monotonic()
        try:
            for _ in range(200):  # it stops reading: sending more must not hang us
                s.sendall(b"x" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        got = b""
        try:
            got = recv_until_eof(s, timeout=IO_TIMEOUT)
        except ConnectionResetError:
            pass
        assert time.monotonic() - t0 < IO_TIMEOUT
    assert got == b"0123456789"  # what it wrote, then our FIN


def test_a_program_that_never_reads_keeps_the_server_bounded(serve):
    srv = serve("exec", "-l", "127.0.0.1:0", "--", "/bin/sh", "-c", "sleep 4; echo done")
    base = vm_rss_kib(srv.pid)
    with socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT) as s:
        s.setblocking(False)
        sent, stuck = 0, None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                sent += s.send(b"y" * 65536)
                stuck = None
            except BlockingIOError:
                stuck = stuck or time.monotonic()
                if time.monotonic() - stuck > 1:
                    break  # the server stopped reading: its queue for the program is full
                time.sleep(0.01)
        growth = (vm_rss_kib(srv.pid) - base) / 1024
        assert sent < (64 << 20), f"the server took {sent >> 20} MiB it could not pass on"
        if not SANITIZED:
            assert growth < 16, f"RSS grew {growth:.1f} MiB"
        s.setblocking(True)
        s.settimeout(IO_TIMEOUT)
        assert b"done\n" in recv_until_eof(s, timeout=IO_TIMEOUT)


def test_fifty_concurrent_connections_leave_no_zombies(serve):
    srv = serve("exec", "--workers", "2", "-l", "127.0.0.1:0", "--", "/bin/cat")
    socks = [socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT) for _ in range(50)]
    for i, s in enumerate(socks):
        s.sendall(b"hello %d\n" % i)
    for i, s in enumerate(socks):
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s) == b"hello %d\n" % i
        s.close()
    deadline = time.monotonic() + IO_TIMEOUT
    while zombies_of(srv.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert zombies_of(srv.pid) == []
    rc, err = srv.stop()
    assert rc == 0


def test_a_peer_that_leaves_early_gets_its_program_ended_and_reaped(serve):
    srv = serve("exec", "-l", "127.0.0.1:0", "--", "/bin/sleep", "60")
    s = socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT)
    time.sleep(0.3)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # a reset: the connection ends, the program gets SIGTERM and is reaped
    deadline = time.monotonic() + IO_TIMEOUT
    while time.monotonic() < deadline:
        kids = [d for d in os.listdir("/proc") if d.isdigit() and _ppid(d) == srv.pid]
        if not kids:
            break
        time.sleep(0.05)
    assert not kids, kids


def _ppid(d):
    try:
        with open(f"/proc/{d}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def test_drain_ends_programs_that_ignore_sigterm_after_the_timeout(serve):
    srv = serve("exec", "--drain-timeout", "1s", "-l", "127.0.0.1:0", "--",
                "/bin/sh", "-c", "trap '' TERM; echo up; while :; do sleep 1; done")
    s = socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT)
    assert s.recv(10) == b"up\n"
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.wait_exit(IO_TIMEOUT) == 0
    assert time.monotonic() - t0 < 5
    s.close()


def test_a_program_that_cannot_run_is_refused_at_start(tmp_path):
    r = sockbox("serve", "exec", "-l", "127.0.0.1:0", "--", "/nonexistent/prog", timeout=15)
    assert r.returncode == 2 and b"cannot run /nonexistent/prog" in r.stderr
    r = sockbox("serve", "exec", "-l", "127.0.0.1:0", "--", "no-such-command-x", timeout=15)
    assert r.returncode == 2 and b"no-such-command-x: not found in PATH" in r.stderr
    r = sockbox("serve", "exec", "-l", "127.0.0.1:0", timeout=15)
    assert r.returncode == 2 and b"needs a program" in r.stderr
    r = sockbox("serve", "echo", "-l", "127.0.0.1:0", "--", "/bin/cat", timeout=15)
    assert r.returncode == 2 and b"-- CMD is for serve exec" in r.stderr


def test_behind_the_proxy_protocol_the_environment_names_the_real_client(serve):
    srv = serve("exec", "--proxy-protocol", "-l", "127.0.0.1:0", "--",
                "/bin/sh", "-c", 'echo "$TCPREMOTEIP $TCPREMOTEPORT"')
    with socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT) as s:
        s.sendall(b"PROXY TCP4 198.51.100.7 127.0.0.1 4321 80\r\n")
        assert recv_until_eof(s) == b"198.51.100.7 4321\n"


def test_stderr_lines_go_to_the_log_with_the_peer(serve):
    srv = serve("exec", "-l", "127.0.0.1:0", "--", "/bin/sh", "-c", "echo 'bad \x1b[31m' >&2")
    with socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT) as s:
        peer = "127.0.0.1:%d" % s.getsockname()[1]
        recv_until_eof(s)
    ev = srv.wait_event("exec-stderr", peer=peer)
    assert ev[0]["line"] == "bad \\x1b[31m"
