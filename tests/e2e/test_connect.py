"""sockbox connect against sockbox serve and against small servers written here."""

import os
import socket
import threading
import time

import pytest

from conftest import (IO_TIMEOUT, SOCKBOX_BIN, full_backlog_port, needs_ipv6, parse_addr,
                      rst_close, run, sockbox)

MiB = 1 << 20


class OneShotServer:
    """A TCP server in a thread: accepts one connection and runs handler(conn) on it."""

    def __init__(self, handler, family=socket.AF_INET, host="127.0.0.1"):
        self.lsock = socket.socket(family, socket.SOCK_STREAM)
        self.lsock.bind((host, 0))
        self.lsock.listen(8)
        self.lsock.settimeout(30)
        self.port = self.lsock.getsockname()[1]
        self.error = None
        self.handler = handler
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            conn, _ = self.lsock.accept()
            conn.settimeout(IO_TIMEOUT)
            self.handler(conn)
        except Exception as e:
            self.error = e

    def close(self):
        self.thread.join(IO_TIMEOUT + 5)
        self.lsock.close()
        assert not self.thread.is_alive(), "server thread did not finish"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.lsock.close()
        self.thread.join(IO_TIMEOUT + 5)


def _out(r):
    return f"exit {r.returncode}, stdout {r.stdout[:200]!r}, stderr {r.stderr[-1000:]!r}"


def test_connect_echo(serve):
    srv = serve("-l", "127.0.0.1:0")
    r = sockbox("connect", srv.addr, input=b"hello over sockbox\n")
    assert r.returncode == 0, _out(r)
    assert r.stdout == b"hello over sockbox\n"


def test_connect_host_port_form(serve):
    srv = serve("-l", "127.0.0.1:0")
    r = sockbox("connect", "127.0.0.1", str(srv.port), input=b"two args")
    assert r.returncode == 0, _out(r)
    assert r.stdout == b"two args"


def test_connect_tcp_scheme_and_wait_flag(serve):
    srv = serve("-l", "127.0.0.1:0")
    r = sockbox("connect", "-w", "5s", f"tcp://{srv.addr}", input=b"scheme")
    assert r.returncode == 0, _out(r)
    assert r.stdout == b"scheme"


def test_connect_empty_stdin_exits_0(serve):
    srv = serve("-l", "127.0.0.1:0")
    r = sockbox("connect", srv.addr, input=b"")
    assert r.returncode == 0, _out(r)
    assert r.stdout == b""


def test_connect_copies_both_directions_at_once(serve):
    """4 MiB through an echo server: a client that first reads all of stdin and only then the
    socket would deadlock on the full buffers."""
    srv = serve("-l", "127.0.0.1:0")
    data = os.urandom(4 * MiB)
    r = sockbox("connect", srv.addr, input=data, timeout=60)
    assert r.returncode == 0, _out(r)
    assert len(r.stdout) == len(data)
    assert r.stdout == data


def test_connect_stdin_and_stdout_regular_files(serve, short_tmp):
    """`sockbox connect ADDR < file > file` (epoll refuses regular files; they must still work)."""
    srv = serve("-l", "127.0.0.1:0")
    data = os.urandom(300 * 1024)
    src, dst = os.path.join(short_tmp, "in.bin"), os.path.join(short_tmp, "out.bin")
    with open(src, "wb") as f:
        f.write(data)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        r = run([SOCKBOX_BIN, "connect", srv.addr], stdin=fin, stdout=fout, capture=False)
    assert r.returncode == 0, f"exit {r.returncode}, stderr {r.stderr[-1000:]!r}"
    with open(dst, "rb") as f:
        assert f.read() == data


def test_connect_prints_a_reply_that_comes_after_stdin_eof():
    def late(conn):
        got = b""
        while len(got) < 1:
            chunk = conn.recv(100)
            if not chunk:
                break
            got += chunk
        time.sleep(1.0)
        conn.sendall(b"late reply to " + got)
        conn.close()

    with OneShotServer(late) as srv:
        r = sockbox("connect", f"127.0.0.1:{srv.port}", input=b"x")
        srv.close()
        assert srv.error is None, srv.error
    assert r.returncode == 0, _out(r)
    assert r.stdout == b"late reply to x"


