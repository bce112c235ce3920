#!/usr/bin/env python3
"""Tunnels, fragments and link types on traffic this test makes itself (fresh clone, no shared
data): `netsentry flows` must find the inner connection of every tunnel as a flow of its own whose
tunnel_parent is the outer flow's community_id, reassemble fragments (every wire packet counted in
the datagram's flow, with its ports), and read every link type.

  * crafted captures (Debian's python3-scapy): GRE, ERSPAN II/III, enhanced GRE (PPTP), VXLAN,
    Geneve, GTP-U, Teredo, AYIYA, IP-in-IP, 6in4, 4in6; IPv4/IPv6 fragments out of order,
    overlapping and a fragmented VXLAN packet; PPP, 802.11 under radiotap, 802.3 LLC/SNAP,
    802.1ah PBB, VN-Tag and three stacked VLAN tags;
  * real VXLAN between two network namespaces (this kernel has VXLAN but no GRE, Geneve, IP-in-IP
    or SIT): ping and an HTTP exchange through the tunnel, full-size packets that make the kernel
    fragment the outer UDP datagrams, and a large ping whose inner IP datagrams are fragmented;
    captured on the underlay with tcpdump. Needs root (skipped otherwise).

Exit 77 when scapy is missing. Usage: tunnel_capture_test.py NETSENTRY_BINARY
"""
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

SKIP = 77
BINARY = None

try:
    from scapy.all import (IP, IPv6, TCP, UDP, ICMP, GRE, Ether, Dot1Q, Dot1AD, Dot3, LLC, SNAP,
                           PPP, RadioTap, Dot11, Raw, fragment, fragment6, IPv6ExtHdrFragment,
                           wrpcap)
    from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III
    from scapy.contrib.geneve import GENEVE
    from scapy.contrib.gtp import GTP_U_Header
    from scapy.layers.l2 import GRE_PPTP
    from scapy.layers.vxlan import VXLAN
    HAVE_SCAPY = True
except ImportError:
    HAVE_SCAPY = False


def flows(path, *extra):
    with tempfile.NamedTemporaryFile(suffix=".csv") as out:
        p = subprocess.run([BINARY, "flows", path, "-o", out.name] + list(extra),
                           capture_output=True, text=True, timeout=120)
        with open(out.name) as f:
            rows = list(csv.DictReader(f))
    return rows, p


def inner_tcp():
    return (IP(src="172.16.0.1", dst="172.16.0.2") /
            TCP(sport=33000, dport=22, flags="S", seq=1000, window=1000))


def stamp(packets, t0=1_700_000_000.0):
    for i, p in enumerate(packets):
        p.time = t0 + i * 0.001
    return packets


