"""In an nc user's hands: `sockbox listen` (and `connect -l`) against nc and itself, files both
ways with their sha256, -k, UDP; connect's -i, -C, -x, -v; options named right inside a
bundle."""

import hashlib
import os
import re
import socket
import subprocess
import time

import pytest

from conftest import (IO_TIMEOUT, READY_TIMEOUT, SOCKBOX_BIN, kill_proc, needs, popen,
                      recv_exact, sockbox)

LISTEN_RE = re.compile(r"listening on (\S+)")


class Listener:
    """`sockbox listen ARGS` with stdout to a file (or a pipe) and the readiness line read."""

    def __init__(self, args, stdin=subprocess.DEVNULL, stdout=None):
        self.p = popen([SOCKBOX_BIN, "listen", *args], stdin=stdin,
                       stdout=stdout if stdout is not None else subprocess.PIPE,
                       stderr=subprocess.PIPE)
        self.err = b""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            line = self.p.stderr.readline()
            if not line:
                break
            self.err += line
            m = LISTEN_RE.search(line.decode())
            if m:
                self.addr = m.group(1)
                self.port = int(self.addr.rsplit(":", 1)[1])
                return
        kill_proc(self.p)
        raise RuntimeError(f"listen did not get ready: {self.err!r}")

    def wait(self, timeout=60):
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_proc(self.p)
            raise
        return self.p.returncode, out, self.err + (err or b"")

    def stop(self):
        kill_proc(self.p)


@pytest.fixture
def listeners():
    started = []

    def _start(*args, **kw):
        lst = Listener(list(args), **kw)
        started.append(lst)
        return lst
    yield _start
    for lst in started:
        lst.stop()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("nc") / "50M.bin"
    with open(path, "wb") as f:
        for _ in range(50):
            f.write(os.urandom(1 << 20))
    return path


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_listen_and_connect_move_a_50_mb_file_both_ways(listeners, big_file, tmp_path):
    out = tmp_path / "got"
    with open(out, "wb") as f:
        lst = listeners("0", stdout=f)
        assert lst.addr.startswith("127.0.0.1:")  # a bare port is loopback only
        with open(big_file, "rb") as src:
            r = sockbox("connect", lst.addr, stdin=src, capture=False,
                        stdout=subprocess.DEVNULL, timeout=120)
        assert r.returncode == 0, r.stderr
        rc, _, err = lst.wait()
    assert rc == 0, err
    assert sha256(out) == sha256(big_file)
    # and the other way: the listener sends, connect receives
    with open(big_file, "rb") as src:
        lst = listeners("0", stdin=src, stdout=subprocess.DEVNULL)
    with open(out, "wb") as f:
        r = sockbox("connect", lst.addr, stdin=subprocess.DEVNULL, capture=False, stdout=f,
                    timeout=120)
    assert r.returncode == 0, r.stderr
    assert lst.wait()[0] == 0
    assert sha256(out) == sha256(big_file)


@needs("nc")
def test_nc_listens_and_sockbox_connect_sends(big_file, tmp_path):
    from conftest import free_port, wait_tcp_listening
    out = tmp_path / "got"
    for _ in range(5):
        port = free_port()
        with open(out, "wb") as f:
            nc = popen(["nc", "-l", "127.0.0.1", str(port)], stdin=subprocess.DEVNULL, stdout=f,
                       stderr=subprocess.PIPE)
        try:
            wait_tcp_listening(port, nc)
            break
        except RuntimeError:
            kill_proc(nc)  # the port was taken meanwhile: another
    try:
        with open(big_file, "rb") as src:
            r = sockbox("connect", f"127.0.0.1:{port}", stdin=src, capture=False,
                        stdout=subprocess.DEVNULL, timeout=120)
        assert r.returncode == 0, r.stderr
        nc.wait(60)
    finally:
        kill_proc(nc)
    assert sha256(out) == sha256(big_file)


