#!/usr/bin/env python3
"""Runs a command (QEMU) and records its console with host arrival times, for the bench/ scripts.

    qemu_console.py LOG [--timeout S] [--stop REGEX] [--monitor SOCK --resets N [--blockstats]] -- CMD ARGS...

LOG gets the console output (carriage returns dropped), LOG.times one line "END_OFFSET SECONDS" per chunk
read from the pipe: the bytes of LOG before END_OFFSET had arrived SECONDS after the command was started
(time.monotonic()). --stop REGEX ends the command (SIGTERM, then SIGKILL) as soon as the output matches.
With --monitor (QEMU's `-monitor unix:SOCK,server=on,wait=off`) and --resets N, the first N matches of --stop
each send `system_reset` to the monitor instead (U-Boot starts again in the same QEMU process; RAM is kept),
and the (N+1)-th ends the command. --blockstats: at every match of --stop, before the reset, the monitor's
`info blockstats` is asked for the bytes read so far from the virtio disk d0; LOG.blockstats gets one line
"END_OFFSET RD_BYTES" per match (cumulative: system_reset does not clear QEMU's counters).
Exit status: the command's, 0 when stopped by --stop, 124 on timeout.

As a module: Console(LOG) gives .text and .time_at(offset), the arrival time of the byte at offset.
"""
import bisect
import os
import re
import select
import socket
import subprocess
import sys
import time


class Console:
    def __init__(self, log):
        with open(log, "rb") as f:
            self.text = f.read().decode("utf-8", "replace")
        self.ends, self.times = [], []
        with open(log + ".times") as f:
            for line in f:
                end, t = line.split()
                self.ends.append(int(end))
                self.times.append(float(t))

    def time_at(self, offset):
        """Arrival time (seconds since the command started) of the byte at `offset`."""
        i = bisect.bisect_right(self.ends, offset)
        return self.times[min(i, len(self.times) - 1)]

    def first(self, pattern, start=0):
        """The first match of `pattern` at or after `start`, or None."""
        return re.compile(pattern, re.M).search(self.text, start)


class Monitor:
    """QEMU's human monitor on a unix socket, one connection kept for the whole run."""

    def __init__(self, path):
        self.path, self.sock = path, None

    def command(self, line):
        """Runs one monitor command; returns what it printed (with the echo)."""
        if self.sock is None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(self.path)
            self.sock.settimeout(5.0)
            self._until(b"(qemu)")
        self.sock.sendall(line.encode() + b"\n")
        # The monitor echoes the line and prints a new prompt once the command ran.
        return self._until(b"(qemu)")

    def _until(self, marker):
        seen = b""
        while marker not in seen[-64:]:
            data = self.sock.recv(4096)
            if not data:
                raise OSError("QEMU monitor closed")
            seen += data
        return seen.decode("utf-8", "replace")

    def rd_bytes(self, device="d0"):
        """Bytes read so far from `device` (`info blockstats`)."""
        out = self.command("info blockstats")
        m = re.search(r"(?:^|\s)" + device + r": rd_bytes=(\d+)", re.sub(r"\x1b\[[0-9;]*[A-Za-z]|\r", "", out))
        if not m:
            raise OSError("no rd_bytes for %s in: %r" % (device, out))
        return int(m.group(1))


def main(argv):
    if "--" not in argv:
        sys.exit(__doc__)
    opts, cmd = argv[: argv.index("--")], argv[argv.index("--") + 1:]
    log, timeout, stop, monitor, resets, blockstats = opts[0], 600.0, None, None, 0, None
    i = 1
    while i < len(opts):
        if opts[i] == "--timeout":
            timeout = float(opts[i + 1])
        elif opts[i] == "--stop":
            stop = re.compile(opts[i + 1].encode())
        elif opts[i] == "--monitor":
            monitor = Monitor(opts[i + 1])
        elif opts[i] == "--resets":
            resets = int(opts[i + 1])
        elif opts[i] == "--blockstats":
            blockstats = open(log + ".blockstats", "w")
            i += 1
            continue
        else:
            sys.exit("unknown option " + opts[i])
        i += 2
    out = open(log, "wb")
    times = open(log + ".times", "w")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    fd = proc.stdout.fileno()
    total, tail, rc = 0, b"", None
    while True:
        left = timeout - (time.monotonic() - t0)
        if left <= 0:
            rc = 124
            break
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        now = time.monotonic() - t0
        if not chunk:
            break
        chunk = chunk.replace(b"\r", b"")
        out.write(chunk)
        total += len(chunk)
        times.write(f"{total} {now:.6f}\n")
        if stop is not None:
            tail = (tail + chunk)[-4096:]
            if stop.search(tail):
                if blockstats is not None:
                    blockstats.write(f"{total} {monitor.rd_bytes()}\n")
                    blockstats.flush()
                if resets > 0:
                    resets -= 1
                    tail = b""
                    monitor.command("system_reset")
                    continue
                rc = 0
                break
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    out.close()
    times.close()
    return proc.returncode if rc is None else rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
