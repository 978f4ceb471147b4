"""Under stress and under signals: a stalled process is not an idle one, the drain refuses new
clients at once, a new instance takes over a port with nothing refused or reset, signals lose
nothing, a unix socket file is only removed while it is ours, UDP bursts fit in the receive
buffer and what the kernel drops is counted."""

import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import (IO_TIMEOUT, SANITIZED, SOCKBOX_BIN, STOP_TIMEOUT, Server, connect,
                      echo_roundtrip, parse_summary, recv_exact)


class Pinger(threading.Thread):
    """A client doing request/reply on its own connection every `period` seconds, checking
    each reply byte for byte, until stopped. Counts exchanges and keeps the first failure."""

    def __init__(self, addr, period=0.01):
        super().__init__(daemon=True)
        self.addr, self.period = addr, period
        self.stop_flag = threading.Event()
        self.done, self.failure = 0, None

    def run(self):
        try:
            with connect(self.addr, timeout=30) as s:
                i = 0
                while not self.stop_flag.is_set():
                    msg = b"request %08d\n" % i
                    s.sendall(msg)
                    got = recv_exact(s, len(msg), timeout=30)
                    if got != msg:
                        raise AssertionError(f"reply {i}: {got!r} for {msg!r}")
                    self.done += 1
                    i += 1
                    time.sleep(self.period)
        except Exception as e:  # reported by the test
            self.failure = e

    def finish(self):
        self.stop_flag.set()
        self.join(60)
        assert not self.is_alive(), "a client hung"
        return self.failure


def test_a_stopped_process_does_not_close_busy_connections_as_idle(serve):
    """SIGSTOP for twice the idle timeout, then SIGCONT: time the process did not run is not
    idle time, so clients in the middle of request/reply lose nothing."""
    srv = serve("--idle-timeout", "2s", "--workers", "2", "-l", "127.0.0.1:0")
    clients = [Pinger(srv.addr) for _ in range(20)]
    for c in clients:
        c.start()
    time.sleep(0.5)
    os.kill(srv.pid, signal.SIGSTOP)
    time.sleep(4.0)
    os.kill(srv.pid, signal.SIGCONT)
    time.sleep(1.0)
    failures = [c.finish() for c in clients]
    assert failures == [None] * len(clients), failures
    assert all(c.done > 20 for c in clients)
    assert not [e for e in srv.events("close") if e.get("reason") == "idle timeout"]
    # ... and a connection that really is idle still goes.
    with srv.connect() as idle:
        idle.settimeout(IO_TIMEOUT)
        assert idle.recv(1) == b""
    srv.wait_event("close", reason="idle timeout")


def test_a_connect_during_the_drain_is_refused_at_once(serve):
    srv = serve("--drain-timeout", "20s", "--workers", "2", "-l", "127.0.0.1:0")
    # A client that never reads keeps the drain going: its replies cannot be delivered.
    stuck = srv.connect()
    stuck.setblocking(False)
    try:
        for _ in range(2000):
            stuck.send(b"z" * 65536)
    except BlockingIOError:
        pass
    srv.proc.send_signal(signal.SIGTERM)
    srv.wait_event("draining")
    time.sleep(0.3)
    t0 = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        connect(srv.addr, timeout=5)
    assert time.monotonic() - t0 < 1.0
    assert srv.proc.poll() is None  # still draining the stuck client
    stuck.close()
    assert srv.wait_exit(STOP_TIMEOUT) == 0


def test_a_new_instance_takes_over_the_port_with_nothing_refused_or_reset(serve):
    """Zero-downtime restart: B joins A's port with --reuse-port, A gets SIGTERM. A client that
    connects every few ms throughout sees no refusal, no reset and every reply."""
    a = serve("--workers", "2", "-l", "127.0.0.1:0")
    addr, port = a.addr, a.port
    stats = {"ok": 0, "refused": 0, "reset": 0, "other": []}
    stop = threading.Event()

    def client():
        i = 0
        while not stop.is_set():
            msg = b"hello %d\n" % i
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(msg)
                    if recv_exact(s, len(msg), timeout=10) != msg:
                        stats["other"].append(f"bad reply {i}")
                stats["ok"] += 1
            except ConnectionRefusedError:
                stats["refused"] += 1
            except (ConnectionResetError, BrokenPipeError):
                stats["reset"] += 1
            except Exception as e:  # EOF before the reply, timeouts: all failures
                stats["other"].append(repr(e))
            i += 1
            time.sleep(0.002)

    t = threading.Thread(target=client, daemon=True)
    t.start()
    try:
        time.sleep(0.5)
        b = serve("--reuse-port", "--workers", "2", "-l", addr)
        time.sleep(0.3)
        a.proc.send_signal(signal.SIGTERM)
        assert a.wait_exit(STOP_TIMEOUT) == 0
        time.sleep(0.5)
    finally:
        stop.set()
        t.join(30)
    assert (stats["refused"], stats["reset"], stats["other"]) == (0, 0, []), stats
    assert stats["ok"] > 50
    a_served = parse_summary(a.stop()[1])["served"]
    b_served = len(b.events("open"))
    assert a_served > 0 and b_served > 0, (a_served, b_served)


