// Provides detect::SuppressionRules, the user's answer to false positives: evidence matching a rule
// is dropped before it reaches a host's profile (so it can neither raise nor grow an alert), and
// alerts matching one can be filtered too.
//
// Grammar (one rule per string; the config holds a list of them):
//   rule     := token (whitespace token)*
//   token    := key "=" value
//   key      := "src" | "dst" | "addr"            value: IPv4/IPv6 address, or CIDR "a.b.c.d/n"
//             | "src_port" | "dst_port" | "port"  value: N or N-M (0..65535)
//             | "kind"                            value: a detect::kind key ("port_scan", ...)
//             | "proto"                           value: "TCP", "UDP", "ICMP", ... (any case)
//             | "iface"                           value: interface name ("eth0", "total")
//             | "min_severity"                    value: LOW | MEDIUM | HIGH | CRITICAL
// "addr" and "port" match either side. Each key may appear once per rule. A rule matches an alert
// when every selector in it matches; with min_severity, only alerts BELOW that severity match, so
// "min_severity=MEDIUM" alone drops every LOW alert and "src=10.0.0.0/8 min_severity=HIGH" drops
// what 10/8 causes unless it is HIGH or worse. An alert is suppressed when any rule matches.
// Examples: "src=10.0.0.0/8 kind=port_scan", "dst_port=53", "min_severity=MEDIUM",
//           "addr=2001:db8::/32 proto=udp".
// Errors name the rule and the bad token (core::Error).
// Thread rules: add() before use; suppressed() may then be called from one thread (it counts).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/alert.h"
#include "net/packet.h"

namespace netsentry::detect {

// An address with a prefix length (a host when prefix is 32 / 128).
struct Subnet {
  net::IpAddress network;
  int prefix = 0;
  [[nodiscard]] bool contains(const net::IpAddress& ip) const;
  // "10.0.0.0/8", "2001:db8::/32", "10.1.2.3"; nullopt when malformed.
  [[nodiscard]] static std::optional<Subnet> parse(std::string_view text);
};

struct PortRange {
  std::uint16_t low = 0;
  std::uint16_t high = 65535;
  [[nodiscard]] bool contains(std::uint16_t port) const { return port >= low && port <= high; }
};

struct SuppressionRule {
  std::string text;  // as written, for messages and listings
  std::optional<Subnet> src, dst, addr;
  std::optional<PortRange> src_port, dst_port, port;
  std::optional<std::string> kind, protocol, interface;
  std::optional<Severity> min_severity;

  [[nodiscard]] bool matches(const Alert& alert) const;
  // Evidence is matched as the alert it would build: src/dst from the host and its role, the
  // evidence's port as dst_port, its threat as the severity.
  [[nodiscard]] bool matches(const Evidence& evidence) const;
  // Throws core::Error: `suppression rule "...": bad token "...": <why>`.
  [[nodiscard]] static SuppressionRule parse(std::string_view text);
};

class SuppressionRules final {
 public:
  SuppressionRules() = default;
  // Parses every rule; throws core::Error on the first bad one.
  explicit SuppressionRules(const std::vector<std::string>& rules);

  void add(std::string_view rule);
  // True when some rule matches; counts it.
  [[nodiscard]] bool suppressed(const Alert& alert) const;
  [[nodiscard]] bool suppressed(const Evidence& evidence) const;
  // Removes the suppressed alerts from `alerts` (keeps order).
  void filter(std::vector<Alert>& alerts) const;

  [[nodiscard]] std::uint64_t suppressed_count() const { return suppressed_count_; }
  [[nodiscard]] const std::vector<SuppressionRule>& rules() const { return rules_; }
  [[nodiscard]] bool empty() const { return rules_.empty(); }

 private:
  std::vector<SuppressionRule> rules_;
  mutable std::uint64_t suppressed_count_ = 0;
};

}  // namespace netsentry::detect
