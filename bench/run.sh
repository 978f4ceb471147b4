#!/usr/bin/env bash
# bench/run.sh - sockbox against the syscall floor (bench/ref_echo.c), the tutorials'
# threaded Python server and redis: throughput, server CPU per message, latency and
# idle memory per connection. Run by `make bench`; see bench/README.md.
#
# Knobs (environment):
#   BENCH_SECS=5            seconds of load per case
#   BENCH_RUNS=1            load windows per case and server; the best (highest msgs/s) is kept
#   BENCH_IDLE_CONNS=10000  connections in the idle-memory case
#   BENCH_INSTALL=1         0: do not try to install redis-server for the idle case
#   PYTHON=/usr/bin/python3 interpreter for bench/threaded_echo.py
#   SOCKBOX=build/sockbox   the binary under test
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${BENCH_SECS:-5}
RUNS=${BENCH_RUNS:-1}
IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
PYTHON=${PYTHON:-/usr/bin/python3}
SOCKBOX=${SOCKBOX:-build/sockbox}
OUT=build/bench
CFLAGS=(-std=gnu11 -O2 -Wall -Wextra)

die() { echo "bench: $*" >&2; exit 1; }
[[ $SECS =~ ^[1-9][0-9]{0,4}$ ]] || die "BENCH_SECS must be a whole number of seconds"
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || die "BENCH_RUNS must be a number from 1 to 99"
[[ $IDLE_CONNS =~ ^[1-9][0-9]{0,5}$ ]] || die "BENCH_IDLE_CONNS must be a positive number"

mkdir -p "$OUT"
cc "${CFLAGS[@]}" -o "$OUT/ref_echo" bench/ref_echo.c
cc "${CFLAGS[@]}" -pthread -o "$OUT/loadgen" bench/loadgen.c
LOADGEN=$OUT/loadgen

if [[ ${BENCH_INSTALL:-1} == 1 ]] && ! command -v redis-server >/dev/null; then
	scripts/deps.sh redis-server || echo "bench: could not install redis-server" >&2
fi

# Servers and the load generator inherit this; 10,000 idle connections need it.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if ((IDLE_CONNS + 100 > $(ulimit -n))); then
	IDLE_CONNS=$(($(ulimit -n) - 100))
	echo "bench: open-file limit is $(ulimit -n); idle case uses $IDLE_CONNS connections" >&2
fi

# Server on CPU 0, load generator on CPU 1; no pinning on a single CPU.
SRV_PIN=() CLI_PIN=()
if (($(nproc) >= 2)); then
	SRV_PIN=(taskset -c 0) CLI_PIN=(taskset -c 1)
else
	echo "bench: only one CPU: not pinning; numbers will be noisy" >&2
fi
TICK=$(getconf CLK_TCK)
TMP=$(mktemp -d)
PIDS=()

alive() { # PID: running (a zombie counts as gone)
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[[ ${s:0:1} != Z ]]
}

