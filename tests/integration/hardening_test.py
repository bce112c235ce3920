#!/usr/bin/env python3
"""Integration tests for the faults and hostile inputs of issue 12, one per defect, each written to
fail before its fix: a full disk under `monitor --pcap` (a 2 MB tmpfs in a private mount
namespace), SIGHUP, broken configuration files, `train` over an existing bundle (non-UTF-8 label,
a failing write), `--listen` with `--pcap`, unusable `--out`, readable range errors, CSV input
limits, and interface / process names that are not UTF-8 (a veth and a prctl(PR_SET_NAME) process
in a network namespace, live and through `dashboard --db`). Tests that need root, unshare or
network namespaces skip themselves with a message when those are missing.

Usage: hardening_test.py NETSENTRY_BINARY   (run by ctest)
"""
import json
import os
import random
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

BINARY = None
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
T0 = 1_767_225_600


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_pcap(path, packets=2000, seconds=60.0, flows=400):
    """UDP request/response pairs between many hosts, spread over `seconds` of packet time."""
    rng = random.Random(7)
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(packets):
            ts = T0 + seconds * i / packets
            flow = rng.randrange(flows)
            src = bytes([10, 1, flow // 250, flow % 250 + 1])
            dst = bytes([10, 2, 0, 1 + flow % 7])
            payload = b"p" * rng.randrange(20, 200)
            udp = struct.pack("!HHHH", 20000 + flow, 53, 8 + len(payload), 0) + payload
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, src, dst)
            frame = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + udp
            sec = int(ts)
            f.write(struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(frame), len(frame)))
            f.write(frame)


def get(url, headers=None, timeout=5):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for_server(url, proc, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            get(url + "/api/stats", timeout=1)
            return True
        except OSError:
            time.sleep(0.1)
    return False


def is_root():
    return os.geteuid() == 0


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="netsentry-hardening-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def run_ns(self, args, timeout=120, **kw):
        return subprocess.run([BINARY] + args, capture_output=True, timeout=timeout, cwd=self.tmp,
                              **kw)


class FullDisk(Base):
    """1. A 2 MB tmpfs as --out: monitoring goes on, says so, exits 0, rows stay whole."""

    def test_monitor_survives_a_full_disk(self):
        if not is_root() or shutil.which("unshare") is None:
            self.skipTest("needs root and unshare for a private tmpfs")
        cap = self.path("big.pcap")
        subprocess.run([sys.executable, os.path.join(REPO, "bench", "make_capture.py"), "synthetic",
                        cap, "--packets", "400000", "--flows", "30000"], check=True,
                       capture_output=True)
        out = self.path("out")
        os.mkdir(out)
        script = (f"mount -t tmpfs -o size=2m netsentry-harden-tmpfs {out} && "
                  f"{BINARY} monitor --pcap {cap} --speed max -o {out} --no-model; "
                  f"rc=$?; for f in {out}/*.csv; do printf '%s ' \"$(basename $f)\"; "
                  f"tail -c 1 \"$f\" | od -An -c; done; exit $rc")
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, timeout=600, text=True, errors="replace",
                           cwd=self.tmp)
        if "mount" in r.stderr and "permission denied" in r.stderr.lower():
            self.skipTest("cannot mount a tmpfs here: " + r.stderr.strip()[:200])
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertIn("No space left on device", r.stderr)
        self.assertIn("Monitoring continues", r.stderr)
        # The last line says which rows the disk did not take, instead of "every file flushed".
        self.assertIn("files flushed, except", r.stderr)
        # The last byte of every CSV is a line end: no row was cut in two.
        for line in r.stdout.strip().splitlines():
            self.assertTrue(line.rstrip().endswith("\\n"), line)


    def test_writing_resumes_when_space_returns(self):
        if not is_root() or shutil.which("unshare") is None:
            self.skipTest("needs root and unshare for a private tmpfs")
        cap = self.path("long.pcap")
        # 6000 flows over 1000 s of packet time: at --speed 50 flows.csv fills 2 MB within a few
        # seconds; the folder grows to 64 MB at 9 s; the replay ends at about 20 s.
        write_pcap(cap, packets=24000, seconds=1000, flows=6000)
        out = self.path("out")
        os.mkdir(out)
        script = (f"mount -t tmpfs -o size=2m netsentry-harden-tmpfs {out} || exit 90; "
                  f"{BINARY} monitor --pcap {cap} --speed 50 -o {out} --no-model & pid=$!; "
                  f"sleep 9; mount -o remount,size=64m {out}; wait $pid; rc=$?; "
                  f"cp {out}/flows.csv {self.tmp}/flows-copy.csv; exit $rc")
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, timeout=600, text=True, errors="replace",
                           cwd=self.tmp)
        if r.returncode == 90:
            self.skipTest("cannot mount a tmpfs here: " + r.stderr.strip()[:200])
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertIn("No space left on device", r.stderr)
        self.assertIn("flows.csv: writing again", r.stderr)
        self.assertNotIn("files flushed, except", r.stderr)
        with open(self.path("flows-copy.csv"), "rb") as f:
            lines = f.read().split(b"\n")
        self.assertEqual(lines[-1], b"")  # ends with a line end
        fields = lines[0].count(b",")
        cut = [i for i, line in enumerate(lines[1:-1], 2) if line.count(b",") != fields]
        self.assertEqual(cut, [], "rows cut or merged")
        self.assertGreater(len(lines), 3000)  # rows from before and after the disk was full


