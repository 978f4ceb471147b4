# The realpython echo server, copied as written from the tutorial
# (https://realpython.com/python-sockets/). Only PORT changed: it comes from argv[1] or $PORT,
# with the original 65432 as the default.
import socket

HOST = '127.0.0.1'  # Standard loopback interface address (localhost)
PORT = int(__import__('sys').argv[1] if len(__import__('sys').argv) > 1 else __import__('os').environ.get('PORT', 65432))        # Port to listen on (non-privileged ports are > 1023)

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    # bind() is used to associate the socket with a specific network interface and port number:
    s.bind((HOST, PORT))
    s.listen()
    conn, addr = s.accept()
    with conn:
        print('Connected by', addr)
        while True:
            data = conn.recv(1024)
            if not data:
                break
            conn.sendall(data)
