"""Classic pcap reading and writing, and Ethernet/IPv4/TCP/UDP/ICMP frame builders with valid
checksums. Standard library only; used by the synthetic capture and the lab's summary."""
import struct

ETH_IPV4 = 0x0800
LINKTYPE_ETHERNET = 1
PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
PROTO_ICMP, PROTO_TCP, PROTO_UDP = 1, 6, 17


def ip_bytes(addr):
    return bytes(int(p) for p in addr.split("."))


def ip_str(raw):
    return "%d.%d.%d.%d" % tuple(raw)


def mac_for(addr):
    """A stable locally administered MAC derived from an IPv4 address."""
    return b"\x02\x4e" + ip_bytes(addr)


def checksum(data):
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(src, dst, proto, payload, ident=0, ttl=64):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0x4000, ttl,
                         proto, 0, ip_bytes(src), ip_bytes(dst))
    csum = checksum(header)
    return header[:10] + struct.pack("!H", csum) + header[12:] + payload


def _l4_checksum(src, dst, proto, segment):
    pseudo = ip_bytes(src) + ip_bytes(dst) + struct.pack("!BBH", 0, proto, len(segment))
    return checksum(pseudo + segment)


def tcp(src, dst, sport, dport, flags, seq, ack, payload=b"", window=64240, mss=None):
    options = struct.pack("!BBH", 2, 4, mss) if mss else b""
    offset = (20 + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4,
                         flags, window, 0, 0) + options
    csum = _l4_checksum(src, dst, PROTO_TCP, header + payload)
    return header[:16] + struct.pack("!H", csum) + header[18:] + payload


def udp(src, dst, sport, dport, payload):
    header = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    csum = _l4_checksum(src, dst, PROTO_UDP, header + payload) or 0xFFFF
    return header[:6] + struct.pack("!H", csum) + payload


def icmp(icmp_type, code, ident, seq, payload=b""):
    header = struct.pack("!BBHHH", icmp_type, code, 0, ident, seq)
    csum = checksum(header + payload)
    return header[:2] + struct.pack("!H", csum) + header[4:] + payload


def ether(src_ip, dst_ip, l3):
    return mac_for(dst_ip) + mac_for(src_ip) + struct.pack("!H", ETH_IPV4) + l3


