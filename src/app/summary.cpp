#include "app/summary.h"

#include "fmt/format.h"

namespace netsentry::app {
namespace {

void append_reasons(std::string& out, const net::DecodeStats& d) {
  for (std::size_t r = 1; r < d.by_reason.size(); ++r) {
    if (d.by_reason[r]) {
      fmt::format_to(std::back_inserter(out), ", {} {}", d.by_reason[r],
                     net::decode_error_name(static_cast<net::DecodeError>(r)));
    }
  }
}

void append_values(std::string& out, const net::ValueCounts& values, bool ether_types) {
  out += " (";
  for (std::size_t i = 0; i < values.size; ++i) {
    if (i > 0) out += ", ";
    if (ether_types) {
      fmt::format_to(std::back_inserter(out), "0x{:04x} {}", values.value[i], values.count[i]);
    } else {
      fmt::format_to(std::back_inserter(out), "{} {}",
                     net::link_type_name(static_cast<net::LinkType>(values.value[i])),
                     values.count[i]);
    }
  }
  if (values.others) fmt::format_to(std::back_inserter(out), ", others {}", values.others);
  out += ')';
}

}  // namespace

std::string format_flood_summarized(const flow::FloodGuardStats& flood) {
  if (flood.summarized == 0) return {};
  return fmt::format("{} in flood summaries ({} flooded destinations) + ", flood.summarized,
                     flood.floods);
}

std::string format_not_in_flows(const net::DecodeStats& d) {
  std::string out = fmt::format("{} not in flows", d.not_in_flows());
  bool first = true;
  const auto sep = [&out, &first] {
    out += first ? ": " : ", ";
    first = false;
  };
  for (std::size_t r = 0; r < net::kNotIpCount; ++r) {
    if (d.not_ip[r] == 0) continue;
    sep();
    const auto reason = static_cast<net::NotIp>(r);
    fmt::format_to(std::back_inserter(out), "{} {}", d.not_ip[r], net::not_ip_name(reason));
    if (reason == net::NotIp::kOtherEtherType) append_values(out, d.other_ether_types, true);
    if (reason == net::NotIp::kUnsupportedLinkType) append_values(out, d.unsupported_links, false);
  }
  if (d.malformed_before_ip) {
    sep();
    fmt::format_to(std::back_inserter(out), "{} malformed before the IP header",
                   d.malformed_before_ip);
  }
  return out;
}

std::string format_flow_summary(const net::DecodeStats& d, const flow::FlowStats& f,
                                double seconds) {
  std::string out;
  const double rate = seconds > 0 ? static_cast<double>(d.packets) / seconds : 0;
  fmt::format_to(std::back_inserter(out),
                 "packets: {} ({} bytes; ipv4 {}, ipv6 {}, arp {}, other {}, fragments {})\n",
                 d.packets, d.bytes, d.ipv4, d.ipv6, d.arp, d.other_l3, d.fragments);
  // Every packet is in a flow (its outermost IP packet's) or counted under a named reason.
  fmt::format_to(std::back_inserter(out), "accounting: {} packets = {} in flows + {}{}\n",
                 d.packets, d.packets - d.not_in_flows() - f.flood.summarized,
                 format_flood_summarized(f.flood), format_not_in_flows(d));
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
  fmt::format_to(std::back_inserter(out),
                 "; peak live {}; TCP remnants {}; initiator by Zeek's rules {}, reversed {}\n",
                 f.peak, f.remnants, f.flipped, f.reversed);
  fmt::format_to(std::back_inserter(out), "malformed: {}", d.malformed);
  append_reasons(out, d);
  fmt::format_to(std::back_inserter(out), "\nevicted: {}\ntime: {:.3f} s, packets/s: {:.0f}\n",
                 f.evicted, seconds, rate);
  return out;
}

std::string format_flow_summary(const flow::FlowMeter& meter, double seconds) {
  std::string out = format_flow_summary(meter.decode_stats(), meter.table().stats(), seconds);
  const flow::TunnelStats& t = meter.tunnel_stats();
  const net::DecodeStats& inner = meter.inner_stats();
  fmt::format_to(std::back_inserter(out), "tunnels: {} inner packets in {} flows", t.total(),
                 meter.table().stats().tunnelled);
  for (std::size_t i = 0; i < net::kTunnelCount; ++i) {
    if (t.decapsulated[i]) {
      fmt::format_to(std::back_inserter(out), ", {} {}", t.decapsulated[i],
                     net::tunnel_name(static_cast<net::Tunnel>(i)));
    }
  }
  if (t.not_tunnel) {
    fmt::format_to(std::back_inserter(out), "; {} on a tunnel port without its header",
                   t.not_tunnel);
  }
  if (t.inner_not_ip) fmt::format_to(std::back_inserter(out), "; {} inner not IP", t.inner_not_ip);
  if (t.depth_limit) {
    fmt::format_to(std::back_inserter(out), "; {} nested past the depth limit", t.depth_limit);
  }
  if (inner.malformed) {
    fmt::format_to(std::back_inserter(out), "; inner malformed {}", inner.malformed);
    append_reasons(out, inner);
  }
  out += '\n';
  const net::ReassemblyStats& r = meter.reassembly_stats();
  fmt::format_to(std::back_inserter(out),
                 "fragments: {} reassembled into {} datagrams; {} datagrams incomplete ({} timed "
                 "out, {} evicted, {} over the per-source bound, {} at end of input); {} "
                 "overlapping, {} oversized\n",
                 r.reassembled_fragments, r.reassembled, r.incomplete, r.timed_out, r.evicted,
                 r.evicted_per_source, r.flushed, r.overlaps, r.oversized);
  return out;
}

}  // namespace netsentry::app
