// Test helper: builds captured frames byte by byte (Ethernet, 802.1Q/QinQ, Linux SLL/SLL2, BSD
// null/loop, ARP, IPv4, IPv6 + extension headers, TCP, UDP, ICMP/ICMPv6) with chosen fields.
// Lengths, EtherTypes, protocol numbers and checksums are filled in from the layers you stack
// unless a spec overrides them, which is how tests make malformed packets.
//
//   auto frame = PacketBuilder()
//                    .ethernet()
//                    .vlan({.id = 7})
//                    .ipv4({.src = ip4(10, 0, 0, 1), .dst = ip4(10, 0, 0, 2)})
//                    .tcp({.src_port = 40000, .dst_port = 443, .flags = kSynAck})
//                    .payload(100)
//                    .build();
//
// Thread rules: a builder is a plain value; use one per thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <utility>
#include <variant>
#include <vector>

namespace netsentry::net::testing {

using Frame = std::vector<std::uint8_t>;
using Ipv4Bytes = std::array<std::uint8_t, 4>;
using Ipv6Bytes = std::array<std::uint8_t, 16>;
using MacBytes = std::array<std::uint8_t, 6>;

inline Ipv4Bytes ip4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return {a, b, c, d};
}

// Eight 16-bit groups, e.g. ip6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 1}) for 2001:db8::1.
inline Ipv6Bytes ip6(std::initializer_list<std::uint16_t> groups) {
  if (groups.size() != 8) throw std::invalid_argument("ip6() needs exactly 8 groups");
  Ipv6Bytes out{};
  std::size_t i = 0;
  for (std::uint16_t g : groups) {
    out[i++] = static_cast<std::uint8_t>(g >> 8);
    out[i++] = static_cast<std::uint8_t>(g & 0xFF);
  }
  return out;
}

inline constexpr std::uint8_t kFin = 0x01;
inline constexpr std::uint8_t kSyn = 0x02;
inline constexpr std::uint8_t kRst = 0x04;
inline constexpr std::uint8_t kPsh = 0x08;
inline constexpr std::uint8_t kAck = 0x10;
inline constexpr std::uint8_t kSynAck = kSyn | kAck;

struct EthernetSpec {
  MacBytes dst{0x02, 0, 0, 0, 0, 0x02};
  MacBytes src{0x02, 0, 0, 0, 0, 0x01};
  std::optional<std::uint16_t> ether_type{};  // default: from the next layer
};

struct VlanSpec {
  std::uint16_t id = 1;
  std::uint8_t priority = 0;
  std::uint16_t tpid = 0x8100;                // written by the layer before this tag
  std::optional<std::uint16_t> ether_type{};  // inner EtherType; default: from the next layer
};

struct SllSpec {
  std::uint16_t packet_type = 0;  // 0 = to us
  std::uint16_t arphrd = 1;       // ARPHRD_ETHER
  MacBytes address{0x02, 0, 0, 0, 0, 0x01};
  std::optional<std::uint16_t> protocol{};  // default: from the next layer
};

struct NullSpec {
  std::uint32_t family = 2;    // AF_INET; 24/28/30 are the BSD AF_INET6 values
  bool network_order = false;  // false: little-endian host order (DLT_NULL); true: DLT_LOOP
};

struct ArpSpec {
  std::uint16_t operation = 1;  // 1 request, 2 reply
  MacBytes sender_mac{0x02, 0, 0, 0, 0, 0x01};
  Ipv4Bytes sender_ip{192, 0, 2, 1};
  MacBytes target_mac{};
  Ipv4Bytes target_ip{192, 0, 2, 2};
};

struct Ipv4Spec {
  Ipv4Bytes src{192, 0, 2, 1};
  Ipv4Bytes dst{198, 51, 100, 2};
  std::uint8_t ttl = 64;
  std::uint8_t tos = 0;
  std::uint16_t id = 0x1234;
  bool dont_fragment = false;
  bool more_fragments = false;
  std::uint16_t fragment_offset = 0;            // in 8-byte units
  std::vector<std::uint8_t> options{};          // padded with zeros to a multiple of 4
  std::optional<std::uint8_t> protocol{};       // default: from the next layer
  std::optional<std::uint8_t> version{};        // default 4
  std::optional<std::uint8_t> ihl{};            // default from options, in 4-byte words
  std::optional<std::uint16_t> total_length{};  // default: header + everything inside
};

