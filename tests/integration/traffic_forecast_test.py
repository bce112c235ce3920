#!/usr/bin/env python3
"""End-to-end tests of `netsentry train --traffic` and `evaluate --traffic`: a generated
network_traffic.csv trains a forecaster that is written to <out>/traffic/ and loads again; a flow
bundle in the same folder keeps loading; a generated NAB-style labelled series is scored for the
forecaster and the baseline; bad rows are reported as file:line:column; train needs --data or
--traffic. Skipped (exit 77) when the binary has no LibTorch module.

Usage: traffic_forecast_test.py NETSENTRY_BINARY   (run by ctest)
"""
import csv
import datetime
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

BINARY = None


def run(args, timeout=600):
    return subprocess.run([BINARY] + args, capture_output=True, text=True, timeout=timeout)


def has_torch():
    return "LibTorch: yes" in run(["--version"]).stdout


def periodic(i, rng):
    return (600_000 + 400_000 * math.sin(2 * math.pi * i / 60)) * math.exp(rng.gauss(0, 0.05))


def write_traffic_csv(path, rows=1500, seed=1):
    """The monitor's network_traffic.csv: one row per second, sent + received is the series."""
    rng = random.Random(seed)
    t0 = datetime.datetime(2026, 11, 23, 10, 0, 0)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "bytes_sent", "bytes_recv", "packets_sent", "packets_recv",
                    "total_bytes", "errin", "errout", "dropin", "dropout"])
        for i in range(rows):
            total = periodic(i, rng)
            sent = round(total * 0.3)
            recv = round(total) - sent
            w.writerow([str(t0 + datetime.timedelta(seconds=i)), sent, recv, sent // 1000,
                        recv // 1000, sent + recv, 0, 0, 0, 0])


def write_nab_csv(path, rows=1500, spikes=(900, 1300), seed=2):
    """NAB layout; each spike is a 10x value inside a labelled window of 20 points."""
    rng = random.Random(seed)
    t0 = datetime.datetime(2014, 4, 10)
    with open(path, "w") as f:
        f.write("timestamp,value,label_window,label_point\n")
        for i in range(rows):
            v = periodic(i, rng)
            in_window = any(s - 10 <= i < s + 10 for s in spikes)
            if i in spikes:
                v *= 10
            f.write(f"{t0 + datetime.timedelta(minutes=5 * i)},{v:.1f},{int(in_window)},"
                    f"{int(i in spikes)}\n")


def write_original_csv(path, rows=600, seed=3):
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Duration", "PacketCount", "ByteCount", "SourcePort", "DestinationPort",
                    "Protocol", "Label"])
        for _ in range(rows):
            attack = rng.random() < 0.3
            pk = rng.randint(500, 5000) if attack else rng.randint(2, 40)
            w.writerow([round(rng.uniform(0, 3), 3), pk, pk * rng.randint(40, 1400),
                        rng.randint(1024, 65535), 80 if attack else 443, "TCP",
                        "Attack" if attack else "Normal"])


class TrafficForecastCli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ns_traffic_")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def test_train_traffic_writes_a_loadable_forecaster_beside_a_flow_bundle(self):
        flows, traffic, nab = self.path("flows.csv"), self.path("traffic.csv"), self.path("nab.csv")
        write_original_csv(flows)
        write_traffic_csv(traffic)
        write_nab_csv(nab)
        out = self.path("bundle")
        p = run(["train", "--data", flows, "--models", "if", "--test", "0.2", "-o", out])
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run(["train", "--traffic", traffic, "-o", out, "--epochs", "8"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("traffic forecaster: 1500 points of bytes_sent+bytes_recv", p.stdout)
        self.assertIn("band: forecast +", p.stdout)
        for name in ("traffic_forecaster.pt", "traffic_forecaster.json"):
            self.assertTrue(os.path.exists(os.path.join(out, "traffic", name)), name)
        with open(os.path.join(out, "traffic", "traffic_forecaster.json")) as f:
            sidecar = json.load(f)
        self.assertEqual(sidecar["options"]["window"], 60)
        self.assertIn("mean", sidecar["options"]["transform"])
        # The flow bundle still loads with traffic/ beside it.
        p = run(["evaluate", "-m", out, "--data", flows, "--json"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("isolation_forest", json.loads(p.stdout)["models"])
        # The forecaster loads (from the bundle folder) and scores a labelled series.
        p = run(["evaluate", "--traffic", nab, "--traffic-model", out, "--json"])
        self.assertEqual(p.returncode, 0, p.stderr)
        ev = json.loads(p.stdout)
        self.assertEqual(ev["points"], 1500)
        self.assertEqual(ev["scored_from"], 225)
        self.assertEqual(ev["forecaster"]["windows"], 2)
        self.assertEqual(ev["forecaster"]["windows_detected"], 2)
        self.assertIn("false_alarm_rate", ev["baseline"])

    def test_train_traffic_alone_prints_json_and_nab_needs_no_column(self):
        nab = self.path("nab.csv")
        write_nab_csv(nab)
        p = run(["train", "--traffic", nab, "-o", self.path("m"), "--epochs", "3", "--json"])
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)["traffic"]
        self.assertEqual(j["format"], "nab")
        self.assertEqual(j["points"], 1500)
        self.assertGreater(j["band_quantile"], 0)

    def test_a_bad_row_is_reported_as_file_line_column(self):
        bad = self.path("bad.csv")
        write_traffic_csv(bad, rows=200)
        with open(bad) as f:
            lines = f.read().splitlines()
        fields = lines[57].split(",")
        fields[2] = "lots"
        lines[57] = ",".join(fields)
        with open(bad, "w") as f:
            f.write("\n".join(lines) + "\n")
        p = run(["train", "--traffic", bad, "-o", self.path("m")])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f'{bad}:58:3: column "bytes_recv": "lots"', p.stderr)
        self.assertEqual(p.stderr.count("\n"), 1, p.stderr)

    def test_train_needs_data_or_traffic(self):
        p = run(["train", "-o", self.path("m")])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--traffic", p.stderr)
        p = run(["evaluate", "--traffic", self.path("missing.csv"), "--traffic-model", self.tmp])
        self.assertNotEqual(p.returncode, 0)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    BINARY = os.path.abspath(sys.argv.pop(1))
    if not has_torch():
        print("skipped: this netsentry has no LibTorch module")
        sys.exit(77)
    unittest.main()
