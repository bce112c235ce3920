#include "detect/host_detectors.h"

#include <fmt/format.h>

#include "core/error.h"
#include "detect/beacon_detector.h"
#include "detect/brute_force_detector.h"
#include "detect/dns_tunnel_detector.h"
#include "detect/exfiltration_detector.h"
#include "detect/host_scan_detector.h"
#include "detect/icmp_flood_detector.h"
#include "detect/neighbour_spoof_detector.h"
#include "detect/network_flood_detector.h"
#include "detect/port_scan_detector.h"
#include "detect/slow_http_detector.h"
#include "detect/syn_flood_detector.h"
#include "detect/tcp_flood_detector.h"
#include "detect/udp_flood_detector.h"

namespace netsentry::detect {

void validate(const HostDetectorOptions& o) {
  const auto bad = [](std::string_view what) {
    throw core::Error(fmt::format("host detectors: {}", what));
  };
  if (o.window_ns <= 0) bad("window must be positive");
  if (o.max_tracked == 0) bad("max_tracked must be positive");
  if (!(o.critical_factor >= 1)) bad("critical_factor must be at least 1");
  if (!(o.syn_flood_ratio > 0 && o.syn_flood_ratio <= 1)) {
    bad(fmt::format("syn_flood_ratio must be in (0, 1], got {}", o.syn_flood_ratio));
  }
  if (!(o.udp_flood_packets_per_second >= 0)) {
    bad("udp_flood_packets_per_second must not be negative");
  }
  if (!(o.udp_flood_unanswered_packets_per_second >= 0) ||
      !(o.icmp_flood_packets_per_second >= 0) || !(o.tcp_flood_packets_per_second >= 0)) {
    bad("flood packet rates must not be negative");
  }
  if (!(o.udp_flood_unanswered_ratio > 0 && o.udp_flood_unanswered_ratio <= 1)) {
    bad(fmt::format("udp_flood_unanswered_ratio must be in (0, 1], got {}",
                    o.udp_flood_unanswered_ratio));
  }
  if (!(o.brute_force_same_reply_ratio > 0.5 && o.brute_force_same_reply_ratio <= 1)) {
    bad(fmt::format("brute_force_same_reply_ratio must be in (0.5, 1], got {}",
                    o.brute_force_same_reply_ratio));
  }
  if (!(o.slow_http_early_seconds >= 0)) bad("slow_http_early_seconds must not be negative");
  if (o.spoof_binding_ns <= 0 || o.dns_tunnel_window_ns <= 0 || o.beacon_window_ns <= 0) {
    bad("spoof_binding, dns_tunnel_window and beacon_window must be positive");
  }
  if (!(o.beacon_max_dispersion > 0) || !(o.beacon_max_spread >= 1) ||
      !(o.beacon_min_interval_s > 0) || !(o.beacon_max_interval_s >= o.beacon_min_interval_s)) {
    bad("beacon_max_dispersion and beacon_min_interval_s must be positive and "
        "beacon_max_interval_s at least beacon_min_interval_s");
  }
  if (o.dns_tunnel_encoded_names > 16) {
    bad(fmt::format("dns_tunnel_encoded_names must be at most 16, got {}",
                    o.dns_tunnel_encoded_names));
  }
  if (o.beacon_connections > 0 && o.beacon_connections < 4) {
    bad("beacon_connections must be 0 (off) or at least 4 (three intervals)");
  }
  if (!(o.exfil_min_seconds >= 0) || !(o.exfil_max_bytes_per_second > 0)) {
    bad("exfil_min_seconds must not be negative and exfil_max_bytes_per_second must be positive");
  }
}

std::vector<std::unique_ptr<Detector>> make_host_detectors(const HostDetectorOptions& o) {
  validate(o);
  std::vector<std::unique_ptr<Detector>> out;
  if (o.port_scan_ports > 0) out.push_back(std::make_unique<PortScanDetector>(o));
  if (o.host_scan_hosts > 0) out.push_back(std::make_unique<HostScanDetector>(o));
  if (o.syn_flood_half_open > 0) out.push_back(std::make_unique<SynFloodDetector>(o));
  // The UDP and ICMP flood detectors ask it whether a host's network is flooded: it is handed
  // each attempt before them (the stage hands a batch's network summaries over before its
  // hosts').
  NetworkFloodDetector* networks = nullptr;
  if ((o.udp_flood_packets_per_second > 0 && o.udp_flood_unanswered_packets_per_second > 0) ||
      o.icmp_flood_packets_per_second > 0) {
    auto detector = std::make_unique<NetworkFloodDetector>(o);
    networks = detector.get();
    out.push_back(std::move(detector));
  }
  if (o.udp_flood_packets_per_second > 0) {
    out.push_back(std::make_unique<UdpFloodDetector>(o, networks));
  }
  if (o.icmp_flood_packets_per_second > 0) {
    out.push_back(std::make_unique<IcmpFloodDetector>(o, networks));
  }
  if (o.tcp_flood_packets_per_second > 0) out.push_back(std::make_unique<TcpFloodDetector>(o));
  if (o.brute_force_sessions > 0 || o.brute_force_web_sessions > 0) {
    out.push_back(std::make_unique<BruteForceDetector>(o));
  }
  if (o.slow_http_connections > 0) out.push_back(std::make_unique<SlowHttpDetector>(o));
  if (o.exfil_min_seconds > 0) out.push_back(std::make_unique<ExfiltrationDetector>(o));
  if (o.spoof_detection) out.push_back(std::make_unique<NeighbourSpoofDetector>(o));
  if (o.dns_tunnel_names > 0) out.push_back(std::make_unique<DnsTunnelDetector>(o));
  if (o.beacon_connections > 0) out.push_back(std::make_unique<BeaconDetector>(o));
  return out;
}

}  // namespace netsentry::detect
