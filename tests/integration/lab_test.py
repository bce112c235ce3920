#!/usr/bin/env python3
"""Tests of the traffic lab (scripts/lab): the synthetic capture and its labels, read back with
`netsentry flows`; and, when run as root with network namespaces available, a short real lab run
whose capture must hold each attack's packets inside its labelled window and nothing else, whose WAN
links must show their configured delay and loss, with IPv6, multicast and the real services'
traffic, and after which no namespace, daemon or relay is left.

Usage: lab_test.py NETSENTRY_BINARY   (run by ctest; exit 77 when every test was skipped)
"""
import csv
import datetime
import hashlib
import ipaddress
import json
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
         "brute_force", "exfiltration", "c2_beacon"}  # the synthetic capture's kinds
BENIGN = {"10.77.0.%d" % i for i in range(10, 20)}
LAB_NET = ipaddress.ip_network("10.77.0.0/16")
LAB_NETS6 = [ipaddress.ip_network(n) for n in ("fd77::/64", "fe80::/10", "ff02::/16", "::/128")]
MULTICAST4 = ipaddress.ip_network("224.0.0.0/4")


def read_packets(path, frames=False):
    """(linktype, [(ts, src, dst, proto, frame length)]) of a classic Ethernet pcap's IPv4 packets
    (None addresses for anything else); with frames=True each tuple also holds the ethertype, the
    source MAC and the raw frame. Written here and not imported from the lab so the lab's writer and
    its summary are checked by an independent reader."""
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
            row = (sec + usec / 1e6, src, dst, frame[23], orig)
        elif frames and len(frame) >= 54 and frame[12:14] == b"\x86\xdd":
            src = str(ipaddress.IPv6Address(frame[22:38]))
            dst = str(ipaddress.IPv6Address(frame[38:54]))
            row = (sec + usec / 1e6, src, dst, frame[20], orig)
        else:
            row = (sec + usec / 1e6, None, None, None, orig)
        if frames:
            row += (frame[12:14].hex(), ":".join("%02x" % b for b in frame[6:12]), frame)
        out.append(row)
    return linktype, out


def slaac(mac):
    """The address a host forms in fd77::/64 from its MAC (modified EUI-64)."""
    m = [int(x, 16) for x in mac.split(":")]
    eui = "%02x%02x:%02xff:fe%02x:%02x%02x" % (m[0] ^ 2, m[1], m[2], m[3], m[4], m[5])
    return str(ipaddress.IPv6Address("fd77::" + eui))


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

    def test_c2_beacon_is_short_tls_connections_at_jittered_intervals(self):
        beacons = sorted(epoch(f["start_time"]) for f in self.flows_of(self.episode("c2_beacon"))
                         if f["dst_port"] == "443")
        self.assertGreaterEqual(len(beacons), 12)
        gaps = [b - a for a, b in zip(beacons, beacons[1:])]
        self.assertTrue(all(20 <= g <= 40 for g in gaps), gaps)
        self.assertGreater(max(gaps) - min(gaps), 3, "the intervals are not jittered")

    def test_benign_ipv6_neighbour_discovery_dhcp_and_mdns(self):
        _, frames = read_packets(self.pcap, frames=True)
        icmp6 = {f[7][54] for f in frames if f[5] == "86dd" and f[3] == 58}
        self.assertTrue({133, 134, 135, 136} <= icmp6, icmp6)
        dhcp = [f for f in frames if f[3] == 17 and f[5] == "0800"
                and struct.unpack_from("!HH", f[7], 34) in ((68, 67), (67, 68))]
        self.assertGreaterEqual(len(dhcp), 4)
        self.assertTrue(any(f[2] == "255.255.255.255" for f in dhcp), "no broadcast DISCOVER")
        self.assertTrue(any(f[2] == "224.0.0.251" for f in frames), "no mDNS")

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
# (measured runs show 5-50 times more; the floor catches a phase that silently did nothing). ARP and
# ND spoofing count frames from the attacker's MAC (an ARP reply has no IP source of its own).
MIN_PACKETS = {"port_scan": 20, "host_scan": 200, "syn_flood": 2000, "udp_flood": 2000,
               "icmp_flood": 2000, "slow_http": 50, "brute_force": 20, "exfiltration": 8,
               "service_scan": 50, "credential_stuffing": 20, "dns_exfiltration": 5,
               "https_exfiltration": 10, "c2_beacon": 20, "slow_post": 50, "arp_spoof": 5,
               "nd_spoof": 4}