def test_without_reuse_port_a_second_server_is_still_refused(serve):
    a = serve("-l", "127.0.0.1:0")
    r = subprocess.run([SOCKBOX_BIN, "serve", "-l", a.addr], capture_output=True, timeout=15)
    assert r.returncode == 1 and b"address in use" in r.stderr


def test_sighup_sigusr1_sigusr2_under_load_lose_nothing(serve):
    srv = serve("--workers", "2", "-l", "127.0.0.1:0")
    clients = [Pinger(srv.addr, period=0.001) for _ in range(8)]
    for c in clients:
        c.start()
    for sig in [signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2] * 5:
        os.kill(srv.pid, sig)
        time.sleep(0.05)
    time.sleep(0.3)
    assert srv.proc.poll() is None, "a signal killed the server"
    failures = [c.finish() for c in clients]
    assert failures == [None] * len(clients), failures
    status = srv.wait_event("status", count=5)
    assert int(status[-1]["connections"]) >= 8 and float(status[-1]["uptime"]) > 0
    srv.wait_event("reload", count=5, result="nothing to reload")
    rc, err = srv.stop()
    assert rc == 0 and parse_summary(err)["errors"] == 0


def test_exit_leaves_a_socket_file_that_another_server_bound_since(serve, short_tmp):
    path = os.path.join(short_tmp, "s")
    a = serve("-l", f"unix:{path}")
    os.unlink(path)
    b = serve("-l", f"unix:{path}")
    ino = os.stat(path).st_ino
    assert a.stop()[0] == 0
    assert os.path.exists(path) and os.stat(path).st_ino == ino, "A removed B's socket file"
    with connect(f"unix:{path}") as s:
        assert echo_roundtrip(s, b"still B") == b"still B"
    assert b.stop()[0] == 0
    assert not os.path.exists(path), "B's own file is removed when B exits"


def test_a_udp_burst_fits_in_the_receive_buffer(serve):
    srv = serve("--workers", "1", "-l", "udp://127.0.0.1:0")
    n, got = 3000, 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        u.connect(srv.sockaddr())
        os.kill(srv.pid, signal.SIGSTOP)  # the whole burst lands before the server reads
        try:
            for i in range(n):
                u.send(b"%0500d" % i)
        finally:
            os.kill(srv.pid, signal.SIGCONT)
        u.settimeout(3)
        try:
            while got < n:
                u.recv(1000)
                got += 1
        except socket.timeout:
            pass
    rc, err = srv.stop()
    summary = parse_summary(err)
    assert got == n and summary["datagrams"] == n, (got, summary)


