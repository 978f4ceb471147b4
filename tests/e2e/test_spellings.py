"""The spellings people type, and the rough edges a new user met (issue: "in an nc user's
hands"): each accepted, or refused with a message that says what to type instead."""

import os
import re
import socket
import subprocess
import time

import pytest

from conftest import (IO_TIMEOUT, SOCKBOX_BIN, Server, have_ipv6_loopback, kill_proc, popen,
                      sockbox)


def test_serve_takes_a_bare_port_or_an_address_as_a_word(serve):
    srv = serve("0")  # serve 5000
    assert srv.addrs[0].startswith("127.0.0.1:")
    line = next(l for l in srv.lines if l.startswith("listening on"))
    assert "loopback only" in line, line  # and says so
    srv2 = serve("reverse", "127.0.0.1:0")  # serve SERVICE ADDR
    with srv2.connect() as s:
        s.sendall(b"abc\n")
        assert s.recv(10) == b"cba\n"
    srv3 = serve("-l", "0")  # serve -l 5000
    assert srv3.addrs[0].startswith("127.0.0.1:")
    srv4 = serve("echo", ":0")  # :PORT: no host given, so loopback too, and says so
    assert srv4.addrs[0].startswith("127.0.0.1:"), srv4.addrs
    line = next(l for l in srv4.lines if l.startswith("listening on"))
    assert "loopback only" in line, line
    srv5 = serve("echo", "*:0")  # every interface is asked for by name, and said
    line = next(l for l in srv5.lines if l.startswith("listening on"))
    assert "(every interface" in line and ("[::]:" in line or "0.0.0.0:" in line), line


