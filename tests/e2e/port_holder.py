"""A process that holds a port for the port/ls/serve tests: binds (and for TCP listens), prints
the port on stdout, accepts and keeps every connection until it is killed.

    port_holder.py [--udp] [--family 4|6|dual] [--host H] [--port N] [--reuseport]
"""

import argparse
import select
import socket
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--udp", action="store_true")
    ap.add_argument("--family", choices=("4", "6", "dual"), default="4")
    ap.add_argument("--host")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--reuseport", action="store_true")
    a = ap.parse_args()
    fam = socket.AF_INET if a.family == "4" else socket.AF_INET6
    s = socket.socket(fam, socket.SOCK_DGRAM if a.udp else socket.SOCK_STREAM)
    if a.reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if a.family == "6" else 0)
    host = a.host or ("127.0.0.1" if fam == socket.AF_INET else "::")
    s.bind((host, a.port))
    if not a.udp:
        s.listen(16)
    print(s.getsockname()[1], flush=True)
    kept = []
    while True:
        if a.udp:
            select.select([], [], [])
        c, _ = s.accept()
        kept.append(c)


if __name__ == "__main__":
    sys.exit(main())
