#!/usr/bin/env python3
"""The packets behind an alert (issue 16 section 3): `netsentry monitor --pcap` replays a capture
the test writes (port scans from three scanners, each of which also fetches a page with full-size
packets, among benign web traffic) and the shared nmap SYN scan (skipped when ../shared/datasets is
absent); GET /api/alerts/ID/pcap of a raised alert must be a valid pcap (checked by this script's
own reader and by capinfos when installed) whose packets are copied whole from the input (not the
capture ring's 320-byte slots), all involve the alert's host and lie in its time window (30 s
before its first evidence to 1 s after its latest); `dashboard --db` serves the same file from the
evidence folder beside the store; 404 for an alert without packets, 400 for a bad id; --no-record
writes nothing; with --evidence-max-mb set small the folder stays within its budget.

Usage: evidence_test.py NETSENTRY_BINARY   (run by ctest)
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

BINARY = None
DATASETS = os.environ.get("NETSENTRY_DATASETS") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "datasets")
SYN, RST, PSH, ACK, FIN = 0x02, 0x04, 0x08, 0x10, 0x01
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
BEFORE_S = 30  # the evidence store's look-back before an alert's first evidence
AFTER_S = 1    # and its slack after the latest


def ip_bytes(text):
    return bytes(int(x) for x in text.split("."))


def tcp(src, sport, dst, dport, flags, payload=b""):
    seg = struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 29200, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 1, 0, 64, 6, 0, ip_bytes(src),
                     ip_bytes(dst)) + seg
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip


def write_pcap(path, frames):
    frames.sort(key=lambda f: f[0])
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, data in frames:
            sec = int(ts)
            usec = round((ts - sec) * 1e6)
            f.write(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)


def read_pcap(data):
    """(link type, [(ts_ns, wire_len, bytes)]) of a classic pcap (micro- or nanosecond); raises
    ValueError for anything else, a torn record included."""
    if len(data) < 24:
        raise ValueError("shorter than a pcap header")
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        end = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        end = ">"
    else:
        raise ValueError(f"not a pcap (magic {magic:#x})")
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    _, _, _, _, snaplen, link = struct.unpack(end + "HHiIII", data[4:24])
    packets, at = [], 24
    while at < len(data):
        if at + 16 > len(data):
            raise ValueError("torn record header")
        sec, frac, incl, orig = struct.unpack(end + "IIII", data[at:at + 16])
        if at + 16 + incl > len(data) or incl > snaplen or incl > orig:
            raise ValueError("torn or oversized record")
        packets.append((sec * 10**9 + frac * (1 if nano else 1000), orig,
                        data[at + 16:at + 16 + incl]))
        at += 16 + incl
    return link, packets


def read_pcapng(data):
    """[(ts_ns, bytes)] of a pcapng file's enhanced packet blocks (little-endian, microseconds or
    the interface's if_tsresol)."""
    out, at, resol = [], 0, []
    while at + 12 <= len(data):
        btype, blen = struct.unpack("<II", data[at:at + 8])
        body = data[at + 8:at + blen - 4]
        if btype == 1:  # interface description
            res = 6
            opt = 8
            while opt + 4 <= len(body):
                code, olen = struct.unpack("<HH", body[opt:opt + 4])
                if code == 0:
                    break
                if code == 9:
                    res = body[opt + 4]
                opt += 4 + ((olen + 3) & ~3)
            resol.append(10 ** (9 - res) if res < 128 else None)
        elif btype == 6:
            iface, hi, lo, cap, _ = struct.unpack("<IIIII", body[:20])
            ticks = (hi << 32) | lo
            out.append((ticks * resol[iface], body[20:20 + cap]))
        at += blen
    return out


