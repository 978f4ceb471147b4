"""Usage errors, listen failures, --help."""

import os
import re
import socket

import pytest

from conftest import REPO, Server, sockbox

BAD_USAGE = [
    pytest.param(["nosuchservice", "-l", "127.0.0.1:0"], id="unknown-service"),
    pytest.param(["-l", "127.0.0.1"], id="addr-without-port"),
    pytest.param(["-l", "127.0.0.1:99999"], id="port-out-of-range"),
    pytest.param(["-l", "[::1:0"], id="unclosed-bracket"),
    pytest.param(["-l", "bogus://127.0.0.1:0"], id="unknown-scheme"),
    pytest.param(["-l"], id="missing-value"),
    pytest.param(["-l", "127.0.0.1:0", "--workers", "0"], id="workers-0"),
    pytest.param(["-l", "127.0.0.1:0", "--workers", "x"], id="workers-x"),
    pytest.param(["-l", "127.0.0.1:0", "--workers", "-1"], id="workers-negative"),
    pytest.param(["-l", "127.0.0.1:0", "--max-conns", "lots"], id="max-conns-x"),
    pytest.param(["-l", "127.0.0.1:0", "--idle-timeout", "5x"], id="idle-timeout-5x"),
    pytest.param(["-l", "127.0.0.1:0", "--drain-timeout", "soon"], id="drain-timeout-x"),
    pytest.param(["-l", "127.0.0.1:0", "--log-format", "yaml"], id="log-format-yaml"),
    pytest.param(["-l", "127.0.0.1:0", "--no-such-flag"], id="unknown-flag"),
]


@pytest.mark.parametrize("args", BAD_USAGE)
def test_serve_usage_errors_exit_2(args):
    r = sockbox("serve", *args, timeout=15)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 2, f"exit {r.returncode}, stderr: {err!r}"
    assert re.search(r"^sockbox: \S", err, re.M), f"no 'sockbox: ...' message: {err!r}"
    assert "listening on" not in err


def test_listen_failure_address_in_use_exits_1():
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # no SO_REUSEPORT
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        r = sockbox("serve", "-l", f"127.0.0.1:{port}", timeout=15)
        err = r.stderr.decode(errors="replace")
        assert r.returncode == 1, f"exit {r.returncode}, stderr: {err!r}"
        assert re.search(rf"^sockbox: cannot listen on 127\.0\.0\.1:{port}: address in use",
                         err, re.M), err
    finally:
        holder.close()


def test_listen_failure_on_second_listener_exits_1():
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        r = sockbox("serve", "-l", "127.0.0.1:0", "-l", f"127.0.0.1:{port}", timeout=15)
        err = r.stderr.decode(errors="replace")
        assert r.returncode == 1, f"exit {r.returncode}, stderr: {err!r}"
        assert f"cannot listen on 127.0.0.1:{port}: address in use" in err, err
    finally:
        holder.close()


def test_default_listener_is_127_0_0_1_port_5050():
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind(("127.0.0.1", 5050))
    except OSError:
        pytest.skip("127.0.0.1:5050 is in use on this machine")
    finally:
        probe.close()
    srv = Server([])
    try:
        try:
            srv.start()
        except RuntimeError as e:
            if "address in use" in str(e):
                pytest.skip("127.0.0.1:5050 was taken meanwhile")
            raise
        assert srv.addrs == ["127.0.0.1:5050"]
        with srv.connect() as s:
            s.sendall(b"default")
            s.settimeout(10)
            assert s.recv(7) == b"default"
    finally:
        rc, err = srv.stop()
    assert rc == 0, err


def _mentions(text, flag):
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


def test_serve_help_mentions_every_flag():
    r = sockbox("serve", "--help", timeout=15)
    assert r.returncode == 0, r.stderr
    text = (r.stdout + r.stderr).decode(errors="replace")
    for flag in ("-l", "--workers", "--max-conns", "--idle-timeout", "--drain-timeout", "-4",
                 "-6", "--log-format", "-q", "-v"):
        assert _mentions(text, flag), f"serve --help does not mention {flag}:\n{text}"


def test_connect_help_mentions_every_flag():
    r = sockbox("connect", "--help", timeout=15)
    assert r.returncode == 0, r.stderr
    text = (r.stdout + r.stderr).decode(errors="replace")
    for flag in ("-u", "-4", "-6", "-w", "-q"):
        assert _mentions(text, flag), f"connect --help does not mention {flag}:\n{text}"


COMMANDS = ["serve", "connect", "listen", "send", "resolve", "port", "ls", "scan", "ping",
            "bench"]


def test_every_command_in_the_usage_is_checked_against_the_man_page():
    r = sockbox("--help", timeout=15)
    assert r.returncode == 0, r.stderr
    listed = re.findall(r"(?m)^  ([a-z]+)\s{2,}\S", r.stdout.decode())
    assert listed == COMMANDS, f"sockbox --help lists {listed}; update COMMANDS and the man page"


def _help_flags(*command):
    r = sockbox(*command, "--help", timeout=15)
    assert r.returncode == 0, r.stderr
    flags = set()
    for line in r.stdout.decode().splitlines():
        # "  -l, --listen ADDR  ...", "      --json  ...", "  -4, -6  ..."
        m = re.match(r"\s+((?:--?[A-Za-z0-9][\w-]*(?:, )?)+)(?:\s|$)", line)
        if m:
            flags |= set(re.findall(r"--?[A-Za-z0-9][\w-]*", m.group(1)))
    return flags


@pytest.mark.parametrize("command", COMMANDS)
def test_man_page_documents_every_flag_that_help_lists(command):
    """The man page stays in step with the flags: every option --help lists is in the
    command's own section, and the command is in the SYNOPSIS."""
    flags = _help_flags(command)
    assert {"-h", "--help"} <= flags, f"could not read the flags from --help: {flags}"
    with open(os.path.join(REPO, "man", "sockbox.1"), encoding="utf-8") as f:
        # troff writes '-' as '\-'; undo it to compare
        man = f.read().replace("\\-", "-")
    section = re.search(rf"(?ms)^\.SH {command.upper()}\n(.*?)^\.SH ", man)
    assert section, f"man/sockbox.1 has no .SH {command.upper()} section"
    missing = sorted(flag for flag in flags if flag not in section.group(1))
    assert not missing, f"man/sockbox.1 lacks {command} flags {missing}"
    synopsis = man.split(".SH SYNOPSIS")[1].split(".SH ")[0]
    assert f".B sockbox {command}\n" in synopsis, f"sockbox {command} is not in the SYNOPSIS"


@pytest.mark.parametrize("sub", ["plot", "merge"])
def test_man_page_documents_bench_subcommands(sub):
    flags = _help_flags("bench", sub)
    assert {"-h", "--help", "-o"} <= flags, flags
    with open(os.path.join(REPO, "man", "sockbox.1"), encoding="utf-8") as f:
        man = f.read().replace("\\-", "-")
    section = re.search(rf"(?ms)^\.SS bench {sub}\n(.*?)^\.S[HS] ", man)
    assert section, f"man/sockbox.1 has no .SS bench {sub}"
    missing = sorted(f for f in flags - {"-h", "--help"} if f not in section.group(1))
    assert not missing, f"man/sockbox.1 lacks bench {sub} flags {missing}"
    synopsis = man.split(".SH SYNOPSIS")[1].split(".SH ")[0]
    assert f".B sockbox bench {sub}\n" in synopsis
