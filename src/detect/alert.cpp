#include "detect/alert.h"

#include <array>
#include <cctype>

namespace netsentry::detect {

namespace {
constexpr std::array<std::string_view, 4> kSeverityNames = {"LOW", "MEDIUM", "HIGH", "CRITICAL"};
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

}  // namespace netsentry::detect
