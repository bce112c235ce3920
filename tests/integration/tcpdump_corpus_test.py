#!/usr/bin/env python3
"""Every capture of tcpdump's test corpus (../shared/datasets/pcaps/tcpdump-tests: 830 files,
tunnels, fragments, IPv6 extension headers, many link types, hundreds of deliberately malformed
packets) is read by `netsentry flows` without a crash or a hang, and every packet is accounted for:

  * the run ends within its timeout with exit 0, or exit 1 and a read error naming the file (a
    damaged capture: the flows up to the error are written);
  * its summary's accounting line adds up: packets = in flows + not in flows (by named reason);
  * "in flows" equals the packet counts of the written outermost flows (no tunnel_parent);
  * a capture read to its end has as many packets as INDEX.tsv lists for it;
  * every reason a packet is not in a flow is named.

Prints the corpus totals: packets in flows, not in flows by reason, tunnels and fragments.
Exit 77 (skipped) when the corpus is absent. Usage: tcpdump_corpus_test.py NETSENTRY_BINARY
"""
import csv
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter

SKIP = 77
TIMEOUT_S = 30

ACCOUNTING = re.compile(r"^accounting: (\d+) packets = (\d+) in flows \+ (\d+) not in flows(?:: (.*))?$")
REASON = re.compile(r"(\d+) ([a-z0-9_]+(?: before the IP header)?)")
TUNNELS = re.compile(r"^tunnels: (\d+) inner packets in (\d+) flows(.*)$")
FRAGMENTS = re.compile(r"^fragments: (\d+) reassembled into (\d+) datagrams; (\d+) datagrams incomplete")


def main():
    binary = sys.argv[1]
    root = os.environ.get("NETSENTRY_DATASETS") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "datasets")
    corpus = os.path.join(root, "pcaps", "tcpdump-tests")
    index_path = os.path.join(corpus, "INDEX.tsv")
    if not os.path.exists(index_path):
        print(f"SKIPPED: {corpus} absent (set NETSENTRY_DATASETS)")
        return SKIP
    with open(index_path) as f:
        index = {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}

    failures = []
    totals = Counter()
    reasons = Counter()
    tunnel_kinds = Counter()
    unreadable = []
    with tempfile.TemporaryDirectory(prefix="ns-corpus-") as tmp:
        out = os.path.join(tmp, "flows.csv")
        for name in sorted(index):
            path = os.path.join(corpus, name)
            try:
                p = subprocess.run([binary, "flows", path, "-o", out], capture_output=True,
                                   text=True, timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                failures.append(f"{name}: no result within {TIMEOUT_S} s (hang)")
                continue
            if p.returncode < 0:
                failures.append(f"{name}: killed by signal {-p.returncode}\n{p.stderr[-2000:]}")
                continue
            if p.returncode not in (0, 1):
                failures.append(f"{name}: exit {p.returncode}\n{p.stderr[-2000:]}")
                continue
            if p.returncode == 1:
                if "read error" not in p.stderr and "cannot read capture" not in p.stderr:
                    failures.append(f"{name}: exit 1 without a read error\n{p.stderr[-2000:]}")
                    continue
                if name not in p.stderr:
                    failures.append(f"{name}: the error does not name the file\n{p.stderr}")
                unreadable.append(name)
                if "cannot read capture" in p.stderr:
                    continue  # nothing was read (not a capture we can open): no summary
            lines = p.stderr.splitlines()
            acc = [ACCOUNTING.match(l) for l in lines]
            acc = [m for m in acc if m]
            if len(acc) != 1:
                failures.append(f"{name}: no accounting line\n{p.stderr}")
                continue
            packets, in_flows, not_in_flows = (int(acc[0].group(i)) for i in (1, 2, 3))
            if packets != in_flows + not_in_flows:
                failures.append(f"{name}: {packets} packets != {in_flows} + {not_in_flows}")
            named = 0
            # Details such as "(0x88b5 2)" are inside parentheses: count the reasons only.
            detail = re.sub(r"\([^)]*\)", "", acc[0].group(4) or "")
            for count, reason in REASON.findall(detail):
                named += int(count)
                reasons[reason] += int(count)
            if named != not_in_flows:
                failures.append(f"{name}: {not_in_flows} not in flows, {named} named by reason")
            outer = 0
            with open(out) as f:
                for row in csv.DictReader(f):
                    if not row["tunnel_parent"]:
                        outer += int(row["PacketCount"])
            if outer != in_flows:
                failures.append(f"{name}: {in_flows} packets in flows, outer flows hold {outer}")
            if p.returncode == 0:
                expected = int(index[name]["packets"])
                if packets != expected:
                    failures.append(f"{name}: read {packets} packets, INDEX.tsv lists {expected}")
            for l in lines:
                t = TUNNELS.match(l)
                if t:
                    totals["inner packets"] += int(t.group(1))
                    totals["inner flows"] += int(t.group(2))
                    for count, kind in re.findall(r", (\d+) ([a-z0-9_]+)", t.group(3).split(";")[0]):
                        tunnel_kinds[kind] += int(count)
                fr = FRAGMENTS.match(l)
                if fr:
                    totals["fragments reassembled"] += int(fr.group(1))
                    totals["datagrams reassembled"] += int(fr.group(2))
                    totals["datagrams incomplete"] += int(fr.group(3))
            totals["files"] += 1
            totals["packets"] += packets
            totals["in flows"] += in_flows
            totals["not in flows"] += not_in_flows

    print(f"{totals['files']} of {len(index)} captures metered ({len(unreadable)} end in a read "
          f"error or cannot be opened: {', '.join(unreadable[:20])}{' ...' if len(unreadable) > 20 else ''})")
    print(f"packets: {totals['packets']} = {totals['in flows']} in flows + "
          f"{totals['not in flows']} not in flows")
    print("not in flows by reason: " + ", ".join(f"{r} {c}" for r, c in reasons.most_common()))
    print(f"tunnels: {totals['inner packets']} inner packets in {totals['inner flows']} flows (" +
          ", ".join(f"{k} {c}" for k, c in tunnel_kinds.most_common()) + ")")
    print(f"fragments: {totals['fragments reassembled']} reassembled into "
          f"{totals['datagrams reassembled']} datagrams, {totals['datagrams incomplete']} datagrams incomplete")
    if failures:
        print(f"\n{len(failures)} FAILURES:")
        for f in failures:
            print("  " + f)
        return 1
    print("every capture read without a crash or hang; every packet in a flow or counted by reason")
    return 0


if __name__ == "__main__":
    sys.exit(main())
