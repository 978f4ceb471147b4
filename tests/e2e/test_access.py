"""Who may connect: --max-conns-per-ip with clients on 127.0.0.2 and 127.0.0.3, --allow/--deny,
--access-file reloaded on SIGHUP (established connections untouched, new ones follow the new
rules; a broken file is refused with its line and the old rules stay), and --header-timeout
against slowloris clients."""

import signal
import socket
import time

import pytest

from conftest import IO_TIMEOUT, echo_roundtrip, parse_summary, recv_exact


def client_from(ip, srv):
    s = socket.socket()
    s.settimeout(IO_TIMEOUT)
    s.bind((ip, 0))
    s.connect(srv.sockaddr())
    return s


def admitted(s):
    """True when the server echoes on s; False when it closed s at once (refused)."""
    try:
        s.sendall(b"ping")
        return recv_exact(s, 4) == b"ping"
    except (EOFError, ConnectionResetError, BrokenPipeError):
        return False


def try_from(ip, srv):
    with client_from(ip, srv) as s:
        return admitted(s)


def test_max_conns_per_ip_limits_each_address_on_its_own(serve):
    srv = serve("echo", "--max-conns-per-ip", "2", "-l", "127.0.0.1:0")
    held = [client_from("127.0.0.2", srv) for _ in range(2)]
    try:
        assert all(admitted(s) for s in held)
        assert not try_from("127.0.0.2", srv)  # the third from .2
        ev = srv.wait_event("refused")
        assert ev[0]["peer"].startswith("127.0.0.2:")
        assert "--max-conns-per-ip 2 reached for 127.0.0.2" in ev[0]["reason"]
        both3 = [client_from("127.0.0.3", srv) for _ in range(2)]  # .3 has its own count
        assert all(admitted(s) for s in both3)
        for s in both3:
            s.close()
        assert admitted(held[0])  # the admitted ones were never touched
    finally:
        for s in held:
            s.close()
    # once they closed, .2 may connect again (the release happens at the server's close)
    deadline, refused = time.monotonic() + IO_TIMEOUT, 1
    while not try_from("127.0.0.2", srv):  # refused while the server has not yet closed them
        assert time.monotonic() < deadline, "127.0.0.2 was never admitted again"
        refused += 1
        time.sleep(0.05)
    rc, err = srv.stop()
    assert f"{refused} refused over --max-conns-per-ip" in parse_summary(err)["notes"]


def test_allow_and_deny_most_specific_wins(serve):
    srv = serve("echo", "--allow", "127.0.0.0/8", "--deny", "127.0.0.2", "-l", "127.0.0.1:0")
    assert try_from("127.0.0.1", srv)
    assert try_from("127.0.0.3", srv)
    assert not try_from("127.0.0.2", srv)
    ev = srv.wait_event("refused")
    assert ev[0]["reason"] == "denied by 'deny 127.0.0.2/32'"


def test_with_allow_rules_an_address_no_rule_matches_is_refused(serve):
    srv = serve("echo", "--allow", "127.0.0.3/32", "-l", "127.0.0.1:0")
    assert try_from("127.0.0.3", srv)
    assert not try_from("127.0.0.2", srv)
    assert srv.wait_event("refused")[0]["reason"] == "no allow rule matches"


def test_sighup_rereads_the_access_file(serve, tmp_path):
    rules = tmp_path / "access"
    rules.write_text("# loopback, minus .2\nallow 127.0.0.0/8\ndeny 127.0.0.2\n")
    srv = serve("echo", "--access-file", str(rules), "-l", "127.0.0.1:0")
    assert not try_from("127.0.0.2", srv)
    keep3 = client_from("127.0.0.3", srv)
    try:
        assert admitted(keep3)
        # new rules: .2 allowed, .3 denied
        rules.write_text("allow 127.0.0.0/8\ndeny 127.0.0.3   # now .3\n")
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_event("reload", count=1)
        assert try_from("127.0.0.2", srv)
        assert not try_from("127.0.0.3", srv)
        assert admitted(keep3), "an established connection was touched by the reload"
        # a broken file is refused with its line; the rules in force stay
        rules.write_text("allow 127.0.0.0/8\ndeny 300.1.2.3\n")
        srv.proc.send_signal(signal.SIGHUP)
        bad = srv.wait_event("reload-failed")
        assert f"{rules}:2" in bad[0]["reason"], bad
        assert try_from("127.0.0.2", srv)
        assert not try_from("127.0.0.3", srv)
        assert admitted(keep3)
    finally:
        keep3.close()
    rc, err = srv.stop()
    assert rc == 0
    assert "refused by the access rules" in parse_summary(err)["notes"]


def test_a_broken_access_file_at_start_is_an_error_naming_the_line(tmp_path):
    from conftest import sockbox
    rules = tmp_path / "access"
    rules.write_text("allow 127.0.0.0/8\n\nmaybe 192.0.2.0/24\n")
    r = sockbox("serve", "--access-file", str(rules), "-l", "127.0.0.1:0", timeout=15)
    assert r.returncode == 1
    assert f"{rules}:3" in r.stderr.decode()


def test_header_timeout_closes_slowloris_clients_and_spares_the_others(serve):
    srv = serve("echo", "--framing", "line", "--header-timeout", "1s", "-l", "127.0.0.1:0")
    silent = socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT)
    dribbler = socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT)
    good = socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT)
    try:
        t0 = time.monotonic()
        closed_at = None
        while time.monotonic() - t0 < 5:  # one byte every 100 ms, never a whole line
            try:
                dribbler.send(b"x")
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic() - t0
                break
            good.sendall(b"line\n")  # a client that sends whole lines is never touched
            assert recv_exact(good, 5) == b"line\n"
            time.sleep(0.1)
        assert closed_at is not None and closed_at < 4, "the dribbler was not closed"
        silent.settimeout(IO_TIMEOUT)
        assert silent.recv(10) == b""  # no first byte within the timeout
        time.sleep(1.2)  # a quiet client between whole lines is not a slowloris
        assert echo_roundtrip(good, b"still\n") == b"still\n"
    finally:
        for s in (silent, dribbler, good):
            s.close()
    reasons = {e["reason"] for e in srv.wait_event("header-timeout")}
    assert reasons <= {"message not whole", "no first byte"}
    rc, err = srv.stop()
    assert "2 closed by --header-timeout" in parse_summary(err)["notes"]


def test_header_timeout_does_not_apply_to_raw_services(serve):
    srv = serve("echo", "--header-timeout", "300ms", "-l", "127.0.0.1:0")
    with srv.connect() as s:
        time.sleep(1)
        assert echo_roundtrip(s, b"raw") == b"raw"
