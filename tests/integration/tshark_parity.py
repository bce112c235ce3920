#!/usr/bin/env python3
"""Flow counts and per-flow packet and byte totals of `netsentry flows` agree with tshark.

For every capture in ../shared/datasets/pcaps (or $NETSENTRY_DATASETS/pcaps; tcpdump's crafted
test captures have their own tests), tshark lists every
TCP and UDP packet (IP defragmentation off; ICMP errors quoting TCP/UDP excluded; a tunnel counted
as its outer transport) with its frame length and 5-tuple; a later IP fragment (no transport header
of its own) counts for the 5-tuple of its datagram's first fragment, as netsentry reassembles it
(ports 0 when that first fragment is not in the capture).
netsentry writes flows with an idle timeout longer than any capture; its outermost flows (no
tunnel_parent: decapsulated inner flows are compared in tunnel_parity.py) are compared. Both sides
are summed per canonical 5-tuple (a 5-tuple that TCP reuses is several flows for netsentry and
several streams for tshark, so sums per 5-tuple are what both agree on) and must be equal: the same
5-tuples, the same packet counts, the same bytes. Exit 77 (skipped) when the data is absent.
Usage: tshark_parity.py NETSENTRY_BINARY
"""
import csv
import glob
import os
import subprocess
import sys
import tempfile
from collections import defaultdict

SKIP = 77


def canon(proto, a, ap, b, bp):
    x, y = (a, int(ap)), (b, int(bp))
    return (proto,) + (x + y if x <= y else y + x)


def tshark_totals(path):
    fields = ["frame.len", "frame.protocols", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst",
              "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "tcp.stream", "udp.stream",
              "ip.id", "ip.frag_offset", "ip.flags.mf", "ip.proto", "ipv6.fraghdr.ident",
              "ipv6.fraghdr.offset", "ipv6.fraghdr.more", "ipv6.fraghdr.nxt"]
    cmd = ["tshark", "-r", path, "-n", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
           "-Y", "tcp or udp or ip.frag_offset > 0 or ipv6.fraghdr.offset > 0",
           "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f", "-E", "aggregator=/"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True)
    totals = defaultdict(lambda: [0, 0])
    streams = defaultdict(set)
    datagram_keys = {}  # (src, dst, proto, id) -> 5-tuple of the datagram's first fragment
    later = []          # later fragments: (datagram, proto name, src, dst, frame length)
    for line in out.stdout.splitlines():
        v = line.split("\t")
        if len(v) < len(fields):
            continue
        (length, protocols, s4, s6, d4, d6, ts, td, us, ud, tstream, ustream, ip_id, ip_off, ip_mf,
         ip_proto, v6_id, v6_off, v6_more, v6_nxt) = v
        src, dst = s4 or s6, d4 or d6
        if s4:
            frag_id, offset, proto = ip_id, int(ip_off or 0), ip_proto
            fragment = offset > 0 or ip_mf in ("1", "True")
        else:
            frag_id, offset, proto = v6_id, int(v6_off or 0), v6_nxt
            fragment = bool(v6_id) and (offset > 0 or v6_more in ("1", "True"))
        datagram = (src, dst, proto, frag_id)
        if fragment and offset > 0:
            if proto in ("6", "17"):
                later.append((datagram, "TCP" if proto == "6" else "UDP", src, dst, int(length)))
            continue
        # A flow meter without decapsulation sees a tunnel (L2TP, Teredo, ...) as its outer
        # transport: use the first transport after the first IP header, as netsentry does.
        layers = protocols.split(":")
        first = next((l for l in layers if l in ("tcp", "udp", "icmp", "icmpv6")), None)
        if first not in ("tcp", "udp"):
            continue  # an ICMP error quoting a TCP/UDP header belongs to no TCP/UDP flow
        if first == "udp":
            ts = ""
        else:
            us = ""
        if ts:
            key, stream = canon("TCP", src, ts, dst, td), tstream
        elif us:
            key, stream = canon("UDP", src, us, dst, ud), ustream
        else:
            continue
        if fragment:
            datagram_keys[datagram] = key
        totals[key][0] += 1
        totals[key][1] += int(length)
        streams[key].add(stream)
    for datagram, name, src, dst, length in later:
        key = datagram_keys.get(datagram) or canon(name, src, 0, dst, 0)
        totals[key][0] += 1
        totals[key][1] += length
    return totals, streams


def netsentry_totals(binary, path):
    with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
        p = subprocess.run([binary, "-q", "flows", path, "-o", tmp.name, "--idle-timeout", "1e9",
                            "--active-timeout", "1e9"], capture_output=True, text=True)
        rows = list(csv.DictReader(open(tmp.name)))
    totals = defaultdict(lambda: [0, 0])
    flows = defaultdict(int)
    for r in rows:
        if r["Protocol"] not in ("TCP", "UDP") or r["tunnel_parent"]:
            continue
        key = canon(r["Protocol"], r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"])
        totals[key][0] += int(r["PacketCount"])
        totals[key][1] += int(r["ByteCount"])
        flows[key] += 1
    return totals, flows, p.returncode, p.stderr


def main():
    binary = sys.argv[1]
    root = os.environ.get("NETSENTRY_DATASETS") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "datasets")
    pcaps = sorted(glob.glob(os.path.join(root, "pcaps", "**", "*.pcap*"), recursive=True) +
                   glob.glob(os.path.join(root, "pcaps", "**", "*.cap"), recursive=True))
    if not pcaps:
        print(f"SKIPPED: no captures under {root}/pcaps (set NETSENTRY_DATASETS)")
        return SKIP
    if subprocess.run(["which", "tshark"], capture_output=True).returncode != 0:
        print("SKIPPED: tshark is not installed (scripts/setup installs it)")
        return SKIP
    failures = 0
    checked = 0
    for path in pcaps:
        name = os.path.relpath(path, root)
        if "damaged" in name or "without_pcap_header" in name:
            continue  # robustness fixtures, covered by their own test
        if name.startswith(os.path.join("pcaps", "tcpdump-tests")):
            # tcpdump's test captures are crafted for dissector bugs (hundreds of deliberately
            # malformed packets that tshark and netsentry read differently by design): their
            # accounting is checked by tcpdump_corpus_test.py, their tunnels by tunnel_parity.py.
            continue
        ref, streams = tshark_totals(path)
        ours, flows, rc, err = netsentry_totals(binary, path)
        checked += 1
        bad = []
        for key in sorted(set(ref) | set(ours)):
            if ref.get(key) != ours.get(key):
                bad.append(f"  {key}: tshark {ref.get(key)} netsentry {ours.get(key)}")
        n_ref_streams = sum(len(s) for s in streams.values())
        n_ours = sum(flows.values())
        status = "ok" if not bad else "MISMATCH"
        print(f"{status:8} {name}: {len(ref)} 5-tuples, {n_ref_streams} tshark streams, "
              f"{n_ours} netsentry flows, {sum(v[0] for v in ref.values())} packets")
        if bad:
            failures += 1
            print("\n".join(bad[:10]))
    print(f"{checked - failures} of {checked} captures agree with tshark")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
