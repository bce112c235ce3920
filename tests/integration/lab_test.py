#!/usr/bin/env python3
"""Tests of the traffic lab (scripts/lab): the synthetic capture and its labels, read back with
`netsentry flows`; and, when run as root with network namespaces available, a short real lab run
whose capture must hold each attack's packets inside its labelled window and nothing else.

Usage: lab_test.py NETSENTRY_BINARY   (run by ctest; exit 77 when every test was skipped)
"""
import csv
import datetime
import hashlib
import ipaddress
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unittest

BINARY = None
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LAB = os.path.join(ROOT, "scripts", "lab")
HEADER = ["kind", "src", "dst", "start", "end", "tool", "description"]
KINDS = {"port_scan", "host_scan", "syn_flood", "udp_flood", "icmp_flood", "slow_http",
         "brute_force", "exfiltration"}
BENIGN = {"10.77.0.%d" % i for i in range(10, 20)}
LAB_NET = ipaddress.ip_network("10.77.0.0/16")


def read_packets(path):
    """(linktype, [(ts, src, dst, proto, frame length)]) of a classic Ethernet pcap; written here
    and not imported from the lab so the lab's writer is checked by an independent reader."""
    with open(path, "rb") as f:
        data = f.read()
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    assert magic == 0xA1B2C3D4, f"{path}: magic {magic:#x} is not a microsecond little-endian pcap"
    out, off = [], 24
    while off + 16 <= len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(frame) >= 34 and frame[12:14] == b"\x08\x00":
            src = ".".join(map(str, frame[26:30]))
            dst = ".".join(map(str, frame[30:34]))
            out.append((sec + usec / 1e6, src, dst, frame[23], orig))
        else:
            out.append((sec + usec / 1e6, None, None, None, orig))
    return linktype, out