class Signals(Base):
    """9. SIGHUP is a clean stop: exit 0, every file flushed with whole rows."""

    def test_sighup_stops_cleanly(self):
        cap = self.path("slow.pcap")
        write_pcap(cap, packets=3000, seconds=300)
        out = self.path("out")
        proc = subprocess.Popen([BINARY, "monitor", "--pcap", cap, "--speed", "1", "-o", out,
                                 "--no-model", "--no-dashboard"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=self.tmp)
        time.sleep(3)
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err.decode(errors="replace")[-2000:])
        self.assertIn(b"every file flushed", err)
        for name in ("network_traffic.csv", "flows.csv"):
            with open(os.path.join(out, name), "rb") as f:
                data = f.read()
            self.assertTrue(data.endswith(b"\n"), name)


class ConfigFiles(Base):
    """10. A broken configuration file: one line naming file and line, non-zero exit."""

    def check(self, text, expected):
        path = self.path("bad.toml")
        with open(path, "wb") as f:
            f.write(text)
        r = self.run_ns(["--config", path, "monitor", "--no-capture", "--duration", "1",
                         "-o", self.path("out")])
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertIn(expected.encode(), r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_bad_section_header(self):
        self.check(b"[monitor\nspeed = \"10\"\n", "bad.toml:1:")

    def test_unknown_section(self):
        self.check(b"[monitr]\nspeed = \"10\"\n", "bad.toml:1: unknown section [monitr]")

    def test_unknown_key(self):
        self.check(b"[monitor]\n\nspeeed = \"10\"\n", "bad.toml:3: unknown key \"speeed\"")

    def test_binary_garbage(self):
        self.check(b"\x7fELF\x02\x01\x01\x00\x00\x00", "bad.toml:1: not a TOML text file")

    def test_a_value_of_the_wrong_type_names_file_and_line(self):
        self.check(b"[monitor]\npromisc = \"maybe\"\n", "bad.toml:2: ")
        self.check(b"[monitor]\n# interval\n\ninterval = \"abc\"\n", "bad.toml:4: --interval")

    def test_a_value_out_of_range_names_file_and_line(self):
        self.check(b"[monitor]\nmax-flows = 0\n", "bad.toml:2: --max-flows")

    def test_the_command_line_value_is_not_blamed_on_the_file(self):
        path = self.path("ok.toml")
        with open(path, "wb") as f:
            f.write(b"[monitor]\nmax-flows = 100000\n")
        r = self.run_ns(["--config", path, "monitor", "--no-capture", "--duration", "1",
                         "--max-flows", "0", "-o", self.path("out")])
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"--max-flows", r.stderr)
        self.assertNotIn(b"ok.toml", r.stderr)

    def test_the_shipped_file_passes(self):
        shutil.copy(os.path.join(REPO, "netsentry.toml"), self.path("netsentry.toml"))
        # Without the dashboard: the file's port (8050) may be taken on this machine (a netsentry
        # someone runs), and binding it is not what this test checks.
        r = self.run_ns(["monitor", "--no-capture", "--duration", "1", "--no-dashboard",
                         "-o", self.path("out")])
        self.assertEqual(r.returncode, 0, r.stderr)


