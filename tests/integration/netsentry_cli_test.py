#!/usr/bin/env python3
"""End-to-end tests of the netsentry binary: flows on generated captures, error handling on damaged
inputs, watch on a fake /proc, shutdown flushing on SIGTERM, monitor's capture-permission fallback,
and live capture on the loopback of a private network namespace.

Usage: netsentry_cli_test.py NETSENTRY_BINARY   (run by ctest)
"""
import csv
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest

BINARY = None
DATASETS = os.environ.get("NETSENTRY_DATASETS") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "datasets")


def ipv4(src, dst, proto, payload, ident=1):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, 64, proto, 0,
                       bytes(src), bytes(dst)) + payload


def tcp(sport, dport, flags, payload=b"", window=29200, seq=1, ack=0):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0) + payload


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp_echo(payload=b"x" * 8):
    return struct.pack("!BBHHH", 8, 0, 0, 1, 1) + payload


def ether(l3):
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + l3


def write_pcap(path, frames, nano=False, linktype=1):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for ts, data in frames:
            sec = int(ts)
            frac = round((ts - sec) * (1e9 if nano else 1e6))
            f.write(struct.pack("<IIII", sec, frac, len(data), len(data)) + data)


A, B, C = [10, 0, 0, 1], [10, 0, 0, 2], [10, 0, 0, 3]
T0 = 1_700_000_000.0


def conversation():
    """A TCP connection (handshake, data both ways, FIN/FIN/ACK), a DNS exchange, a ping."""
    syn, ack, psh, fin = 0x02, 0x10, 0x18, 0x11
    f = [
        (T0 + 0.000, ether(ipv4(A, B, 6, tcp(40000, 80, syn)))),
        (T0 + 0.010, ether(ipv4(B, A, 6, tcp(80, 40000, syn | ack, window=65160)))),
        (T0 + 0.020, ether(ipv4(A, B, 6, tcp(40000, 80, ack)))),
        (T0 + 0.030, ether(ipv4(A, B, 6, tcp(40000, 80, psh, b"GET / HTTP/1.1\r\n\r\n")))),
        (T0 + 0.050, ether(ipv4(B, A, 6, tcp(80, 40000, psh, b"x" * 1000)))),
        (T0 + 0.060, ether(ipv4(A, B, 6, tcp(40000, 80, fin)))),
        (T0 + 0.070, ether(ipv4(B, A, 6, tcp(80, 40000, fin)))),
        (T0 + 0.080, ether(ipv4(A, B, 6, tcp(40000, 80, ack)))),
        (T0 + 0.100, ether(ipv4(C, B, 17, udp(5353, 53, b"q" * 30)))),
        (T0 + 0.105, ether(ipv4(B, C, 17, udp(53, 5353, b"r" * 90)))),
        (T0 + 0.200, ether(ipv4(A, C, 1, icmp_echo()))),
    ]
    return f


def run(args, **kw):
    return subprocess.run([BINARY] + args, capture_output=True, text=True, timeout=120, **kw)