stop_pid() { # PID: SIGTERM, up to 5 s, then SIGKILL; reap
	local i
	kill -TERM "$1" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "$1" || break
		sleep 0.1
	done
	alive "$1" && kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
	for i in "${!PIDS[@]}"; do # forget it: its number may be reused
		[[ ${PIDS[$i]} == "$1" ]] && unset "PIDS[$i]"
	done
	return 0
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		alive "$pid" && stop_pid "$pid"
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cpu_ticks() { # PID: utime + stime (fields 14 and 15 of /proc/PID/stat), all threads
	local s f
	s=$(cat "/proc/$1/stat") || return 1
	s=${s##*) } # fields from 3 on: comm may hold spaces
	read -ra f <<<"$s"
	echo $((f[11] + f[12]))
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

nfds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server LOG CMD...: starts CMD pinned, output to LOG; sets SRV_PID.
start_server() {
	local log=$1
	shift
	"${SRV_PIN[@]}" "$@" >"$log" 2>&1 &
	SRV_PID=$!
	PIDS+=("$SRV_PID")
}

# wait_ready LOG PID REGEX: up to 10 s for a line matching REGEX in LOG; prints it.
wait_ready() {
	local i line
	for ((i = 0; i < 100; i++)); do
		line=$(grep -m1 -oE "$3" "$1" || true)
		[[ -n $line ]] && { echo "$line"; return 0; }
		alive "$2" || break
		sleep 0.1
	done
	echo "bench: server not ready; its output:" >&2
	sed 's/^/  | /' "$1" >&2
	return 1
}

# Starts server NAME (ref_echo, sockbox, python, redis); sets SRV_PID and SRV_PORT.
launch() {
	local log=$TMP/$1.log line
	case $1 in
	ref_echo) start_server "$log" "$OUT/ref_echo" 0 ;;
	sockbox) start_server "$log" "$SOCKBOX" serve --workers 1 -q -l 127.0.0.1:0 ;;
	python) start_server "$log" "$PYTHON" bench/threaded_echo.py 0 ;;
	redis)
		SRV_PORT=$(free_port)
		start_server "$log" redis-server --port "$SRV_PORT" --bind 127.0.0.1 --save '' \
			--appendonly no --maxclients $((IDLE_CONNS + 100))
		wait_ready "$log" "$SRV_PID" 'Ready to accept connections' >/dev/null
		return
		;;
	esac
	line=$(wait_ready "$log" "$SRV_PID" 'listening on [^ ]*:[0-9]+') || return 1
	SRV_PORT=${line##*:}
}

HAVE_SOCKBOX=1
if [[ ! -x $SOCKBOX ]]; then
	HAVE_SOCKBOX=0
	echo "bench: $SOCKBOX is not built: skipping the sockbox rows" >&2
fi

CASES=(a b c)
declare -A CASE_ARGS=([a]="-c 50 -d 16 -s 16" [b]="-c 500 -d 1 -s 16" [c]="-c 1 -d 1 -s 16")
declare -A CASE_NAME=([a]="a: 50 conns x 16 deep, 16 B" [b]="b: 500 conns x 1, 16 B"
	[c]="c: 1 conn ping-pong, 16 B")
declare -A RATE CPU P50 P99 ERR
FAILED=0

# run_case SERVER CASE: one load window; keeps msgs/s, server CPU µs/msg and latency
# of the best window (highest msgs/s) of the BENCH_RUNS run for this case and server.
run_case() {
	local srv=$1 c=$2 before after out rate rc=0
	before=$(cpu_ticks "$SRV_PID")
	# shellcheck disable=SC2086
	out=$(timeout -k 5 $((SECS + 60)) "${CLI_PIN[@]}" "$LOADGEN" -H 127.0.0.1 -p "$SRV_PORT" \
		-t "$SECS" ${CASE_ARGS[$c]} 2>"$TMP/loadgen.err") || rc=$?
	after=$(cpu_ticks "$SRV_PID")
	echo "  $srv ${CASE_NAME[$c]}: ${out:-no result}" >&2
	if ((rc != 0)) || [[ -z $out ]]; then
		sed 's/^/  | /' "$TMP/loadgen.err" >&2
		FAILED=1
		ERR[$c,$srv]="failed (exit $rc)"
		[[ -z $out ]] && return
	fi
	rate=$(kv msgs_per_s "$out")
	((rate > ${RATE[$c,$srv]:--1})) || return 0
	RATE[$c,$srv]=$rate
	P50[$c,$srv]=$(kv p50_us "$out")
	P99[$c,$srv]=$(kv p99_us "$out")
	CPU[$c,$srv]=$(awk -v t=$((after - before)) -v hz="$TICK" -v m="$(kv msgs "$out")" \
		'BEGIN { printf "%.2f", (m > 0 ? t / hz * 1e6 / m : 0) }')
}

throughput_server() { # NAME
	local c r
	launch "$1" || { FAILED=1; return; }
	for c in "${CASES[@]}"; do
		for ((r = 0; r < RUNS; r++)); do
			run_case "$1" "$c"
		done
	done
	stop_pid "$SRV_PID"
}

