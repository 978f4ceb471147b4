#!/usr/bin/env bash
# bench/tls.sh - TLS echo: sockbox --workers 1 against the TLS terminators users would put in
# front of a plain echo instead: nginx's stream module with ssl (one worker), HAProxy (one
# thread) and stunnel. Same machine, same client (`sockbox bench`), same certificate (ECDSA
# P-256) and the same OpenSSL underneath, so the same cipher suite (the table says which was
# negotiated with each). The server under test is pinned to CPU 0; the client and the plain
# echo behind each terminator (bench/ref_echo.c) to CPU 1, so the terminator's own CPU time
# is what the CPU column shows.
#
# Cases: handshakes/s (--mode connect: a new connection, a full handshake and one 16 B
# exchange each time, 8 at once), 50 conns x 16 deep x 16 B msgs/s, 1 conn x 16 KiB bulk MB/s,
# and server memory per idle TLS connection at TLS_IDLE_CONNS (the terminators' figure holds
# their backend connection too: that is what they cost).
#
# Run by bench/run.sh (group tls) or alone: SOCKBOX=build/sockbox bench/tls.sh
# Knobs: BENCH_SECS (5), BENCH_RUNS (1: best of), TLS_IDLE_CONNS (5000), PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh

SOCKBOX=${SOCKBOX:-build/sockbox}
SECS=${BENCH_SECS:-5}
RUNS=${BENCH_RUNS:-1}
IDLE=${TLS_IDLE_CONNS:-5000}
OUT=build/bench
ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
((IDLE * 2 + 2000 <= $(ulimit -n))) || IDLE=$((($(ulimit -n) - 2000) / 2)) # the terminators need two fds a connection
NGINX_MOD=/usr/lib/nginx/modules/ngx_stream_module.so

note() { echo "tls: $*" >&2; }
have() { command -v "$1" >/dev/null; }

# CPU ticks of PID and its threads (utime+stime) and of its children (nginx's worker).
# shellcheck disable=SC2046 # the children: one PID a word
ticks() { cpu_ticks "$1" $(children "$1"); }
rss_tree_kb() { # PID and its children
	local pid sum=0
	for pid in "$1" $(children "$1"); do
		sum=$((sum + $(rss_kb "$pid" 2>/dev/null || echo 0)))
	done
	echo "$sum"
}
wait_port() { # PID PORT LOG
	local i
	for ((i = 0; i < 100; i++)); do
		listening "$2" && return 0
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	note "nothing listens on $2; the server's output:"
	sed 's/^/  | /' "$3" >&2
	return 1
}
stop() {
	kill -TERM "$1" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# ---- the certificate, the plain backend -----------------------------------------------------

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/key.pem" \
	-out "$TMP/cert.pem" -subj /CN=localhost -days 2 \
	-addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
cat "$TMP/cert.pem" "$TMP/key.pem" >"$TMP/both.pem"
mkdir -p "$OUT"
[[ -x $OUT/ref_echo ]] || cc -std=gnu11 -O2 -o "$OUT/ref_echo" bench/ref_echo.c

BACKEND_PID="" BACKEND_PORT=""
backend() {
	"${PIN1[@]}" "$OUT/ref_echo" 0 >"$TMP/backend.log" 2>&1 &
	BACKEND_PID=$!
	PIDS+=("$BACKEND_PID")
	local i line=""
	for ((i = 0; i < 100; i++)); do
		line=$(grep -m1 -oE 'listening on [^ ]*:[0-9]+' "$TMP/backend.log" || true)
		[[ -n $line ]] && break
		sleep 0.1
	done
	BACKEND_PORT=${line##*:}
}

# ---- the servers ----------------------------------------------------------------------------

declare -A LABEL=([sockbox]="sockbox --workers 1 (tls:// echo)"
	[nginx]="nginx stream ssl, 1 worker → plain echo" [haproxy]="HAProxy 1 thread, ssl → plain echo"
	[stunnel]="stunnel → plain echo")
declare -A SKIP
SERVERS=(sockbox nginx haproxy stunnel)
have nginx && [[ -f $NGINX_MOD ]] || SKIP[nginx]="nginx-light and libnginx-mod-stream are not installed"
have haproxy || SKIP[haproxy]="haproxy is not installed"
have stunnel4 || SKIP[stunnel]="stunnel4 is not installed"

SRV_PID="" PORT=""
launch() { # NAME: starts it on CPU 0; sets SRV_PID and PORT
	local log=$TMP/$1.log
	PORT=$(free_port)
	case $1 in
	sockbox)
		"${PIN0[@]}" "$SOCKBOX" serve echo --workers 1 -q -l "tls://127.0.0.1:$PORT" \
			--tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" >"$log" 2>&1 &
		;;
	nginx)
		cat >"$TMP/nginx.conf" <<-EOF
			load_module $NGINX_MOD;
			worker_processes 1;
			daemon off;
			pid $TMP/nginx.pid;
			error_log $TMP/nginx.err warn;
			events { worker_connections 30000; }
			stream {
			    server {
			        listen 127.0.0.1:$PORT ssl;
			        ssl_certificate $TMP/cert.pem;
			        ssl_certificate_key $TMP/key.pem;
			        ssl_protocols TLSv1.2 TLSv1.3;
			        proxy_pass 127.0.0.1:$BACKEND_PORT;
			    }
			}
		EOF
		"${PIN0[@]}" nginx -e "$TMP/nginx.err" -c "$TMP/nginx.conf" >"$log" 2>&1 &
		;;
	haproxy)
		cat >"$TMP/haproxy.cfg" <<-EOF
			global
			    nbthread 1
			    maxconn $((IDLE + 1000))
			defaults
			    mode tcp
			    timeout connect 5s
			    timeout client 120s
			    timeout server 120s
			frontend tls
			    bind 127.0.0.1:$PORT ssl crt $TMP/both.pem
			    default_backend echo
			backend echo
			    server e 127.0.0.1:$BACKEND_PORT
		EOF
		"${PIN0[@]}" haproxy -db -f "$TMP/haproxy.cfg" >"$log" 2>&1 &
		;;
	stunnel)
		cat >"$TMP/stunnel.conf" <<-EOF
			foreground = yes
			pid =
			debug = 3
			[echo]
			accept = 127.0.0.1:$PORT
			connect = 127.0.0.1:$BACKEND_PORT
			cert = $TMP/cert.pem
			key = $TMP/key.pem
		EOF
		"${PIN0[@]}" stunnel4 "$TMP/stunnel.conf" >"$log" 2>&1 &
		;;
	esac
	SRV_PID=$!
	PIDS+=("$SRV_PID")
	wait_port "$SRV_PID" "$PORT" "$log"
}

