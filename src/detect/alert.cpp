#include "detect/alert.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <cstring>

namespace netsentry::detect {

namespace {
constexpr std::array<std::string_view, 4> kSeverityNames = {"LOW", "MEDIUM", "HIGH", "CRITICAL"};

std::uint64_t mix(std::uint64_t h) {
  // splitmix64 finaliser.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

std::uint64_t address_hash(const net::IpAddress& ip, std::uint64_t seed) {
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;
  std::memcpy(&lo, ip.bytes.data(), 8);
  std::memcpy(&hi, ip.bytes.data() + 8, 8);
  return mix(seed ^ mix(lo ^ mix(hi + ip.family)));
}
}  // namespace

std::string_view severity_name(Severity severity) {
  const auto i = static_cast<std::size_t>(severity);
  return i < kSeverityNames.size() ? kSeverityNames[i] : std::string_view("UNKNOWN");
}

std::optional<Severity> parse_severity(std::string_view text) {
  for (std::size_t i = 0; i < kSeverityNames.size(); ++i) {
    const std::string_view name = kSeverityNames[i];
    if (name.size() != text.size()) continue;
    bool same = true;
    for (std::size_t c = 0; c < name.size() && same; ++c) {
      same = std::toupper(static_cast<unsigned char>(text[c])) == name[c];
    }
    if (same) return static_cast<Severity>(i);
  }
  return std::nullopt;
}

std::string_view role_name(Role role) { return role == Role::kVictim ? "victim" : "attacker"; }

std::string_view role_name(Role role, const net::IpAddress& profile) {
  return profile.family == 0 ? std::string_view() : role_name(role);
}

std::string_view alert_state_name(AlertState state) {
  return state == AlertState::kPast ? "past" : "engaged";
}

std::string_view alert_change_name(AlertChange change) {
  switch (change) {
    case AlertChange::kRaised:
      return "raised";
    case AlertChange::kUpdated:
      return "updated";
    case AlertChange::kEscalated:
      return "escalated";
    case AlertChange::kPast:
      return "past";
  }
  return "updated";
}

FlowRef FlowRef::of(const flow::FlowRecord& record) {
  FlowRef ref;
  ref.start_ns = record.start_ns;
  ref.src = record.src_ip;
  ref.dst = record.dst_ip;
  ref.src_port = record.src_port;
  ref.dst_port = record.dst_port;
  ref.ip_proto = record.ip_proto;
  return ref;
}

std::string FlowRef::to_string() const {
  const std::string_view proto = flow::protocol_name(ip_proto);
  const auto endpoint = [&](const net::IpAddress& ip, std::uint16_t port) {
    const std::string address = ip.family == 0 ? std::string("?") : ip.to_string();
    if (ip_proto != 6 && ip_proto != 17) return address;
    return ip.family == 6 ? fmt::format("[{}]:{}", address, port)
                          : fmt::format("{}:{}", address, port);
  };
  return fmt::format("{} {} -> {}", proto, endpoint(src, src_port), endpoint(dst, dst_port));
}

std::uint64_t FlowRef::hash() const {
  std::uint64_t h = address_hash(src, 0x9e3779b97f4a7c15ULL);
  h = address_hash(dst, h);
  h = mix(h ^ (std::uint64_t{src_port} << 32 | std::uint64_t{dst_port} << 8 | ip_proto));
  return mix(h ^ static_cast<std::uint64_t>(start_ns));
}

}  // namespace netsentry::detect
