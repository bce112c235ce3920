#!/usr/bin/env python3
"""EVE JSON output (issue 16 section 5) on a real capture: `monitor --pcap ... --eve` replays
../shared/datasets/pcaps/chrissanders-packets/synscan.pcapng (an nmap SYN scan) and

* every line of eve.json is a JSON object with Suricata's common keys (timestamp in Suricata's
  format, event_type alert/flow/stats) and each event type's required keys;
* there is one flow line per flows.csv row, with the same Community ID as flows.csv and the
  SQLite store for the same flow;
* the scan raises alerts, and every alert's flow_id names a flow line with the same Community ID;
* the last stats line counts the flow and alert lines;
* without --eve nothing is written, and a small --eve-max-mb keeps the files bounded (rotation).

Skips (exit 77) when ../shared/datasets is absent.

  eve_test.py NETSENTRY_BINARY
"""
import csv
import glob
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

BIN = sys.argv.pop(1) if len(sys.argv) > 1 else "build/release/netsentry"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASETS = os.environ.get("NETSENTRY_DATASETS",
                          os.path.join(os.path.dirname(ROOT), "shared", "datasets"))
CAPTURE = os.path.join(DATASETS, "pcaps", "chrissanders-packets", "synscan.pcapng")

# Suricata's timestamp: microseconds and a numeric offset.
SURICATA_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d{4}$")
FLOW_KEYS = {"pkts_toserver", "pkts_toclient", "bytes_toserver", "bytes_toclient", "start", "end",
             "age", "state", "reason"}
ALERT_KEYS = {"action", "gid", "signature_id", "rev", "signature", "category", "severity",
              "metadata"}


