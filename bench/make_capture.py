#!/usr/bin/env python3
"""Builds large capture files for throughput benchmarks.

  make_capture.py synthetic OUT.pcap --packets 1000000 [--flows 20000] [--seed 1]
      TCP connections (handshake, data both ways, FIN) and UDP request/response pairs between
      many hosts in 10.0.0.0/8, Ethernet, with realistic sizes and gaps.
  make_capture.py repeat OUT.pcap --packets 1000000 IN.pcap...
      Repeats real captures (pcap or pcapng, converted with tcpdump) with shifted timestamps and
      IPv4 addresses changed per repetition, so every repetition makes new flows.
  make_capture.py synflood OUT.pcap --packets 1000000 [--sequential-sources]
      A SYN flood from distinct spoofed sources (memory-bound test), in random order as
      `hping3 --rand-source` sends them; --sequential-sources numbers them in order instead
      (11.0.0.0, 11.0.0.1, ...; the only order before, which hides what random keys cost an index).
  make_capture.py udpflood OUT.pcap --packets 1000000
  make_capture.py icmpflood OUT.pcap --packets 1000000
  make_capture.py ackflood OUT.pcap --packets 1000000
      The same from spoofed sources as UDP datagrams of 64 bytes to port 9999
      (`hping3 --udp --rand-source`), as echo requests (`hping3 --icmp --rand-source`) or as ACKs
      outside any connection to port 80 (`hping3 -A --rand-source`).
  make_capture.py synflood|udpflood OUT.pcap --packets 1000000 --random-ports
      A flood that also sprays destination ports (1-65535, random per packet), so no one port
      of the victim receives much.
  make_capture.py synflood|ackflood|udpflood|icmpflood OUT.pcap --packets 1000000 --victims 256
      Carpet bombing: each packet goes to one of N hosts of 10.9.0.0/16 (10.9.0.0 onwards) at
      random, so no one host receives much (at most 65536).
"""
import argparse
import os
import random
import struct
import subprocess
import sys
import tempfile
from math import gcd

ETH = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"


def ip_header(src, dst, proto, payload_len, ident=0):
    total = 20 + payload_len
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident & 0xFFFF, 0x4000, 64, proto, 0, src, dst)


def tcp_segment(sport, dport, seq, ack, flags, payload_len, window=64240):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0) + b"\0" * payload_len


def udp_datagram(sport, dport, payload_len):
    return struct.pack("!HHHH", sport, dport, 8 + payload_len, 0) + b"\0" * payload_len


class Writer:
    def __init__(self, path):
        self.f = open(path, "wb", buffering=1 << 20)
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        self.count = 0

    def packet(self, ts, frame):
        sec = int(ts)
        usec = int((ts - sec) * 1e6)
        self.f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
        self.f.write(frame)
        self.count += 1

    def close(self):
        self.f.close()


def rand_ip(rng):
    return bytes([10, rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)])


def synthetic(out, packets, flows, seed):
    rng = random.Random(seed)
    w = Writer(out)
    events = []  # (ts, frame) generated per flow, then merged by time in windows
    t0 = 1_700_000_000.0
    servers = [rand_ip(rng) for _ in range(200)]
    budget = packets
    flow_index = 0
    while budget > 0:
        # one "window" of concurrent flows, sorted by time and written, to keep memory small
        window = []
        for _ in range(min(flows, 2000)):
            start = t0 + rng.random() * 10
            c, s = rand_ip(rng), rng.choice(servers)
            cp, sp = rng.randrange(1024, 65535), rng.choice([80, 443, 22, 8080, 53, 123])
            flow_index += 1
            if sp in (53, 123):
                t = start
                for _ in range(rng.randrange(1, 3)):
                    window.append((t, ETH + ip_header(c, s, 17, 8 + 40) + udp_datagram(cp, sp, 40)))
                    t += rng.random() * 0.01
                    window.append((t, ETH + ip_header(s, c, 17, 8 + 120) + udp_datagram(sp, cp, 120)))
                    t += rng.random() * 0.5
                continue
            t = start
            seq_c, seq_s = rng.randrange(1 << 32), rng.randrange(1 << 32)
            def add(src, dst, spn, dpn, seq, ack, flags, n):
                nonlocal t
                window.append((t, ETH + ip_header(src, dst, 6, 20 + n) + tcp_segment(spn, dpn, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, flags, n)))
                t += rng.expovariate(200.0)
            add(c, s, cp, sp, seq_c, 0, 0x02, 0)
            add(s, c, sp, cp, seq_s, seq_c + 1, 0x12, 0)
            add(c, s, cp, sp, seq_c + 1, seq_s + 1, 0x10, 0)
            for _ in range(rng.randrange(2, 40)):
                if rng.random() < 0.3:
                    add(c, s, cp, sp, seq_c, seq_s, 0x18, rng.randrange(50, 600))
                else:
                    add(s, c, sp, cp, seq_s, seq_c, 0x10, rng.choice([1448, 1448, 512, 0]))
            add(c, s, cp, sp, seq_c, seq_s, 0x11, 0)
            add(s, c, sp, cp, seq_s, seq_c, 0x11, 0)
            add(c, s, cp, sp, seq_c, seq_s, 0x10, 0)
        window.sort(key=lambda e: e[0])
        for ts, frame in window[:budget]:
            w.packet(ts, frame)
        budget -= min(budget, len(window))
        t0 += 10
    w.close()
    return w.count


