#!/usr/bin/env python3
"""A disk image served at an SD card's read speed, for the bench/ scripts' U-Boot boots.

    sd_card.py IMAGE SOCKET BPS

Serves IMAGE over NBD on the unix socket SOCKET (QEMU: -drive driver=raw,file.driver=nbd,
file.server.type=unix,file.server.path=SOCKET,...) so that every byte the guest reads costs 1/BPS s:
qemu-nbd serves the image on SOCKET.inner, and this proxy passes QEMU's requests to it unchanged and
delivers qemu-nbd's replies no faster than BPS bytes/s (a reply's bytes arrive when a card reading at BPS
would have read them; an idle link earns no credit). Prints "ready" once SOCKET accepts connections and
runs until killed (SIGTERM), then stops qemu-nbd.

Why not QEMU's own `throttling.bps-read`: its leaky bucket lets a request through whenever the bucket is
below a tenth of a second's worth and charges the request's bytes afterwards, so the last request before a
pause (or the only one) is free: a FIT image of 7 MB fatloaded in one request "at 10 MiB/s" booted in
281 ms (2026-12-01), where a card needs 670 ms just to read it.
"""
import os
import select
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time

CHUNK = 65536  # bytes forwarded per step: 6.25 ms at 10 MiB/s


def pipe_up(src, dst):
    """QEMU -> qemu-nbd: requests, unchanged and unpaced."""
    while data := src.recv(65536):
        dst.sendall(data)
    dst.shutdown(socket.SHUT_WR)


def pipe_down(src, dst, bps):
    """qemu-nbd -> QEMU: replies, paced to bps bytes/s. `due` is when the card has read everything
    forwarded so far. While replies are already waiting the schedule runs on (a late wake-up is made up
    by the next, shorter wait); after the link was idle it starts again from the moment data arrives."""
    due = time.monotonic()
    while True:
        waiting = select.select([src], [], [], 0)[0]
        data = src.recv(CHUNK)
        if not data:
            break
        if not waiting:
            due = max(due, time.monotonic())
        due += len(data) / bps
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        dst.sendall(data)
    dst.shutdown(socket.SHUT_WR)


def serve(sock, inner, bps):
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            nbd = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            nbd.connect(inner)
            up = threading.Thread(target=pipe_up, args=(self.request, nbd), daemon=True)
            up.start()
            try:
                pipe_down(nbd, self.request, bps)
            except OSError:
                pass
            up.join(timeout=1)
            nbd.close()

    server = socketserver.ThreadingUnixStreamServer(sock, Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    image, sock, bps = argv[1], argv[2], float(argv[3])
    if bps <= 0:
        sys.exit("sd_card.py: BPS must be positive, got %s" % argv[3])
    inner = sock + ".inner"
    for p in (sock, inner):
        if os.path.exists(p):
            os.unlink(p)
    nbd = subprocess.Popen(["qemu-nbd", "--persistent", "--format=raw", "--socket=" + inner, image])
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(inner):
            if nbd.poll() is not None or time.monotonic() > deadline:
                sys.exit("sd_card.py: qemu-nbd did not start on %s (exit %s)" % (inner, nbd.poll()))
            time.sleep(0.05)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        serve(sock, inner, bps)
    finally:
        nbd.terminate()
        nbd.wait()


if __name__ == "__main__":
    main(sys.argv)