def test_connect_half_closes_on_stdin_eof():
    """The server sees EOF after the data, then still gets its reply through."""
    seen = {}

    def handler(conn):
        got = b""
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                break
            got += chunk
        seen["got"] = got
        conn.sendall(b"got %d bytes" % len(got))
        conn.close()

    with OneShotServer(handler) as srv:
        r = sockbox("connect", f"127.0.0.1:{srv.port}", input=b"a" * 100000)
        srv.close()
        assert srv.error is None, srv.error
    assert r.returncode == 0, _out(r)
    assert seen["got"] == b"a" * 100000
    assert r.stdout == b"got 100000 bytes"


def test_connect_udp_flag(serve):
    srv = serve("-l", "udp://127.0.0.1:0")
    host, port = parse_addr(srv.addr)[2]
    r = sockbox("connect", "-u", f"{host}:{port}", input=b"hello udp\n")
    assert r.returncode == 0, _out(r)
    assert r.stdout == b"hello udp\n"


def test_connect_udp_scheme_with_quiet_time(serve):
    srv = serve("-l", "udp://127.0.0.1:0")
    r = sockbox("connect", "-q", "300ms", srv.addr, input=b"datagram")
    assert r.returncode == 0, _out(r)
    assert r.stdout == b"datagram"


def test_connect_unix(serve, short_tmp):
    path = os.path.join(short_tmp, "c.sock")
    serve("-l", f"unix:{path}")
    r = sockbox("connect", f"unix:{path}", input=b"via unix socket")
    assert r.returncode == 0, _out(r)
    assert r.stdout == b"via unix socket"


@needs_ipv6
def test_connect_ipv6(serve):
    srv = serve("-l", "[::1]:0")
    r = sockbox("connect", "-6", srv.addr, input=b"v6")
    assert r.returncode == 0, _out(r)
    assert r.stdout == b"v6"
    r = sockbox("connect", "::1", str(srv.port), input=b"v6 host port")
    assert r.returncode == 0, _out(r)
    assert r.stdout == b"v6 host port"


# ---- exit codes


def test_connect_refused_exits_4():
    holder = socket.socket()  # bound, not listening: the port answers with RST
    try:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        r = sockbox("connect", f"127.0.0.1:{port}", input=b"x")
        assert r.returncode == 4, _out(r)
        assert b"sockbox: " in r.stderr
    finally:
        holder.close()


def test_connect_unresolvable_name_exits_3():
    r = sockbox("connect", "no-such-host.invalid:80", input=b"x")
    assert r.returncode == 3, _out(r)
    assert b"sockbox: " in r.stderr


def test_connect_timeout_exits_5():
    with full_backlog_port() as port:
        r = sockbox("connect", "-w", "1s", f"127.0.0.1:{port}", input=b"x", timeout=30)
    assert r.returncode == 5, _out(r)
    assert b"sockbox: " in r.stderr


def test_connect_reset_by_peer_exits_7():
    def resetter(conn):
        conn.recv(100)
        time.sleep(0.2)
        rst_close(conn)

    with OneShotServer(resetter) as srv:
        r = sockbox("connect", f"127.0.0.1:{srv.port}", input=b"hello")
        srv.close()
    assert r.returncode == 7, _out(r)
    assert b"sockbox: " in r.stderr


@pytest.mark.parametrize("args", [
    pytest.param([], id="no-address"),
    pytest.param(["127.0.0.1"], id="no-port"),
    pytest.param(["127.0.0.1:99999"], id="port-out-of-range"),
    pytest.param(["127.0.0.1", "99999"], id="host-port-out-of-range"),
    pytest.param(["--no-such-flag", "127.0.0.1:1"], id="unknown-flag"),
    pytest.param(["-w", "5x", "127.0.0.1:1"], id="bad-duration"),
    pytest.param(["127.0.0.1:1", "extra", "args"], id="too-many-args"),
])
def test_connect_usage_errors_exit_2(args):
    r = sockbox("connect", *args, input=b"", timeout=15)
    assert r.returncode == 2, _out(r)
    assert r.stderr.startswith(b"sockbox: ") or b"\nsockbox: " in r.stderr, _out(r)