def test_listen_without_a_host_is_loopback_and_says_so():
    for args in (["0"], [":0"], ["-p", "0"]):
        p = popen([SOCKBOX_BIN, "listen", *args], stdin=subprocess.PIPE,
                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            line = p.stderr.readline().decode()
            assert line.startswith("listening on 127.0.0.1:"), (args, line)
            assert "loopback only" in line, (args, line)
        finally:
            kill_proc(p)


@pytest.mark.parametrize("args,says", [
    (["-l", "127.0.0.1:5063", "-l", "127.0.0.1:5063"], "-l 127.0.0.1:5063 is given twice"),
    (["-l", "*:5064", "-l", "127.0.0.1:5064"], "overlap: *:5064 listens on every address"),
    (["-l", ":5067", "-l", "127.0.0.1:5067"], "are the same address (127.0.0.1)"),
    (["5068", "-l", "127.0.0.1:5068"], "are the same address (127.0.0.1)"),
    (["-l", "udp://127.0.0.1:5065", "-l", "udp://*:5065"], "overlap"),
    (["-4", "-6"], "-4 and -6 together"),
    (["-6", "-l", "127.0.0.1:5066"], "127.0.0.1 is an IPv4 address; -6 asks for IPv6"),
    (["-l", "127.0.0.1:-1"], "port out of range"),
    (["--idle-timeout", "0.4ms"], "less than 1ms"),
    (["rverse"], "did you mean 'reverse'?"),
])
def test_serve_refuses_with_a_reason(args, says):
    r = sockbox("serve", *args, timeout=15)
    assert r.returncode == 2, r.stderr
    assert says in r.stderr.decode(), r.stderr


def test_a_regular_file_at_a_unix_path_is_named_and_never_removed(short_tmp):
    path = os.path.join(short_tmp, "rf")
    open(path, "w").close()
    r = sockbox("serve", "-l", f"unix:{path}", timeout=15)
    assert r.returncode == 1
    assert "the path exists and is not a socket" in r.stderr.decode(), r.stderr
    r = sockbox("port", f"unix:{path}", timeout=15)
    assert r.returncode == 1
    assert "in use by a regular file, not a socket" in r.stdout.decode(), r.stdout
    r = sockbox("listen", f"unix:{path}", timeout=15)
    assert r.returncode == 1 and b"not a socket" in r.stderr
    assert os.path.isfile(path)


def test_port_takes_address_forms(serve):
    srv = serve("-l", "127.0.0.1:0")
    for arg in (f":{srv.port}", f"127.0.0.1:{srv.port}", f"tcp://127.0.0.1:{srv.port}"):
        r = sockbox("port", arg, timeout=15)
        assert r.returncode == 1, (arg, r.stdout, r.stderr)
        assert f"{srv.port}/tcp: in use" in r.stdout.decode()
    r = sockbox("port", "unix:", timeout=15)
    assert r.returncode == 2 and b"missing path" in r.stderr


def test_bench_takes_host_port_like_connect(serve):
    srv = serve("-l", "127.0.0.1:0")
    r = sockbox("bench", "127.0.0.1", str(srv.port), "-n", "20", "--json", timeout=30)
    assert r.returncode == 0, r.stderr
    import json
    doc = json.loads(r.stdout.decode().splitlines()[-1])
    assert doc["messages"] == 20
    assert doc["duration_s"] > 0  # microseconds: never 0.000 beside a rate


def test_resolve_host_port_resolves_the_host_and_says_the_port_is_unused():
    r = sockbox("resolve", "localhost:5050", timeout=15)
    assert r.returncode == 0, r.stderr
    assert "127.0.0.1" in r.stdout.decode()
    assert "the port, 5050, is not used" in r.stderr.decode()


def test_help_command_and_suggestions():
    r = sockbox("help", "scan", timeout=15)
    assert r.returncode == 0 and r.stdout.decode().startswith("Usage: sockbox scan")
    r = sockbox("serv", timeout=15)
    assert r.returncode == 2 and b"did you mean 'serve'?" in r.stderr
    r = sockbox("help", "lss", timeout=15)
    assert r.returncode == 2 and b"did you mean 'ls'?" in r.stderr


def test_ping_over_unix_says_unix(serve, short_tmp):
    path = os.path.join(short_tmp, "p.sock")
    serve("-l", f"unix:{path}")
    r = sockbox("ping", "-c", "1", f"unix:{path}", timeout=15)
    assert r.returncode == 0, r.stderr
    assert f"--- unix:{path} unix ping statistics ---" in r.stdout.decode()
    assert "tcp ping" not in r.stdout.decode()


def test_a_stdout_failure_is_blamed_on_stdout(serve, tmp_path):
    srv = serve("-l", "127.0.0.1:0")
    big = tmp_path / "big"
    big.write_bytes(os.urandom(1 << 20))
    with open(big, "rb") as src, open("/dev/full", "wb") as full:
        r = sockbox("connect", srv.addrs[0], stdin=src, stdout=full, capture=False, timeout=30)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "cannot write to stdout: no space left on device" in err, err
    assert "connection to" not in err, err


@pytest.mark.parametrize("argv,says", [
    (["connect", "-6", "127.0.0.1:9"], "127.0.0.1 is an IPv4 address; -6 asks for IPv6"),
    (["connect", "-4", "[::1]:9"], "::1 is an IPv6 address; -4 asks for IPv4"),
    (["connect", "127.0.0.1", "-1"], "port out of range"),
    (["connect", "-w", "86400000ms", "127.0.0.1:9"], "too long (at most 1h)"),
    (["connect", "-i", "0.2ms", "127.0.0.1:9"], "less than 1ms"),
    (["ping", "-6", "-c1", "127.0.0.1:9"], "-6 asks for IPv6"),
])
def test_client_spellings_refused_with_what_to_type(argv, says):
    r = sockbox(*argv, timeout=15)
    assert r.returncode == 2, r.stderr
    assert says in r.stderr.decode(), r.stderr


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback")
def test_held_by_names_the_listener_on_the_address_asked(serve, procs):
    """[::1]:P in use while 127.0.0.1:P is also taken: the message names the [::1] holder."""
    for _ in range(10):
        v4 = socket.socket()
        v4.bind(("127.0.0.1", 0))
        port = v4.getsockname()[1]
        v6 = socket.socket(socket.AF_INET6)
        try:
            v6.bind(("::1", port))
        except OSError:
            v4.close()
            v6.close()
            continue
        v4.listen(1)
        v6.listen(1)
        break
    else:
        pytest.skip("no port free on both loopbacks")
    try:
        r = sockbox("serve", "-l", f"[::1]:{port}", timeout=15)
        assert r.returncode == 1
        assert f"listening on [::1]:{port}" in r.stderr.decode(), r.stderr
    finally:
        v4.close()
        v6.close()


def test_a_link_local_scope_is_kept_in_messages():
    r = sockbox("serve", "-l", "[fe80::1%lo]:0", timeout=15)
    assert r.returncode != 0
    assert "[fe80::1%lo]:0" in r.stderr.decode(), r.stderr


def test_wording_rough_edges():
    r = sockbox("bench", "--help", timeout=15)
    help_text = " ".join(r.stdout.decode().split())
    assert "or exit 5 when the first connect times out" in help_text
    r = sockbox("port", "--bogus", "5050", timeout=15)
    assert r.returncode == 2 and b"--bogus: unknown option" in r.stderr
    r = sockbox("port", "-x", "5050", timeout=15)
    assert r.returncode == 2 and b"-x: unknown option" in r.stderr
    from conftest import REPO
    with open(os.path.join(REPO, "man", "sockbox.1"), encoding="utf-8") as f:
        synopsis = f.read().split(".SH SYNOPSIS")[1].split(".SH ")[0]
    assert ".B sockbox ping\n.RI [ options ]\n.I HOST PORT\n" in synopsis
