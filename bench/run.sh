#!/usr/bin/env bash
# bench/run.sh - sockbox's comparisons, run by `make bench` (never by `make test`):
#   echo     sockbox (1 worker, all cores) vs bench/ref_echo.c, bench/uv_echo.c (libuv), the
#            tutorials' threaded Python echo and socat fork, driven by `sockbox bench`
#   anchors  redis-server + redis-benchmark, sockperf server + ping-pong, iperf3, each beside
#            the comparable sockbox number from the same run
#   idle     server memory per idle connection: sockbox, ref_echo, uv_echo, redis-server
#   gen      `sockbox bench` vs the hand-written minimal client bench/min_client.c
#   framed   framed request/reply on sockbox --workers 1 (echo --framing line, ack, reverse)
#            beside raw echo and redis-server answering PING under redis-benchmark
#   insn     bench/callgrind.sh: user-space instructions per message (raw, line, ack, reverse)
#   queued   bench/queued.sh: server RSS against 0-10,000 clients that never read (--max-queued)
#   tls      bench/tls.sh: TLS echo against nginx stream ssl, HAProxy and stunnel terminating
#            TLS in front of a plain echo (handshakes/s, small messages, bulk, idle memory)
#   fanout   bench/fanout.sh: one chat room of 1,000 members (local bus, and two instances
#            through Redis) against redis-server's own pub/sub with 1,000 subscribers
#   admin    bench/admin.sh: echo (case b) with /metrics scraped 10 times a second, against a
#            control with the same scraper load on the client's core and against no scraping
#   ls       bench/ls.sh (sockbox ls vs lsof), if present
# Tables (Markdown) go to stdout and build/bench/results.md; progress and raw lines to stderr.
# See bench/README.md.
#
# Knobs (environment):
#   BENCH_SECS=5            seconds of load per window
#   BENCH_RUNS=1            windows per case and server; the best (highest msgs/s) is kept
#   BENCH_IDLE_CONNS=10000  connections in the idle-memory case
#   BENCH_INSTALL=1         0: do not install missing packages (their rows say "skipped")
#   BENCH_ONLY=echo,anchors,idle,gen,framed,insn,queued,tls,fanout,admin,ls   groups to run
#   BENCH_CASES="a b c d"   echo cases to run
#   BENCH_SERVERS="sockbox1 sockboxN ref_echo uv_echo python socat"   echo servers to run
#   SOCKBOX=build/sockbox   the binary under test (server and load generator)
#   PYTHON=/usr/bin/python3 interpreter for threaded_echo.py, hold_conns.py and JSON parsing
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SECS=${BENCH_SECS:-5}
RUNS=${BENCH_RUNS:-1}
IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
INSTALL=${BENCH_INSTALL:-1}
ONLY=${BENCH_ONLY:-echo,anchors,idle,gen,framed,insn,queued,tls,fanout,admin,ls}
# shellcheck disable=SC2206 # word lists
CASES=(${BENCH_CASES:-a b c d})
# shellcheck disable=SC2206
SERVERS=(${BENCH_SERVERS:-sockbox1 sockboxN ref_echo uv_echo python socat})
SOCKBOX=${SOCKBOX:-build/sockbox}
OUT=build/bench
CFLAGS=(-std=gnu11 -O2 -Wall -Wextra)
PKGS=(pkg-config libuv1-dev redis-server redis-tools sockperf iperf3 socat procps valgrind
	nginx-light libnginx-mod-stream haproxy stunnel4)
NCPU=$(nproc)

die() {
	echo "bench: $*" >&2
	exit 1
}
note() { echo "bench: $*" >&2; }

[[ $SECS =~ ^[1-9][0-9]{0,4}$ ]] || die "BENCH_SECS must be a whole number of seconds"
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || die "BENCH_RUNS must be a number from 1 to 99"
[[ $IDLE_CONNS =~ ^[1-9][0-9]{0,5}$ ]] || die "BENCH_IDLE_CONNS must be a positive number"
[[ $INSTALL == [01] ]] || die "BENCH_INSTALL must be 0 or 1"
for g in ${ONLY//,/ }; do
	[[ $g =~ ^(echo|anchors|idle|gen|framed|insn|queued|tls|fanout|admin|ls)$ ]] ||
		die "BENCH_ONLY: unknown group '$g' (echo, anchors, idle, gen, framed, insn, queued, tls, fanout, admin, ls)"
done
for c in "${CASES[@]}"; do
	[[ $c =~ ^[abcd]$ ]] || die "BENCH_CASES: unknown case '$c' (a, b, c, d)"
done
for s in "${SERVERS[@]}"; do
	[[ $s =~ ^(sockbox1|sockboxN|ref_echo|uv_echo|python|socat)$ ]] ||
		die "BENCH_SERVERS: unknown server '$s'"
done
want() { [[ ,$ONLY, == *,$1,* ]]; }

[[ -x $SOCKBOX ]] || die "$SOCKBOX is not built (make, or set SOCKBOX)"
if want echo || want anchors || want gen || want framed; then
	"$SOCKBOX" bench --help >/dev/null 2>&1 ||
		die "$SOCKBOX has no working 'bench' command: it is the load generator here"
fi

if [[ $INSTALL == 1 ]]; then
	scripts/deps.sh "${PKGS[@]}" || note "could not install every package; missing ones are skipped"
fi
have() { command -v "$1" >/dev/null; }

mkdir -p "$OUT"
cc "${CFLAGS[@]}" -o "$OUT/ref_echo" bench/ref_echo.c
cc "${CFLAGS[@]}" -o "$OUT/min_client" bench/min_client.c
UV_SKIP=""
if pkg-config --exists libuv 2>/dev/null; then
	# shellcheck disable=SC2046 # pkg-config prints several words
	cc "${CFLAGS[@]}" $(pkg-config --cflags libuv) -o "$OUT/uv_echo" bench/uv_echo.c \
		$(pkg-config --libs libuv)
else
	UV_SKIP="libuv1-dev is not installed"
fi

# Servers and clients inherit this; 10,000 idle connections need it.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if ((IDLE_CONNS + 100 > $(ulimit -n))); then
	IDLE_CONNS=$(($(ulimit -n) - 100))
	note "open-file limit is $(ulimit -n); the idle case uses $IDLE_CONNS connections"
fi

# Single-threaded servers on CPU 0 (PIN0), every client on CPU 1 (PIN1), as bench/lib.sh set
# them; with one CPU nothing is pinned.
((NCPU >= 2)) || note "only one CPU: not pinning; numbers will be noisy"
FAILED=0

alive() { # PID: running (a zombie counts as gone)
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[[ ${s:0:1} != Z ]]
}

stop_pid() { # PID: SIGTERM, up to 5 s, then SIGKILL; reap; forget
	local i
	kill -TERM "$1" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "$1" || break
		sleep 0.1
	done
	alive "$1" && kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
	forget "$1"
}

forget() { # PID: reaped; drop it from PIDS, as its number may be reused
	local i
	for i in "${!PIDS[@]}"; do
		[[ ${PIDS[$i]} == "$1" ]] && unset "PIDS[$i]"
	done
	return 0
}

# The servers are stopped, not killed: at exit (bench/lib.sh's trap) as between cases.
# shellcheck disable=SC2317 # called by the EXIT trap
bench_cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		alive "$pid" && stop_pid "$pid"
	done
	rm -rf "$TMP"
}

