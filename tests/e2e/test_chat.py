"""serve chat: rooms and nicknames across workers, and across instances through a real Redis
(redis-server started by the test on a free port, stopped by PID)."""

import os
import re
import socket
import subprocess
import time

import pytest

from conftest import (IO_TIMEOUT, READY_TIMEOUT, kill_proc, needs, parse_summary, popen,
                      start_peer_server)


class Member:
    """A chat client: a socket and a line reader."""

    def __init__(self, addr, timeout=IO_TIMEOUT):
        self.s = socket.create_connection(addr, timeout=timeout)
        self.buf = b""
        self.welcome = self.line()
        m = re.match(r"\*\*\* welcome, (\S+): you are in (\S+);", self.welcome)
        assert m, self.welcome
        self.nick = m.group(1)

    def send(self, text):
        self.s.sendall(text.encode() + b"\n")

    def line(self, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line; have {self.buf!r:.200}")
            self.s.settimeout(left)
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError(f"closed; have {self.buf!r:.200}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def until(self, pred, timeout=IO_TIMEOUT):
        """Lines up to and including the first for which pred is true."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            got.append(self.line(max(0.01, deadline - time.monotonic())))
            if pred(got[-1]):
                return got

    def quiet(self, wait=0.3):
        """The lines that arrive within wait seconds (none expected, usually)."""
        got = []
        try:
            while True:
                got.append(self.line(wait))
        except TimeoutError:
            return got

    def nick_to(self, name):
        """Renames; announcements published before (say, of members who joined just now) may
        come first and are passed over."""
        self.send(f"/nick {name}")
        got = self.until(lambda l: not l.startswith("[") or "***" not in l)
        assert got[-1] == f"*** you are now {name}", got
        self.nick = name

    def close(self):
        self.s.close()


def chat(serve, *args, workers="2"):
    return serve("chat", "--workers", workers, "-l", "127.0.0.1:0", *args)


def test_fifty_members_over_two_workers_get_every_line_once_in_order(serve):
    srv = chat(serve)
    observer = Member(srv.sockaddr())
    observer.nick_to("observer")
    members = []
    for i in range(50):
        m = Member(srv.sockaddr())
        m.nick_to(f"m{i}")
        members.append(m)
    for m in [observer] + members:
        m.quiet(0.2)  # the joins and renames
    workers = {e["worker"] for e in srv.events("open")}
    assert workers == {"0", "1"}, workers  # both workers hold members
    senders = members[:10]
    for r in range(20):
        for k, m in enumerate(senders):
            m.send(f"line {r} from {k}")
    total = 20 * len(senders)
    seen = observer.until(lambda l: len(l) and False, timeout=0) if False else []
    while len(seen) < total:
        seen.append(observer.line())
    assert len(set(seen)) == total
    # per sender, in the order sent
    for k, m in enumerate(senders):
        mine = [l for l in seen if l.endswith(f" from {k}")]
        assert mine == [f"[lobby] m{k}: line {r} from {k}" for r in range(20)], mine[:5]
    # every member: the same order, without its own lines, each exactly once
    for m in members:
        expect = [l for l in seen if not l.startswith(f"[lobby] {m.nick}: ")]
        got = [m.line() for _ in expect]
        assert got == expect, (m.nick, got[:3], expect[:3])
        assert m.quiet(0.05) == []
    observer.send("/msg m7 just for you")
    assert members[7].line() == "[msg] observer: just for you"
    for m in members[:7] + members[8:]:
        assert m.quiet(0.02) == []
    for m in [observer] + members:
        m.close()


def test_commands_errors_and_announcements(serve):
    srv = chat(serve, workers="1")
    a, b = Member(srv.sockaddr()), Member(srv.sockaddr())
    assert a.line() == f"[lobby] *** {b.nick} joined"
    b.quiet(0.2)
    a.nick_to("alice")
    assert b.line() == f"[lobby] *** {a.welcome.split()[2].rstrip(':')} is now known as alice"
    b.send("/nick alice")
    assert b.line() == "error: the nickname alice is taken"
    b.send("/nick bad name")
    assert b.line() == "error: a nickname is one word"
    b.send("/nick b@d")
    assert b.line().startswith("error: a nickname is 1-31 letters")
    b.send("/frobnicate now")
    assert b.line() == "error: unknown command /frobnicate (/help lists them)"
    b.nick_to("bob")
    assert a.line() == "[lobby] *** " + b.welcome.split()[2].rstrip(":") + " is now known as bob"
    b.send("/help")
    assert b.line().startswith("*** commands: /nick NAME, /join ROOM")
    b.send("/me waves")
    assert a.line() == "[lobby] * bob waves"
    b.send("/join dev")
    assert b.line() == "*** you joined dev (from lobby)"
    assert a.line() == "[lobby] *** bob left for dev"
    b.send("/rooms")
    assert b.line() == "*** rooms: dev (1), lobby (1)"
    a.send("/join #dev")
    assert a.line() == "*** you joined dev (from lobby)"
    assert b.line() == "[dev] *** alice joined"
    a.send("/who")
    assert a.line() in ("*** in dev: alice, bob (2 here)", "*** in dev: bob, alice (2 here)")
    a.send("/msg nobody hi")
    assert a.line() == "error: no member is called nobody"
    a.send("//slash is text")
    assert b.line() == "[dev] alice: /slash is text"
    b.send("/quit")
    assert b.line() == "*** bye"
    assert a.line() == "[dev] *** bob left"
    a.close()


def test_control_bytes_are_not_relayed_raw_and_a_long_line_is_refused(serve):
    srv = chat(serve, workers="1")
    a, b = Member(srv.sockaddr()), Member(srv.sockaddr())
    a.quiet(0.2)
    b.quiet(0.2)  # an announcement published before it joined may still reach it
    b.s.sendall(b"clear \x1b[2J\x07bell\ttab\r\n")
    assert a.line() == f"[lobby] {b.nick}: clear \\x1b[2J\\x07bell\ttab"
    b.s.sendall(b"x" * (1 << 20) + b"\n")  # 1 MiB: over --max-line (4K), under --max-message
    assert b.line().startswith("error: line too long (1048576 bytes; --max-line is 4096)")
    assert a.quiet(0.2) == []
    b.send("still here")
    assert a.line() == f"[lobby] {b.nick}: still here"


def test_a_member_that_never_reads_is_dropped_and_the_others_get_everything(serve, tmp_path):
    """One member never reads; the others (sockbox connect, which reads as fast as lines come)
    get every line of a flood far past --max-outbuf and every socket buffer on the way."""
    from conftest import SOCKBOX_BIN
    srv = chat(serve, "--max-outbuf", "1m")
    slow = socket.create_connection(srv.sockaddr(), timeout=IO_TIMEOUT)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(b"/nick slowpoke\n")
    talker = Member(srv.sockaddr())
    talker.nick_to("talker")
    readers, files = [], []
    for i in range(2):
        f = open(tmp_path / f"reader{i}", "wb")
        files.append(f)
        readers.append(popen([SOCKBOX_BIN, "connect", srv.addrs[0]], stdin=subprocess.PIPE,
                             stdout=f, stderr=subprocess.DEVNULL))
    try:
        time.sleep(0.3)
        talker.quiet(0.2)
        payload = "y" * 900
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:  # the server's send buffer may grow
            wmem_max = int(f.read().split()[2])
        n = (wmem_max + (4 << 20)) // 910  # past 1 MiB plus every socket buffer on the way
        for i in range(n):
            talker.send(f"{i} {payload}")
        want = [f"[lobby] talker: {i} {payload}" for i in range(n)]
        for i in range(2):
            path = tmp_path / f"reader{i}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                lines = path.read_bytes().decode().splitlines()
                got = [l for l in lines if l.startswith("[lobby] talker: ")]
                if len(got) >= n:
                    break
                time.sleep(0.1)
            assert got == want, (len(got), n)
            assert any("slowpoke left (too slow" in l for l in lines)
        ev = srv.wait_event("chat-slow")
        assert ev[0]["nick"] == "slowpoke"
        closes = srv.wait_event("close", reason="too slow: output over the limit")
        assert len(closes) == 1
    finally:
        for p in readers:
            kill_proc(p)
        for f in files:
            f.close()
        slow.close()


@needs("ncat", "nc")
def test_ncat_and_nc_are_chat_clients(serve):
    srv = chat(serve, workers="1")
    port = str(srv.sockaddr()[1])
    watcher = Member(srv.sockaddr())
    ncat = popen(["ncat", "127.0.0.1", port], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                 stderr=subprocess.DEVNULL)
    nc = popen(["nc", "127.0.0.1", port], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
               stderr=subprocess.DEVNULL)
    try:
        watcher.until(lambda l: l.endswith("joined"))
        watcher.until(lambda l: l.endswith("joined"))
        ncat.stdin.write(b"/nick ncat\r\nfrom ncat\r\n")
        ncat.stdin.flush()
        nc.stdin.write(b"/nick nc\nfrom nc\n")
        nc.stdin.flush()
        lines = watcher.until(lambda l: l == "[lobby] ncat: from ncat")
        lines += watcher.until(lambda l: l == "[lobby] nc: from nc") \
            if "[lobby] nc: from nc" not in lines else []
        watcher.send("hello clients")
        for p, name in ((ncat, "ncat"), (nc, "nc")):
            deadline = time.monotonic() + IO_TIMEOUT
            out = b""
            while b"hello clients" not in out and time.monotonic() < deadline:
                import select
                r, _, _ = select.select([p.stdout], [], [], 0.2)
                if r:
                    out += os.read(p.stdout.fileno(), 65536)
            assert f"[lobby] {watcher.nick}: hello clients".encode() in out, (name, out)
    finally:
        kill_proc(ncat)
        kill_proc(nc)


# ---- across instances, through Redis


@pytest.fixture
def redis(procs):
    """A redis-server on a free loopback port: yields (start, stop, port)."""
    state = {}

    def start(port=None):
        if port is None:
            p, port = start_peer_server(lambda port: [
                "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no"])
        else:
            p = popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save",
                       "", "--appendonly", "no"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)
            from conftest import wait_tcp_listening
            wait_tcp_listening(port, p)
        procs.append(p)
        state["p"], state["port"] = p, port
        return port

    def stop():
        kill_proc(state["p"])

    yield start, stop
    if "p" in state:
        kill_proc(state["p"])


@needs("redis-server")
def test_two_instances_on_one_redis_are_one_chat_and_survive_redis_going_away(serve, redis):
    start, stop = redis
    port = start()
    url = f"redis://127.0.0.1:{port}/t{os.getpid()}"
    A = chat(serve, "--bus", url)
    B = chat(serve, "--bus", url)
    A.wait_event("bus-up")
    B.wait_event("bus-up")
    a, b = Member(A.sockaddr()), Member(B.sockaddr())
    assert a.nick != b.nick  # guests carry the instance's tag
    a.quiet(0.2)
    b.quiet(0.2)
    a.nick_to("ann")
    b.nick_to("ben")
    a.quiet(0.2)
    b.quiet(0.2)
    a.send("hi from A")
    assert b.line() == "[lobby] ann: hi from A"
    b.send("hi from B")
    assert a.line() == "[lobby] ben: hi from B"
    assert a.quiet(0.3) == [] and b.quiet(0.1) == []  # once each, never echoed back
    a.send("/msg ben across")
    assert a.line() == "*** sent to ben (on another instance)"
    assert b.line() == "[msg] ann: across"
    # a nickname held on the other instance: taken here for a moment, then named back
    b2 = Member(B.sockaddr())
    b.quiet(0.2)
    a.quiet(0.2)
    time.sleep(0.3)  # ann's claim has reached Redis
    old = b2.nick
    b2.send("/nick ann")
    got = b2.until(lambda l: l.startswith("error: the nickname ann is in use on another"))
    assert got[-1] == f"error: the nickname ann is in use on another instance; you are {old} again"
    b2.send("/nick ann2")
    assert b2.until(lambda l: l.startswith("*** you are now"))[-1] == "*** you are now ann2"
    b2.close()
    b.quiet(0.3)
    a.quiet(0.3)
    # Redis goes away: each instance chats locally; one warning each
    stop()
    A.wait_event("bus-down")
    a2 = Member(A.sockaddr())
    a.quiet(0.2)
    a2.send("local only")
    assert a.line() == f"[lobby] {a2.nick}: local only"
    assert b.quiet(0.3) == []
    # Redis back on the same port: cross-instance chat resumes without restarting sockbox
    start(port)
    A.wait_event("bus-up", count=2, timeout=20)
    B.wait_event("bus-up", count=2, timeout=20)
    a.send("back again")
    assert b.line(timeout=10) == "[lobby] ann: back again"
    assert len(A.events("bus-down")) == 1
