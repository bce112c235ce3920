"""The lab's WAN links: a userspace relay between pairs of TAP devices that delays, jitters and drops
Ethernet frames (this kernel has no netem; rate limits are `tbf` on the TAP devices, set by the lab).

  python3 relay.py --config LINKS.json --ready FILE --stats FILE

LINKS.json: {"links": [{"name", "a_netns", "a_dev", "b_netns", "b_dev", "delay_ms", "jitter_ms",
"loss", "seed"}, ...]}. For every link the relay creates TAP device a_dev inside the network namespace
a_netns (/run/netns/NAME) and b_dev inside b_netns, writes FILE when all exist (the lab then sets
their addresses, MACs, bridge ports and qdiscs), and forwards every frame read from one to the other:

  * dropped with probability `loss` (Bernoulli, drawn from random.Random(seed) per direction, so a
    link drops the same frame numbers on every run with that seed);
  * otherwise written after delay_ms + U(-jitter_ms, +jitter_ms) (at least 0), never before the
    frame ahead of it in the same direction: like a real path, the relay does not reorder;
  * at most QUEUE_LIMIT frames wait per direction; more are dropped (counted apart from `loss`).

On SIGTERM/SIGINT it writes --stats (per link and direction: frames, bytes, losses, queue drops and
how late frames left against their schedule: mean, p50, p99, max in ms) and exits; the TAP devices
disappear with it.
"""
import argparse
import collections
import ctypes
import fcntl
import json
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
CLONE_NEWNET = 0x40000000
QUEUE_LIMIT = 4000
MAX_FRAME = 65536
_libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def open_tap(netns, name):
    """A TAP device `name` inside network namespace `netns`; returns its non-blocking fd."""
    setns(f"/run/netns/{netns}")
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


class Direction:
    def __init__(self, link, label, out_fd, seed):
        self.link, self.label, self.out_fd = link, label, out_fd
        self.rng = random.Random(seed)
        self.delay = link["delay_ms"] / 1000.0
        self.jitter = link["jitter_ms"] / 1000.0
        self.loss = float(link["loss"])
        self.queue = collections.deque()  # (due, frame), due never decreasing
        self.last_due = 0.0
        self.frames = self.bytes = self.lost = self.queue_drops = 0
        self.late = []  # seconds each frame left after its due time (sampled, bounded)

    def push(self, now, frame):
        # Two draws per frame whatever happens, so the n-th frame's fate depends only on the seed.
        u_loss, u_jitter = self.rng.random(), self.rng.random()
        if u_loss < self.loss:
            self.lost += 1
            return
        if len(self.queue) >= QUEUE_LIMIT:
            self.queue_drops += 1
            return
        due = now + max(0.0, self.delay + self.jitter * (2 * u_jitter - 1))
        due = max(due, self.last_due)
        self.last_due = due
        self.queue.append((due, frame))

    def flush(self, now):
        q = self.queue
        while q and q[0][0] <= now:
            due, frame = q.popleft()
            try:
                os.write(self.out_fd, frame)
            except BlockingIOError:
                self.queue_drops += 1
                continue
            except OSError:
                continue  # the device went away while the lab tears down
            self.frames += 1
            self.bytes += len(frame)
            if len(self.late) < 200000:
                self.late.append(now - due)

    def stats(self):
        late = sorted(self.late)

        def pct(p):
            return round(1000 * late[min(len(late) - 1, int(p * len(late)))], 3) if late else None

        return {"frames": self.frames, "bytes": self.bytes, "lost": self.lost,
                "queue_drops": self.queue_drops,
                "late_ms": {"mean": round(1000 * sum(late) / len(late), 3) if late else None,
                            "p50": pct(0.5), "p99": pct(0.99),
                            "max": round(1000 * late[-1], 3) if late else None}}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--stats", required=True)
    args = p.parse_args()
    _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: a killed lab takes its relay with it
    with open(args.config) as f:
        links = json.load(f)["links"]
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    readers = {}  # fd -> Direction that forwards what is read from fd
    directions = []
    for link in links:
        fa = open_tap(link["a_netns"], link["a_dev"])
        fb = open_tap(link["b_netns"], link["b_dev"])
        up = Direction(link, "a_to_b", fb, link["seed"] * 2 + 1)
        down = Direction(link, "b_to_a", fa, link["seed"] * 2 + 2)
        readers[fa], readers[fb] = up, down
        directions += [up, down]
    _libc.setns(home, CLONE_NEWNET)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    with open(args.ready + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(args.ready + ".tmp", args.ready)
    poller = select.epoll()
    for fd in readers:
        poller.register(fd, select.EPOLLIN)
    began = time.monotonic()
    while not stop:
        now = time.monotonic()
        heads = [d.queue[0][0] for d in directions if d.queue]
        timeout = max(0.0, min(heads) - now) if heads else 0.2
        try:
            events = poller.poll(min(timeout, 0.2))
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd, _ in events:
            d = readers[fd]
            for _ in range(64):  # a batch per wake-up; the rest on the next turn
                try:
                    frame = os.read(fd, MAX_FRAME)
                except (BlockingIOError, OSError):
                    break
                d.push(now, frame)
        now = time.monotonic()
        for d in directions:
            d.flush(now)
    out = {"seconds": round(time.monotonic() - began, 1), "queue_limit": QUEUE_LIMIT, "links": {}}
    for d in directions:
        out["links"].setdefault(d.link["name"], {})[d.label] = d.stats()
    with open(args.stats, "w") as f:
        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
