"""TLS: tls:// listeners with openssl s_client, Python's ssl module and sockbox's own clients;
sockbox's clients against openssl s_server; verification failures (exit 6 with the reason);
--insecure and --pin; many clients and bulk; a client that never reads; a client that never
starts its handshake; a peer that leaves without close_notify."""

import os
import select
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import (IO_TIMEOUT, SANITIZED, kill_group, local_peer, needs, parse_summary, popen,
                      recv_exact, sockbox, start_peer_server, vm_rss_kib)


def tls_serve(serve, certs, *args, name="server"):
    return serve(*args, *certs.pair(name))


def client_ctx(certs):
    ctx = ssl.create_default_context(cafile=certs.path("ca.pem"))
    return ctx


def tls_connect(srv, certs, i=0, host="localhost"):
    raw = socket.create_connection(srv.sockaddr(i), timeout=IO_TIMEOUT)
    return client_ctx(certs).wrap_socket(raw, server_hostname=host)


def read_until(proc, want, timeout=IO_TIMEOUT):
    """Reads proc's stdout until want is in it (or the deadline)."""
    got, deadline = b"", time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while want not in got and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], max(0, deadline - time.monotonic()))
        if not r:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        got += chunk
    return got


@needs("openssl")
def test_openssl_s_client_talks_to_a_tls_echo_listener(serve, certs):
    srv = tls_serve(serve, certs, "echo", "-l", "tls://127.0.0.1:0")
    port = srv.sockaddr()[1]
    p = popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername",
               "localhost", "-CAfile", certs.path("ca.pem"), "-verify_return_error",
               "-verify_hostname", "localhost", "-quiet"],
              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
              start_new_session=True)
    try:
        p.stdin.write(b"hello over tls\n")
        p.stdin.flush()
        got = read_until(p, b"hello over tls\n")
        assert b"hello over tls\n" in got, (got, p.stderr.read1(4096) if p.poll() else b"")
    finally:
        kill_group(p)
    rc, err = srv.stop()
    assert rc == 0
    assert srv.events("open") and not srv.events("tls-failed")


def test_a_plain_and_a_tls_listener_serve_the_same_service_at_once(serve, certs):
    srv = tls_serve(serve, certs, "reverse", "-l", "127.0.0.1:0", "-l", "tls://127.0.0.1:0")
    assert srv.addrs[0].startswith("127.0.0.1:") and srv.addrs[1].startswith("tls://")
    with socket.create_connection(srv.sockaddr(0), timeout=IO_TIMEOUT) as plain, \
            tls_connect(srv, certs, 1) as secure:
        plain.sendall(b"abc\n")
        secure.sendall(b"xyz\n")
        assert recv_exact(plain, 4) == b"cba\n"
        assert recv_exact(secure, 4) == b"zyx\n"
        assert secure.version() in ("TLSv1.2", "TLSv1.3")


@needs("openssl")
def test_sockbox_connect_talks_to_openssl_s_server(certs):
    def argv(port):
        return ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert",
                certs.path("server.pem"), "-key", certs.path("server.key"), "-rev", "-quiet",
                "-naccept", "1"]

    p, port = start_peer_server(argv)
    try:
        r = sockbox("connect", "--ca", certs.path("ca.pem"), f"tls://localhost:{port}",
                    input=b"hello\nworld\n")
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"olleh\ndlrow\n"
    finally:
        kill_group(p)


def test_sockbox_send_and_ping_over_tls(serve, certs):
    srv = tls_serve(serve, certs, "echo", "--framing", "line", "-l", "tls://127.0.0.1:0")
    port = srv.sockaddr()[1]
    r = sockbox("send", "-f", "line", "--ca", certs.path("ca.pem"), f"tls://localhost:{port}",
                "one", "two")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"one\ntwo\n"
    r = sockbox("ping", "-c", "2", "-i", "50ms", "--ca", certs.path("ca.pem"),
                f"tls://127.0.0.1:{port}")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert sum(1 for l in lines if l.startswith("connected to") and " tls=" in l) == 2
    assert any(l.startswith("tls handshake min/avg/max/mdev") for l in lines)
    rc, err = srv.stop()
    # ping closes with close_notify: no truncation, no failed handshake
    assert not srv.events("tls-failed")
    assert all(e["reason"] != "peer closed without close_notify" for e in srv.events("close"))


