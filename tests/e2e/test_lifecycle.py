"""Signals, draining, the summary line, and the log lines."""

import json
import os
import re
import select
import signal
import socket
import threading
import time

from conftest import (IO_TIMEOUT, LISTENING_RE, STOP_TIMEOUT, connect, echo_roundtrip,
                      expect_closed_without_data, local_peer, parse_summary, recv_exact)

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_sigterm_exits_0_with_summary(serve):
    srv = serve("-l", "127.0.0.1:0")
    for i in range(3):
        with srv.connect() as s:
            assert echo_roundtrip(s, b"hello") == b"hello"
    srv.wait_event("close", count=3)
    rc, err = srv.stop(signal.SIGTERM)
    assert rc == 0, err[-2000:]
    last = err.splitlines()[-1]
    summary = parse_summary(last)
    assert summary is not None, f"last stderr line is not the summary: {last!r}"
    assert summary["served"] == 3
    assert summary["refused"] == 0
    assert summary["bytes_in"] == 15
    assert summary["bytes_out"] == 15
    assert summary["datagrams"] == 0
    assert summary["errors"] == 0
    assert summary["seconds"] >= 0


def test_sigint_exits_0_and_counts_datagrams(serve):
    srv = serve("-l", "127.0.0.1:0", "-l", "udp://127.0.0.1:0")
    udp = [a for a in srv.addrs if a.startswith("udp://")][0]
    tcp = [a for a in srv.addrs if not a.startswith("udp://")][0]
    with connect(udp) as u:
        for m in (b"one", b"two"):
            u.send(m)
            assert u.recv(100) == m
    with connect(tcp) as s:
        assert echo_roundtrip(s, b"abc") == b"abc"
    srv.wait_event("close")
    rc, err = srv.stop(signal.SIGINT)
    assert rc == 0, err[-2000:]
    summary = parse_summary(err)
    assert summary is not None, err[-2000:]
    assert summary["datagrams"] == 2, summary
    assert summary["served"] == 1, summary
    assert summary["bytes_in"] >= 3 and summary["bytes_out"] >= 3, summary


def test_reply_in_flight_when_sigterm_arrives_still_completes(serve):
    srv = serve("-l", "127.0.0.1:0", "--drain-timeout", "10s")
    data = os.urandom(256 * 1024)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # the echo gets stuck
    s.settimeout(30)
    try:
        s.connect(srv.sockaddr())
        err = []

        def sender():
            try:
                s.sendall(data)
            except Exception as e:
                err.append(e)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        t.join(3)  # normally all of it is out (kernel buffers); if not, it goes on below
        time.sleep(0.2)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the server is now draining, with replies still owed
        got = recv_exact(s, len(data), timeout=30)
        t.join(30)
        assert not err, err
        assert got == data
        s.shutdown(socket.SHUT_WR)
        assert expect_closed_without_data(s) in ("eof", "reset")
    finally:
        s.close()
    rc = srv.wait_exit(STOP_TIMEOUT)
    assert rc == 0, srv.stderr()[-2000:]
    summary = parse_summary(srv.stop()[1])
    assert summary is not None, srv.stderr()[-2000:]
    assert summary["served"] == 1
    assert summary["bytes_in"] == len(data) and summary["bytes_out"] == len(data), summary


def test_sigterm_stops_accepting(serve):
    """After SIGTERM new connections are no longer served; an idle connection (nothing in
    flight) is closed, and the server exits 0."""
    srv = serve("-l", "127.0.0.1:0", "--drain-timeout", "30s")
    keep = srv.connect()
    try:
        assert echo_roundtrip(keep, b"k") == b"k"
        srv.proc.send_signal(signal.SIGTERM)
        # new connections are refused, or closed without an echo
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            assert time.monotonic() < deadline, "still accepting and serving after SIGTERM"
            try:
                c = srv.connect(timeout=2)
            except (ConnectionRefusedError, ConnectionResetError):
                # refused, or reset when the SYN met the listener as it closed: either way
                # told at once and not served
                break
            try:
                c.sendall(b"new")
                c.settimeout(1.0)
                if c.recv(3) == b"":
                    break
            except (ConnectionResetError, BrokenPipeError):
                break
            except socket.timeout:
                pass
            finally:
                c.close()
            time.sleep(0.2)
        keep.shutdown(socket.SHUT_WR)
        expect_closed_without_data(keep, timeout=STOP_TIMEOUT)
    finally:
        keep.close()
    rc = srv.wait_exit(STOP_TIMEOUT)
    assert rc == 0, f"exit {rc}; stderr:\n{srv.stderr()[-2000:]}"
    assert parse_summary(srv.stop()[1]) is not None


