"""sockbox serve echo: TCP, UDP, unix, IPv6, many clients, half-close, backpressure."""

import os
import random
import select
import selectors
import socket
import threading
import time

import pytest

from conftest import (IO_TIMEOUT, connect, echo_roundtrip, needs_ipv6,
                      parse_addr, parse_summary, recv_until_eof, rst_close, vm_rss_kib)

MiB = 1 << 20


def test_readiness_line_names_the_real_port(serve):
    srv = serve("-l", "127.0.0.1:0")
    host, port = srv.sockaddr()
    assert host == "127.0.0.1"
    assert 0 < port < 65536
    with srv.connect() as s:
        assert echo_roundtrip(s, b"hello\n") == b"hello\n"


def test_explicit_echo_service_and_every_byte_value(serve):
    srv = serve("echo", "-l", "tcp://127.0.0.1:0")
    payload = bytes(range(256)) * 512 + b"\r\n\x00\xff" * 100
    with srv.connect() as s:
        assert echo_roundtrip(s, payload) == payload
        # a connection serves many exchanges, not one
        for i in range(20):
            msg = f"message {i}\n".encode()
            assert echo_roundtrip(s, msg) == msg


def test_half_close_small(serve):
    srv = serve("-l", "127.0.0.1:0")
    with srv.connect() as s:
        s.sendall(b"half-close please")
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s) == b"half-close please"


def test_half_close_large_everything_comes_back_then_eof(serve):
    srv = serve("-l", "127.0.0.1:0")
    data = os.urandom(4 * MiB)
    with srv.connect(timeout=30) as s:
        err = []

        def sender():
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except Exception as e:  # reported by the main thread
                err.append(e)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        got = recv_until_eof(s, timeout=60)
        t.join(30)
        assert not t.is_alive() and not err, err
        assert len(got) == len(data)
        assert got == data


class _Client:
    __slots__ = ("sock", "off", "sent", "rcvd", "connected")

    def __init__(self, sock, off):
        self.sock, self.off, self.sent, self.rcvd, self.connected = sock, off, 0, 0, False


def drive_echo_clients(addr, nclients, size, seed=1234, deadline=100.0, stall=30.0):
    """Single-threaded selectors driver: nclients non-blocking sockets each send `size` random
    bytes in random-sized writes while reading concurrently; every byte must come back in order.
    Returns the total number of bytes echoed."""
    _, family, sa = parse_addr(addr)
    rng = random.Random(seed)
    pool = os.urandom(2 * size)
    view = memoryview(pool)
    sel = selectors.DefaultSelector()
    clients = []
    try:
        for _ in range(nclients):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex(sa)
            assert rc in (0, 115), f"connect: {os.strerror(rc)}"  # 115 = EINPROGRESS
            c = _Client(s, rng.randrange(size))
            clients.append(c)
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
        done = 0
        end = time.monotonic() + deadline
        last_progress = time.monotonic()
        while done < nclients:
            now = time.monotonic()
            assert now < end, f"only {done}/{nclients} clients finished within {deadline}s"
            assert now - last_progress < stall, (
                f"no progress for {stall}s; {done}/{nclients} done; stuck: "
                + ", ".join(f"sent={c.sent} rcvd={c.rcvd}" for c in clients
                            if c.rcvd < size)[:500])
            for key, ev in sel.select(1.0):
                c = key.data
                s = c.sock
                if not c.connected:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    assert err == 0, f"connect failed: {os.strerror(err)}"
                    c.connected = True
                if ev & selectors.EVENT_WRITE and c.sent < size:
                    n = min(rng.randint(1, 65536), size - c.sent)
                    try:
                        k = s.send(view[c.off + c.sent:c.off + c.sent + n])
                    except BlockingIOError:
                        k = 0
                    if k:
                        c.sent += k
                        last_progress = time.monotonic()
                        if c.sent == size:
                            sel.modify(s, selectors.EVENT_READ, c)
                if ev & selectors.EVENT_READ:
                    try:
                        chunk = s.recv(256 * 1024)
                    except BlockingIOError:
                        continue
                    assert chunk, f"EOF after {c.rcvd} of {size} bytes (sent {c.sent})"
                    assert c.rcvd + len(chunk) <= c.sent, "received bytes that were never sent"
                    want = pool[c.off + c.rcvd:c.off + c.rcvd + len(chunk)]
                    if chunk != want:
                        bad = next(i for i in range(len(chunk)) if chunk[i] != want[i])
                        raise AssertionError(f"byte {c.rcvd + bad} differs from what was sent")
                    c.rcvd += len(chunk)
                    last_progress = time.monotonic()
                    if c.rcvd == size:
                        sel.unregister(s)
                        s.close()
                        done += 1
        return nclients * size
    finally:
        for c in clients:
            c.sock.close()
        sel.close()