class FlowsCommand(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ns-cli-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def flows(self, frames, *extra, nano=False, linktype=1):
        cap = os.path.join(self.dir, "c.pcap")
        write_pcap(cap, frames, nano=nano, linktype=linktype)
        out = os.path.join(self.dir, "flows.csv")
        p = run(["flows", cap, "-o", out] + list(extra))
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out) as f:
            return list(csv.DictReader(f)), p.stderr

    def test_writes_one_record_per_flow_with_initiator_counts_and_bytes(self):
        rows, summary = self.flows(conversation())
        self.assertEqual(len(rows), 3)
        by_proto = {r["Protocol"]: r for r in rows}
        t = by_proto["TCP"]
        self.assertEqual((t["src_ip"], t["src_port"], t["dst_ip"], t["dst_port"]),
                         ("10.0.0.1", "40000", "10.0.0.2", "80"))
        self.assertEqual(t["PacketCount"], "8")
        self.assertEqual(t["Total Fwd Packet"], "5")
        self.assertEqual(t["Total Bwd packets"], "3")
        self.assertEqual(t["Total Length of Fwd Packet"], "18")
        self.assertEqual(t["Total Length of Bwd Packet"], "1000")
        self.assertEqual(t["end_reason"], "fin")
        self.assertEqual(t["FWD Init Win Bytes"], "29200")
        self.assertEqual(t["Bwd Init Win Bytes"], "65160")
        self.assertAlmostEqual(float(t["Flow Duration"]), 80000, places=3)  # microseconds
        self.assertAlmostEqual(float(t["Duration"]), 0.08, places=6)      # seconds
        wire = sum(len(fr) for _, fr in conversation()[:8])
        self.assertEqual(int(t["ByteCount"]), wire)
        u = by_proto["UDP"]
        self.assertEqual((u["src_ip"], u["dst_port"], u["PacketCount"]), ("10.0.0.3", "53", "2"))
        self.assertEqual(by_proto["ICMP"]["ICMP Type"], "8")
        self.assertIn("packets: 11", summary)
        self.assertIn("flows: 3 written", summary)
        self.assertIn("packets/s", summary)

    def test_cic_preset_does_not_write_one_packet_flows(self):
        rows, summary = self.flows(conversation(), "--cic")
        self.assertEqual(sorted(r["Protocol"] for r in rows), ["TCP", "UDP"])
        self.assertIn("one-packet flows not written", summary)

    def test_jsonl_output_has_the_same_flows(self):
        cap = os.path.join(self.dir, "c.pcap")
        write_pcap(cap, conversation(), nano=True)
        p = run(["flows", cap, "--format", "jsonl"])
        self.assertEqual(p.returncode, 0, p.stderr)
        records = [json.loads(l) for l in p.stdout.splitlines()]
        self.assertEqual(len(records), 3)
        tcp_rec = next(r for r in records if r["Protocol"] == "TCP")
        self.assertEqual(tcp_rec["PacketCount"], 8)
        self.assertEqual(len(tcp_rec["packets"]), 8)

    def test_idle_timeout_splits_a_conversation(self):
        frames = [(T0, ether(ipv4(C, B, 17, udp(1, 2, b"a")))),
                  (T0 + 10, ether(ipv4(C, B, 17, udp(1, 2, b"b"))))]
        rows, _ = self.flows(frames, "--idle-timeout", "5")
        self.assertEqual(len(rows), 2)
        self.assertEqual(rows[0]["end_reason"], "idle")

    def test_malformed_packets_are_counted_by_reason_and_never_crash(self):
        bad = [(T0 + i * 0.001, ether(ipv4(A, B, 6, tcp(1, 2, 0x02))[:20 + i])) for i in range(0, 20)]
        rows, summary = self.flows(conversation() + bad)
        self.assertIn("malformed: 20", summary)
        self.assertIn("truncated_tcp", summary)

    def test_raw_ip_link_type(self):
        frames = [(ts, fr[14:]) for ts, fr in conversation()]
        rows, _ = self.flows(frames, linktype=101)
        self.assertEqual(len(rows), 3)

    def test_version_names_the_memory_allocator_it_runs_with(self):
        # CMake's NETSENTRY_JEMALLOC links jemalloc into the executable (ctest says which to expect);
        # --version asks the running process, so a dropped link shows as "glibc malloc".
        p = run(["--version"])
        self.assertEqual(p.returncode, 0, p.stderr)
        line = next((l for l in p.stdout.splitlines() if l.startswith("memory allocator: ")), None)
        self.assertIsNotNone(line, p.stdout)
        expected = os.environ.get("NETSENTRY_EXPECT_ALLOCATOR")
        if expected == "jemalloc":
            self.assertRegex(line, r"^memory allocator: jemalloc \d+\.\d+\.\d+$")
        elif expected == "glibc":
            self.assertEqual(line, "memory allocator: glibc malloc")

    def test_missing_file_is_one_clear_line_and_exit_1(self):
        p = run(["flows", os.path.join(self.dir, "nope.pcap")])
        self.assertEqual(p.returncode, 1)
        self.assertIn("nope.pcap", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)

    def test_unsupported_link_type_is_counted_and_named_not_refused(self):
        cap = os.path.join(self.dir, "w.pcap")
        write_pcap(cap, conversation(), linktype=195)  # IEEE 802.15.4: not decoded
        p = run(["flows", cap, "-o", os.devnull])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("11 unsupported_link_type (ieee802_15_4_withfcs 11)", p.stderr)
        self.assertIn("accounting: 11 packets = 0 in flows + 11 not in flows", p.stderr)

    def test_damaged_shared_captures_are_reported_not_crashed_on(self):
        base = os.path.join(DATASETS, "pcaps", "debian")
        if not os.path.isdir(base):
            self.skipTest(f"{base} absent")
        for name in ("test_damaged.pcap", "test_without_pcap_header.pcap", "truncated_dns.pcap",
                     "truncated_dns_2.pcap"):
            p = run(["flows", os.path.join(base, name), "-o", os.devnull])
            self.assertIn(p.returncode, (0, 1), name)
            self.assertGreater(p.returncode, -1, f"{name} crashed: {p.stderr}")
            if p.returncode == 1:
                self.assertIn(name, p.stderr)