# ---- measuring ------------------------------------------------------------------------------

declare -A RES CPU CIPHER IDLE_B ERR
declare -A CASE_ARGS=([hs]="--mode connect -c 8 -s 16" [small]="-c 50 -d 16 -s 16"
	[bulk]="-c 1 -d 8 -s 16k")
CASES=(hs small bulk)

# measure NAME CASE: best of RUNS; RES = handshakes/s, msgs/s or MB/s; CPU = server µs per
# handshake, per message or per MiB.
measure() {
	local name=$1 c=$2 r before after json vals msgs rate mbps conns unit val cpu
	for ((r = 0; r < RUNS; r++)); do
		before=$(ticks "$SRV_PID")
		# shellcheck disable=SC2086 # the case's flags are words
		json=$("${PIN1[@]}" timeout -k 5 $((SECS + 60)) "$SOCKBOX" bench --insecure \
			"tls://127.0.0.1:$PORT" ${CASE_ARGS[$c]} -t "${SECS}s" --threads 1 --json \
			2>"$TMP/gen.err" | tail -n 1) || true
		after=$(ticks "$SRV_PID")
		note "  $name $c: ${json:-no output}"
		if ! vals=$("$PYTHON" -c '
import json, sys
d = json.loads(sys.argv[1])
print(d["messages"], d["msgs_per_s"], d["mb_per_s"], d.get("connects_per_s", 0), d["errors"])' "$json" 2>/dev/null); then
			sed 's/^/  | /' "$TMP/gen.err" >&2
			ERR[$name,$c]="no result"
			continue
		fi
		read -r msgs rate mbps conns errs <<<"$vals"
		((errs == 0)) || ERR[$name,$c]="$errs errors"
		case $c in
		hs) val=$conns unit=$msgs ;;
		small) val=$rate unit=$msgs ;;
		bulk) val=$mbps unit=$(awk -v m="$msgs" 'BEGIN { printf "%.0f", m / 64 }') ;; # MiB
		esac
		cpu=$(awk -v t=$((after - before)) -v hz="$TICK" -v u="$unit" \
			'BEGIN { if (u > 0) printf "%.1f", t / hz * 1e6 / u; else print "-" }')
		if awk -v a="$val" -v b="${RES[$name,$c]:-0}" 'BEGIN { exit !(a > b) }'; then
			RES[$name,$c]=$val CPU[$name,$c]=$cpu
		fi
	done
}