def read_pcap(path):
    """Yields (ts, frame) from a classic pcap (any precision); pcapng is converted with tcpdump."""
    with open(path, "rb") as f:
        magic = f.read(4)
    tmp = None
    if magic == b"\x0a\x0d\x0d\x0a":
        tmp = tempfile.NamedTemporaryFile(suffix=".pcap", delete=False)
        tmp.close()
        subprocess.run(["tcpdump", "-r", path, "-w", tmp.name], check=True, stderr=subprocess.DEVNULL)
        path = tmp.name
    with open(path, "rb") as f:
        hdr = f.read(24)
        m = struct.unpack("<I", hdr[:4])[0]
        endian, nano = {0xA1B2C3D4: ("<", False), 0xD4C3B2A1: (">", False),
                        0xA1B23C4D: ("<", True), 0x4D3CB2A1: (">", True)}[m]
        linktype = struct.unpack(endian + "I", hdr[20:24])[0]
        out = []
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            sec, frac, cap, wire = struct.unpack(endian + "IIII", rec)
            data = f.read(cap)
            if len(data) < cap:
                break
            out.append((sec + frac / (1e9 if nano else 1e6), data))
    if tmp:
        os.unlink(tmp.name)
    return linktype, out


def repeat(out, packets, inputs):
    frames = []
    for p in inputs:
        linktype, pk = read_pcap(p)
        if linktype != 1:
            print(f"skip {p}: link type {linktype} (only Ethernet is repeated)", file=sys.stderr)
            continue
        if pk:
            base = pk[0][0]
            frames.extend((ts - base, f) for ts, f in pk)
    if not frames:
        sys.exit("no Ethernet packets in the inputs")
    frames.sort(key=lambda e: e[0])
    span = frames[-1][0] + 1.0
    w = Writer(out)
    rep = 0
    t0 = 1_700_000_000.0
    while w.count < packets:
        for ts, f in frames:
            if w.count >= packets:
                break
            b = bytearray(f)
            if len(b) >= 34 and b[12:14] == b"\x08\x00":
                # new addresses per repetition: change the 2nd octet of both IPv4 addresses
                b[27] ^= rep & 0xFF
                b[31] ^= rep & 0xFF
                b[28] ^= (rep >> 8) & 0xFF
                b[32] ^= (rep >> 8) & 0xFF
            w.packet(t0 + rep * span + ts, bytes(b))
        rep += 1
    w.close()
    return w.count


def flood(out, packets, seed, sequential_sources=False, kind="syn", random_ports=False, victims=1):
    rng = random.Random(seed)
    w = Writer(out)
    victim = bytes([10, 9, 9, 9])
    # Carpet bombing: each packet to one of `victims` hosts of 10.9.0.0/16 at random (its own
    # generator, so the sources, ports and sequence numbers stay those of the one-victim file).
    spread = random.Random(seed + 2)
    t = 1_700_000_000.0
    # Packet i's source is number j of 11.0.0.0 onwards: j = i, or a permutation of 0..packets-1
    # (j = (a * i + b) mod packets with a coprime to packets), so sources stay distinct.
    # (Its own generator: ports and sequence numbers stay those of the sequential file.)
    order = random.Random(seed + 1)
    a = order.randrange(1, max(packets, 2)) | 1
    while packets > 1 and gcd(a, packets) != 1:
        a += 2
    b = order.randrange(max(packets, 1))
    for i in range(packets):
        j = i if sequential_sources else (a * i + b) % packets
        src = bytes([11 + (j >> 24) % 100, (j >> 16) & 0xFF, (j >> 8) & 0xFF, j & 0xFF])
        if kind == "syn":
            dport = rng.randrange(1, 65536) if random_ports else 80
            l4 = tcp_segment(rng.randrange(1024, 65535), dport, rng.randrange(1 << 32), 0, 0x02, 0)
            proto = 6
        elif kind == "ack":
            # hping3 -A: an ACK outside any connection (a stray), to port 80 or random ports.
            dport = rng.randrange(1, 65536) if random_ports else 80
            l4 = tcp_segment(rng.randrange(1024, 65535), dport, rng.randrange(1 << 32),
                             rng.randrange(1 << 32), 0x10, 0)
            proto = 6
        elif kind == "udp":
            dport = rng.randrange(1, 65536) if random_ports else 9999
            l4 = udp_datagram(rng.randrange(1024, 65535), dport, 64)
            proto = 17
        else:
            # Echo request: type 8, code 0, checksum left 0, identifier, sequence, 56 bytes.
            l4 = struct.pack("!BBHHH", 8, 0, 0, rng.randrange(1 << 16), i & 0xFFFF) + b"\0" * 56
            proto = 1
        dst = victim
        if victims > 1:
            v = spread.randrange(victims)
            dst = bytes([10, 9, v >> 8, v & 0xFF])
        w.packet(t, ETH + ip_header(src, dst, proto, len(l4)) + l4)
        t += 1e-5
    w.close()
    return w.count


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["synthetic", "repeat", "synflood", "ackflood", "udpflood",
                                     "icmpflood"])
    ap.add_argument("out")
    ap.add_argument("inputs", nargs="*")
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--flows", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sequential-sources", action="store_true")
    ap.add_argument("--random-ports", action="store_true")
    ap.add_argument("--victims", type=int, default=1)
    a = ap.parse_args()
    if a.mode == "synthetic":
        n = synthetic(a.out, a.packets, a.flows, a.seed)
    elif a.mode == "repeat":
        n = repeat(a.out, a.packets, a.inputs)
    else:
        n = flood(a.out, a.packets, a.seed, a.sequential_sources, a.mode[: -len("flood")],
                  a.random_ports, a.victims)
    print(f"wrote {n} packets to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
