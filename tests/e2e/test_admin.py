"""--admin: /metrics (promtool-clean, counting the traffic the test made), /status, and the live
page rendered by a real headless Chromium."""

import json
import os
import re
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import IO_TIMEOUT, REPO, echo_roundtrip, needs, run

ADMIN_RE = re.compile(r"^admin on http://(\S+)/$")


def admin_url(srv):
    line = srv.wait_for(lambda s: next((l for l in s.lines if ADMIN_RE.match(l)), None),
                        what="the admin line")
    return "http://" + ADMIN_RE.match(line).group(1)


def get(url):
    with urllib.request.urlopen(url, timeout=IO_TIMEOUT) as r:
        return r.status, r.headers, r.read()


def metric(text, name, labels=None):
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        if labels is not None and m.group(2) != labels:
            continue
        return float(m.group(3))
    raise KeyError(f"{name}{labels or ''} not in the metrics")


def test_metrics_count_the_traffic_and_pass_promtool(serve):
    srv = serve("echo", "--workers", "2", "-l", "127.0.0.1:0", "--admin", "127.0.0.1:0")
    url = admin_url(srv)
    for i in range(5):
        with srv.connect() as s:
            assert echo_roundtrip(s, b"hello") == b"hello"
    held = srv.connect()
    try:
        assert echo_roundtrip(held, b"x") == b"x"
        deadline = time.monotonic() + IO_TIMEOUT
        while True:  # the closes are counted when the server has seen them
            status, headers, body = get(url + "/metrics")
            text = body.decode()
            if metric(text, "sockbox_connections_closed_total", '{reason="peer_closed"}') == 5:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
        assert status == 200
        assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        listener = srv.addrs[0]
        assert metric(text, "sockbox_connections_accepted_total",
                      f'{{listener="{listener}"}}') == 6
        assert metric(text, "sockbox_connections_active") == 1
        assert metric(text, "sockbox_received_bytes_total") == 26
        assert metric(text, "sockbox_sent_bytes_total") == 26
        assert metric(text, "sockbox_messages_total", '{service="echo"}') == 6
        assert metric(text, "sockbox_connection_duration_seconds_count") == 5
        assert metric(text, "sockbox_connection_duration_seconds_bucket", '{le="+Inf"}') == 5
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds", "process_max_fds", "process_start_time_seconds"):
            assert metric(text, name) > 0, name
        assert abs(metric(text, "process_start_time_seconds") - time.time()) < 3600
        if os.path.exists("/usr/bin/promtool"):
            r = run(["promtool", "check", "metrics"], input=body, timeout=30)
            assert r.returncode == 0, r.stdout + r.stderr
    finally:
        held.close()


def test_refusals_are_counted_by_reason(serve):
    srv = serve("echo", "-l", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--max-conns", "1",
                "--deny", "127.0.0.2/32")
    url = admin_url(srv)
    port = int(srv.addrs[0].rsplit(":", 1)[1])
    with socket.socket() as s:
        s.settimeout(IO_TIMEOUT)
        s.bind(("127.0.0.2", 0))
        s.connect(("127.0.0.1", port))
        assert s.recv(100) == b""  # denied
    deadline = time.monotonic() + IO_TIMEOUT
    while True:  # the denied one gone before the next takes the only slot
        text = get(url + "/metrics")[2].decode()
        if metric(text, "sockbox_connections_active") == 0:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.05)
    held = srv.connect()
    try:
        assert echo_roundtrip(held, b"x") == b"x"
        with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
            assert s.recv(100) == b""  # over --max-conns: closed at once
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            text = get(url + "/metrics")[2].decode()
            got = {r: metric(text, "sockbox_connections_rejected_total", f'{{reason="{r}"}}')
                   for r in ("max_conns", "access_list", "per_ip", "fd_exhausted")}
            if got == {"max_conns": 1, "access_list": 1, "per_ip": 0, "fd_exhausted": 0}:
                break
            assert time.monotonic() < deadline, got
            time.sleep(0.05)
    finally:
        held.close()


def test_status_json_and_other_paths(serve):
    srv = serve("reverse", "-l", "127.0.0.1:0", "--admin", "127.0.0.1:0")
    url = admin_url(srv)
    with srv.connect() as s:
        s.sendall(b"abc\n")
        assert s.recv(10) == b"cba\n"
        status, headers, body = get(url + "/status")
        doc = json.loads(body)
        assert headers["Content-Type"] == "application/json"
        assert doc["service"] == "reverse" and doc["listeners"] == srv.addrs
        assert doc["connections"]["active"] == 1 and doc["messages"] == 1
        assert doc["version"].startswith("0.")
    with pytest.raises(urllib.error.HTTPError) as e:
        get(url + "/nope")
    assert e.value.code == 404
    req = urllib.request.Request(url + "/metrics", method="POST", data=b"x")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=IO_TIMEOUT)
    assert e.value.code == 405


@needs("chromium")
def test_the_page_in_headless_chromium_shows_the_traffic(serve, tmp_path):
    srv = serve("echo", "-l", "127.0.0.1:0", "--admin", "127.0.0.1:0")
    url = admin_url(srv)
    held = [srv.connect() for _ in range(3)]
    try:
        for s in held:
            assert echo_roundtrip(s, b"0123456789") == b"0123456789"
        common = ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
                  "--virtual-time-budget=4000"]
        r = run(common + ["--dump-dom", url + "/"], timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        dom = r.stdout.decode()

        def text_of(id_):
            m = re.search(rf'id="{id_}"[^>]*>([^<]*)<', dom)
            assert m, (id_, dom[:2000])
            return m.group(1)

        assert int(text_of("polls")) >= 2, dom[:2000]  # it polled, and again
        assert text_of("conns") == "3"
        assert text_of("accepted") == "3"
        assert text_of("messages") == "3"
        assert text_of("bytes_in") == "30" and text_of("bytes_out") == "30"
        assert text_of("service") == "echo"
        shot = os.path.join(REPO, "build", "admin-page.png")
        r = run(common + ["--window-size=1200,700", f"--screenshot={shot}", url + "/"],
                timeout=120)
        assert r.returncode == 0 and os.path.getsize(shot) > 1000
    finally:
        for s in held:
            s.close()
