#!/usr/bin/env bash
# bench/admin.sh - what --admin costs the service: echo under `sockbox bench -c 50 -d 16 -s 16`
# (case b), on `sockbox serve --workers 1 --admin ...` pinned to CPU 0, with and without
# /metrics scraped ADMIN_SCRAPE_HZ (10) times a second, in alternating windows (ADMIN_RUNS, 3
# each), so drift on a noisy machine falls on both. The load and the scraper (one Python
# process keeping its own pace) run on CPU 1. Reported per window: msgs/s, the server's CPU
# time per message (utime+stime from /proc/PID/stat over the window: the admin thread's work
# is in it) and the scrapes done; then the medians and their ratio beside the spread of the
# unscraped windows (the noise). The control window runs the scraper at the same pace against a
# server of its own: on 2 cores the load generator is the limit, and the scraper's own CPU on
# CPU 1 would otherwise be charged to sockbox.
# Run by bench/run.sh (group admin) or alone: SOCKBOX=build/sockbox bench/admin.sh
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh

SOCKBOX=${SOCKBOX:-build/sockbox}
SECS=${BENCH_SECS:-5}
RUNS=${ADMIN_RUNS:-3}
HZ=${ADMIN_SCRAPE_HZ:-10}

[[ $RUNS =~ ^[1-9]$ ]] || {
	echo "admin: ADMIN_RUNS must be 1-9" >&2
	exit 2
}
[[ $HZ =~ ^[1-9][0-9]{0,2}$ ]] || {
	echo "admin: ADMIN_SCRAPE_HZ must be 1-999" >&2
	exit 2
}
note() { echo "admin: $*" >&2; }

"${PIN0[@]}" "$SOCKBOX" serve echo --workers 1 -q -l 127.0.0.1:0 --admin 127.0.0.1:0 \
	>"$TMP/server.log" 2>&1 &
SPID=$!
PIDS+=("$SPID")
for ((i = 0; i < 100; i++)); do
	ADDR=$(grep -m1 -oE '127\.0\.0\.1:[0-9]+' "$TMP/server.log" || true)
	ADMIN=$(grep -m1 -oE 'admin on http://[0-9.:]+' "$TMP/server.log" || true)
	[[ -n $ADDR && -n $ADMIN ]] && break
	sleep 0.1
done
[[ -n $ADDR && -n $ADMIN ]] || {
	note "the server did not start: $(head -c 500 "$TMP/server.log")"
	exit 1
}
ADMIN=${ADMIN#admin on }

# One process scraping at a steady pace until told to stop; prints "whole/failed". With "self",
# it fetches the same body at the same pace from a server of its own (a thread in it): the
# control, which loads CPU 1 as much as scraping does and leaves sockbox alone.
cat >"$TMP/scrape.py" <<'EOF'
import http.server, signal, sys, threading, time, urllib.request
url, hz, control = sys.argv[1] + "/metrics", float(sys.argv[2]), sys.argv[3] == "self"
if control:
    with urllib.request.urlopen(url, timeout=5) as r:
        body = r.read()
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass
    own = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=own.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/metrics" % own.server_address[1]
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
done = bad = 0
next_t = time.monotonic()
while not stop:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            body_now = r.read()
        if b"sockbox_messages_total" in body_now:
            done += 1
        else:
            bad += 1
    except OSError:
        bad += 1
    next_t += 1 / hz
    time.sleep(max(0.0, next_t - time.monotonic()))
print("%d/%d" % (done, bad))
EOF

window() { # off|control|on: one window; prints "msgs/s ns_per_msg scrapes"
	local mode=$1 before after json scraper=""
	if [[ $mode != off ]]; then
		"${PIN1[@]}" "$PYTHON" "$TMP/scrape.py" "$ADMIN" "$HZ" \
			"$([[ $mode == control ]] && echo self || echo sockbox)" >"$TMP/scrapes" &
		scraper=$!
		PIDS+=("$scraper")
		sleep 0.3 # its start-up outside the window
	fi
	before=$(cpu_ticks "$SPID")
	json=$("${PIN1[@]}" timeout $((SECS + 60)) "$SOCKBOX" bench "$ADDR" -c 50 -d 16 -s 16 \
		-t "${SECS}s" --threads 1 --json 2>"$TMP/bench.err" | tail -n 1) || true
	after=$(cpu_ticks "$SPID")
	local scrapes="-"
	if [[ -n $scraper ]]; then
		kill -TERM "$scraper"
		wait "$scraper" || true
		scrapes=$(cat "$TMP/scrapes")
	fi
	"$PYTHON" -c '
import json, sys
try:
    d = json.loads(sys.argv[1])
except ValueError:
    print("failed 0 -"); sys.exit()
n = max(d["messages"], 1)
print("%.0f %.0f %s" % (d["msgs_per_s"], int(sys.argv[2]) / int(sys.argv[3]) * 1e9 / n,
                         sys.argv[4]))' "${json:-x}" $((after - before)) "$TICK" "$scrapes"
}

declare -A R C
echo "| window | /metrics | msgs/s | server CPU ns/msg | scrapes (whole/failed) |"
echo "|---:|---|---:|---:|---|"
for ((r = 1; r <= RUNS; r++)); do
	for mode in off control on; do
		read -r rate cpu scrapes < <(window "$mode")
		note "window $r, $mode: $rate msgs/s, $cpu ns/msg, scrapes $scrapes"
		[[ $rate != failed ]] || {
			note "bench failed: $(head -c 500 "$TMP/bench.err")"
			exit 1
		}
		R[$mode]+="$rate " C[$mode]+="$cpu "
		case $mode in
		off) what="not scraped" ;;
		control) what="not scraped; the scraper fetches from itself at ${HZ}/s (control)" ;;
		on) what="scraped ${HZ}/s" ;;
		esac
		echo "| $r | $what | $rate | $cpu | $scrapes |"
	done
done
"$PYTHON" - "${R[off]}" "${C[off]}" "${R[control]}" "${C[control]}" "${R[on]}" "${C[on]}" <<'EOF'
import statistics as st, sys
off_r, off_c, ctl_r, ctl_c, on_r, on_c = ([float(x) for x in a.split()] for a in sys.argv[1:7])
m = st.median
spread = lambda xs: (max(xs) - min(xs)) / m(xs) * 100 if len(xs) > 1 else 0.0
print()
print("| median | not scraped | control | scraped | scraped / control | spread (not scraped) |")
print("|---|---:|---:|---:|---:|---:|")
for name, a, b, c in (("msgs/s", off_r, ctl_r, on_r), ("server CPU ns/msg", off_c, ctl_c, on_c)):
    print("| %s | %.0f | %.0f | %.0f | %.3f | %.1f %% |" % (name, m(a), m(b), m(c), m(c) / m(b), spread(a)))
EOF
kill -TERM "$SPID"
wait "$SPID" 2>/dev/null || true
echo
echo "\`sockbox serve echo --workers 1 --admin\` on CPU 0; \`sockbox bench -c 50 -d 16 -s 16 --threads 1\`"
echo "and the scraper on CPU 1; ${SECS} s windows, alternating."
