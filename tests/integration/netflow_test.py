#!/usr/bin/env python3
"""NetFlow/IPFIX in and out (issue #15), on loopback only.

  * softflowd replays a generated capture into `netsentry collect` as NetFlow v5, v9 and IPFIX
    (and IPFIX biflows): collect's flow records match what softflowd says it exported (records,
    and packets and octets per protocol);
  * nfdump's nfreplay sends nfcapd's files (softflowd's export) to `collect` as NetFlow v9:
    the same records, packets and bytes per protocol as nfdump reads from those files;
  * garbage and truncated export packets are counted and collect keeps going;
  * `monitor --export-ipfix` sends its flows to nfdump's nfcapd; nfdump reads back as many flows,
    packets and bytes as netsentry's own flows.csv holds.

Usage: netflow_test.py NETSENTRY_BINARY   (run by ctest; 77 = skipped when softflowd or nfdump is
absent)
"""
import csv
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import monitor_replay_test as gen  # noqa: E402  (the capture generators)

BINARY = None
SOFTFLOWD = shutil.which("softflowd") or "/usr/sbin/softflowd"
NFCAPD = shutil.which("nfcapd") or "/usr/bin/nfcapd"
NFDUMP = shutil.which("nfdump") or "/usr/bin/nfdump"
NFREPLAY = shutil.which("nfreplay") or "/usr/bin/nfreplay"


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def softflowd_totals(stdout):
    """softflowd's own account: records exported, and octets/packets per protocol."""
    m = re.search(r"Flows exported: \d+ \((\d+) records\)", stdout)
    per_proto = {}
    for name, number, octets, packets in re.findall(
            r"^\s+(\w+) \((\d+)\):\s+(\d+)\s+(\d+)", stdout, re.M):
        per_proto[int(number)] = (int(octets), int(packets))
    return (int(m.group(1)) if m else -1), per_proto


