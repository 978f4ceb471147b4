"""Messages: the framings, the tutorials' services and `sockbox send`, against the tutorials'
own programs (tests/e2e/tutorial, run as separate Python processes) in both directions,
against real peers (nc, ncat), and under abuse (each abuse case followed by proof that a
well-behaved client on the same server is still served)."""

import os
import re
import select
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import (HERE, IO_TIMEOUT, PYTHON, SOCKBOX_BIN, STOP_TIMEOUT, kill_group, kill_proc,
                      needs, parse_summary, popen, recv_exact, recv_until_eof, run, sockbox,
                      start_peer_server, vm_rss_kib)

TUTORIAL = os.path.join(HERE, "tutorial")
MiB = 1 << 20
PEER_LINE = re.compile(r"^\[127\.0\.0\.1:(\d+)\] (.*)$")


def tutorial(prog, host, port, input=b"", timeout=30):
    return run([PYTHON, "-u", os.path.join(TUTORIAL, prog), host, str(port)], input=input,
               timeout=timeout)


def len64(body):
    """A frame the way the video tutorial's client builds it: digits, spaces to 64, body."""
    n = str(len(body)).encode()
    return n + b" " * (64 - len(n)) + body


def ack_exchange(s, body):
    s.sendall(len64(body))
    return recv_exact(s, 12)


def printed(srv, count):
    """The (port, message) pairs `serve ack` printed, once there are count of them."""
    text = srv.wait_stdout(lambda t: t.count("\n") >= count, what=f"{count} printed lines")
    return [PEER_LINE.match(line).groups() for line in text.splitlines()]


# --------------------------------------------------------------------------------------------
# the tutorials' clients against sockbox's services