# ticks PID: CPU time of PID (every thread) and of its children, live or reaped:
# utime+stime+cutime+cstime (fields 14-17 of /proc/PID/stat), the same for each live child.
ticks() {
	local s f pid sum=0
	for pid in "$1" $(children "$1"); do
		s=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		s=${s##*) } # fields from 3 on: comm may hold spaces
		read -ra f <<<"$s"
		sum=$((sum + f[11] + f[12] + f[13] + f[14]))
	done
	echo "$sum"
}

# settle PID: up to 10 s for PID's children (socat's per-connection processes) to be reaped,
# so their CPU time is in PID's cutime/cstime and counted once.
settle() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -z $(children "$1") ]] && return 0
		sleep 0.1
	done
	note "children of $1 still running after 10 s"
}

nfds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }


# jfields JSON KEY...: the values (dotted keys for nested objects), one line, "-" for null.
jfields() {
	"$PYTHON" -c '
import json, sys
d = json.loads(sys.argv[1])
out = []
for k in sys.argv[2:]:
    v = d
    for p in k.split("."):
        v = v.get(p) if isinstance(v, dict) else None
    out.append("-" if v is None else str(v))
print(" ".join(out))' "$@"
}

# start PINARRAY-NAME LOG CMD...: starts CMD in the background; sets SRV_PID.
start() {
	local -n pin=$1
	local log=$2
	shift 2
	"${pin[@]}" "$@" >"$log" 2>&1 &
	SRV_PID=$!
	PIDS+=("$SRV_PID")
}

# start_quiet PINARRAY-NAME LOG CMD...: as start, with stdout to /dev/null.
start_quiet() {
	local -n pin=$1
	local log=$2
	shift 2
	"${pin[@]}" "$@" >/dev/null 2>"$log" &
	SRV_PID=$!
	PIDS+=("$SRV_PID")
}

wait_line() { # LOG PID REGEX: up to 10 s for REGEX in LOG; prints the match
	local i line
	for ((i = 0; i < 100; i++)); do
		line=$(grep -s -m1 -oE "$3" "$1" || true)
		[[ -n $line ]] && {
			echo "$line"
			return 0
		}
		alive "$2" || break
		sleep 0.1
	done
	note "server not ready; its output:"
	sed 's/^/  | /' "$1" >&2
	return 1
}

wait_port() { # LOG PID PORT: up to 10 s for a listener on PORT
	local i
	for ((i = 0; i < 100; i++)); do
		listening "$3" && return 0
		alive "$2" || break
		sleep 0.1
	done
	note "server not listening on $3; its output:"
	sed 's/^/  | /' "$1" >&2
	return 1
}

