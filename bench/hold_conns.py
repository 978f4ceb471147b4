#!/usr/bin/env python3
"""Opens N idle TCP connections to HOST:PORT and holds them, for bench/run.sh's
idle-memory case (and bench/tls.sh's, with --tls: each connection completes a TLS
handshake, certificate not checked, and reads the session tickets a TLS 1.3 server sends
after it). Prints "established=N" on stdout once every connection is up, then sends nothing
and waits for SIGTERM/SIGINT (exit 0).

usage: python3 hold_conns.py [--tls] HOST PORT N
Exit status 1 if a connection fails (the error on stderr), 2 on bad arguments.
"""
import signal
import socket
import ssl
import sys


def main():
    args = sys.argv[1:]
    tls = bool(args) and args[0] == "--tls"
    if tls:
        args = args[1:]
    if len(args) != 3:
        print("usage: hold_conns.py [--tls] HOST PORT N", file=sys.stderr)
        return 2
    host, port, n = args[0], int(args[1]), int(args[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ctx = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    held = []
    for i in range(n):
        try:
            s = socket.create_connection((host, port), timeout=10)
            if ctx:
                s = ctx.wrap_socket(s, server_hostname=host)
                s.setblocking(False)
                try:  # TLS 1.3 tickets come after the handshake: take them, as a client would
                    s.recv(1)
                except (ssl.SSLWantReadError, BlockingIOError):
                    pass
            held.append(s)
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
