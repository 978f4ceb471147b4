#!/usr/bin/env bash
# bench/queued.sh - server memory against the number of clients that never read.
#
# For each N in QUEUED_NS, a fresh `sockbox serve --workers 1` (pinned to CPU 0) gets N
# connections from bench/noread.py (CPU 1) that send up to 1 MiB each without reading; the
# table shows the server's RSS growth once they are all blocked, the connections the
# --max-queued budget closed, and the RSS left 5 s after they all went. Rows for the default
# budget (256M) and for none (--max-queued 0), the latter only up to QUEUED_NOBUDGET_MAX.
# Run by bench/run.sh (group queued) or alone: SOCKBOX=build/sockbox bench/queued.sh
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh

SOCKBOX=${SOCKBOX:-build/sockbox}
# shellcheck disable=SC2206 # a list of numbers
NS=(${QUEUED_NS:-0 1000 2000 5000 10000})
NOBUDGET_MAX=${QUEUED_NOBUDGET_MAX:-2000}
ulimit -n 20000 2>/dev/null || true

note() { echo "queued: $*" >&2; }
rss_mib() { awk -v kb="$(rss_kb "$1")" 'BEGIN { printf "%.1f", kb / 1024 }'; }

# row N BUDGET: one line of the table.
row() {
	local n=$1 budget=$2 srv port hold line i base peak after closed
	"${PIN0[@]}" "$SOCKBOX" serve --workers 1 -q --max-queued "$budget" -l 127.0.0.1:0 \
		2>"$TMP/srv.log" &
	srv=$!
	PIDS+=("$srv")
	for ((i = 0; i < 100; i++)); do
		line=$(grep -m1 -oE 'listening on 127\.0\.0\.1:[0-9]+' "$TMP/srv.log" || true)
		[[ -n $line ]] && break
		sleep 0.1
	done
	port=${line##*:}
	sleep 0.3
	base=$(rss_mib "$srv")
	peak=$base
	if ((n > 0)); then
		"${PIN1[@]}" "$PYTHON" bench/noread.py 127.0.0.1 "$port" "$n" $((1 << 20)) \
			>"$TMP/hold.out" 2>&1 &
		hold=$!
		PIDS+=("$hold")
		for ((i = 0; i < 1500; i++)); do # up to 150 s
			grep -q '^blocked=' "$TMP/hold.out" && break
			kill -0 "$hold" 2>/dev/null || break
			sleep 0.1
			peak=$(awk -v a="$peak" -v b="$(rss_mib "$srv")" 'BEGIN { print (b > a ? b : a) }')
		done
		peak=$(awk -v a="$peak" -v b="$(rss_mib "$srv")" 'BEGIN { print (b > a ? b : a) }')
		kill -TERM "$hold" 2>/dev/null || true
		wait "$hold" 2>/dev/null || true
		sleep 5
	fi
	after=$(rss_mib "$srv")
	kill -TERM "$srv"
	wait "$srv" 2>/dev/null || true
	closed=$(grep -oE '[0-9]+ connections closed over --max-queued' "$TMP/srv.log" | cut -d' ' -f1 || true)
	echo "| $n | ${budget/#0/none} | $base | $peak | $(awk -v p="$peak" -v b="$base" 'BEGIN { printf "%.1f", p - b }') | ${closed:-0} | $after |"
	note "N=$n budget=$budget: base $base peak $peak after $after closed ${closed:-0}"
}

echo "| non-reading clients | --max-queued | RSS before (MiB) | peak RSS (MiB) | growth (MiB) | closed over budget | RSS 5 s after they left (MiB) |"
echo "|---:|---|---:|---:|---:|---:|---:|"
for n in "${NS[@]}"; do row "$n" 256M; done
for n in "${NS[@]}"; do ((n <= NOBUDGET_MAX)) && row "$n" 0; done
echo
echo "Each client sends up to 1 MiB without reading (64 KiB socket buffers); sockbox --workers 1"
echo "echoes, so what it cannot send waits in its queues. Growth is the server's VmRSS peak over"
echo "its RSS before the clients came."