def test_tutorial_len64_client_against_serve_ack(serve):
    srv = serve("ack", "-l", "127.0.0.1:0")
    host, port = srv.sockaddr()
    r = tutorial("len64_client.py", host, port, input=b"\n\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["Msg received"] * 4
    lines = printed(srv, 4)
    assert [m for _, m in lines] == ["Hello World!", "Hello Everyone!", "Hello Tim!",
                                     "!DISCONNECT"]
    assert len({p for p, _ in lines}) == 1  # one client, named by its own address
    srv.wait_event("close", reason="closed by service")


def test_tutorial_reverse_client_against_serve_reverse_raw(serve):
    srv = serve("reverse", "--framing", "raw", "-l", "127.0.0.1:0")
    r = tutorial("reverse_client.py", *srv.sockaddr(), input=b"y\nn\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().count(
        "Received from the server : skeegrofskeeg syas ayruahs") == 2


@pytest.mark.parametrize("prog,args,want", [
    ("welcome_client.py", ["--banner", "Welcome!"], "Welcome!"),       # seed 001
    ("greet_client.py", [], "Thank you for connecting"),               # seeds 003, 004
])
def test_tutorial_greeting_clients_against_serve_greet(serve, prog, args, want):
    srv = serve("greet", *args, "-l", "127.0.0.1:0")
    for _ in range(3):  # the server goes on serving; the tutorial's served one and quit
        r = tutorial(prog, *srv.sockaddr())
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode().splitlines()[-1] == want


# --------------------------------------------------------------------------------------------
# sockbox send against the tutorials' servers


def test_send_len64_is_the_tutorials_client_against_its_threaded_server(procs, short_tmp):
    path = os.path.join(short_tmp, "server.out")
    # The server writes through its own open file (its own offset); the test reads the path.
    with open(path, "wb") as out:
        p, port = start_peer_server(
            lambda port: [PYTHON, "-u", os.path.join(TUTORIAL, "len64_server.py"), "127.0.0.1",
                          str(port)], stdout=out)
        procs.append(p)
        try:
            r = sockbox("send", "--framing", "len64", f"127.0.0.1:{port}", "Hello World!",
                        "!DISCONNECT")
            assert r.returncode == 0, r.stderr
            assert r.stdout == b"Msg received\nMsg received\n"
            deadline = time.monotonic() + IO_TIMEOUT
            while time.monotonic() < deadline:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                if "!DISCONNECT" in text:
                    break
                time.sleep(0.05)
            assert re.search(r"\] Hello World!\n", text), text
            assert re.search(r"\] !DISCONNECT\n", text), text
        finally:
            kill_group(p)


def test_send_against_the_tutorials_reverse_server(procs):
    p, port = start_peer_server(
        lambda port: [PYTHON, "-u", os.path.join(TUTORIAL, "reverse_server.py"), "127.0.0.1",
                      str(port)])
    procs.append(p)
    try:
        r = sockbox("send", f"127.0.0.1:{port}", "hello world", "abc")
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"dlrow olleh\ncba\n"
    finally:
        kill_group(p)


# --------------------------------------------------------------------------------------------
# framing abuse: bad input closes that connection, with a logged reason; nobody else notices


def assert_still_served(srv, *keep):
    """Clients that were connected all along, and a new one, still get their replies."""
    for s in keep:
        assert ack_exchange(s, b"still here") == b"Msg received"
    with srv.connect() as s:
        assert ack_exchange(s, b"new client") == b"Msg received"


@pytest.mark.parametrize("header,reason", [
    (b"99999999999999999999".ljust(64), "message longer than the limit"),
    (b"12ab".ljust(64), "length header is not a number"),
    (b" " * 64, "length header holds no number"),
], ids=["huge-number", "not-a-number", "only-spaces"])
def test_a_bad_len64_header_closes_only_that_connection(serve, header, reason):
    srv = serve("ack", "-l", "127.0.0.1:0")
    with srv.connect() as good, srv.connect() as bad:
        assert ack_exchange(good, b"before") == b"Msg received"
        bad.sendall(header + b"body")
        assert recv_until_eof(bad) == b""  # our FIN, no reply
        srv.wait_event("bad-input", reason=reason)
        assert_still_served(srv, good)
    srv.wait_event("close", reason="bad input")


def test_a_len64_header_split_over_64_one_byte_writes_is_one_message(serve):
    srv = serve("ack", "-l", "127.0.0.1:0")
    with srv.connect() as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        frame = len64(b"slowly but surely")
        for b in frame[:64]:
            s.send(bytes([b]))
            time.sleep(0.002)
        s.sendall(frame[64:])
        assert recv_exact(s, 12) == b"Msg received"
    assert printed(srv, 1)[0][1] == "slowly but surely"


def test_a_2mib_message_is_refused_under_the_default_limit(serve):
    srv = serve("ack", "-l", "127.0.0.1:0")
    with srv.connect() as good, srv.connect() as bad:
        bad.sendall(str(2 * MiB).encode().ljust(64))
        try:  # refused at the header; the body then goes nowhere
            bad.sendall(b"x" * (2 * MiB))
        except (BrokenPipeError, ConnectionResetError):
            pass
        srv.wait_event("bad-input", reason="message longer than the limit")
        assert_still_served(srv, good)


def test_a_2mib_line_without_newline_is_refused(serve):
    srv = serve("reverse", "-l", "127.0.0.1:0")
    with srv.connect() as good, srv.connect() as bad:
        good.sendall(b"abc\n")
        assert recv_exact(good, 4) == b"cba\n"
        try:
            bad.sendall(b"y" * (2 * MiB))
        except (BrokenPipeError, ConnectionResetError):
            pass
        srv.wait_event("bad-input", reason="line longer than the limit")
        good.sendall(b"still\n")
        assert recv_exact(good, 6) == b"llits\n"


def test_max_message_sets_the_limit(serve):
    srv = serve("ack", "--max-message", "16", "-l", "127.0.0.1:0")
    with srv.connect() as s:
        assert ack_exchange(s, b"x" * 16) == b"Msg received"
        s.sendall(len64(b"x" * 17))
        assert recv_until_eof(s) == b""
    srv.wait_event("bad-input", reason="message longer than the limit", max_message="16")


def test_10000_pipelined_len64_messages_without_reading(serve):
    """Memory stays bounded while the client does not read; then every reply arrives."""
    srv = serve("ack", "-l", "127.0.0.1:0")
    n = 10000
    payload = b"".join(len64(b"message %05d" % i) for i in range(n))
    with srv.connect() as s:
        assert ack_exchange(s, b"warm up") == b"Msg received"
        time.sleep(0.2)
        baseline = vm_rss_kib(srv.pid)
        state = {"err": None}

        def sender():
            try:
                s.sendall(payload)
            except Exception as e:  # reported below
                state["err"] = e

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        time.sleep(1.0)  # not reading
        peak = vm_rss_kib(srv.pid)
        got = recv_exact(s, 12 * n, timeout=60)
        t.join(30)
        assert state["err"] is None, state["err"]
    assert got == b"Msg received" * n
    assert peak - baseline < 4 * 1024, f"server RSS grew by {peak - baseline} KiB"
    lines = printed(srv, n + 1)
    assert [m for _, m in lines[1:]] == ["message %05d" % i for i in range(n)]


@pytest.mark.parametrize("service,data,want", [
    ("ack", len64(b"last"), b"Msg received"),
    ("reverse", b"abc\ndef", b"cba\nfed"),  # the last line has no '\n': still one message
    ("echo", b"bye", b"bye"),
], ids=["ack", "reverse", "echo"])
def test_eof_right_after_a_message_still_gets_its_reply(serve, service, data, want):
    srv = serve(service, "-l", "127.0.0.1:0")
    with srv.connect() as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s) == want