struct Ipv6Spec {
  Ipv6Bytes src = ip6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 1});
  Ipv6Bytes dst = ip6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 2});
  std::uint8_t hop_limit = 64;
  std::uint8_t traffic_class = 0;
  std::uint32_t flow_label = 0;
  std::optional<std::uint8_t> next_header{};      // default: from the next layer
  std::optional<std::uint8_t> version{};          // default 6
  std::optional<std::uint16_t> payload_length{};  // default: everything inside
};

// Hop-by-hop (0), routing (43), destination options (60) or AH (51). `length` is the header's
// size in bytes: a multiple of 8 (>= 8) for the first three, of 4 (>= 12) for AH.
struct Ipv6ExtensionSpec {
  std::uint8_t type = 0;
  std::size_t length = 8;
  std::optional<std::uint8_t> next_header{};  // default: from the next layer
};

struct Ipv6FragmentSpec {
  std::uint16_t offset = 0;  // in 8-byte units
  bool more = false;
  std::uint32_t id = 0xCAFE;
  std::optional<std::uint8_t> next_header{};  // default: from the next layer
};

struct TcpSpec {
  std::uint16_t src_port = 40000;
  std::uint16_t dst_port = 80;
  std::uint32_t seq = 1000;
  std::uint32_t ack = 0;
  std::uint8_t flags = kSyn;
  std::uint16_t window = 65535;
  std::vector<std::uint8_t> options{};        // padded with zeros to a multiple of 4
  std::optional<std::uint8_t> data_offset{};  // in 4-byte words; default from options
};

struct UdpSpec {
  std::uint16_t src_port = 40000;
  std::uint16_t dst_port = 53;
  std::optional<std::uint16_t> length{};  // default: 8 + everything inside
};

// ICMP under IPv4, ICMPv6 under IPv6. `rest` is the second 32-bit word (id/sequence for echo).
struct IcmpSpec {
  std::uint8_t type = 8;
  std::uint8_t code = 0;
  std::uint32_t rest = 0x00010001;
};

class PacketBuilder {
 public:
  PacketBuilder& ethernet(EthernetSpec spec = {}) { return add(std::move(spec)); }
  PacketBuilder& vlan(VlanSpec spec = {}) { return add(std::move(spec)); }
  PacketBuilder& sll(SllSpec spec = {}) { return add(Sll{std::move(spec)}); }
  PacketBuilder& sll2(SllSpec spec = {}) { return add(Sll2{std::move(spec)}); }
  PacketBuilder& null_header(NullSpec spec = {}) { return add(std::move(spec)); }
  PacketBuilder& arp(ArpSpec spec = {}) { return add(std::move(spec)); }
  PacketBuilder& ipv4(Ipv4Spec spec = {}) { return add(std::move(spec)); }
  PacketBuilder& ipv6(Ipv6Spec spec = {}) { return add(std::move(spec)); }
  PacketBuilder& ipv6_extension(Ipv6ExtensionSpec spec) { return add(std::move(spec)); }
  PacketBuilder& ipv6_fragment(Ipv6FragmentSpec spec = {}) { return add(std::move(spec)); }
  PacketBuilder& tcp(TcpSpec spec = {}) { return add(std::move(spec)); }
  PacketBuilder& udp(UdpSpec spec = {}) { return add(std::move(spec)); }
  PacketBuilder& icmp(IcmpSpec spec = {}) { return add(std::move(spec)); }
  PacketBuilder& payload(std::vector<std::uint8_t> bytes) { return add(Payload{std::move(bytes)}); }
  // `size` bytes counting up from `first`, so tests can tell payload bytes apart.
  PacketBuilder& payload(std::size_t size, std::uint8_t first = 0) {
    std::vector<std::uint8_t> bytes(size);
    for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::uint8_t>(first + i);
    return add(Payload{std::move(bytes)});
  }
  // Bytes after the last layer that no length field covers, like Ethernet padding.
  PacketBuilder& trailer(std::size_t size, std::uint8_t fill = 0) {
    trailer_.assign(size, fill);
    return *this;
  }

