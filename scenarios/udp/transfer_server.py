"""A TFTP-like server for scenarios/udp/transfer-port.toml.

It listens on the port it is given (the "well-known" port). A request "RRQ" gets its
answers from a NEW socket on an ephemeral port (the transfer id, as TFTP does):
"DATA 1", then, after "ACK 1" arrives at that port, "DATA 2", then it waits for
"ACK 2" and ends the transfer. An answer that is not acknowledged within a second is
sent again, up to three times.
"""
import socket
import sys

well_known = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
well_known.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    request, client = well_known.recvfrom(2048)
    if request != b"RRQ":
        continue
    transfer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    transfer.bind(("127.0.0.1", 0))
    transfer.settimeout(1.0)
    for block in (1, 2):
        for _ in range(4):
            transfer.sendto(b"DATA %d" % block, client)
            try:
                ack, sender = transfer.recvfrom(2048)
            except socket.timeout:
                continue
            if sender == client and ack == b"ACK %d" % block:
                break
    transfer.close()
