"""sockbox bench: bounded runs in every mode against `sockbox serve`, verification against a
corrupting echo server, the --json contract, exit codes."""

import json
import os
import pty
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import SOCKBOX_BIN, free_port, full_backlog_port, kill_proc, popen, sockbox

CONTRACT_KEYS = ("connections", "messages", "msgs_per_s", "mb_per_s", "latency_us", "errors")
PERCENTILES = ("p50", "p90", "p99", "p999", "max")


def bench(*args, timeout=60):
    return sockbox("bench", *args, timeout=timeout)


def bench_json(*args, expect_rc=0, timeout=60):
    r = bench(*args, "--json", timeout=timeout)
    out, err = r.stdout.decode(), r.stderr.decode(errors="replace")
    assert r.returncode == expect_rc, f"exit {r.returncode}; stdout {out!r}; stderr {err!r}"
    lines = out.splitlines()
    assert lines, f"no output; stderr {err!r}"
    res = json.loads(lines[-1])
    for k in CONTRACT_KEYS:
        assert k in res, f"--json lacks {k}: {res}"
    assert isinstance(res["errors"], int)
    return res, err


def assert_sane(res, messages=None, latency=True):
    assert res["errors"] == 0, res
    assert res["messages"] > 0, res
    if messages is not None:
        assert res["messages"] == messages, res
    assert res["msgs_per_s"] > 0 and res["mb_per_s"] > 0, res
    lat = [res["latency_us"][k] for k in PERCENTILES]
    assert lat == sorted(lat), f"percentiles out of order: {res['latency_us']}"
    if latency:
        assert lat[0] > 0, res


@pytest.fixture
def echo(serve):
    return serve("-q", "-l", "127.0.0.1:0", "--workers", "1")


def test_echo_run_bounded_by_messages(echo):
    res, _ = bench_json(echo.addr, "-c", "4", "-d", "8", "-s", "100", "-n", "4000")
    assert_sane(res, messages=4000)
    assert res["mode"] == "echo" and res["connections"] == 4
    assert res["bytes_out"] == 4000 * 100 and res["bytes_in"] == 4000 * 100
    assert res["errors_by_kind"]["mismatch"] == 0


def test_echo_run_bounded_by_duration(echo):
    res, _ = bench_json(echo.addr, "-c", "2", "-t", "1s")
    assert_sane(res)
    assert 0.9 <= res["duration_s"] <= 5, res


def test_echo_line_mode(echo):
    res, _ = bench_json(echo.addr, "--line", "-c", "3", "-d", "4", "-s", "50", "-n", "3000")
    assert_sane(res, messages=3000)
    assert res["line"] is True and res["message_bytes"] == 51


def test_large_messages_split_across_reads(echo):
    res, _ = bench_json(echo.addr, "-s", "200000", "-d", "3", "-n", "30")
    assert_sane(res, messages=30)


def test_send_only_reads_and_discards_the_echo(echo):
    # serve echoes everything back; bench must keep reading it or the server would stall.
    res, _ = bench_json(echo.addr, "--mode", "send-only", "-c", "2", "-s", "1000",
                        "-n", "200000")
    assert_sane(res, messages=200000, latency=False)
    assert res["bytes_out"] == 200000 * 1000


def test_connect_mode_counts_connections(echo):
    res, _ = bench_json(echo.addr, "--mode", "connect", "-c", "4", "-n", "200")
    assert_sane(res, messages=200)
    assert res["connects"] == 200


def test_unix_socket(serve, short_tmp):
    path = os.path.join(short_tmp, "e.sock")
    serve("-q", "-l", f"unix:{path}", "--workers", "1")
    res, _ = bench_json(f"unix:{path}", "-c", "2", "-d", "4", "-n", "1000")
    assert_sane(res, messages=1000)


def test_rate_paces_messages(echo):
    # 100 messages at 50/s cannot finish before their schedule (~2 s).
    res, _ = bench_json(echo.addr, "-c", "2", "--rate", "50", "-n", "100")
    assert_sane(res, messages=100)
    assert res["duration_s"] >= 1.9, res
    assert res["rate"] == 50 and res["unsent"] == 0


def test_rate_with_duration_sends_about_the_requested_count(echo):
    res, _ = bench_json(echo.addr, "-c", "3", "--rate", "300", "-t", "2s")
    assert_sane(res)
    assert 300 <= res["messages"] + res["unsent"] <= 900, res


def test_human_summary_and_no_progress_line_when_not_a_terminal(echo):
    r = bench(echo.addr, "-n", "500", "-c", "2")
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert "\r" not in out
    assert re.search(r"^messages: +500 in [\d.]+ s: \d+ msgs/s, [\d.]+ MB/s$", out, re.M), out
    assert re.search(r"^latency: +p50 [\d.]+ us, p90 [\d.]+ us, p99 [\d.]+ us, "
                     r"p99\.9 [\d.]+ us, max [\d.]+ us$", out, re.M), out
    assert re.search(r"^errors: +0$", out, re.M), out


