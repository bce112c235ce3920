"""The synthetic lab capture: a deterministic pcap of benign traffic with injected attacks, written
from Python without root or tools, plus its labels. Same addresses and label format as the real lab,
so tests on a fresh clone exercise the same paths as a real run."""
import ipaddress
import random
import struct

from . import labels as L
from .pcapio import (ACK, BROADCAST_MAC, ETH_IPV4, ETH_IPV6, FIN, PROTO_ICMP, PROTO_TCP,
                     PROTO_UDP, PSH, RST, SYN, PcapWriter, ether, ether_frame, icmp, icmpv6, ipv4,
                     ipv6, mac_for, multicast_mac6, solicited_node, tcp, udp)

# 2026-01-01T00:00:00Z: a fixed epoch so every run writes the same bytes.
EPOCH = 1767225600.0
DURATION = 600.0
MSS = 1448


class _Capture:
    """Collects frames from interleaved conversations; written sorted by time."""

    def __init__(self, rng):
        self.rng = rng
        self.frames = []
        self._ident = 0

    def add(self, t, src, dst, proto, l4):
        self._ident += 1
        self.frames.append((t, len(self.frames), ether(src, dst, ipv4(src, dst, proto, l4,
                                                                       self._ident))))

    def add_frame(self, t, frame):
        self.frames.append((t, len(self.frames), frame))


class _Tcp:
    """One TCP connection with consistent sequence numbers in both directions."""

    def __init__(self, cap, client, sport, server, dport):
        self.cap, self.client, self.server = cap, client, server
        self.sport, self.dport = sport, dport
        self.cseq = cap.rng.getrandbits(32)
        self.sseq = cap.rng.getrandbits(32)

    def _emit(self, t, from_client, flags, payload=b"", mss=None):
        if from_client:
            seg = tcp(self.client, self.server, self.sport, self.dport, flags, self.cseq,
                      self.sseq if flags & ACK else 0, payload, window=64240, mss=mss)
            self.cap.add(t, self.client, self.server, PROTO_TCP, seg)
            self.cseq += len(payload) + (1 if flags & (SYN | FIN) else 0)
        else:
            seg = tcp(self.server, self.client, self.dport, self.sport, flags, self.sseq,
                      self.cseq if flags & ACK else 0, payload, window=65160, mss=mss)
            self.cap.add(t, self.server, self.client, PROTO_TCP, seg)
            self.sseq += len(payload) + (1 if flags & (SYN | FIN) else 0)

    def handshake(self, t, rtt):
        self._emit(t, True, SYN, mss=MSS)
        self._emit(t + rtt / 2, False, SYN | ACK, mss=MSS)
        self._emit(t + rtt, True, ACK)
        return t + rtt

    def send(self, t, from_client, payload, rtt):
        """A small message and its ACK; returns when the ACK was sent."""
        self._emit(t, from_client, PSH | ACK, payload)
        self._emit(t + rtt / 2, not from_client, ACK)
        return t + rtt / 2

    def stream(self, t, from_client, nbytes, rtt, rate_bps, first=b""):
        """nbytes (after an optional first chunk) in MSS segments paced at rate_bps, delayed ACK
        every second segment; returns the time of the last ACK."""
        body = first + b"\x00" * max(0, nbytes - len(first))
        gap = MSS * 8 / rate_bps
        last_ack = t
        for i, off in enumerate(range(0, len(body), MSS)):
            chunk = body[off:off + MSS]
            last = off + MSS >= len(body)
            self._emit(t, from_client, (PSH | ACK) if last else ACK, chunk)
            if i % 2 == 1 or last:
                last_ack = t + rtt / 2
                self._emit(last_ack, not from_client, ACK)
            t += gap
        return last_ack

    def close(self, t, rtt, client_first=True):
        self._emit(t, client_first, FIN | ACK)
        self._emit(t + rtt / 2, not client_first, FIN | ACK)
        self._emit(t + rtt, client_first, ACK)
        return t + rtt

    def reset(self, t, from_client):
        self._emit(t, from_client, RST | ACK)


