#include "detect/host_scan_detector.h"

#include <fmt/format.h>

#include <string>

#include "detect/alert_format.h"

namespace netsentry::detect {

void HostScanRule::describe(Evidence& ev, const SubjectKey& key, std::string_view at_least,
                            std::uint64_t hosts, double seconds) {
  const std::string target =
      (key.proto == kTcp || key.proto == kUdp)
          ? fmt::format("port {}/{}{}", key.port, flow::protocol_name(key.proto),
                        service_suffix(key.port))
          : std::string(flow::protocol_name(key.proto));
  ev.description =
      fmt::format("Host scan suspected: {}{} hosts probed on {} from {} in {}", at_least,
                  format_count(hosts), target, key.src.to_string(), format_duration(seconds));
}

template class DistinctCountDetector<HostScanRule>;

}  // namespace netsentry::detect
