#!/usr/bin/env bash
# bench/fanout.sh - one room of FANOUT_SUBS (1,000) members, FANOUT_SENDERS (4) senders at a
# fixed total rate: delivered messages/s and send-to-receipt latency, for
#   local  `sockbox serve chat --workers 1` (the local bus)
#   redis  two `sockbox serve chat --bus redis://...` on one redis-server, the subscribers split
#          over both, the senders on the first (half the deliveries cross Redis)
#   anchor redis-server's own pub/sub: SUBS connections SUBSCRIBEd to one channel, the senders
#          PUBLISHing to it
# all driven by the same client (bench/fanout.c, CPU 1); every server process on CPU 0, whose
# CPU time per delivered message is the last column. Rates: FANOUT_RATES messages/s.
# Run by bench/run.sh (group fanout) or alone: SOCKBOX=build/sockbox bench/fanout.sh
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh

SOCKBOX=${SOCKBOX:-build/sockbox}
SECS=${BENCH_SECS:-5}
SUBS=${FANOUT_SUBS:-1000}
SENDERS=${FANOUT_SENDERS:-4}
# shellcheck disable=SC2206
RATES=(${FANOUT_RATES:-1000 4000 8000 16000})
OUT=build/bench
ulimit -n $((SUBS * 3 + 1000)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

note() { echo "fanout: $*" >&2; }
stop() {
	local p
	for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
}
chat_server() { # LOG [BUS]: starts sockbox chat on CPU 0; echoes "PID PORT"
	local log=$1 i line=""
	shift
	"${PIN0[@]}" "$SOCKBOX" serve chat --workers 1 -q -l 127.0.0.1:0 "$@" 2>"$log" &
	local pid=$!
	PIDS+=("$pid")
	for ((i = 0; i < 100; i++)); do
		line=$(grep -m1 -oE 'listening on 127\.0\.0\.1:[0-9]+' "$log" || true)
		[[ -n $line ]] && break
		sleep 0.1
	done
	echo "$pid ${line##*:}"
}
redis_server() { # echoes "PID PORT"
	local port pid i
	port=$(free_port)
	"${PIN0[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
		--maxclients $((SUBS * 2 + 100)) >/dev/null 2>&1 &
	pid=$!
	PIDS+=("$pid")
	for ((i = 0; i < 50; i++)); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	echo "$pid $port"
}

command -v redis-server >/dev/null || {
	echo "skipped: redis-server is not installed"
	exit 0
}
mkdir -p "$OUT"
cc -std=gnu11 -O2 -Wall -Wextra -o "$OUT/fanout" bench/fanout.c

declare -A ROW
measure() { # NAME RATE MODE PORTS SERVER_PIDS...
	local name=$1 rate=$2 mode=$3 ports=$4 before after json
	shift 4
	before=$(cpu_ticks "$@")
	json=$("${PIN1[@]}" timeout $((SECS + 60)) "$OUT/fanout" "$mode" 127.0.0.1 "$ports" "$SUBS" \
		"$SENDERS" "$rate" "$SECS" 2>"$TMP/err" | tail -n 1) || true
	after=$(cpu_ticks "$@")
	note "$name at $rate/s: ${json:-failed: $(head -c 300 "$TMP/err")}"
	ROW[$name,$rate]=$("$PYTHON" -c '
import json, sys
try:
    d = json.loads(sys.argv[1])
except ValueError:
    print("failed | | | |"); sys.exit()
cpu = int(sys.argv[2]) / int(sys.argv[3]) * 1e9 / max(d["delivered"], 1)
ok = "" if d["delivered"] == d["expected"] else " (%d of %d)" % (d["delivered"], d["expected"])
print("%.0f%s | %.0f | %.0f | %.0f |" % (d["delivered_per_s"], ok, d["latency_us"]["p50"],
      d["latency_us"]["p99"], cpu))' "${json:-x}" $((after - before)) "$TICK")
}

for rate in "${RATES[@]}"; do
	read -r spid sport < <(chat_server "$TMP/local.log")
	measure local "$rate" chat "$sport" "$spid"
	stop "$spid"

	read -r rpid rport < <(redis_server)
	read -r apid aport < <(chat_server "$TMP/a.log" --bus "redis://127.0.0.1:$rport/fo$rate")
	read -r bpid bport < <(chat_server "$TMP/b.log" --bus "redis://127.0.0.1:$rport/fo$rate")
	sleep 1 # both on the bus
	measure redis "$rate" chat "$aport,$bport" "$apid" "$bpid" "$rpid"
	stop "$apid" "$bpid" "$rpid"

	read -r rpid rport < <(redis_server)
	measure anchor "$rate" redis "$rport" "$rpid"
	stop "$rpid"
done

echo "| rate (msgs/s) | server | delivered msgs/s | p50 µs | p99 µs | server CPU ns/delivery |"
echo "|---:|---|---:|---:|---:|---:|"
for rate in "${RATES[@]}"; do
	echo "| $rate | sockbox chat, local bus | ${ROW[local,$rate]}"
	echo "| $rate | 2 x sockbox chat through Redis | ${ROW[redis,$rate]}"
	echo "| $rate | redis-server pub/sub (anchor) | ${ROW[anchor,$rate]}"
done
echo
echo "$SUBS receivers in one room (one channel), $SENDERS senders, ${SECS} s per row; latency from"
echo "send to each receiver's read, by the same client (bench/fanout.c, one thread, CPU 1)."
echo "Server processes on CPU 0 (the through-Redis row: both sockbox and redis-server)."
