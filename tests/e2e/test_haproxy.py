"""Behind a real HAProxy (Debian's haproxy, started here on loopback with its own config and
stopped by PID): send-proxy (v1) and send-proxy-v2 backends with health checks in front of two
sockbox instances. The client's own address and port is what sockbox logs, prints and limits,
not HAProxy's."""

import os
import socket
import subprocess
import time

import pytest

from conftest import (IO_TIMEOUT, READY_TIMEOUT, free_port, kill_proc, needs, popen, recv_exact,
                      tcp_listening)

pytestmark = needs("haproxy")

CONFIG = """
global
    maxconn 2000
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe_v1
    bind 127.0.0.1:{p1}
    default_backend be_v1
frontend fe_v2
    bind 127.0.0.1:{p2}
    default_backend be_v2
frontend fe_one
    bind 127.0.0.1:{p3}
    default_backend be_one
backend be_v1
    balance roundrobin
    server a 127.0.0.1:{b1} send-proxy check check-send-proxy inter 200ms
    server b 127.0.0.1:{b2} send-proxy check check-send-proxy inter 200ms
backend be_v2
    balance roundrobin
    server a 127.0.0.1:{b1} send-proxy-v2 check check-send-proxy inter 200ms
    server b 127.0.0.1:{b2} send-proxy-v2 check check-send-proxy inter 200ms
backend be_one
    server a 127.0.0.1:{b1} send-proxy-v2 check check-send-proxy inter 200ms
"""


class HAProxy:
    def __init__(self, tmp_path, backends):
        self.tmp = tmp_path
        self.backends = backends
        self.proc = None

    def start(self, attempts=5):
        for _ in range(attempts):
            self.ports = [free_port() for _ in range(3)]
            if len(set(self.ports)) < 3:
                continue
            cfg = self.tmp / "haproxy.cfg"
            cfg.write_text(CONFIG.format(p1=self.ports[0], p2=self.ports[1], p3=self.ports[2],
                                         b1=self.backends[0], b2=self.backends[1]))
            self.proc = popen(["haproxy", "-db", "-f", str(cfg)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + READY_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                if all(tcp_listening(p) for p in self.ports):
                    return self
                time.sleep(0.05)
            kill_proc(self.proc)  # a port was taken meanwhile: try others
        raise RuntimeError("haproxy did not start: " + self.proc.stderr.read().decode()[-2000:])

    def stop(self):
        if self.proc:
            kill_proc(self.proc)


@pytest.fixture
def backends(serve):
    def _start(*extra):
        return [serve("ack", "--proxy-protocol", "-l", "127.0.0.1:0", *extra) for _ in range(2)]
    return _start


@pytest.fixture
def haproxy(tmp_path):
    started = []

    def _start(srvs):
        h = HAProxy(tmp_path, [s.sockaddr()[1] for s in srvs]).start()
        started.append(h)
        return h
    yield _start
    for h in started:
        h.stop()


def client_from(ip, port):
    """A connection to 127.0.0.1:port from the local address ip (127.0.0.2, ...)."""
    s = socket.socket()
    s.settimeout(IO_TIMEOUT)
    s.bind((ip, 0))
    s.connect(("127.0.0.1", port))
    return s


def len64(msg):
    return str(len(msg)).encode().ljust(64) + msg


def wait_healthy(srvs, timeout=10):
    """HAProxy's checks have reached every backend (so it routes to all of them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(len([e for e in s.events("close") if e.get("peer", "").startswith("127.0.0.1:")
                    or "local" in e.get("peer", "")]) >= 2 or s.events("open", level="debug")
               for s in srvs):
            return
        time.sleep(0.1)


@pytest.mark.parametrize("frontend", [0, 1], ids=["send-proxy", "send-proxy-v2"])
def test_the_client_address_not_haproxys_is_logged_and_printed(backends, haproxy, frontend):
    srvs = backends()
    h = haproxy(srvs)
    time.sleep(0.5)  # a few health checks first
    peers = []
    for i in range(4):  # round robin: both backends get some
        with client_from("127.0.0.2", h.ports[frontend]) as s:
            s.sendall(len64(b"hello %d" % i))
            assert recv_exact(s, 12) == b"Msg received"
            peers.append("127.0.0.2:%d" % s.getsockname()[1])
    for peer in peers:
        deadline = time.monotonic() + IO_TIMEOUT  # the log is written asynchronously
        while time.monotonic() < deadline:
            owner = [srv for srv in srvs
                     if any(e.get("peer") == peer for e in srv.events("close"))]
            if owner:
                break
            time.sleep(0.05)
        assert len(owner) == 1, (f"{peer} not logged by exactly one backend",
                                 [srv.stderr() for srv in srvs])
        owner[0].wait_stdout(lambda out, p=peer: f"[{p}] hello" in out)
    for srv in srvs:
        assert srv.events("open"), "round robin reached both backends"
        assert not any(e["peer"].startswith("127.0.0.1:") for e in srv.events("open", "info"))


def test_health_checks_log_no_errors(backends, haproxy):
    srvs = backends()
    haproxy(srvs)
    time.sleep(1.5)  # several rounds of checks from three backends sections
    for srv in srvs:
        bad = [e for e in srv.events() if e["level"] in ("warn", "error")]
        assert not bad, bad
        assert not srv.events("bad-header")
    # and the checks were really made: their connections are logged at debug level only
    for srv in srvs:
        srv.stop()
        assert "bad PROXY headers" not in srv.stderr()


def test_max_conns_per_ip_counts_the_real_client_not_haproxy(serve, haproxy):
    one = serve("ack", "--proxy-protocol", "--max-conns-per-ip", "2", "-l", "127.0.0.1:0")
    other = serve("ack", "--proxy-protocol", "-l", "127.0.0.1:0")
    h = haproxy([one, other])
    port = h.ports[2]  # be_one: only `one`
    held = []
    try:
        for i in range(2):
            s = client_from("127.0.0.2", port)
            s.sendall(len64(b"in %d" % i))
            assert recv_exact(s, 12) == b"Msg received"
            held.append(s)
        # a third from the same client is refused ...
        with client_from("127.0.0.2", port) as third:
            third.sendall(len64(b"third"))
            third.settimeout(IO_TIMEOUT)
            try:
                assert third.recv(100) == b""
            except ConnectionResetError:
                pass
        ref = one.wait_event("refused")
        assert ref[0]["peer"].startswith("127.0.0.2:"), ref
        # ... while another client, through the same HAProxy, is not
        with client_from("127.0.0.3", port) as s3:
            s3.sendall(len64(b"from three"))
            assert recv_exact(s3, 12) == b"Msg received"
        one.wait_stdout(lambda out: "] from three" in out)
    finally:
        for s in held:
            s.close()
    # once they are gone the address may connect again
    deadline = time.monotonic() + IO_TIMEOUT
    while time.monotonic() < deadline:
        with client_from("127.0.0.2", port) as s:
            s.sendall(len64(b"again"))
            try:
                if recv_exact(s, 12) == b"Msg received":
                    break
            except (EOFError, ConnectionResetError):
                time.sleep(0.1)
    else:
        pytest.fail("127.0.0.2 was never admitted again")