# launch NAME: starts server NAME; sets SRV_PID, SRV_PORT, SRV_FORKS (1: a process per
# connection) and CLI (the pinning for its clients).
declare -A LABEL=(
	[sockbox1]="sockbox --workers 1" [sockboxN]="sockbox --workers $NCPU ¹"
	[ref_echo]="ref_echo (epoll)" [uv_echo]="uv_echo (libuv)" [python]="threaded_echo.py"
	[socat]="socat fork PIPE" [redis]="redis-server" [sockperf]="sockperf server"
	[iperf3]="iperf3 -s" [sockbox1_line]="sockbox echo --framing line"
	[sockbox1_ack]="sockbox ack (len64)" [sockbox1_reverse]="sockbox reverse (line)"
)
# shellcheck disable=SC2034
NOPIN=()
launch() {
	local log=$TMP/$1.log line
	SRV_FORKS=0
	CLI=PIN1
	case $1 in
	sockbox1) start PIN0 "$log" "$SOCKBOX" serve --workers 1 -q -l 127.0.0.1:0 ;;
	sockbox1_line)
		start PIN0 "$log" "$SOCKBOX" serve echo --framing line --workers 1 -q -l 127.0.0.1:0
		;;
	sockbox1_ack) # what it prints goes nowhere; printing is part of its work
		start_quiet PIN0 "$log" "$SOCKBOX" serve ack --workers 1 -q -l 127.0.0.1:0
		;;
	sockbox1_reverse)
		start PIN0 "$log" "$SOCKBOX" serve reverse --workers 1 -q -l 127.0.0.1:0
		;;
	sockboxN)
		CLI=NOPIN
		start NOPIN "$log" "$SOCKBOX" serve --workers "$NCPU" -q -l 127.0.0.1:0
		;;
	ref_echo) start PIN0 "$log" "$OUT/ref_echo" 0 ;;
	uv_echo) start PIN0 "$log" "$OUT/uv_echo" 127.0.0.1:0 ;;
	python) start PIN0 "$log" "$PYTHON" bench/threaded_echo.py 0 ;;
	socat | redis | sockperf | iperf3)
		SRV_PORT=$(free_port)
		case $1 in
		socat)
			SRV_FORKS=1
			start PIN0 "$log" socat "TCP-LISTEN:$SRV_PORT,fork,reuseaddr,bind=127.0.0.1" PIPE
			;;
		redis)
			start PIN0 "$log" redis-server --port "$SRV_PORT" --bind 127.0.0.1 --save '' \
				--appendonly no --maxclients $((IDLE_CONNS + 100))
			;;
		sockperf) start PIN0 "$log" sockperf server --tcp -i 127.0.0.1 -p "$SRV_PORT" ;;
		iperf3) start PIN0 "$log" iperf3 -s -1 -B 127.0.0.1 -p "$SRV_PORT" ;;
		esac
		wait_port "$log" "$SRV_PID" "$SRV_PORT"
		return
		;;
	esac
	line=$(wait_line "$log" "$SRV_PID" 'listening on [^ ]*:[0-9]+') || return 1
	SRV_PORT=${line##*:}
}

# launch SERVER, or mark each ROW "did not start" (a failed run) and return 1.
launch_or_fail() {
	local server=$1 row
	shift
	launch "$server" && return 0
	for row in "$@"; do ERR[$row]="did not start"; done
	FAILED=1
	return 1
}

declare -A CASE_ARGS=([a]="-c 1 -d 1 -s 16" [b]="-c 50 -d 16 -s 16" [c]="-c 500 -d 1 -s 16"
	[d]="-c 1 -d 8 -s 16384")
declare -A CASE_NAME=([a]="a: 1 conn ping-pong, 16 B" [b]="b: 50 conns x 16 deep, 16 B"
	[c]="c: 500 conns x 1, 16 B" [d]="d: 1 conn x 8 deep, 16 KiB")
# Results, keyed "ROW": msgs/s, MB/s, p50/p99 µs, server CPU µs/msg, client CPU µs/msg, failure.
declare -A RATE MBPS P50 P99 CPU CCPU ERR

num1() { awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.1f", v }'; }

# cpu_per_msg TICKS MESSAGES: µs of CPU per message.
cpu_per_msg() {
	awk -v t="$1" -v hz="$TICK" -v m="$2" 'BEGIN { if (m > 0) printf "%.2f", t / hz * 1e6 / m; else print "-" }'
}

# measure ROW CMD...: one load window by CMD (which prints a JSON object as its last line)
# against the running server SRV_PID. Keeps the fields of the best window (highest msgs/s)
# in ROW, with the server's CPU per message over the whole run of CMD, and the client's
# (its user+sys time, from the subshell's `times`).
measure() {
	local row=$1 before after rc=0 line vals msgs rate mbps p50 p99 errs ccpu sub
	shift
	before=$(ticks "$SRV_PID")
	# In the background, so a signal to this script is handled at once (a foreground child
	# would delay the trap); the subshell passes SIGTERM on to the client.
	(
		gpid=""
		trap '[[ -n $gpid ]] && kill -TERM "$gpid" 2>/dev/null' TERM
		timeout -k 5 $((SECS + 90)) "$@" >"$TMP/gen.out" 2>"$TMP/gen.err" &
		gpid=$!
		rc=0
		wait "$gpid" || rc=$?
		times >"$TMP/gen.times" # not in a pipeline: that would be a new process
		exit "$rc"
	) &
	sub=$!
	PIDS+=("$sub")
	wait "$sub" || rc=$?
	forget "$sub"
	((SRV_FORKS)) && settle "$SRV_PID"
	after=$(ticks "$SRV_PID")
	line=$(tail -n 1 "$TMP/gen.out")
	note "  $row: ${line:-no output} (exit $rc)"
	if ! vals=$(jfields "$line" messages msgs_per_s mb_per_s latency_us.p50 latency_us.p99 errors 2>/dev/null); then
		sed 's/^/  | /' "$TMP/gen.err" >&2
		ERR[$row]="no result (exit $rc)"
		FAILED=1
		return 0
	fi
	read -r msgs rate mbps p50 p99 errs <<<"$vals"
	if ((rc != 0)); then
		sed 's/^/  | /' "$TMP/gen.err" | head -n 5 >&2
		ERR[$row]="exit $rc${errs:+, $errs errors}"
		FAILED=1
	fi
	rate=${rate%.*}
	[[ $rate =~ ^[0-9]+$ ]] || rate=0
	((rate > ${RATE[$row]:--1})) || return 0
	ccpu=$(tail -n 1 "$TMP/gen.times" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
		print t }')
	RATE[$row]=$rate
	MBPS[$row]=$(num1 "$mbps") P50[$row]=$(num1 "$p50") P99[$row]=$(num1 "$p99")
	CPU[$row]=$(cpu_per_msg $((after - before)) "$msgs")
	CCPU[$row]=$(awk -v s="$ccpu" -v m="$msgs" 'BEGIN { if (m > 0) printf "%.2f", s * 1e6 / m; else print "-" }')
}

# sockbox_bench CASE: the `sockbox bench` command line for CASE against SRV_PORT, pinned by CLI.
sockbox_bench() {
	local -n pin=$CLI
	# shellcheck disable=SC2206 # the case's flags are words
	GEN=("${pin[@]}" "$SOCKBOX" bench "127.0.0.1:$SRV_PORT" ${CASE_ARGS[$1]} -t "${SECS}s" \
		--threads 1 --json "${BENCH_EXTRA[@]}")
}

BENCH_EXTRA=() # more `sockbox bench` flags (the framed group's)

ratio() { # VALUE BASE
	[[ -n $1 && -n $2 && $1 != - && $2 != - ]] || {
		echo "-"
		return
	}
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'
}

# ---- echo ----------------------------------------------------------------------------------

declare -A SKIP
skip_reason() { # SERVER CASE: why this server does not run this case, if it does not
	case $1 in
	uv_echo) [[ -n $UV_SKIP ]] && echo "$UV_SKIP" ;;
	socat) have socat || echo "socat is not installed" ;;
	esac
	return 0
}

