"""Loopback TCP client: reads the server's port from the FIFO argv[1], sends ping, checks the answer."""
import socket
import sys

with open(sys.argv[1]) as fifo:
    port = int(fifo.read())
with socket.create_connection(("127.0.0.1", port)) as conn:
    conn.sendall(b"ping")
    assert conn.recv(100) == b"pong:ping"