def read_labels(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


def src_matches(label_src, addr):
    if "/" in label_src:
        return ipaddress.ip_address(addr) in ipaddress.ip_network(label_src)
    return addr == label_src


def epoch(iso):
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def run_lab(out, *args, timeout=120):
    return subprocess.run([sys.executable, LAB, "--out", out] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def flows(pcap, out_csv):
    p = subprocess.run([BINARY, "flows", pcap, "-o", out_csv], capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0:
        raise AssertionError(f"netsentry flows {pcap} failed: {p.stderr.strip()}")
    with open(out_csv, newline="") as f:
        return list(csv.DictReader(f))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class SyntheticLab(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="lab-test-")
        cls.out = os.path.join(cls.dir, "seed1")
        began = time.time()
        cls.proc = run_lab(cls.out, "--synthetic")
        cls.seconds = time.time() - began
        if cls.proc.returncode != 0:
            raise AssertionError(f"scripts/lab --synthetic failed: {cls.proc.stderr}")
        cls.pcap = os.path.join(cls.out, "capture.pcap")
        cls.header, cls.episodes = read_labels(os.path.join(cls.out, "labels.csv"))
        cls.linktype, cls.packets = read_packets(cls.pcap)
        cls.flows = flows(cls.pcap, os.path.join(cls.dir, "flows.csv"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def flows_of(self, episode, slack=1.0):
        start, end = float(episode["start"]) - slack, float(episode["end"]) + slack
        return [f for f in self.flows
                if src_matches(episode["src"], f["src_ip"]) and start <= epoch(f["start_time"]) <= end]

    def episode(self, kind):
        found = [e for e in self.episodes if e["kind"] == kind]
        self.assertEqual(len(found), 1, f"expected one {kind} episode: {self.episodes}")
        return found[0]

    def test_writes_an_ethernet_pcap_of_the_documented_size_in_seconds(self):
        self.assertEqual(self.linktype, 1)
        self.assertTrue(50_000 <= len(self.packets) <= 200_000, len(self.packets))
        times = [p[0] for p in self.packets]
        self.assertEqual(times, sorted(times), "packets are not in time order")
        self.assertTrue(300 <= times[-1] - times[0] <= 1200, times[-1] - times[0])
        self.assertEqual(int(times[0]) // 86400 * 86400, 1767225600, "not on 2026-01-01 UTC")
        self.assertLess(self.seconds, 60)

    def test_labels_have_the_documented_header_and_every_attack_kind_once(self):
        self.assertEqual(self.header, HEADER)
        self.assertEqual(sorted(e["kind"] for e in self.episodes), sorted(KINDS))
        for e in self.episodes:
            self.assertLess(float(e["start"]), float(e["end"]), e)
            self.assertTrue(e["tool"], e)

    def test_every_episode_has_flows_from_its_source_inside_its_window(self):
        for e in self.episodes:
            with self.subTest(kind=e["kind"]):
                self.assertGreater(len(self.flows_of(e)), 0, e)

    def test_benign_clients_carry_traffic_and_are_never_labelled(self):
        labelled = {e["src"] for e in self.episodes}
        self.assertFalse(labelled & BENIGN)
        benign = [f for f in self.flows if f["src_ip"] in BENIGN]
        self.assertGreater(len(benign), 300)
        self.assertGreaterEqual(len({f["src_ip"] for f in benign}), 8)
        self.assertTrue({"80", "53", "5201", "7"} <= {f["dst_port"] for f in benign})

    def test_port_scan_probes_a_thousand_ports_and_closed_ports_answer_reset(self):
        scan = self.flows_of(self.episode("port_scan"))
        self.assertGreaterEqual(len({f["dst_port"] for f in scan if f["ip_proto"] == "6"}), 1000)
        resets = [f for f in scan if f["end_reason"] == "rst"]
        self.assertGreater(len(resets), 900)

    def test_host_scan_sweeps_many_hosts(self):
        self.assertGreaterEqual(len({f["dst_ip"] for f in self.flows_of(self.episode("host_scan"))}),
                                250)

    def test_syn_flood_comes_from_thousands_of_spoofed_sources_and_gets_no_reply(self):
        e = self.episode("syn_flood")
        flood = self.flows_of(e)
        self.assertGreater(len({f["src_ip"] for f in flood}), 10_000)
        self.assertTrue(all(f["Total Bwd packets"] == "0" and f["dst_port"] == "80" for f in flood))
        spoofed = ipaddress.ip_network(e["src"])
        self.assertFalse([p for p in self.packets if p[2] and ipaddress.ip_address(p[2]) in spoofed],
                         "something answered the spoofed sources")

    def test_floods_are_thousands_of_packets_per_second(self):
        for kind, proto in (("udp_flood", 17), ("icmp_flood", 1), ("syn_flood", 6)):
            with self.subTest(kind=kind):
                e = self.episode(kind)
                start, end = float(e["start"]), float(e["end"])
                n = sum(1 for p in self.packets if p[1] and start <= p[0] <= end and p[3] == proto
                        and src_matches(e["src"], p[1]))
                self.assertGreater(n / (end - start), 900, kind)

    def test_slow_http_holds_many_connections_open_for_a_minute(self):
        slow = [f for f in self.flows_of(self.episode("slow_http")) if f["dst_port"] == "80"]
        self.assertGreaterEqual(len(slow), 40)
        self.assertTrue(all(float(f["Duration"]) >= 50 for f in slow))

    def test_brute_force_is_many_short_ftp_sessions(self):
        brute = [f for f in self.flows_of(self.episode("brute_force")) if f["dst_port"] == "21"]
        self.assertGreaterEqual(len(brute), 50)
        self.assertTrue(all(float(f["Duration"]) < 2 for f in brute))

    def test_exfiltration_is_one_long_low_rate_connection_to_an_odd_port(self):
        exfil = self.flows_of(self.episode("exfiltration"))
        self.assertEqual(len(exfil), 1)
        self.assertEqual(exfil[0]["dst_port"], "4444")
        self.assertGreaterEqual(float(exfil[0]["Duration"]), 100)
        self.assertLess(int(exfil[0]["Total Length of Fwd Packet"]), 120 * 700)

    def test_lab_json_counts_the_packets_written(self):
        import json
        with open(os.path.join(self.out, "lab.json")) as f:
            summary = json.load(f)
        self.assertEqual(summary["packets"], len(self.packets))
        self.assertEqual(summary["mode"], "synthetic")
        self.assertEqual(len(summary["episodes"]), len(self.episodes))

    def test_same_seed_gives_identical_files_and_another_seed_differs(self):
        again = os.path.join(self.dir, "again")
        other = os.path.join(self.dir, "seed2")
        self.assertEqual(run_lab(again, "--synthetic").returncode, 0)
        self.assertEqual(run_lab(other, "--synthetic", "--seed", "2").returncode, 0)
        for name in ("capture.pcap", "labels.csv"):
            self.assertEqual(sha256(os.path.join(self.out, name)), sha256(os.path.join(again, name)))
        self.assertNotEqual(sha256(self.pcap), sha256(os.path.join(other, "capture.pcap")))

    def test_only_keeps_the_named_kinds_and_the_same_benign_traffic(self):
        out = os.path.join(self.dir, "only")
        p = run_lab(out, "--synthetic", "--only", "port_scan,udp_flood")
        self.assertEqual(p.returncode, 0, p.stderr)
        _, episodes = read_labels(os.path.join(out, "labels.csv"))
        self.assertEqual(sorted(e["kind"] for e in episodes), ["port_scan", "udp_flood"])
        _, packets = read_packets(os.path.join(out, "capture.pcap"))
        benign = lambda ps: sum(1 for p in ps if p[1] in BENIGN)  # noqa: E731
        self.assertEqual(benign(packets), benign(self.packets))

    def test_unknown_kind_is_refused_in_one_line(self):
        p = run_lab(os.path.join(self.dir, "bad"), "--synthetic", "--only", "port_scan,teleport")
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown kind(s) teleport", p.stderr)


def can_run_real_lab():
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    for tool in ("ip", "tcpdump", "curl"):
        if not shutil.which(tool):
            return f"needs {tool}"
    name = f"nslab-probe-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        return "ip netns add is not permitted here"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


# What each kind must at least show from its attacker inside its window at --duration-scale 0.3
# (measured runs show 5-50 times more; the floor catches a phase that silently did nothing).
MIN_PACKETS = {"port_scan": 20, "host_scan": 200, "syn_flood": 2000, "udp_flood": 2000,
               "icmp_flood": 2000, "slow_http": 50, "brute_force": 20, "exfiltration": 8}
TOOLS = {"port_scan": "nmap", "host_scan": "nmap", "syn_flood": "hping3", "udp_flood": "hping3",
         "icmp_flood": "hping3", "slow_http": "slowhttptest", "brute_force": "hydra",
         "exfiltration": "python3"}


class RealLab(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        reason = can_run_real_lab()
        if reason:
            raise unittest.SkipTest(f"real lab: {reason}")
        cls.dir = tempfile.mkdtemp(prefix="lab-real-test-")
        cls.out = os.path.join(cls.dir, "real")
        p = subprocess.Popen([sys.executable, LAB, "--out", cls.out, "--duration-scale", "0.3",
                              "--seed", "3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        cls.log, _ = p.communicate(timeout=500)
        cls.lab_pid = p.pid
        if p.returncode != 0:
            raise AssertionError(f"scripts/lab (real) exited {p.returncode}:\n{cls.log}")
        cls.pcap = os.path.join(cls.out, "capture.pcap")
        _, cls.episodes = read_labels(os.path.join(cls.out, "labels.csv"))
        _, cls.packets = read_packets(cls.pcap)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_every_installed_attack_tool_produced_its_episodes(self):
        kinds = {e["kind"] for e in self.episodes}
        for kind, tool in TOOLS.items():
            if shutil.which(tool):
                self.assertIn(kind, kinds, self.log)

    def test_every_episode_has_packets_from_its_source_inside_its_window(self):
        for e in self.episodes:
            with self.subTest(kind=e["kind"], description=e["description"]):
                start, end = float(e["start"]), float(e["end"])
                n = sum(1 for p in self.packets if p[1] == e["src"] and start <= p[0] <= end)
                self.assertGreaterEqual(n, MIN_PACKETS[e["kind"]], e)

    def test_benign_clients_talk_throughout_the_run(self):
        benign = [p for p in self.packets if p[1] in BENIGN]
        self.assertGreater(len(benign), 200)
        span = self.packets[-1][0] - self.packets[0][0]
        self.assertGreater(benign[-1][0] - benign[0][0], 0.8 * span)
        self.assertFalse({e["src"] for e in self.episodes} & BENIGN)

    def test_capture_holds_only_lab_addresses_and_real_sized_packets(self):
        outside = [p for p in self.packets if p[1] and not (
            ipaddress.ip_address(p[1]) in LAB_NET and ipaddress.ip_address(p[2]) in LAB_NET)]
        self.assertEqual(outside, [])
        self.assertLessEqual(max(p[4] for p in self.packets), 1514, "offloads were not turned off")

    def test_netsentry_reads_the_capture_into_flows_from_every_attacker(self):
        rows = flows(self.pcap, os.path.join(self.dir, "flows.csv"))
        sources = {f["src_ip"] for f in rows}
        for e in self.episodes:
            self.assertIn(e["src"], sources, e)

    def test_no_namespace_or_process_is_left_behind(self):
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        self.assertNotIn(f"nslab-{self.lab_pid}-", names)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: lab_test.py NETSENTRY_BINARY")
    BINARY = os.path.abspath(sys.argv.pop(1))
    if not os.access(BINARY, os.X_OK):
        sys.exit(f"lab_test.py: {BINARY} is not an executable netsentry binary")
    result = unittest.main(verbosity=2, exit=False).result
    if not result.wasSuccessful():
        sys.exit(1)
    ran = result.testsRun - len(result.skipped)
    sys.exit(77 if ran <= 0 else 0)
