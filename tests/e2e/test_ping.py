"""sockbox ping: TCP connect times against a real sockbox server, a closed port, a full
backlog, and names that do not resolve."""

import json
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import SOCKBOX_BIN, full_backlog_port, kill_proc, popen, sockbox

OK_RE = re.compile(r"^connected to (\S+) seq=(\d+) time=(\d+\.\d{3}) ms$")
STATS_RE = re.compile(r"^(\d+) sent, (\d+) ok, (\d+) failed \((\d+) refused, (\d+) timed out, "
                      r"(\d+) unresolved(?:, (\d+) other)?\), ([\d.]+)% failed$")
RTT_RE = re.compile(r"^rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms$")


def closed_port():
    """A bound, non-listening socket: its port refuses connections while it is held."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def stats(out, target):
    lines = out.splitlines()
    i = lines.index(f"--- {target} tcp ping statistics ---")
    m = STATS_RE.match(lines[i + 1])
    assert m, lines[i + 1]
    keys = ("sent", "ok", "failed", "refused", "timed_out", "unresolved")
    d = {k: int(v) for k, v in zip(keys, m.groups())}
    d["other"] = int(m.group(7) or 0)
    d["pct"] = float(m.group(8))
    d["rtt"] = RTT_RE.match(lines[i + 2]) if len(lines) > i + 2 else None
    return lines[:i], d


def test_ping_running_server_all_ok(serve):
    srv = serve("-l", "127.0.0.1:0")
    r = sockbox("ping", "-c", "3", "-i", "100ms", srv.addr)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 0, (out, err)
    attempts, d = stats(out, srv.addr)
    assert attempts[-1] == ""
    attempts = attempts[:-1]
    assert len(attempts) == 3, out
    for seq, line in enumerate(attempts, 1):
        m = OK_RE.match(line)
        assert m and m.group(1) == srv.addr and int(m.group(2)) == seq, line
    assert (d["sent"], d["ok"], d["failed"], d["pct"]) == (3, 3, 0, 0.0)
    assert d["rtt"], out
    mn, avg, mx, mdev = map(float, d["rtt"].groups())
    assert mn <= avg <= mx and mdev >= 0
    # Each attempt was a real connection that the server saw open and close, with no data.
    evs = srv.wait_event("close", count=3)
    assert all(e.get("in") == "0" for e in evs[:3]), evs


def test_ping_closed_port_all_refused_exits_1():
    s, port = closed_port()
    try:
        r = sockbox("ping", "-c", "3", "-i", "100ms", f"127.0.0.1:{port}")
    finally:
        s.close()
    out = r.stdout.decode()
    assert r.returncode == 1, out
    attempts, d = stats(out, f"127.0.0.1:{port}")
    assert [a for a in attempts if a] == [f"refused by 127.0.0.1:{port} seq={i}"
                                          for i in (1, 2, 3)]
    assert (d["sent"], d["ok"], d["refused"], d["pct"]) == (3, 0, 3, 100.0)
    assert d["rtt"] is None


def test_ping_unresolvable_name_is_counted_and_named():
    r = sockbox("ping", "-c", "2", "-i", "100ms", "no-such-host.invalid:80")
    out = r.stdout.decode()
    assert r.returncode == 1, out
    attempts, d = stats(out, "no-such-host.invalid:80")
    assert re.match(r"^cannot resolve no-such-host\.invalid seq=1: \S", attempts[0]), out
    assert (d["sent"], d["unresolved"], d["failed"]) == (2, 2, 2)


def test_ping_full_backlog_times_out():
    with full_backlog_port() as port:
        r = sockbox("ping", "-c", "1", "-W", "300ms", f"127.0.0.1:{port}")
    out = r.stdout.decode()
    assert r.returncode == 1, out
    assert re.match(r"^timed out seq=1 \(after \d+ ms\)$", out.splitlines()[0]), out
    assert stats(out, f"127.0.0.1:{port}")[1]["timed_out"] == 1


def test_ping_json_is_one_document(serve):
    srv = serve("-l", "127.0.0.1:0")
    s, port = closed_port()
    try:
        ok = sockbox("ping", "--json", "-c", "2", "-i", "50ms", srv.addr)
        bad = sockbox("ping", "-c", "1", "--json", f"127.0.0.1:{port}")
    finally:
        s.close()
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["addr"] == srv.addr
    assert (doc["sent"], doc["ok"], doc["failed"], doc["refused"], doc["timed_out"],
            doc["unresolved"]) == (2, 2, 0, 0, 0, 0)
    assert set(doc["rtt_ms"]) == {"min", "avg", "max", "mdev"}
    assert [a["seq"] for a in doc["attempts"]] == [1, 2]
    assert all(a["result"] == "ok" and a["peer"] == srv.addr for a in doc["attempts"])
    assert bad.returncode == 1
    doc = json.loads(bad.stdout)
    assert doc["refused"] == 1 and doc["rtt_ms"] is None
    assert doc["attempts"][0]["result"] == "refused"
    assert doc["attempts"][0]["error"] == "connection refused"


def test_sigint_prints_the_summary_and_exits(serve):
    srv = serve("-l", "127.0.0.1:0")
    p = popen([SOCKBOX_BIN, "ping", "-i", "100ms", srv.addr], stdout=subprocess.PIPE,
              stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        first = p.stdout.readline().decode()
        assert OK_RE.match(first.strip()), first
        assert time.monotonic() < deadline
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
    finally:
        kill_proc(p, signal.SIGKILL)
    assert p.returncode == 0, err
    _, d = stats(first + out.decode(), srv.addr)
    assert d["sent"] >= 1 and d["ok"] == d["sent"]


@pytest.mark.parametrize("args", [
    [],
    ["-c", "0", "127.0.0.1:1"],
    ["-c", "x", "127.0.0.1:1"],
    ["-i", "soon", "127.0.0.1:1"],
    ["-i", "0", "127.0.0.1:1"],
    ["-W", "5x", "127.0.0.1:1"],
    ["127.0.0.1"],
    ["udp://127.0.0.1:7"],
    ["127.0.0.1:0"],
    ["--bogus", "127.0.0.1:1"],
    ["a:1", "b:2", "c:3"],
])
def test_usage_errors_exit_2(args):
    r = sockbox("ping", *args)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert err.startswith("sockbox: "), err
    assert r.stdout == b""


def test_host_port_form_with_family_flag(serve):
    srv = serve("-l", "127.0.0.1:0")
    r = sockbox("ping", "-c", "1", "-4", "127.0.0.1", str(srv.port))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith(f"connected to 127.0.0.1:{srv.port} seq=1 ")