  [[nodiscard]] Frame build() const {
    Frame inner;
    for (std::size_t i = layers_.size(); i-- > 0;) {
      Frame header =
          std::visit([&](const auto& spec) { return serialize(spec, i, inner); }, layers_[i]);
      header.insert(header.end(), inner.begin(), inner.end());
      inner = std::move(header);
    }
    inner.insert(inner.end(), trailer_.begin(), trailer_.end());
    return inner;
  }

 private:
  struct Sll {
    SllSpec spec;
  };
  struct Sll2 {
    SllSpec spec;
  };
  struct Payload {
    std::vector<std::uint8_t> bytes;
  };
  using Layer =
      std::variant<EthernetSpec, VlanSpec, Sll, Sll2, NullSpec, ArpSpec, Ipv4Spec, Ipv6Spec,
                   Ipv6ExtensionSpec, Ipv6FragmentSpec, TcpSpec, UdpSpec, IcmpSpec, Payload>;

  template <typename T>
  PacketBuilder& add(T layer) {
    layers_.emplace_back(std::move(layer));
    return *this;
  }

  static void put16(Frame& f, std::uint16_t v) {
    f.push_back(static_cast<std::uint8_t>(v >> 8));
    f.push_back(static_cast<std::uint8_t>(v & 0xFF));
  }
  static void put32(Frame& f, std::uint32_t v) {
    put16(f, static_cast<std::uint16_t>(v >> 16));
    put16(f, static_cast<std::uint16_t>(v & 0xFFFF));
  }
  template <typename Container>
  static void put(Frame& f, const Container& bytes) {
    f.insert(f.end(), bytes.begin(), bytes.end());
  }
  static void pad_to(std::vector<std::uint8_t>& bytes, std::size_t multiple) {
    while (bytes.size() % multiple != 0) bytes.push_back(0);
  }

