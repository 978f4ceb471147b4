"""The PROXY protocol on a listener (--proxy-protocol), with headers written here by hand
(v1 text, v2 binary), by `sockbox --send-proxy`, and with TLS behind the header: the address
in the header is the one logged and printed; bytes after the header are the client's;
malformed, oversized and slow headers close the connection with a logged reason and harm
nobody else; LOCAL health checks are quiet."""

import socket
import struct
import time

from conftest import IO_TIMEOUT, expect_closed_without_data, parse_summary, recv_exact, sockbox

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, sport, dst="127.0.0.1", dport=5050):
    return f"PROXY TCP4 {src} {dst} {sport} {dport}\r\n".encode()


def v2(src, sport, dst="127.0.0.1", dport=5050, local=False):
    if local:
        return V2_SIG + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return V2_SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def len64(msg):
    return str(len(msg)).encode().ljust(64) + msg


def test_v1_and_v2_headers_name_the_client_and_the_bytes_behind_them_are_kept(serve):
    srv = serve("ack", "--proxy-protocol", "-l", "127.0.0.1:0")
    for hdr, peer in ((v1("203.0.113.7", 40001), "203.0.113.7:40001"),
                      (v2("198.51.100.9", 40002), "198.51.100.9:40002")):
        with srv.connect() as s:
            s.sendall(hdr + len64(b"first bytes"))  # header and message in one segment
            assert recv_exact(s, 12) == b"Msg received"
        srv.wait_stdout(lambda out, p=peer: f"[{p}] first bytes" in out)
        srv.wait_event("close", peer=peer)
        assert srv.wait_event("open", peer=peer)[0]["level"] == "info"


def test_a_header_that_arrives_a_byte_at_a_time_works(serve):
    srv = serve("echo", "--proxy-protocol", "-l", "127.0.0.1:0")
    with srv.connect() as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for b in v2("192.0.2.44", 1234):
            s.send(bytes([b]))
            time.sleep(0.002)
        s.sendall(b"echo me")
        assert recv_exact(s, 7) == b"echo me"
    srv.wait_event("close", peer="192.0.2.44:1234")


def test_malformed_oversized_and_slow_headers_are_closed_with_a_reason(serve):
    srv = serve("echo", "--proxy-protocol", "-l", "127.0.0.1:0")
    good = srv.connect()
    try:
        good.sendall(v1("192.0.2.1", 1111) + b"hi")
        assert recv_exact(good, 2) == b"hi"
        for bad in (b"GET / HTTP/1.1\r\n\r\n",                 # not a PROXY header
                    b"PROXY TCP4 192.0.2.1 198.51.100.1 99999 80\r\n",  # port out of range
                    b"PROXY " + b"x" * 200,                     # a v1 line past 107 bytes
                    V2_SIG + b"\x21\x11\xff\xff"):               # v2 length past the limit
            with srv.connect() as s:
                s.sendall(bad)
                expect_closed_without_data(s)
        assert len(srv.wait_event("bad-header", count=1)) >= 1
        t0 = time.monotonic()
        with srv.connect() as slow:
            slow.sendall(b"PROXY TCP4 ")  # and nothing more
            expect_closed_without_data(slow, timeout=10)
            assert 2 <= time.monotonic() - t0 < 8
        good.sendall(b"still")
        assert recv_exact(good, 5) == b"still"
    finally:
        good.close()
    rc, err = srv.stop()
    notes = parse_summary(err)["notes"]
    assert "bad PROXY headers" in notes and "timed out" in notes, notes
    reasons = [e["reason"] for e in srv.events("bad-header")]
    assert any(reasons), reasons


def test_a_local_health_check_is_logged_quietly(serve):
    srv = serve("echo", "--proxy-protocol", "-v", "-l", "127.0.0.1:0")
    with srv.connect() as s:
        s.sendall(v2("", 0, local=True))
        time.sleep(0.1)
        peer = "127.0.0.1:%d" % s.getsockname()[1]
    ev = srv.wait_event("close", peer=peer)
    assert ev[0]["level"] == "debug"
    assert srv.wait_event("open", peer=peer)[0]["level"] == "debug"


def test_sockbox_send_proxy_v1_and_v2_reach_a_backend(serve):
    srv = serve("ack", "--proxy-protocol", "-l", "127.0.0.1:0")
    port = srv.sockaddr()[1]
    for version in ("v1", "v2"):
        r = sockbox("send", "--framing", "len64", "--send-proxy", version, "-v",
                    f"127.0.0.1:{port}", f"hello {version}")
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"Msg received\n"
        srv.wait_stdout(lambda out, v=version: f"] hello {v}" in out)
    # its header names the connection itself, like a health check, but it spoke: logged at info
    opens = [e for e in srv.events("open") if e["level"] == "info"]
    assert len(opens) == 2, srv.stderr()
    r = sockbox("bench", "--send-proxy", "v2", f"127.0.0.1:{port}", "--framing", "len64",
                "--expect-reply", "Msg received", "-c", "4", "-n", "400")
    assert r.returncode == 0, r.stderr
    # without --proxy-protocol the header is just bytes: a plain echo returns them
    plain = serve("echo", "-l", "127.0.0.1:0")
    r = sockbox("connect", "--send-proxy", "v1", f"127.0.0.1:{plain.sockaddr()[1]}", input=b"x")
    assert r.returncode == 0
    assert r.stdout.startswith(b"PROXY TCP4 127.0.0.1 127.0.0.1 ") and r.stdout.endswith(b"\r\nx")


def test_the_header_comes_before_tls(serve, certs):
    srv = serve("ack", "--proxy-protocol", "-l", "tls://127.0.0.1:0", *certs.pair("server"))
    port = srv.sockaddr()[1]
    r = sockbox("send", "--framing", "len64", "--send-proxy", "v2", "--ca",
                certs.path("ca.pem"), f"tls://localhost:{port}", "over tls")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Msg received\n"
    srv.wait_stdout(lambda out: "] over tls" in out)
    # a hand-made header for another address, then TLS from Python's ssl module
    import ssl
    ctx = ssl.create_default_context(cafile=certs.path("ca.pem"))
    raw = socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT)
    raw.sendall(v1("203.0.113.50", 50000))
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(len64(b"behind haproxy"))
        assert recv_exact(s, 12) == b"Msg received"
    srv.wait_stdout(lambda out: "[203.0.113.50:50000] behind haproxy" in out)