class PcapWriter:
    """Writes a classic microsecond pcap with Ethernet link type."""

    def __init__(self, path, snaplen=262144):
        self._f = open(path, "wb")
        self._f.write(struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))
        self.packets = 0

    def write(self, ts, frame):
        sec = int(ts)
        usec = int(round((ts - sec) * 1e6))
        if usec == 1_000_000:
            sec, usec = sec + 1, 0
        self._f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
        self._f.write(frame)
        self.packets += 1

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_pcap(path):
    """Yields (timestamp, linktype, frame bytes) of every record of a classic pcap file."""
    with open(path, "rb") as f:
        header = f.read(24)
        if len(header) < 24:
            raise ValueError(f"{path}: not a pcap file (only {len(header)} header bytes)")
        magic_le = struct.unpack("<I", header[:4])[0]
        if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            endian = "<"
        elif struct.unpack(">I", header[:4])[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            endian = ">"
        else:
            raise ValueError(f"{path}: not a classic pcap file (magic {header[:4].hex()})")
        magic = struct.unpack(endian + "I", header[:4])[0]
        scale = 1e-9 if magic == PCAP_MAGIC_NS else 1e-6
        linktype = struct.unpack(endian + "I", header[20:24])[0]
        record = struct.Struct(endian + "IIII")
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                return
            sec, frac, incl, _ = record.unpack(rh)
            data = f.read(incl)
            if len(data) < incl:
                return
            yield sec + frac * scale, linktype, data


def ipv4_endpoints(linktype, frame):
    """(src, dst, proto) of an IPv4 packet in an Ethernet (1), raw IP (101) or Linux cooked (113)
    frame, or None for anything else."""
    if linktype == LINKTYPE_ETHERNET:
        off = 12
        ethertype = struct.unpack_from("!H", frame, off)[0] if len(frame) >= 14 else 0
        off += 2
        while ethertype == 0x8100 and len(frame) >= off + 4:
            ethertype = struct.unpack_from("!H", frame, off + 2)[0]
            off += 4
        if ethertype != ETH_IPV4:
            return None
    elif linktype == 113:
        if len(frame) < 16 or struct.unpack_from("!H", frame, 14)[0] != ETH_IPV4:
            return None
        off = 16
    elif linktype == 101:
        off = 0
    else:
        return None
    if len(frame) < off + 20 or frame[off] >> 4 != 4:
        return None
    return ip_str(frame[off + 12:off + 16]), ip_str(frame[off + 16:off + 20]), frame[off + 9]


ETH_IPV6, ETH_ARP = 0x86DD, 0x0806


def mac_str(raw):
    return ":".join("%02x" % b for b in raw)


def frame_info(linktype, frame):
    """(ethertype, src MAC, src address, dst address, IP protocol or next header, L4 offset) of an
    Ethernet frame; addresses are None for what is neither IPv4 nor IPv6 (ARP: the sender and
    target protocol addresses). None for other link types."""
    if linktype != LINKTYPE_ETHERNET or len(frame) < 14:
        return None
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    off = 14
    while ethertype == 0x8100 and len(frame) >= off + 4:
        ethertype = struct.unpack_from("!H", frame, off + 2)[0]
        off += 4
    smac = mac_str(frame[6:12])
    if ethertype == ETH_IPV4 and len(frame) >= off + 20:
        ihl = (frame[off] & 0x0F) * 4
        return (ethertype, smac, ip_str(frame[off + 12:off + 16]), ip_str(frame[off + 16:off + 20]),
                frame[off + 9], off + ihl)
    if ethertype == ETH_IPV6 and len(frame) >= off + 40:
        import ipaddress
        src = str(ipaddress.IPv6Address(bytes(frame[off + 8:off + 24])))
        dst = str(ipaddress.IPv6Address(bytes(frame[off + 24:off + 40])))
        nh, l4 = frame[off + 6], off + 40
        if nh == 0 and len(frame) >= l4 + 8:  # hop-by-hop options (MLD reports carry them)
            nh, l4 = frame[l4], l4 + 8 * (frame[l4 + 1] + 1)
        return (ethertype, smac, src, dst, nh, l4)
    if ethertype == ETH_ARP and len(frame) >= off + 28:
        return (ethertype, smac, ip_str(frame[off + 14:off + 18]), ip_str(frame[off + 24:off + 28]),
                None, None)
    return (ethertype, smac, None, None, None, None)


BROADCAST_MAC = b"\xff" * 6


def ether_frame(dst_mac, src_mac, ethertype, payload):
    return dst_mac + src_mac + struct.pack("!H", ethertype) + payload


def ipv4_broadcast(src, dst, proto, payload, ident=0):
    """An IPv4 packet whose addresses may be 0.0.0.0 or 255.255.255.255 (DHCP)."""
    return ipv4(src, dst, proto, payload, ident, ttl=64 if dst != "255.255.255.255" else 128)


def ip6_bytes(addr):
    import ipaddress
    return ipaddress.IPv6Address(addr).packed


def multicast_mac6(addr):
    """The Ethernet address of an IPv6 multicast group: 33:33 + its last 32 bits."""
    return b"\x33\x33" + ip6_bytes(addr)[-4:]


def solicited_node(addr):
    return "ff02::1:ff%02x:%02x%02x" % tuple(ip6_bytes(addr)[-3:])


def icmpv6(src, dst, icmp_type, code, body):
    """An ICMPv6 message with its checksum over the IPv6 pseudo-header."""
    msg = struct.pack("!BBH", icmp_type, code, 0) + body
    pseudo = ip6_bytes(src) + ip6_bytes(dst) + struct.pack("!I3xB", len(msg), 58)
    csum = checksum(pseudo + msg)
    return msg[:2] + struct.pack("!H", csum) + msg[4:]


def ipv6(src, dst, next_header, payload, hop_limit=255):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), next_header, hop_limit,
                       ip6_bytes(src), ip6_bytes(dst)) + payload