@pytest.mark.parametrize("cert,host,reason", [
    ("selfsigned", "localhost", "self-signed certificate"),
    ("other", "localhost", "hostname mismatch"),
    ("expired", "localhost", "certificate has expired"),
])
@pytest.mark.parametrize("cmd", ["connect", "send", "bench", "ping"])
def test_a_certificate_that_does_not_verify_exits_6_with_the_reason(serve, certs, cert, host,
                                                                     reason, cmd):
    srv = tls_serve(serve, certs, "echo", "-l", "tls://127.0.0.1:0", name=cert)
    port = srv.sockaddr()[1]
    ca = [] if cert == "selfsigned" else ["--ca", certs.path("ca.pem")]
    target = f"tls://{host}:{port}"
    argv = {"connect": ["connect", *ca, target],
            "send": ["send", *ca, target, "hello"],
            "bench": ["bench", *ca, target, "-t", "1"],
            "ping": ["ping", "-c", "3", "-i", "50ms", *ca, target]}[cmd]
    t0 = time.monotonic()
    r = sockbox(*argv, input=b"hello\n")
    assert r.returncode == 6, (r.returncode, r.stderr)
    err = r.stderr.decode()
    lines = [l for l in err.splitlines() if l.startswith("sockbox: tls handshake with")]
    assert len(lines) == 1, err  # one line, no retry loop
    assert f"127.0.0.1:{port} failed: certificate verify failed: {reason}" in lines[0], err
    assert time.monotonic() - t0 < 8
    if cmd == "ping":
        assert r.stdout.decode().count("tls handshake with") == 1  # it stopped at the first


def test_insecure_skips_verification_and_pin_trusts_the_key(serve, certs):
    srv = tls_serve(serve, certs, "echo", "-l", "tls://127.0.0.1:0", name="selfsigned")
    port = srv.sockaddr()[1]
    target = f"tls://127.0.0.1:{port}"
    r = sockbox("connect", "--insecure", target, input=b"insecure\n")
    assert r.returncode == 0 and r.stdout == b"insecure\n", r.stderr
    r = sockbox("connect", "--pin", certs.pin("selfsigned"), target, input=b"pinned\n")
    assert r.returncode == 0 and r.stdout == b"pinned\n", r.stderr
    # the pin as hex works too; a different key's pin is refused
    import base64
    hexpin = "sha256:" + base64.b64decode(certs.pin("selfsigned")[7:]).hex()
    r = sockbox("connect", "--pin", hexpin, target, input=b"hex\n")
    assert r.returncode == 0 and r.stdout == b"hex\n", r.stderr
    r = sockbox("connect", "--pin", certs.pin("server"), target, input=b"x\n")
    assert r.returncode == 6
    assert "failed: the server's public key does not match --pin" in r.stderr.decode()
    r = sockbox("connect", "--pin", "sha256:nonsense", target)
    assert r.returncode == 2
    r = sockbox("connect", "--insecure", f"127.0.0.1:{port}")
    assert r.returncode == 2 and b"tls://" in r.stderr


def test_serve_refuses_a_key_that_does_not_match_the_certificate(certs):
    r = sockbox("serve", "-l", "tls://127.0.0.1:0", "--tls-cert", certs.path("server.pem"),
                "--tls-key", certs.path("other.key"), timeout=15)
    assert r.returncode != 0
    assert certs.path("other.key") in r.stderr.decode() or "key" in r.stderr.decode()
    r = sockbox("serve", "-l", "tls://127.0.0.1:0", "--tls-cert", "/nonexistent.pem",
                "--tls-key", certs.path("server.key"), timeout=15)
    assert r.returncode != 0 and b"/nonexistent.pem" in r.stderr
    r = sockbox("serve", "-l", "tls://127.0.0.1:0", timeout=15)
    assert r.returncode == 2 and b"--tls-cert" in r.stderr


