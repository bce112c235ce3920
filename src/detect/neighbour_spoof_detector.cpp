#include "detect/neighbour_spoof_detector.h"

#include <fmt/format.h>

#include <algorithm>

#include "detect/alert.h"
#include "detect/alert_format.h"

namespace netsentry::detect {

namespace {

bool unspecified(const net::IpAddress& ip) {
  return std::all_of(ip.bytes.begin(), ip.bytes.end(), [](std::uint8_t b) { return b == 0; });
}

// The conflict table's key: the claimed address, the claiming MAC (in dst's first six bytes,
// address family 0: never a real address) and the VLAN.
SubjectKey conflict_key(const net::IpAddress& ip, const net::MacAddress& mac, std::uint16_t vlan) {
  SubjectKey key;
  key.src = ip;
  std::copy(mac.begin(), mac.end(), key.dst.bytes.begin());
  key.port = vlan;
  return key;
}

}  // namespace

NeighbourSpoofDetector::NeighbourSpoofDetector(const HostDetectorOptions& options)
    : options_(options),
      bindings_(options.max_tracked),
      owners_(options.max_tracked),
      conflicts_(options.window_ns, options.max_tracked) {
  validate(options_);
}

auto NeighbourSpoofDetector::closer(std::vector<Evidence>& out) {
  return [this, &out](const Table::Entry& e) {
    if (e.state.grew(e.state.claims)) {
      out.push_back(make(e));
      ++evidence_;
    }
  };
}

Evidence NeighbourSpoofDetector::make(const Table::Entry& e) const {
  const State& s = e.state;
  const bool owns_other = s.claimer_ip.family != 0 && !(s.claimer_ip == e.key.src);
  const bool other_sender = s.sender.family != 0;
  const bool repeated = s.claims >= std::max<std::size_t>(1, options_.spoof_claims);
  const double confidence =
      std::min(1.0, 0.5 + (owns_other ? 0.3 : 0) + (other_sender ? 0.3 : 0) + (repeated ? 0.3 : 0));
  Evidence ev =
      rule_evidence(s.ipv6 ? kind::kNdSpoof : kind::kArpSpoof, name(), e.key, s, 1, confidence);
  ev.port = 0;
  ev.ip_proto = s.ipv6 ? kIcmpv6 : 0;
  ev.count = s.claims;
  ev.score = static_cast<float>(double(s.claims) /
                                double(std::max<std::size_t>(1, options_.spoof_claims)));
  const std::string claimer =
      owns_other ? fmt::format("{} ({})", net::format_mac(s.claimer), s.claimer_ip.to_string())
                 : net::format_mac(s.claimer);
  if (other_sender) {
    ev.host = s.sender;
    ev.role = Role::kAttacker;
    ev.peer = e.key.src;
  } else if (owns_other) {
    ev.host = s.claimer_ip;
    ev.role = Role::kAttacker;
    ev.peer = e.key.src;
  } else {
    ev.host = e.key.src;
    ev.role = Role::kVictim;
  }
  ev.description =
      fmt::format("{} spoofing suspected: {}{} claims {}, which is at {} ({} {} in {})",
                  s.ipv6 ? "Neighbour discovery" : "ARP", claimer,
                  other_sender ? fmt::format(" sent from {}", s.sender.to_string()) : std::string(),
                  e.key.src.to_string(), net::format_mac(s.bound), format_count(s.claims),
                  s.claims == 1 ? "claim" : "claims", format_duration(s.elapsed_seconds()));
  ev.deviations.push_back(
      {"conflicting_claims", double(s.claims), double(options_.spoof_claims), ev.score});
  return ev;
}

void NeighbourSpoofDetector::conflict(const net::Sighting& sg, const net::MacAddress& suspect,
                                      const net::IpAddress& suspect_sender,
                                      const net::MacAddress& rightful, std::vector<Evidence>& out) {
  auto& e = conflicts_.touch(conflict_key(sg.ip, suspect, sg.vlan), sg.ts_ns, closer(out));
  State& s = e.state;
  s.see(sg.ts_ns, sg.ts_ns);
  ++s.claims;
  s.claimer = suspect;
  s.bound = rightful;
  s.ipv6 = sg.ip.family == 6;
  if (!s.ipv6) {
    if (const Owner* owner = owners_.find(suspect)) s.claimer_ip = owner->ip;
  }
  // An advertisement about a target sent from another (non-link-local) address of the claimer.
  if (s.ipv6 && suspect_sender.family == 6 && !(suspect_sender == sg.ip) &&
      !(suspect_sender.bytes[0] == 0xFE && (suspect_sender.bytes[1] & 0xC0) == 0x80)) {
    s.sender = suspect_sender;
  }
  // Evidence at the first conflict and again when the claims repeat; later claims update the
  // window's summary.
  const int stage = s.claims >= std::max<std::size_t>(1, options_.spoof_claims) ? 2 : 1;
  if (stage > s.level) {
    s.level = stage;
    s.reported = s.claims;
    out.push_back(make(e));
    ++evidence_;
  }
}

void NeighbourSpoofDetector::on_sighting(const net::Sighting& sg, std::vector<Evidence>& out) {
  using K = net::SightingKind;
  if (sg.kind != K::kArpRequest && sg.kind != K::kArpReply && sg.kind != K::kNeighbourSolicit &&
      sg.kind != K::kNeighbourAdvert) {
    return;
  }
  if (unspecified(sg.ip)) return;  // an ARP probe (RFC 5227) claims nothing yet
  if (sg.ip.family == 4 && !owners_.find(sg.mac)) owners_.insert(sg.mac, Owner{sg.ip});
  SubjectKey key;
  key.src = sg.ip;
  key.port = sg.vlan;
  Binding* bound = bindings_.find(key);
  if (!bound || sg.ts_ns - bound->first_ns > options_.spoof_binding_ns) {
    const Binding fresh{sg.mac, sg.ts_ns, sg.ts_ns, sg.sender};
    if (bound) {
      *bound = fresh;
    } else {
      bindings_.insert(key, fresh);
    }
    return;
  }
  if (bound->mac == sg.mac) {
    bound->last_ns = std::max(bound->last_ns, sg.ts_ns);
    bound->sender = sg.sender;
    return;
  }
  const Binding before = *bound;
  // The MAC the address moved away from is back within a window: it is the owner, and the MAC
  // that took the address over is the suspect. The binding returns to the owner.
  if (before.moved && sg.mac == before.previous &&
      sg.ts_ns - before.moved_ns <= options_.window_ns) {
    *bound = Binding{sg.mac, before.first_ns, sg.ts_ns, sg.sender};
    conflict(sg, before.mac, before.sender, sg.mac, out);
    return;
  }
  // The bound MAC has been silent for a window: the address moved to another device.
  if (sg.ts_ns - before.last_ns > options_.window_ns) {
    *bound = Binding{sg.mac, sg.ts_ns, sg.ts_ns, sg.sender, before.mac, sg.ts_ns, true};
  }
  conflict(sg, sg.mac, sg.sender, before.mac, out);
}

void NeighbourSpoofDetector::advance(std::int64_t now_ns, std::vector<Evidence>& out) {
  conflicts_.expire(now_ns, closer(out));
}

void NeighbourSpoofDetector::flush(std::vector<Evidence>& out) {
  conflicts_.close_all(closer(out));
}

DetectorStats NeighbourSpoofDetector::stats() const {
  return {evidence_, conflicts_.evictions() + bindings_.evictions() + owners_.evictions(),
          bindings_.size()};
}

}  // namespace netsentry::detect
