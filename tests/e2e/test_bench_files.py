"""sockbox bench's files: --hist-out in HdrHistogram's percentile-distribution text, --svg
(rendered by a real headless Chromium), --json-buckets, `bench plot` and `bench merge` — two
runs made at the same time merge into exactly the histogram of both, and match one run of
the same total load against a server whose latency is fixed."""

import asyncio
import json
import os
import re
import subprocess
import threading
import xml.etree.ElementTree as ET

import pytest

from conftest import REPO, needs, popen, run, sockbox

SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def echo(serve):
    return serve("-q", "-l", "127.0.0.1:0", "--workers", "1")


def result(path):
    with open(path, encoding="utf-8") as f:
        return json.loads(f.read().splitlines()[-1])


def bench_to(path, *args, timeout=60):
    r = sockbox("bench", *args, timeout=timeout)
    assert r.returncode == 0, r.stderr
    with open(path, "wb") as f:
        f.write(r.stdout)
    return result(path)


# The histogram's rules (util/hist.h), for checking percentiles from raw buckets here.
SUB_BITS = 7


def bucket_range(i):
    if i < 2 << SUB_BITS:
        return i, i
    shift = (i >> SUB_BITS) - 1
    lo = ((i & ((1 << SUB_BITS) - 1)) + (1 << SUB_BITS)) << shift
    return lo, lo + (1 << shift) - 1