class WatchCommand(unittest.TestCase):
    def setUp(self):
        self.proc = tempfile.mkdtemp(prefix="ns-proc-")
        self.out = tempfile.mkdtemp(prefix="ns-out-")
        os.makedirs(os.path.join(self.proc, "net"))
        self.set_counters(1000, 2000)
        with open(os.path.join(self.proc, "net", "tcp"), "w") as f:
            f.write("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
                    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0 100 0 0 10 0\n")

    def tearDown(self):
        shutil.rmtree(self.proc, ignore_errors=True)
        shutil.rmtree(self.out, ignore_errors=True)

    def set_counters(self, rx, tx):
        with open(os.path.join(self.proc, "net", "dev"), "w") as f:
            f.write("Inter-|   Receive                                                |  Transmit\n"
                    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
                    f"  eth0: {rx} 10 0 0 0 0 0 0 {tx} 20 0 0 0 0 0 0\n")

    def read(self, name):
        with open(os.path.join(self.out, name)) as f:
            return list(csv.reader(f))

    def test_writes_seed_compatible_traffic_and_connection_files(self):
        p = run(["watch", "--proc", self.proc, "-o", self.out, "--duration", "1.1", "--interval", "0.25"])
        self.assertEqual(p.returncode, 0, p.stderr)
        traffic = self.read("network_traffic.csv")
        self.assertEqual(traffic[0][:6], ["timestamp", "bytes_sent", "bytes_recv", "packets_sent",
                                          "packets_recv", "total_bytes"])
        self.assertGreaterEqual(len(traffic), 3)
        conns = self.read("network_connections.csv")
        self.assertEqual(conns[0][:7], ["timestamp", "local_ip", "local_port", "remote_ip",
                                        "remote_port", "status", "type"])
        self.assertEqual(conns[1][1:7], ["127.0.0.1", "8080", "", "", "LISTEN", "SOCK_STREAM"])
        self.assertTrue(os.path.exists(os.path.join(self.out, "network_analysis.log")))

    def test_sigterm_flushes_every_file_and_exits_0(self):
        proc = subprocess.Popen([BINARY, "watch", "--proc", self.proc, "-o", self.out, "--interval", "0.2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_log(self.out, "recording counters")
        time.sleep(0.5)
        self.set_counters(5000, 9000)  # 4000 B received and 7000 sent since the last sample
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        self.assertEqual(proc.returncode, 0, err)
        traffic = self.read("network_traffic.csv")
        sent = sum(float(r[1]) * 0.2 for r in traffic[1:])
        self.assertTrue(any(float(r[1]) > 0 for r in traffic[1:]), traffic)
        self.assertAlmostEqual(sent, 7000, delta=7000 * 0.5)
        with open(os.path.join(self.out, "network_analysis.log")) as f:
            self.assertIn("stopped", f.read())


def wait_for_log(out_dir, text, timeout=30):
    """Waits until network_analysis.log in out_dir contains text (the program is up)."""
    path = os.path.join(out_dir, "network_analysis.log")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                if text in f.read():
                    return
        time.sleep(0.05)
    raise AssertionError(f"{path} never said {text!r}")


def can_namespace():
    return os.geteuid() == 0 and shutil.which("unshare") and subprocess.run(
        ["unshare", "-n", "true"], capture_output=True).returncode == 0


class MonitorCommand(unittest.TestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="ns-mon-")
        os.chmod(self.out, 0o777)

    def tearDown(self):
        shutil.rmtree(self.out, ignore_errors=True)

    def test_without_capture_permission_explains_and_keeps_recording_counters(self):
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            self.skipTest("needs root and setpriv to drop privileges")
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "--inh-caps=-all", BINARY, "monitor", "-i", "lo", "-o", self.out,
                            "--duration", "1.5", "--interval", "0.25", "--listen", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("setcap cap_net_raw,cap_net_admin+eip", p.stderr)
        self.assertIn("counters and connections only", p.stderr)
        with open(os.path.join(self.out, "network_traffic.csv")) as f:
            self.assertGreaterEqual(len(f.readlines()), 3)

    def test_live_capture_on_a_private_loopback_writes_flows(self):
        if not can_namespace():
            self.skipTest("needs root and unshare -n for a private network namespace")
        traffic = (
            "import socket,time\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            "for i in range(20): s.sendto(b'x'*100,('127.0.0.1',9999)); time.sleep(0.01)\n"
            "l=socket.socket(); l.bind(('127.0.0.1',8081)); l.listen()\n"
            "c=socket.create_connection(('127.0.0.1',8081)); a,_=l.accept()\n"
            "c.sendall(b'hello'*100); a.recv(1000); a.sendall(b'y'*2000); c.recv(4000)\n"
            "c.close(); a.close(); time.sleep(1.2)\n"
            "import urllib.request\n"
            "print(urllib.request.urlopen('http://127.0.0.1:8050/api/stats', timeout=5).read().decode())\n")
        script = (f"ip link set lo up; {BINARY} monitor -i lo -o {self.out} --duration 4 --interval 0.5 "
                  f"--idle-timeout 1 & pid=$!; "
                  f"for i in $(seq 300); do grep -q 'capturing on' {self.out}/network_analysis.log 2>/dev/null && break; sleep 0.1; done; "
                  f"python3 -c \"{traffic}\"; wait $pid")
        p = subprocess.run(["unshare", "-n", "bash", "-c", script], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        # The live dashboard's API answered while monitoring, with the capture's counters.
        stats = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertGreater(stats["packets_total"], 20)
        self.assertIn("health", stats)
        with open(os.path.join(self.out, "flows.csv")) as f:
            rows = list(csv.DictReader(f))
        udp_flows = [r for r in rows if r["Protocol"] == "UDP" and r["dst_port"] == "9999"]
        tcp_flows = [r for r in rows if r["Protocol"] == "TCP" and r["dst_port"] == "8081"]
        self.assertEqual(len(udp_flows), 1, rows)
        self.assertEqual(udp_flows[0]["PacketCount"], "20")
        self.assertEqual(len(tcp_flows), 1, rows)
        self.assertEqual(tcp_flows[0]["Total Length of Fwd Packet"], "500")
        self.assertEqual(tcp_flows[0]["Total Length of Bwd Packet"], "2000")


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