def test_progress_line_on_a_terminal(echo):
    master, slave = pty.openpty()
    try:
        p = popen([SOCKBOX_BIN, "bench", echo.addr, "-t", "2500ms", "--json"],
                  stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        slave = None
        out = bytearray()
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        assert p.wait(30) == 0
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
        kill_proc(p)
    text = out.decode(errors="replace")
    assert "\r" in text and "msgs/s" in text and "p99" in text, text
    last = text.replace("\r\n", "\n").rstrip("\n").split("\n")[-1].split("\r")[-1]
    last = re.sub(r"\x1b\[K", "", last)
    assert json.loads(last)["messages"] > 0


class CorruptingEcho:
    """An echo server that flips one byte in every `every` bytes it returns."""

    def __init__(self, every=5000):
        self.every = every
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.accept, daemon=True)]
        self.threads[0].start()

    def accept(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            t = threading.Thread(target=self.serve, args=(c,), daemon=True)
            t.start()
            self.threads.append(t)

    def serve(self, c):
        count = 0
        c.settimeout(0.2)
        with c:
            while not self.stop.is_set():
                try:
                    data = bytearray(c.recv(65536))
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                for i in range(len(data)):
                    count += 1
                    if count % self.every == 0:
                        data[i] ^= 0x01
                try:
                    c.sendall(data)
                except OSError:
                    return

    def close(self):
        self.stop.set()
        self.sock.close()
        for t in self.threads:
            t.join(5)


def test_corrupted_replies_are_reported_and_exit_1():
    srv = CorruptingEcho(every=3000)
    try:
        res, err = bench_json(f"127.0.0.1:{srv.port}", "-c", "4", "-d", "4", "-s", "100",
                              "-t", "2s", expect_rc=1)
    finally:
        srv.close()
    assert res["errors_by_kind"]["mismatch"] >= 1, res
    assert res["errors"] >= res["errors_by_kind"]["mismatch"]
    assert re.search(r"^sockbox: \d+ replies differed from what was sent$", err, re.M), err


def test_refused_port_exits_4():
    port = free_port()
    r = bench(f"127.0.0.1:{port}", "-n", "10")
    err = r.stderr.decode()
    assert r.returncode == 4, err
    assert f"sockbox: cannot connect to 127.0.0.1:{port}: connection refused" in err


def test_first_connect_timing_out_exits_5():
    with full_backlog_port() as port:
        t0 = time.monotonic()
        r = bench(f"127.0.0.1:{port}", "-n", "1", "-W", "300ms")
        took = time.monotonic() - t0
    err = r.stderr.decode()
    assert r.returncode == 5, err
    assert f"sockbox: cannot connect to 127.0.0.1:{port}: timed out" in err
    assert took < 8, f"-W 300ms took {took:.1f} s (the default is 10 s)"


def test_unresolvable_name_exits_3():
    r = bench("no-such-host.invalid:80", "-n", "1")
    assert r.returncode == 3, r.stderr


BAD_USAGE = [
    pytest.param([], id="missing-addr"),
    pytest.param(["127.0.0.1"], id="addr-without-port"),
    pytest.param(["127.0.0.1:0"], id="port-0"),
    pytest.param(["udp://127.0.0.1:9"], id="udp"),
    pytest.param(["127.0.0.1:9", "-c", "0"], id="conns-0"),
    pytest.param(["127.0.0.1:9", "-c", "x"], id="conns-x"),
    pytest.param(["127.0.0.1:9", "-d", "0"], id="depth-0"),
    pytest.param(["127.0.0.1:9", "-s", "0"], id="size-0"),
    pytest.param(["127.0.0.1:9", "-t", "5x"], id="duration-5x"),
    pytest.param(["127.0.0.1:9", "-t", "0"], id="duration-0"),
    pytest.param(["127.0.0.1:9", "-n", "2", "-c", "3"], id="fewer-messages-than-conns"),
    pytest.param(["127.0.0.1:9", "--mode", "bogus"], id="mode-bogus"),
    pytest.param(["127.0.0.1:9", "--mode", "connect", "--rate", "10"], id="rate-connect"),
    pytest.param(["127.0.0.1:9", "--rate", "0"], id="rate-0"),
    pytest.param(["127.0.0.1:9", "--threads", "0"], id="threads-0"),
    pytest.param(["127.0.0.1:9", "-W", "0"], id="timeout-0"),
    pytest.param(["127.0.0.1:9", "--timeout", "soon"], id="timeout-soon"),
    pytest.param(["127.0.0.1:9", "--no-such-flag"], id="unknown-flag"),
    pytest.param(["127.0.0.1:9", "127.0.0.1:10"], id="two-addrs"),
]


@pytest.mark.parametrize("args", BAD_USAGE)
def test_usage_errors_exit_2(args):
    r = bench(*args)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 2, f"exit {r.returncode}, stderr: {err!r}"
    assert re.search(r"^sockbox: \S", err, re.M), err


def _help_flags():
    r = bench("--help")
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    flags = set(re.findall(r"(?m)^\s+(?:-\w, )?(--[a-z][a-z0-9-]*|-\w)\b", text))
    flags |= set(re.findall(r"(?m)^\s+-\w, (--[a-z][a-z0-9-]*)", text))
    return text, flags


def test_help_mentions_every_flag():
    text, _ = _help_flags()
    for flag in ("-c", "-d", "-s", "-t", "-n", "--threads", "--rate", "--line", "--mode",
                 "--json", "-4", "-6"):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text), flag


