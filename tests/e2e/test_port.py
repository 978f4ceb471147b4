"""sockbox port: free or in use, and by whom (listener vs clients, SO_REUSEPORT, IPv4/IPv6),
and `sockbox serve` naming the holder of an address in use. Every port used here was opened
by the test itself."""

import json
import os
import pwd
import re
import select
import signal
import socket
import subprocess

import pytest

from conftest import (HERE, PYTHON, REPO, IO_TIMEOUT, free_port, kill_proc, needs_ipv6, popen,
                      sockbox)

HOLDER = os.path.join(HERE, "port_holder.py")


def start_holder(procs, *args):
    """port_holder.py ARGS in its own process; returns (proc, port)."""
    p = popen([PYTHON, HOLDER, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE)
    procs.append(p)
    ready, _, _ = select.select([p.stdout], [], [], IO_TIMEOUT)
    line = p.stdout.readline() if ready else b""
    if not line.strip().isdigit():
        kill_proc(p, signal.SIGKILL)
        pytest.fail(f"port_holder {args} did not start: {p.stderr.read()!r:.500}")
    return p, int(line)


def port_json(spec):
    r = sockbox("port", spec, "--json", timeout=30)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def port_json_and_text(spec):
    """`sockbox port SPEC --json` (exit code, document) and the text table, taken together."""
    code, doc = port_json(spec)
    return code, doc, sockbox("port", spec, timeout=30).stdout.decode()


def listener_rows(text):
    """The table rows whose role is 'listener': [(pid, command, local, covers)]."""
    rows = []
    for line in text.splitlines():
        f = line.split()
        if f and f[0] == "listener":
            rows.append((f[1], f[2], f[4], " ".join(f[7:])))
    return rows


def test_a_python_listener_is_named_by_pid_and_command(procs):
    p, port = start_holder(procs)
    r = sockbox("port", f"{port}/tcp", timeout=30)
    out = r.stdout.decode()
    assert r.returncode == 1, out + r.stderr.decode()
    assert out.startswith(f"{port}/tcp: in use\n"), out
    assert listener_rows(out) == [(str(p.pid), "python3", f"127.0.0.1:{port}", "IPv4")], out
    user = [line.split()[3] for line in out.splitlines() if line.startswith("  listener ")]
    assert user == [pwd.getpwuid(os.getuid()).pw_name], out


def test_with_a_client_connected_the_holder_is_still_the_listener(procs):
    p, port = start_holder(procs)
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as c:
        client_port = c.getsockname()[1]
        code, doc, text = port_json_and_text(f"{port}/tcp")
    assert code == 1
    res = doc["results"][0]
    assert res["listener_pids"] == [p.pid]
    roles = {}
    for s in res["sockets"]:
        roles.setdefault(s["role"], []).append(s)
    assert [pr["pid"] for s in roles["listener"] for pr in s["processes"]] == [p.pid]
    assert roles["connection"][0]["remote"] == f"127.0.0.1:{client_port}"
    assert roles["connection"][0]["processes"][0]["pid"] == p.pid  # accepted by the holder
    client = roles["client"][0]
    assert client["local"] == f"127.0.0.1:{client_port}"
    assert [pr["pid"] for pr in client["processes"]] == [os.getpid()]
    assert listener_rows(text)[0][0] == str(p.pid), text
    assert re.search(rf"^  client\s+{os.getpid()}\s", text, re.M), text


def test_a_connected_udp_client_is_a_client_and_never_the_holder(procs):
    p, port = start_holder(procs, "--udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.connect(("127.0.0.1", port))
        client_port = c.getsockname()[1]
        code, doc, text = port_json_and_text(f"{port}/udp")
    assert code == 1
    res = doc["results"][0]
    assert res["listener_pids"] == [p.pid]
    clients = [s for s in res["sockets"] if s["role"] == "client"]
    assert [(s["local"], s["remote"]) for s in clients] == [
        (f"127.0.0.1:{client_port}", f"127.0.0.1:{port}")], res
    assert [pr["pid"] for pr in clients[0]["processes"]] == [os.getpid()]
    assert listener_rows(text)[0][:2] == (str(p.pid), "python3"), text
    assert re.search(rf"^  client\s+{os.getpid()}\s", text, re.M), text


def test_a_connection_not_yet_accepted_is_said_to_wait_in_the_accept_queue():
    with socket.socket() as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen(4)  # never accepts
        port = lst.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT):
            r = sockbox("port", f"{port}/tcp", timeout=30)
    out = r.stdout.decode()
    assert r.returncode == 1, out
    assert re.search(r"^  connection\s+-\s+-\s", out, re.M), out
    assert "ESTAB: not accepted yet (in the listener's accept queue)" in out, out


def test_a_free_port_reports_free_and_exits_0():
    """A port that was free a moment ago may be a stranger's by the time sockbox looks (other
    programs churn through loopback ports): a round where sockbox says "in use" and someone
    really holds it is not counted; a few rounds give one with the port left alone."""
    for _ in range(20):
        port = free_port()
        r = sockbox("port", f"{port}/tcp", timeout=30)
        code, doc = port_json(f"{port}/tcp")
        if r.returncode == 1 or code == 1:
            assert listener_or_connection_seen(r.stdout.decode(), doc), r.stdout
            continue  # a stranger took it meanwhile: another port
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.decode().startswith(f"{port}/tcp: free")
        assert code == 0 and doc["in_use"] is False and doc["results"][0]["bindable"] is True
        return
    pytest.fail("every free port was taken by someone else before sockbox looked")


def listener_or_connection_seen(text, doc):
    """sockbox said "in use": true when it also showed what uses it (not a false alarm)."""
    return bool(doc["results"][0]["sockets"]) or "binding it fails" in text


def test_without_a_protocol_both_tcp_and_udp_are_checked(procs):
    p, port = start_holder(procs, "--udp")
    r = sockbox("port", str(port), timeout=30)
    out = r.stdout.decode()
    assert r.returncode == 1, out
    assert re.search(rf"^{port}/tcp: ", out, re.M), out
    assert re.search(rf"^{port}/udp: in use$", out, re.M), out
    assert listener_rows(out.split(f"{port}/udp:")[1])[0][:2] == (str(p.pid), "python3")


def test_processes_sharing_a_port_with_so_reuseport_are_all_reported(procs):
    a, port = start_holder(procs, "--reuseport")
    b, _ = start_holder(procs, "--reuseport", "--port", str(port))
    r = sockbox("port", f"{port}/tcp", timeout=30)
    out = r.stdout.decode()
    assert r.returncode == 1
    pids = sorted([a.pid, b.pid])
    assert f"shared by 2 processes (SO_REUSEPORT): pids {pids[0]}, {pids[1]}" in out, out
    assert sorted(int(row[0]) for row in listener_rows(out)) == pids
    _, doc = port_json(f"{port}/tcp")
    assert doc["results"][0]["shared"] is True
    assert doc["results"][0]["listener_pids"] == pids


@pytest.mark.parametrize("family,covers", [
    pytest.param("4", "IPv4", id="ipv4"),
    pytest.param("6", "IPv6", id="ipv6-only", marks=needs_ipv6),
    pytest.param("dual", "IPv4 and IPv6", id="dual-stack", marks=needs_ipv6),
])
def test_the_listener_says_whether_it_covers_ipv4_ipv6_or_both(procs, family, covers):
    host = ["--host", "0.0.0.0"] if family == "4" else []
    p, port = start_holder(procs, "--family", family, *host)
    r = sockbox("port", f"{port}/tcp", timeout=30)
    out = r.stdout.decode()
    assert r.returncode == 1
    assert f"  listeners cover {covers}\n" in out, out
    assert listener_rows(out)[0][3] == covers
    _, doc = port_json(f"{port}/tcp")
    assert doc["results"][0]["listeners_cover"] == covers


def test_an_owner_hidden_by_permissions_is_said_so_not_left_blank(procs):
    if os.geteuid() != 0:
        pytest.skip("needs root to run sockbox as another user")
    p, port = start_holder(procs)
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        os.environ.get("SOCKBOX_BIN") or os.path.join(REPO, "build", "sockbox"),
                        "port", f"{port}/tcp"], capture_output=True, timeout=30)
    if r.returncode in (126, 127):
        pytest.skip(f"nobody cannot run the binary: {r.stderr!r}")
    out = r.stdout.decode()
    assert r.returncode == 1, out + r.stderr.decode()
    assert re.search(r"owner not visible: \d+ processes' fds could not be read \(permission "
                     r"denied; run as root", out), out
    assert listener_rows(out)[0][:2] == ("-", "-")


@pytest.mark.parametrize("args", [[], ["0"], ["65536"], ["http"], ["80/sctp"], ["/tcp"],
                                  ["80", "81"], ["--bogus", "80"]])
def test_bad_arguments_are_usage_errors(args):
    r = sockbox("port", *args, timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.decode().startswith("sockbox: "), r.stderr


def test_serve_on_a_taken_port_names_the_holder_and_exits_1(procs):
    p, port = start_holder(procs, "--host", "0.0.0.0")
    r = sockbox("serve", "-l", f"127.0.0.1:{port}", timeout=30)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert (f"sockbox: cannot listen on 127.0.0.1:{port}: address in use (held by pid {p.pid}, "
            f"python3, listening on 0.0.0.0:{port})") in err, err


def test_serve_on_a_taken_unix_path_names_the_holder(serve, short_tmp):
    path = os.path.join(short_tmp, "s.sock")
    srv = serve("-l", f"unix:{path}")
    r = sockbox("serve", "-l", f"unix:{path}", timeout=30)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert (f"address in use (held by pid {srv.pid}, sockbox, listening on unix:{path})"
            in err), err