def _dns_name(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"


def _ephemeral(rng):
    return rng.randrange(32768, 61000)


# --- benign traffic ---------------------------------------------------------------------------

def _http_sessions(cap, t0):
    rng = cap.rng
    web_clients = L.BENIGN_CLIENTS[:6] + [L.BENIGN_CLIENTS[9]]
    t = t0 + 0.3
    while t < t0 + DURATION - 5:
        client = rng.choice(web_clients)
        u = rng.random()
        size = (rng.randint(300, 4000) if u < 0.6 else
                rng.randint(4000, 60000) if u < 0.9 else rng.randint(60000, 400000))
        rtt = rng.uniform(0.0002, 0.002)
        c = _Tcp(cap, client, _ephemeral(rng), L.VICTIM, 80)
        now = c.handshake(t, rtt)
        request = (f"GET /size/{size} HTTP/1.1\r\nHost: {L.VICTIM}\r\nUser-Agent: curl/7.88.1\r\n"
                   f"Accept: */*\r\n\r\n").encode()
        now = c.send(now + 0.0001, True, request, rtt)
        header = (f"HTTP/1.1 200 OK\r\nServer: lab\r\nContent-Type: application/octet-stream\r\n"
                  f"Content-Length: {size}\r\n\r\n").encode()
        now = c.stream(now + 0.0005, False, len(header) + size, rtt, rng.uniform(2e8, 9e8), header)
        c.close(now + 0.0002, rtt)
        t += rng.expovariate(1.0)


def _dns(cap, t0):
    rng = cap.rng
    names = ["www.lab", "mail.lab", "files.lab", "api.lab", "cdn.lab", "nowhere.invalid"]
    t = t0 + 0.7
    while t < t0 + DURATION - 1:
        client = rng.choice([L.BENIGN_CLIENTS[6], L.BENIGN_CLIENTS[9]])
        qid, sport, name = rng.getrandbits(16), _ephemeral(rng), rng.choice(names)
        question = _dns_name(name) + struct.pack("!HH", 1, 1)
        query = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question
        cap.add(t, client, L.VICTIM, PROTO_UDP, udp(client, L.VICTIM, sport, 53, query))
        if name.endswith(".lab"):
            answer = struct.pack("!HHHIH4s", 0xC00C, 1, 1, 60, 4, bytes([10, 77, 0, 1]))
            reply = struct.pack("!HHHHHH", qid, 0x8580, 1, 1, 0, 0) + question + answer
        else:
            reply = struct.pack("!HHHHHH", qid, 0x8583, 1, 0, 0, 0) + question
        cap.add(t + rng.uniform(0.0002, 0.001), L.VICTIM, client, PROTO_UDP,
                udp(L.VICTIM, client, 53, sport, reply))
        t += rng.expovariate(0.5)


def _interactive(cap, t0):
    """A terminal-like session: small keystroke packets, each echoed back, for the whole run."""
    rng = cap.rng
    c = _Tcp(cap, L.BENIGN_CLIENTS[7], _ephemeral(rng), L.VICTIM, 7)
    t = c.handshake(t0 + 2.0, 0.0005)
    end = t0 + DURATION - 3
    while t < end:
        t += rng.uniform(0.1, 2.0)
        keys = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz \n") for _ in range(rng.randint(1, 40)))
        c._emit(t, True, PSH | ACK, keys)
        c._emit(t + 0.0003, False, PSH | ACK, keys)
        c._emit(t + 0.0006, True, ACK)
    c.close(end + 0.5, 0.0005)


def _bulk(cap, t0):
    """One iperf3-like bulk transfer: 8 MB at 40 Mbit/s to port 5201."""
    rng = cap.rng
    c = _Tcp(cap, L.BENIGN_CLIENTS[8], _ephemeral(rng), L.VICTIM, 5201)
    t = c.handshake(t0 + 30.0, 0.0004)
    t = c.stream(t + 0.001, True, 8_000_000, 0.0004, 40e6)
    c.close(t + 0.001, 0.0004)


def _link_local(ipv4_addr):
    """A host's IPv6 link-local and SLAAC (fd77::/64) addresses from its MAC (modified EUI-64)."""
    m = mac_for(ipv4_addr)
    eui = "%02x%02x:%02xff:fe%02x:%02x%02x" % (m[0] ^ 2, m[1], m[2], m[3], m[4], m[5])
    return "fe80::" + eui, "fd77::" + eui


def _ipv6_nd(cap, t0):
    """IPv6 on the LAN: the victim's router advertisements (every 60 s), each client's router
    solicitation and duplicate address detection at start, then neighbour solicitations and
    advertisements between clients and the victim every 20-90 s."""
    rng = cap.rng
    victim_mac = mac_for(L.VICTIM)
    victim_ll, victim6 = _link_local(L.VICTIM)
    prefix_info = struct.pack("!BBBBIII16s", 3, 4, 64, 0xC0, 86400, 14400, 0,
                              bytes.fromhex("fd77" + "00" * 14))
    t = t0 + 1.0
    while t < t0 + DURATION:
        body = struct.pack("!BBHII", 64, 0, 0, 0, 0) + prefix_info + b"\x01\x01" + victim_mac
        cap.add_frame(t, ether_frame(multicast_mac6("ff02::1"), victim_mac, ETH_IPV6,
                                     ipv6(victim_ll, "ff02::1", 58,
                                          icmpv6(victim_ll, "ff02::1", 134, 0, body))))
        t += 60.0 + rng.uniform(-5, 5)
    for client in L.BENIGN_CLIENTS:
        mac = mac_for(client)
        ll, global6 = _link_local(client)
        start = t0 + rng.uniform(0.5, 5.0)
        rs = icmpv6(ll, "ff02::2", 133, 0, b"\x00" * 4 + b"\x01\x01" + mac)
        cap.add_frame(start, ether_frame(multicast_mac6("ff02::2"), mac, ETH_IPV6,
                                         ipv6(ll, "ff02::2", 58, rs)))
        group = solicited_node(global6)
        dad = icmpv6("::", group, 135, 0, b"\x00" * 4 + ipaddress.IPv6Address(global6).packed)
        cap.add_frame(start + 1.2, ether_frame(multicast_mac6(group), mac, ETH_IPV6,
                                               ipv6("::", group, 58, dad)))
        t = start + rng.uniform(20, 90)
        while t < t0 + DURATION - 1:
            target = ipaddress.IPv6Address(victim6).packed
            ns = icmpv6(global6, solicited_node(victim6), 135, 0,
                        b"\x00" * 4 + target + b"\x01\x01" + mac)
            cap.add_frame(t, ether_frame(multicast_mac6(solicited_node(victim6)), mac, ETH_IPV6,
                                         ipv6(global6, solicited_node(victim6), 58, ns)))
            na = icmpv6(victim6, global6, 136, 0,
                        struct.pack("!I", 0x60000000) + target + b"\x02\x01" + victim_mac)
            cap.add_frame(t + rng.uniform(0.0001, 0.0008),
                          ether_frame(mac, victim_mac, ETH_IPV6, ipv6(victim6, global6, 58, na)))
            t += rng.uniform(20, 90)


def _dhcp(cap, t0):
    """One client (10.77.0.19) gets its address by DHCP at start (DISCOVER, OFFER, REQUEST, ACK
    over broadcast) and renews it every 120 s (REQUEST, ACK over unicast)."""
    rng = cap.rng
    client, server = L.BENIGN_CLIENTS[9], L.VICTIM
    cmac, smac = mac_for(client), mac_for(server)

    def bootp(op, xid, ciaddr, yiaddr, msg_type, extra=b""):
        options = (b"\x63\x82\x53\x63" + bytes([53, 1, msg_type]) + extra
                   + bytes([54, 4]) + bytes(int(x) for x in server.split(".")) + b"\xff")
        return (struct.pack("!BBBBIHH4s4s4s4s16s64s128s", op, 1, 6, 0, xid, 0, 0x8000 if op == 1
                            else 0, bytes(int(x) for x in ciaddr.split(".")),
                            bytes(int(x) for x in yiaddr.split(".")), b"\0" * 4, b"\0" * 4,
                            cmac + b"\0" * 10, b"\0" * 64, b"\0" * 128) + options)

    lease = bytes([51, 4]) + struct.pack("!I", 300) + bytes([1, 4, 255, 255, 255, 0])
    xid = rng.getrandbits(32)
    t = t0 + 3.0
    for msg, op, src, dst, smac_, dmac, ci, yi in (
            (1, 1, "0.0.0.0", "255.255.255.255", cmac, BROADCAST_MAC, "0.0.0.0", "0.0.0.0"),
            (2, 2, server, "255.255.255.255", smac, BROADCAST_MAC, "0.0.0.0", client),
            (3, 1, "0.0.0.0", "255.255.255.255", cmac, BROADCAST_MAC, "0.0.0.0", "0.0.0.0"),
            (5, 2, server, "255.255.255.255", smac, BROADCAST_MAC, "0.0.0.0", client)):
        sport, dport = (68, 67) if op == 1 else (67, 68)
        payload = bootp(op, xid, ci, yi, msg, lease if op == 2 else b"")
        cap.add_frame(t, ether_frame(dmac, smac_, ETH_IPV4,
                                     ipv4(src, dst, PROTO_UDP, udp(src, dst, sport, dport, payload))))
        t += rng.uniform(0.001, 0.02)
    t = t0 + 120.0
    while t < t0 + DURATION - 1:
        xid = rng.getrandbits(32)
        cap.add(t, client, server, PROTO_UDP, udp(client, server, 68, 67,
                                                  bootp(1, xid, client, "0.0.0.0", 3)))
        cap.add(t + rng.uniform(0.0005, 0.003), server, client, PROTO_UDP,
                udp(server, client, 67, 68, bootp(2, xid, client, client, 5, lease)))
        t += 120.0 + rng.uniform(-2, 2)


def _mdns(cap, t0):
    """mDNS service queries from the clients to 224.0.0.251 every 5-40 s."""
    rng = cap.rng
    group_mac = b"\x01\x00\x5e\x00\x00\xfb"
    t = t0 + rng.uniform(1, 10)
    while t < t0 + DURATION - 1:
        client = rng.choice(L.BENIGN_CLIENTS)
        name = rng.choice(["_services._dns-sd._udp.local", "_ipp._tcp.local",
                           "_googlecast._tcp.local"])
        query = (struct.pack("!HHHHHH", 0, 0, 1, 0, 0, 0) + _dns_name(name)
                 + struct.pack("!HH", 12, 1))
        cap.add_frame(t, ether_frame(group_mac, mac_for(client), ETH_IPV4,
                                     ipv4(client, "224.0.0.251", PROTO_UDP,
                                          udp(client, "224.0.0.251", 5353, 5353, query), ttl=255)))
        t += rng.uniform(5, 40)


# --- attacks ----------------------------------------------------------------------------------

OPEN_PORTS = (7, 21, 22, 53, 80)


def _port_scan(cap, t):
    """nmap -sS -p 1-1000: a SYN to every port in random order; open ports answer SYN-ACK and get a
    RST from the scanner, closed ports answer RST-ACK."""
    rng = cap.rng
    ports = list(range(1, 1001))
    rng.shuffle(ports)
    sport = _ephemeral(rng)
    start = t
    for port in ports:
        seq = rng.getrandbits(32)
        cap.add(t, L.SCANNER, L.VICTIM, PROTO_TCP,
                tcp(L.SCANNER, L.VICTIM, sport, port, SYN, seq, 0, window=1024, mss=1460))
        r = t + rng.uniform(0.00005, 0.0003)
        if port in OPEN_PORTS:
            cap.add(r, L.VICTIM, L.SCANNER, PROTO_TCP,
                    tcp(L.VICTIM, L.SCANNER, port, sport, SYN | ACK, rng.getrandbits(32), seq + 1,
                        window=65160, mss=1460))
            cap.add(r + 0.00005, L.SCANNER, L.VICTIM, PROTO_TCP,
                    tcp(L.SCANNER, L.VICTIM, sport, port, RST, seq + 1, 0, window=0))
        else:
            cap.add(r, L.VICTIM, L.SCANNER, PROTO_TCP,
                    tcp(L.VICTIM, L.SCANNER, port, sport, RST | ACK, 0, seq + 1, window=0))
        t += rng.uniform(0.0005, 0.0015)
    return L.Episode("port_scan", L.SCANNER, L.VICTIM, start, t, "nmap",
                     "SYN scan of TCP ports 1-1000 (nmap -sS)")


def _host_scan(cap, t):
    """nmap -sn -PE -PS80 over 10.77.1.0/24: echo request and SYN per host; four hosts answer."""
    rng = cap.rng
    start = t
    sport = _ephemeral(rng)
    for i in range(1, 255):
        host = "10.77.1.%d" % i
        cap.add(t, L.SCANNER, host, PROTO_ICMP, icmp(8, 0, 0x4E53, i))
        seq = rng.getrandbits(32)
        cap.add(t + 0.0001, L.SCANNER, host, PROTO_TCP,
                tcp(L.SCANNER, host, sport, 80, SYN, seq, 0, window=1024, mss=1460))
        if host in L.SWEEP_ALIVE:
            cap.add(t + 0.0003, host, L.SCANNER, PROTO_ICMP, icmp(0, 0, 0x4E53, i))
            cap.add(t + 0.0004, host, L.SCANNER, PROTO_TCP,
                    tcp(host, L.SCANNER, 80, sport, RST | ACK, 0, seq + 1, window=0))
        t += rng.uniform(0.003, 0.006)
    return L.Episode("host_scan", L.SCANNER, "", start, t, "nmap",
                     "ping sweep of 10.77.1.0/24 (nmap -sn -PE -PS80)")


def _syn_flood(cap, t):
    """SYNs to port 80 from random spoofed sources, 3,000 per second for 10 s, never answered."""
    rng = cap.rng
    start, end = t, t + 10.0
    while t < end:
        src = "198.%d.%d.%d" % (18 + rng.getrandbits(1), rng.randrange(256), rng.randrange(1, 255))
        cap.add(t, src, L.VICTIM, PROTO_TCP,
                tcp(src, L.VICTIM, rng.randrange(1024, 65536), 80, SYN, rng.getrandbits(32), 0,
                    window=512))
        t += rng.expovariate(3000.0)
    return L.Episode("syn_flood", L.SPOOF_NET, L.VICTIM, start, t, "hping3",
                     "SYN flood to port 80 from spoofed sources (hping3 -S --rand-source)")


def _udp_flood(cap, t):
    rng = cap.rng
    start, end = t, t + 8.0
    payload = bytes(rng.getrandbits(8) for _ in range(100))
    while t < end:
        cap.add(t, L.FLOODER, L.VICTIM, PROTO_UDP,
                udp(L.FLOODER, L.VICTIM, rng.randrange(1024, 65536), 9999, payload))
        t += rng.expovariate(2500.0)
    return L.Episode("udp_flood", L.FLOODER, L.VICTIM, start, t, "hping3",
                     "UDP flood to port 9999, 100-byte payloads (hping3 --udp)")


def _icmp_flood(cap, t):
    rng = cap.rng
    start, end = t, t + 5.0
    payload = b"\x00" * 56
    seq = 0
    while t < end:
        seq += 1
        cap.add(t, L.FLOODER, L.VICTIM, PROTO_ICMP, icmp(8, 0, 0x1234, seq & 0xFFFF, payload))
        cap.add(t + 0.00003, L.VICTIM, L.FLOODER, PROTO_ICMP, icmp(0, 0, 0x1234, seq & 0xFFFF, payload))
        t += rng.expovariate(1000.0)
    return L.Episode("icmp_flood", L.FLOODER, L.VICTIM, start, t, "hping3",
                     "ICMP echo flood (hping3 --icmp)")


def _slow_http(cap, t):
    """slowhttptest-style slowloris: 50 connections that each send an unfinished request header and
    then one more header line every 10 s for 60 s; the server finally times them out."""
    rng = cap.rng
    start = t
    last = t
    for i in range(50):
        opened = t + i * 0.1
        c = _Tcp(cap, L.SLOW_HTTP, _ephemeral(rng), L.VICTIM, 80)
        now = c.handshake(opened, 0.0005)
        now = c.send(now + 0.001, True, (f"GET /?{i} HTTP/1.1\r\nHost: {L.VICTIM}\r\n"
                                         f"User-Agent: Mozilla/5.0\r\nReferer: http://lab/\r\n").encode(),
                     0.0005)
        for _ in range(6):
            now += 10.0 + rng.uniform(-0.05, 0.05)
            header = f"X-{rng.getrandbits(16):x}: {rng.getrandbits(16):x}\r\n".encode()
            now = c.send(now, True, header, 0.0005)
        last = max(last, c.close(now + 1.0, 0.0005, client_first=False))
    return L.Episode("slow_http", L.SLOW_HTTP, L.VICTIM, start, last, "slowhttptest",
                     "slowloris: 50 connections sending partial headers every 10 s (slowhttptest -H)")


def _ftp_brute_force(cap, t):
    rng = cap.rng
    start = t
    words = ["123456", "password", "admin", "letmein", "qwerty", "root", "ftp", "secret",
             "welcome", "dragon", "monkey", "abc123", "master", "shadow", "sunshine"]
    attempts = 0
    while attempts < 150:
        rtt = 0.0004
        c = _Tcp(cap, L.BRUTE_FORCER, _ephemeral(rng), L.VICTIM, 21)
        now = c.handshake(t, rtt)
        now = c.send(now + 0.001, False, b"220 netsentry lab FTP server ready\r\n", rtt)
        for _ in range(rng.randint(1, 3)):  # hydra reuses a connection for a few tries
            user = rng.choice(["admin", "root", "ftp", "user"])
            now = c.send(now + 0.0005, True, f"USER {user}\r\n".encode(), rtt)
            now = c.send(now + 0.0003, False, b"331 Password required\r\n", rtt)
            now = c.send(now + 0.0005, True, f"PASS {rng.choice(words)}\r\n".encode(), rtt)
            now = c.send(now + rng.uniform(0.05, 0.3), False, b"530 Login incorrect.\r\n", rtt)
            attempts += 1
        now = c.send(now + 0.0005, True, b"QUIT\r\n", rtt)
        now = c.send(now + 0.0003, False, b"221 Goodbye.\r\n", rtt)
        end = c.close(now + 0.0005, rtt, client_first=False)
        t = end + rng.uniform(0.05, 0.25)
    return L.Episode("brute_force", L.BRUTE_FORCER, L.VICTIM, start, end, "hydra",
                     "FTP password guessing, 150 attempts (hydra ftp)")


def _exfiltration(cap, t):
    """One long connection to an odd port carrying a few hundred bytes every second for 2 minutes."""
    rng = cap.rng
    start = t
    c = _Tcp(cap, L.EXFILTRATOR, _ephemeral(rng), L.VICTIM, 4444)
    now = c.handshake(t, 0.0005)
    for _ in range(120):
        now += 1.0 + rng.uniform(-0.02, 0.02)
        chunk = bytes(rng.getrandbits(8) for _ in range(rng.randint(200, 600)))
        now = c.send(now, True, chunk, 0.0005)
    end = c.close(now + 0.5, 0.0005)
    return L.Episode("exfiltration", L.EXFILTRATOR, L.VICTIM, start, end, "python3",
                     "low-rate exfiltration: 200-600 bytes every second for 120 s to port 4444")


def _c2_beacon(cap, t):
    """An infected host's beaconing to its command-and-control server: a short TLS connection to
    443 every 30 s +-30 % (ClientHello-sized request, small encrypted reply) for 480 s."""
    rng = cap.rng
    start, end = t, t + 480.0
    last = t
    while t < end:
        rtt = rng.uniform(0.04, 0.05)
        c = _Tcp(cap, L.BEACONER, _ephemeral(rng), L.C2, 443)
        now = c.handshake(t, rtt)
        hello = b"\x16\x03\x01" + rng.randbytes(rng.randint(250, 320))
        now = c.send(now + 0.0005, True, hello, rtt)
        now = c.send(now + 0.001, False, b"\x16\x03\x03" + rng.randbytes(rng.randint(1200, 1400)),
                     rtt)
        now = c.send(now + 0.001, True, b"\x17\x03\x03" + rng.randbytes(rng.randint(90, 160)), rtt)
        now = c.send(now + 0.02, False, b"\x17\x03\x03" + rng.randbytes(rng.randint(40, 80)), rtt)
        last = c.close(now + 0.001, rtt)
        t += 30.0 * (1 + rng.uniform(-0.3, 0.3))
    return L.Episode("c2_beacon", L.BEACONER, L.C2, start, last, "curl",
                     "command-and-control beaconing: a short TLS connection every 30 s +-30 % "
                     "for 480 s")


ATTACKS = [  # (kind, offset from the epoch in seconds, generator)
    ("port_scan", 60.0, _port_scan),
    ("host_scan", 100.0, _host_scan),
    ("syn_flood", 150.0, _syn_flood),
    ("udp_flood", 210.0, _udp_flood),
    ("icmp_flood", 240.0, _icmp_flood),
    ("slow_http", 300.0, _slow_http),
    ("brute_force", 400.0, _ftp_brute_force),
    ("exfiltration", 450.0, _exfiltration),
    ("c2_beacon", 90.0, _c2_beacon),
]


def generate(pcap_path, seed, kinds):
    """Writes the capture and returns (episodes, summary). Same seed and kinds → same bytes."""
    rng = random.Random(seed)
    cap = _Capture(rng)
    # Each part draws from its own stream so --only does not change the benign traffic.
    for i, part in enumerate((_http_sessions, _dns, _interactive, _bulk, _ipv6_nd, _dhcp, _mdns)):
        cap.rng = random.Random(seed * 1000 + i)
        part(cap, EPOCH)
    episodes = []
    counts = {}
    for i, (kind, offset, make) in enumerate(ATTACKS):
        if kind not in kinds:
            continue
        before = len(cap.frames)
        cap.rng = random.Random(seed * 1000 + 100 + i)
        episodes.append(make(cap, EPOCH + offset))
        counts[kind] = len(cap.frames) - before
    cap.frames.sort(key=lambda f: (f[0], f[1]))
    with PcapWriter(pcap_path) as w:
        for ts, _, frame in cap.frames:
            w.write(ts, frame)
    summary = {
        "mode": "synthetic",
        "seed": seed,
        "epoch": EPOCH,
        "duration_s": DURATION,
        "packets": len(cap.frames),
        "benign_packets": len(cap.frames) - sum(counts.values()),
        "attack_packets": counts,
    }
    return episodes, summary
