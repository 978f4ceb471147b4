"""sockbox ls: our own servers and connections listed with their processes, in agreement with
`ss -tuanp` on the same ports; filters, --json, unix sockets. Only ports and paths the test
opened are looked at."""

import json
import os
import re
import socket

import pytest

from conftest import IO_TIMEOUT, needs, run, sockbox
from test_port import start_holder

COLUMNS = ["COMMAND", "PID", "USER", "PROTO", "LOCAL", "REMOTE", "STATE", "RECV-Q", "SEND-Q"]


def ls_rows(*args):
    """sockbox ls ARGS -> list of dicts keyed by COLUMNS (the header is checked)."""
    r = sockbox("ls", *args, timeout=30)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines and lines[0].split() == COLUMNS, lines[:1]
    rows = [dict(zip(COLUMNS, line.split())) for line in lines[1:]]
    assert all(len(row) == len(COLUMNS) for row in rows), lines
    return rows


def ls_json(*args):
    r = sockbox("ls", *args, "--json", timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["sockets"]


def port_of(addr):
    return int(addr.rsplit(":", 1)[1]) if addr not in ("*",) and not addr.endswith(":*") else 0


def test_listening_port_lists_our_own_server(serve):
    srv = serve("-l", "127.0.0.1:0", "--workers", "2")
    rows = ls_rows("--listening", "--port", str(srv.port))
    assert len(rows) == 2, rows  # one SO_REUSEPORT socket per worker
    for row in rows:
        assert row["COMMAND"] == "sockbox" and row["PID"] == str(srv.pid), rows
        assert (row["PROTO"], row["LOCAL"], row["REMOTE"], row["STATE"]) == (
            "tcp", f"127.0.0.1:{srv.port}", "*", "LISTEN"), rows


# ---- agreement with ss


def _ss_addr(a):
    a = re.sub(r"%[^:\]]+", "", a)  # interface scope: 127.0.0.53%lo:53
    if a.endswith(":*"):
        return "*"
    m = re.match(r"^\[::ffff:(\d+\.\d+\.\d+\.\d+)\]:(\d+)$", a)  # sockbox prints v4-mapped as v4
    return f"{m.group(1)}:{m.group(2)}" if m else a


def ss_sockets(ports):
    """`ss -tuanp` rows whose local or remote port is in ports, as comparable tuples.
    TIME-WAIT entries are left out on both sides: no process holds them, and one left by an
    earlier connection to a reused port number can expire between the two listings."""
    r = run(["ss", "-tuanp"], timeout=30)
    assert r.returncode == 0, r.stderr
    out = set()
    for line in r.stdout.decode().splitlines()[1:]:
        f = line.split(None, 6)
        if len(f) < 6:
            continue
        netid, state, rq, sq, local, peer = f[:6]
        local, peer = _ss_addr(local), _ss_addr(peer)
        if (port_of(local) not in ports and port_of(peer) not in ports) or state == "TIME-WAIT":
            continue
        pids = frozenset(int(p) for p in re.findall(r"pid=(\d+)", f[6] if len(f) > 6 else ""))
        out.add((netid, local, peer, state, int(rq), int(sq), pids))
    return out


def sockbox_sockets(ports):
    out = set()
    for s in ls_json():
        if (port_of(s["local"]) not in ports and port_of(s["remote"]) not in ports) or \
                s["state"] == "TIME-WAIT":
            continue
        out.add((s["proto"].rstrip("6"), s["local"], s["remote"], s["state"], s["recv_q"],
                 s["send_q"], frozenset(p["pid"] for p in s["processes"])))
    return out


@needs("ss")
def test_output_matches_ss_for_the_same_sockets(serve, procs):
    srv = serve("-l", "127.0.0.1:0", "-l", "udp://127.0.0.1:0", "--workers", "2")
    udp_port = int(srv.addrs[1].rsplit(":", 1)[1])
    holder, hport = start_holder(procs)  # accepts and never reads: stable queues
    clients = [socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT)
               for _ in range(2)]
    unread = socket.create_connection(("127.0.0.1", hport), timeout=IO_TIMEOUT)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        unread.sendall(b"x" * 1000)
        udp.connect(("127.0.0.1", udp_port))
        for c in clients:  # the server has accepted both once they echo
            c.sendall(b"ping")
            assert c.recv(4) == b"ping"
        ports = {srv.port, udp_port, hport}
        mine, theirs = sockbox_sockets(ports), ss_sockets(ports)
        assert mine == theirs, f"only sockbox: {mine - theirs}\nonly ss: {theirs - mine}"
        # and the cases the comparison must have covered
        states = {(s[0], s[3]) for s in mine}
        assert {("tcp", "LISTEN"), ("tcp", "ESTAB"), ("udp", "UNCONN"), ("udp", "ESTAB")} <= states
        assert any(s[4] == 1000 and holder.pid in s[6] for s in mine), mine  # Recv-Q
    finally:
        for s in clients + [unread, udp]:
            s.close()


def test_json_parses_and_names_processes(serve):
    srv = serve("-l", "127.0.0.1:0", "--workers", "1")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT) as c:
        c.sendall(b"hi")
        assert c.recv(2) == b"hi"
        socks = ls_json("--tcp", "--port", str(srv.port))
        me = c.getsockname()[1]
    by_local = {s["local"]: s for s in socks if s["state"] != "TIME-WAIT"}
    server_side = [s for s in socks if s["local"] == f"127.0.0.1:{srv.port}"]
    assert {s["state"] for s in server_side} == {"LISTEN", "ESTAB"}, socks
    for s in server_side:
        assert s["processes"] == [{"pid": srv.pid, "command": "sockbox"}]
        assert s["inode"] > 0 and isinstance(s["recv_q"], int) and s["user"]
    assert by_local[f"127.0.0.1:{me}"]["processes"][0]["pid"] == os.getpid()


def test_unix_lists_our_unix_listener(serve, short_tmp):
    path = os.path.join(short_tmp, "ls.sock")
    srv = serve("-l", f"unix:{path}")
    rows = [r for r in ls_rows("--unix", "--listening") if r["LOCAL"] == f"unix:{path}"]
    assert [(r["COMMAND"], r["PID"], r["PROTO"], r["STATE"]) for r in rows] == [
        ("sockbox", str(srv.pid), "unix", "LISTEN")], rows
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(IO_TIMEOUT)
        c.connect(path)
        c.sendall(b"u")
        assert c.recv(1) == b"u"
        mine = [r for r in ls_rows("--unix", "--pid", str(os.getpid()))
                if r["REMOTE"] == f"unix:{path}"]
        assert len(mine) == 1 and mine[0]["STATE"] == "ESTAB", mine


def test_pid_keeps_only_that_process(serve):
    srv = serve("-l", "127.0.0.1:0", "-l", "udp://127.0.0.1:0", "--workers", "1")
    rows = ls_rows("--pid", str(srv.pid))
    assert {r["PID"] for r in rows} == {str(srv.pid)}
    assert {(r["PROTO"], r["STATE"]) for r in rows} >= {("tcp", "LISTEN"), ("udp", "UNCONN")}
    assert [r for r in ls_rows("--udp", "--pid", str(srv.pid))] == [
        r for r in rows if r["PROTO"] == "udp"]


@pytest.mark.parametrize("args", [["--port", "0"], ["--port", "x"], ["--port", "70000"],
                                  ["--pid", "-1"], ["--pid"], ["--bogus"], ["extra"]])
def test_bad_arguments_are_usage_errors(args):
    r = sockbox("ls", *args, timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.decode().startswith("sockbox: "), r.stderr
