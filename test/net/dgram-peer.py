# A unix datagram peer for test/net/dgram-backend.test.ts, standing in for gvproxy or
# vmnet-helper: removes a stale socket file at argv[1], binds it, reports every datagram as
# "recv HEX SENDER", and obeys lines on stdin: "send HEX" and "sendlen N" (N bytes of 0xab) go
# to the last sender; "pause" and "resume" stop and restart reading (a read already waiting
# still takes one); "unlink" removes the socket file but keeps serving; "close" removes it and
# exits.
#
# With "--vmnet-helper" as argv[2] it behaves as vmnet-helper --socket does (programs/helper.c):
# send buffer 65 KiB, receive buffer 4 MiB, mode 0600; it waits for the first datagram, learns
# the client's address from it (MSG_PEEK) and connect()s to it, so it takes datagrams from that
# client only; that first datagram is consumed without forwarding when shorter than 64 bytes
# (the VFKT handshake); an empty datagram makes it exit ("exit closed-by-peer"), as does a frame
# shorter than an Ethernet header, which vmnet_write would refuse ("exit invalid-frame"); it
# removes its socket file on SIGTERM, as its atexit handler does.
import os
import signal
import socket
import sys
import threading

path = sys.argv[1]
vmnet = len(sys.argv) > 2 and sys.argv[2] == "--vmnet-helper"
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if vmnet:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65 * 1024)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
else:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s.bind(path)
if vmnet:
    os.chmod(path, 0o600)
peer = None
out = threading.Lock()  # the reader and the command loop both print: keep lines whole
reading = threading.Event()
reading.set()


def say(*words):
    with out:
        print(*words, flush=True)


def stop(reason):
    say("exit", reason)
    if vmnet:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    os._exit(0)


if vmnet:
    signal.signal(signal.SIGTERM, lambda *_: stop("sigterm"))


def accept_client():
    global peer
    data, addr = s.recvfrom(64, socket.MSG_PEEK)
    s.connect(addr)
    peer = addr
    say("client", addr)
    if len(data) < 64:
        s.recv(64)


def reader():
    global peer
    # SIGTERM is for the main thread, which runs Python's handlers: taken by this thread, it
    # would leave the main thread asleep on stdin and "exit sigterm" unsaid.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    if vmnet:
        accept_client()
    while True:
        reading.wait()
        try:
            data, addr = s.recvfrom(1 << 17)
        except OSError:
            return
        if vmnet and len(data) == 0:
            stop("closed-by-peer")
        if vmnet and len(data) < 14:
            stop("invalid-frame")
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
        elif cmd == "unlink":
            os.unlink(path)
        elif cmd == "close":
            # Exit rather than close(): the reader thread's blocked recvfrom would keep the
            # socket alive after close(), and the point is for the peer to be gone.
            os.unlink(path)
            say("closed")
            os._exit(0)
        say("ok", cmd)
    except OSError as e:
        say("error", cmd, e.errno)
