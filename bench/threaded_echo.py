#!/usr/bin/env python3
"""The tutorials' threaded echo server (GeeksforGeeks / realpython): one thread
per client, recv(1024) then sendall() back. The baseline sockbox replaces.

usage: python3 threaded_echo.py PORT   (binds 127.0.0.1; PORT 0 picks a free one)
Prints "listening on 127.0.0.1:PORT" on stderr once listening.
"""
import socket
import sys
import threading


def handle(conn):
    with conn:
        try:
            while True:
                data = conn.recv(1024)
                if not data:
                    break
                conn.sendall(data)
        except OSError:
            pass


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: threaded_echo.py PORT")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen()
    print("listening on 127.0.0.1:%d" % s.getsockname()[1], file=sys.stderr, flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