ratio() { # VALUE BASE
	[[ -n $1 && -n $2 ]] || { echo "n/a"; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'
}

print_throughput() {
	local c s sb
	echo
	echo "Throughput: best of $RUNS x ${SECS} s per case; server pinned to CPU 0, loadgen to CPU 1"
	echo
	echo "| case | server | msgs/s | server CPU µs/msg | p50 µs | p99 µs | msgs/s vs sockbox | CPU/msg vs sockbox |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	for c in "${CASES[@]}"; do
		for s in ref_echo sockbox python; do
			[[ -n ${RATE[$c,$s]:-} || -n ${ERR[$c,$s]:-} ]] || continue
			sb=sockbox
			printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${CASE_NAME[$c]}" \
				"$s${ERR[$c,$s]:+ (${ERR[$c,$s]})}" \
				"${RATE[$c,$s]:-}" "${CPU[$c,$s]:-}" "${P50[$c,$s]:-}" "${P99[$c,$s]:-}" \
				"$(ratio "${RATE[$c,$s]:-}" "${RATE[$c,$sb]:-}")" \
				"$(ratio "${CPU[$c,$s]:-}" "${CPU[$c,$sb]:-}")"
		done
	done
}

declare -A IDLE
# idle_case NAME: server RSS before and after IDLE_CONNS idle connections.
idle_case() {
	local rss0 rss1 fd0 lg i n
	launch "$1" || { FAILED=1; return; }
	sleep 0.5
	rss0=$(rss_kb "$SRV_PID")
	fd0=$(nfds "$SRV_PID")
	"${CLI_PIN[@]}" "$LOADGEN" --idle -H 127.0.0.1 -p "$SRV_PORT" -c "$IDLE_CONNS" -t 300 \
		>"$TMP/idle.out" 2>&1 &
	lg=$!
	PIDS+=("$lg")
	for ((i = 0; i < 600; i++)); do # client side: up to 60 s
		grep -q '^established=' "$TMP/idle.out" && break
		alive "$lg" || break
		sleep 0.1
	done
	for ((i = 0; i < 300; i++)); do # server side: up to 30 s until it holds them all
		n=$(nfds "$SRV_PID")
		((n - fd0 >= IDLE_CONNS)) && break
		sleep 0.1
	done
	sleep 1
	rss1=$(rss_kb "$SRV_PID")
	echo "  $1: rss ${rss0} kB -> ${rss1} kB, fds ${fd0} -> ${n}" >&2
	if ((n - fd0 < IDLE_CONNS)); then
		sed 's/^/  | /' "$TMP/idle.out" >&2
		IDLE[$1]="only $((n - fd0)) connections accepted"
		FAILED=1
	else
		IDLE[$1]="$rss0 | $rss1 | $(((rss1 - rss0) * 1024 / IDLE_CONNS))"
	fi
	stop_pid "$lg"
	stop_pid "$SRV_PID"
}

print_idle() {
	local s
	echo
	echo "Idle memory: server VmRSS before and after $IDLE_CONNS idle connections"
	echo
	echo "| server | RSS before (kB) | RSS after (kB) | bytes/conn |"
	echo "|---|---:|---:|---:|"
	for s in sockbox ref_echo redis; do
		[[ -n ${IDLE[$s]:-} ]] && echo "| $s | ${IDLE[$s]} |"
	done
	return 0
}

echo "bench: $(nproc) CPUs, $(uname -r), open-file limit $(ulimit -n)" >&2
for s in ref_echo sockbox python; do
	[[ $s == sockbox && $HAVE_SOCKBOX == 0 ]] && continue
	echo "bench: throughput, $s" >&2
	throughput_server "$s"
done
print_throughput
((HAVE_SOCKBOX == 0)) && echo && echo "(sockbox rows skipped: $SOCKBOX is not built)"

for s in sockbox ref_echo redis; do
	[[ $s == sockbox && $HAVE_SOCKBOX == 0 ]] && continue
	[[ $s == redis ]] && ! command -v redis-server >/dev/null && continue
	echo "bench: idle memory, $s" >&2
	idle_case "$s"
done
print_idle
exit "$FAILED"
