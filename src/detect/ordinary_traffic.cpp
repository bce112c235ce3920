#include "detect/ordinary_traffic.h"

#include "detect/detector_support.h"

namespace netsentry::detect {

namespace {

constexpr std::uint8_t kIgmp = 2;
constexpr std::uint8_t kEigrp = 88;
constexpr std::uint8_t kOspf = 89;
constexpr std::uint8_t kPim = 103;
constexpr std::uint8_t kVrrp = 112;  // also CARP

bool either_port(const flow::FlowRecord& r, std::uint16_t a, std::uint16_t b = 0) {
  return r.src_port == a || r.dst_port == a || (b != 0 && (r.src_port == b || r.dst_port == b));
}

// An address no host can send from: IPv4 multicast (224/4), the limited broadcast, "this
// network" (0/8; DHCP's 0.0.0.0 is named before), IPv6 multicast (ff00::/8).
bool no_host_source(const net::IpAddress& a) {
  return net::is_broadcast_or_multicast_address(a) || (a.family == 4 && a.bytes[0] == 0);
}

bool without_payload(const flow::FlowRecord& r) {
  return r[flow::CicFeature::kTotalLengthFwd] <= 0 && r[flow::CicFeature::kTotalLengthBwd] <= 0;
}

}  // namespace

OrdinaryTraffic::OrdinaryTraffic(OrdinaryTrafficOptions options)
    // Small pages: slots are written at random, so a huge page would commit 2 MiB at the first.
    : options_(options), slots_(std::max<std::size_t>(1, options.max_hosts), /*huge_bytes=*/0) {}

std::size_t OrdinaryTraffic::slot_of(const net::IpAddress& host) const {
  return static_cast<std::size_t>(hash_address(host, 0x51ed27ULL) % slots_.size());
}

void OrdinaryTraffic::on_flow_event(const flow::FlowEvent& event) {
  if (event.moment == flow::FlowMoment::kStart) on_flow_started(event.src, event.ts_ns);
}

void OrdinaryTraffic::on_flow_started(const net::IpAddress& initiator, std::int64_t time_ns) {
  if (first_ns_ == 0 || (time_ns > 0 && time_ns < first_ns_)) first_ns_ = time_ns;
  Slot& slot = slots_.for_write(slot_of(initiator));  // read, then written
  if (slot.host == initiator) {
    slot.time_ns = std::max(slot.time_ns, time_ns);
  } else {
    slot = {initiator, time_ns};
  }
}

bool OrdinaryTraffic::started_recently(const net::IpAddress& host, std::int64_t time_ns) const {
  const Slot& slot = slots_[slot_of(host)];
  return slot.host == host && time_ns - slot.time_ns <= options_.error_window_ns;
}

std::string_view OrdinaryTraffic::reason(const flow::FlowRecord& r) const {
  if (!options_.loopback && net::is_loopback_address(r.src_ip) &&
      net::is_loopback_address(r.dst_ip)) {
    return "loopback (the host talking to itself)";
  }
  const int type = static_cast<int>(r[flow::CicFeature::kIcmpType]);
  const std::string_view named = by_protocol(r, type);
  if (!named.empty()) return named;
  if (no_host_source(r.src_ip)) {
    return "a source address no host can have (multicast, broadcast or 0/8: spoofed)";
  }
  return {};
}

std::string_view OrdinaryTraffic::by_protocol(const flow::FlowRecord& r, int type) const {
  switch (r.ip_proto) {
    case kIcmpv6:
      if (type >= 133 && type <= 137) return "IPv6 neighbour/router discovery";
      if ((type >= 130 && type <= 132) || type == 143) return "IPv6 multicast listener discovery";
      if (type >= 1 && type <= 4 && started_recently(r.dst_ip, r.start_ns)) {
        return "ICMPv6 error about an existing flow";
      }
      return {};
    case kIcmp:
      if ((type == 3 || type == 4 || type == 5 || type == 11 || type == 12) &&
          started_recently(r.dst_ip, r.start_ns)) {
        return "ICMP error about an existing flow";
      }
      return {};
    case kIgmp:
      return "IGMP";
    case kEigrp:
    case kOspf:
    case kPim:
      return "routing protocol";
    case kVrrp:
      return "router redundancy protocol (VRRP/CARP)";
    case kUdp:
      if (either_port(r, 67, 68)) return "DHCP";
      if (either_port(r, 546, 547)) return "DHCPv6";
      if (either_port(r, 5353)) return "mDNS";
      if (either_port(r, 5355)) return "LLMNR";
      if (either_port(r, 1900)) return "SSDP";
      if (either_port(r, 137, 138)) return "NetBIOS name/datagram service";
      if (either_port(r, 520, 521) || either_port(r, 6696) || either_port(r, 646)) {
        return "routing protocol";  // RIP, RIPng, Babel, LDP discovery
      }
      if (either_port(r, 1985, 2029)) return "router redundancy protocol (HSRP)";
      if (either_port(r, 3784, 3785) || either_port(r, 4784)) {
        return "bidirectional forwarding detection (BFD)";
      }
      if (either_port(r, 6343) || either_port(r, 2055) || either_port(r, 4739)) {
        return "flow export (sFlow/NetFlow/IPFIX)";
      }
      return {};
    case kTcp:
      if (r.dst_port == 5355) return "LLMNR";
      if (either_port(r, 179) || either_port(r, 646)) return "routing protocol";  // BGP, LDP
      if (r.packet_count <= options_.bare_tcp_max_packets && without_payload(r)) {
        return "TCP without payload (left to the host detectors)";
      }
      if (options_.joined_window_ns > 0 && first_ns_ != 0 &&
          r.start_ns - first_ns_ <= options_.joined_window_ns &&
          r.history.view().find_first_of("SsHh") == std::string_view::npos) {
        return "joined mid-connection (it was open before the capture began)";
      }
      return {};
    default:
      return {};
  }
}

}  // namespace netsentry::detect
