#include "flow/flow_record.h"

#include <string>

namespace netsentry::flow {
namespace {

constexpr std::array<std::string_view, kCicFeatureCount> kCicNames = {
#define NETSENTRY_CIC_NAME(id, name) name,
    NETSENTRY_CIC_FEATURES(NETSENTRY_CIC_NAME)
#undef NETSENTRY_CIC_NAME
};
static_assert(kCicFeatureCount == 81, "the corrected CIC-IDS2017 CSVs have 81 feature columns");

// Decimal names for every protocol number, built once so protocol_name never allocates.
struct ProtocolNames {
  std::array<std::array<char, 4>, 256> text{};
  std::array<std::uint8_t, 256> length{};
  ProtocolNames() {
    for (int p = 0; p < 256; ++p) {
      const std::string s = std::to_string(p);
      for (std::size_t i = 0; i < s.size(); ++i) text[p][i] = s[i];
      length[p] = static_cast<std::uint8_t>(s.size());
    }
  }
};

}  // namespace

std::span<const std::string_view, kCicFeatureCount> cic_feature_names() { return kCicNames; }

std::optional<std::size_t> cic_feature_index(std::string_view name) {
  for (std::size_t i = 0; i < kCicNames.size(); ++i) {
    if (kCicNames[i] == name) return i;
  }
  return std::nullopt;
}

std::string_view end_reason_name(EndReason reason) {
  switch (reason) {
    case EndReason::kIdle:
      return "idle";
    case EndReason::kActive:
      return "active";
    case EndReason::kFin:
      return "fin";
    case EndReason::kRst:
      return "rst";
    case EndReason::kEvicted:
      return "evicted";
    case EndReason::kEndOfInput:
      return "end_of_input";
    case EndReason::kOngoing:
      return "ongoing";
    case EndReason::kCount:
      break;
  }
  return "unknown";
}

std::string_view protocol_name(std::uint8_t ip_proto) {
  switch (ip_proto) {
    case 6:
      return "TCP";
    case 17:
      return "UDP";
    case 1:
      return "ICMP";
    case 58:
      return "ICMPv6";
    default:
      break;
  }
  static const ProtocolNames names;
  return {names.text[ip_proto].data(), names.length[ip_proto]};
}

}  // namespace netsentry::flow
