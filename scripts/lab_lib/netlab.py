"""The real lab: private network namespaces joined by a bridge, servers in the victim namespace,
benign clients and one namespace per attacker role, tcpdump on the victim's bridge, and a schedule
of attack phases run with real tools. Everything it starts is stopped and every namespace deleted
on exit, on error and on SIGINT/SIGTERM.

The namespaces have no link to the host's network and no default route: no packet can leave them.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from . import labels as L
from .pcapio import ipv4_endpoints, read_pcap

HERE = os.path.dirname(os.path.abspath(__file__))
NS_PREFIX = "nslab-"
BRIDGE = "br0"
# Roles and their addresses: one namespace each, so every tool sends from its role's address
# without needing a source-address option (wrk and nmap -sT have none that works everywhere).
ROLES = {
    "c": L.BENIGN_CLIENTS,  # first address is the primary: wrk and iperf3 traffic comes from it
    "scan": [L.SCANNER],
    "flood": [L.FLOODER],
    "slow": [L.SLOW_HTTP],
    "brute": [L.BRUTE_FORCER],
    "exfil": [L.EXFILTRATOR],
}
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
}


def tool_versions():
    out = {}
    for tool, cmd in TOOL_VERSION_CMDS.items():
        if shutil.which(tool) or (tool == "sshd" and os.path.exists("/usr/sbin/sshd")):
            line = _first_line(cmd)
            m = re.search(r"v?(\d+\.\d+(?:\.\d+)?(?:p\d+)?)", line or "")
            out[tool] = m.group(0) if m else line
    return out


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
        self.tmp = tempfile.mkdtemp(prefix="netsentry-lab-")
        self.tcpdump = None
        self.tcpdump_stderr = []

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

    def run_bounded(self, role, cmd, seconds):
        """Runs a tool in a namespace for at most `seconds`; returns (exit code or None if it was
        stopped at its time bound, output tail)."""
        p = self.start(role, cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = p.communicate(timeout=seconds)
            code = p.returncode
        except subprocess.TimeoutExpired:
            self.stop(p, signal.SIGINT, grace=2.0)
            out, _ = p.communicate()
            code = None
        return code, (out or "").strip().splitlines()[-3:]

    def pause(self, seconds):
        time.sleep(self.d(seconds))

    # --- setup --------------------------------------------------------------------------------

    @staticmethod
    def check_requirements():
        if os.geteuid() != 0:
            raise LabError("the real lab needs root to create network namespaces "
                           "(run it as root, or use --synthetic)")
        for tool in ("ip", "tcpdump", "curl"):
            if not shutil.which(tool):
                raise LabError(f"{tool} is not installed (see docs/lab.md for the packages)")
        if not shutil.which("ethtool"):
            print("lab: ethtool is not installed: offloads stay on, captured packets may be "
                  "larger than the MTU", flush=True)

    def create_network(self):
        self.ns = {"v": f"{self.tag}-v"}
        self.ns.update({role: f"{self.tag}-{role}" for role in ROLES})
        for ns in self.ns.values():
            _sh("ip", "netns", "add", ns)
        v = self.ns["v"]
        # No multicast snooping: the bridge would otherwise send IGMP joins into the capture.
        _sh("ip", "-n", v, "link", "add", BRIDGE, "type", "bridge", "mcast_snooping", "0")
        _sh("ip", "-n", v, "addr", "add", f"{L.VICTIM}/24", "dev", BRIDGE)
        for addr in L.SWEEP_ALIVE:
            _sh("ip", "-n", v, "addr", "add", f"{addr}/32", "dev", "lo")
        # Every closed UDP port must answer at once, or nmap -sU slows to one port per second.
        _sh("ip", "netns", "exec", v, "sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0")
        for role, addrs in ROLES.items():
            ns, port = self.ns[role], f"lp-{role}"
            _sh("ip", "link", "add", port, "netns", v, "type", "veth", "peer", "name", "eth0",
                "netns", ns)
            _sh("ip", "-n", v, "link", "set", port, "master", BRIDGE, "mtu", "1500", "up")
            _sh("ip", "-n", ns, "link", "set", "eth0", "mtu", "1500", "up")
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
            for addr in addrs:
                _sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            if role == "scan":
                _sh("ip", "-n", ns, "route", "add", L.SWEEP_NET, "via", L.VICTIM)
            self._quiet_and_real_sized(ns, "eth0")
            self._quiet_and_real_sized(v, port)
        _sh("ip", "-n", v, "link", "set", "lo", "up")
        _sh("ip", "-n", v, "link", "set", BRIDGE, "up")
        self._quiet_and_real_sized(v, BRIDGE)

    def _quiet_and_real_sized(self, ns, dev):
        # IPv6 off: no router solicitations or DAD in the capture, only the lab's IPv4 traffic.
        _sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1",
            check=False)
        if shutil.which("ethtool"):
            # Segmentation offloads would hand tcpdump 64 KB "packets"; the features need real ones.
            _sh("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro",
                "off", check=False)

    def start_servers(self):
        ready = os.path.join(self.tmp, "servers.ready")
        self.start("v", [sys.executable, os.path.join(HERE, "servers.py"), "--bind", L.VICTIM,
                         "--ready", ready], stdout=subprocess.DEVNULL)
        if shutil.which("iperf3"):
            self.start("v", ["iperf3", "-s", "-B", L.VICTIM], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        self.sshd = self._start_sshd() if "brute_force" in self.kinds else False
        deadline = time.time() + 15
        while not os.path.exists(ready):
            if time.time() > deadline:
                raise LabError("the lab's servers did not start within 15 s")
            time.sleep(0.1)

    def _start_sshd(self):
        sshd = "/usr/sbin/sshd"
        if not (os.path.exists(sshd) and shutil.which("ssh-keygen")):
            return False
        key = os.path.join(self.tmp, "ssh_host_ed25519_key")
        _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)
        config = os.path.join(self.tmp, "sshd_config")
        with open(config, "w") as f:
            f.write(f"ListenAddress {L.VICTIM}\nHostKey {key}\nPidFile {self.tmp}/sshd.pid\n"
                    "UsePAM no\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n"
                    "MaxStartups 100:30:200\nMaxAuthTries 6\nLoginGraceTime 20\n")
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
        self.start("v", [sshd, "-D", "-e", "-f", config], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
        return True

    def start_capture(self):
        self.pcap = os.path.join(self.out, "capture.pcap")
        # -Z root: tcpdump would otherwise drop to its own user and may not write into --out.
        self.tcpdump = self.start("v", ["tcpdump", "-i", BRIDGE, "-s", "0", "-n", "-U", "-Z", "root",
                                        "-w", self.pcap], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
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

    # --- phases -------------------------------------------------------------------------------

    def phase(self, kind, role, tool, cmd, seconds, description):
        """Runs one attack episode and labels it with the time around the tool run."""
        if kind not in self.kinds:
            return
        if not shutil.which(tool):
            self.skipped.append(f"{kind} ({description}): {tool} is not installed")
            self.log(f"skipping {kind} ({description}): {tool} is not installed")
            return
        self.log(f"{kind}: {' '.join(cmd)}")
        start = time.time()
        code, tail = self.run_bounded(role, cmd, seconds)
        end = time.time()
        src = ROLES[role][0]
        dst = "" if kind == "host_scan" else L.VICTIM
        self.episodes.append(L.Episode(kind, src, dst, start, end, tool, description))
        self.phases.append({"kind": kind, "src": src, "command": " ".join(cmd),
                            "seconds": round(end - start, 3),
                            "exit": "time bound" if code is None else code, "output_tail": tail})

    def benign(self, name, cmd, seconds):
        if not shutil.which(cmd[0]):
            self.skipped.append(f"benign {name}: {cmd[0]} is not installed")
            return
        self.log(f"benign {name}: {' '.join(cmd)}")
        start = time.time()
        code, tail = self.run_bounded("c", cmd, seconds)
        self.phases.append({"kind": "benign", "name": name, "command": " ".join(cmd),
                            "seconds": round(time.time() - start, 3),
                            "exit": "time bound" if code is None else code, "output_tail": tail})

    def schedule(self):
        s, victim = self.scale, L.VICTIM
        self.pause(8)
        # wrk has no rate limit: a short burst (~5,000 requests/s here) is benign load, not a flood.
        self.benign("wrk", ["wrk", "-t1", "-c2", f"-d{self.d(2):.0f}s", f"http://{victim}/size/2000"],
                    self.d(2) + 10)
        exfil = None
        if "exfiltration" in self.kinds:
            seconds = self.d(60, 10)
            cmd = [sys.executable, os.path.join(HERE, "clients.py"), "exfil", "--victim", victim,
                   "--port", "4444", "--seconds", f"{seconds:.1f}", "--seed", str(self.seed)]
            self.log(f"exfiltration (background, {seconds:.0f} s) to {victim}:4444")
            started = time.time()
            exfil = self._background(self.start("exfil", cmd), seconds, started)
        self.pause(3)
        nmap_common = ["-n", "-Pn", "-T4", "--max-retries", "1"]
        self.phase("port_scan", "scan", "nmap", ["nmap", "-sS", "-p", "1-1000"] + nmap_common + [victim],
                   self.d(30, 15), "TCP SYN scan of ports 1-1000 (nmap -sS)")
        self.pause(4)
        self.phase("port_scan", "scan", "nmap", ["nmap", "-sT", "-p", "1-1000"] + nmap_common + [victim],
                   self.d(30, 15), "TCP connect scan of ports 1-1000 (nmap -sT)")
        self.pause(4)
        self.phase("port_scan", "scan", "nmap",
                   ["nmap", "-sU", "--top-ports", str(self.n(100, 20))] + nmap_common + [victim],
                   self.d(40, 15), "UDP scan of the most common ports (nmap -sU)")
        self.pause(4)
        self.phase("host_scan", "scan", "nmap",
                   ["nmap", "-sn", "-n", "-T4", "--max-retries", "1", "-PE", "-PS22,80,443",
                    "--send-ip", L.SWEEP_NET], self.d(30, 15),
                   "ping sweep of 10.77.1.0/24 (nmap -sn -PE -PS22,80,443)")
        self.pause(4)
        self.benign("iperf3", ["iperf3", "-c", victim, "-B", L.BENIGN_CLIENTS[8], "-t",
                               f"{self.d(5):.0f}", "-b", "40M"], self.d(5) + 15)
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
        if exfil:
            proc, seconds, started, ended = exfil
            ended.wait(timeout=max(0.0, started + seconds + 15 - time.time()))
            if not ended.is_set():
                self.stop(proc)
                ended.wait(5)
            self.episodes.append(L.Episode("exfiltration", L.EXFILTRATOR, victim, started,
                                           ended.at, "python3", "low-rate exfiltration: 200-600 "
                                           f"bytes every second for {seconds:.0f} s to port 4444"))
            self.phases.append({"kind": "exfiltration", "src": L.EXFILTRATOR,
                                "seconds": round(ended.at - started, 3), "exit": proc.returncode})
        self.pause(4)

    def _background(self, proc, seconds, started):
        """Watches a background episode so its label ends when the tool exits, not when the
        schedule gets back to it."""
        ended = threading.Event()
        ended.at = None

        def watch():
            proc.wait()
            ended.at = time.time()
            ended.set()

        threading.Thread(target=watch, daemon=True).start()
        return proc, seconds, started, ended

    def _users(self):
        path = os.path.join(self.tmp, "users.txt")
        with open(path, "w") as f:
            f.write("admin\nroot\n")
        return path

    # --- run and teardown ---------------------------------------------------------------------

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


def count_packets(pcap, episodes):
    total, by_src = 0, {}
    per_episode = [0] * len(episodes)
    outside = 0
    for ts, linktype, frame in read_pcap(pcap):
        total += 1
        ep = ipv4_endpoints(linktype, frame)
        if not ep:
            continue
        src, dst, _ = ep
        by_src[src] = by_src.get(src, 0) + 1
        if not (src.startswith("10.77.") and dst.startswith("10.77.")):
            outside += 1
        for i, e in enumerate(episodes):
            if e.start <= ts <= e.end and e.matches_src(src):
                per_episode[i] += 1
    return {"packets": total, "packets_by_src": dict(sorted(by_src.items())),
            "packets_per_episode": per_episode, "packets_outside_lab_net": outside}


def run(out_dir, scale, kinds, seed, benign_seconds=0.0):
    """Runs the real lab; returns (episodes, summary)."""
    Lab.check_requirements()
    os.makedirs(out_dir, exist_ok=True)
    lab = Lab(out_dir, scale, kinds, seed)

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_term)
    began = time.time()
    try:
        lab.create_network()
        lab.start_servers()
        lab.start_capture()
        lab.log(f"capturing on {BRIDGE} in {lab.ns['v']} -> {lab.pcap}")
        benign = lab.start("c", [sys.executable, os.path.join(HERE, "clients.py"), "benign",
                                 "--victim", L.VICTIM,
                                 "--http-from", ",".join(L.BENIGN_CLIENTS[:6] + L.BENIGN_CLIENTS[9:]),
                                 "--dns-from", L.BENIGN_CLIENTS[6], "--interactive-from",
                                 L.BENIGN_CLIENTS[7], "--max-seconds",
                                 str(int(600 * max(1, scale) + benign_seconds)),
                                 "--seed", str(seed)])
        lab.schedule()
        if benign_seconds > 0:
            lab.log(f"benign traffic only for {benign_seconds:.0f} more s (--benign-seconds)")
            time.sleep(benign_seconds)
        lab.stop(benign, grace=5.0)
        stats = lab.stop_capture()
    finally:
        signal.signal(signal.SIGTERM, previous)
        lab.close()
    summary = {"mode": "real", "seed": seed, "duration_scale": scale,
               "benign_seconds": benign_seconds,
               "wall_seconds": round(time.time() - began, 1), "tcpdump": stats,
               "tool_versions": tool_versions(), "phases": lab.phases, "skipped": lab.skipped}
    episodes = sorted(lab.episodes, key=lambda e: (e.start, e.kind))
    summary.update(count_packets(lab.pcap, episodes))
    return episodes, summary