def collected(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        n = con.execute("SELECT count(*) FROM flows").fetchone()[0]
        per = {p: (b, k) for p, b, k in con.execute(
            "SELECT ip_proto, sum(bytes), sum(packets) FROM flows GROUP BY ip_proto")}
        return n, per
    finally:
        con.close()


class Netflow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ns-netflow-")
        frames = []
        gen.benign(frames, seconds=40)
        gen.port_scan(frames, gen.T0 + 10, ports=200)
        gen.udp_flood(frames, gen.T0 + 20, seconds=1, pps=3000)
        cls.pcap = os.path.join(cls.dir, "mix.pcap")
        gen.write_pcap(cls.pcap, frames)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def collect(self, out, extra=()):
        port = free_udp_port()
        proc = subprocess.Popen([BINARY, "collect", "--listen", f"udp:127.0.0.1:{port}", "-o", out]
                                + list(extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        line = proc.stdout.readline()  # "listening on ..." once the socket is bound
        self.assertIn("listening", line)
        return proc, port

    def softflowd(self, port, version, extra=()):
        # softflowd 1.1 hangs on long control-socket and pid-file paths: short fixed ones.
        for f in ("/tmp/nsf.ctl", "/tmp/nsf.pid"):
            if os.path.exists(f):
                os.remove(f)
        p = subprocess.run([SOFTFLOWD, "-r", self.pcap, "-n", f"127.0.0.1:{port}", "-v", version,
                            "-d", "-p", "/tmp/nsf.pid", "-c", "/tmp/nsf.ctl"] + list(extra),
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=60)
        self.assertEqual(p.returncode, 0)
        return softflowd_totals(p.stdout)

    def check_version(self, version, extra=()):
        out = os.path.join(self.dir, f"collect-v{version}{''.join(extra)}")
        proc, port = self.collect(out)
        records, per_proto = self.softflowd(port, version, extra)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        log, _ = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, log)
        self.assertGreater(records, 100)
        n, ours = collected(os.path.join(out, "netsentry.db"))
        self.assertEqual(n, records, f"v{version}: flow records\n{log}")
        for proto, (octets, packets) in per_proto.items():
            self.assertEqual(ours.get(proto), (octets, packets), f"v{version} protocol {proto}")
        self.assertIn("(0 bad)", log)
        return out

    def test_softflowd_ipfix_into_collect(self):
        self.check_version("10")

    def test_softflowd_ipfix_biflows_into_collect(self):
        self.check_version("10", ["-b"])

    def test_softflowd_netflow_v9_into_collect(self):
        self.check_version("9")

    def test_softflowd_netflow_v5_into_collect(self):
        self.check_version("5")

    def test_bad_export_packets_are_counted(self):
        out = os.path.join(self.dir, "collect-bad")
        proc, port = self.collect(out)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for payload in [b"", b"\x00", b"\x00\x0a\x00\x40" + b"\x00" * 12,  # IPFIX, length > size
                            b"\x00\x09\x00\x01" + b"\x00" * 16 + b"\x00\x00\x00\x02",  # v9 bad set
                            b"\x00\x05\x00\x09" + b"\x00" * 20,  # v5 claiming 9 records
                            b"\x00\x07garbage"]:
                s.sendto(payload, ("127.0.0.1", port))
        # Still working afterwards.
        records, _ = self.softflowd(port, "10")
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        log, _ = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, log)
        m = re.search(r"(\d+) export packets \((\d+) bad\), (\d+) flow records", log)
        self.assertIsNotNone(m, log)
        self.assertGreaterEqual(int(m.group(2)), 5, log)  # the empty datagram is not received
        self.assertEqual(int(m.group(3)), records)

    def test_ipfix_export_read_back_by_nfdump(self):
        if not (os.access(NFCAPD, os.X_OK) and os.access(NFDUMP, os.X_OK)):
            self.skipTest("nfdump is not installed")
        port = free_udp_port()
        nfdir = os.path.join(self.dir, "nfcapd")
        os.makedirs(nfdir, exist_ok=True)
        # A large receive buffer: the export is a burst of datagrams on a busy machine.
        nf = subprocess.Popen([NFCAPD, "-l", nfdir, "-p", str(port), "-b", "127.0.0.1",
                               "-B", "8388608"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.0)
        out = os.path.join(self.dir, "export")
        p = subprocess.run([BINARY, "monitor", "--pcap", self.pcap, "--speed", "max", "--no-model",
                            "-o", out, "--export-ipfix", f"127.0.0.1:{port}"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        time.sleep(1.0)
        nf.send_signal(signal.SIGTERM)
        nf_log, _ = nf.communicate(timeout=30)
        with open(os.path.join(out, "flows.csv")) as f:
            flows = list(csv.DictReader(f))
        want = (len(flows), sum(int(r["PacketCount"]) for r in flows),
                sum(int(r["ByteCount"]) for r in flows))
        dump = subprocess.run([NFDUMP, "-R", nfdir, "-q", "-o", "fmt:%pkt %byt"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(dump.returncode, 0, dump.stderr + nf_log)
        lines = [l.split() for l in dump.stdout.splitlines() if l.strip()]
        got = (len(lines), sum(int(l[0]) for l in lines), sum(int(l[1]) for l in lines))
        self.assertEqual(got, want, f"nfdump flows/packets/bytes vs flows.csv\n{nf_log}")


    def test_nfreplay_netflow_v9_into_collect(self):
        # A second exporter implementation: nfdump's nfreplay sends what nfcapd stored (here
        # softflowd's IPFIX export of the capture) as NetFlow v9; collect's records, packets and
        # bytes per protocol equal nfdump's account of the same files.
        if not all(os.access(t, os.X_OK) for t in (NFCAPD, NFDUMP, NFREPLAY)):
            self.skipTest("nfdump (nfcapd, nfdump, nfreplay) is not installed")
        nfport = free_udp_port()
        nfdir = os.path.join(self.dir, "nfcapd-softflowd")
        os.makedirs(nfdir, exist_ok=True)
        nf = subprocess.Popen([NFCAPD, "-l", nfdir, "-p", str(nfport), "-b", "127.0.0.1",
                               "-B", "8388608"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.0)
        self.softflowd(nfport, "10")
        time.sleep(1.0)
        nf.send_signal(signal.SIGTERM)
        nf.communicate(timeout=30)
        files = sorted(f for f in os.listdir(nfdir) if f.startswith("nfcapd.2"))
        self.assertTrue(files, os.listdir(nfdir))
        dump = subprocess.run([NFDUMP, "-R", nfdir, "-q", "-o", "fmt:%pr %pkt %byt"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(dump.returncode, 0, dump.stderr)
        want_n, want = 0, {}
        names = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMP6": 58}
        for line in dump.stdout.splitlines():
            if not line.strip():
                continue
            proto, packets, octets = line.split()
            key = names.get(proto, int(proto) if proto.isdigit() else proto)
            b, k = want.get(key, (0, 0))
            want[key] = (b + int(octets), k + int(packets))
            want_n += 1
        self.assertGreater(want_n, 100)
        out = os.path.join(self.dir, "collect-nfreplay")
        proc, port = self.collect(out)
        for f in files:
            r = subprocess.run([NFREPLAY, "-r", os.path.join(nfdir, f), "-H", "127.0.0.1", "-p",
                                str(port), "-v", "9", "-d", "200"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        log, _ = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, log)
        self.assertIn("(0 bad)", log)
        n, ours = collected(os.path.join(out, "netsentry.db"))
        self.assertEqual(n, want_n, log)
        self.assertEqual(ours, want, log)
        print(f"\n  nfreplay v9 -> collect: {n} records; per protocol (bytes, packets): {ours}")

def main():
    global BINARY
    if len(sys.argv) < 2:
        sys.exit("usage: netflow_test.py NETSENTRY_BINARY")
    BINARY = os.path.abspath(sys.argv.pop(1))
    if not os.access(SOFTFLOWD, os.X_OK):
        print("netflow_test: skipped: softflowd is not installed (scripts/setup installs it)")
        sys.exit(77)
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