def training_csv(path, protocol_bytes=b"UDP"):
    """The original project's schema; some rows' Protocol (a categorical input, so a value in the
    bundle's manifest) is `protocol_bytes`."""
    rng = random.Random(3)
    rows = [b"Duration,PacketCount,ByteCount,SourcePort,DestinationPort,Protocol,Label"]
    for i in range(400):
        attack = i % 4 == 0
        rows.append(b"%.3f,%d,%d,%d,%d,%s,%s" % (
            rng.random() * (0.1 if attack else 5), rng.randrange(1, 5 if attack else 80),
            rng.randrange(40, 200 if attack else 90000), 40000 + i, 22 if attack else 443,
            protocol_bytes if i % 3 == 0 else b"TCP", b"Attack" if attack else b"Normal"))
    with open(path, "wb") as f:
        f.write(b"\n".join(rows) + b"\n")


def snapshot(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                out[os.path.relpath(os.path.join(root, name), folder)] = f.read()
    return out


class AtomicOutputs(Base):
    """3. train writes its bundle whole or not at all."""

    def train(self, data, bundle, **kw):
        return self.run_ns(["train", "--data", data, "-o", bundle, "--models", "if,rf",
                            "--threads", "1"], timeout=300, **kw)

    def test_non_utf8_label_gives_a_valid_manifest(self):
        data = self.path("labels.csv")
        training_csv(data, b"U\xffDP")
        bundle = self.path("bundle")
        r = self.train(data, bundle)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        with open(os.path.join(bundle, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        self.assertIn("u\ufffddp", json.dumps(manifest, ensure_ascii=False).lower())

    def test_a_failing_train_leaves_the_previous_bundle(self):
        data = self.path("good.csv")
        training_csv(data)
        bundle = self.path("bundle")
        r = self.train(data, bundle)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        before = snapshot(bundle)
        self.assertIn("manifest.json", before)

        def small_files():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (2048, resource.RLIM_INFINITY))

        r = self.train(data, bundle, preexec_fn=small_files)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(snapshot(bundle), before, "the previous bundle changed")
        leftovers = [n for n in os.listdir(self.tmp) if n.startswith(".bundle")]
        self.assertEqual(leftovers, [])


class Messages(Base):
    def test_unusable_out_says_what_and_where(self):
        blocker = self.path("file")
        open(blocker, "w").close()
        r = self.run_ns(["monitor", "--no-capture", "--duration", "1", "-o",
                         os.path.join(blocker, "sub")])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"cannot create the output folder", r.stderr)
        self.assertIn(blocker.encode(), r.stderr)
        self.assertNotIn(b"internal error", r.stderr)

    def test_range_errors_are_readable(self):
        r = self.run_ns(["monitor", "--idle-timeout", "-5", "--no-capture"])
        self.assertNotEqual(r.returncode, 0)
        self.assertLess(len(r.stderr), 400, r.stderr)
        self.assertNotIn(b"1797693134862315", r.stderr)

    def test_csv_errors_escape_control_bytes(self):
        data = self.path("ctl.csv")
        with open(data, "wb") as f:
            f.write(b"Duration,PacketCount,ByteCount,SourcePort,DestinationPort,Protocol,Label\n"
                    b"1,\x1b[31mred,3,4,5,TCP,Normal\n")
        r = self.run_ns(["train", "--data", data, "--models", "if,rf", "-o", self.path("b")])
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn(b"\x1b", r.stderr)
        self.assertIn(b"\\x1b", r.stderr)
        self.assertIn(b"ctl.csv:2:", r.stderr)

    def test_data_from_dev_zero_is_refused_clearly(self):
        r = self.run_ns(["train", "--data", "/dev/zero", "--models", "if,rf", "-o", self.path("b")],
                        timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"/dev/zero:1: line longer than", r.stderr)
        self.assertNotIn(b"bad_alloc", r.stderr)

    def test_duplicate_header_names_are_refused_with_position(self):
        data = self.path("dup.csv")
        with open(data, "wb") as f:
            f.write(b"a,b,a,label\n1,2,3,0\n")
        r = self.run_ns(["train", "--data", data, "--label-column", "label", "--models", "if,rf",
                         "-o", self.path("b")])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"dup.csv:1:3: column \"a\" repeats column 1", r.stderr)


