#!/usr/bin/env python3
# The realpython echo client, copied as written from the tutorial
# (https://realpython.com/python-sockets/). Only PORT changed: it comes from argv[1] or $PORT,
# with the original 65432 as the default.

import socket

HOST = '127.0.0.1'  # The server's hostname or IP address
PORT = int(__import__('sys').argv[1] if len(__import__('sys').argv) > 1 else __import__('os').environ.get('PORT', 65432))        # The port used by the server

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.connect((HOST, PORT))
    s.sendall(b'Hello, world')
    data = s.recv(1024)

print('Received', repr(data))