@needs("nc")
def test_sockbox_listens_and_nc_sends(listeners, big_file, tmp_path):
    out = tmp_path / "got"
    with open(out, "wb") as f:
        lst = listeners("0", stdout=f)
        with open(big_file, "rb") as src:
            r = subprocess.run(["nc", "-N", "127.0.0.1", str(lst.port)], stdin=src,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        assert r.returncode == 0, r.stderr
        rc, _, err = lst.wait()
    assert rc == 0, err
    assert sha256(out) == sha256(big_file)


def test_connect_dash_l_is_listen_and_keep_open_serves_clients_in_turn(listeners):
    lst = listeners("-k", "-v", "0")
    for i in range(3):
        with socket.create_connection(("127.0.0.1", lst.port), timeout=IO_TIMEOUT) as s:
            s.sendall(b"client %d\n" % i)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(IO_TIMEOUT)
            assert s.recv(10) == b""  # its stdin is empty: it ends its side at once
    time.sleep(0.3)
    lst.stop()
    out = lst.p.stdout.read()
    assert out == b"client 0\nclient 1\nclient 2\n"
    # nc's own spelling
    p = popen([SOCKBOX_BIN, "connect", "-lk", "0"], stdin=subprocess.DEVNULL,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = p.stderr.readline().decode()
        assert LISTEN_RE.search(line), line
        port = int(LISTEN_RE.search(line).group(1).rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
            s.sendall(b"via connect -l")
    finally:
        time.sleep(0.2)
        kill_proc(p)
    assert p.stdout.read() == b"via connect -l"


def test_listen_without_k_takes_one_client_and_exits(listeners):
    lst = listeners("0")
    with socket.create_connection(("127.0.0.1", lst.port), timeout=IO_TIMEOUT) as s:
        s.sendall(b"only me")
    rc, out, err = lst.wait(timeout=IO_TIMEOUT)
    assert rc == 0 and out == b"only me", err
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", lst.port), timeout=IO_TIMEOUT)


def test_listen_udp_the_first_sender_becomes_the_peer(listeners):
    lst = listeners("-u", "-q", "300ms", "0", stdin=subprocess.PIPE)
    assert lst.addr.startswith("udp://127.0.0.1:")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(IO_TIMEOUT)
        s.sendto(b"hello listener", ("127.0.0.1", lst.port))
        lst.p.stdin.write(b"hello sender")
        lst.p.stdin.flush()
        data, peer = s.recvfrom(100)
        assert data == b"hello sender" and peer[1] == lst.port
        lst.p.stdin.close()
        lst.p.stdin = None
    rc, out, err = lst.wait(timeout=IO_TIMEOUT)
    assert rc == 0, err
    assert out == b"hello listener"


def test_listen_refuses_what_cannot_work():
    r = sockbox("listen", "-k", "-u", "0", timeout=15)
    assert r.returncode == 2 and b"-k with UDP" in r.stderr
    r = sockbox("listen", timeout=15)
    assert r.returncode == 2 and b"missing ADDR or PORT" in r.stderr
    r = sockbox("listen", "-q", "1s", "0", timeout=15)
    assert r.returncode == 2 and b"-q is for UDP" in r.stderr


def test_connect_idle_timeout_gives_up_on_a_silent_server(serve):
    srv = serve("discard", "-l", "127.0.0.1:0")
    t0 = time.monotonic()
    p = popen([SOCKBOX_BIN, "connect", "-i", "300ms", srv.addrs[0]], stdin=subprocess.PIPE,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.wait(IO_TIMEOUT)  # stdin stays open: only the server's silence ends it
    finally:
        kill_proc(p)
    err = p.stderr.read()
    assert p.returncode == 5, err
    assert b"nothing received for 300 ms" in err
    assert time.monotonic() - t0 < 5


def test_connect_crlf_and_hex_dump(serve, tmp_path):
    srv = serve("echo", "-l", "127.0.0.1:0")
    dump = tmp_path / "dump.txt"
    r = sockbox("connect", "-C", "-x", str(dump), srv.addrs[0], input=b"one\ntwo\r\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"one\r\ntwo\r\n"
    text = dump.read_text()
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z > 10 bytes to 127\.0\.0\.1:\d+$",
                     text, re.M), text
    assert re.search(r"Z < 10 bytes from ", text)
    assert "00000000  6f 6e 65 0d 0a 74 77 6f  0d 0a" in text
    assert "|one..two..|" in text


def test_connect_verbose_says_both_ends_and_the_totals(serve):
    srv = serve("echo", "-l", "127.0.0.1:0")
    r = sockbox("connect", "-v", srv.addrs[0], input=b"12345")
    assert r.returncode == 0
    err = r.stderr.decode()
    assert re.search(r"connected to 127\.0\.0\.1:\d+ from 127\.0\.0\.1:\d+", err), err
    assert re.search(r"sent 5 bytes, received 5 bytes in \d+\.\d{3} s", err), err


@pytest.mark.parametrize("argv,named", [
    (["connect", "-uz", "127.0.0.1:1"], "-z with -u: UDP has no connection to try"),
    (["connect", "-ux"], "-x: missing argument"),
    (["ping", "-jc1", "127.0.0.1:1"], "-j: unknown option"),
    (["connect", "-w"], "-w: missing argument"),
    (["connect", "--timout", "1s", "127.0.0.1:1"], "--timout: unknown option (did you mean --timeout?)"),
    (["listen", "-kj", "0"], "-j: unknown option"),
])
def test_a_bad_option_is_named_even_inside_a_bundle(argv, named):
    r = sockbox(*argv, timeout=15)
    assert r.returncode == 2
    assert named in r.stderr.decode(), r.stderr


def test_connect_q_is_refused_for_tcp():
    r = sockbox("connect", "-q", "1s", "127.0.0.1:1", timeout=15)
    assert r.returncode == 2 and b"-q is for UDP" in r.stderr


def test_connect_udp_sends_large_input_as_datagrams_of_at_most_65507(tmp_path):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    data = os.urandom(200000)
    try:
        r = sockbox("connect", "-u", "-q", "100ms", "127.0.0.1:%d" % rx.getsockname()[1],
                    input=data)
        assert r.returncode == 0, r.stderr
        got, sizes = b"", []
        rx.settimeout(1)
        while len(got) < len(data):
            d = rx.recv(70000)
            sizes.append(len(d))
            got += d
        assert got == data and max(sizes) <= 65507
    finally:
        rx.close()


def test_scan_reports_exactly_the_ports_the_test_made(serve):
    """Listeners (open), bound sockets that do not listen (closed: refused), a listener with a
    full backlog (filtered: no answer); every port is held by the test throughout, so no
    stranger can change the answer."""
    from conftest import full_backlog_port
    opened = [serve("echo", "-l", "127.0.0.1:0") for _ in range(3)]
    open_ports = sorted(s.sockaddr()[1] for s in opened)
    closed_socks = []
    for _ in range(4):
        c = socket.socket()
        c.bind(("127.0.0.1", 0))  # bound, not listening: a connect is refused
        closed_socks.append(c)
    closed_ports = sorted(c.getsockname()[1] for c in closed_socks)
    try:
        with full_backlog_port() as filtered:
            ports = ",".join(str(p) for p in open_ports + closed_ports + [filtered])
            r = sockbox("scan", "-v", "-w", "500ms", "--json", "127.0.0.1", ports, timeout=30)
            assert r.returncode == 0, r.stderr
            import json
            doc = json.loads(r.stdout.decode().splitlines()[-1])
            states = {p["port"]: p["state"] for p in doc["ports"]}
            assert states == {**{p: "open" for p in open_ports},
                              **{p: "closed" for p in closed_ports}, filtered: "filtered"}
            assert doc["open"] == 3 and doc["closed"] == 4 and doc["filtered"] == 1
            # text: one line per open port; -v adds the others with their reason
            r = sockbox("scan", "127.0.0.1", ",".join(map(str, open_ports + closed_ports)))
            assert r.stdout.decode().splitlines() == [f"127.0.0.1:{p} open" for p in open_ports]
            r = sockbox("connect", "-zv", "-w", "500ms", "127.0.0.1", str(filtered))
            assert r.returncode == 1
            assert f"127.0.0.1:{filtered} filtered (no answer in 500 ms)" in r.stdout.decode()
            assert "0 open, 0 closed, 1 filtered" in r.stderr.decode()
    finally:
        for c in closed_socks:
            c.close()
    # none open: exit 1
    r = sockbox("scan", "127.0.0.1", str(closed_ports[0]))
    assert r.returncode == 1


@pytest.mark.parametrize("ports,why", [
    ("0", "port out of range"), ("70000", "port out of range"), ("90-80", "low to high"),
    ("22,,80", "empty port"), ("ssh", "a port is a number"),
])
def test_scan_refuses_a_bad_port_list(ports, why):
    r = sockbox("scan", "127.0.0.1", ports, timeout=15)
    assert r.returncode == 2
    assert why in r.stderr.decode(), r.stderr


def test_connect_source_address_and_port(serve):
    srv = serve("-l", "127.0.0.1:0", "-v")
    for _ in range(10):  # a source port that was free a moment ago may be taken: another
        with socket.socket() as probe:
            probe.bind(("127.0.0.2", 0))
            sport = probe.getsockname()[1]
        r = sockbox("connect", "-s", "127.0.0.2", "-p", str(sport), "-v", srv.addrs[0],
                    input=b"from .2")
        if r.returncode == 1 and b"address in use" in r.stderr:
            continue
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"from .2"
        assert f"from 127.0.0.2:{sport}" in r.stderr.decode()
        srv.wait_event("open", peer=f"127.0.0.2:{sport}")
        break
    else:
        pytest.fail("no free source port in 10 tries")
    r = sockbox("connect", "-s", "::1", "127.0.0.1:9", timeout=15)
    assert r.returncode == 2 and b"must be of one family" in r.stderr
    r = sockbox("connect", "-s", "bogus", "127.0.0.1:9", timeout=15)
    assert r.returncode == 2 and b"an IP address" in r.stderr