idle_case() { # NAME: server memory per idle TLS connection
	local name=$1 rss0 rss1 hold i
	sleep 0.5
	rss0=$(rss_tree_kb "$SRV_PID")
	"${PIN1[@]}" "$PYTHON" bench/hold_conns.py --tls 127.0.0.1 "$PORT" "$IDLE" \
		>"$TMP/hold.out" 2>&1 &
	hold=$!
	PIDS+=("$hold")
	for ((i = 0; i < 1200; i++)); do # up to 120 s
		grep -q '^established=' "$TMP/hold.out" && break
		kill -0 "$hold" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q '^established=' "$TMP/hold.out"; then
		sed 's/^/  | /' "$TMP/hold.out" | head -n 5 >&2
		IDLE_B[$name]="failed"
		stop "$hold"
		return 0
	fi
	sleep 2
	rss1=$(rss_tree_kb "$SRV_PID")
	IDLE_B[$name]=$(((rss1 - rss0) * 1024 / IDLE))
	note "  $name idle: $rss0 kB -> $rss1 kB for $IDLE connections"
	stop "$hold"
}

cipher_of() { # the suite the server negotiates with sockbox's client
	echo | "$SOCKBOX" connect -v --insecure "tls://127.0.0.1:$PORT" 2>&1 >/dev/null |
		sed -n 's/^tls: //p' | head -n 1
}

backend
for s in "${SERVERS[@]}"; do
	[[ -n ${SKIP[$s]:-} ]] && continue
	note "$s"
	if ! launch "$s"; then
		SKIP[$s]="did not start"
		continue
	fi
	CIPHER[$s]=$(cipher_of)
	for c in "${CASES[@]}"; do measure "$s" "$c"; done
	idle_case "$s"
	stop "$SRV_PID"
done
stop "$BACKEND_PID"

# ---- the table ------------------------------------------------------------------------------

best() { # CASE: the best value among the others (not sockbox)
	local s b=0
	for s in nginx haproxy stunnel; do
		b=$(awk -v a="${RES[$s,$1]:-0}" -v b="$b" 'BEGIN { print (a > b ? a : b) }')
	done
	echo "$b"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.2fx", a / b; else print "-" }'; }

echo "| server | cipher | handshakes/s (server µs each) | 50x16x16 B msgs/s (server µs/msg) | 16 KiB bulk MB/s (server µs/MiB) | idle TLS conn (bytes) |"
echo "|---|---|---:|---:|---:|---:|"
for s in "${SERVERS[@]}"; do
	if [[ -n ${SKIP[$s]:-} ]]; then
		echo "| ${LABEL[$s]} | skipped: ${SKIP[$s]} | | | | |"
		continue
	fi
	row="| ${LABEL[$s]} | ${CIPHER[$s]:-?} |"
	for c in "${CASES[@]}"; do
		cell="${RES[$s,$c]:--} (${CPU[$s,$c]:--})"
		[[ -n ${ERR[$s,$c]:-} ]] && cell+=" ${ERR[$s,$c]}"
		row+=" $cell |"
	done
	echo "$row ${IDLE_B[$s]:--} |"
done
row="| sockbox vs the best other | |"
for c in "${CASES[@]}"; do row+=" $(ratio "${RES[sockbox,$c]:-}" "$(best "$c")") |"; done
echo "$row |"
echo
echo "Each a ${SECS} s window (best of $RUNS); the client is \`sockbox bench --threads 1\` on CPU 1,"
echo "the server on CPU 0, the plain echo behind the terminators (bench/ref_echo) on CPU 1 with"
echo "the client. Handshakes: --mode connect, 8 connections at once, each a new full handshake"
echo "(no session resumption), one 16 B exchange and a close. Idle: VmRSS growth of the server"
echo "(and its children) over $IDLE TLS connections held by bench/hold_conns.py --tls, divided"
echo "by $IDLE; the terminators' figure includes their connection to the backend."
