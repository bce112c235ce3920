#!/usr/bin/env python3
"""End-to-end tests of the live detection engine: `netsentry monitor --pcap` replays captures the
test generates (benign background plus a SYN port scan, a spoofed SYN flood, a UDP flood, an FTP
brute force and a traffic burst; spoofed UDP and echo floods apart) and checks the alerts name the
right kind and source, the benign part stays quiet, alerts.csv / SQLite / the original CSV files
hold what they should, two replays give the same alerts, the configuration file applies (flags
win), SIGTERM flushes a --stay run, and the shared attack pcaps (skipped when ../shared/datasets is
absent) raise their alerts.

Usage: monitor_replay_test.py NETSENTRY_BINARY   (run by ctest)
"""
import csv
import json
import os
import re
import random
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

BINARY = None
DATASETS = os.environ.get("NETSENTRY_DATASETS") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "datasets")
SYN, RST, PSH, ACK, FIN = 0x02, 0x04, 0x08, 0x10, 0x01
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def ip(text):
    return [int(x) for x in text.split(".")]


def ipv4(src, dst, proto, payload):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                       bytes(ip(src)), bytes(ip(dst))) + payload


ETH = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"


def tcp(src, sport, dst, dport, flags, payload=b""):
    seg = struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 29200, 0, 0) + payload
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ipv4(src, dst, 6, seg)


def udp(src, sport, dst, dport, payload):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ipv4(src, dst, 17, seg)


def write_pcap(path, frames):
    frames.sort(key=lambda f: f[0])
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, data in frames:
            sec = int(ts)
            f.write(struct.pack("<IIII", sec, round((ts - sec) * 1e6), len(data), len(data)) + data)


def web_session(frames, t, client, sport, server="10.0.0.5", size=2000):
    frames += [(t, tcp(client, sport, server, 80, SYN)),
               (t + 0.001, tcp(server, 80, client, sport, SYN | ACK)),
               (t + 0.002, tcp(client, sport, server, 80, ACK)),
               (t + 0.003, tcp(client, sport, server, 80, PSH | ACK, b"GET / HTTP/1.1\r\n\r\n")),
               (t + 0.010, tcp(server, 80, client, sport, PSH | ACK, b"x" * min(size, 1400))),
               (t + 0.020, tcp(client, sport, server, 80, FIN | ACK)),
               (t + 0.021, tcp(server, 80, client, sport, FIN | ACK)),
               (t + 0.022, tcp(client, sport, server, 80, ACK))]


def benign(frames, seconds=120, rng=None):
    """Web sessions from a few clients and DNS lookups, a couple per second."""
    rng = rng or random.Random(1)
    for i in range(seconds * 2):
        t = T0 + i * 0.5 + rng.random() * 0.1
        web_session(frames, t, f"10.0.1.{10 + i % 5}", 30000 + i, size=rng.randint(200, 1400))
        if i % 3 == 0:
            frames += [(t + 0.2, udp(f"10.0.1.{10 + i % 5}", 40000 + i, "10.0.0.53", 53, b"q" * 30)),
                       (t + 0.21, udp("10.0.0.53", 53, f"10.0.1.{10 + i % 5}", 40000 + i, b"r" * 80))]


def port_scan(frames, start, attacker="10.0.9.66", victim="10.0.0.5", ports=300):
    for k, port in enumerate(range(1, ports + 1)):
        t = start + k * 0.002
        frames.append((t, tcp(attacker, 45000, victim, port, SYN)))
        frames.append((t + 0.0005, tcp(victim, port, attacker, 45000, RST | ACK)))


def syn_flood(frames, start, victim="10.0.0.5", count=3000):
    rng = random.Random(7)
    for k in range(count):
        src = f"172.{16 + rng.randrange(16)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        frames.append((start + k * 0.0005, tcp(src, 1024 + rng.randrange(60000), victim, 80, SYN)))


def udp_flood(frames, start, attacker="10.0.9.77", victim="10.0.0.6", seconds=3, pps=20000):
    # Many flows (source ports) to one destination port.
    for k in range(seconds * pps):
        frames.append((start + k / pps, udp(attacker, 1024 + k % 5000, victim, 9999, b"z" * 64)))


def ftp_brute_force(frames, start, attacker="10.0.9.88", server="10.0.0.21", attempts=60):
    for k in range(attempts):
        t = start + k * 0.3
        sport = 50000 + k
        frames += [(t, tcp(attacker, sport, server, 21, SYN)),
                   (t + 0.001, tcp(server, 21, attacker, sport, SYN | ACK)),
                   (t + 0.002, tcp(attacker, sport, server, 21, ACK)),
                   (t + 0.010, tcp(server, 21, attacker, sport, PSH | ACK, b"220 FTP ready\r\n")),
                   (t + 0.020, tcp(attacker, sport, server, 21, PSH | ACK, b"USER admin\r\n")),
                   (t + 0.030, tcp(server, 21, attacker, sport, PSH | ACK, b"331 Password\r\n")),
                   (t + 0.040, tcp(attacker, sport, server, 21, PSH | ACK, b"PASS guess%d\r\n" % k)),
                   (t + 0.050, tcp(server, 21, attacker, sport, PSH | ACK, b"530 Login incorrect\r\n")),
                   (t + 0.060, tcp(attacker, sport, server, 21, FIN | ACK)),
                   (t + 0.061, tcp(server, 21, attacker, sport, FIN | ACK))]


