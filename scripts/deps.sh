#!/bin/sh
# Installs the Debian packages sockbox needs to build and test, if any are missing.
# Idempotent; prints nothing when everything is already there; uses sudo when not root.
# Extra package names may be given as arguments (bench/run.sh passes its own).
set -eu

PKGS="gcc make pkg-config libc6-dev libcmocka-dev python3 python3-pytest
      procps iproute2 ncat netcat-openbsd socat clang libclang-rt-14-dev
      libssl-dev openssl haproxy libhiredis-dev redis-server
      libsystemd-dev systemd libmicrohttpd-dev libjansson-dev prometheus chromium"

missing=""
for p in $PKGS "$@"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