def percentile_us(hist, q):
    """What sockbox reports at quantile q, from the buckets: the middle of the bucket that
    holds the ceil(q * count)-th value, clamped to [min, max], in µs to 0.1."""
    import math
    count = hist["count"]
    want = max(1, math.ceil(q * count))
    cum = 0
    for i, n in hist["buckets"]:
        cum += n
        if cum >= want:
            lo, hi = bucket_range(i)
            v = min(max(lo + (hi - lo) // 2, hist["min"]), hist["max"])
            return round(v / 1000, 1)
    return round(hist["max"] / 1000, 1)


def test_hist_out_is_hdrhistogram_text(echo, tmp_path):
    out = tmp_path / "lat.hgrm"
    res = bench_to(tmp_path / "r.json", echo.addr, "-c", "2", "-n", "5000", "--json",
                   "--hist-out", str(out))
    lines = out.read_text().splitlines()
    # hdr_percentiles_print's header: four right-aligned 12-wide columns, then a blank line
    assert lines[0] == "%12s %12s %12s %12s" % ("Value", "Percentile", "TotalCount",
                                               "1/(1-Percentile)")
    assert lines[1] == ""
    rows = [l.split() for l in lines[2:] if not l.startswith("#")]
    footer = [l for l in lines if l.startswith("#[")]
    assert len(rows) > 10
    values = [float(r[0]) for r in rows]
    pcts = [float(r[1]) for r in rows]
    totals = [int(r[2]) for r in rows]
    assert values == sorted(values) and pcts == sorted(pcts) and totals == sorted(totals)
    assert pcts[0] == 0.0 and pcts[-1] == 1.0 and rows[-1][3] == "inf"
    assert totals[-1] == res["messages"] == 5000
    for r in rows[:-1]:
        assert abs(float(r[3]) - 1 / (1 - float(r[1]))) < 0.01 * float(r[3]) + 0.01
    # values in ms: the last is the max bench reported in µs
    assert abs(values[-1] * 1000 - res["latency_us"]["max"]) <= 0.1
    p50 = next(float(r[0]) for r in rows if float(r[1]) >= 0.5)
    assert abs(p50 * 1000 - res["latency_us"]["p50"]) <= 0.1
    assert re.match(r"#\[Mean    = +[\d.]+, StdDeviation   = +[\d.]+\]$", footer[0])
    assert re.match(r"#\[Max     = +[\d.]+, Total count    = +5000\]$", footer[1])


def test_json_buckets_are_the_histogram(echo, tmp_path):
    res = bench_to(tmp_path / "r.json", echo.addr, "-c", "2", "-n", "3000", "--json-buckets")
    h = res["latency_hist"]
    assert h["unit"] == "ns" and h["sub_bits"] == 7 and h["top_bit"] == 44
    assert h["count"] == res["messages"] == 3000
    assert sum(n for _, n in h["buckets"]) == 3000
    for q, key in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p999")):
        assert percentile_us(h, q) == res["latency_us"][key], key
    # plain --json stays as it was
    plain = bench_to(tmp_path / "p.json", echo.addr, "-n", "100", "--json")
    assert "latency_hist" not in plain


def test_merge_of_two_concurrent_runs_is_exact(echo, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    argv = [os.environ.get("SOCKBOX_BIN") or os.path.join(REPO, "build", "sockbox"), "bench",
            echo.addr, "-c", "2", "-d", "2", "-t", "1s", "--json-buckets"]
    pa = popen(argv, stdout=open(a, "wb"), stderr=subprocess.PIPE)
    pb = popen(argv, stdout=open(b, "wb"), stderr=subprocess.PIPE)
    assert pa.wait(60) == 0 and pb.wait(60) == 0
    ra, rb = result(a), result(b)
    r = sockbox("bench", "merge", str(a), str(b), "-o", str(tmp_path / "m.json"), timeout=30)
    assert r.returncode == 0, r.stderr
    m = result(tmp_path / "m.json")
    assert m["runs"] == 2
    for k in ("messages", "bytes_out", "bytes_in", "connections", "errors"):
        assert m[k] == ra[k] + rb[k], k
    assert abs(m["msgs_per_s"] - (ra["msgs_per_s"] + rb["msgs_per_s"])) < 0.2
    assert m["duration_s"] == max(ra["duration_s"], rb["duration_s"])
    # the buckets are the sums, and the percentiles come from them (not from averaging)
    summed = {}
    for res in (ra, rb):
        for i, n in res["latency_hist"]["buckets"]:
            summed[i] = summed.get(i, 0) + n
    assert dict(map(tuple, m["latency_hist"]["buckets"])) == summed
    h = m["latency_hist"]
    assert h["min"] == min(ra["latency_hist"]["min"], rb["latency_hist"]["min"])
    assert h["max"] == max(ra["latency_hist"]["max"], rb["latency_hist"]["max"])
    for q, key in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p999")):
        assert m["latency_us"][key] == percentile_us(h, q), key
        lo, hi = sorted((ra["latency_us"][key], rb["latency_us"][key]))
        assert lo <= m["latency_us"][key] <= hi, key  # a mixture's quantile lies between
    # merging the merge with nothing more changes nothing; merging it again adds up
    r = sockbox("bench", "merge", str(tmp_path / "m.json"), str(a), timeout=30)
    assert r.returncode == 0, r.stderr
    mm = json.loads(r.stdout.decode().splitlines()[-1])
    assert mm["runs"] == 3 and mm["messages"] == m["messages"] + ra["messages"]


class DelayEcho:
    """An echo server whose every reply leaves exactly DELAY after its bytes arrived: a
    latency the test knows, so two measurements of it can be compared."""

    def __init__(self, delay):
        self.delay = delay
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def handle(reader, writer):
            while data := await reader.read(65536):
                self.loop.call_later(self.delay, writer.write, data)
            await asyncio.sleep(self.delay * 2)
            writer.close()

        async def main():
            self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
            self.ready.set()
            async with self.server:
                await self.server.serve_forever()

        try:
            self.loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass

    def close(self):
        def stop():
            self.server.close()
            for t in asyncio.all_tasks(self.loop):
                t.cancel()
        self.loop.call_soon_threadsafe(stop)
        self.thread.join(10)


def test_merged_runs_match_one_run_of_the_same_load(tmp_path):
    srv = DelayEcho(0.02)
    try:
        addr = f"127.0.0.1:{srv.port}"
        argv = [os.environ.get("SOCKBOX_BIN") or os.path.join(REPO, "build", "sockbox"),
                "bench", addr, "-t", "2s", "-s", "16", "-d", "8", "--json-buckets"]
        half = argv + ["-c", "2", "--rate", "100"]
        files = [tmp_path / "h1.json", tmp_path / "h2.json"]
        ps = [popen(half, stdout=open(f, "wb"), stderr=subprocess.PIPE) for f in files]
        assert all(p.wait(60) == 0 for p in ps)
        whole = bench_to(tmp_path / "w.json", addr, "-c", "4", "--rate", "200", "-t", "2s", "-d", "8",
                         "-s", "16", "--json-buckets")
        r = sockbox("bench", "merge", *map(str, files), timeout=30)
        assert r.returncode == 0, r.stderr
        merged = json.loads(r.stdout.decode().splitlines()[-1])
    finally:
        srv.close()
    assert abs(merged["messages"] - whole["messages"]) <= 0.02 * whole["messages"] + 4
    assert abs(merged["msgs_per_s"] - whole["msgs_per_s"]) <= 0.02 * whole["msgs_per_s"] + 2
    # 20 ms, measured both ways: the histogram's error (< 1 %) and a little scheduling jitter
    for key in ("p50", "p90"):
        m, w = merged["latency_us"][key], whole["latency_us"][key]
        assert 19900 <= m and 19900 <= w, (key, m, w)
        assert abs(m - w) <= 0.01 * w + 1000, (key, m, w)


def test_plot_draws_each_result(echo, tmp_path):
    a = bench_to(tmp_path / "sockbox.json", echo.addr, "-n", "2000", "--json-buckets")
    bench_to(tmp_path / "summary-only.json", echo.addr, "-n", "2000", "--json")
    out = tmp_path / "cmp.svg"
    r = sockbox("bench", "plot", str(tmp_path / "sockbox.json"),
                str(tmp_path / "summary-only.json"), "-o", str(out), "--title", "A & B",
                timeout=30)
    assert r.returncode == 0, r.stderr
    root = ET.parse(out).getroot()  # well-formed XML
    assert root.tag == SVG_NS + "svg"
    lines = root.findall(f".//{SVG_NS}polyline")
    assert len(lines) == 2
    assert len(lines[0].get("points").split()) > 10  # the whole curve from buckets
    assert len(lines[1].get("points").split()) == 5  # min, p50, p90, p99, p99.9
    texts = ["".join(t.itertext()) for t in root.iter(SVG_NS + "text")]
    assert "A & B" in texts
    assert any(t.startswith("sockbox (max ") for t in texts)
    assert any(t.startswith("summary-only (max ") for t in texts)
    assert "99.9%" in texts and "Percentile" in texts
    assert a["messages"] == 2000


def test_bench_svg_and_merge_outputs(echo, tmp_path):
    res = bench_to(tmp_path / "r.json", echo.addr, "-n", "1000", "--json-buckets", "--svg",
                   str(tmp_path / "r.svg"))
    root = ET.parse(tmp_path / "r.svg").getroot()
    assert len(root.findall(f".//{SVG_NS}polyline")) == 1
    assert any(res["target"] in "".join(t.itertext()) for t in root.iter(SVG_NS + "text"))
    r = sockbox("bench", "merge", str(tmp_path / "r.json"), "--svg", str(tmp_path / "m.svg"),
                "--hist-out", str(tmp_path / "m.hgrm"), timeout=30)
    assert r.returncode == 0, r.stderr
    ET.parse(tmp_path / "m.svg")
    assert (tmp_path / "m.hgrm").read_text().splitlines()[-2].endswith("1000]")


def test_merge_and_plot_refuse_what_they_cannot_use(echo, tmp_path):
    bench_to(tmp_path / "plain.json", echo.addr, "-n", "100", "--json")
    bench_to(tmp_path / "b16.json", echo.addr, "-n", "100", "-s", "16", "--json-buckets")
    bench_to(tmp_path / "b64.json", echo.addr, "-n", "100", "-s", "64", "--json-buckets")
    (tmp_path / "junk.json").write_text("hello\n")
    cases = [
        (("merge", tmp_path / "plain.json"), 1, "--json-buckets"),
        (("merge", tmp_path / "b16.json", tmp_path / "b64.json"), 1, "different"),
        (("merge", tmp_path / "junk.json"), 1, "no JSON object"),
        (("merge", tmp_path / "missing.json"), 1, "No such file"),
        (("merge",), 2, "no result to merge"),
        (("plot", tmp_path / "b16.json"), 2, "-o OUT.svg"),
        (("plot", "-o", tmp_path / "x.svg"), 2, "no result to plot"),
        (("plot", tmp_path / "junk.json", "-o", tmp_path / "x.svg"), 1, "junk.json"),
        (("plot", "--bogus"), 2, "--bogus"),
    ]
    for args, rc, text in cases:
        r = sockbox("bench", *map(str, args), timeout=30)
        err = r.stderr.decode()
        assert r.returncode == rc, (args, r.returncode, err)
        assert text in err, (args, err)
    assert not (tmp_path / "x.svg").exists()


@needs("chromium")
def test_chromium_renders_the_plot(echo, tmp_path):
    """The SVG as an <img> in a real browser: it loads (an SVG Chromium cannot parse fails
    as an image) at its full size; a screenshot is kept in build/ to look at."""
    bench_to(tmp_path / "one.json", echo.addr, "-c", "2", "-n", "4000", "--json-buckets")
    bench_to(tmp_path / "two.json", echo.addr, "-c", "8", "-d", "4", "-n", "8000",
             "--json-buckets")
    svg = tmp_path / "plot.svg"
    r = sockbox("bench", "plot", str(tmp_path / "one.json"), str(tmp_path / "two.json"),
                "-o", str(svg), "--title", "sockbox echo: 2 connections against 8 x 4",
                timeout=30)
    assert r.returncode == 0, r.stderr
    page = tmp_path / "page.html"
    page.write_text(
        "<!doctype html><html><body><img id=p src='plot.svg'>"
        "<script>const i = document.getElementById('p');"
        "i.onload = () => { document.title = 'loaded ' + i.naturalWidth + 'x' + i.naturalHeight; };"
        "i.onerror = () => { document.title = 'failed'; };</script></body></html>")
    common = ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
              "--allow-file-access-from-files", "--virtual-time-budget=3000"]
    r = run(common + ["--dump-dom", page.as_uri()], timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "<title>loaded 900x540</title>" in r.stdout.decode(), r.stdout.decode()[:2000]
    os.makedirs(os.path.join(REPO, "build"), exist_ok=True)
    shot = os.path.join(REPO, "build", "bench-plot.png")
    r = run(common + ["--window-size=900,540", f"--screenshot={shot}", svg.as_uri()],
            timeout=120)
    assert r.returncode == 0 and os.path.getsize(shot) > 10000, r.stderr[-2000:]
