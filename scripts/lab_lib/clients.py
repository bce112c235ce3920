"""Clients for the lab's client namespaces.

  python3 clients.py benign --victim IP --http-from A,B --dns-from C --interactive-from D
                            --max-seconds S --seed N
      HTTP downloads of mixed sizes with curl, DNS queries, and an interactive-like session
      (small keystrokes, each echoed) until SIGTERM or S seconds, each loop bounded in count too.
  python3 clients.py exfil --victim IP --port P --seconds S --seed N
      One TCP connection sending 200-600 bytes every second for S seconds.
"""
import argparse
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

stop = threading.Event()


def http_loop(victim, sources, rng, deadline, max_requests=5000):
    for _ in range(max_requests):
        if stop.is_set() or time.time() > deadline:
            return
        u = rng.random()
        size = (rng.randint(300, 4000) if u < 0.6 else
                rng.randint(4000, 60000) if u < 0.9 else rng.randint(60000, 500000))
        path = f"/size/{size}" if rng.random() < 0.85 else "/"
        subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "10", "--interface",
                        rng.choice(sources), f"http://{victim}{path}"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stop.wait(rng.expovariate(2.0))


def dns_query(name, qid):
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\x00" + struct.pack("!HH", 1, 1)


def dns_loop(victim, sources, rng, deadline, max_queries=2000):
    names = ["www.lab", "mail.lab", "files.lab", "api.lab", "cdn.lab", "nowhere.invalid"]
    for _ in range(max_queries):
        if stop.is_set() or time.time() > deadline:
            return
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((rng.choice(sources), 0))
            s.settimeout(1.0)
            s.sendto(dns_query(rng.choice(names), rng.getrandbits(16)), (victim, 53))
            try:
                s.recv(512)
            except OSError:
                pass
        stop.wait(rng.expovariate(1.0))


def interactive_loop(victim, source, rng, deadline, max_keys=5000):
    """A terminal-like session on the echo port: short bursts of typing, then pauses."""
    with socket.create_connection((victim, 7), timeout=5, source_address=(source, 0)) as s:
        for _ in range(max_keys):
            if stop.is_set() or time.time() > deadline:
                return
            keys = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz \n") for _ in range(rng.randint(1, 40)))
            s.sendall(keys)
            got = 0
            while got < len(keys):
                chunk = s.recv(4096)
                if not chunk:
                    return
                got += len(chunk)
            stop.wait(rng.uniform(0.1, 2.0))


def exfil(victim, port, seconds, rng):
    with socket.create_connection((victim, port), timeout=5) as s:
        end = time.time() + seconds
        while not stop.is_set() and time.time() < end:
            s.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randint(200, 600))))
            stop.wait(1.0)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("benign")
    b.add_argument("--victim", required=True)
    b.add_argument("--http-from", required=True)
    b.add_argument("--dns-from", required=True)
    b.add_argument("--interactive-from", required=True)
    b.add_argument("--max-seconds", type=float, required=True)
    b.add_argument("--seed", type=int, default=1)
    e = sub.add_parser("exfil")
    e.add_argument("--victim", required=True)
    e.add_argument("--port", type=int, required=True)
    e.add_argument("--seconds", type=float, required=True)
    e.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.cmd == "exfil":
        exfil(args.victim, args.port, args.seconds, random.Random(args.seed))
        return 0
    deadline = time.time() + args.max_seconds
    loops = [
        (http_loop, (args.victim, args.http_from.split(","), random.Random(args.seed), deadline)),
        (dns_loop, (args.victim, args.dns_from.split(","), random.Random(args.seed + 1), deadline)),
        (interactive_loop, (args.victim, args.interactive_from, random.Random(args.seed + 2),
                            deadline)),
    ]
    threads = [threading.Thread(target=f, args=a, daemon=True) for f, a in loops]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
