"""Servers for the lab's victim namespace: HTTP (mixed sizes, a basic-auth page, a login form), DNS,
FTP (every login fails), a line echo service for interactive sessions and a sink for exfiltration;
and, with --services dns --zone Z, the authoritative DNS server of an attacker's zone.

  python3 servers.py --bind 10.77.0.1 --ready FILE [--bind6 ADDR] [--services http,dns,...]
                     [--zone lab] [--answer ADDR] [--answer6 ADDR]

Runs until SIGTERM/SIGINT; one thread per connection (the lab opens at most a few hundred). Writes
FILE once every port is bound, so the lab starts traffic only when the servers can answer.
"""
import argparse
import base64
import os
import signal
import socket
import socketserver
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HTTP_PORT, DNS_PORT, FTP_PORT, ECHO_PORT, SINK_PORT = 80, 53, 21, 7, 4444
MAX_BODY = 4 * 1024 * 1024
# A password that is not in any lab wordlist: brute force attempts all fail, like a real defence.
AUTH_USER, AUTH_PASSWORD = "operator", "Lab-not-in-any-wordlist-7f3a"
CONNECTION_TIMEOUT = 120.0
_FILL = bytes(range(256)) * (MAX_BODY // 256)


class HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "netsentry-lab"
    timeout = CONNECTION_TIMEOUT

    def log_message(self, fmt, *args):  # keep the lab's console readable
        pass

    def _send(self, code, body, content_type="application/octet-stream", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path.startswith("/size/"):
            try:
                size = min(int(path[len("/size/"):]), MAX_BODY)
            except ValueError:
                return self._send(400, b"size must be a number\n", "text/plain")
            return self._send(200, memoryview(_FILL)[:size].tobytes())
        if path == "/private":
            expected = base64.b64encode(f"{AUTH_USER}:{AUTH_PASSWORD}".encode()).decode()
            if self.headers.get("Authorization", "") == f"Basic {expected}":
                return self._send(200, b"welcome\n", "text/plain")
            return self._send(401, b"authorization required\n", "text/plain",
                              [("WWW-Authenticate", 'Basic realm="lab"')])
        body = (b"<html><head><title>lab</title></head><body>"
                + b"<p>netsentry traffic lab</p>" * 40 + b"</body></html>\n")
        return self._send(200, body, "text/html")

    do_HEAD = do_GET

    def do_POST(self):
        length = min(int(self.headers.get("Content-Length", "0") or 0), MAX_BODY)
        body = self.rfile.read(length)
        if self.path.split("?", 1)[0] == "/login":
            # A web application's login form: every stuffed or guessed pair is refused with the
            # same page, as a real site answers.
            form = dict(p.split("=", 1) for p in body.decode("latin-1").split("&") if "=" in p)
            if form.get("user") == AUTH_USER and form.get("pass") == AUTH_PASSWORD:
                return self._send(302, b"", "text/html", [("Location", "/home")])
            page = (b"<html><body><form method=post action=/login>invalid user name or password"
                    b"<input name=user><input name=pass type=password></form></body></html>\n")
            return self._send(200, page, "text/html")
        self._send(200, b"ok\n", "text/plain")


class _QuietErrors:
    """Attack tools drop connections mid-request all the time; that is expected, not an error."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class ThreadingTcp(_QuietErrors, socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class HttpServer(_QuietErrors, ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


class FtpHandler(socketserver.StreamRequestHandler):
    """Just enough FTP for a password-guessing client: every PASS is refused."""

    def handle(self):
        self.request.settimeout(CONNECTION_TIMEOUT)
        self.wfile.write(b"220 netsentry lab FTP server ready\r\n")
        for _ in range(1000):
            line = self.rfile.readline(512)
            if not line:
                return
            cmd = line.strip().split(b" ", 1)[0].upper()
            if cmd == b"USER":
                reply = b"331 Password required\r\n"
            elif cmd == b"PASS":
                reply = b"530 Login incorrect.\r\n"
            elif cmd == b"QUIT":
                self.wfile.write(b"221 Goodbye.\r\n")
                return
            elif cmd == b"SYST":
                reply = b"215 UNIX Type: L8\r\n"
            elif cmd == b"FEAT":
                reply = b"211 End\r\n"
            else:
                reply = b"530 Please login with USER and PASS.\r\n"
            self.wfile.write(reply)


class EchoHandler(socketserver.StreamRequestHandler):
    def handle(self):
        self.request.settimeout(CONNECTION_TIMEOUT)
        while True:
            data = self.request.recv(4096)
            if not data:
                return
            self.request.sendall(data)


class SinkHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(CONNECTION_TIMEOUT)
        while self.request.recv(65536):
            pass


class DnsHandler(socketserver.BaseRequestHandler):
    """Answers A (AAAA) queries for names in its zones with its answer address (answer6), an empty
    answer for other types in its zones, NXDOMAIN for anything else."""

    def handle(self):
        data, sock = self.request
        if len(data) < 17:
            return
        qid, flags = struct.unpack_from("!HH", data)
        labels, off = [], 12
        while off < len(data) and data[off] != 0 and len(labels) < 64:
            n = data[off]
            labels.append(data[off + 1:off + 1 + n].decode("ascii", "replace"))
            off += 1 + n
        end = off + 5
        if end > len(data):
            return
        question = data[12:end]
        qtype = struct.unpack_from("!H", data, off + 1)[0]
        name = ".".join(labels).lower()
        rd = flags & 0x0100
        if any(name == z or name.endswith("." + z) for z in self.server.zones):
            answers = b""
            if qtype == 1:
                answers = struct.pack("!HHHIH4s", 0xC00C, 1, 1, 60, 4,
                                      socket.inet_aton(self.server.answer))
            elif qtype == 28 and self.server.answer6:
                answers = struct.pack("!HHHIH16s", 0xC00C, 28, 1, 60, 16,
                                      socket.inet_pton(socket.AF_INET6, self.server.answer6))
            reply = (struct.pack("!HHHHHH", qid, 0x8480 | rd, 1, 1 if answers else 0, 0, 0)
                     + question + answers)
        else:
            reply = struct.pack("!HHHHHH", qid, 0x8483 | rd, 1, 0, 0, 0) + question
        sock.sendto(reply, self.client_address)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bind", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--services", default="http,ftp,echo,sink,dns")
    p.add_argument("--zone", action="append", help="a DNS zone served (default: lab)")
    p.add_argument("--answer", help="the A record of every name in the zones (default: --bind)")
    p.add_argument("--answer6", help="the AAAA record of every name in the zones")
    args = p.parse_args()
    wanted = set(args.services.split(","))
    servers = []
    if "http" in wanted:
        servers.append(HttpServer((args.bind, HTTP_PORT), HttpHandler))
    if "ftp" in wanted:
        servers.append(ThreadingTcp((args.bind, FTP_PORT), FtpHandler))
    if "echo" in wanted:
        servers.append(ThreadingTcp((args.bind, ECHO_PORT), EchoHandler))
    if "sink" in wanted:
        servers.append(ThreadingTcp((args.bind, SINK_PORT), SinkHandler))
    if "dns" in wanted:
        dns = socketserver.ThreadingUDPServer((args.bind, DNS_PORT), DnsHandler)
        dns.answer = args.answer or args.bind
        dns.answer6 = args.answer6
        dns.zones = [z.lower().strip(".") for z in (args.zone or ["lab"])]
        servers.append(dns)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
               for s in servers]
    for t in threads:
        t.start()
    with open(args.ready + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(args.ready + ".tmp", args.ready)
    stop.wait()
    for s in servers:
        s.shutdown()
        s.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
