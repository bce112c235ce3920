#!/usr/bin/env python3
"""Inner-connection parity with tshark on the shared tunnel captures, and Community ID parity.

1. Conversations: for each tunnel capture of ../shared/datasets/pcaps/tcpdump-tests (GRE, ERSPAN
   I/II/III, enhanced GRE (PPTP), VXLAN, VXLAN-GPE, Geneve, MPLS in UDP, big-TCP/GSO over VXLAN and
   Geneve), `tshark -q -z conv,tcp -z conv,udp` lists every TCP and UDP conversation it sees at
   any depth (outer and inner) with its frames and bytes (whole frames, as netsentry counts a
   decapsulated flow's bytes). netsentry's flows (outer and inner, summed per 5-tuple since a
   reused 5-tuple is several flows) must hold the same conversations with the same frames and
   bytes. Conversations tshark finds inside protocols netsentry does not decapsulate are listed
   in NOT_DECAPSULATED with the reason, and must be the only differences.
2. Community ID: tshark's communityid post-dissector (Wireshark 3.3.1+) gives each packet the ID
   of its tuple; every netsentry flow whose packets tshark tags (outermost flows of the shared
   captures) must carry the same community_id.

Exit 77 (skipped) when the data or tshark is absent. Usage: tunnel_parity.py NETSENTRY_BINARY
"""
import csv
import glob
import ipaddress
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict

SKIP = 77

TUNNEL_CAPTURES = [
    "erspan-type-i-1.pcap", "erspan-type-i-2.pcap", "erspan-type-i-3.pcap", "erspan-type-i-4.pcap",
    "erspan-type-ii-1.pcap", "erspan-type-ii-2.pcap", "erspan-type-ii-3.pcap",
    "erspan-type-iii-ft-0.pcap", "erspan-type-iii-ft-7.pcap", "erspan-type-iii-pb-1.pcap",
    "geneve.pcap", "geneve-gcp.pcap", "vxlan.pcap", "various_gre.pcap", "pptp.pcap",
    "mpls-over-udp.pcap", "nsh-over-vxlan-gpe.pcap",
    "gso-ipv4-geneve-ipv4.pcap", "gso-ipv4-geneve-ipv6.pcap", "gso-ipv4-vxlan-ipv4.pcap",
    "gso-ipv4-vxlan-ipv6.pcap", "gso-ipv6-geneve-ipv4.pcap", "gso-ipv6-geneve-ipv6.pcap",
    "gso-ipv6-vxlan-ipv4.pcap", "gso-ipv6-vxlan-ipv6.pcap",
]
# Left out: bigtcp-*.pcap (tunnels carrying Linux BIG TCP packets over 64 KiB, IPv4 total length 0
# or IPv6 jumbograms): tshark 4.0 shows them as malformed, netsentry decodes them.

# (capture, protocol) -> why tshark sees conversations there that netsentry does not open.
NOT_DECAPSULATED = {}

CONV = re.compile(r"^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+([\d,]+) (\w+)\s+(\d+)\s+([\d,]+) (\w+)\s+"
                  r"(\d+)\s+([\d,]+) (\w+)\s")


def split_endpoint(text):
    """'10.0.0.1:80' or '2001:db8::1:80' (tshark prints IPv6 without brackets)."""
    if text.startswith("["):
        addr, port = text[1:].rsplit("]:", 1)
    else:
        addr, port = text.rsplit(":", 1)
    return str(ipaddress.ip_address(addr)), int(port)


def canon(proto, a, b):
    return (proto,) + tuple(sorted([a, b]))


def tshark_conversations(path):
    out = subprocess.run(["tshark", "-r", path, "-n", "-q", "-z", "conv,tcp", "-z", "conv,udp"],
                         capture_output=True, text=True).stdout
    convs = {}
    proto = None
    for line in out.splitlines():
        if line.startswith("TCP Conversations"):
            proto = "TCP"
        elif line.startswith("UDP Conversations"):
            proto = "UDP"
        m = CONV.match(line)
        if not m or proto is None:
            continue
        a, b = split_endpoint(m.group(1)), split_endpoint(m.group(2))
        frames = int(m.group(9))
        unit = m.group(11)
        total = int(m.group(10).replace(",", "")) if unit == "bytes" else None
        key = canon(proto, a, b)
        prev = convs.get(key, (0, 0))
        convs[key] = (prev[0] + frames, None if total is None or prev[1] is None else prev[1] + total)
    return convs


def netsentry_flows(binary, path):
    with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
        p = subprocess.run([binary, "-q", "flows", path, "-o", tmp.name, "--idle-timeout", "1e9",
                            "--active-timeout", "1e9"], capture_output=True, text=True)
        rows = list(csv.DictReader(open(tmp.name)))
    return rows, p


