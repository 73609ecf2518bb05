# A unix datagram peer for test/net/dgram-backend.test.ts, standing in for gvproxy or
# vmnet-helper: binds argv[1], reports every datagram as "recv HEX SENDER", and obeys lines
# on stdin: "send HEX" and "sendlen N" (N bytes of 0xab) go to the last sender; "pause" and
# "resume" stop and restart reading (a read already waiting still takes one); "close" removes the
# socket and exits.
import os
import socket
import sys
import threading

path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
s.bind(path)
peer = None
out = threading.Lock()  # the reader and the command loop both print: keep lines whole
reading = threading.Event()
reading.set()


def say(*words):
    with out:
        print(*words, flush=True)


def reader():
    global peer
    while True:
        reading.wait()
        try:
            data, addr = s.recvfrom(1 << 17)
        except OSError:
            return
        if addr:
            peer = addr
        say("recv", data.hex(), addr or "-")


threading.Thread(target=reader, daemon=True).start()
say("ready")
for line in sys.stdin:
    cmd, *args = line.split()
    try:
        if cmd == "send":
            s.sendto(bytes.fromhex(args[0]), peer)
        elif cmd == "sendlen":
            s.sendto(b"\xab" * int(args[0]), peer)
        elif cmd == "pause":
            reading.clear()
        elif cmd == "resume":
            reading.set()
        elif cmd == "close":
            # Exit rather than close(): the reader thread's blocked recvfrom would keep the
            # socket alive after close(), and the point is for the peer to be gone.
            os.unlink(path)
            say("closed")
            os._exit(0)
        say("ok", cmd)
    except OSError as e:
        say("error", cmd, e.errno)