def test_eof_in_the_middle_of_a_len64_message_is_logged(serve):
    srv = serve("ack", "-l", "127.0.0.1:0")
    with srv.connect() as s:
        s.sendall(len64(b"complete") + len64(b"cut short")[:70])
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s) == b"Msg received"
    srv.wait_event("bad-input", reason="peer closed in the middle of a message")


# --------------------------------------------------------------------------------------------
# the services, with real peers


@needs("nc")
def test_reverse_lines_keep_utf8_characters_whole_and_their_line_ends(serve):
    srv = serve("reverse", "-l", "127.0.0.1:0")
    host, port = srv.sockaddr()
    text = "héllo wörld 😀\r\nabc\n\xe2\x82 broken".encode("utf-8", "surrogateescape")
    r = run(["nc", "-N", host, str(port)], input="héllo wörld 😀\r\nabc\n".encode())
    assert r.stdout.decode() == "😀 dlröw olléh\r\ncba\n"
    with srv.connect() as s:  # bytes that are not UTF-8 are reversed one by one
        s.sendall(b"a\xe2\x82z\n")
        assert recv_exact(s, 5) == b"z\x82\xe2a\n"
    del text


@needs("ncat")
def test_reverse_with_ncat_and_over_udp(serve):
    srv = serve("reverse", "-l", "127.0.0.1:0", "-l", "udp://127.0.0.1:0")
    host, port = srv.sockaddr(0)
    r = run(["ncat", host, str(port)], input=b"stressed\n")
    assert r.stdout == b"desserts\n"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(IO_TIMEOUT)
        u.sendto("añ€".encode(), srv.sockaddr(1))
        assert u.recv(100) == "€ña".encode()


def test_reverse_long_lines_come_back_whole(serve):
    srv = serve("reverse", "--max-message", "4M", "-l", "127.0.0.1:0")
    line = ("0123456789" * 30000 + "é").encode()  # > the 64 KiB scratch: sent in pieces
    with srv.connect() as s:
        s.sendall(line + b"\n")
        assert recv_exact(s, len(line) + 1) == "é".encode() + (
            "9876543210" * 30000).encode() + b"\n"


def test_greet_banner_before_any_service(serve):
    srv = serve("echo", "--banner", r"220 ready\r\n", "-l", "127.0.0.1:0")
    with srv.connect() as s:
        assert recv_exact(s, 11) == b"220 ready\r\n"
        s.sendall(b"ping")
        assert recv_exact(s, 4) == b"ping"


def test_ack_disconnect_message_can_be_changed(serve):
    srv = serve("ack", "--disconnect-message", "bye", "-l", "127.0.0.1:0")
    with srv.connect() as s:
        assert ack_exchange(s, b"!DISCONNECT") == b"Msg received"  # an ordinary message now
        assert ack_exchange(s, b"bye") == b"Msg received"
        assert recv_until_eof(s) == b""


def test_ack_escapes_control_bytes_in_what_it_prints(serve):
    srv = serve("ack", "-l", "127.0.0.1:0")
    with srv.connect() as s:
        assert ack_exchange(s, b"evil\x1b[2J\nFAKE LINE\x00") == b"Msg received"
    assert printed(srv, 1)[0][1] == r"evil\x1b[2J\nFAKE LINE\x00"


def test_ack_with_a_stdout_nobody_reads_never_stalls_a_client():
    """stdout is a pipe that is never read: replies still come, the server still stops, and the
    lines it could not print are counted."""
    rfd, wfd = os.pipe()
    p = popen([SOCKBOX_BIN, "serve", "ack", "-l", "127.0.0.1:0"], stdin=subprocess.DEVNULL,
              stdout=wfd, stderr=subprocess.PIPE)
    os.close(wfd)
    try:
        line = p.stderr.readline().decode()
        m = re.match(r"^listening on 127\.0\.0\.1:(\d+)$", line.strip())
        assert m, line
        port = int(m.group(1))
        body = b"z" * 1000
        with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
            for _ in range(4):  # ~6 MB of printed lines: far past the pipe and the queue
                s.sendall(len64(body) * 1500)
                assert recv_exact(s, 12 * 1500, timeout=30) == b"Msg received" * 1500
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=STOP_TIMEOUT)
        assert p.returncode == 0
        assert time.monotonic() - t0 < 5, "a stuck stdout held up the exit"
        dropped = re.findall(r"stdout-dropped lines=(\d+)", err.decode())
        assert dropped and sum(map(int, dropped)) > 0, err.decode()
    finally:
        kill_proc(p, signal.SIGKILL)
        os.close(rfd)