def slow_http(frames, start, attacker="10.0.9.99", server="10.0.0.5", connections=40, seconds=70):
    """Slowloris: connections that send a header line every 10 s and never finish the request."""
    for k in range(connections):
        t = start + k * 0.05
        sport = 52000 + k
        frames += [(t, tcp(attacker, sport, server, 80, SYN)),
                   (t + 0.001, tcp(server, 80, attacker, sport, SYN | ACK)),
                   (t + 0.002, tcp(attacker, sport, server, 80, ACK)),
                   (t + 0.003, tcp(attacker, sport, server, 80, PSH | ACK, b"GET / HTTP/1.1\r\n"))]
        for step in range(1, seconds // 10 + 1):
            frames.append((t + step * 10, tcp(attacker, sport, server, 80, PSH | ACK, b"X-a: b\r\n")))
        frames.append((t + seconds + 0.5, tcp(server, 80, attacker, sport, FIN | ACK)))


def run(args, timeout=300, **kw):
    return subprocess.run([BINARY] + args, capture_output=True, text=True, timeout=timeout, **kw)


def read_alerts(out):
    with open(os.path.join(out, "alerts.csv")) as f:
        return list(csv.DictReader(f))


def ipv4_pairs(path):
    """The (source, destination) of each IPv4-over-Ethernet packet of a classic pcap file (an
    alert's evidence: microsecond or nanosecond, little-endian)."""
    pairs = []
    with open(path, "rb") as f:
        data = f.read()
    at = 24
    while at + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, at + 8)[0]
        frame = data[at + 16:at + 16 + caplen]
        at += 16 + caplen
        if len(frame) >= 34 and frame[12:14] == b"\x08\x00":
            pairs.append((".".join(map(str, frame[26:30])), ".".join(map(str, frame[30:34]))))
    return pairs