echo_server() { # NAME
	local s=$1 c r why
	for c in "${CASES[@]}"; do
		why=$(skip_reason "$s" "$c")
		[[ -n $why ]] && SKIP[$c,$s]=$why
	done
	why=$(skip_reason "$s" "")
	[[ -n $why ]] && return 0
	note "echo: $s"
	launch_or_fail "$s" "${CASES[@]/%/,$s}" || return 0
	for c in "${CASES[@]}"; do
		[[ -n ${SKIP[$c,$s]:-} ]] && continue
		for ((r = 0; r < RUNS; r++)); do
			sockbox_bench "$c"
			measure "$c,$s" "${GEN[@]}"
		done
	done
	stop_pid "$SRV_PID"
}

# row_cells ROW BASEROW: the table cells of ROW, with ratios against BASEROW.
row_cells() {
	local r=$1 b=$2
	printf '%s | %s | %s | %s | %s | %s | %s' "${RATE[$r]:--}" "${MBPS[$r]:--}" "${P50[$r]:--}" \
		"${P99[$r]:--}" "${CPU[$r]:--}" "$(ratio "${RATE[$r]:-}" "${RATE[$b]:-}")" \
		"$(ratio "${CPU[$r]:-}" "${CPU[$b]:-}")"
}

print_echo() {
	local c s what
	echo
	echo "### Echo servers, driven by \`sockbox bench\` (best of $RUNS x ${SECS} s)"
	echo
	echo "| case | server | msgs/s | MB/s | p50 µs | p99 µs | server CPU µs/msg | msgs/s vs sockbox | CPU/msg vs sockbox |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
	for c in "${CASES[@]}"; do
		for s in "${SERVERS[@]}"; do
			what=${LABEL[$s]}
			if [[ -n ${SKIP[$c,$s]:-} ]]; then
				echo "| ${CASE_NAME[$c]} | $what | skipped: ${SKIP[$c,$s]} | | | | | | |"
				continue
			fi
			[[ -n ${ERR[$c,$s]:-} ]] && what+=" (failed: ${ERR[$c,$s]})"
			echo "| ${CASE_NAME[$c]} | $what | $(row_cells "$c,$s" "$c,sockbox1") |"
		done
	done
	echo
	if ((NCPU >= 2)); then
		cat <<EOF
Single-threaded servers run on CPU 0 (\`taskset -c 0\`), \`sockbox bench\` (--threads 1) on CPU 1.
¹ sockbox with one worker per CPU is not pinned, and neither is its load generator: with
$NCPU CPUs the generator shares the cores the workers run on, so this row measures the whole
machine, not spare server capacity. Unpinned, the scheduler may also run client and server
on the same CPU, which on this kind of VM skips the costly cross-CPU wake-up: its latency
in case a is not comparable with the pinned rows.
EOF
	fi
	cat <<'EOF'
Server CPU µs/msg: utime+stime of the server (every thread; for socat also its
per-connection processes) over the whole `sockbox bench` run, divided by its messages.
socat runs as `socat TCP-LISTEN:P,fork,reuseaddr,bind=127.0.0.1 PIPE`: a process per
connection, echoing through a pipe. The fork per connection is in its CPU time and, as a
connect completes in the kernel before socat has forked for it, in the load window too.
EOF
}

# ---- generator check -----------------------------------------------------------------------

GEN_CASES=(a b)
GEN_RUNS=$((RUNS > 3 ? RUNS : 3))
gen_check() {
	local c r
	note "gen: sockbox bench vs min_client against ref_echo"
	launch ref_echo || {
		ERR[gen]="ref_echo did not start"
		FAILED=1
		return 0
	}
	for c in "${GEN_CASES[@]}"; do
		for ((r = 0; r < GEN_RUNS; r++)); do # alternating, so both see the same neighbours
			sockbox_bench "$c"
			measure "gen,$c,bench" "${GEN[@]}"
			# shellcheck disable=SC2206
			local mc=(${CASE_ARGS[$c]})
			measure "gen,$c,min" "${PIN1[@]}" "$OUT/min_client" 127.0.0.1 "$SRV_PORT" "${mc[1]}" \
				"${mc[3]}" "${mc[5]}" "$SECS"
		done
	done
	stop_pid "$SRV_PID"
}

print_gen() {
	local c k
	echo
	echo "### Generator check: \`sockbox bench\` vs bench/min_client.c, both against ref_echo (best of $GEN_RUNS x ${SECS} s, alternating)"
	echo
	echo "| case | client | msgs/s | client CPU µs/msg | server CPU µs/msg | msgs/s bench / min_client | client CPU bench / min_client |"
	echo "|---|---|---:|---:|---:|---:|---:|"
	for c in "${GEN_CASES[@]}"; do
		for k in bench min; do
			local r=gen,$c,$k name=min_client
			[[ $k == bench ]] && name="sockbox bench"
			[[ -n ${ERR[$r]:-} ]] && name+=" (failed: ${ERR[$r]})"
			echo "| ${CASE_NAME[$c]} | $name | ${RATE[$r]:--} | ${CCPU[$r]:--} | ${CPU[$r]:--} |" \
				"$([[ $k == bench ]] && ratio "${RATE[$r]:-}" "${RATE[gen,$c,min]:-}") |" \
				"$([[ $k == bench ]] && ratio "${CCPU[$r]:-}" "${CCPU[gen,$c,min]:-}") |"
		done
	done
	echo
	echo "min_client is the least work a client can do (no verification, no timestamps)."
	echo "\`sockbox bench\` verifies every reply byte and times every message. Client CPU per"
	echo "message is the client's user+sys time over its run divided by its messages."
}

# ---- anchors -------------------------------------------------------------------------------

declare -A ANOTE
# sockbox_case CASE: make sure sockbox --workers 1 has a number for echo CASE in this run.
sockbox_case() {
	local r
	[[ -n ${RATE[$1,sockbox1]:-} || -n ${ERR[$1,sockbox1]:-} ]] && return 0
	note "anchors: sockbox --workers 1, case $1"
	launch_or_fail sockbox1 "$1,sockbox1" || return 0
	for ((r = 0; r < RUNS; r++)); do
		sockbox_bench "$1"
		measure "$1,sockbox1" "${GEN[@]}"
	done
	stop_pid "$SRV_PID"
}

# redis_bench ROW: redis-benchmark PING_MBULK -c 50 -P 16 against SRV_PORT for about SECS s.
redis_bench() {
	local row=$1 n=200000 before after rps line rc=0 r
	# calibration: a short run sets -n for about SECS seconds
	line=$(timeout -k 5 60 "${PIN1[@]}" redis-benchmark -h 127.0.0.1 -p "$SRV_PORT" \
		-t ping_mbulk -c 50 -P 16 -n "$n" --csv 2>"$TMP/rb.err" | grep '^"PING_MBULK"') || true
	IFS=, read -r _ rps _ <<<"${line//\"/}"
	[[ ${rps%.*} =~ ^[0-9]+$ ]] && n=$((${rps%.*} * SECS))
	for ((r = 0; r < RUNS; r++)); do
		rc=0
		before=$(ticks "$SRV_PID")
		line=$(timeout -k 5 $((SECS * 4 + 60)) "${PIN1[@]}" redis-benchmark -h 127.0.0.1 \
			-p "$SRV_PORT" -t ping_mbulk -c 50 -P 16 -n "$n" --csv 2>"$TMP/rb.err" |
			grep '^"PING_MBULK"') || rc=$?
		after=$(ticks "$SRV_PID")
		note "  $row: ${line:-no output} (exit $rc)"
		if [[ -z $line ]]; then
			ERR[$row]="redis-benchmark failed (exit $rc)"
			FAILED=1
			return 0
		fi
		IFS=, read -r _ rps _ _ p50 _ p99 _ <<<"${line//\"/}"
		rps=${rps%.*}
		((rps > ${RATE[$row]:--1})) || continue
		RATE[$row]=$rps
		P50[$row]=$(awk -v v="$p50" 'BEGIN { printf "%.1f", v * 1000 }')
		P99[$row]=$(awk -v v="$p99" 'BEGIN { printf "%.1f", v * 1000 }')
		CPU[$row]=$(cpu_per_msg $((after - before)) "$n")
	done
}

anchor_redis() {
	if ! have redis-server || ! have redis-benchmark; then
		ANOTE[redis]="skipped: redis-server/redis-benchmark not installed"
		return 0
	fi
	note "anchors: redis-server with redis-benchmark"
	launch_or_fail redis redis || return 0
	redis_bench redis
	stop_pid "$SRV_PID"
	# The same client against sockbox: a RESP PING echoed back is a valid RESP reply.
	launch_or_fail sockbox1 redis_sockbox || return 0
	redis_bench redis_sockbox
	stop_pid "$SRV_PID"
}

anchor_sockperf() {
	local r out rc before after
	if ! have sockperf; then
		ANOTE[sockperf]="skipped: sockperf not installed"
		return 0
	fi
	note "anchors: sockperf"
	launch_or_fail sockperf sockperf || return 0
	for ((r = 0; r < RUNS; r++)); do
		rc=0
		before=$(ticks "$SRV_PID")
		out=$(timeout -k 5 $((SECS + 60)) "${PIN1[@]}" sockperf ping-pong --tcp -i 127.0.0.1 \
			-p "$SRV_PORT" -t "$SECS" -m 16 --full-rtt 2>&1 | sed 's/\x1b\[[0-9;]*m//g') || rc=$?
		after=$(ticks "$SRV_PID")
		local valid p50 p99 msgs secs rate
		valid=$(grep -m1 'Valid Duration' <<<"$out" || true)
		msgs=$(sed -n 's/.*ReceivedMessages=\([0-9]*\).*/\1/p' <<<"$valid")
		secs=$(sed -n 's/.*RunTime=\([0-9.]*\) sec.*/\1/p' <<<"$valid")
		p50=$(sed -n 's/.*percentile 50.000 = *\([0-9.]*\).*/\1/p' <<<"$out")
		p99=$(sed -n 's/.*percentile 99.000 = *\([0-9.]*\).*/\1/p' <<<"$out")
		note "  sockperf: ${valid:-no result} p50=${p50:-?} p99=${p99:-?} (exit $rc)"
		if [[ -z $msgs || -z $secs || -z $p50 ]]; then
			printf '%s\n' "$out" | tail -n 5 | sed 's/^/  | /' >&2
			ERR[sockperf]="sockperf ping-pong failed (exit $rc)"
			FAILED=1
			break
		fi
		rate=$(awk -v m="$msgs" -v s="$secs" 'BEGIN { printf "%.0f", m / s }')
		((rate > ${RATE[sockperf]:--1})) || continue
		RATE[sockperf]=$rate
		P50[sockperf]=$(printf '%.1f' "$p50") P99[sockperf]=$(printf '%.1f' "$p99")
		# the whole run (with sockperf's warm-up) over the messages of the valid part
		CPU[sockperf]=$(cpu_per_msg $((after - before)) "$msgs")
	done
	stop_pid "$SRV_PID"
}

anchor_iperf3() {
	local r out rc mbps
	if ! have iperf3; then
		ANOTE[iperf3]="skipped: iperf3 not installed"
		return 0
	fi
	note "anchors: iperf3"
	for ((r = 0; r < RUNS; r++)); do
		rc=0
		launch_or_fail iperf3 iperf3 || return 0
		out=$(timeout -k 5 $((SECS + 60)) "${PIN1[@]}" iperf3 -c 127.0.0.1 -p "$SRV_PORT" \
			-t "$SECS" -J 2>&1) || rc=$?
		stop_pid "$SRV_PID"
		mbps=$("$PYTHON" -c 'import json, sys
print("%.0f" % (json.loads(sys.stdin.read())["end"]["sum_received"]["bits_per_second"] / 8e6))' \
			<<<"$out" 2>/dev/null) || mbps=""
		note "  iperf3: ${mbps:-no result} MB/s (exit $rc)"
		if [[ -z $mbps ]]; then
			ERR[iperf3]="iperf3 -c failed (exit $rc)"
			FAILED=1
			return 0
		fi
		((mbps > ${MBPS[iperf3]:--1})) && MBPS[iperf3]=$mbps
	done
	return 0
}

anchors() {
	anchor_redis
	sockbox_case b
	anchor_sockperf
	sockbox_case a
	anchor_iperf3
	sockbox_case d
}

print_anchors() {
	echo
	echo "### Anchors: other tools with their own clients, beside sockbox in the same run"
	echo
	echo "| anchor | server | client | msgs/s | MB/s | p50 µs | p99 µs | server CPU µs/msg | vs sockbox |"
	echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
	local rb="redis-benchmark -t ping_mbulk -c 50 -P 16"
	anchor_row "redis PING" redis "redis-server" "$rb" redis_sockbox rate
	anchor_row "redis PING" redis_sockbox "sockbox --workers 1 (echo)" "$rb" "" rate
	anchor_row "redis PING" b,sockbox1 "sockbox --workers 1" "sockbox bench -c 50 -d 16 -s 16" "" rate
	anchor_row "latency" sockperf "sockperf server" "sockperf ping-pong --tcp -m 16 --full-rtt" \
		a,sockbox1 p50
	anchor_row "latency" a,sockbox1 "sockbox --workers 1" "sockbox bench -c 1 -d 1 -s 16" "" p50
	anchor_row "bandwidth" iperf3 "iperf3 -s" "iperf3 -c (1 stream, one way)" d,sockbox1 mb
	anchor_row "bandwidth" d,sockbox1 "sockbox --workers 1" \
		"sockbox bench -c 1 -d 8 -s 16384 (echo)" "" mb
	echo
	cat <<'EOF'
vs sockbox: the anchor's msgs/s (redis), p50 round trip (sockperf) or MB/s (iperf3) over
sockbox's in the row below it. redis-benchmark PING_MBULK sends `*1\r\n$4\r\nPING\r\n`
(14 B); redis answers `+PONG\r\n`; sockbox echoes the 14 B back, which redis-benchmark also
takes as a reply, so the second row is the same client against sockbox. sockperf's round
trip is with --full-rtt (by default it reports half of it); its msgs/s and CPU are over its
valid window after a warm-up. iperf3 sends one way; sockbox's echo MB/s carries every byte
both ways over loopback, so it is not the same work: it shows the order of magnitude.
EOF
}

# anchor_row LABEL ROW SERVER CLIENT SOCKBOXROW WHAT(rate|p50|mb)
anchor_row() {
	local label=$1
	shift
	local r=$1 what=$2 vs="" note=${ANOTE[$1]:-}
	if [[ -n $note ]]; then
		echo "| $label | $2 | $3 | $note | | | | | |"
		return
	fi
	[[ -n ${ERR[$r]:-} ]] && what+=" (failed: ${ERR[$r]})"
	if [[ -n $4 ]]; then
		case $5 in
		rate) vs=$(ratio "${RATE[$r]:-}" "${RATE[$4]:-}") ;;
		p50) vs=$(ratio "${P50[$r]:-}" "${P50[$4]:-}") ;;
		mb) vs=$(ratio "${MBPS[$r]:-}" "${MBPS[$4]:-}") ;;
		esac
	fi
	echo "| $label | $what | $3 | ${RATE[$r]:--} | ${MBPS[$r]:--} | ${P50[$r]:--} | ${P99[$r]:--} | ${CPU[$r]:--} | $vs |"
}

# ---- idle memory ---------------------------------------------------------------------------

IDLE_SERVERS=(sockbox1 ref_echo uv_echo redis)
declare -A IDLE
idle_case() { # NAME
	local rss0 rss1 fd0 hold i n=0
	case $1 in
	redis) have redis-server || {
		IDLE[$1]="skipped: redis-server not installed"
		return 0
	} ;;
	uv_echo) [[ -z $UV_SKIP ]] || {
		IDLE[$1]="skipped: $UV_SKIP"
		return 0
	} ;;
	esac
	note "idle: $1"
	launch "$1" || {
		IDLE[$1]="failed: did not start"
		FAILED=1
		return 0
	}
	sleep 0.5
	rss0=$(rss_kb "$SRV_PID")
	fd0=$(nfds "$SRV_PID")
	"${PIN1[@]}" "$PYTHON" bench/hold_conns.py 127.0.0.1 "$SRV_PORT" "$IDLE_CONNS" \
		>"$TMP/idle.out" 2>&1 &
	hold=$!
	PIDS+=("$hold")
	for ((i = 0; i < 600; i++)); do # client side: up to 60 s
		grep -q '^established=' "$TMP/idle.out" && break
		alive "$hold" || break
		sleep 0.1
	done
	for ((i = 0; i < 300; i++)); do # server side: up to 30 s until it holds them all
		n=$(nfds "$SRV_PID")
		((n - fd0 >= IDLE_CONNS)) && break
		alive "$hold" || break
		sleep 0.1
	done
	sleep 1
	rss1=$(rss_kb "$SRV_PID")
	note "  $1: rss ${rss0} kB -> ${rss1} kB, fds ${fd0} -> ${n}"
	if ((n - fd0 < IDLE_CONNS)); then
		sed 's/^/  | /' "$TMP/idle.out" >&2
		IDLE[$1]="failed: only $((n - fd0)) connections accepted | | "
		FAILED=1
	else
		IDLE[$1]="$rss0 | $rss1 | $(((rss1 - rss0) * 1024 / IDLE_CONNS))"
	fi
	stop_pid "$hold"
	stop_pid "$SRV_PID"
}

print_idle() {
	local s
	echo
	echo "### Idle memory: server VmRSS before and after $IDLE_CONNS idle connections"
	echo
	echo "| server | RSS before (kB) | RSS after (kB) | bytes/conn |"
	echo "|---|---:|---:|---:|"
	for s in "${IDLE_SERVERS[@]}"; do
		[[ -n ${IDLE[$s]:-} ]] && echo "| ${LABEL[$s]} | ${IDLE[$s]} |"
	done
	echo
	echo "User-space memory only (kernel socket buffers are not in RSS); connections opened and"
	echo "held by bench/hold_conns.py on CPU 1."
	return 0
}

# ---- framed request/reply ------------------------------------------------------------------

FRAMED=(sockbox1 sockbox1_line sockbox1_ack sockbox1_reverse)
declare -A FRAMED_FLAGS=([sockbox1]="" [sockbox1_line]="--line"
	[sockbox1_ack]="--framing len64 --expect-reply Msg\\x20received"
	[sockbox1_reverse]="--line --expect-reply reversed")

framed() {
	local s r
	for s in "${FRAMED[@]}"; do
		note "framed: $s"
		launch_or_fail "$s" "framed,$s" || continue
		# shellcheck disable=SC2206 # the flags are words
		BENCH_EXTRA=(${FRAMED_FLAGS[$s]})
		for ((r = 0; r < RUNS; r++)); do
			sockbox_bench b
			measure "framed,$s" "${GEN[@]}"
		done
		BENCH_EXTRA=()
		stop_pid "$SRV_PID"
	done
	[[ -n ${RATE[redis]:-} || -n ${ERR[redis]:-} || -n ${ANOTE[redis]:-} ]] || anchor_redis
}

print_framed() {
	local s r what
	echo
	echo "### Framed request/reply: ${CASE_NAME[b]} (best of $RUNS x ${SECS} s)"
	echo
	echo "| server | \`sockbox bench\` flags | msgs/s | p50 µs | p99 µs | server CPU µs/msg | msgs/s vs raw echo | CPU/msg vs raw echo |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	for s in "${FRAMED[@]}"; do
		r=framed,$s
		what=${LABEL[$s]}
		[[ $s == sockbox1 ]] && what="sockbox echo (raw)"
		[[ -n ${ERR[$r]:-} ]] && what+=" (failed: ${ERR[$r]})"
		echo "| $what | ${FRAMED_FLAGS[$s]:--} | ${RATE[$r]:--} | ${P50[$r]:--} | ${P99[$r]:--} |" \
			"${CPU[$r]:--} | $(ratio "${RATE[$r]:-}" "${RATE[framed,sockbox1]:-}") |" \
			"$(ratio "${CPU[$r]:-}" "${CPU[framed,sockbox1]:-}") |"
	done
	if [[ -n ${ANOTE[redis]:-} ]]; then
		echo "| redis-server PING | ${ANOTE[redis]} | | | | | | |"
	else
		what="redis-server PING"
		[[ -n ${ERR[redis]:-} ]] && what+=" (failed: ${ERR[redis]})"
		echo "| $what | (redis-benchmark -t ping_mbulk -c 50 -P 16) | ${RATE[redis]:--} |" \
			"${P50[redis]:--} | ${P99[redis]:--} | ${CPU[redis]:--} |" \
			"$(ratio "${RATE[redis]:-}" "${RATE[framed,sockbox1]:-}") |" \
			"$(ratio "${CPU[redis]:-}" "${CPU[framed,sockbox1]:-}") |"
	fi
	echo
	cat <<'EOF'
The same load (50 connections, 16 messages in flight on each, 16 B payloads) through each
framing: line (payload + \n), len64 (the video tutorial's 64-byte header + payload; ack
answers the 12 bytes "Msg received" and prints every message to stdout, here /dev/null),
reverse (each line reversed by UTF-8 character; random payloads are mostly not UTF-8, the
slow path). Every reply is verified. redis-server answering PING under redis-benchmark is a
framed request/reply server in C that users know (its own client, its own counts).
EOF
}

# ---- instructions per message --------------------------------------------------------------

INSN_OUT=""
insn_group() {
	local rc=0
	note "insn: bench/callgrind.sh"
	INSN_OUT=$(SOCKBOX=$SOCKBOX timeout -k 5 900 bash bench/callgrind.sh) || rc=$?
	if ((rc != 0)); then
		INSN_OUT+=$'\n'"(bench/callgrind.sh failed: exit $rc)"
		FAILED=1
	fi
}

# ---- memory against clients that never read ------------------------------------------------

QUEUED_OUT=""
queued_group() {
	local rc=0
	note "queued: bench/queued.sh"
	QUEUED_OUT=$(SOCKBOX=$SOCKBOX PYTHON=$PYTHON timeout -k 5 1200 bash bench/queued.sh) || rc=$?
	if ((rc != 0)); then
		QUEUED_OUT+=$'\n'"(bench/queued.sh failed: exit $rc)"
		FAILED=1
	fi
}

# ---- TLS -----------------------------------------------------------------------------------

TLS_OUT=""
tls_group() {
	local rc=0
	note "tls: bench/tls.sh"
	TLS_OUT=$(SOCKBOX=$SOCKBOX PYTHON=$PYTHON BENCH_SECS=$SECS BENCH_RUNS=$RUNS \
		timeout -k 5 1200 bash bench/tls.sh) || rc=$?
	if ((rc != 0)); then
		TLS_OUT+=$'\n'"(bench/tls.sh failed: exit $rc)"
		FAILED=1
	fi
}

# ---- fan-out -------------------------------------------------------------------------------

FANOUT_OUT=""
fanout_group() {
	local rc=0
	note "fanout: bench/fanout.sh"
	FANOUT_OUT=$(SOCKBOX=$SOCKBOX PYTHON=$PYTHON BENCH_SECS=$SECS timeout -k 5 1800 \
		bash bench/fanout.sh) || rc=$?
	if ((rc != 0)); then
		FANOUT_OUT+=$'\n'"(bench/fanout.sh failed: exit $rc)"
		FAILED=1
	fi
}

# ---- admin ---------------------------------------------------------------------------------

ADMIN_OUT=""
admin_group() {
	local rc=0
	note "admin: bench/admin.sh"
	ADMIN_OUT=$(SOCKBOX=$SOCKBOX PYTHON=$PYTHON BENCH_SECS=$SECS timeout -k 5 900 \
		bash bench/admin.sh) || rc=$?
	if ((rc != 0)); then
		ADMIN_OUT+=$'\n'"(bench/admin.sh failed: exit $rc)"
		FAILED=1
	fi
}

# ---- ls ------------------------------------------------------------------------------------

LS_OUT=""
ls_group() {
	local rc=0
	if [[ ! -f bench/ls.sh ]]; then
		LS_OUT="skipped: bench/ls.sh is not in this tree"
		return 0
	fi
	note "ls: bench/ls.sh"
	LS_OUT=$(SOCKBOX=$SOCKBOX BENCH_SECS=$SECS timeout -k 5 600 bash bench/ls.sh) || rc=$?
	if ((rc != 0)); then
		LS_OUT+=$'\n'"(bench/ls.sh failed: exit $rc)"
		FAILED=1
	fi
}

# ---- main ----------------------------------------------------------------------------------

START=$SECONDS
note "$NCPU CPUs, $(uname -r), open-file limit $(ulimit -n), ${SECS} s windows, best of $RUNS"
if want echo; then
	for s in "${SERVERS[@]}"; do echo_server "$s"; done
fi
want gen && gen_check
want anchors && anchors
if want idle; then
	for s in "${IDLE_SERVERS[@]}"; do idle_case "$s"; done
fi
want framed && framed
want insn && insn_group
want queued && queued_group
want tls && tls_group
want fanout && fanout_group
want admin && admin_group
want ls && ls_group

{
	echo "## sockbox bench results"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $NCPU CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')),"
	echo "Linux $(uname -r), tree $(git describe --always --dirty 2>/dev/null || echo '?'), SOCKBOX=$SOCKBOX,"
	echo "BENCH_SECS=$SECS BENCH_RUNS=$RUNS; whole run $((SECONDS - START)) s."
	want echo && print_echo
	want gen && print_gen
	want anchors && print_anchors
	want idle && print_idle
	want framed && print_framed
	if want insn; then
		echo
		echo "### User-space instructions per message (bench/callgrind.sh)"
		echo
		echo "$INSN_OUT"
	fi
	if want queued; then
		echo
		echo "### Server memory against clients that never read (bench/queued.sh)"
		echo
		echo "$QUEUED_OUT"
	fi
	if want tls; then
		echo
		echo "### TLS echo against TLS terminators (bench/tls.sh)"
		echo
		echo "$TLS_OUT"
	fi
	if want fanout; then
		echo
		echo "### Chat fan-out against Redis pub/sub (bench/fanout.sh)"
		echo
		echo "$FANOUT_OUT"
	fi
	if want admin; then
		echo
		echo "### Echo while /metrics is scraped (bench/admin.sh)"
		echo
		echo "$ADMIN_OUT"
	fi
	if want ls; then
		echo
		echo "### sockbox ls vs lsof (bench/ls.sh)"
		echo
		if [[ $LS_OUT == skipped:* ]]; then
			echo "$LS_OUT"
		else
			fence='```'
			printf '%s\n%s\n%s\n' "$fence" "$LS_OUT" "$fence"
		fi
	fi
	true
} | tee "$OUT/results.md"
exit "$FAILED"
