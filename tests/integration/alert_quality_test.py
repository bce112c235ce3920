#!/usr/bin/env python3
"""Alert quality on real captures (issue 11), with the shipped default model:

* ordinary traffic stays quiet: the ordinary-protocol captures of ../shared/datasets/pcaps/
  tcpdump-tests (a fixed sample of well-formed ones) give few flows with ML evidence
  and no alert above LOW; the 31-minute benign lab capture gives at most a handful of alerts
  above LOW per hour;
* attacks are alerted within seconds: on a lab attack capture, the port scans, the host scan and
  the SYN/UDP/ICMP floods are each alerted, naming the attacker, within 10 s of the episode's start;
* replays are deterministic: one replay with many alerts, repeated 20 times, gives byte-identical
  alerts.csv and SQLite alert rows.

The lab captures are not in the repository (scripts/lab makes them): NETSENTRY_LABDATA or
../labdata beside the repository's folder, else /work/labdata; tests needing them skip without.
bench/alert_quality measures the same things on every capture and prints the numbers.

  alert_quality_test.py NETSENTRY_BINARY
"""
import csv
import glob
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import unittest

BIN = sys.argv.pop(1) if len(sys.argv) > 1 else "build/release/netsentry"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASETS = os.environ.get("NETSENTRY_DATASETS",
                          os.path.join(os.path.dirname(ROOT), "shared", "datasets"))
MODEL = os.path.join(ROOT, "models", "default")


def labdata():
    for d in (os.environ.get("NETSENTRY_LABDATA", ""), os.path.join(os.path.dirname(ROOT), "labdata"),
              "/work/labdata"):
        if d and os.path.isdir(d):
            return d
    return None


def run(args, **kw):
    return subprocess.run([BIN] + args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=600, **kw)


def evaluate(pcap, labels, out):
    p = run(["evaluate", "--pcap", pcap, "--labels", labels, "-m", MODEL, "--json", "--out", out])
    if p.returncode != 0:
        raise AssertionError(f"evaluate {pcap} failed: {p.stderr[-2000:]}")
    return json.loads(p.stdout)


class OrdinaryTraffic(unittest.TestCase):
    # A fixed sample of ordinary protocols (DNS, DHCP(v6), IPv6 ND/MLD, NTP, HTTP, SMTP, SSH-like
    # TCP, IPsec ESP, mDNS, routing protocols): the kinds the issue found flagged.
    TCPDUMP_SAMPLE = [
        "dhcp-rfc3004.pcap", "dhcpv6-ia-na.pcap", "dhcpv6-domain-list.pcap", "dns_udp.pcap",
        "dns_tcp.pcap", "edns-opts.pcap", "dnssec.pcap", "icmpv6.pcap", "icmpv6-ns-nonce.pcap",
        "icmpv6-ra-pref64.pcap", "ntp.pcap", "ntp-time.pcap", "ipv4_tcp_http_xml.pcap", "ssh.pcap",
        "02-sunrise-sunset-esp.pcap", "espudp1.pcap", "isakmp4500.pcap", "syslog_udp.pcap",
        "tftp.pcap", "tcp_rst_data.pcap", "mptcp-fclose.pcap", "LLDP_and_CDP.pcap",
        # TCP without payload (a lone RST, a refused port) and loopback sessions (a local Redis
        # benchmark, curl to a local web server): 28 flows of these gave ML evidence and the two
        # Redis captures a MEDIUM flow_anomaly alert each before they were left to the host
        # detectors.
        "mptcp-tcprst.pcap", "of10_pf5240.pcap", "resp_1_benchmark.pcap", "print-flags.pcap",
    ]

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ns-quality-")
        self.labels = os.path.join(self.dir, "no-episodes.csv")
        with open(self.labels, "w") as f:
            f.write("kind,src,dst,start,end,tool,description\n")

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.dir])

    def test_ordinary_protocol_captures_give_no_alert_above_low(self):
        tcp = os.path.join(DATASETS, "pcaps", "tcpdump-tests")
        if not os.path.isdir(tcp):
            self.skipTest(f"{tcp} absent")
        flows = ml = above_low = 0
        seen = 0
        for name in self.TCPDUMP_SAMPLE:
            pcap = os.path.join(tcp, name)
            if not os.path.isfile(pcap):
                continue
            seen += 1
            r = evaluate(pcap, self.labels, os.path.join(self.dir, name))
            flows += r["flow_level"]["flows"]
            ml += r["flow_level"]["with_ml_evidence"]
            above_low += r["false_alerts"]["above_low"]
            self.assertEqual(r["false_alerts"]["above_low"], 0,
                             f"{name}: {r['false_alerts']['reasons']}")
        self.assertGreaterEqual(seen, 15)
        self.assertGreater(flows, 25)
        # The issue measured 23 % of such flows flagged before (target: <= 1 % over the whole
        # corpus, bench/alert_quality). This sample gave 11 of 54 flows with ML evidence before
        # TCP without payload and loopback were left to the host detectors, 0 after.
        self.assertLessEqual(ml / flows, 0.02, f"{ml} of {flows} flows gave ML evidence")

    def test_benign_lab_capture_stays_under_three_alerts_above_low_per_hour(self):
        lab = labdata()
        folder = os.path.join(lab, "benign-seed21") if lab else ""
        # labels.csv is the last file a lab run writes: without it the run is missing or not done.
        if not os.path.isfile(os.path.join(folder, "labels.csv")):
            self.skipTest("no finished benign lab run (NETSENTRY_LABDATA/benign-seed21)")
        r = evaluate(os.path.join(folder, "capture.pcap"), os.path.join(folder, "labels.csv"),
                     os.path.join(self.dir, "benign"))
        self.assertGreater(r["duration_s"], 1800)
        self.assertLessEqual(r["false_alerts"]["above_low_per_hour"], 3.0,
                             r["false_alerts"]["reasons"])
        benign = r["flow_level"]["by_label"].get("BENIGN", 0)
        self.assertGreater(benign, 1000)
        self.assertLessEqual(r["flow_level"]["benign_with_ml_evidence"] / benign, 0.02)


