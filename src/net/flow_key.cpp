// Canonical flow keys for net/flow_key.h.
#include "net/flow_key.h"

#include <algorithm>
#include <string_view>

namespace netsentry::net {
namespace {

// Orders endpoints by address bytes, then port; < 0 when (a, pa) sorts before (b, pb).
inline int compare_endpoints(const IpAddress& a, std::uint16_t port_a, const IpAddress& b,
                             std::uint16_t port_b) noexcept {
  const int by_address = std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size());
  if (by_address != 0) return by_address;
  return static_cast<int>(port_a) - static_cast<int>(port_b);
}

IpAddress make_address(const std::array<std::uint8_t, 16>& bytes, std::uint8_t family) {
  IpAddress address;
  address.bytes = bytes;
  address.family = family;
  return address;
}

std::string_view proto_name(std::uint8_t proto) {
  switch (proto) {
    case 1:
      return "icmp";
    case 6:
      return "tcp";
    case 17:
      return "udp";
    case 58:
      return "icmpv6";
    default:
      return {};
  }
}

void append_endpoint(std::string& out, const IpAddress& address, std::uint16_t port) {
  if (address.family == 6) {
    out += '[';
    out += address.to_string();
    out += ']';
  } else {
    out += address.to_string();
  }
  out += ':';
  out += std::to_string(port);
}

// The counterpart of an ICMP query or reply type (echo request <-> reply, ...), or -1.
int icmp_counterpart(std::uint8_t proto, std::uint8_t type) noexcept {
  if (proto == 1) {
    switch (type) {
      case 8:
        return 0;  // echo request / reply
      case 0:
        return 8;
      case 13:
        return 14;  // timestamp
      case 14:
        return 13;
      case 15:
        return 16;  // information
      case 16:
        return 15;
      case 17:
        return 18;  // address mask
      case 18:
        return 17;
      case 10:
        return 9;  // router solicitation / advertisement
      case 9:
        return 10;
      default:
        return -1;
    }
  }
  switch (type) {  // ICMPv6
    case 128:
      return 129;  // echo request / reply
    case 129:
      return 128;
    case 133:
      return 134;  // router solicitation / advertisement
    case 134:
      return 133;
    case 135:
      return 136;  // neighbor solicitation / advertisement
    case 136:
      return 135;
    case 130:
      return 131;  // multicast listener query / report
    case 131:
      return 130;
    case 139:
      return 140;  // node information query / reply
    case 140:
      return 139;
    case 144:
      return 145;  // home agent address discovery request / reply
    case 145:
      return 144;
    default:
      return -1;
  }
}

struct Ports {
  std::uint16_t src = 0;
  std::uint16_t dst = 0;
};

// TCP/UDP ports; for ICMP, Zeek's convention: a query or reply has (its type, its counterpart's
// type), so a ping and its answers are one flow (8 -> 0), while errors and other messages have
// (type, code). An echo flood then stays apart from the port-unreachable errors sent to the same
// host, and the flow's first packet tells what kind of ICMP conversation it is.
Ports ports_of(const Packet& packet) noexcept {
  const bool icmp = packet.ip_proto == 1 || packet.ip_proto == 58;
  if (!icmp || !packet.has_l4) return {packet.src_port, packet.dst_port};
  const int counterpart = icmp_counterpart(packet.ip_proto, packet.icmp_type);
  return {packet.icmp_type,
          static_cast<std::uint16_t>(counterpart >= 0 ? counterpart : packet.icmp_code)};
}

}  // namespace

FlowKey flow_key_of(const Packet& packet, bool& forward) noexcept {
  FlowKey key;
  key.ip_proto = packet.ip_proto;
  key.vlan = static_cast<std::uint16_t>((packet.vlan & 0x0FFF) |
                                        std::min<unsigned>(packet.tunnel_depth, 15) << 12);
  key.family = packet.src.family;
  const Ports ports = ports_of(packet);
  forward = compare_endpoints(packet.src, ports.src, packet.dst, ports.dst) <= 0;
  const IpAddress& a = forward ? packet.src : packet.dst;
  const IpAddress& b = forward ? packet.dst : packet.src;
  key.addr_a = a.bytes;
  key.addr_b = b.bytes;
  key.port_a = forward ? ports.src : ports.dst;
  key.port_b = forward ? ports.dst : ports.src;
  return key;
}

FlowKey flow_key_of(const Packet& packet) noexcept {
  bool forward = false;
  return flow_key_of(packet, forward);
}

bool is_forward(const FlowKey& key, const Packet& packet) noexcept {
  return ports_of(packet).src == key.port_a && packet.src.bytes == key.addr_a;
}

IpAddress FlowKey::address_a() const { return make_address(addr_a, family); }
IpAddress FlowKey::address_b() const { return make_address(addr_b, family); }

std::string FlowKey::to_string() const {
  std::string out;
  const std::string_view name = proto_name(ip_proto);
  if (name.empty()) {
    out += "proto ";
    out += std::to_string(ip_proto);
  } else {
    out += name;
  }
  out += ' ';
  append_endpoint(out, address_a(), port_a);
  out += " <-> ";
  append_endpoint(out, address_b(), port_b);
  if (vlan_id() != 0) {
    out += " vlan ";
    out += std::to_string(vlan_id());
  }
  if (tunnel_depth() != 0) {
    out += " depth ";
    out += std::to_string(tunnel_depth());
  }
  return out;
}

}  // namespace netsentry::net
