"""The lab's labels file (labels.csv): one row per attack episode, and the addresses the lab uses."""
import csv
import ipaddress

HEADER = ["kind", "src", "dst", "start", "end", "tool", "description"]
KINDS = ("port_scan", "host_scan", "syn_flood", "udp_flood", "icmp_flood", "slow_http",
         "brute_force", "exfiltration", "service_scan", "credential_stuffing", "dns_exfiltration",
         "https_exfiltration", "c2_beacon", "slow_post", "arp_spoof", "nd_spoof")

# One /24 for the lab: the victim (servers and capture), benign clients, one attacker per role.
VICTIM = "10.77.0.1"
BENIGN_CLIENTS = ["10.77.0.%d" % i for i in range(10, 20)]
SCANNER = "10.77.0.66"
FLOODER = "10.77.0.67"
SLOW_HTTP = "10.77.0.68"
BRUTE_FORCER = "10.77.0.69"
EXFILTRATOR = "10.77.0.70"
STUFFER = "10.77.0.71"  # credential stuffing (SSH, a web login form)
DNS_EXFILTRATOR = "10.77.0.72"
HTTPS_EXFILTRATOR = "10.77.0.73"
BEACONER = "10.77.0.74"  # an infected host beaconing to its command-and-control server
ARP_SPOOFER = "10.77.0.75"
ND_SPOOFER = "10.77.0.76"
ND_SPOOFER6 = "fd77::76"
ATTACKERS = [SCANNER, FLOODER, SLOW_HTTP, BRUTE_FORCER, EXFILTRATOR, STUFFER, DNS_EXFILTRATOR,
             HTTPS_EXFILTRATOR, BEACONER, ARP_SPOOFER, ND_SPOOFER]
# Servers besides the victim (real mode): databases, MQTT, mail, NTP; the resolver (and IPv6
# router advertisements); the attackers' command-and-control server, behind a WAN link.
SERVICES = "10.77.0.2"
RESOLVER = "10.77.0.3"
C2 = "10.77.0.200"
C2_ZONE = "cdn-sync.net"
PREFIX6 = "fd77::"
VICTIM6, SERVICES6, RESOLVER6, C26 = "fd77::1", "fd77::2", "fd77::3", "fd77::c8"
# Hosts that a host scan sweeps: routed through the victim, four of them answer.
SWEEP_NET = "10.77.1.0/24"
SWEEP_ALIVE = ["10.77.1.%d" % i for i in (1, 2, 3, 4)]
# Spoofed SYN flood sources (synthetic capture only): the RFC 2544 benchmarking range.
SPOOF_NET = "198.18.0.0/15"


class Episode:
    """One attack episode: kind, attacker address (or a prefix for spoofed sources), victim address
    (empty when many hosts are targeted), time window in UTC epoch seconds, tool and description."""

    def __init__(self, kind, src, dst, start, end, tool, description):
        if kind not in KINDS:
            raise ValueError(f"unknown attack kind {kind!r}")
        self.kind, self.src, self.dst = kind, src, dst
        self.start, self.end = float(start), float(end)
        self.tool, self.description = tool, description

    def row(self):
        return [self.kind, self.src, self.dst, "%.6f" % self.start, "%.6f" % self.end, self.tool,
                self.description]

    def matches_src(self, addr):
        if "/" in self.src:
            return ipaddress.ip_address(addr) in ipaddress.ip_network(self.src)
        return addr == self.src


def write_labels(path, episodes):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        for e in sorted(episodes, key=lambda e: (e.start, e.kind)):
            w.writerow(e.row())


def read_labels(path):
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r, None)
        if header != HEADER:
            raise ValueError(f"{path}:1: header is {header}, expected {HEADER}")
        return [Episode(*row) for row in r]


def parse_only(text):
    """The --only list: comma-separated attack kinds; empty means all."""
    if not text:
        return set(KINDS)
    if text.strip() == "none":
        return set()  # benign traffic only
    kinds = {k.strip() for k in text.split(",") if k.strip()}
    unknown = sorted(kinds - set(KINDS))
    if unknown:
        raise ValueError(f"--only: unknown kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
    return kinds