def test_200_tls_clients_each_echo_1_mib_and_every_byte_comes_back(serve, certs):
    srv = tls_serve(serve, certs, "echo", "--workers", "2", "-l", "tls://127.0.0.1:0", "-q")
    port = srv.sockaddr()[1]
    # 200 connections x 16 messages of 64 KiB, every reply byte checked by bench
    r = sockbox("bench", "--ca", certs.path("ca.pem"), f"tls://localhost:{port}", "-c", "200",
                "-s", "64k", "-n", str(200 * 16), "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    import json
    res = json.loads(r.stdout.decode().splitlines()[-1])
    assert res["messages"] == 200 * 16 and res["errors"] == 0, res
    rc, err = srv.stop()
    summary = parse_summary(err)
    assert summary["bytes_in"] == summary["bytes_out"] == 200 * (1 << 20)
    assert summary["served"] >= 200 and summary["errors"] == 0


def test_python_ssl_clients_echo_every_byte(serve, certs):
    """A TLS client nobody here wrote (CPython's ssl module), several at once, odd sizes."""
    srv = tls_serve(serve, certs, "echo", "-l", "tls://127.0.0.1:0", "-q")
    socks = [tls_connect(srv, certs) for _ in range(20)]
    try:
        for i, s in enumerate(socks):
            s.sendall(bytes([i]) * (1000 + 7919 * i))
        for i, s in enumerate(socks):
            assert recv_exact(s, 1000 + 7919 * i) == bytes([i]) * (1000 + 7919 * i)
    finally:
        for s in socks:
            s.close()


def test_connect_half_close_over_tls_gets_every_byte_before_close_notify(serve, certs, tmp_path):
    """stdin ends: connect sends close_notify and FIN after its last byte; the server answers
    everything it owes, then ends its side the same way; connect exits 0 with all of it."""
    srv = tls_serve(serve, certs, "echo", "-l", "tls://127.0.0.1:0")
    data = os.urandom(3 << 20)
    path = tmp_path / "in.bin"
    path.write_bytes(data)
    with open(path, "rb") as f:
        r = sockbox("connect", "--ca", certs.path("ca.pem"),
                    f"tls://localhost:{srv.sockaddr()[1]}", stdin=f, capture=False,
                    stdout=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == data
    ev = srv.wait_event("close")
    assert ev[0]["reason"] == "peer closed", ev


def test_a_peer_that_drops_tcp_without_close_notify_is_an_ordinary_close(serve, certs):
    srv = tls_serve(serve, certs, "echo", "-l", "tls://127.0.0.1:0")
    raw = socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT)
    s = client_ctx(certs).wrap_socket(raw, server_hostname="localhost")
    s.sendall(b"bye")
    assert recv_exact(s, 3) == b"bye"
    peer = local_peer(s)
    raw_fd = s.detach()  # the TCP socket, without sending close_notify
    os.close(raw_fd)
    ev = srv.wait_event("close", peer=peer)
    assert ev[0]["reason"] == "peer closed without close_notify"
    assert ev[0]["level"] == "info"
    rc, err = srv.stop()
    assert parse_summary(err)["errors"] == 0


def test_a_tcp_client_that_never_starts_the_handshake_is_closed_by_the_timeout(serve, certs):
    srv = tls_serve(serve, certs, "echo", "-l", "tls://127.0.0.1:0",
                    "--handshake-timeout", "500ms")
    with socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT) as s:
        t0 = time.monotonic()
        s.settimeout(IO_TIMEOUT)
        assert s.recv(100) == b""
        assert time.monotonic() - t0 < 5
        peer = local_peer(s)
    ev = srv.wait_event("close", peer=peer)
    assert ev[0]["reason"] == "header or handshake timed out"
    # and a real client is still served afterwards
    with tls_connect(srv, certs) as t:
        t.sendall(b"ok")
        assert recv_exact(t, 2) == b"ok"
    rc, err = srv.stop()
    assert "PROXY headers or TLS handshakes timed out" in parse_summary(err)["notes"]


def test_garbage_instead_of_a_client_hello_is_logged_and_harms_nobody(serve, certs):
    srv = tls_serve(serve, certs, "echo", "-l", "tls://127.0.0.1:0")
    with tls_connect(srv, certs) as good:
        with socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT) as bad:
            bad.sendall(b"GET / HTTP/1.0\r\n\r\n")
            bad.settimeout(IO_TIMEOUT)
            try:
                while bad.recv(4096):
                    pass
            except ConnectionResetError:
                pass
        good.sendall(b"still here")
        assert recv_exact(good, 10) == b"still here"
    ev = srv.wait_event("tls-failed")
    assert ev[0]["reason"]


def test_a_tls_client_that_sends_8_mib_without_reading_keeps_the_server_bounded(serve, certs):
    srv = tls_serve(serve, certs, "echo", "--workers", "1", "-l", "tls://127.0.0.1:0", "-q")
    with tls_connect(srv, certs) as warm:
        warm.sendall(b"w" * 100000)
        recv_exact(warm, 100000)
    time.sleep(0.2)
    base = vm_rss_kib(srv.pid)
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    raw.connect(srv.sockaddr())
    s = client_ctx(certs).wrap_socket(raw, server_hostname="localhost")
    s.setblocking(False)
    chunk, sent, deadline, stuck_since = b"z" * 16384, 0, time.monotonic() + 30, None
    peak = base
    while sent < (8 << 20) and time.monotonic() < deadline:
        try:
            sent += s.send(chunk)
            stuck_since = None
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            if stuck_since is None:
                stuck_since = time.monotonic()
            elif time.monotonic() - stuck_since > 1.5:
                break  # the server stopped reading us: that is the point
            time.sleep(0.01)
        peak = max(peak, vm_rss_kib(srv.pid))
    assert srv.proc.poll() is None
    with tls_connect(srv, certs) as other:  # someone else is still served
        other.sendall(b"fine")
        assert recv_exact(other, 4) == b"fine"
    growth = (peak - base) / 1024
    print(f"sent {sent >> 10} KiB unread; server RSS grew {growth:.1f} MiB")
    # The kernel's socket buffers may take all 8 MiB; what the server itself holds is bounded.
    if not SANITIZED:
        assert growth < 16, f"RSS grew {growth:.1f} MiB"
    s.close()