def finished_attack_runs(lab):
    """The attack runs' captures whose run ended (labels.csv is the last file a lab run writes)."""
    if not lab:
        return []
    return sorted(os.path.join(os.path.dirname(labels), "capture.pcap")
                  for labels in glob.glob(os.path.join(lab, "attacks-*", "labels.csv")))


class Attacks(unittest.TestCase):
    FAST = ("port_scan", "host_scan", "syn_flood", "udp_flood", "icmp_flood")

    def test_scans_and_floods_are_alerted_within_seconds_naming_the_attacker(self):
        lab = labdata()
        runs = finished_attack_runs(lab)
        if not runs:
            self.skipTest("no finished lab attack run (NETSENTRY_LABDATA/attacks-*)")
        folder = os.path.dirname(runs[0])
        with tempfile.TemporaryDirectory(prefix="ns-attacks-") as d:
            r = evaluate(runs[0], os.path.join(folder, "labels.csv"), d)
            with open(os.path.join(d, "alerts.csv"), newline="") as f:
                alerts = list(csv.DictReader(f))
        fast = [e for e in r["episodes"] if e["kind"] in self.FAST]
        self.assertGreaterEqual(len(fast), 7)
        for e in fast:
            what = f"{e['kind']} from {e['src']} ({e['tool']})"
            self.assertTrue(e["detected"], what)
            self.assertLessEqual(e["time_to_first_alert_s"], 10.0, what)
            self.assertLessEqual(e["time_after_threshold_s"], 2.0, what)
            self.assertTrue(any(a["host"] == e["src"] or a["src_ip"] == e["src"] for a in alerts),
                            what)


    def test_every_lab_episode_is_alerted_naming_its_source_with_few_false_alerts(self):
        # Every attack family of both lab runs: scans, floods, slow HTTP, brute force (FTP's many
        # guesses on one connection too), credential stuffing (web form too), the low-rate
        # exfiltrations (one-way TCP, DNS names, HTTPS uploads), C2 beaconing, ARP and ND spoofing.
        lab = labdata()
        runs = finished_attack_runs(lab)
        if not runs:
            self.skipTest("no finished lab attack run (NETSENTRY_LABDATA/attacks-*)")
        for pcap in runs:
            folder = os.path.dirname(pcap)
            with tempfile.TemporaryDirectory(prefix="ns-episodes-") as d:
                r = evaluate(pcap, os.path.join(folder, "labels.csv"), d)
            missed = [f"{e['kind']} from {e['src']} ({e['tool']})" for e in r["episodes"]
                      if not e["detected"]]
            self.assertEqual(missed, [], folder)
            self.assertGreaterEqual(len(r["episodes"]), 20)
            self.assertLessEqual(r["false_alerts"]["above_low"], 2,
                                 f"{folder}: {r['false_alerts']['reasons']}")


class Determinism(unittest.TestCase):
    def test_twenty_replays_give_identical_alerts(self):
        # A lab attack run (tens of alert rows, every detector) when there is one, else an nmap
        # version scan from the shared captures (a port scan alert and its revisions, and a
        # volume alert: 4 rows; the connect scan has only one alert's 2 rows).
        lab = labdata()
        runs = finished_attack_runs(lab)
        pcap = runs[0] if runs else os.path.join(DATASETS, "pcaps", "evilfingers-nmap",
                                                 "version_scan.pcap")
        if not os.path.isfile(pcap):
            self.skipTest(f"{pcap} absent")
        csvs, tables = set(), set()
        rows = 0
        with tempfile.TemporaryDirectory(prefix="ns-determinism-") as d:
            for i in range(20):
                out = os.path.join(d, str(i))
                p = run(["monitor", "--pcap", pcap, "--speed", "max", "-o", out, "-m", MODEL,
                         "--no-dashboard"])
                self.assertEqual(p.returncode, 0, p.stderr[-2000:])
                with open(os.path.join(out, "alerts.csv"), "rb") as f:
                    data = f.read()
                rows = data.count(b"\n") - 1
                csvs.add(hashlib.sha256(data).hexdigest())
                db = sqlite3.connect(f"file:{os.path.join(out, 'netsentry.db')}?mode=ro", uri=True)
                tables.add(repr(db.execute("SELECT * FROM alerts ORDER BY id").fetchall()))
                db.close()
                subprocess.run(["rm", "-rf", out])
        self.assertGreaterEqual(rows, 10 if runs else 3)  # a replay with several alert rows
        self.assertEqual(len(csvs), 1, "alerts.csv differs between replays")
        self.assertEqual(len(tables), 1, "SQLite alert rows differ between replays")


if __name__ == "__main__":
    unittest.main()