def _threads(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads line")


@pytest.mark.parametrize("threads,expect", [(1, 1), (2, 3)])
def test_sigint_ends_the_run_with_a_summary_and_one_thread_runs_on_the_main_thread(
        echo, threads, expect):
    """--threads 1 is a single-threaded process (the worker runs on the main thread, as
    serve --workers 1 does); N threads are N workers plus the main thread. Either way
    SIGINT stops the run early and the result is still printed."""
    p = popen([SOCKBOX_BIN, "bench", echo.addr, "-c", "2", "--threads", str(threads),
               "-t", "60s", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10  # the workers exist once bench_start returns
        while time.monotonic() < deadline and _threads(p.pid) != expect:
            time.sleep(0.05)
        time.sleep(0.5)  # running, not just started
        assert _threads(p.pid) == expect
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=15)
    finally:
        kill_proc(p)
    assert p.returncode == 0, err
    res = json.loads(out.decode().splitlines()[-1])
    assert res["messages"] > 0 and res["errors"] == 0, res
    assert res["duration_s"] < 30, res


class ResettingServer(CorruptingEcho):
    """Reads what the client sends, then resets the connection."""

    def serve(self, c):
        with c:
            try:
                c.recv(65536)
            except OSError:
                return
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


class StallingEcho(CorruptingEcho):
    """Echoes the first `every` bytes of each connection, then reads on and answers nothing."""

    def serve(self, c):
        answered = 0
        c.settimeout(0.2)
        with c:
            while not self.stop.is_set():
                try:
                    data = c.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                part = data[:max(0, self.every - answered)]
                answered += len(part)
                if part:
                    c.sendall(part)


def test_a_server_that_resets_every_connection_is_a_failed_run():
    srv = ResettingServer(every=0)
    try:
        res, err = bench_json(f"127.0.0.1:{srv.port}", "-c", "4", "-t", "2s", expect_rc=1)
    finally:
        srv.close()
    assert res["errors_by_kind"]["reset"] + res["errors_by_kind"]["closed"] >= 4, res
    assert res["open_at_end"] == 0
    assert "every connection was lost before the end" in err, err


def test_a_server_that_stops_answering_leaves_unanswered_messages_and_exit_1():
    srv = StallingEcho(every=64 * 50)  # 50 replies of 64 B per connection, then silence
    try:
        t0 = time.monotonic()
        res, err = bench_json(f"127.0.0.1:{srv.port}", "-c", "2", "-d", "4", "-t", "1s",
                              expect_rc=1)
        took = time.monotonic() - t0
    finally:
        srv.close()
    assert res["errors_by_kind"]["unanswered"] == 8, res  # depth 4 on each of 2 connections
    assert res["messages"] == 100, res  # 50 answered on each
    assert "unanswered 8" in err, err
    assert took < 5, f"the grace for owed replies is 1 s, the run took {took:.1f} s"


def test_max_errors_accepts_that_many(echo):
    srv = StallingEcho(every=64 * 50)
    try:
        res, err = bench_json(f"127.0.0.1:{srv.port}", "-c", "2", "-d", "4", "-t", "1s",
                              "--max-errors", "8")
    finally:
        srv.close()
    assert res["errors"] == 8 and res["messages"] > 0


def test_a_clean_run_owes_nothing_at_the_end(echo):
    res, _ = bench_json(echo.addr, "-c", "8", "-d", "16", "-t", "1s")
    assert res["errors"] == 0 and res["errors_by_kind"]["unanswered"] == 0
    assert res["open_at_end"] == 8


def test_an_impossible_run_is_refused_before_it_allocates(echo):
    r = bench(echo.addr, "-c", "1000000", "-d", "65536", "-s", "1")
    err = r.stderr.decode()
    assert r.returncode == 1
    assert re.search(r"need about [\d.]+ GB of memory, and [\d.]+ GB is available", err), err
