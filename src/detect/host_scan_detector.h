// Provides detect::HostScanDetector: distinct hosts probed on one port/protocol (or with ICMP echo)
// by one source within a window, from probes (detect::Attempt). The scanner is the profile.
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "detect/alert.h"
#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/distinct_count_detector.h"
#include "detect/host_detectors.h"

namespace netsentry::detect {

// What the host scan counts (see DistinctCountDetector): hashed destination addresses per source,
// port (TCP, UDP) and protocol.
struct HostScanRule {
  static constexpr std::string_view kName = "host_scan";
  static constexpr std::string_view kKind = kind::kHostScan;
  static constexpr std::string_view kDeviation = "distinct_hosts";
  static constexpr bool kIdentity = false;

  // A source's first probe (the key holds its source, port and protocol).
  struct FirstProbe {
    std::int64_t start_ns = 0;
    std::int64_t time_ns = 0;
    net::IpAddress dst;
    std::uint16_t src_port = 0;
  };

  static std::size_t threshold(const HostDetectorOptions& o) { return o.host_scan_hosts; }
  static bool counts(const Attempt& /*probe*/) { return true; }
  static SubjectKey key(const Attempt& p) {
    const std::uint16_t port = (p.ip_proto == kTcp || p.ip_proto == kUdp) ? p.dst_port : 0;
    return {p.src, {}, port, p.ip_proto};
  }
  static std::uint32_t value(const Attempt& p) {
    return static_cast<std::uint32_t>(hash_address(p.dst, 0));
  }
  static FirstProbe first_probe(const Attempt& p) {
    return {p.start_ns, p.time_ns, p.dst, p.src_port};
  }
  static void restore(Attempt& p, const FirstProbe& first) {
    p.start_ns = first.start_ns;
    p.time_ns = first.time_ns;
    p.dst = first.dst;
    p.src_port = first.src_port;
  }
  static void describe(Evidence& ev, const SubjectKey& key, std::string_view at_least,
                       std::uint64_t hosts, double seconds);
};

class HostScanDetector final : public DistinctCountDetector<HostScanRule> {
 public:
  using DistinctCountDetector::DistinctCountDetector;
};

extern template class DistinctCountDetector<HostScanRule>;

}  // namespace netsentry::detect