def test_chargen_streams_rfc864_lines_and_waits_for_a_slow_reader(serve):
    srv = serve("chargen", "-l", "127.0.0.1:0")
    with srv.connect() as s:
        first = recv_exact(s, 74 * 200)
        baseline = vm_rss_kib(srv.pid)
        time.sleep(1.5)  # not reading: the server must wait, not buffer
        grown = vm_rss_kib(srv.pid) - baseline
        data = first + recv_exact(s, 74 * 1000)
    lines = data.split(b"\r\n")[:-1]
    assert all(len(line) == 72 for line in lines)
    printable = bytes(range(32, 127))
    for i, line in enumerate(lines):
        start = i % 95
        assert line == (printable * 2)[start:start + 72], f"line {i}: {line!r}"
    assert grown < 1024, f"chargen grew by {grown} KiB for a client that does not read"
    srv.wait_event("close")  # the client left with bytes unread: a reset, most likely


def test_daytime_and_time_over_tcp_and_udp(serve):
    day = serve("daytime", "-l", "127.0.0.1:0", "-l", "udp://127.0.0.1:0")
    tim = serve("time", "-l", "127.0.0.1:0", "-l", "udp://127.0.0.1:0")
    ctime = re.compile(rb"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\r\n$")
    with day.connect() as s:
        text = recv_until_eof(s)
    assert ctime.match(text), text
    assert abs(time.mktime(time.strptime(text.decode().strip(), "%a %b %d %H:%M:%S %Y"))
               - time.time()) < 5
    with tim.connect() as s:
        raw = recv_until_eof(s)
    assert len(raw) == 4
    assert abs(struct.unpack(">I", raw)[0] - 2208988800 - time.time()) < 5
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(IO_TIMEOUT)
        u.sendto(b"", day.sockaddr(1))
        assert ctime.match(u.recv(100))
        u.sendto(b"", tim.sockaddr(1))
        assert abs(struct.unpack(">I", u.recv(100))[0] - 2208988800 - time.time()) < 5


def test_discard_reads_everything_and_answers_nothing(serve):
    srv = serve("discard", "-l", "127.0.0.1:0", "-l", "udp://127.0.0.1:0")
    with srv.connect() as s:
        s.sendall(os.urandom(MiB))
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s) == b""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.sendto(b"into the void", srv.sockaddr(1))
    rc, err = srv.stop()
    summary = parse_summary(err)
    assert summary["bytes_in"] == MiB + 13 and summary["bytes_out"] == 0


@pytest.mark.parametrize("args,why", [
    (["greet", "--framing", "line"], "greet reads no messages"),
    (["echo", "--framing", "len32"], "raw, line, len64 or u32"),
    (["echo", "--disconnect-message", "x"], "ack service only"),
    (["chargen", "-l", "udp://127.0.0.1:0"], "chargen is TCP only"),
    (["ack", "-l", "udp://127.0.0.1:0"], "does not support that transport"),
    (["echo", "--max-message", "0"], "must be between"),
    (["echo", "--max-message", "1X"], "not a size"),
    (["echo", "--banner", r"bad\q"], "unknown escape"),
])
def test_serve_refuses_options_a_service_cannot_use(args, why):
    r = sockbox("serve", *args, timeout=15)
    assert r.returncode == 2, r
    assert why in r.stderr.decode()


def test_list_services_names_framings_and_transports():
    r = sockbox("serve", "--list-services", timeout=15)
    assert r.returncode == 0
    rows = {line.split()[0]: line for line in r.stdout.decode().splitlines()[1:]}
    assert set(rows) == {"echo", "reverse", "greet", "ack", "chat", "exec", "discard",
                         "chargen", "daytime", "time"}
    assert rows["chat"].split()[1] == "line" and "udp" not in rows["chat"]
    assert rows["ack"].split()[1] == "len64"
    assert rows["reverse"].split()[1] == "line"
    assert "udp" not in rows["chargen"] and "udp" in rows["echo"]


# --------------------------------------------------------------------------------------------
# sockbox send


