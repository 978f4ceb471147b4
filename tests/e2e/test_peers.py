"""Real peers nobody here wrote: ncat, nc, socat and the realpython tutorial programs, as
clients of `sockbox serve` and as servers for `sockbox connect`. Each runs as its own process
and is killed by PID."""

import os
import select
import signal
import subprocess
import time

import pytest

from conftest import (PYTHON, SEEDS, SOCKBOX_BIN, STOP_TIMEOUT, free_port, kill_group,
                      kill_proc, needs, parse_addr, popen, run, sockbox, start_peer_server,
                      wait_tcp_listening)

KiB = 1024


def _out(r):
    return f"exit {r.returncode}, stdout {r.stdout[:200]!r}, stderr {r.stderr[-1000:]!r}"


# ---- real clients of sockbox serve


@needs("ncat")
def test_ncat_client(serve):
    srv = serve("-l", "127.0.0.1:0")
    data = os.urandom(256 * KiB)
    r = run(["ncat", "127.0.0.1", str(srv.port)], input=data, timeout=30)
    assert r.returncode == 0, _out(r)
    assert r.stdout == data


@needs("ncat")
def test_ncat_client_unix(serve, short_tmp):
    path = os.path.join(short_tmp, "n.sock")
    serve("-l", f"unix:{path}")
    r = run(["ncat", "-U", path], input=b"ncat over a unix socket\n", timeout=30)
    assert r.returncode == 0, _out(r)
    assert r.stdout == b"ncat over a unix socket\n"


@needs("nc")
def test_nc_client_with_shutdown_on_eof(serve):
    srv = serve("-l", "127.0.0.1:0")
    data = b"".join(b"line %d of the nc test\n" % i for i in range(5000))
    r = run(["nc", "-N", "127.0.0.1", str(srv.port)], input=data, timeout=30)
    assert r.returncode == 0, _out(r)
    assert r.stdout == data


@needs("socat")
def test_socat_client(serve):
    srv = serve("-l", "127.0.0.1:0")
    data = os.urandom(128 * KiB)
    r = run(["socat", "-t", "10", "-", f"TCP:127.0.0.1:{srv.port}"], input=data, timeout=30)
    assert r.returncode == 0, _out(r)
    assert r.stdout == data


@needs("socat")
def test_socat_udp_client(serve):
    srv = serve("-l", "udp://127.0.0.1:0")
    port = parse_addr(srv.addr)[2][1]
    r = run(["socat", "-t", "1", "-", f"UDP:127.0.0.1:{port}"], input=b"socat datagram\n",
            timeout=30)
    assert r.returncode == 0, _out(r)
    assert r.stdout == b"socat datagram\n"


def test_realpython_client(serve):
    srv = serve("-l", "127.0.0.1:0")
    r = run([PYTHON, os.path.join(SEEDS, "echo_client.py"), str(srv.port)], timeout=30)
    assert r.returncode == 0, _out(r)
    assert r.stdout == b"Received b'Hello, world'\n"


# ---- sockbox connect against real servers


@pytest.fixture
def peer_server():
    """peer_server(make_argv) -> port; the server is killed by PID at teardown."""
    started = []

    def _start(make_argv):
        p, port = start_peer_server(make_argv)
        started.append(p)
        return port

    yield _start
    for p in started:
        kill_group(p)
        p.communicate(timeout=STOP_TIMEOUT)


def connect_interactive(args, data, chunk=16 * KiB, timeout=30.0):
    """Run `sockbox connect ARGS` the way a person at a terminal does: type a chunk, wait for its
    echo on stdout, type the next; end stdin only when everything has come back.
    Returns (exit code, stdout, stderr)."""
    p = popen([SOCKBOX_BIN, "connect", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE)
    try:
        out = bytearray()
        fd = p.stdout.fileno()
        deadline = time.monotonic() + timeout

        def read_until(n):
            while len(out) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"connect: {len(out)} of {n} bytes back by the deadline")
                r, _, _ = select.select([fd], [], [], min(left, 0.5))
                if r:
                    got = os.read(fd, 1 << 20)
                    if not got:
                        raise AssertionError(f"connect: stdout ended after {len(out)} of {n}")
                    out.extend(got)

        for off in range(0, len(data), chunk):
            p.stdin.write(data[off:off + chunk])  # smaller than a pipe buffer: never blocks long
            p.stdin.flush()
            read_until(min(off + chunk, len(data)))
        p.stdin.close()  # stdin EOF: connect half-closes and reads until the peer closes
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("connect: no EOF on stdout after stdin was closed")
            r, _, _ = select.select([fd], [], [], min(left, 0.5))
            if r:
                got = os.read(fd, 1 << 20)
                if not got:
                    break
                out.extend(got)
        rc = p.wait(max(1.0, deadline - time.monotonic()))
        return rc, bytes(out), p.stderr.read()
    finally:
        kill_proc(p, signal.SIGKILL)
        for f in (p.stdin, p.stdout, p.stderr):
            try:
                f.close()
            except (OSError, ValueError):
                pass


@needs("ncat")
def test_connect_to_ncat_exec_cat(peer_server):
    # Interactive use, chunk by chunk: ncat --exec relays through pipes with blocking writes and
    # can deadlock on bulk input, and it drops what cat has not echoed yet once its client
    # half-closes (nc -N shows both too) -- ncat limits, not sockbox ones.
    port = peer_server(lambda p: ["ncat", "-l", "-k", "--exec", "/bin/cat", "127.0.0.1", str(p)])
    data = os.urandom(256 * KiB)
    for i in range(2):  # -k: serves one connection after another
        rc, out, err = connect_interactive([f"127.0.0.1:{port}"], data)
        assert rc == 0, f"exit {rc}, stderr {err[-1000:]!r}"
        assert out == data


@needs("socat")
def test_connect_to_socat_fork_cat(peer_server):
    port = peer_server(lambda p: ["socat", f"TCP-LISTEN:{p},bind=127.0.0.1,reuseaddr,fork",
                                  "EXEC:cat"])
    data = os.urandom(512 * KiB)
    for i in range(2):
        r = sockbox("connect", f"127.0.0.1:{port}", input=data, timeout=30)
        assert r.returncode == 0, _out(r)
        assert r.stdout == data


def test_connect_to_realpython_server():
    last = None
    for _ in range(5):  # retry if the free port was taken meanwhile
        port = free_port()
        p = popen([PYTHON, os.path.join(SEEDS, "echo_server.py"), str(port)],
                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            try:
                wait_tcp_listening(port, p)  # without connecting: it serves only one client
            except (RuntimeError, TimeoutError) as e:
                last = e
                continue
            r = sockbox("connect", f"127.0.0.1:{port}", input=b"Hello, world", timeout=30)
            assert r.returncode == 0, _out(r)
            assert r.stdout == b"Hello, world"
            out, err = p.communicate(timeout=STOP_TIMEOUT)
            assert p.returncode == 0, err
            assert out.startswith(b"Connected by ('127.0.0.1', "), out
            return
        finally:
            kill_proc(p, signal.SIGKILL)
            try:
                p.communicate(timeout=STOP_TIMEOUT)
            except ValueError:
                pass
    pytest.fail(f"could not start the realpython server: {last}")