TOOLS = {"port_scan": "nmap", "host_scan": "nmap", "syn_flood": "hping3", "udp_flood": "hping3",
         "icmp_flood": "hping3", "slow_http": "slowhttptest", "brute_force": "hydra",
         "exfiltration": "python3", "service_scan": "nmap", "credential_stuffing": "hydra",
         "dns_exfiltration": "dnsmasq", "https_exfiltration": "nginx", "c2_beacon": "nginx",
         "slow_post": "slowhttptest", "arp_spoof": "arpspoof", "nd_spoof": "scapy"}


def tool_installed(tool):
    if tool == "scapy":
        return subprocess.run(["/usr/bin/python3", "-c", "import scapy"],
                              capture_output=True).returncode == 0
    return bool(shutil.which(tool) or os.path.exists(f"/usr/sbin/{tool}"))


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
        cls.log, _ = p.communicate(timeout=600)
        cls.lab_pid = p.pid
        if p.returncode != 0:
            raise AssertionError(f"scripts/lab (real) exited {p.returncode}:\n{cls.log}")
        cls.pcap = os.path.join(cls.out, "capture.pcap")
        _, cls.episodes = read_labels(os.path.join(cls.out, "labels.csv"))
        _, cls.packets = read_packets(cls.pcap)
        _, cls.frames = read_packets(cls.pcap, frames=True)
        with open(os.path.join(cls.out, "lab.json")) as f:
            cls.summary = json.load(f)
        cls.hosts = cls.summary["hosts"]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_every_installed_attack_tool_produced_its_episodes(self):
        kinds = {e["kind"] for e in self.episodes}
        for kind, tool in TOOLS.items():
            if tool_installed(tool):
                self.assertIn(kind, kinds, self.log)

    def test_every_episode_has_packets_from_its_source_inside_its_window(self):
        mac = {h["ipv4"]: h["mac"] for h in self.hosts.values()}
        mac.update({h["ipv6"]: h["mac"] for h in self.hosts.values() if h["ipv6"]})
        for e in self.episodes:
            with self.subTest(kind=e["kind"], description=e["description"]):
                start, end = float(e["start"]), float(e["end"])
                if e["kind"] in ("arp_spoof", "nd_spoof"):
                    n = sum(1 for f in self.frames if f[6] == mac[e["src"]] and start <= f[0] <= end)
                else:
                    n = sum(1 for f in self.frames if f[1] == e["src"] and start <= f[0] <= end)
                self.assertGreaterEqual(n, MIN_PACKETS[e["kind"]], e)

    def test_spoofing_episodes_carry_forged_neighbour_answers(self):
        by_kind = {e["kind"]: e for e in self.episodes}
        if "arp_spoof" in by_kind:
            e = by_kind["arp_spoof"]
            attacker = self.hosts["arp"]["mac"]
            # ARP replies from the attacker's MAC claiming the victim's or the target's address.
            forged = [f for f in self.frames if f[5] == "0806" and f[6] == attacker
                      and f[7][20:22] == b"\x00\x02"
                      and ".".join(map(str, f[7][28:32])) in (e["dst"], "10.77.0.1")]
            self.assertGreaterEqual(len(forged), 3)
        if "nd_spoof" in by_kind:
            attacker = self.hosts["nd"]["mac"]
            adverts = [f for f in self.frames if f[5] == "86dd" and f[6] == attacker
                       and f[3] == 58 and f[7][54] == 136]
            self.assertGreaterEqual(len(adverts), 3)
            target = str(ipaddress.IPv6Address(adverts[0][7][62:78]))
            self.assertEqual(target, "fd77::1")

    def test_wan_links_apply_their_delay_and_loss(self):
        """Measured from the capture (taken at the servers' switch): the time from a server's
        SYN-ACK to the client's ACK is the client's link round trip (twice the configured one-way
        delay), and missing sequence numbers of the clients' monitor pings are upstream losses."""
        synack, rtts, pings = {}, {}, {}
        for f in self.frames:
            frame = f[7]
            if f[5] == "86dd":
                l4 = 54
            elif f[5] == "0800":
                l4 = 14 + (frame[14] & 0x0F) * 4
            else:
                continue
            if f[3] == 6 and len(frame) >= l4 + 14:
                sport, dport = struct.unpack_from("!HH", frame, l4)
                flags = frame[l4 + 13]
                if flags & 0x12 == 0x12:
                    synack[(f[2], dport)] = f[0]
                elif flags & 0x10 and not flags & 0x07 and (f[1], sport) in synack:
                    rtts.setdefault(f[1], []).append(f[0] - synack.pop((f[1], sport)))
            elif (f[5] == "0800" and f[3] == 1 and len(frame) >= l4 + 8 and frame[l4] == 8
                  and f[2] == "10.77.0.1"):
                pings.setdefault(f[1], set()).add(struct.unpack_from("!H", frame, l4 + 6)[0])
        checked, expected_lost, lost, sent = 0, 0.0, 0, 0
        for name, h in self.hosts.items():
            if h["role"] != "benign":
                continue
            link = h.get("link")
            r = sorted(rtts.get(h["ipv4"], []) + rtts.get(slaac(h["mac"]), []))
            seqs = pings.get(h["ipv4"], set())
            self.assertGreater(len(seqs), 20, f"{name}: too few monitor pings")
            n = max(seqs) - min(seqs) + 1
            with self.subTest(host=name, link=link):
                if not link:
                    self.assertEqual(n, len(seqs), f"{name}: a LAN client lost pings")
                    if r:
                        self.assertLess(r[len(r) // 2], 0.005)
                    continue
                if len(r) >= 2:
                    want = 2 * link["delay_ms"] / 1000
                    tolerance = 0.3 * want + 2 * link["jitter_ms"] / 1000 + 0.004
                    self.assertLess(abs(r[len(r) // 2] - want), tolerance,
                                    f"{name}: median handshake RTT {r[len(r) // 2]:.4f} s, "
                                    f"configured delay {link['delay_ms']} ms each way")
                    checked += 1
                expected_lost += n * link["loss"]
                lost += n - len(seqs)
                sent += n
        self.assertGreaterEqual(checked, 4, "too few WAN clients with handshakes to measure")
        # Binomial: the lost pings of all WAN clients within 3 standard deviations (+2).
        self.assertLess(abs(lost - expected_lost), 3 * expected_lost ** 0.5 + 2,
                        f"{lost} of {sent} pings lost upstream, {expected_lost:.1f} expected")
        self.assertGreater(lost, 0)

    def test_ipv6_slaac_neighbour_discovery_and_multicast_are_in_the_capture(self):
        v6 = [f for f in self.frames if f[5] == "86dd"]
        self.assertGreater(len(v6), 100)
        icmp6 = {f[7][54] for f in v6 if f[3] == 58}
        for t, what in ((134, "router advertisement"), (135, "neighbour solicitation"),
                        (136, "neighbour advertisement")):
            self.assertIn(t, icmp6, what)
        # SLAAC: every client checks (duplicate address detection: a solicitation from ::) the
        # global address it forms in fd77::/64 from its MAC; the IPv6-preferring ones use it.
        sources = {f[1] for f in v6}
        dad = {str(ipaddress.IPv6Address(f[7][62:78])) for f in v6
               if f[1] == "::" and f[3] == 58 and f[7][54] == 135}
        for h in self.hosts.values():
            if h["role"] == "benign":
                self.assertIn(slaac(h["mac"]), dad, f"{h['ipv4']}: no SLAAC address")
                if h["prefer_v6"]:
                    self.assertIn(slaac(h["mac"]), sources, f"{h['ipv4']}: no IPv6 traffic")
        groups = {f[2] for f in self.frames if f[2]}
        for group in ("224.0.0.251", "239.255.255.250", "ff02::fb"):
            self.assertIn(group, groups, f"no multicast chatter to {group}")

    def test_real_services_carry_benign_traffic(self):
        clients = set(BENIGN) | {slaac(h["mac"]) for h in self.hosts.values() if h["role"] == "benign"}
        v6 = {"10.77.0.1": "fd77::1", "10.77.0.2": "fd77::2", "10.77.0.3": "fd77::3"}
        ports = {}
        for f in self.frames:
            if f[1] in clients and f[3] in (6, 17) and f[5] in ("0800", "86dd"):
                l4 = 54 if f[5] == "86dd" else 14 + (f[7][14] & 0x0F) * 4
                dport = struct.unpack_from("!H", f[7], l4 + 2)[0]
                ports[(f[2], dport)] = ports.get((f[2], dport), 0) + 1
        up = self.summary["services"]
        wanted = [("nginx", "10.77.0.1", 443), ("dnsmasq", "10.77.0.3", 53),
                  ("chronyd", "10.77.0.2", 123), ("mosquitto", "10.77.0.2", 1883),
                  ("smtp", "10.77.0.2", 25), ("postgres", "10.77.0.2", 5432)]
        for service, addr, port in wanted:
            with self.subTest(service=service):
                if service not in up or up[service].get("failed"):
                    self.skipTest(f"{service} did not run: {up.get(service)}")
                n = ports.get((addr, port), 0) + ports.get((v6[addr], port), 0)
                self.assertGreater(n, 0, f"no benign traffic to {service}")

    def test_benign_browsers_leave_kept_alive_web_connections_idle(self):
        # A browser keeps its connection after the last object (the shared capture debian/test.pcap
        # has 3.3 s of it); the lab's curl clients close at once. At least one benign web
        # connection must carry an answer and then stay idle a second or more before a FIN.
        clients = set(BENIGN) | {slaac(h["mac"]) for h in self.hosts.values() if h["role"] == "benign"}
        conns = {}
        for f in self.frames:
            if f[3] != 6 or f[5] not in ("0800", "86dd"):
                continue
            raw = f[7]
            l4 = 54 if f[5] == "86dd" else 14 + (raw[14] & 0x0F) * 4
            ip_payload = (struct.unpack_from("!H", raw, 18)[0] if f[5] == "86dd"
                          else struct.unpack_from("!H", raw, 16)[0] - (raw[14] & 0x0F) * 4)
            sport, dport = struct.unpack_from("!HH", raw, l4)
            payload, flags = ip_payload - (raw[l4 + 12] >> 4) * 4, raw[l4 + 13]
            if f[1] in clients and dport in (80, 443):
                key, from_server = (f[1], sport, f[2], dport), False
            elif f[2] in clients and sport in (80, 443):
                key, from_server = (f[2], dport, f[1], sport), True
            else:
                continue
            c = conns.setdefault(key, {"answer": None, "last_data": None, "fin": None})
            if payload > 0 and c["fin"] is None:
                c["last_data"] = f[0]
                if from_server:
                    c["answer"] = f[0]
            if flags & 0x01 and c["fin"] is None:
                c["fin"] = f[0]
        idle = [c["fin"] - c["last_data"] for c in conns.values()
                if c["answer"] is not None and c["fin"] is not None]
        self.assertGreater(len(idle), 10, "too few finished benign web connections")
        self.assertTrue(any(i >= 1.0 for i in idle),
                        f"no benign web connection idled 1 s before closing: max {max(idle):.2f} s")

    def test_benign_clients_talk_throughout_the_run(self):
        benign = [p for p in self.packets if p[1] in BENIGN]
        self.assertGreater(len(benign), 200)
        span = self.packets[-1][0] - self.packets[0][0]
        self.assertGreater(benign[-1][0] - benign[0][0], 0.8 * span)
        self.assertFalse({e["src"] for e in self.episodes} & BENIGN)

    def test_capture_holds_only_lab_addresses_and_real_sized_packets(self):
        def inside(addr):
            a = ipaddress.ip_address(addr)
            if a.version == 4:
                return a in LAB_NET or a in MULTICAST4
            return any(a in n for n in LAB_NETS6)

        outside = [f[:5] for f in self.frames if f[1] and not (inside(f[1]) and inside(f[2]))]
        self.assertEqual(outside, [])
        self.assertLessEqual(max(p[4] for p in self.packets), 1514, "offloads were not turned off")
        # A loaded machine may drop a few flood packets; more would make the capture untrustworthy.
        tcpdump = self.summary["tcpdump"]
        self.assertLessEqual(tcpdump.get("dropped_by_kernel", 0), 0.01 * tcpdump["captured"])

    def test_netsentry_reads_the_capture_into_flows_from_every_attacker(self):
        rows = flows(self.pcap, os.path.join(self.dir, "flows.csv"))
        sources = {f["src_ip"] for f in rows} | {f["dst_ip"] for f in rows}
        for e in self.episodes:
            if e["kind"] != "arp_spoof":  # ARP frames make no IP flows
                self.assertIn(e["src"], sources, e)

    def test_no_namespace_daemon_or_relay_is_left_behind(self):
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        self.assertNotIn(f"nslab-{self.lab_pid}-", names)
        workdir = self.summary["workdir"]
        self.assertFalse(os.path.exists(workdir))
        left = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if workdir.encode() in f.read():
                            left.append(pid)
                except OSError:
                    pass
        self.assertEqual(left, [], "processes of the lab still run")


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
