#!/usr/bin/env python3
"""Sensors publish to NATS JetStream, a hub serves them all (issue #15), on loopback only. Each test
starts its own `nats-server -js` on a free port with its own storage folder and stops it.

  * three sensors replay different generated captures into one stream; the hub's store holds
    exactly the flows, alerts and traffic rows of each sensor's own store (counts and ids), and
    one cross-sensor alert names the two sensors that saw the same scanner;
  * the hub is killed (SIGKILL) mid-replay and started again: nothing lost, nothing twice;
  * nats-server is stopped during a replay and started again: the sensor spools, then sends in
    order; nothing lost;
  * a sensor started while no broker runs replays at once into its spool, and its next run
    sends that first;
  * `collect --publish` (fed by `monitor --export-ipfix`) is one more sensor at the hub;
  * a second hub with its own durable consumer reads the same stream completely;
  * the JSON form of the messages is read by the hub as well;
  * a 3-node cluster with a 3-replica stream: the sensor's node stops mid-replay, nothing is
    lost;
  * a broker that wants a user and password: a wrong password keeps everything spooled (and
    never holds the sensor), the right one delivers;
  * a TLS-only broker: with --nats-tls-ca a sensor and a hub get through, without it nothing
    leaves the spool.

Usage: bus_test.py NETSENTRY_BINARY   (run by ctest; exit 77 = skipped when nats-server is absent)
"""
import json
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
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import monitor_replay_test as gen  # noqa: E402  (the capture generators)

BINARY = None
NATS = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port():
    return free_ports(1)[0]


def free_ports(n):
    """n distinct free loopback ports: each socket stays bound until all are chosen (one at a time,
    the kernel may hand the same port out twice, and a cluster whose route port is another node's
    client port never elects a leader)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class NatsServer:
    """nats-server -js on a free loopback port with its own storage folder."""

    def __init__(self, folder, extra=()):
        self.port = free_port()
        self.store = os.path.join(folder, "jetstream")
        self.log = os.path.join(folder, "nats.log")
        self.extra = list(extra)
        self.proc = None
        self.start()

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"

    def start(self):
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([NATS, "-js", "-a", "127.0.0.1", "-p", str(self.port),
                                          "-sd", self.store] + self.extra, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server did not start on {self.port}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
        self.proc = None


def capture(path, seed, attacks):
    """A minute of benign traffic (different clients per seed) plus the given attacks."""
    frames = []
    rng = gen.random.Random(seed)
    gen.benign(frames, seconds=60, rng=rng)
    for attack in attacks:
        attack(frames)
    # Different clients per sensor: shift the benign client addresses by the seed.
    gen.write_pcap(path, frames)


def sensor(binary, pcap, out, url, name, speed="max", extra=(), wait=True):
    cmd = [binary, "monitor", "--pcap", pcap, "--speed", speed, "--no-model", "-o", out,
           "--publish", url, "--sensor", name] + list(extra)
    if "--publish-drain" not in extra:
        cmd += ["--publish-drain", "60"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if wait:
        output, _ = proc.communicate(timeout=240)
        if proc.returncode != 0:
            raise AssertionError(f"sensor {name} failed ({proc.returncode}):\n{output}")
        return output
    return proc


def hub(binary, url, out, durable="netsentry-hub", extra=()):
    return subprocess.Popen([binary, "hub", "--nats", url, "-o", out, "--durable", durable,
                             "--no-dashboard", "--ack-wait", "2"] + list(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    return out


def rows(db, sql, args=()):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


# What must arrive at the hub as the sensor stored it, beside the id.
FLOW_FIELDS = ("start_ns, src_ip, src_port, dst_ip, dst_port, ip_proto, packets, bytes, verdict, "
               "community_id, orig_ip_bytes, resp_ip_bytes, conn_state, history, tunnel_parent")


def sensor_state(db):
    """What a sensor's own store holds: flow ids, alert id -> final state, traffic row count."""
    return {
        "flows": sorted(rows(db, f"SELECT id, {FLOW_FIELDS} FROM flows")),
        "alerts": {r[0]: r[1:] for r in rows(
            db, "SELECT id, kind, count, last_ns, severity FROM alerts")},
        "traffic": rows(db, "SELECT count(*) FROM traffic")[0][0],
    }


