#!/usr/bin/env python3
"""Opens N idle TCP connections to HOST:PORT and holds them, for bench/run.sh's
idle-memory case. Prints "established=N" on stdout once every connection is
up, then sends nothing and waits for SIGTERM/SIGINT (exit 0).

usage: python3 hold_conns.py HOST PORT N
Exit status 1 if a connection fails (the error on stderr), 2 on bad arguments.
"""
import signal
import socket
import sys


def main():
    if len(sys.argv) != 4:
        print("usage: hold_conns.py HOST PORT N", file=sys.stderr)
        return 2
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    held = []
    for i in range(n):
        try:
            held.append(socket.create_connection((host, port), timeout=10))
        except OSError as e:
            print("hold_conns: connection %d of %d: %s" % (i + 1, n, e), file=sys.stderr)
            return 1
    print("established=%d" % len(held), flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
