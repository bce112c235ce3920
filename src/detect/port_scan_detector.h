// Provides detect::PortScanDetector: distinct destination ports probed on one host by one source
// (TCP or UDP) within a window, from probes (attempts that got no service: refused,
// unanswered, half-open or reset; see detect::Attempt). The scanner is the profile (attacker), the
// scanned host the peer. Counting probes rather than flows keeps busy clients and FTP data channels
// out. Thread rules: not thread-safe; one owner thread.
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

// What the port scan counts (see DistinctCountDetector): destination ports (exact) per source,
// destination and protocol.
struct PortScanRule {
  static constexpr std::string_view kName = "port_scan";
  static constexpr std::string_view kKind = kind::kPortScan;
  static constexpr std::string_view kDeviation = "distinct_ports";
  static constexpr bool kIdentity = true;

  // A source's first probe (the key holds its addresses and protocol).
  struct FirstProbe {
    std::int64_t start_ns = 0;
    std::int64_t time_ns = 0;
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
  };

  static std::size_t threshold(const HostDetectorOptions& o) { return o.port_scan_ports; }
  static bool counts(const Attempt& p) { return p.ip_proto == kTcp || p.ip_proto == kUdp; }
  static SubjectKey key(const Attempt& p) { return {p.src, p.dst, 0, p.ip_proto}; }
  static std::uint32_t value(const Attempt& p) { return p.dst_port; }
  static FirstProbe first_probe(const Attempt& p) {
    return {p.start_ns, p.time_ns, p.src_port, p.dst_port};
  }
  static void restore(Attempt& p, const FirstProbe& first) {
    p.start_ns = first.start_ns;
    p.time_ns = first.time_ns;
    p.src_port = first.src_port;
    p.dst_port = first.dst_port;
  }
  static void describe(Evidence& ev, const SubjectKey& key, std::string_view at_least,
                       std::uint64_t ports, double seconds);
};

class PortScanDetector final : public DistinctCountDetector<PortScanRule> {
 public:
  using DistinctCountDetector::DistinctCountDetector;
};

extern template class DistinctCountDetector<PortScanRule>;

}  // namespace netsentry::detect