def test_200_concurrent_clients_1mib_each_random_writes(serve):
    srv = serve("-l", "127.0.0.1:0", "--workers", "2")
    total = drive_echo_clients(srv.addr, 200, MiB)
    # Every connection has been closed by us; let the server log all 200 closes, then check the
    # summary agrees with what the clients saw.
    srv.wait_event("close", count=200, timeout=30)
    rc, err = srv.stop()
    assert rc == 0, err[-2000:]
    summary = parse_summary(err)
    assert summary is not None, f"no summary line in stderr:\n{err[-2000:]}"
    assert summary["served"] == 200
    assert summary["refused"] == 0
    assert summary["bytes_in"] == total
    assert summary["bytes_out"] == total


# 8 MiB is the case. Up to ~4 MiB of it can sit in the server's kernel send buffer
# (net.ipv4.tcp_wmem max), so a server that never stops reading would grow by only ~4 MiB there;
# 32 MiB makes that failure unmistakable.
# With --framing line (random bytes hold a '\n' every 256 bytes or so) the server cuts the
# stream into messages: those read before it pauses are held and answered after, in order.
@pytest.mark.parametrize("total,framing", [(8 * MiB, "raw"), (32 * MiB, "raw"), (8 * MiB, "line")],
                         ids=["8MiB", "32MiB", "8MiB-lines"])
def test_slow_reader_backpressure_bounds_server_memory(serve, total, framing):
    srv = serve("--framing", framing, "-l", "127.0.0.1:0")
    data = os.urandom(total)
    if framing == "line":  # the warm-up chunks and the whole end with a complete line
        data = bytearray(data)
        for k in range(1, 33):
            data[k * 32 * 1024 - 1] = ord("\n")
        data[-1] = ord("\n")
        data = bytes(data)
    state = {"sent": 0, "err": None}
    stop = threading.Event()
    # Small client buffers: the 8 MiB cannot hide in the client's kernel buffers, so it is either
    # still in the client's hands (server stopped reading) or inside the server.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.settimeout(IO_TIMEOUT)
    try:
        s.connect(srv.sockaddr())
        # warm up (small round trips) so the worker's buffers exist before the baseline
        for i in range(32):
            chunk = data[i * 32 * 1024:(i + 1) * 32 * 1024]
            assert echo_roundtrip(s, chunk) == chunk
        time.sleep(0.2)
        baseline = vm_rss_kib(srv.pid)
        s.setblocking(False)

        def sender():
            view = memoryview(data)
            end = time.monotonic() + 90
            try:
                while state["sent"] < total and not stop.is_set() and time.monotonic() < end:
                    try:
                        state["sent"] += s.send(view[state["sent"]:state["sent"] + 65536])
                    except BlockingIOError:
                        select.select([], [s], [], 0.2)
            except Exception as e:  # reported by the main thread
                state["err"] = e

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        peak = baseline
        end = time.monotonic() + 2.0
        while time.monotonic() < end:  # the client does not read for 2 s
            peak = max(peak, vm_rss_kib(srv.pid))
            time.sleep(0.1)
        peak = max(peak, vm_rss_kib(srv.pid))
        sent_while_not_reading = state["sent"]

        # now read everything; the sender goes on as the server drains
        got = bytearray()
        deadline = time.monotonic() + 90
        while len(got) < total:
            assert time.monotonic() < deadline, f"only {len(got)} of {total} bytes came back"
            assert state["err"] is None, state["err"]
            r, _, _ = select.select([s], [], [], 0.5)
            if r:
                try:
                    chunk = s.recv(1 << 20)
                except BlockingIOError:
                    continue
                assert chunk, f"EOF after {len(got)} bytes"
                got += chunk
        t.join(30)
        assert not t.is_alive() and state["err"] is None, state["err"]
        assert got == data, "bytes came back corrupted or out of order"
    finally:
        stop.set()
        s.close()

    growth_kib = peak - baseline
    print(f"baseline {baseline} KiB, peak {peak} KiB, growth {growth_kib} KiB, "
          f"{sent_while_not_reading} bytes accepted by the kernel while not reading")
    assert growth_kib < 4 * 1024, (
        f"server RSS grew by {growth_kib} KiB while the client did not read "
        f"({sent_while_not_reading} bytes accepted): it does not stop reading")


