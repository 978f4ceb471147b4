#!/usr/bin/env python3
"""Opens N TCP connections to HOST:PORT that send without ever reading, for bench/queued.sh:
each sends up to BYTES (64 KiB at a time, non-blocking) until the server stops reading it.
Prints "blocked=N sent=BYTES" once nothing has moved for 1.5 s (or after 120 s), then holds
the connections until SIGTERM/SIGINT (exit 0).

usage: python3 noread.py HOST PORT N BYTES
Exit status 1 if a connection cannot be made, 2 on bad arguments.
"""
import signal
import socket
import sys
import time


def main():
    if len(sys.argv) != 5:
        print("usage: noread.py HOST PORT N BYTES", file=sys.stderr)
        return 2
    host, port, n, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    socks, sent, chunk = [], [], b"n" * 65536
    for i in range(n):
        try:
            s = socket.create_connection((host, port), timeout=10)
        except OSError as e:
            print("noread: connection %d of %d: %s" % (i + 1, n, e), file=sys.stderr)
            return 1
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.setblocking(False)
        socks.append(s)
        sent.append(0)
    end, quiet_since = time.monotonic() + 120, None
    while time.monotonic() < end:
        moved = False
        for i, s in enumerate(socks):
            if sent[i] >= per:
                continue
            try:
                sent[i] += s.send(chunk)
                moved = True
            except (BlockingIOError, ConnectionError):
                pass
        if moved:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.5:
            break
    print("blocked=%d sent=%d" % (len(socks), sum(sent)), flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