def addresses(frame):
    """(src, dst) of an Ethernet/IPv4 frame, or None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    return socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, expect=200):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        if e.code != expect:
            raise
        return e.code, dict(e.headers), e.read()


def scanned_capture(path, scanners=3, ports=300):
    frames = []
    for i in range(120):  # benign clients
        t = T0 + i * 0.5
        client = f"10.0.1.{10 + i % 5}"
        frames += [(t, tcp(client, 30000 + i, "10.0.0.5", 80, SYN)),
                   (t + 0.001, tcp("10.0.0.5", 80, client, 30000 + i, SYN | ACK)),
                   (t + 0.002, tcp(client, 30000 + i, "10.0.0.5", 80, ACK)),
                   (t + 0.010, tcp("10.0.0.5", 80, client, 30000 + i, PSH | ACK, b"b" * 1400)),
                   (t + 0.020, tcp(client, 30000 + i, "10.0.0.5", 80, FIN | ACK))]
    for n in range(scanners):
        attacker = f"10.0.9.{60 + n}"
        start = T0 + 10 + n * 15
        # A page fetched before the scan: full-size packets that must reach the evidence whole.
        for k in range(20):
            payload = bytes((n * 31 + k + j) & 0xFF for j in range(1400))
            frames.append((start - 5 + k * 0.01, tcp("10.0.0.7", 80, attacker, 41000, PSH | ACK,
                                                     payload)))
        for k, port in enumerate(range(1, ports + 1)):
            t = start + k * 0.002
            frames.append((t, tcp(attacker, 45000, "10.0.0.5", port, SYN)))
            frames.append((t + 0.0005, tcp("10.0.0.5", port, attacker, 45000, RST | ACK)))
    write_pcap(path, frames)
    return frames


class Monitor:
    """`monitor --pcap FILE --stay` serving its API on a free port until stopped."""

    def __init__(self, pcap, out, *extra):
        self.out = out
        self.proc = subprocess.Popen(
            [BINARY, "monitor", "--pcap", pcap, "-o", out, "--no-model", "--speed", "max",
             "--stay", "--listen", f"127.0.0.1:{free_port()}", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        log = os.path.join(out, "network_analysis.log")
        deadline = time.time() + 120
        text = ""
        while time.time() < deadline and self.proc.poll() is None:
            if os.path.exists(log):
                with open(log) as f:
                    text = f.read()
                if "staying up" in text:
                    break
            time.sleep(0.1)
        if "staying up" not in text:
            self.proc.kill()
            raise AssertionError("monitor did not finish its replay: " + self.proc.stderr.read())
        self.log = text
        self.url = [l.split("dashboard on ")[1].split()[0] for l in text.splitlines()
                    if "dashboard on " in l][0]

    def stats(self, files):
        """/api/stats once its evidence counters (published once a second) show `files`."""
        deadline = time.time() + 30
        while True:
            _, _, body = get(self.url + "/api/stats")
            ev = json.loads(body)["evidence"]
            if (ev["recording"] and ev["files"] == files) or time.time() > deadline:
                return ev
            time.sleep(0.2)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, err


class EvidenceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="netsentry-evidence-")
        cls.scan = os.path.join(cls.dir, "scans.pcap")
        cls.frames = scanned_capture(cls.scan)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def check_alert_pcap(self, url, alert, original):
        """The alert's download: a pcap of whole input packets about its host, in its window."""
        status, headers, body = get(f"{url}/api/alerts/{alert['id']}/pcap")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Content-Type"), "application/vnd.tcpdump.pcap")
        self.assertEqual(headers.get("Content-Disposition"),
                         f'attachment; filename="netsentry-alert-{alert["id"]}.pcap"')
        link, packets = read_pcap(body)
        self.assertEqual(link, 1)
        self.assertGreater(len(packets), 0)
        lo = alert["time"] * 10**6 - BEFORE_S * 10**9 - 10**6
        hi = alert["last"] * 10**6 + AFTER_S * 10**9 + 10**6
        for ts, wire, data in packets:
            self.assertIn(alert["host"], addresses(data), "a packet not about the alert's host")
            self.assertGreaterEqual(ts, lo)
            self.assertLessEqual(ts, hi)
            # Byte for byte a packet of the input at that time: whole, never the first 320 bytes.
            self.assertTrue(bytes(data) in original.get(ts // 1000, []),
                            f"packet at {ts} ({len(data)} bytes) is not the input's")
            self.assertEqual(wire, len(data))
        # The host's input packets in the window that the file holds (none lost on the way).
        expected = sum(1 for us, frames in original.items() for f in frames
                       if lo <= us * 1000 <= hi and alert["host"] in (addresses(f) or ()))
        self.assertEqual(len(packets), expected)
        if shutil.which("capinfos"):
            path = os.path.join(self.dir, f"download-{alert['id']}.pcap")
            with open(path, "wb") as f:
                f.write(body)
            info = subprocess.run(["capinfos", "-c", "-M", path], capture_output=True, text=True)
            self.assertEqual(info.returncode, 0, info.stderr)
            self.assertIn(f"Number of packets:   {len(packets)}", info.stdout)
        return body, packets

    def test_a_raised_alerts_packets_download_whole_and_in_its_window(self):
        out = os.path.join(self.dir, "scan")
        original = {}
        for ts, data in self.frames:
            original.setdefault(round(ts * 1e6), []).append(data)
        m = Monitor(self.scan, out)
        try:
            _, _, body = get(m.url + "/api/alerts?limit=100")
            alerts = [a for a in json.loads(body)["alerts"] if a["host"]]
            scans = [a for a in alerts if a["kind"] == "port_scan"]
            self.assertEqual({a["host"] for a in scans}, {"10.0.9.60", "10.0.9.61", "10.0.9.62"})
            downloads = {}
            big = 0
            for alert in scans:
                downloads[alert["id"]], packets = self.check_alert_pcap(m.url, alert, original)
                big += sum(1 for _, _, data in packets if len(data) > 320)
            self.assertEqual(big, 3 * 20, "the full-size packets before each scan, whole")
            # Counted and visible: /api/stats.
            ev = m.stats(len(scans))
            self.assertTrue(ev["recording"])
            self.assertEqual(ev["files"], len(scans))
            self.assertEqual(ev["disk_bytes"], sum(len(b) for b in downloads.values()))
            self.assertGreater(ev["memory_bytes"], 0)
            self.assertLessEqual(ev["memory_bytes"], ev["memory_budget"])
            self.assertEqual(ev["packets_recorded"], len(self.frames))
            # Errors: no such alert, a bad id.
            status, headers, body = get(m.url + "/api/alerts/999/pcap", expect=404)
            self.assertEqual(status, 404)
            self.assertIn("no alert 999", json.loads(body)["error"])
            for bad in ("abc", "0", "1x"):
                status, _, _ = get(f"{m.url}/api/alerts/{bad}/pcap", expect=400)
                self.assertEqual(status, 400)
        finally:
            code, err = m.stop()
        self.assertEqual(code, 0, err[-2000:])
        self.assertRegex(err, r"evidence: recorder .* in memory .*; 3 files, .* on disk")
        # dashboard --db serves the same files from the evidence folder beside the store.
        port = free_port()
        d = subprocess.Popen([BINARY, "dashboard", "--db", os.path.join(out, "netsentry.db"),
                              "--listen", f"127.0.0.1:{port}"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 30
            while True:
                try:
                    get(url + "/api/session")
                    break
                except (urllib.error.URLError, ConnectionError):
                    if time.time() > deadline:
                        raise
                    time.sleep(0.1)
            for alert_id, expected in downloads.items():
                status, headers, body = get(f"{url}/api/alerts/{alert_id}/pcap")
                self.assertEqual(status, 200)
                self.assertEqual(body, expected)
            os.remove(os.path.join(out, "evidence", f"alert-{alert_id}.pcap"))
            status, _, body = get(f"{url}/api/alerts/{alert_id}/pcap", expect=404)
            self.assertEqual(status, 404)
            self.assertIn("has no stored packets", json.loads(body)["error"])
        finally:
            d.send_signal(signal.SIGTERM)
            d.communicate(timeout=30)

    def test_the_evidence_folder_keeps_to_a_small_budget(self):
        out = os.path.join(self.dir, "small")
        budget_mb = 0.05  # 52,428 bytes: less than the three scanners' files together
        m = Monitor(self.scan, out, "--evidence-max-mb", str(budget_mb))
        try:
            files = len(os.listdir(os.path.join(out, "evidence")))
            ev = m.stats(files)
        finally:
            code, err = m.stop()
        self.assertEqual(code, 0, err[-2000:])
        folder = os.path.join(out, "evidence")
        sizes = [os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)]
        self.assertTrue(sizes)
        self.assertLessEqual(sum(sizes), int(budget_mb * 1024 * 1024))
        self.assertEqual(ev["disk_budget"], int(budget_mb * 1024 * 1024))
        self.assertEqual(ev["disk_bytes"], sum(sizes))
        self.assertGreater(ev["files_removed"], 0)
        for f in os.listdir(folder):
            with open(os.path.join(folder, f), "rb") as fh:
                read_pcap(fh.read())  # each file still a whole pcap

    def test_no_record_writes_no_evidence(self):
        out = os.path.join(self.dir, "off")
        p = subprocess.run([BINARY, "monitor", "--pcap", self.scan, "-o", out, "--no-model",
                            "--no-record"], capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertIn("packet recorder off", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "evidence")))

    def test_the_shared_nmap_syn_scan_gives_the_scanners_packets(self):
        path = os.path.join(DATASETS, "pcaps", "chrissanders-packets", "synscan.pcapng")
        if not os.path.exists(path):
            self.skipTest(f"{path} is absent (../shared/datasets)")
        with open(path, "rb") as f:
            original = {}
            for ts, data in read_pcapng(f.read()):
                original.setdefault(ts // 1000, []).append(data)
        out = os.path.join(self.dir, "nmap")
        m = Monitor(path, out)
        try:
            _, _, body = get(m.url + "/api/alerts?limit=100")
            scans = [a for a in json.loads(body)["alerts"] if a["kind"] == "port_scan"]
            self.assertTrue(scans)
            self.assertEqual(scans[0]["host"], "172.16.0.8")
            _, packets = self.check_alert_pcap(m.url, scans[0], original)
            self.assertGreater(len(packets), 1000)
        finally:
            code, err = m.stop()
        self.assertEqual(code, 0, err[-2000:])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
