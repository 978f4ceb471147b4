# Import socket module
import socket
import sys
# Create a socket object
s = socket.socket()
# Define the port on which you want to connect
port = int(sys.argv[2])
# connect to the server on local computer
s.connect((sys.argv[1], port))
# receive data from the server and decoding to get the string.
print(s.recv(1024).decode())
# close the connection
s.close()
