// Canonical flow keys for net/flow_key.h.
#include "net/flow_key.h"

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

}  // namespace

FlowKey flow_key_of(const Packet& packet, bool& forward) noexcept {
  FlowKey key;
  key.ip_proto = packet.ip_proto;
  key.vlan = packet.vlan;
  key.family = packet.src.family;
  forward = compare_endpoints(packet.src, packet.src_port, packet.dst, packet.dst_port) <= 0;
  const IpAddress& a = forward ? packet.src : packet.dst;
  const IpAddress& b = forward ? packet.dst : packet.src;
  key.addr_a = a.bytes;
  key.addr_b = b.bytes;
  key.port_a = forward ? packet.src_port : packet.dst_port;
  key.port_b = forward ? packet.dst_port : packet.src_port;
  return key;
}

FlowKey flow_key_of(const Packet& packet) noexcept {
  bool forward = false;
  return flow_key_of(packet, forward);
}

bool is_forward(const FlowKey& key, const Packet& packet) noexcept {
  return packet.src_port == key.port_a && packet.src.bytes == key.addr_a;
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
  if (vlan != 0) {
    out += " vlan ";
    out += std::to_string(vlan);
  }
  return out;
}

}  // namespace netsentry::net
