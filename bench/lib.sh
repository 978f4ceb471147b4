# bench/lib.sh - what the bench scripts share; sourced by them (after `cd` to the project),
# never run on its own.
#
# Sets PIN0/PIN1 (taskset prefixes: the server's core 0, the load's core 1; empty on one CPU),
# PYTHON, TICK (clock ticks per second), TMP (a scratch folder) and PIDS (processes the script
# started). At exit, or on INT/TERM, whatever of PIDS still runs is killed and TMP removed; a
# script with its own way of stopping defines bench_cleanup again after sourcing this.
# shellcheck shell=bash disable=SC2034 # the variables are the sourcing script's

PIN0=() PIN1=()
if (($(nproc) >= 2)); then PIN0=(taskset -c 0) PIN1=(taskset -c 1); fi
PYTHON=${PYTHON:-/usr/bin/python3}
TICK=$(getconf CLK_TCK)
TMP=$(mktemp -d)
PIDS=()

# shellcheck disable=SC2317 # called by the EXIT trap
bench_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

children() { ps -o pid= --ppid "$1" 2>/dev/null || true; }

# cpu_ticks PID...: utime+stime (every thread) summed over the PIDs; one that is gone counts 0.
cpu_ticks() {
	local s f pid sum=0
	for pid in "$@"; do
		s=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		s=${s##*) } # fields from 3 on: comm may hold spaces
		read -ra f <<<"$s"
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

listening() { # PORT: a TCP socket listens on it (any address)
	local hex
	printf -v hex '%04X' "$1"
	grep -qE "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:[0-9A-F]+ 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