def monitor(out, *extra):
    p = subprocess.run([BIN, "monitor", "--pcap", CAPTURE, "--speed", "max", "--no-model",
                        "--no-dashboard", "-o", out, *extra], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise AssertionError(f"monitor failed ({p.returncode}): {p.stderr[-2000:]}")


def read_eve(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def eve_time_to_flows_csv(text):
    # "2010-04-07T23:43:14.123456+0000" -> flows.csv's "2010-04-07T23:43:14.123456Z"
    return text[:-5] + "Z"


class EveOutput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ns-eve-")
        cls.out = os.path.join(cls.dir, "out")
        monitor(cls.out, "--eve", os.path.join(cls.out, "eve.json"))
        cls.events = read_eve(os.path.join(cls.out, "eve.json"))
        cls.flows = [e for e in cls.events if e["event_type"] == "flow"]
        cls.alerts = [e for e in cls.events if e["event_type"] == "alert"]
        cls.stats = [e for e in cls.events if e["event_type"] == "stats"]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_every_line_has_suricatas_common_keys(self):
        self.assertGreater(len(self.events), 100)
        for e in self.events:
            self.assertIsInstance(e, dict)
            self.assertIn(e["event_type"], ("alert", "flow", "stats"), e)
            self.assertRegex(e["timestamp"], SURICATA_TIME)
            if e["event_type"] != "stats":
                self.assertIsInstance(e["flow_id"] if e["event_type"] == "flow" else
                                      e.get("flow_id", 0), int)
                self.assertIn(e["proto"], ("TCP", "UDP", "ICMP", "IPv6-ICMP") + tuple(
                    str(n) for n in range(256)), e)

    def test_flow_lines_have_suricatas_flow_fields(self):
        self.assertTrue(self.flows)
        for e in self.flows:
            for key in ("src_ip", "dest_ip", "community_id"):
                self.assertIn(key, e)
            self.assertTrue(FLOW_KEYS <= set(e["flow"]), e["flow"])
            self.assertRegex(e["flow"]["start"], SURICATA_TIME)
            self.assertRegex(e["flow"]["end"], SURICATA_TIME)
            self.assertIn(e["flow"]["state"], ("new", "established", "closed"))
            self.assertIn(e["flow"]["reason"], ("timeout", "forced", "shutdown"))
            if e["proto"] in ("TCP", "UDP"):
                self.assertIn("src_port", e)
                self.assertIn("dest_port", e)
        ids = [e["flow_id"] for e in self.flows]
        self.assertEqual(len(ids), len(set(ids)), "two flows share a flow_id")

    def test_one_flow_line_per_flows_csv_row_with_the_same_community_id(self):
        with open(os.path.join(self.out, "flows.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), len(self.flows))
        by_key = {(r["start_time"], r["src_ip"], r["dst_ip"], r["src_port"], r["dst_port"]):
                  r["community_id"] for r in rows}
        for e in self.flows:
            key = (eve_time_to_flows_csv(e["flow"]["start"]), e["src_ip"], e["dest_ip"],
                   str(e.get("src_port", e.get("icmp_type", 0))),
                   str(e.get("dest_port", e.get("icmp_code", 0))))
            self.assertIn(key, by_key, e)
            self.assertEqual(e["community_id"], by_key[key], e)

    def test_community_ids_match_the_sqlite_store(self):
        db = sqlite3.connect(os.path.join(self.out, "netsentry.db"))
        stored = sorted(r[0] for r in db.execute("SELECT community_id FROM flows"))
        db.close()
        self.assertEqual(stored, sorted(e["community_id"] for e in self.flows))

    def test_the_scan_is_alerted_and_each_alert_names_a_flow_line(self):
        self.assertTrue(self.alerts, "the SYN scan raised no alert")
        flows = {e["flow_id"]: e for e in self.flows}
        kinds = set()
        for a in self.alerts:
            self.assertTrue(ALERT_KEYS <= set(a["alert"]), a["alert"])
            self.assertEqual(a["alert"]["action"], "allowed")
            self.assertIn(a["alert"]["severity"], (1, 2, 3))
            kinds.update(a["alert"]["metadata"]["kind"])
            self.assertEqual(a["netsentry"]["id"], int(a["alert"]["metadata"]["netsentry_id"][0]))
            if "flow_id" in a:
                self.assertIn(a["flow_id"], flows, a)
                self.assertEqual(a["community_id"], flows[a["flow_id"]]["community_id"])
        self.assertIn("port_scan", kinds)
        self.assertTrue(any("flow_id" in a for a in self.alerts))

    def test_alert_lines_match_alerts_csv(self):
        with open(os.path.join(self.out, "alerts.csv"), newline="") as f:
            ids = {int(r["id"]) for r in csv.DictReader(f)}
        self.assertEqual({a["netsentry"]["id"] for a in self.alerts}, ids)

    def test_the_last_stats_line_counts_what_was_written(self):
        self.assertTrue(self.stats)
        self.assertEqual(self.events[-1]["event_type"], "stats")
        last = self.stats[-1]["stats"]
        self.assertEqual(last["flow"]["total"], len(self.flows))
        self.assertEqual(last["detect"]["alert"], len(self.alerts))

    def test_off_by_default_and_bounded_when_rotated(self):
        out = os.path.join(self.dir, "plain")
        monitor(out)
        self.assertEqual(glob.glob(os.path.join(out, "eve.json*")), [])
        out = os.path.join(self.dir, "rotated")
        eve = os.path.join(out, "eve.json")
        monitor(out, "--eve", eve, "--eve-max-mb", "0.05", "--eve-keep", "2")
        files = sorted(glob.glob(eve + "*"))
        self.assertEqual(files, [eve, eve + ".1", eve + ".2"])
        for path in files:
            self.assertLessEqual(os.path.getsize(path), 0.05 * 1024 * 1024, path)
            read_eve(path)  # whole JSON lines only


if __name__ == "__main__":
    if not os.path.exists(CAPTURE):
        print(f"skipped: {CAPTURE} is absent (../shared/datasets)", file=sys.stderr)
        sys.exit(77)
    unittest.main()
