"""Loopback TCP server: tells its port through the FIFO argv[1], answers one client, exits."""
import socket
import sys

with open(sys.argv[1], "w") as fifo:  # opened first: a failure below closes it, and the client sees EOF
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    fifo.write(str(srv.getsockname()[1]))
conn, _ = srv.accept()
request = conn.recv(100)
conn.sendall(b"pong:" + request)
conn.close()
srv.close()
