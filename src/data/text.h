// Provides the small text helpers shared by the CSV loader and the preprocessor: trimming,
// case-insensitive comparison, number-cell classification and protocol-name canonicalisation
// without allocation (the live-record path uses them per flow).
// Thread rules: pure functions; safe from any thread.
#pragma once

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string_view>
#include <utility>

namespace netsentry::data::text {

[[nodiscard]] inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

[[nodiscard]] inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

[[nodiscard]] inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

[[nodiscard]] inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

enum class CellKind { kNumber, kEmpty, kNonFinite, kBad };

// Classifies and parses a numeric cell. Accepts surrounding spaces, a leading '+', and NaN /
// Infinity / inf in any case (as kNonFinite, value NaN). Anything else non-numeric is kBad.
template <typename T>
[[nodiscard]] inline CellKind parse_number(std::string_view cell, T& out) {
  cell = trim(cell);
  if (cell.empty()) {
    out = std::numeric_limits<T>::quiet_NaN();
    return CellKind::kEmpty;
  }
  const char* first = cell.data();
  const char* last = first + cell.size();
  if (*first == '+' && cell.size() > 1 && first[1] != '-') ++first;
  auto [ptr, ec] = std::from_chars(first, last, out);
  if (ptr != last) return CellKind::kBad;
  if (ec == std::errc::result_out_of_range) {
    // Values beyond the type's range are infinite for our purposes.
    out = std::numeric_limits<T>::quiet_NaN();
    return CellKind::kNonFinite;
  }
  if (ec != std::errc{}) return CellKind::kBad;
  if (!std::isfinite(out)) {
    out = std::numeric_limits<T>::quiet_NaN();
    return CellKind::kNonFinite;
  }
  return CellKind::kNumber;
}

// True for the column names that hold an IP protocol in the dialects we read.
[[nodiscard]] inline bool is_protocol_column(std::string_view name) {
  return iequals(name, "Protocol") || name == "protocol_type" || name == "proto";
}

// Canonical protocol text: names and IANA numbers of the common protocols map to a lower-case
// name ("TCP", "tcp", "6" -> "tcp"); any other text is lower-cased into `buf` (truncated to its
// size). The result views either static storage or `buf`.
[[nodiscard]] inline std::string_view canonical_protocol(std::string_view cell,
                                                         std::array<char, 32>& buf) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kNumbers = {{
      {"6", "tcp"},
      {"17", "udp"},
      {"1", "icmp"},
      {"58", "icmpv6"},
      {"132", "sctp"},
      {"47", "gre"},
      {"2", "igmp"},
  }};
  cell = trim(cell);
  for (const auto& [num, name] : kNumbers) {
    if (cell == num || iequals(cell, name)) return name;
  }
  const std::size_t n = cell.size() < buf.size() ? cell.size() : buf.size();
  for (std::size_t i = 0; i < n; ++i) buf[i] = lower(cell[i]);
  return {buf.data(), n};
}

}  // namespace netsentry::data::text