def compare_conversations(binary, corpus):
    checked = failures = inner = 0
    for name in TUNNEL_CAPTURES:
        path = os.path.join(corpus, name)
        if not os.path.exists(path):
            continue
        ref = tshark_conversations(path)
        rows, p = netsentry_flows(binary, path)
        ours = defaultdict(lambda: [0, 0])
        for r in rows:
            if r["Protocol"] not in ("TCP", "UDP"):
                continue
            a = (str(ipaddress.ip_address(r["src_ip"])), int(r["src_port"]))
            b = (str(ipaddress.ip_address(r["dst_ip"])), int(r["dst_port"]))
            key = canon(r["Protocol"], a, b)
            ours[key][0] += int(r["PacketCount"])
            ours[key][1] += int(r["ByteCount"])
            if r["tunnel_parent"]:
                inner += 1
        bad = []
        for key in sorted(set(ref) | set(ours)):
            t = ref.get(key)
            n = ours.get(key)
            if t and n and t[0] == n[0] and (t[1] is None or t[1] == n[1]):
                continue
            if (name, key[0]) in NOT_DECAPSULATED:
                continue
            bad.append(f"  {key}: tshark {t} netsentry {n}")
        checked += 1
        status = "ok" if not bad else "MISMATCH"
        print(f"{status:8} {name}: {len(ref)} tshark conversations, {len(ours)} netsentry 5-tuples")
        if bad:
            failures += 1
            print("\n".join(bad[:10]))
    return checked, failures, inner


def compare_community_ids(binary, root):
    # Outermost flows only: tshark computes the ID of the outermost tuple of each frame.
    pcaps = sorted(glob.glob(os.path.join(root, "pcaps", "chrissanders-packets", "**", "*.pcap*"),
                             recursive=True) +
                   glob.glob(os.path.join(root, "pcaps", "evilfingers-nmap", "**", "*.pcap*"),
                             recursive=True))
    # Files up to 1 MB: every capture but one repetitive brute-force log (keeps the test short).
    pcaps = [p for p in pcaps if os.path.getsize(p) <= 1_000_000]
    flows = mismatched = 0
    # ICMP errors (destination unreachable, time exceeded, ...): tshark gives them the ID of the
    # packet they quote, the specification the ID of their own tuple (as netsentry does).
    icmp_errors = {"ICMP": {"3", "4", "5", "11", "12"}, "ICMPv6": {"1", "2", "3", "4"}}
    for path in pcaps:
        out = subprocess.run(["tshark", "-r", path, "-n", "--enable-protocol", "communityid",
                              "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f",
                              "-e", "communityid", "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst",
                              "-e", "ipv6.dst", "-e", "ip.proto", "-e", "ipv6.nxt"],
                             capture_output=True, text=True).stdout
        ids = defaultdict(set)
        for line in out.splitlines():
            v = line.split("\t")
            if len(v) < 7 or not v[0]:
                continue
            src, dst = v[1] or v[2], v[3] or v[4]
            ids[tuple(sorted([src, dst]))].add(v[0])
        rows, _ = netsentry_flows(binary, path)
        for r in rows:
            if r["tunnel_parent"] or not r["community_id"]:
                continue
            if r["src_port"] in icmp_errors.get(r["Protocol"], ()):
                continue
            key = tuple(sorted([r["src_ip"], r["dst_ip"]]))
            if key not in ids:
                continue
            flows += 1
            if r["community_id"] not in ids[key]:
                mismatched += 1
                if mismatched <= 10:
                    print(f"  community_id {r['community_id']} of {r['Protocol']} {r['src_ip']}:"
                          f"{r['src_port']} -> {r['dst_ip']}:{r['dst_port']} not among tshark's "
                          f"{sorted(ids[key])[:4]} ({os.path.basename(path)})")
    return flows, mismatched


def main():
    binary = sys.argv[1]
    root = os.environ.get("NETSENTRY_DATASETS") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "datasets")
    corpus = os.path.join(root, "pcaps", "tcpdump-tests")
    if not os.path.isdir(corpus):
        print(f"SKIPPED: {corpus} absent (set NETSENTRY_DATASETS)")
        return SKIP
    if subprocess.run(["which", "tshark"], capture_output=True).returncode != 0:
        print("SKIPPED: tshark is not installed (scripts/setup --test installs it)")
        return SKIP
    checked, failures, inner = compare_conversations(binary, corpus)
    print(f"{checked - failures} of {checked} tunnel captures agree with tshark's conversations "
          f"({inner} inner flows)")
    flows, mismatched = compare_community_ids(binary, root)
    print(f"community_id: {flows - mismatched} of {flows} flows equal tshark's communityid")
    if checked == 0 or flows == 0:
        print("nothing compared")
        return 1
    return 1 if failures or mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