def test_drain_timeout_ends_a_reply_the_peer_never_reads(serve):
    """A client that never reads its echo cannot keep the server alive past --drain-timeout."""
    srv = serve("-l", "127.0.0.1:0", "--drain-timeout", "1s")
    s = srv.connect()
    try:
        assert echo_roundtrip(s, b"stuck") == b"stuck"
        s.setblocking(False)
        sent, blocked_since = 0, None
        end = time.monotonic() + 30
        while time.monotonic() < end and sent < (64 << 20):
            try:
                sent += s.send(b"z" * 65536)
                blocked_since = None
            except BlockingIOError:
                blocked_since = blocked_since or time.monotonic()
                if time.monotonic() - blocked_since > 1.0:
                    break  # the server stopped reading: its replies are stuck
                select.select([], [s], [], 0.1)
        srv.proc.send_signal(signal.SIGTERM)
        rc = srv.wait_exit(STOP_TIMEOUT)
        assert rc == 0, f"exit {rc} ({sent} bytes sent); stderr:\n{srv.stderr()[-2000:]}"
    finally:
        s.close()
    summary = parse_summary(srv.stop()[1])
    assert summary is not None, srv.stderr()[-2000:]
    assert summary["served"] == 1


def test_text_log_lines_open_and_close(serve):
    srv = serve("-l", "127.0.0.1:0")
    with srv.connect() as s:
        peer = local_peer(s)
        assert echo_roundtrip(s, b"12345") == b"12345"
        op = srv.wait_event("open", peer=peer)[0]
    cl = srv.wait_event("close", peer=peer)[0]
    assert op["level"] == "info" and TS_RE.match(op["ts"]), op
    assert op["active"] == "1" and op["worker"].isdigit(), op
    assert cl["level"] == "info" and TS_RE.match(cl["ts"]), cl
    assert cl["active"] == "0", cl
    assert cl["in"] == "5" and cl["out"] == "5", cl
    assert cl["worker"] == op["worker"], (op, cl)
    assert re.match(r"^\d+\.\d{3}$", cl["duration"]), cl
    assert cl["reason"] == "peer closed", cl


def test_json_log_format(serve):
    srv = serve("-l", "127.0.0.1:0", "--log-format", "json", log_format="json")
    ready = [json.loads(l) for l in srv.stderr().splitlines() if '"listening"' in l]
    assert len(ready) == 1, srv.stderr()
    ready = ready[0]
    assert ready["event"] == "listening" and ready["level"] == "info", ready
    assert ready["addr"] == srv.addr and re.match(r"^127\.0\.0\.1:\d+$", srv.addr)
    assert TS_RE.match(ready["ts"]), ready
    with srv.connect() as s:
        peer = local_peer(s)
        assert echo_roundtrip(s, b"json!") == b"json!"
    srv.wait_event("close", peer=peer)
    rc, err = srv.stop()
    assert rc == 0
    objs = []
    for line in err.splitlines():
        if line.startswith("{"):
            objs.append(json.loads(line))  # every JSON-looking line must parse
    op = [o for o in objs if o.get("event") == "open"]
    cl = [o for o in objs if o.get("event") == "close"]
    assert len(op) == 1 and len(cl) == 1, objs
    for k in ("ts", "level", "event", "peer", "worker", "active"):
        assert k in op[0], (k, op[0])
    for k in ("ts", "level", "event", "peer", "worker", "active", "in", "out", "duration",
              "reason"):
        assert k in cl[0], (k, cl[0])
    assert op[0]["peer"] == peer and cl[0]["peer"] == peer
    assert str(cl[0]["in"]) == "5" and str(cl[0]["out"]) == "5", cl[0]
    assert cl[0]["reason"] == "peer closed"
    # text-format log lines must not be mixed in
    assert not [l for l in err.splitlines() if re.match(r"^\d{4}-\d\d-\d\dT", l)], err


def test_quiet_suppresses_info_but_not_readiness_or_warnings(serve):
    srv = serve("-l", "127.0.0.1:0", "-q", "--max-conns", "1")
    assert [l for l in srv.stderr().splitlines() if LISTENING_RE.match(l)] == [
        f"listening on {srv.addr}"]
    with srv.connect() as a:
        assert echo_roundtrip(a, b"quiet") == b"quiet"
        with srv.connect() as b:
            expect_closed_without_data(b)
        srv.wait_event("refused", level="warn")
    time.sleep(0.3)
    assert not srv.events("open") and not srv.events("close"), srv.stderr()
    rc, err = srv.stop()
    assert rc == 0, err


def test_verbose_still_serves(serve):
    srv = serve("-l", "127.0.0.1:0", "-v")
    with srv.connect() as s:
        assert echo_roundtrip(s, b"verbose") == b"verbose"
    srv.wait_event("close")
    rc, err = srv.stop()
    assert rc == 0, err[-2000:]


def test_sigterm_right_after_the_readiness_line_still_drains_and_summarises():
    """Signals are handled from before `listening on` is printed: a script that stops the
    server the moment it is ready gets exit 0 and the summary, never a kill by SIGTERM."""
    import subprocess

    from conftest import SOCKBOX_BIN, _die_with_parent, kill_proc

    for workers in ("1", "2") * 10:
        p = subprocess.Popen([SOCKBOX_BIN, "serve", "-l", "127.0.0.1:0", "--workers", workers],
                             stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             preexec_fn=_die_with_parent)
        try:
            line = p.stderr.readline().decode()
            assert LISTENING_RE.search(line.rstrip("\n")), f"no readiness line: {line!r}"
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=STOP_TIMEOUT)
            assert rc == 0, f"--workers {workers}: exit {rc} (killed by the signal?)"
            assert parse_summary(p.stderr.read().decode()) is not None
        finally:
            kill_proc(p, signal.SIGKILL)