def test_udp_echo_20_peers_at_once(serve):
    srv = serve("-l", "udp://127.0.0.1:0")
    assert srv.addr.startswith("udp://127.0.0.1:")
    _, _, server_sa = parse_addr(srv.addr)
    socks = []
    sel = selectors.DefaultSelector()
    try:
        expected = {}
        for i in range(20):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("127.0.0.1", 0))
            u.setblocking(False)
            socks.append(u)
            sel.register(u, selectors.EVENT_READ, i)
            expected[i] = sorted(f"peer {i} datagram {j} ".encode() + os.urandom(8 + 37 * j)
                                 for j in range(5))
        for j in range(5):
            for i, u in enumerate(socks):
                u.sendto(expected[i][j], server_sa)
        got = {i: [] for i in range(20)}
        deadline = time.monotonic() + IO_TIMEOUT
        while sum(map(len, got.values())) < 100 and time.monotonic() < deadline:
            for key, _ in sel.select(0.5):
                u = key.fileobj
                while True:
                    try:
                        d, src = u.recvfrom(65536)
                    except BlockingIOError:
                        break
                    assert src == server_sa, f"datagram from {src}, not from the server"
                    got[key.data].append(d)
        for i in range(20):
            assert sorted(got[i]) == expected[i], f"peer {i} got {len(got[i])} datagrams back"
    finally:
        sel.close()
        for u in socks:
            u.close()


def test_udp_echo_keeps_datagram_boundaries(serve):
    srv = serve("-l", "udp://127.0.0.1:0")
    with connect(srv.addr) as u:
        for size in (1, 512, 1472, 9000, 60000):
            d = os.urandom(size)
            u.send(d)
            assert u.recv(65536) == d, f"{size}-byte datagram not echoed whole"


def test_unix_socket_echo(serve, short_tmp):
    path = os.path.join(short_tmp, "echo.sock")
    srv = serve("-l", f"unix:{path}")
    assert srv.addr == f"unix:{path}"
    data = os.urandom(MiB)
    with connect(srv.addr, timeout=30) as s:
        assert echo_roundtrip(s, b"unix hello") == b"unix hello"
        err = []

        def sender():
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except Exception as e:
                err.append(e)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        assert recv_until_eof(s, timeout=30) == data
        t.join(10)
        assert not err, err


@needs_ipv6
def test_ipv6_loopback_echo(serve):
    srv = serve("-l", "[::1]:0")
    assert srv.addr.startswith("[::1]:"), srv.addr
    _, family, sa = parse_addr(srv.addr)
    assert family == socket.AF_INET6
    with srv.connect() as s:
        assert echo_roundtrip(s, b"over ipv6") == b"over ipv6"
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s) == b""


def test_tcp_and_udp_listeners_at_once(serve):
    srv = serve("-l", "127.0.0.1:0", "-l", "udp://127.0.0.1:0")
    assert len(srv.addrs) == 2
    tcp = [a for a in srv.addrs if parse_addr(a)[0] == "tcp"]
    udp = [a for a in srv.addrs if parse_addr(a)[0] == "udp"]
    assert len(tcp) == 1 and len(udp) == 1, srv.addrs
    with connect(tcp[0]) as s, connect(udp[0]) as u:
        for i in range(3):
            assert echo_roundtrip(s, f"tcp {i}".encode()) == f"tcp {i}".encode()
            u.send(f"udp {i}".encode())
            assert u.recv(2048) == f"udp {i}".encode()


def test_abrupt_clients_do_not_hurt_others(serve):
    """Abuse: clients that vanish (reset mid-stream, connect-and-close, reset before reading a
    big reply), then a well-behaved client is still served."""
    srv = serve("-l", "127.0.0.1:0", "--workers", "2")
    keep = srv.connect()
    assert echo_roundtrip(keep, b"before") == b"before"
    for i in range(20):
        s = srv.connect()
        if i % 3 == 0:
            s.close()
        elif i % 3 == 1:
            s.setblocking(False)  # as much as the kernel takes, without waiting
            try:
                s.send(os.urandom(512 * 1024))
            except (BlockingIOError, ConnectionResetError):
                pass
            rst_close(s)
        else:
            s.sendall(b"x" * 1000)
            rst_close(s)
    for _ in range(3):
        with srv.connect() as s:
            assert echo_roundtrip(s, b"still served") == b"still served"
    assert echo_roundtrip(keep, b"after") == b"after"
    keep.close()
    assert srv.proc.poll() is None, "server died"


def _echo_at(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(IO_TIMEOUT)
        s.connect((host, port))
        return echo_roundtrip(s, b"dual")


@needs_ipv6
@pytest.mark.parametrize("flag,want_v4,want_v6", [
    (None, True, True),   # *:PORT listens dual-stack on [::]
    ("-4", True, False),
    ("-6", False, True),
])
def test_all_interfaces_listener_is_dual_stack_unless_told(serve, flag, want_v4, want_v6):
    srv = serve(*([flag] if flag else []), "-l", "*:0")
    _, _, (host, port) = parse_addr(srv.addrs[0])
    assert host == ("0.0.0.0" if flag == "-4" else "::"), srv.addrs[0]
    for h, want in (("127.0.0.1", want_v4), ("::1", want_v6)):
        if want:
            assert _echo_at(h, port) == b"dual"
        else:
            with pytest.raises(ConnectionRefusedError):
                _echo_at(h, port)