def hub_state(db, name):
    return {
        "flows": sorted(rows(db, f"SELECT sensor_id, {FLOW_FIELDS} FROM flows WHERE sensor = ?",
                             (name,))),
        "alerts": {r[0]: r[1:] for r in rows(
            db, "SELECT sensor_id, kind, count, last_ns, severity FROM alerts WHERE sensor = ?",
            (name,))},
        "traffic": rows(db, "SELECT count(*) FROM traffic WHERE sensor = ?", (name,))[0][0],
    }


def wait_for(db, expected_flows, timeout=120):
    """Until the hub's store holds this many flows (or the timeout); returns the count."""
    deadline = time.time() + timeout
    n = -1
    while time.time() < deadline:
        if os.path.exists(db):
            try:
                n = rows(db, "SELECT count(*) FROM flows")[0][0]
            except sqlite3.OperationalError:
                n = -1
            if n >= expected_flows:
                time.sleep(1.0)  # anything beyond would be a duplicate: let it arrive
                return rows(db, "SELECT count(*) FROM flows")[0][0]
        time.sleep(0.2)
    return n


class Bus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ns-bus-")
        cls.captures = {}
        specs = {
            "edge-a": (1, [lambda f: gen.port_scan(f, gen.T0 + 20, attacker="10.0.9.66")]),
            "edge-b": (2, [lambda f: gen.port_scan(f, gen.T0 + 30, attacker="10.0.9.66",
                                                   victim="10.0.0.7")]),
            "edge-c": (3, [lambda f: gen.udp_flood(f, gen.T0 + 40, seconds=1, pps=15000)]),
        }
        for name, (seed, attacks) in specs.items():
            path = os.path.join(cls.dir, f"{name}.pcap")
            capture(path, seed, attacks)
            cls.captures[name] = path

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="case-", dir=self.dir)
        self.nats = NatsServer(self.work)

    def tearDown(self):
        self.nats.stop()

    def out(self, name):
        return os.path.join(self.work, name)

    def assert_hub_matches(self, hub_db, names):
        for name in names:
            mine = sensor_state(os.path.join(self.out(name), "netsentry.db"))
            theirs = hub_state(hub_db, name)
            self.assertGreater(len(mine["flows"]), 0, name)
            self.assertEqual(len(theirs["flows"]), len(set(theirs["flows"])),
                             f"{name}: a flow stored twice at the hub")
            self.assertEqual(mine["flows"], theirs["flows"], f"{name}: flows differ (ids or fields)")
            self.assertEqual(mine["alerts"], theirs["alerts"], f"{name}: alerts differ")
            self.assertEqual(mine["traffic"], theirs["traffic"], f"{name}: traffic rows differ")

    def test_three_sensors_one_hub_exact_per_sensor_with_a_cross_sensor_alert(self):
        hub_out = self.out("hub")
        h = hub(BINARY, self.nats.url, hub_out)
        procs = [sensor(BINARY, self.captures[n], self.out(n), self.nats.url, n, wait=False)
                 for n in self.captures]
        for p in procs:
            output, _ = p.communicate(timeout=240)
            self.assertEqual(p.returncode, 0, output)
        total = sum(len(sensor_state(os.path.join(self.out(n), "netsentry.db"))["flows"])
                    for n in self.captures)
        db = os.path.join(hub_out, "netsentry.db")
        self.assertEqual(wait_for(db, total), total)
        time.sleep(1)
        log = stop(h)
        self.assert_hub_matches(db, self.captures)
        # The scanner both edge-a and edge-b saw: one hub alert naming both.
        cross = rows(db, "SELECT sensors, src_ip, count(*) FROM alerts WHERE kind = 'multi_sensor' "
                         "GROUP BY sensors, src_ip")
        self.assertEqual(cross, [("edge-a,edge-b", "10.0.9.66", 1)], log)
        names = [r[0] for r in rows(db, "SELECT name FROM sensors ORDER BY name")]
        self.assertEqual(names, ["edge-a", "edge-b", "edge-c"])
        health = rows(db, "SELECT health FROM sensors WHERE name = 'edge-a'")[0][0]
        self.assertIn('"mode":"replay"', health.replace(" ", ""))

    def test_hub_killed_mid_replay_loses_and_duplicates_nothing(self):
        hub_out = self.out("hub")
        h = hub(BINARY, self.nats.url, hub_out, extra=["--fetch-batch", "16"])
        # 60 s of packet time at 15x: about 4 s of publishing while the hub is killed.
        s = sensor(BINARY, self.captures["edge-a"], self.out("edge-a"), self.nats.url, "edge-a",
                   speed="15", wait=False)
        time.sleep(2.0)
        h.send_signal(signal.SIGKILL)
        h.wait(timeout=20)
        time.sleep(0.5)
        h = hub(BINARY, self.nats.url, hub_out, extra=["--fetch-batch", "16"])
        output, _ = s.communicate(timeout=240)
        self.assertEqual(s.returncode, 0, output)
        total = len(sensor_state(os.path.join(self.out("edge-a"), "netsentry.db"))["flows"])
        db = os.path.join(hub_out, "netsentry.db")
        # Redelivery of what the killed hub had taken comes after --ack-wait (2 s).
        self.assertEqual(wait_for(db, total), total)
        time.sleep(3)
        log = stop(h)
        self.assert_hub_matches(db, ["edge-a"])
        self.assertIn("messages applied", log)
        print("\n  restarted hub: " + [l for l in log.splitlines() if "messages applied" in l][-1])

    def test_broker_stopped_during_a_replay_spools_and_sends_everything(self):
        s = sensor(BINARY, self.captures["edge-b"], self.out("edge-b"), self.nats.url, "edge-b",
                   speed="12", wait=False)
        time.sleep(1.5)
        self.nats.stop()
        time.sleep(3.0)  # the sensor goes on capturing into its spool
        self.nats.start()
        output, _ = s.communicate(timeout=240)
        self.assertEqual(s.returncode, 0, output)
        self.assertIn("0 left in the spool", output)
        print("\n  sensor: " + [l for l in output.splitlines() if "bus: sensor" in l][-1])
        self.assertIn("disconnected from NATS", output)
        # After the outage the sensor sent what it had spooled meanwhile.
        backlog = [int(n) for n in re.findall(r"sending (\d+) spooled messages", output)]
        self.assertGreater(max(backlog, default=0), 0, output)
        hub_out = self.out("hub")
        h = hub(BINARY, self.nats.url, hub_out)
        total = len(sensor_state(os.path.join(self.out("edge-b"), "netsentry.db"))["flows"])
        db = os.path.join(hub_out, "netsentry.db")
        self.assertEqual(wait_for(db, total), total)
        stop(h)
        self.assert_hub_matches(db, ["edge-b"])

    def test_sensor_started_without_a_broker_captures_and_sends_its_spool_next_run(self):
        # No broker at the start: the replay must not wait for one (it ran into a blocking
        # connect once); everything stays in the spool, and the next run of the sensor, with the
        # broker up, sends it first, then its own.
        self.nats.stop()
        out = self.out("edge-a")
        first = sensor(BINARY, self.captures["edge-a"], out, self.nats.url, "edge-a",
                       extra=["--publish-drain", "1"])
        self.assertIn("no server answers", first)
        left = re.findall(r"(\d+) left in the spool", first)
        self.assertTrue(left and int(left[-1]) > 0, first)
        self.nats.start()
        second = sensor(BINARY, self.captures["edge-c"], out, self.nats.url, "edge-a")
        self.assertIn("0 left in the spool", second)
        hub_out = self.out("hub")
        h = hub(BINARY, self.nats.url, hub_out)
        total = len(sensor_state(os.path.join(out, "netsentry.db"))["flows"])
        db = os.path.join(hub_out, "netsentry.db")
        self.assertEqual(wait_for(db, total), total)
        stop(h)
        # Both runs' flows, alerts and traffic rows, each once.
        self.assert_hub_matches(db, ["edge-a"])

    def test_collect_publishes_exported_flows_like_a_sensor(self):
        # monitor --export-ipfix -> collect --publish -> hub: every flow the sensor exported is a
        # flow record of collect (source "collect"), and the hub holds collect's flows exactly.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
        out = self.out("core")
        c = subprocess.Popen([BINARY, "collect", "--listen", f"udp:127.0.0.1:{port}", "-o", out,
                              "--publish", self.nats.url, "--sensor", "core"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertIn("listening", c.stdout.readline())
        m = subprocess.run([BINARY, "monitor", "--pcap", self.captures["edge-a"], "--speed",
                            "max", "--no-model", "--no-db", "-o", self.out("exporter"),
                            "--export-ipfix", f"127.0.0.1:{port}"],
                           capture_output=True, text=True, timeout=240)
        self.assertEqual(m.returncode, 0, m.stderr)
        with open(os.path.join(self.out("exporter"), "flows.csv")) as f:
            exported = sum(1 for _ in f) - 1
        time.sleep(1.0)
        log = stop(c)
        self.assertEqual(c.returncode, 0, log)
        self.assertIn("0 left in the spool", log)
        mine = sensor_state(os.path.join(out, "netsentry.db"))
        self.assertEqual(len(mine["flows"]), exported, log)
        hub_out = self.out("hub")
        h = hub(BINARY, self.nats.url, hub_out)
        db = os.path.join(hub_out, "netsentry.db")
        self.assertEqual(wait_for(db, exported), exported)
        stop(h)
        self.assertEqual(hub_state(db, "core")["flows"], mine["flows"])
        health = rows(db, "SELECT health FROM sensors WHERE name = 'core'")[0][0]
        self.assertIn('"mode":"collect"', health.replace(" ", ""))

    def test_two_hubs_each_read_the_whole_stream_and_json_is_read_too(self):
        sensor(BINARY, self.captures["edge-c"], self.out("edge-c"), self.nats.url, "edge-c",
               extra=["--publish-format", "json"])
        total = len(sensor_state(os.path.join(self.out("edge-c"), "netsentry.db"))["flows"])
        hubs = []
        for name in ("hub-1", "hub-2"):
            hubs.append((name, hub(BINARY, self.nats.url, self.out(name), durable=name)))
        for name, h in hubs:
            db = os.path.join(self.out(name), "netsentry.db")
            self.assertEqual(wait_for(db, total), total, name)
        for name, h in hubs:
            stop(h)
            self.assert_hub_matches(os.path.join(self.out(name), "netsentry.db"), ["edge-c"])


class NatsCluster:
    """Three nats-server -js nodes in one cluster on free loopback ports (docs/scale-out.md)."""

    def __init__(self, folder, name="ns-bus-test"):
        self.folder = folder
        self.name = name
        ports = free_ports(9)
        self.ports, self.routes, self.monitors = ports[0:3], ports[3:6], ports[6:9]
        self.procs = [None] * 3
        for i in range(3):
            self.start(i)

    @property
    def url(self):
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.ports)

    def start(self, i):
        routes = ",".join(f"nats://127.0.0.1:{p}" for p in self.routes)
        with open(os.path.join(self.folder, f"node{i}.log"), "a") as log:
            self.procs[i] = subprocess.Popen(
                [NATS, "-js", "-a", "127.0.0.1", "-p", str(self.ports[i]), "-m",
                 str(self.monitors[i]), "-sd", os.path.join(self.folder, f"node{i}"),
                 "--server_name", f"{self.name}-{i}", "--cluster_name", self.name, "--cluster",
                 f"nats://127.0.0.1:{self.routes[i]}", "--routes", routes],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.ports[i]), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"cluster node {i} did not start")

    def monitor(self, i, path):
        """Node i's monitoring endpoint (JSON)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitors[i]}/{path}",
                                    timeout=5) as r:
            return json.load(r)

    def clients(self, i):
        """Names of the client connections node i holds."""
        return [c.get("name", "") for c in self.monitor(i, "connz").get("connections") or []]

    def wait_ready(self, timeout=90):
        """Until every node knows the JetStream metadata leader (the three found each other).
        Returns as soon as they do; the long limit is for a loaded machine, where the election
        took longer than 30 s once (CI on 2 busy cores)."""
        deadline = time.time() + timeout
        leaders = []
        while time.time() < deadline:
            try:
                leaders = [(self.monitor(i, "jsz").get("meta_cluster") or {}).get("leader")
                           for i in range(3)]
                if all(leaders):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the cluster elected no JetStream leader in {timeout} s "
                           f"(each node's leader: {leaders})")

    def stream_messages(self, i, name="NETSENTRY"):
        for account in self.monitor(i, "jsz?streams=true").get("account_details") or []:
            for stream in account.get("stream_detail") or []:
                if stream.get("name") == name:
                    return stream["state"]["messages"]
        return 0

    def stop(self, i):
        p = self.procs[i]
        if p and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
        self.procs[i] = None

    def stop_all(self):
        for i in range(3):
            self.stop(i)


class Cluster(unittest.TestCase):
    """A sensor publishes to a 3-node JetStream cluster (a stream of 3 replicas, all three URLs);
    the node the sensor is connected to is stopped mid-replay: the sensor moves to another node,
    and a hub reading from the two left holds every flow, alert and traffic row once."""

    def test_three_node_cluster_loses_nothing_when_the_sensors_node_stops(self):
        work = tempfile.mkdtemp(prefix="ns-bus-cluster-")
        cluster = NatsCluster(work)
        try:
            pcap = os.path.join(work, "edge.pcap")
            capture(pcap, 4, [lambda f: gen.port_scan(f, gen.T0 + 20, attacker="10.0.9.66")])
            out = os.path.join(work, "edge")
            # A 3-replica stream needs all three nodes when it is created (docs/scale-out.md).
            cluster.wait_ready()
            s = sensor(BINARY, pcap, out, cluster.url, "edge", speed="12", wait=False,
                       extra=["--stream-replicas", "3"])
            # The node holding the sensor's connection (found through its monitoring port).
            node = None
            deadline = time.time() + 20
            while node is None and time.time() < deadline and s.poll() is None:
                for i in range(3):
                    if "netsentry edge" in cluster.clients(i):
                        node = i
                time.sleep(0.1)
            self.assertIsNotNone(node, "the sensor never connected to the cluster")
            # Stop that node once the stream exists and holds some of the replay.
            while time.time() < deadline and s.poll() is None:
                if cluster.stream_messages(node) >= 10:
                    break
                time.sleep(0.1)
            self.assertIsNone(s.poll(), "the replay ended before a node could be stopped")
            cluster.stop(node)
            output, _ = s.communicate(timeout=240)
            self.assertEqual(s.returncode, 0, output)
            self.assertIn("disconnected from NATS", output)
            self.assertIn("0 left in the spool", output)
            self.assertIn("3 replicas", output)
            print("\n  sensor: " + [l for l in output.splitlines() if "bus: sensor" in l][-1])
            hub_out = os.path.join(work, "hub")
            h = hub(BINARY, cluster.url, hub_out)
            total = len(sensor_state(os.path.join(out, "netsentry.db"))["flows"])
            db = os.path.join(hub_out, "netsentry.db")
            self.assertEqual(wait_for(db, total), total)
            stop(h)
            mine = sensor_state(os.path.join(out, "netsentry.db"))
            theirs = hub_state(db, "edge")
            self.assertEqual(mine["flows"], theirs["flows"])
            self.assertEqual(mine["alerts"], theirs["alerts"])
            self.assertEqual(mine["traffic"], theirs["traffic"])
        finally:
            cluster.stop_all()
            shutil.rmtree(work, ignore_errors=True)


class Credentials(unittest.TestCase):
    """A broker that wants a user and password: sensors and hubs pass them; a wrong one never
    gets in (the sensor keeps everything spooled)."""

    def test_user_and_password(self):
        work = tempfile.mkdtemp(prefix="ns-bus-auth-")
        nats = NatsServer(work, ["--user", "sensor", "--pass", "s3cret-word"])
        try:
            frames = []
            gen.benign(frames, seconds=10)
            pcap = os.path.join(work, "c.pcap")
            gen.write_pcap(pcap, frames)
            out = sensor(BINARY, pcap, os.path.join(work, "wrong"), nats.url, "wrong",
                         extra=["--nats-user", "sensor", "--nats-password", "nope",
                                "--publish-drain", "2"])
            self.assertRegex(out, r"[1-9]\d* left in the spool", out)
            sensor(BINARY, pcap, os.path.join(work, "right"), nats.url, "right",
                   extra=["--nats-user", "sensor", "--nats-password", "s3cret-word"])
            hub_out = os.path.join(work, "hub")
            h = hub(BINARY, nats.url, hub_out,
                    extra=["--nats-user", "sensor", "--nats-password", "s3cret-word"])
            total = len(sensor_state(os.path.join(work, "right", "netsentry.db"))["flows"])
            self.assertEqual(wait_for(os.path.join(hub_out, "netsentry.db"), total, timeout=60), total)
            stop(h)
        finally:
            nats.stop()
            shutil.rmtree(work, ignore_errors=True)


class Tls(unittest.TestCase):
    """A broker that speaks TLS only (a certificate from a test CA for 127.0.0.1): a sensor and a
    hub with --nats-tls-ca deliver everything; a sensor without the CA never gets in."""

    def test_tls_with_the_servers_ca(self):
        openssl = shutil.which("openssl")
        if not openssl:
            self.skipTest("openssl is not installed")
        work = tempfile.mkdtemp(prefix="ns-bus-tls-")
        try:
            ca, key = os.path.join(work, "ca.pem"), os.path.join(work, "ca.key")
            cert, cert_key = os.path.join(work, "server.pem"), os.path.join(work, "server.key")
            csr, ext = os.path.join(work, "server.csr"), os.path.join(work, "ext.cnf")
            with open(ext, "w") as f:
                f.write("subjectAltName=IP:127.0.0.1\n")
            for cmd in ([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                         "-out", ca, "-days", "2", "-subj", "/CN=netsentry test CA"],
                        [openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", cert_key,
                         "-out", csr, "-subj", "/CN=127.0.0.1"],
                        [openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", key,
                         "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext]):
                subprocess.run(cmd, check=True, capture_output=True, timeout=60)
            nats = NatsServer(work, ["--tls", "--tlscert", cert, "--tlskey", cert_key])
            url = f"tls://127.0.0.1:{nats.port}"
            try:
                frames = []
                gen.benign(frames, seconds=10)
                pcap = os.path.join(work, "c.pcap")
                gen.write_pcap(pcap, frames)
                out = sensor(BINARY, pcap, os.path.join(work, "no-ca"), url, "no-ca",
                             extra=["--publish-drain", "2"])
                self.assertRegex(out, r"[1-9]\d* left in the spool", out)
                out = sensor(BINARY, pcap, os.path.join(work, "edge"), url, "edge",
                             extra=["--nats-tls-ca", ca])
                self.assertIn("0 left in the spool", out)
                hub_out = os.path.join(work, "hub")
                h = hub(BINARY, url, hub_out, extra=["--nats-tls-ca", ca])
                mine = sensor_state(os.path.join(work, "edge", "netsentry.db"))
                db = os.path.join(hub_out, "netsentry.db")
                self.assertEqual(wait_for(db, len(mine["flows"]), timeout=60), len(mine["flows"]))
                stop(h)
                self.assertEqual(hub_state(db, "edge")["flows"], mine["flows"])
                self.assertEqual(hub_state(db, "no-ca")["flows"], [])
            finally:
                nats.stop()
        finally:
            shutil.rmtree(work, ignore_errors=True)


def main():
    global BINARY
    if len(sys.argv) < 2:
        sys.exit("usage: bus_test.py NETSENTRY_BINARY")
    BINARY = os.path.abspath(sys.argv.pop(1))
    if not os.access(NATS, os.X_OK):
        print("bus_test: skipped: nats-server is not installed (scripts/setup installs it)")
        sys.exit(77)
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