  // Internet checksum (RFC 1071) over `sum` already accumulated plus `bytes`.
  static std::uint16_t checksum(const Frame& bytes, std::uint32_t sum = 0) {
    for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) {
      sum += static_cast<std::uint32_t>(bytes[i] << 8 | bytes[i + 1]);
    }
    if (bytes.size() % 2 != 0) sum += static_cast<std::uint32_t>(bytes.back() << 8);
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum & 0xFFFF);
  }

  const Layer* next_layer(std::size_t i) const {
    return i + 1 < layers_.size() ? &layers_[i + 1] : nullptr;
  }

  // The closest IP layer before layer `i`, for ICMP numbering and L4 pseudo-header checksums.
  const Layer* enclosing_ip(std::size_t i) const {
    while (i-- > 0) {
      if (std::holds_alternative<Ipv4Spec>(layers_[i]) ||
          std::holds_alternative<Ipv6Spec>(layers_[i])) {
        return &layers_[i];
      }
    }
    return nullptr;
  }

  std::uint16_t ether_type_for(std::size_t i) const {
    const Layer* next = next_layer(i);
    if (next == nullptr) return 0x88B5;  // IEEE local experimental
    if (const auto* tag = std::get_if<VlanSpec>(next)) return tag->tpid;
    if (std::holds_alternative<Ipv4Spec>(*next)) return 0x0800;
    if (std::holds_alternative<Ipv6Spec>(*next)) return 0x86DD;
    if (std::holds_alternative<ArpSpec>(*next)) return 0x0806;
    return 0x88B5;
  }

  std::uint8_t ip_protocol_for(std::size_t i, bool inside_ipv6) const {
    const Layer* next = next_layer(i);
    if (next == nullptr) return inside_ipv6 ? 59 : 253;  // no next header / experimental
    if (std::holds_alternative<TcpSpec>(*next)) return 6;
    if (std::holds_alternative<UdpSpec>(*next)) return 17;
    if (std::holds_alternative<IcmpSpec>(*next)) return inside_ipv6 ? 58 : 1;
    if (const auto* ext = std::get_if<Ipv6ExtensionSpec>(next)) return ext->type;
    if (std::holds_alternative<Ipv6FragmentSpec>(*next)) return 44;
    if (std::holds_alternative<Ipv4Spec>(*next)) return 4;
    if (std::holds_alternative<Ipv6Spec>(*next)) return 41;
    return inside_ipv6 ? 59 : 253;
  }

  bool inside_ipv6(std::size_t i) const {
    const Layer* ip = enclosing_ip(i);
    return ip != nullptr && std::holds_alternative<Ipv6Spec>(*ip);
  }

  // Pseudo-header sum for the L4 segment `segment` of layer `i` (0 when there is no IP layer).
  std::uint32_t pseudo_header_sum(std::size_t i, std::uint8_t proto, std::size_t length) const {
    const Layer* ip = enclosing_ip(i);
    if (ip == nullptr) return 0;
    Frame pseudo;
    if (const auto* v4 = std::get_if<Ipv4Spec>(ip)) {
      put(pseudo, v4->src);
      put(pseudo, v4->dst);
      put16(pseudo, proto);
      put16(pseudo, static_cast<std::uint16_t>(length));
    } else {
      const auto& v6 = std::get<Ipv6Spec>(*ip);
      put(pseudo, v6.src);
      put(pseudo, v6.dst);
      put32(pseudo, static_cast<std::uint32_t>(length));
      put32(pseudo, proto);
    }
    std::uint32_t sum = 0;
    for (std::size_t k = 0; k < pseudo.size(); k += 2) {
      sum += static_cast<std::uint32_t>(pseudo[k] << 8 | pseudo[k + 1]);
    }
    return sum;
  }

  // Writes the checksum of `header + inner` (plus pseudo-header sum) at `offset` in `header`.
  static void fill_checksum(Frame& header, std::size_t offset, const Frame& inner,
                            std::uint32_t pseudo_sum) {
    Frame whole = header;
    whole.insert(whole.end(), inner.begin(), inner.end());
    const std::uint16_t sum = checksum(whole, pseudo_sum);
    header[offset] = static_cast<std::uint8_t>(sum >> 8);
    header[offset + 1] = static_cast<std::uint8_t>(sum & 0xFF);
  }

  Frame serialize(const EthernetSpec& s, std::size_t i, const Frame&) const {
    Frame f;
    put(f, s.dst);
    put(f, s.src);
    put16(f, s.ether_type.value_or(ether_type_for(i)));
    return f;
  }
  Frame serialize(const VlanSpec& s, std::size_t i, const Frame&) const {
    Frame f;
    put16(f, static_cast<std::uint16_t>(s.priority << 13 | (s.id & 0x0FFF)));
    put16(f, s.ether_type.value_or(ether_type_for(i)));
    return f;
  }
  Frame serialize(const Sll& l, std::size_t i, const Frame&) const {
    Frame f;
    put16(f, l.spec.packet_type);
    put16(f, l.spec.arphrd);
    put16(f, static_cast<std::uint16_t>(l.spec.address.size()));
    put(f, l.spec.address);
    put16(f, 0);  // address field is 8 bytes; 6 used
    put16(f, l.spec.protocol.value_or(ether_type_for(i)));
    return f;
  }
  Frame serialize(const Sll2& l, std::size_t i, const Frame&) const {
    Frame f;
    put16(f, l.spec.protocol.value_or(ether_type_for(i)));
    put16(f, 0);  // reserved
    put32(f, 1);  // interface index
    put16(f, l.spec.arphrd);
    f.push_back(static_cast<std::uint8_t>(l.spec.packet_type));
    f.push_back(static_cast<std::uint8_t>(l.spec.address.size()));
    put(f, l.spec.address);
    put16(f, 0);
    return f;
  }
  Frame serialize(const NullSpec& s, std::size_t, const Frame&) const {
    Frame f;
    if (s.network_order) {
      put32(f, s.family);
    } else {
      for (int k = 0; k < 4; ++k) f.push_back(static_cast<std::uint8_t>(s.family >> (8 * k)));
    }
    return f;
  }
  Frame serialize(const ArpSpec& s, std::size_t, const Frame&) const {
    Frame f;
    put16(f, 1);       // Ethernet
    put16(f, 0x0800);  // IPv4
    f.push_back(6);
    f.push_back(4);
    put16(f, s.operation);
    put(f, s.sender_mac);
    put(f, s.sender_ip);
    put(f, s.target_mac);
    put(f, s.target_ip);
    return f;
  }
  Frame serialize(const Ipv4Spec& s, std::size_t i, const Frame& inner) const {
    std::vector<std::uint8_t> options = s.options;
    pad_to(options, 4);
    const std::size_t header_len = 20 + options.size();
    Frame f;
    f.push_back(static_cast<std::uint8_t>(s.version.value_or(4) << 4 |
                                          (s.ihl.value_or(header_len / 4) & 0x0F)));
    f.push_back(s.tos);
    put16(f, s.total_length.value_or(static_cast<std::uint16_t>(header_len + inner.size())));
    put16(f, s.id);
    put16(f, static_cast<std::uint16_t>((s.dont_fragment ? 0x4000 : 0) |
                                        (s.more_fragments ? 0x2000 : 0) |
                                        (s.fragment_offset & 0x1FFF)));
    f.push_back(s.ttl);
    f.push_back(s.protocol.value_or(ip_protocol_for(i, false)));
    put16(f, 0);
    put(f, s.src);
    put(f, s.dst);
    put(f, options);
    fill_checksum(f, 10, {}, 0);
    return f;
  }
  Frame serialize(const Ipv6Spec& s, std::size_t i, const Frame& inner) const {
    Frame f;
    put32(f, static_cast<std::uint32_t>(s.version.value_or(6)) << 28 |
                 static_cast<std::uint32_t>(s.traffic_class) << 20 | (s.flow_label & 0xFFFFF));
    put16(f, s.payload_length.value_or(static_cast<std::uint16_t>(inner.size())));
    f.push_back(s.next_header.value_or(ip_protocol_for(i, true)));
    f.push_back(s.hop_limit);
    put(f, s.src);
    put(f, s.dst);
    return f;
  }
  Frame serialize(const Ipv6ExtensionSpec& s, std::size_t i, const Frame&) const {
    Frame f(s.length < 2 ? 2 : s.length, 0);
    f[0] = s.next_header.value_or(ip_protocol_for(i, true));
    const bool ah = s.type == 51;
    f[1] = static_cast<std::uint8_t>(ah ? s.length / 4 - 2 : s.length / 8 - 1);
    if (!ah && s.length >= 8) {
      f[2] = 1;  // a PadN option covering the rest, so options are well-formed
      f[3] = static_cast<std::uint8_t>(s.length - 4);
    }
    return f;
  }
  Frame serialize(const Ipv6FragmentSpec& s, std::size_t i, const Frame&) const {
    Frame f;
    f.push_back(s.next_header.value_or(ip_protocol_for(i, true)));
    f.push_back(0);
    put16(f, static_cast<std::uint16_t>(s.offset << 3 | (s.more ? 1 : 0)));
    put32(f, s.id);
    return f;
  }
  Frame serialize(const TcpSpec& s, std::size_t i, const Frame& inner) const {
    std::vector<std::uint8_t> options = s.options;
    pad_to(options, 4);
    const std::size_t header_len = 20 + options.size();
    Frame f;
    put16(f, s.src_port);
    put16(f, s.dst_port);
    put32(f, s.seq);
    put32(f, s.ack);
    f.push_back(static_cast<std::uint8_t>(s.data_offset.value_or(header_len / 4) << 4));
    f.push_back(s.flags);
    put16(f, s.window);
    put16(f, 0);  // checksum
    put16(f, 0);  // urgent pointer
    put(f, options);
    fill_checksum(f, 16, inner, pseudo_header_sum(i, 6, f.size() + inner.size()));
    return f;
  }
  Frame serialize(const UdpSpec& s, std::size_t i, const Frame& inner) const {
    Frame f;
    put16(f, s.src_port);
    put16(f, s.dst_port);
    put16(f, s.length.value_or(static_cast<std::uint16_t>(8 + inner.size())));
    put16(f, 0);
    fill_checksum(f, 6, inner, pseudo_header_sum(i, 17, f.size() + inner.size()));
    return f;
  }
  Frame serialize(const IcmpSpec& s, std::size_t i, const Frame& inner) const {
    Frame f;
    f.push_back(s.type);
    f.push_back(s.code);
    put16(f, 0);
    put32(f, s.rest);
    const bool v6 = inside_ipv6(i);
    fill_checksum(f, 2, inner, v6 ? pseudo_header_sum(i, 58, f.size() + inner.size()) : 0);
    return f;
  }
  Frame serialize(const Payload& p, std::size_t, const Frame&) const { return p.bytes; }

  std::vector<Layer> layers_;
  std::vector<std::uint8_t> trailer_;
};

}  // namespace netsentry::net::testing
