"""The plain Python client of `benches/roundtrip.rs`.

Usage: python3 roundtrip_client.py HOST PORT ROUND_TRIPS

Connects with TCP_NODELAY, then ROUND_TRIPS times sends the 32-byte line with sendall
and reads the answer with readline (checking it), then half-closes and expects EOF.
"""

import socket
import sys

LINE = b"0123456789ABCDEFGHIJKLMNOPQRSTU"


def main() -> None:
    host, port, round_trips = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = sock.makefile("rb")
    out = LINE + b"\n"
    for _ in range(round_trips):
        sock.sendall(out)
        if reader.readline() != out:
            sys.exit("wrong answer from the server")
    sock.shutdown(socket.SHUT_WR)
    if reader.read() != b"":
        sys.exit("bytes after the last answer")
    reader.close()
    sock.close()


if __name__ == "__main__":
    main()