class ListenWithPcap(Base):
    def test_listen_serves_while_the_replay_runs(self):
        cap = self.path("slow.pcap")
        write_pcap(cap, packets=2000, seconds=120)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen([BINARY, "monitor", "--pcap", cap, "--speed", "1", "-o",
                                 self.path("out"), "--no-model", "--listen", f"127.0.0.1:{port}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.tmp)
        try:
            self.assertTrue(wait_for_server(url, proc), "the replay did not serve its page")
            status, body = get(url + "/api/stats")
            self.assertEqual(status, 200)
            # Capacities are reported, not 0 (low item of issue 12).
            for _ in range(30):
                stats = json.loads(get(url + "/api/stats")[1])
                if stats["queues"]:
                    break
                time.sleep(0.2)
            self.assertGreater(stats["health"]["flow_table_capacity"], 0)
            queues = {q["name"]: q for q in stats["queues"]}
            self.assertGreater(queues["sqlite writer"]["capacity"], 0, queues)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err[-2000:])
        self.assertIn(b"until the replay ends", err)


HELPER = r"""
import ctypes, socket, sys, time
ctypes.CDLL(None).prctl(15, b"ns\xff\xfe\xc0", 0, 0, 0)   # PR_SET_NAME
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
c = socket.create_connection(s.getsockname()); a, _ = s.accept()
print("ready", flush=True)
time.sleep(float(sys.argv[1]))
"""

CLIENT = r"""
import json, sys, urllib.request, urllib.error
out = {}
for path in sys.argv[2:]:
    try:
        with urllib.request.urlopen(sys.argv[1] + path, timeout=5) as r:
            out[path] = [r.status, r.read().decode("utf-8")]
    except urllib.error.HTTPError as e:
        out[path] = [e.code, e.read().decode("utf-8", "replace")]
    except Exception as e:
        out[path] = [0, repr(e)]
print(json.dumps(out))
"""


class NonUtf8Names(Base):
    """2. An interface and a process named with invalid UTF-8: no exit, no 500."""

    def setUp(self):
        super().setUp()
        if not is_root() or shutil.which("ip") is None:
            self.skipTest("needs root and iproute2 for a network namespace")
        self.ns = f"harden-utf8-{os.getpid()}"
        r = subprocess.run(["ip", "netns", "add", self.ns], capture_output=True)
        if r.returncode != 0:
            self.skipTest("cannot create a network namespace: " + r.stderr.decode()[:200])
        self.in_ns = ["ip", "netns", "exec", self.ns]
        subprocess.run(self.in_ns + ["ip", "link", "set", "lo", "up"], check=True)
        r = subprocess.run(self.in_ns + ["ip", "link", "add", b"\xff\xfe", "type", "veth", "peer",
                                         "name", "harden-peer"], capture_output=True)
        if r.returncode != 0:
            self.skipTest("cannot create a veth: " + r.stderr.decode(errors="replace")[:200])
        subprocess.run(self.in_ns + ["ip", "link", "set", b"\xff\xfe", "up"], check=True)
        subprocess.run(self.in_ns + ["ip", "link", "set", "harden-peer", "up"], check=True)

    def tearDown(self):
        subprocess.run(["ip", "netns", "delete", self.ns], capture_output=True)
        super().tearDown()

    def query(self, url, *paths):
        r = subprocess.run(self.in_ns + [sys.executable, "-c", CLIENT, url] + list(paths),
                           capture_output=True, timeout=60)
        return json.loads(r.stdout)

    def test_live_monitor_and_dashboard_db(self):
        helper = subprocess.Popen(self.in_ns + [sys.executable, "-c", HELPER, "60"],
                                  stdout=subprocess.PIPE)
        self.assertEqual(helper.stdout.readline().strip(), b"ready")
        out = self.path("out")
        # Fixed ports below the namespace's ephemeral range (32768-60999): the helper's sockets
        # take ephemeral ports, and a port picked by free_port() in the host's namespace could
        # be the helper's listening one here (the dashboard then cannot bind, and the query
        # waits on the helper's backlog until it times out; CI saw that once).
        port = 18050
        url = f"http://127.0.0.1:{port}"
        monitor = subprocess.Popen(self.in_ns + [BINARY, "monitor", "-i", "lo", "-o", out,
                                                 "--no-model", "--listen", f"127.0.0.1:{port}"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.tmp)
        try:
            # Until the first samples name the veth and the helper (a few seconds; more on a
            # loaded machine), at most 60 s: the checks below then say what was missing.
            deadline = time.monotonic() + 60
            while True:
                time.sleep(1)
                self.assertIsNone(monitor.poll(), "monitor exited")
                res = self.query(url, "/api/stats", "/api/connections", "/api/traffic?window=60",
                                 "/api/traffic?interface=%FF%FE", "/metrics")
                if time.monotonic() > deadline or (
                        "\ufffd\ufffd" in res["/api/stats"][1]
                        and "ns\ufffd" in res["/api/connections"][1]):
                    break
            for path, (status, body) in res.items():
                expected = 400 if "%FF" in path else 200
                self.assertEqual(status, expected, f"{path}: {body[:300]}")
            self.assertIn("\ufffd\ufffd", res["/api/stats"][1])  # the veth's name
            self.assertIn("ns\ufffd", res["/api/connections"][1])  # the process name
            time.sleep(1)
            self.assertIsNone(monitor.poll(), "monitor exited")
        finally:
            monitor.send_signal(signal.SIGTERM)
            _, err = monitor.communicate(timeout=60)
        self.assertEqual(monitor.returncode, 0, err[-2000:])
        with open(os.path.join(out, "network_traffic.csv"), "rb") as f:
            f.read().decode("utf-8")  # the CSV files stay UTF-8
        with open(os.path.join(out, "network_connections.csv"), "rb") as f:
            self.assertIn("ns\ufffd", f.read().decode("utf-8"))

        port = 18051
        url = f"http://127.0.0.1:{port}"
        dash = subprocess.Popen(self.in_ns + [BINARY, "dashboard", "--db",
                                              os.path.join(out, "netsentry.db"),
                                              "--listen", f"127.0.0.1:{port}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.tmp)
        res = {}
        try:
            # It prints its address once it serves; on a loaded machine that can take a while.
            if b"netsentry dashboard: " in dash.stdout.readline():
                res = self.query(url, "/api/stats", "/api/connections", "/api/traffic?window=600")
        finally:
            dash.send_signal(signal.SIGTERM)
            _, err = dash.communicate(timeout=60)
            helper.kill()
            helper.wait()
        self.assertEqual(dash.returncode, 0, f"the dashboard failed: {err[-2000:]!r}")
        self.assertEqual(len(res), 3, res)
        for path, (status, body) in res.items():
            self.assertEqual(status, 200, f"dashboard --db {path}: {body[:300]}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
