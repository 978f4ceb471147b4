#!/usr/bin/env bash
# bench/ls.sh - `sockbox ls` against `lsof -i -n` and `ss -tuanp` on a machine with thousands
# of sockets: a Python helper holds LS_PAIRS connected TCP pairs on loopback, then each tool
# lists the sockets LS_REPS times; the table on stdout gives the median wall time and the
# ratio to sockbox. Standalone (bench/run.sh may call it); never part of `make test`.
#
# Knobs (environment):
#   SOCKBOX=build/sockbox   the binary under test
#   LS_PAIRS=5000           connected pairs held open (2 sockets each, one process)
#   LS_REPS=5               runs per tool; the median is reported
#   PYTHON=/usr/bin/python3 interpreter for the helper
set -euo pipefail
cd "$(dirname "$0")/.."

SOCKBOX=${SOCKBOX:-build/sockbox}
PAIRS=${LS_PAIRS:-5000}
REPS=${LS_REPS:-5}
PYTHON=${PYTHON:-/usr/bin/python3}

die() { echo "bench/ls: $*" >&2; exit 1; }
[[ $PAIRS =~ ^[1-9][0-9]{0,4}$ ]] || die "LS_PAIRS must be a number from 1 to 99999"
[[ $REPS =~ ^[1-9][0-9]?$ ]] || die "LS_REPS must be a number from 1 to 99"
[[ -x $SOCKBOX ]] || die "no sockbox binary at $SOCKBOX (run make, or set SOCKBOX=)"
command -v lsof >/dev/null || scripts/deps.sh lsof >&2 || echo "bench/ls: lsof unavailable" >&2

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
((2 * PAIRS + 64 <= $(ulimit -n))) || die "LS_PAIRS=$PAIRS needs $((2 * PAIRS + 64)) fds; the limit is $(ulimit -n)"

tmp=$(mktemp -d /tmp/sbx-bench-ls.XXXXXX)
helper_pid=
cleanup() {
	if [[ -n $helper_pid ]]; then
		kill "$helper_pid" 2>/dev/null || true
		wait "$helper_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# The helper: one listener, PAIRS connections to it, both ends kept; "ready PORT" when done.
"$PYTHON" - "$PAIRS" >"$tmp/ready" 2>"$tmp/helper.err" <<'EOF' &
import signal, socket, sys
n = int(sys.argv[1])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(4096)
keep = []
for _ in range(n):
    c = socket.create_connection(srv.getsockname())
    a, _ = srv.accept()
    keep += [c, a]
print("ready", srv.getsockname()[1], flush=True)
signal.pause()
EOF
helper_pid=$!

for _ in $(seq 600); do
	grep -q '^ready' "$tmp/ready" 2>/dev/null && break
	kill -0 "$helper_pid" 2>/dev/null || die "helper failed: $(cat "$tmp/helper.err")"
	sleep 0.1
done
grep -q '^ready' "$tmp/ready" || die "helper did not open $PAIRS pairs within 60s"

# median wall time in ms of REPS runs of "$@" (output discarded)
median_ms() {
	local times=() t0 t1
	for _ in $(seq "$REPS"); do
		t0=$(date +%s%N)
		"$@" >/dev/null 2>&1 || true
		t1=$(date +%s%N)
		times+=($(((t1 - t0) / 1000)))
	done
	printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f", m / 1000}'
}

rows=$("$SOCKBOX" ls 2>/dev/null | wc -l)
sb=$(median_ms "$SOCKBOX" ls)
ss_ms=$(median_ms ss -tuanp)
if command -v lsof >/dev/null; then lsof_ms=$(median_ms lsof -i -n); else lsof_ms=; fi

ratio() { [[ -n $1 ]] && awk -v a="$1" -v b="$sb" 'BEGIN { printf "%.1fx", a / b }' || echo "n/a"; }
echo "sockbox ls vs lsof -i -n vs ss -tuanp: $((2 * PAIRS + 1)) helper sockets + the machine's own ($((rows - 1)) rows in sockbox ls), median of $REPS runs"
printf '%-16s %12s %10s\n' tool "median ms" "vs sockbox"
printf '%-16s %12s %10s\n' "sockbox ls" "$sb" "1.0x"
printf '%-16s %12s %10s\n' "ss -tuanp" "$ss_ms" "$(ratio "$ss_ms")"
printf '%-16s %12s %10s\n' "lsof -i -n" "${lsof_ms:-n/a}" "$(ratio "$lsof_ms")"
