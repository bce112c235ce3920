#include "app/summary.h"

#include "fmt/format.h"

namespace netsentry::app {

std::string format_flow_summary(const net::DecodeStats& d, const flow::FlowStats& f,
                                double seconds) {
  std::string out;
  const double rate = seconds > 0 ? static_cast<double>(d.packets) / seconds : 0;
  fmt::format_to(std::back_inserter(out),
                 "packets: {} ({} bytes; ipv4 {}, ipv6 {}, arp {}, other {}, fragments {})\n",
                 d.packets, d.bytes, d.ipv4, d.ipv6, d.arp, d.other_l3, d.fragments);
  fmt::format_to(std::back_inserter(out), "flows: {} written", f.emitted_total());
  for (std::size_t r = 0; r < flow::kEndReasonCount; ++r) {
    if (f.emitted[r]) {
      fmt::format_to(std::back_inserter(out), ", {} {}", f.emitted[r],
                     flow::end_reason_name(static_cast<flow::EndReason>(r)));
    }
  }
  if (f.single_packet_suppressed) {
    fmt::format_to(std::back_inserter(out), "; {} one-packet flows not written (--cic)",
                   f.single_packet_suppressed);
  }
  fmt::format_to(std::back_inserter(out), "; peak live {}\n", f.peak);
  fmt::format_to(std::back_inserter(out), "malformed: {}", d.malformed);
  for (std::size_t r = 1; r < d.by_reason.size(); ++r) {
    if (d.by_reason[r]) {
      fmt::format_to(std::back_inserter(out), ", {} {}", d.by_reason[r],
                     net::decode_error_name(static_cast<net::DecodeError>(r)));
    }
  }
  fmt::format_to(std::back_inserter(out), "\nevicted: {}\ntime: {:.3f} s, packets/s: {:.0f}\n",
                 f.evicted, seconds, rate);
  return out;
}

}  // namespace netsentry::app