def test_send_line_framing_with_count_and_stdin_lines(serve):
    srv = serve("reverse", "-l", "127.0.0.1:0")
    r = sockbox("send", "-f", "line", "-n", "2", srv.addr, "abc", "xyz")
    assert (r.returncode, r.stdout) == (0, b"cba\nzyx\ncba\nzyx\n")
    r = sockbox("send", "--framing", "line", srv.addr, input=b"one\ntwo\n")
    assert (r.returncode, r.stdout) == (0, b"eno\nowt\n")


def test_send_host_port_form_json_and_expect(serve):
    srv = serve("ack", "-l", "127.0.0.1:0")
    host, port = srv.sockaddr()
    r = sockbox("send", "--framing", "len64", "--json", "--expect", "Msg received", host,
                str(port), "a", "!DISCONNECT")
    assert r.returncode == 0, r.stderr
    import json
    objs = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert [(o["seq"], o["sent"], o["received"], o["match"]) for o in objs] == [
        (1, "a", "Msg received", True), (2, "!DISCONNECT", "Msg received", True)]
    assert all(o["rtt_us"] >= 0 for o in objs)


def test_send_exit_codes(serve):
    rev = serve("reverse", "-l", "127.0.0.1:0")
    ack = serve("ack", "-l", "127.0.0.1:0")
    silent = serve("discard", "-l", "127.0.0.1:0")
    r = sockbox("send", "-f", "line", "--expect", "cba", rev.addr, "abc", "abd")
    assert r.returncode == 1 and r.stdout == b"cba\ndba\n"
    assert 'reply 2 differs from --expect: got "dba"' in r.stderr.decode()
    r = sockbox("send", "-w", "300ms", silent.addr, "anyone?")
    assert r.returncode == 5 and "no reply within 300 ms (message 1)" in r.stderr.decode()
    r = sockbox("send", "--framing", "len64", ack.addr, "a", "!DISCONNECT", "after")
    assert r.returncode == 7, r
    assert "closed before the reply was complete (message 3)" in r.stderr.decode()
    rc, _ = silent.stop()
    r = sockbox("send", silent.addr, "x")
    assert r.returncode == 4


def test_send_prints_a_greeting_when_it_has_nothing_to_send(serve):
    srv = serve("greet", "-l", "127.0.0.1:0")
    r = sockbox("send", srv.addr, stdin=subprocess.DEVNULL, capture=False,
                stdout=subprocess.PIPE)
    assert (r.returncode, r.stdout) == (0, b"Thank you for connecting\n")


def test_send_udp_one_datagram_each_way(serve):
    srv = serve("reverse", "-l", "udp://127.0.0.1:0")
    r = sockbox("send", "-u", srv.addr.replace("udp://", ""), "dlrow", "olleh")
    assert (r.returncode, r.stdout) == (0, b"world\nhello\n")
    r = sockbox("send", "-u", "-f", "line", srv.addr, "x")
    assert r.returncode == 2


# --------------------------------------------------------------------------------------------
# sockbox bench speaks the framings


def bench_json(*args):
    import json
    r = sockbox("bench", *args, "--json", timeout=60)
    return r.returncode, json.loads(r.stdout.decode().splitlines()[-1]), r.stderr.decode()


def test_bench_drives_ack_and_reverse_and_verifies_them(serve):
    ack = serve("ack", "-l", "127.0.0.1:0")
    rev = serve("reverse", "-l", "127.0.0.1:0")
    rc, res, err = bench_json(ack.addr, "--framing", "len64", "--expect-reply", "Msg received",
                              "-c", "4", "-d", "4", "-n", "4000")
    assert rc == 0 and res["errors"] == 0 and res["messages"] >= 4000, err
    assert res["framing"] == "len64" and res["expect_reply"] == "Msg received"
    rc, res, err = bench_json(rev.addr, "--framing", "line", "--expect-reply", "reversed",
                              "-c", "4", "-d", "8", "-s", "300", "-n", "4000")
    assert rc == 0 and res["errors"] == 0, err


@pytest.mark.parametrize("framing", ["line", "len64", "u32"])
def test_bench_framed_echo_round_trips(serve, framing):
    srv = serve("echo", "--framing", framing, "-l", "127.0.0.1:0")
    rc, res, err = bench_json(srv.addr, "--framing", framing, "-c", "8", "-d", "16", "-s", "100",
                              "-n", "20000")
    assert rc == 0 and res["errors"] == 0 and res["messages"] >= 20000, err


def test_bench_catches_a_server_that_does_not_reverse(serve):
    srv = serve("echo", "--framing", "line", "-l", "127.0.0.1:0")
    rc, res, err = bench_json(srv.addr, "--line", "--expect-reply", "reversed", "-n", "10")
    assert rc == 1 and res["errors_by_kind"]["mismatch"] >= 1