def test_datagrams_the_kernel_drops_are_counted(serve):
    srv = serve("--workers", "1", "--rcvbuf", "4096", "-l", "udp://127.0.0.1:0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.connect(srv.sockaddr())
        os.kill(srv.pid, signal.SIGSTOP)
        try:
            for i in range(500):
                u.send(b"%01000d" % i)
        finally:
            os.kill(srv.pid, signal.SIGCONT)
        u.settimeout(0.5)
        u.send(b"last")  # the drop count comes with a datagram read after the drops
        try:
            while True:
                u.recv(2000)
        except socket.timeout:
            pass
    rc, err = srv.stop()
    summary = parse_summary(err)
    m = re.search(r"(\d+) datagrams dropped by the kernel", summary["notes"])
    assert m, err
    assert int(m.group(1)) + summary["datagrams"] == 501, summary


def _serve_with_stderr_pipe(*args):
    p = subprocess.Popen([SOCKBOX_BIN, "serve", *args], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    line = p.stderr.readline().decode()
    m = re.match(r"^listening on (127\.0\.0\.1:\d+)$", line.strip())
    assert m, line
    return p, m.group(1)


def _churn(addr, n):
    """n connections, one echo each: each is an open and a close line in the log."""
    for i in range(n):
        with connect(addr, timeout=10) as s:
            assert echo_roundtrip(s, b"x%d" % i) == b"x%d" % i


def test_a_stderr_nobody_reads_stops_neither_service_nor_logging_for_good():
    p, addr = _serve_with_stderr_pipe("--workers", "2", "-l", "127.0.0.1:0")
    try:
        _churn(addr, 3000)  # ~750 KB of log lines into a 64 KiB pipe nobody reads
        lines = []
        t = threading.Thread(target=lambda: lines.extend(p.stderr.read().decode().splitlines()),
                             daemon=True)
        t.start()
        _churn(addr, 5)  # writing works again: the drop count is said
        p.send_signal(signal.SIGTERM)
        assert p.wait(STOP_TIMEOUT) == 0
        t.join(STOP_TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    dropped = [ln for ln in lines if " log-dropped " in ln]
    assert dropped and int(re.search(r"lines=(\d+)", dropped[0]).group(1)) > 0, lines[-5:]
    assert parse_summary("\n".join(lines))["served"] == 3005


def test_sigterm_with_a_stuck_stderr_still_exits():
    p, addr = _serve_with_stderr_pipe("-l", "127.0.0.1:0")
    try:
        _churn(addr, 2000)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        assert p.wait(STOP_TIMEOUT) == 0
        assert time.monotonic() - t0 < 6, "a stderr nobody reads held up the exit"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stderr.close()


def _rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_2000_clients_that_never_read_stay_under_the_output_budget(serve):
    """Each client sends without reading. All of them together may not make the server hold
    more than --max-queued of replies (plus bookkeeping); past half of it everyone is read
    less, past it the biggest holders are closed and counted. When they go, so does the
    memory."""
    budget_mib = 64
    srv = serve("--workers", "2", "--max-queued", f"{budget_mib}M", "-l", "127.0.0.1:0")
    with srv.connect() as warm:  # the workers' buffers exist before the baseline
        assert echo_roundtrip(warm, b"w" * 100000) == b"w" * 100000
    time.sleep(0.3)
    baseline = _rss_kib(srv.pid)
    chunk, per_client = b"q" * 65536, 1 << 20
    socks, sent = [], {}
    try:
        for _ in range(2000):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.connect(srv.sockaddr())
            s.setblocking(False)
            socks.append(s)
            sent[s] = 0
        peak, deadline, idle_since = baseline, time.monotonic() + 60, None
        while time.monotonic() < deadline:
            progress = False
            for s in socks:
                if sent[s] >= per_client:
                    continue
                try:
                    sent[s] += s.send(chunk)
                    progress = True
                except (BlockingIOError, ConnectionResetError, BrokenPipeError):
                    sent[s] = sent[s] if sent[s] < per_client else per_client
            peak = max(peak, _rss_kib(srv.pid))
            if progress:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > 1.5:
                break  # the server has stopped reading them all
        peak = max(peak, _rss_kib(srv.pid))
        assert srv.proc.poll() is None
        with srv.connect() as other:  # a well-behaved client is still served
            assert echo_roundtrip(other, b"fine") == b"fine"
    finally:
        for s in socks:
            s.close()
    growth_mib = (peak - baseline) / 1024
    if SANITIZED:  # ASan's quarantine and shadow memory: the numbers are not sockbox's
        rc, err = srv.stop()
        assert rc == 0 and parse_summary(err) is not None
        return
    assert growth_mib < budget_mib * 1.5 + 16, f"RSS grew by {growth_mib:.0f} MiB"
    # Memory goes back once they are gone.
    deadline, now_kib = time.monotonic() + 15, peak
    while time.monotonic() < deadline:
        now_kib = _rss_kib(srv.pid)
        if (now_kib - baseline) / 1024 < 16:
            break
        time.sleep(0.25)
    assert (now_kib - baseline) / 1024 < 16, (
        f"RSS still {(now_kib - baseline) / 1024:.0f} MiB over the baseline after the clients left "
        f"(peak {growth_mib:.0f} MiB)")
    rc, err = srv.stop()
    print(f"peak growth {growth_mib:.1f} MiB; {parse_summary(err)['notes']}")