class Crafted(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ns-tunnel-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, packets, linktype=None):
        path = os.path.join(self.dir, name)
        wrpcap(path, stamp(packets), linktype=linktype) if linktype else wrpcap(path, stamp(packets))
        return path

    def expect_inner(self, name, outer, proto="TCP", sport=33000, dport=22):
        rows, p = flows(self.write(name, [outer]))
        self.assertEqual(p.returncode, 0, p.stderr)
        inner = [r for r in rows if r["tunnel_parent"]]
        self.assertEqual(len(inner), 1, f"{name}: {rows}\n{p.stderr}")
        i = inner[0]
        self.assertEqual((i["Protocol"], int(i["src_port"]), int(i["dst_port"])),
                         (proto, sport, dport), name)
        outers = [r for r in rows if not r["tunnel_parent"]]
        self.assertEqual(len(outers), 1, name)
        self.assertEqual(i["tunnel_parent"], outers[0]["community_id"], name)
        self.assertIn("accounting: 1 packets = 1 in flows + 0 not in flows", p.stderr)
        return i, outers[0], p.stderr

    def test_gre_erspan_and_enhanced_gre(self):
        base = Ether() / IP(src="10.0.0.1", dst="10.0.0.2")
        self.expect_inner("gre.pcap", base / GRE(key_present=1, key=7) / inner_tcp())
        self.expect_inner("erspan2.pcap",
                          base / GRE(seqnum_present=1, sequence_number=3) / ERSPAN_II(ver=1, session_id=5) /
                          Ether() / inner_tcp())
        self.expect_inner("erspan3.pcap",
                          base / GRE(seqnum_present=1, sequence_number=3) / ERSPAN_III(session_id=5) /
                          Ether() / inner_tcp())
        ppp = PPP(proto=0x0021) / inner_tcp()
        pptp = GRE_PPTP(seqnum_present=1, sequence_number=9, payload_len=len(ppp), call_id=42)
        _, _, summary = self.expect_inner("pptp.pcap", base / pptp / ppp)
        self.assertIn("gre_pptp", summary)

    def test_udp_tunnels(self):
        outer = Ether() / IP(src="10.0.0.1", dst="10.0.0.2")
        self.expect_inner("vxlan.pcap", outer / UDP(sport=50000, dport=4789) / VXLAN(vni=42) /
                          Ether() / inner_tcp())
        self.expect_inner("geneve.pcap", outer / UDP(sport=50000, dport=6081) /
                          GENEVE(vni=42, proto=0x6558) / Ether() / inner_tcp())
        self.expect_inner("gtpu.pcap", outer / UDP(sport=2152, dport=2152) /
                          GTP_U_Header(teid=9, gtp_type=255) / inner_tcp())
        teredo = (IPv6(src="2001:0:4136:e378::1", dst="2001:db8::2") /
                  UDP(sport=5000, dport=53) / Raw(b"q" * 20))
        self.expect_inner("teredo.pcap", outer / UDP(sport=40000, dport=3544) / teredo,
                          proto="UDP", sport=5000, dport=53)
        ayiya = bytes([0x41, 0x52, 0x11, 0x04, 0, 0, 0, 1]) + b"\x00" * (16 + 20)
        self.expect_inner("ayiya.pcap", outer / UDP(sport=5072, dport=5072) / Raw(ayiya) /
                          inner_tcp())

    def test_ip_in_ip_six_in_four_and_four_in_six(self):
        self.expect_inner("ipip.pcap", Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / inner_tcp())
        six = IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=33000, dport=22, flags="S")
        self.expect_inner("6in4.pcap", Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / six)
        self.expect_inner("4in6.pcap",
                          Ether() / IPv6(src="2001:db8::a", dst="2001:db8::b") / inner_tcp())

    def test_fragments_are_reassembled_and_every_packet_counted(self):
        big = IP(src="10.1.0.1", dst="10.1.0.2", id=77) / UDP(sport=40000, dport=53) / Raw(b"x" * 3000)
        frags = fragment(big, fragsize=1000)
        self.assertEqual(len(frags), 4)
        # Out of order, one fragment twice (an overlap), plus IPv6 fragments.
        order = [Ether() / f for f in (frags[2], frags[0], frags[3], frags[0], frags[1])]
        v6 = (IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(id=5) /
              UDP(sport=5000, dport=5353) / Raw(b"y" * 2500))
        order += [Ether() / f for f in reversed(fragment6(v6, 1280))]
        rows, p = flows(self.write("frags.pcap", order))
        self.assertEqual(p.returncode, 0, p.stderr)
        udp = {(r["src_ip"], int(r["dst_port"])): r for r in rows}
        self.assertEqual(len(rows), 2, rows)
        v4 = udp[("10.1.0.1", 53)]
        self.assertEqual(int(v4["PacketCount"]), 5)  # every wire packet, the duplicate too
        self.assertEqual(int(v4["src_port"]), 40000)
        self.assertEqual(int(v4["orig_ip_bytes"]), sum(len(f) for f in frags) + len(frags[0]))
        six = udp[("2001:db8::1", 5353)]
        self.assertEqual(int(six["src_port"]), 5000)
        self.assertIn("overlapping", p.stderr)
        self.assertRegex(p.stderr, r"fragments: \d+ reassembled into 2 datagrams")
        # Without reassembly the later fragments have no ports.
        rows, _ = flows(os.path.join(self.dir, "frags.pcap"), "--no-reassembly")
        self.assertGreater(len(rows), 2)

    def test_a_fragmented_vxlan_packet_is_reassembled_then_decapsulated(self):
        pkt = (IP(src="10.0.0.1", dst="10.0.0.2", id=9) / UDP(sport=50000, dport=4789) /
               VXLAN(vni=42) / Ether() / inner_tcp() / Raw(b"z" * 2000))
        frames = [Ether() / f for f in fragment(pkt, fragsize=1200)]
        rows, p = flows(self.write("vxlan-frag.pcap", frames))
        self.assertEqual(p.returncode, 0, p.stderr)
        inner = [r for r in rows if r["tunnel_parent"]]
        outer = [r for r in rows if not r["tunnel_parent"]]
        self.assertEqual(len(inner), 1, rows)
        self.assertEqual(len(outer), 1, rows)
        self.assertEqual(int(outer[0]["PacketCount"]), len(frames))
        self.assertEqual(int(outer[0]["dst_port"]), 4789)
        self.assertEqual(inner[0]["tunnel_parent"], outer[0]["community_id"])

    def test_link_types_and_encapsulations(self):
        ip = IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=40000, dport=80, flags="S")
        cases = {
            "ppp.pcap": ([PPP(proto=0x0021) / ip], 9),
            "radiotap.pcap": ([RadioTap() / Dot11(type=2, subtype=0, FCfield="to-DS") /
                               LLC() / SNAP(code=0x0800) / ip], 127),
            "llc-snap.pcap": ([Dot3() / LLC() / SNAP(code=0x0800) / ip], 1),
            "qinqinq.pcap": ([Ether() / Dot1AD(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / ip], 1),
            "pbb.pcap": ([Ether(type=0x88E7) / Raw(bytes([0, 0, 0, 100]) + bytes(Ether(type=0x0800)))
                          / ip], 1),
            "vntag.pcap": ([Ether(type=0x8926) / Raw(bytes([0x80, 1, 0, 2, 0x08, 0x00])) / ip], 1),
        }
        for name, (packets, linktype) in cases.items():
            path = os.path.join(self.dir, name)
            wrpcap(path, stamp(packets), linktype=linktype)
            rows, p = flows(path)
            self.assertEqual(p.returncode, 0, f"{name}: {p.stderr}")
            self.assertEqual(len(rows), 1, f"{name}: {p.stderr}")
            self.assertEqual((rows[0]["Protocol"], rows[0]["dst_port"]), ("TCP", "80"), name)
            self.assertIn("= 1 in flows + 0 not in flows", p.stderr, name)


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


class RealVxlan(unittest.TestCase):
    """VXLAN between two private namespaces (names contain "flowvx"), traffic through it."""

    A, B = "flowvx-a", "flowvx-b"

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root for network namespaces")
        if shutil.which("tcpdump") is None:
            raise unittest.SkipTest("tcpdump is not installed")
        cls.dir = tempfile.mkdtemp(prefix="ns-vxlan-")
        cls.teardown_namespaces()
        try:
            sh("ip", "netns", "add", cls.A)
            sh("ip", "netns", "add", cls.B)
        except subprocess.CalledProcessError as e:
            raise unittest.SkipTest(f"cannot create network namespaces: {e.stderr.strip()}")
        a = ["ip", "netns", "exec", cls.A]
        b = ["ip", "netns", "exec", cls.B]
        sh("ip", "link", "add", "flowvx-va", "netns", cls.A, "type", "veth", "peer", "name",
           "flowvx-vb", "netns", cls.B)
        for ns, dev, addr in ((a, "flowvx-va", "10.251.0.1/24"), (b, "flowvx-vb", "10.251.0.2/24")):
            sh(*ns, "ip", "link", "set", "lo", "up")
            sh(*ns, "ip", "addr", "add", addr, "dev", dev)
            sh(*ns, "ip", "link", "set", dev, "up")
            # Offloads off: the capture shows packets as they go on the wire.
            sh(*ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off", check=False)
        try:
            for ns, dev, remote, addr in ((a, "flowvx-va", "10.251.0.2", "10.252.0.1/24"),
                                          (b, "flowvx-vb", "10.251.0.1", "10.252.0.2/24")):
                sh(*ns, "ip", "link", "add", "flowvx-x", "type", "vxlan", "id", "42", "remote",
                   remote, "dstport", "4789", "dev", dev)
                sh(*ns, "ip", "addr", "add", addr, "dev", "flowvx-x")
                sh(*ns, "ip", "link", "set", "flowvx-x", "up")
                sh(*ns, "ethtool", "-K", "flowvx-x", "tso", "off", "gso", "off", check=False)
                # A smaller underlay MTU than the tunnel's (1450 + 50): full-size inner packets
                # make the kernel fragment the outer UDP datagrams.
                sh(*ns, "ip", "link", "set", dev, "mtu", "1400")
        except subprocess.CalledProcessError as e:
            cls.teardown_namespaces()
            raise unittest.SkipTest(f"no VXLAN devices here: {e.stderr.strip()}")
        cls.capture = os.path.join(cls.dir, "underlay.pcap")
        dump = subprocess.Popen(a + ["tcpdump", "-i", "flowvx-va", "-U", "-s", "0", "-w", cls.capture],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        server = None
        try:
            time.sleep(1.0)
            sh(*a, "ping", "-c", "3", "-i", "0.2", "10.252.0.2")
            # A large ping: the inner IP datagrams are fragmented (inside the tunnel).
            sh(*a, "ping", "-c", "2", "-i", "0.2", "-s", "3000", "10.252.0.2")
            root = os.path.join(cls.dir, "www")
            os.makedirs(root)
            with open(os.path.join(root, "big"), "wb") as f:
                f.write(os.urandom(200_000))
            server = subprocess.Popen(b + [sys.executable, "-m", "http.server", "--bind", "10.252.0.2",
                                           "8080", "--directory", root],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(50):
                if sh(*a, "curl", "-s", "-o", "/dev/null", "http://10.252.0.2:8080/",
                      check=False).returncode == 0:
                    break
                time.sleep(0.1)
            sh(*a, "curl", "-s", "-o", "/dev/null", "http://10.252.0.2:8080/big")
            time.sleep(1.0)
        finally:
            if server:
                server.terminate()
                server.wait()
            dump.terminate()
            dump.wait()

    @classmethod
    def teardown_namespaces(cls):
        for ns in (cls.A, cls.B):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    @classmethod
    def tearDownClass(cls):
        cls.teardown_namespaces()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_inner_connections_have_the_outer_flow_as_parent(self):
        rows, p = flows(self.capture)
        self.assertEqual(p.returncode, 0, p.stderr)
        outer = {r["community_id"]: r for r in rows if not r["tunnel_parent"]}
        inner = [r for r in rows if r["tunnel_parent"]]
        self.assertTrue(all(r["Protocol"] == "UDP" and r["dst_port"] == "4789"
                            for r in outer.values()
                            if r["src_ip"].startswith("10.251.")), rows)
        for r in inner:
            self.assertIn(r["tunnel_parent"], outer, r)
        http = [r for r in inner if r["Protocol"] == "TCP" and r["dst_port"] == "8080"]
        served = [r for r in http if int(r["Total Length of Bwd Packet"]) > 0]
        self.assertGreaterEqual(len(served), 2, inner)
        for r in http:
            self.assertEqual(r["src_ip"], "10.252.0.1")
            if r in served:
                self.assertEqual(r["conn_state"], "SF", r)
                self.assertTrue(r["history"].startswith("ShAD"), r["history"])
            else:
                # curl's tries before the server listened: refused.
                self.assertEqual((r["conn_state"], r["history"]), ("REJ", "Sr"), r)
        big = max(served, key=lambda r: int(r["Total Length of Bwd Packet"]))
        self.assertGreaterEqual(int(big["Total Length of Bwd Packet"]), 200_000)
        pings = [r for r in inner if r["Protocol"] == "ICMP" and r["src_ip"] == "10.252.0.1"]
        self.assertTrue(pings, inner)
        # Full-size inner packets were fragmented as outer UDP datagrams and put back together;
        # the large pings were fragmented inside the tunnel.
        self.assertRegex(p.stderr, r"fragments: [1-9]\d* reassembled")
        self.assertIn("vxlan", p.stderr)
        self.assertIn("= ", p.stderr)


def main():
    global BINARY
    if len(sys.argv) < 2:
        sys.exit("usage: tunnel_capture_test.py NETSENTRY_BINARY")
    BINARY = os.path.abspath(sys.argv[1])
    if not HAVE_SCAPY:
        # The first python3 on PATH may lack Debian's scapy; /usr/bin/python3 has it.
        if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
            os.execv("/usr/bin/python3", ["/usr/bin/python3", os.path.abspath(__file__)] + sys.argv[1:])
        print("SKIPPED: python3-scapy is not installed (scripts/setup --test installs it)")
        return SKIP
    result = unittest.main(argv=[sys.argv[0]], exit=False, verbosity=2).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
