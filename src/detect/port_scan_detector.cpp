#include "detect/port_scan_detector.h"

#include <fmt/format.h>

#include "detect/alert_format.h"

namespace netsentry::detect {

void PortScanRule::describe(Evidence& ev, const SubjectKey& key, std::string_view at_least,
                            std::uint64_t ports, double seconds) {
  ev.peer = key.dst;
  ev.description =
      fmt::format("Port scan suspected: {}{} ports on {} probed from {} in {} ({})", at_least,
                  format_count(ports), key.dst.to_string(), key.src.to_string(),
                  format_duration(seconds), flow::protocol_name(key.proto));
}

template class DistinctCountDetector<PortScanRule>;

}  // namespace netsentry::detect