class Replay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ns-replay-")
        frames = []
        benign(frames)
        port_scan(frames, T0 + 20)
        syn_flood(frames, T0 + 40)
        udp_flood(frames, T0 + 60)
        ftp_brute_force(frames, T0 + 80)
        slow_http(frames, T0 + 30)
        cls.attacks = os.path.join(cls.dir, "attacks.pcap")
        write_pcap(cls.attacks, frames)
        quiet = []
        benign(quiet, rng=random.Random(2))
        cls.benign = os.path.join(cls.dir, "benign.pcap")
        write_pcap(cls.benign, quiet)
        cls.out = os.path.join(cls.dir, "out")
        cls.replayed = run(["monitor", "--pcap", cls.attacks, "-o", cls.out, "--no-model", "--volume-limit",
                       "2000000"])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_replay_exits_0_and_reports_its_stages(self):
        self.assertEqual(self.replayed.returncode, 0, self.replayed.stderr)
        self.assertIn("capture:", self.replayed.stderr)
        self.assertIn("detection:", self.replayed.stderr)
        self.assertIn("store:", self.replayed.stderr)

    def test_each_attack_raises_its_kind_naming_the_right_subject(self):
        alerts = read_alerts(self.out)
        kinds = {}
        for a in alerts:
            kinds.setdefault(a["kind"], []).append(a)
        self.assertIn("port_scan", kinds, alerts)
        self.assertTrue(all(a["src_ip"] == "10.0.9.66" for a in kinds["port_scan"]))
        self.assertIn("300 ports on 10.0.0.5", kinds["port_scan"][-1]["reason"])
        self.assertIn("syn_flood", kinds)
        self.assertTrue(any(a["dst_ip"] == "10.0.0.5" and a["dst_port"] == "80"
                            for a in kinds["syn_flood"]))
        self.assertIn("udp_flood", kinds)
        self.assertTrue(any(a["dst_ip"] == "10.0.0.6" for a in kinds["udp_flood"]))
        self.assertIn("brute_force", kinds)
        self.assertTrue(all(a["src_ip"] == "10.0.9.88" and a["dst_port"] == "21"
                            for a in kinds["brute_force"]))
        self.assertIn("slow_http", kinds)
        self.assertTrue(all(a["src_ip"] == "10.0.9.99" and a["dst_port"] == "80"
                            for a in kinds["slow_http"]))
        for a in alerts:
            self.assertIn(a["severity"], {"LOW", "MEDIUM", "HIGH", "CRITICAL"})
            self.assertTrue(a["reason"])

    def test_the_spoofed_flood_is_summarised_not_one_flow_per_syn(self):
        # 3,000 SYNs at 2,000/s to 10.0.0.5:80, never answered: after its first judged quarter
        # second the flow table counts them in a flood summary (--flood-summary-rate 1000).
        err = self.replayed.stderr
        self.assertIn("10.0.0.5:80/tcp is flooded", err)
        self.assertIn("the flood of 10.0.0.5:80/tcp is over", err)
        summarised = int(re.search(r"(\d+) in flood summaries \(1 flooded destinations\)", err).group(1))
        with open(os.path.join(self.out, "flows.csv")) as f:
            flood_rows = sum(1 for r in csv.DictReader(f)
                             if r["dst_ip"] == "10.0.0.5" and r["dst_port"] == "80"
                             and r["src_ip"].startswith("172."))
        # The web clients' SYNs and SYN-ACKs to 10.0.0.5:80 during the flood are summarised too
        # (their flows start at the handshake's last ACK): two packets per session, a few sessions.
        extra = flood_rows + summarised - 3000
        self.assertTrue(0 <= extra <= 12 and extra % 2 == 0, (flood_rows, summarised))
        self.assertGreater(summarised, 1500)
        # The SYN flood detector counts the summarised SYNs: the alert's last word is all 3,000
        # (and the web clients' summarised SYNs).
        last = [a for a in read_alerts(self.out) if a["kind"] == "syn_flood"][-1]
        m = re.search(r"([\d,]+) half-open connections to 10\.0\.0\.5:80", last["reason"])
        self.assertTrue(m, last["reason"])
        self.assertTrue(3000 <= int(m.group(1).replace(",", "")) <= 3000 + extra // 2, last["reason"])

    def replay_floods(self, name, seed, flood, destinations):
        """Replays 4,000 packets/s of `flood(frames, t, k, rng)` for one second from 2 s into 10 s
        of benign traffic (--no-model); returns monitor's stderr, its output directory, the packets
        in flood summaries (of `destinations` flooded ones; None when 0) and the flows.csv rows from
        172.x."""
        frames = []
        benign(frames, seconds=10, rng=random.Random(3))
        rng = random.Random(seed)
        for k in range(4000):
            flood(frames, T0 + 2 + k / 4000, k, rng)
        capture = os.path.join(self.dir, f"{name}.pcap")
        write_pcap(capture, frames)
        out = os.path.join(self.dir, name)
        p = run(["monitor", "--pcap", capture, "-o", out, "--no-model"])
        self.assertEqual(p.returncode, 0, p.stderr)
        summarised = None
        if destinations:
            summarised = int(re.search(
                rf"(\d+) in flood summaries \({destinations} flooded destinations\)",
                p.stderr).group(1))
        with open(os.path.join(out, "flows.csv")) as f:
            flood_rows = sum(1 for r in csv.DictReader(f) if r["src_ip"].startswith("172."))
        return p.stderr, out, summarised, flood_rows

    @staticmethod
    def spoofed(rng):
        return f"172.{16 + rng.randrange(16)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def test_spoofed_udp_and_echo_floods_are_summarised_and_alerted_at_their_victims(self):
        # hping3 --udp / --icmp --flood --rand-source: 4,000 packets each at 4,000/s, every one
        # from a new address, beside the benign traffic; the echo flood's victim answers each.
        def flood(frames, t, k, rng):
            a, b = self.spoofed(rng), self.spoofed(rng)
            frames.append((t, udp(a, 1024 + rng.randrange(60000), "10.0.0.8", 9999, b"u" * 64)))
            echo = struct.pack("!BBHHH", 8, 0, 0, rng.randrange(65536), k) + b"p" * 56
            reply = struct.pack("!BBHHH", 0, 0, 0, 0, k) + b"p" * 56
            frames.append((t + 0.0001, ETH + ipv4(b, "10.0.0.7", 1, echo)))
            frames.append((t + 0.0002, ETH + ipv4("10.0.0.7", b, 1, reply)))

        err, out, summarised, flood_rows = self.replay_floods("floods", 11, flood, 2)
        self.assertIn("10.0.0.8:9999/udp is flooded with UDP datagrams", err)
        self.assertIn("10.0.0.7 is flooded with echo requests", err)
        # A destination's attempts start flows until its first quarter second is judged, half a
        # second in (2,000 of its 4,000); after that its attempts, and the echo replies, are
        # summarised: about 2,000 + 2 x 2,000 packets.
        self.assertGreater(summarised, 5000)
        self.assertLessEqual(flood_rows, 2 * 2000 + 10)
        alerts = read_alerts(out)
        udp_alerts = [a for a in alerts if a["kind"] == "udp_flood"]
        icmp_alerts = [a for a in alerts if a["kind"] == "icmp_flood"]
        self.assertTrue(udp_alerts and icmp_alerts, [a["kind"] for a in alerts])
        self.assertEqual({a["dst_ip"] for a in udp_alerts}, {"10.0.0.8"})
        self.assertEqual({a["dst_ip"] for a in icmp_alerts}, {"10.0.0.7"})
        self.assertIn("to 10.0.0.7 from many sources", icmp_alerts[0]["reason"])

    def test_a_spoofed_syn_flood_at_every_port_is_summarised_and_alerted_at_its_victim(self):
        # hping3 -S --flood --rand-source with a random port per SYN: 4,000 at 4,000/s beside the
        # benign traffic, each closed port resetting; no ip:port gets more than a few.
        def flood(frames, t, k, rng):
            a = self.spoofed(rng)
            sport, dport = 1024 + rng.randrange(60000), 1 + rng.randrange(65535)
            frames.append((t, tcp(a, sport, "10.0.0.9", dport, SYN)))
            frames.append((t + 0.0001, tcp("10.0.0.9", dport, a, sport, RST | ACK)))

        err, out, summarised, flood_rows = self.replay_floods("spray", 13, flood, 1)
        self.assertIn("every port of 10.0.0.9/tcp is flooded with TCP connection attempts", err)
        # Flows until the first quarter second is judged (2,000 SYNs and their RSTs), then the
        # SYNs and the RSTs are summarised.
        self.assertGreater(summarised, 2 * 1500)
        self.assertLessEqual(flood_rows, 2000 + 10)
        syn_alerts = [a for a in read_alerts(out) if a["kind"] == "syn_flood"]
        self.assertTrue(syn_alerts, [a["kind"] for a in read_alerts(out)])
        self.assertEqual({a["dst_ip"] for a in syn_alerts}, {"10.0.0.9"})
        self.assertIn("to many ports of 10.0.0.9", syn_alerts[-1]["reason"])
        self.assertIn("from many sources", syn_alerts[-1]["reason"])

    def test_a_spoofed_flood_spread_over_a_network_is_summarised_and_alerted_at_it(self):
        # Carpet bombing: 4,000 spoofed UDP datagrams at 4,000/s, each to a random host of
        # 10.0.3.0/24 (about 15 a second per host, too few for any host's own count), beside the
        # benign traffic.
        def flood(frames, t, k, rng):
            victim = f"10.0.3.{rng.randrange(256)}"
            frames.append((t, udp(self.spoofed(rng), 1024 + rng.randrange(60000), victim, 9999,
                                  b"u" * 64)))

        err, out, summarised, flood_rows = self.replay_floods("carpet", 19, flood, 1)
        self.assertIn("every host of 10.0.3.0/24 (udp) is flooded with UDP datagrams", err)
        self.assertGreater(summarised, 1500)
        self.assertLessEqual(flood_rows, 2000 + 10)
        alerts = read_alerts(out)
        udp_alerts = [a for a in alerts if a["kind"] == "udp_flood"]
        self.assertTrue(udp_alerts, [a["kind"] for a in alerts])
        # One alert about the network, none about any of its hosts.
        self.assertEqual({a["interface"] for a in udp_alerts}, {"10.0.3.0/24"})
        self.assertEqual({a["dst_ip"] for a in udp_alerts}, {""})
        self.assertIn("every host of 10.0.3.0/24", udp_alerts[-1]["reason"])
        self.assertIn("from many sources", udp_alerts[-1]["reason"])

    def test_a_spoofed_syn_flood_at_a_few_hosts_of_a_network_is_one_alert_not_one_a_host(self):
        # 4,000 spoofed SYNs at 4,000/s at 16 hosts of 10.0.4.0/24: ~250 each, enough for each
        # host's own count of 100, but the flood is the network's: one alert about 10.0.4.0/24,
        # none about any of its hosts, nor the network-wide spray's ("many destinations": they
        # all went to this network).
        def flood(frames, t, k, rng):
            victim = f"10.0.4.{rng.randrange(16)}"
            frames.append((t, tcp(self.spoofed(rng), 1024 + rng.randrange(60000), victim, 80,
                                  SYN)))

        err, out, summarised, flood_rows = self.replay_floods("carpet-syn", 23, flood, 1)
        self.assertIn("every host of 10.0.4.0/24 (tcp) is flooded", err)
        syn_alerts = {a["id"]: a for a in read_alerts(out) if a["kind"] == "syn_flood"}
        self.assertTrue(syn_alerts, [a["kind"] for a in read_alerts(out)])
        self.assertEqual({a["interface"] for a in syn_alerts.values()}, {"10.0.4.0/24"})
        self.assertEqual({a["dst_ip"] for a in syn_alerts.values()}, {""})

    def test_a_flood_spread_over_neighbouring_networks_is_one_alert_about_their_block(self):
        # Carpet bombing of a /20: spoofed UDP datagrams and SYNs, 4,000/s each, at random hosts
        # of the 16 /24s of 10.1.0.0/20 (250/s a network: no network alone reaches its rate).
        # Alerts about the block (10.1.0.0/16) only, none about a network or a host.
        def flood(frames, t, k, rng):
            victim = f"10.1.{rng.randrange(16)}.{rng.randrange(256)}"
            frames.append((t, udp(self.spoofed(rng), 1024 + rng.randrange(60000), victim, 9999,
                                  b"u" * 64)))
            victim = f"10.1.{rng.randrange(16)}.{rng.randrange(256)}"
            frames.append((t + 0.0001, tcp(self.spoofed(rng), 1024 + rng.randrange(60000), victim,
                                           80, SYN)))

        err, out, summarised, flood_rows = self.replay_floods("carpet-block", 31, flood, 2)
        # The flow table summarises each flood for the block from its first judged half second
        # on, not a flow per packet (each /24 alone is under its rate).
        self.assertIn("every host of 10.1.0.0/16 (udp) is flooded", err)
        self.assertIn("every host of 10.1.0.0/16 (tcp) is flooded", err)
        self.assertGreater(summarised, 2 * 1500)
        self.assertLessEqual(flood_rows, 2 * 2000 + 10)
        rows = [a for a in read_alerts(out) if a["kind"] in ("udp_flood", "syn_flood")]
        # The block is the profile of both floods: one alert (the SYN flood's, the UDP flood's
        # evidence beside it).
        self.assertEqual({(a["id"], a["interface"], a["dst_ip"]) for a in rows},
                         {(rows[0]["id"], "10.1.0.0/16", "")}, rows)
        self.assertIn("to many hosts of neighbouring networks of 10.1.0.0/16", rows[0]["reason"])
        self.assertIn("from many sources", rows[0]["reason"])
        self.assertIn("(also: 1 udp_flood)", rows[-1]["reason"])
        # The alert's evidence: the packets to and from any host of the block, nothing else.
        pairs = ipv4_pairs(os.path.join(out, "evidence", f"alert-{rows[0]['id']}.pcap"))
        self.assertGreater(len(pairs), 5000)
        self.assertEqual([p for p in pairs if not any(a.startswith("10.1.") for a in p)], [])
        self.assertTrue(any(d.startswith("10.1.") and not s.startswith("10.1.") for s, d in pairs))

    def test_networks_of_a_block_flooded_together_are_one_alert_about_the_block(self):
        # 4,000 spoofed SYNs at 4,000/s at random hosts of 10.2.0.0/23 (2,000/s a /24), beside
        # the benign traffic: one alert about the block (10.2.0.0/16), none about either /24 or a
        # host. (The flow table's first summary of one /24 comes before the attempts of both are
        # judged, a second late: the block's rate must not be diluted by mixing the two.)
        def flood(frames, t, k, rng):
            victim = f"10.2.{rng.randrange(2)}.{rng.randrange(256)}"
            frames.append((t, tcp(self.spoofed(rng), 1024 + rng.randrange(60000), victim, 80,
                                  SYN)))

        err, out, summarised, flood_rows = self.replay_floods("block-syn", 41, flood, 2)
        self.assertIn("every host of 10.2.0.0/24 (tcp) is flooded", err)
        self.assertIn("every host of 10.2.1.0/24 (tcp) is flooded", err)
        rows = [a for a in read_alerts(out) if a["kind"] == "syn_flood"]
        self.assertEqual({(a["id"], a["interface"], a["dst_ip"]) for a in rows},
                         {(rows[0]["id"], "10.2.0.0/16", "")}, rows)
        self.assertIn("2 networks of 10.2.0.0/16 (10.2.0.0/24 to 10.2.1.0/24)", rows[-1]["reason"])

    def test_hosts_that_get_more_than_their_share_of_a_network_flood_are_part_of_its_alert(self):
        # UDP datagrams and echo requests spread over 10.0.5.0/24 and 10.0.6.0/24, 4,000/s each,
        # but 30 % of them at one host of each (1,200/s: over a host's own limits) and 70 % at
        # random hosts; each echo is answered. One alert about each network, none about a host.
        def flood(frames, t, k, rng):
            hot = rng.random() < 0.3
            victim = "10.0.5.7" if hot else f"10.0.5.{rng.randrange(256)}"
            frames.append((t, udp(self.spoofed(rng), 1024 + rng.randrange(60000), victim, 9999,
                                  b"u" * 64)))
            victim = "10.0.6.7" if hot else f"10.0.6.{rng.randrange(256)}"
            a = self.spoofed(rng)
            echo = struct.pack("!BBHHH", 8, 0, 0, rng.randrange(65536), k) + b"p" * 56
            reply = struct.pack("!BBHHH", 0, 0, 0, 0, k) + b"p" * 56
            frames.append((t + 0.0001, ETH + ipv4(a, victim, 1, echo)))
            frames.append((t + 0.0002, ETH + ipv4(victim, a, 1, reply)))

        err, out, summarised, flood_rows = self.replay_floods("carpet-hot", 29, flood, 4)
        self.assertIn("every host of 10.0.5.0/24 (udp) is flooded", err)
        self.assertIn("every host of 10.0.6.0/24 (icmp) is flooded", err)
        alerts = {a["id"]: a for a in read_alerts(out) if a["kind"] in ("udp_flood", "icmp_flood")}
        self.assertEqual(sorted((a["kind"], a["interface"], a["dst_ip"]) for a in alerts.values()),
                         [("icmp_flood", "10.0.6.0/24", ""), ("udp_flood", "10.0.5.0/24", "")])

    def test_a_spoofed_ack_flood_is_summarised_and_alerted_at_its_victim(self):
        # hping3 -A --flood --rand-source -p 80: 4,000 ACKs outside any connection at 4,000/s
        # beside the benign traffic; the victim resets each.
        def flood(frames, t, k, rng):
            a, sport = self.spoofed(rng), 1024 + rng.randrange(60000)
            frames.append((t, tcp(a, sport, "10.0.0.9", 80, ACK)))
            frames.append((t + 0.0001, tcp("10.0.0.9", 80, a, sport, RST)))

        err, out, summarised, flood_rows = self.replay_floods("ackflood", 17, flood, 1)
        self.assertIn("10.0.0.9/tcp is flooded with TCP packets outside any connection", err)
        self.assertGreater(summarised, 2 * 1500)  # ACKs and resets after the first half second
        self.assertLessEqual(flood_rows, 2000 + 10)
        alerts = read_alerts(out)
        tcp_alerts = [a for a in alerts if a["kind"] == "tcp_flood"]
        self.assertTrue(tcp_alerts, [a["kind"] for a in alerts])
        self.assertEqual({a["dst_ip"] for a in tcp_alerts}, {"10.0.0.9"})
        self.assertIn("outside any connection", tcp_alerts[-1]["reason"])
        self.assertFalse([a for a in alerts if a["kind"] == "syn_flood"])

    def test_a_spoofed_ack_flood_spread_over_a_network_is_summarised_and_alerted_at_it(self):
        # hping3 -A --flood --rand-source --rand-dest 10.0.7.x: 4,000 ACKs at 4,000/s outside any
        # connection, each to a random host of 10.0.7.0/24 (about 15 a second per host), each
        # reset by its host. One alert about the network, none about a host.
        def flood(frames, t, k, rng):
            a, sport = self.spoofed(rng), 1024 + rng.randrange(60000)
            victim = f"10.0.7.{rng.randrange(256)}"
            frames.append((t, tcp(a, sport, victim, 80, ACK)))
            frames.append((t + 0.0001, tcp(victim, 80, a, sport, RST)))

        err, out, summarised, flood_rows = self.replay_floods("ack-carpet", 37, flood, 1)
        self.assertIn("every host of 10.0.7.0/24 (tcp) is flooded with TCP packets outside any "
                      "connection", err)
        self.assertGreater(summarised, 2 * 1500)
        self.assertLessEqual(flood_rows, 2000 + 10)
        alerts = {a["id"]: a for a in read_alerts(out) if a["kind"] == "tcp_flood"}
        self.assertEqual({(a["interface"], a["dst_ip"]) for a in alerts.values()},
                         {("10.0.7.0/24", "")}, list(alerts.values()))
        self.assertIn("to every host of 10.0.7.0/24", list(alerts.values())[-1]["reason"])

    def test_benign_sources_raise_nothing(self):
        attackers = {"10.0.9.66", "10.0.9.77", "10.0.9.88", "10.0.9.99", ""}
        noisy = [a for a in read_alerts(self.out) if a["src_ip"] not in attackers
                 and a["kind"] not in ("syn_flood", "volume", "volume_forecast")]
        self.assertEqual(noisy, [])

    def test_a_benign_capture_stays_quiet(self):
        out = os.path.join(self.dir, "quiet")
        p = run(["monitor", "--pcap", self.benign, "-o", out, "--no-model"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(read_alerts(out), [])

    def test_learned_baseline_is_saved_and_reused_on_restart(self):
        out = os.path.join(self.dir, "learn")
        # 240 flows in 120 s of packet time: 0.5 min of warm-up is enough to fit a baseline.
        p = run(["monitor", "--pcap", self.benign, "-o", out, "--learn-baseline", "--warmup", "0.5",
                 "--no-dashboard"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("learning normal traffic", p.stderr)
        self.assertIn("scoring with this network's baseline, learned from", p.stderr)
        self.assertTrue(os.path.exists(os.path.join(out, "baseline", "manifest.json")), p.stderr)
        scored = int(re.search(r"\((\d+) scored", p.stderr).group(1))
        self.assertGreater(scored, 0, p.stderr)
        again = run(["monitor", "--pcap", self.benign, "-o", out, "--learn-baseline", "--warmup",
                     "0.5", "--no-dashboard"])
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("this network's baseline, loaded from", again.stderr)
        # Reused from the first flow on: every flow is scored this time.
        flows, scored = re.search(r"detection: (\d+) flows \((\d+) scored", again.stderr).groups()
        self.assertEqual(flows, scored, again.stderr)

    def test_without_a_model_option_the_default_model_scores_the_flows(self):
        default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models",
                               "default")
        self.assertTrue(os.path.exists(os.path.join(default, "manifest.json")), default)
        self.assertTrue(os.path.exists(os.path.join(default, "MODEL_CARD.md")))
        size = sum(os.path.getsize(os.path.join(default, f)) for f in os.listdir(default))
        self.assertLess(size, 10 * 1024 * 1024)
        out = os.path.join(self.dir, "default-model")
        p = run(["monitor", "--pcap", self.benign, "-o", out, "--no-dashboard"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stderr, r"scoring flows with \S*models/default")
        flows, scored = re.search(r"detection: (\d+) flows \((\d+) scored", p.stderr).groups()
        self.assertEqual(flows, scored, p.stderr)
        self.assertGreater(int(flows), 200)
        # Ordinary web and DNS sessions: the default model must not call them attacks.
        self.assertEqual([a for a in read_alerts(out) if a["kind"] == "flow_anomaly"], [])

    def test_learn_baseline_refuses_a_model_or_no_model(self):
        for extra in (["--no-model"], ["-m", self.dir]):
            p = run(["monitor", "--pcap", self.benign, "-o", os.path.join(self.dir, "x"),
                     "--learn-baseline"] + extra)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("--learn-baseline", p.stderr)

    def test_sqlite_holds_flows_alerts_and_traffic(self):
        db = sqlite3.connect(os.path.join(self.out, "netsentry.db"))
        flows = db.execute("select count(*) from flows").fetchone()[0]
        alerts = db.execute("select count(*) from alerts").fetchone()[0]
        traffic = db.execute("select count(*) from traffic").fetchone()[0]
        with open(os.path.join(self.out, "flows.csv")) as f:
            csv_flows = sum(1 for _ in f) - 1
        self.assertEqual(flows, csv_flows)
        self.assertGreater(alerts, 0)
        # Aggregate updates replace their alert's row: the store has one row per first alert.
        self.assertLessEqual(alerts, len(read_alerts(self.out)))
        self.assertGreater(traffic, 60)  # one per packet-time second (plus interfaces)
        kinds = {r[0] for r in db.execute("select distinct kind from alerts")}
        self.assertTrue({"port_scan", "brute_force", "udp_flood"} <= kinds, kinds)

    def test_traffic_csv_has_the_captures_seconds_in_the_seed_columns(self):
        with open(os.path.join(self.out, "network_traffic.csv")) as f:
            rows = list(csv.DictReader(f))
        self.assertGreater(len(rows), 100)
        self.assertEqual(list(rows[0])[:6], ["timestamp", "bytes_sent", "bytes_recv", "packets_sent",
                                             "packets_recv", "total_bytes"])
        peak = max(int(r["total_bytes"]) for r in rows)
        self.assertGreater(peak, 1_000_000)  # the UDP flood second: 20,000 packets of ~106 bytes

    def test_two_replays_give_the_same_alerts(self):
        out = os.path.join(self.dir, "again")
        p = run(["monitor", "--pcap", self.attacks, "-o", out, "--no-model", "--volume-limit",
                 "2000000"])
        self.assertEqual(p.returncode, 0, p.stderr)
        key = lambda rows: [(a["timestamp"], a["kind"], a["src_ip"], a["dst_ip"], a["dst_port"],
                             a["count"], a["severity"]) for a in rows]
        self.assertEqual(key(read_alerts(out)), key(read_alerts(self.out)))

    def test_volume_rule_fires_on_the_flood_second_and_suppression_drops_it(self):
        out = os.path.join(self.dir, "volume")
        p = run(["monitor", "--pcap", self.attacks, "-o", out, "--no-model"])
        self.assertEqual(p.returncode, 0, p.stderr)
        volume = [a for a in read_alerts(out) if a["kind"] == "volume"]
        self.assertTrue(volume)
        self.assertIn("exceeds the 100 kB/s limit", volume[0]["reason"])
        out2 = os.path.join(self.dir, "suppressed")
        p = run(["monitor", "--pcap", self.attacks, "-o", out2, "--no-model", "--suppress",
                 "kind=volume", "--suppress", "src=10.0.9.64/26 kind=port_scan"])
        self.assertEqual(p.returncode, 0, p.stderr)
        kinds = {a["kind"] for a in read_alerts(out2)}
        self.assertNotIn("volume", kinds)
        self.assertNotIn("port_scan", kinds)
        self.assertIn("brute_force", kinds)

    def test_config_file_sets_options_and_command_line_flags_win(self):
        cfg_dir = os.path.join(self.dir, "cfg")
        os.makedirs(cfg_dir)
        text = run(["--write-config"]).stdout
        self.assertIn("[monitor]", text)
        self.assertIn("volume-limit=100000", text)
        with open(os.path.join(cfg_dir, "netsentry.toml"), "w") as f:
            f.write(text.replace("port-scan-ports=100", "port-scan-ports=0"))
        p = run(["monitor", "--pcap", self.attacks, "-o", "out", "--no-model"], cwd=cfg_dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("port_scan", {a["kind"] for a in read_alerts(os.path.join(cfg_dir, "out"))})
        p = run(["monitor", "--pcap", self.attacks, "-o", "out2", "--no-model",
                 "--port-scan-ports", "100"], cwd=cfg_dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("port_scan", {a["kind"] for a in read_alerts(os.path.join(cfg_dir, "out2"))})

    def test_shipped_config_file_is_the_documented_defaults(self):
        shipped = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "netsentry.toml")
        with open(shipped) as f:
            self.assertEqual(f.read(), run(["--write-config"]).stdout)

    def test_sigterm_during_a_staying_replay_flushes_and_exits_0(self):
        out = os.path.join(self.dir, "stay")
        p = subprocess.Popen([BINARY, "monitor", "--pcap", self.attacks, "-o", out, "--no-model",
                              "--stay", "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        log = os.path.join(out, "network_analysis.log")
        while time.time() < deadline:
            if os.path.exists(log) and "staying up" in open(log).read():
                break
            time.sleep(0.1)
        # The page is served after the replay, with the replay's alerts.
        with open(log) as f:
            url = [l.split("dashboard on ")[1].split()[0] for l in f if "dashboard on " in l][0]
        with urllib.request.urlopen(url + "/api/alerts?limit=500", timeout=10) as r:
            served = json.loads(r.read())["alerts"]
        self.assertTrue({"port_scan", "brute_force"} <= {a["kind"] for a in served})
        # Acknowledging on the page reaches the SQLite store.
        ack_id = served[0]["id"]
        req = urllib.request.Request(f"{url}/api/alerts/{ack_id}/ack", data=b"", method="POST",
                                     headers={"Origin": url})  # as the page sends it
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.status, 200)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertTrue(read_alerts(out))
        db = sqlite3.connect(os.path.join(out, "netsentry.db"))
        acked = db.execute("select acknowledged from alerts where id = ?", (ack_id,)).fetchone()
        self.assertEqual(acked, (1,))
        self.assertIn("every file flushed", err)

    def test_finished_flows_reach_flows_csv_while_monitor_runs(self):
        # Three web sessions close at once; one UDP packet a second keeps the replay (paced in
        # packet time) going for 40 s. Their rows must be in flows.csv long before it ends.
        frames = []
        for k in range(3):
            web_session(frames, T0 + 0.5 + k * 0.1, f"10.0.0.{20 + k}", 40000 + k)
        for k in range(40):
            frames.append((T0 + 1 + k, udp("10.0.0.30", 5000, "10.0.0.31", 6000, b"tick")))
        pcap = os.path.join(self.dir, "paced.pcap")
        write_pcap(pcap, frames)
        out = os.path.join(self.dir, "paced")
        p = subprocess.Popen([BINARY, "monitor", "--pcap", pcap, "--speed", "1", "-o", out,
                              "--no-model", "--no-dashboard"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            started = time.time()
            rows = []
            # The sessions end after the 5 s linger; their rows are flushed about a second later.
            while time.time() - started < 15 and len(rows) < 3:
                time.sleep(0.2)
                if os.path.exists(os.path.join(out, "flows.csv")):
                    with open(os.path.join(out, "flows.csv")) as f:
                        rows = [r for r in csv.DictReader(f) if r["dst_port"] == "80"]
            self.assertEqual(len(rows), 3, "flows.csv did not get the closed sessions in 15 s")
            self.assertIsNone(p.poll(), "the replay ended before the check")
        finally:
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("every file flushed", err)

    def test_a_full_disk_is_an_alert_and_monitoring_goes_on(self):
        # A 150 KB file-size limit: flows.csv and the SQLite store hit it (EFBIG, like a full disk).
        out = os.path.join(self.dir, "full")
        p = subprocess.run(["bash", "-c", f"ulimit -f 150; exec {BINARY} monitor --pcap {self.attacks} "
                            f"-o {out} --no-model"], capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertIn("File too large", p.stderr)
        system = [a for a in read_alerts(out) if a["kind"] == "system"]
        self.assertTrue(system, p.stderr[-2000:])
        # One system alert per failing writer: the store's and flows.csv's (rows kept, resumed).
        reasons = " | ".join(a["reason"] for a in system)
        self.assertIn("SQLite store", reasons)
        self.assertIn("flows.csv: write failed", reasons)
        for a in system:
            self.assertIn("Monitoring continues", a["reason"])
        # Detection went on past the failure: the later attacks were still reported.
        self.assertIn("brute_force", {a["kind"] for a in read_alerts(out)})

    def test_unusable_model_bundle_is_one_clear_error(self):
        bundle = os.path.join(self.dir, "bundle")
        os.makedirs(bundle)
        with open(os.path.join(bundle, "manifest.json"), "w") as f:
            f.write("{}")
        p = run(["monitor", "--pcap", self.attacks, "-o", os.path.join(self.dir, "m"), "-m", bundle])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("manifest.json", p.stderr)
        self.assertLessEqual(len(p.stderr.strip().splitlines()), 2, p.stderr)


class SharedCaptures(unittest.TestCase):
    """The third-party attack captures in ../shared/datasets/pcaps."""

    def setUp(self):
        self.pcaps = os.path.join(DATASETS, "pcaps", "chrissanders-packets")
        if not os.path.isdir(self.pcaps):
            self.skipTest(f"{self.pcaps} absent")
        self.dir = tempfile.mkdtemp(prefix="ns-shared-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def replay(self, name):
        out = os.path.join(self.dir, os.path.basename(name))
        p = run(["monitor", "--pcap", os.path.join(self.pcaps, name), "-o", out, "--no-model"])
        self.assertEqual(p.returncode, 0, p.stderr)
        return read_alerts(out)

    def test_nmap_syn_scan_is_a_port_scan_from_the_scanner(self):
        alerts = [a for a in self.replay("synscan.pcapng") if a["kind"] == "port_scan"]
        self.assertTrue(alerts)
        self.assertTrue(all(a["src_ip"] == "172.16.0.8" and a["dst_ip"] == "64.13.134.52"
                            for a in alerts))
        self.assertIn("1,000 ports", alerts[-1]["reason"])

    def test_spoofed_syn_flood_is_reported(self):
        alerts = [a for a in self.replay("ppa1e/dosattack.pcap") if a["kind"] == "syn_flood"]
        self.assertTrue(alerts)

    def test_ftp_password_guessing_is_brute_force_from_the_attacker(self):
        alerts = [a for a in self.replay("ppa1e/ftp-crack.pcap") if a["kind"] == "brute_force"]
        self.assertTrue(alerts)
        self.assertTrue(all(a["src_ip"] == "10.234.125.254" and a["dst_port"] == "21"
                            for a in alerts))


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
