#!/usr/bin/env python3
"""Seeds for the NetFlow/IPFIX parser fuzzer (src/netflow/export_parser_fuzz.cpp): valid NetFlow v5,
v9 and IPFIX datagrams (templates, options templates, data, biflow reverse elements, variable-length
fields), written as the fuzzer reads its input: [u16 big-endian length][datagram]...

Usage: make_corpus.py OUTPUT_FOLDER
"""
import os
import struct
import sys


def v5():
    head = struct.pack("!HHIIIIBBH", 5, 2, 100000, 1_700_000_000, 0, 1, 0, 0, 0)
    rec = lambda sport, proto: struct.pack("!4s4s4sHHIIIIHHBBBBHHBBH", bytes([10, 0, 0, 1]),
                                           bytes([10, 0, 0, 2]), bytes(4), 1, 2, 10, 1500, 90000,
                                           95000, sport, 80, 0, 0x1b, proto, 0, 0, 0, 24, 24, 0)
    return head + rec(40000, 6) + rec(0x0800, 1)


def sets(*items):
    return b"".join(struct.pack("!HH", sid, len(body) + 4) + body for sid, body in items)


def v9():
    tmpl = struct.pack("!HH", 256, 9) + b"".join(struct.pack("!HH", i, l) for i, l in
                                                  [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4),
                                                   (1, 4), (22, 4), (21, 4)])
    opt = struct.pack("!HHH", 257, 4, 4) + struct.pack("!HHHH", 1, 4, 34, 4)
    data = bytes([192, 168, 1, 10, 192, 168, 1, 20]) + struct.pack("!HHBIIII", 5353, 53, 17, 2, 160,
                                                                    50000, 51000)
    body = sets((0, tmpl), (1, opt), (256, data * 3), (257, struct.pack("!II", 0, 1)))
    return struct.pack("!HHIIII", 9, 4, 60000, 1_700_000_000, 1, 0) + body


def ipfix(payload_sets):
    body = sets(*payload_sets)
    return struct.pack("!HHIII", 10, 16 + len(body), 1_700_000_003, 1, 0) + body


def ipfix_biflow():
    fields = [(27, 16), (28, 16), (7, 2), (11, 2), (4, 1), (6, 1), (152, 8), (153, 8), (1, 8), (2, 8)]
    tmpl = struct.pack("!HH", 300, len(fields) + 3) + b"".join(struct.pack("!HH", i, l) for i, l in fields)
    tmpl += struct.pack("!HHI", 0x8001, 8, 29305) + struct.pack("!HHI", 0x8002, 8, 29305)
    tmpl += struct.pack("!HH", 136, 1)
    rec = bytes(15) + b"\x01" + b"\x20" + bytes(14) + b"\x02" + struct.pack(
        "!HHBBQQQQQQB", 51000, 443, 6, 0x1b, 1_700_000_000_000, 1_700_000_002_500, 5000, 10, 90000,
        70, 3)
    return ipfix([(2, tmpl), (300, rec * 2)])


def ipfix_options_and_varlen():
    opt = struct.pack("!HHHHHHH", 400, 2, 1, 149, 4, 160, 8)
    optdata = struct.pack("!IQ", 0, 1_600_000_000_000)
    fields = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (22, 4), (21, 4), (2, 4), (1, 4)]
    tmpl = struct.pack("!HH", 500, len(fields) + 1) + b"".join(struct.pack("!HH", i, l) for i, l in fields)
    tmpl += struct.pack("!HH", 82, 65535)
    data = bytes([1, 1, 1, 1, 2, 2, 2, 2]) + struct.pack("!HHBIIII", 1, 2, 17, 1000, 3000, 1, 28) + b"\x03eth"
    return ipfix([(3, opt), (400, optdata), (2, tmpl), (500, data)])


def framed(*datagrams):
    return b"".join(struct.pack("!H", len(d)) + d for d in datagrams)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    seeds = {
        "v5": framed(v5()),
        "v9": framed(v9(), v9()),
        "ipfix-biflow": framed(ipfix_biflow()),
        "ipfix-options": framed(ipfix_options_and_varlen()),
        "mixed": framed(v5(), v9(), ipfix_biflow(), ipfix_options_and_varlen()),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, f"seed-{name}"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
