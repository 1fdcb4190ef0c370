"""A one-client uppercase server that says what it does on its standard output."""
import socket
import sys

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("serving")
c, _ = s.accept()
data = c.recv(100)
c.sendall(data.upper())
print("got", len(data), "bytes")
