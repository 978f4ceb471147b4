#!/usr/bin/env bash
# bench/callgrind.sh - user-space instructions per message, counted by valgrind's callgrind
# (repeatable: the same binary and inputs give the same count on a busy or an idle machine).
#
# Each server runs under callgrind twice, driven by `sockbox bench` (not under valgrind) with
# N1 and then N2 messages (50 connections x depth 1, 16 B); instructions per message is
# (Ir(N2) - Ir(N1)) / (N2 - N1), so start-up and shutdown cancel out. Prints a Markdown
# table. Run by bench/run.sh (group insn) or alone: SOCKBOX=build/sockbox bench/callgrind.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SOCKBOX=${SOCKBOX:-build/sockbox}
N1=${INSN_N1:-20000}
N2=${INSN_N2:-120000}
OUT=build/bench
TMP=$(mktemp -d)
PID=""

note() { echo "callgrind: $*" >&2; }
cleanup() {
	[[ -n $PID ]] && kill -KILL "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

command -v valgrind >/dev/null || {
	echo "skipped: valgrind is not installed"
	exit 0
}
mkdir -p "$OUT"
[[ -x $OUT/ref_echo ]] || cc -std=gnu11 -O2 -o "$OUT/ref_echo" bench/ref_echo.c

# ir NAME N SERVE... : Ir of one callgrind run of SERVE... while `sockbox bench` sends N
# messages with BENCH_ARGS.
ir() {
	local name=$1 n=$2 port i line
	shift 2
	: >"$TMP/$name.log"
	valgrind --tool=callgrind --callgrind-out-file="$TMP/$name.$n.out" "$@" \
		>/dev/null 2>"$TMP/$name.log" &
	PID=$!
	for ((i = 0; i < 300; i++)); do
		line=$(grep -m1 -oE 'listening on 127\.0\.0\.1:[0-9]+' "$TMP/$name.log" || true)
		[[ -n $line ]] && break
		sleep 0.1
	done
	[[ -n $line ]] || {
		note "$name did not start:"
		sed 's/^/  | /' "$TMP/$name.log" >&2
		return 1
	}
	port=${line##*:}
	# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
	"$SOCKBOX" bench "127.0.0.1:$port" -c 50 -d 1 -s 16 -n "$n" --threads 1 $BENCH_ARGS \
		>"$TMP/bench.out" 2>&1 || {
		note "$name: bench failed:"
		sed 's/^/  | /' "$TMP/bench.out" >&2
		return 1
	}
	kill -TERM "$PID"
	wait "$PID" || true
	PID=""
	awk '/^(summary|totals):/ { print $2; exit }' "$TMP/$name.$n.out"
}

# row NAME BENCH_ARGS SERVE...: the table row for one server.
row() {
	local name=$1 a b
	BENCH_ARGS=$2
	shift 2
	note "$name"
	a=$(ir "$name" "$N1" "$@") && b=$(ir "$name" "$N2" "$@") || {
		echo "| $name | failed | |"
		return 0
	}
	echo "| $name | $(((b - a) / (N2 - N1))) | ${BENCH_ARGS:--} |"
}

ref_row() { # ref_echo prints "listening on 127.0.0.1:PORT" like sockbox
	row "ref_echo (epoll, the floor)" "" "$OUT/ref_echo" 0
}

echo "| server | instructions per message | bench flags |"
echo "|---|---:|---|"
row "sockbox echo (raw)" "" "$SOCKBOX" serve echo --workers 1 -q -l 127.0.0.1:0
row "sockbox echo --framing line" "--line" "$SOCKBOX" serve echo --framing line --workers 1 -q \
	-l 127.0.0.1:0
row "sockbox ack (len64)" "--framing len64 --expect-reply Msg\\x20received" "$SOCKBOX" serve ack \
	--workers 1 -q -l 127.0.0.1:0
row "sockbox reverse (line)" "--line --expect-reply reversed" "$SOCKBOX" serve reverse \
	--workers 1 -q -l 127.0.0.1:0
ref_row
echo
echo "User-space instructions of the server process (every thread) per message, from two"
echo "callgrind runs of $N1 and $N2 messages (start-up cancels out); 50 connections x depth 1, 16 B."
