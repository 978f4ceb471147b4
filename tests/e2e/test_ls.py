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

COLUMNS = ["COMMAND", "PID", "FD", "USER", "PROTO", "LOCAL", "REMOTE", "STATE", "RECV-Q", "SEND-Q"]


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


def ss_sockets(mine):
    """`ss -tuanp` rows whose (local, peer) pair is one of mine, as comparable tuples. Only
    the test's own sockets are compared: strangers may open and close sockets on the same
    port numbers (a connect storm may even reach our listener) between the two listings.
    A listener's queue sizes are left out for the same reason."""
    r = run(["ss", "-tuanp"], timeout=30)
    assert r.returncode == 0, r.stderr
    out = set()
    for line in r.stdout.decode().splitlines()[1:]:
        f = line.split(None, 6)
        if len(f) < 6:
            continue
        netid, state, rq, sq, local, peer = f[:6]
        local, peer = _ss_addr(local), _ss_addr(peer)
        if (netid, local, peer) not in mine:
            continue
        pids = frozenset(int(p) for p in re.findall(r"pid=(\d+)", f[6] if len(f) > 6 else ""))
        queues = (None, None) if state == "LISTEN" else (int(rq), int(sq))
        out.add((netid, local, peer, state, *queues, pids))
    return out


def sockbox_sockets(mine):
    out = set()
    for s in ls_json():
        proto = s["proto"].rstrip("6")
        if (proto, s["local"], s["remote"]) not in mine:
            continue
        queues = (None, None) if s["state"] == "LISTEN" else (s["recv_q"], s["send_q"])
        out.add((proto, s["local"], s["remote"], s["state"], *queues,
                 frozenset(p["pid"] for p in s["processes"])))
    return out


def _name(sa):
    return f"{sa[0]}:{sa[1]}"


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
        srv_tcp, srv_udp = f"127.0.0.1:{srv.port}", f"127.0.0.1:{udp_port}"
        mine = {("tcp", srv_tcp, "*"), ("udp", srv_udp, "*"),
                ("tcp", f"127.0.0.1:{hport}", "*"),
                ("udp", _name(udp.getsockname()), srv_udp)}
        for c in clients + [unread]:
            local, peer = _name(c.getsockname()), _name(c.getpeername())
            mine |= {("tcp", local, peer), ("tcp", peer, local)}
        got, theirs = sockbox_sockets(mine), ss_sockets(mine)
        assert got == theirs, f"only sockbox: {got - theirs}\nonly ss: {theirs - got}"
        # and the cases the comparison must have covered
        states = {(s[0], s[3]) for s in got}
        assert {("tcp", "LISTEN"), ("tcp", "ESTAB"), ("udp", "UNCONN"), ("udp", "ESTAB")} <= states
        assert any(s[4] == 1000 and holder.pid in s[6] for s in got), got  # Recv-Q
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
        assert [(p["pid"], p["command"]) for p in s["processes"]] == [(srv.pid, "sockbox")]
        assert s["processes"][0]["fd"] >= 3
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


def test_fd_column_is_the_descriptor_in_the_process(serve):
    with socket.socket() as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        port = lst.getsockname()[1]
        rows = [r for r in ls_rows("--listening", "--port", str(port))
                if r["PID"] == str(os.getpid())]
        assert [r["FD"] for r in rows] == [str(lst.fileno())], rows
        j = [s for s in ls_json("--port", str(port)) if s["state"] == "LISTEN"]
        assert j[0]["processes"][0]["fd"] == lst.fileno()


def test_state_port_and_summary_filters(serve):
    srv = serve("-l", "127.0.0.1:0", "--workers", "1")
    other = serve("-l", "127.0.0.1:0", "--workers", "1")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT) as c:
        c.sendall(b"x")
        assert c.recv(1) == b"x"
        mine = _name(c.getsockname())
        est = ls_rows("--state", "established", "--port", str(srv.port))
        assert {(r["LOCAL"], r["STATE"]) for r in est} >= {(mine, "ESTAB")}
        assert all(r["STATE"] == "ESTAB" for r in est)
        lst = ls_rows("--state", "listening", "--port", str(srv.port), "--port", str(other.port))
        assert {r["LOCAL"] for r in lst} == {f"127.0.0.1:{srv.port}", f"127.0.0.1:{other.port}"}
        both = ls_rows("--port", str(srv.port), "--port", str(other.port), "--pid",
                       str(other.pid))
        assert {r["STATE"] for r in both} == {"LISTEN"}
        con = ls_rows("--state", "connected", "--pid", str(os.getpid()), "--tcp")
        assert mine in {r["LOCAL"] for r in con}
        assert all(r["STATE"] not in ("LISTEN", "CLOSE") for r in con)
        # ss's spelling: -n and -p are what ls does anyway
        r = sockbox("ls", "-tlnp", timeout=30)
        assert r.returncode == 0 and r.stdout.decode().split()[:3] == ["COMMAND", "PID", "FD"]
        r = sockbox("ls", "--summary", "--tcp", "--pid", str(srv.pid), timeout=30)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.decode().splitlines()
        assert lines[0] == "Total: 2 sockets", lines
        assert lines[1].split(None, 2)[:2] == ["TCP", "2"] and "LISTEN 1" in lines[1] \
            and "ESTAB 1" in lines[1], lines
    r = sockbox("ls", "--state", "bogus", timeout=30)
    assert r.returncode == 2 and b"--state bogus" in r.stderr


def test_no_time_wait_leaves_them_out(serve):
    srv = serve("-l", "127.0.0.1:0", "--workers", "1")
    # the client closes first, so the TIME-WAIT is on the client's side, on the server port
    c = socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT)
    local = _name(c.getsockname())
    c.close()
    import time
    deadline = time.monotonic() + IO_TIMEOUT
    while time.monotonic() < deadline:
        rows = ls_rows("--tcp", "--port", str(srv.port))
        if any(r["LOCAL"] == local and r["STATE"] == "TIME-WAIT" for r in rows):
            break
        time.sleep(0.05)
    else:
        pytest.skip("no TIME-WAIT socket appeared for our connection")
    rows = ls_rows("--tcp", "--no-time-wait", "--port", str(srv.port))
    assert not any(r["STATE"] == "TIME-WAIT" for r in rows), rows
    assert any(r["STATE"] == "LISTEN" for r in rows)


def test_control_bytes_in_a_socket_path_are_escaped(short_tmp):
    path = os.path.join(short_tmp, "a\nFAKE\x1b[31m")
    with socket.socket(socket.AF_UNIX) as u:
        u.bind(path)
        u.listen(1)
        r = sockbox("ls", "--unix", "--listening", "--pid", str(os.getpid()), timeout=30)
        out = r.stdout.decode()
        assert "\x1b" not in out and "\nFAKE" not in out, out
        assert "a\\nFAKE\\x1b[31m" in out, out
        r = sockbox("port", f"unix:{path}", timeout=30)
        assert "\x1b" not in r.stdout.decode() + r.stderr.decode()
