#!/usr/bin/env python3
"""Serves a directory over loopback HTTP for the demo and the end-to-end tests: an archive repository, as a
static web server would (nginx, S3). Python's plain `http.server` is HTTP/1.0 with a listen backlog of 5:
when a pull opens its 8 parallel connections at once, the kernel drops some connection attempts and each
drop costs the client a 1 s SYN retransmission. This one keeps connections alive (HTTP/1.1) and listens
with a deep backlog.

Usage: serve-repo.py DIRECTORY PORT   (binds 127.0.0.1; PORT 0 picks a free port and prints it)
"""
import functools
import http.server
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # one line per request on stderr, as http.server does
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    directory, port = sys.argv[1], int(sys.argv[2])
    server = Server(("127.0.0.1", port), functools.partial(Handler, directory=directory))
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
