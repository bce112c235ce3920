#include "detect/suppression.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include "core/error.h"
#include "fmt/format.h"

namespace netsentry::detect {

namespace {

constexpr const auto& kKinds = kind::kAll;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<int> parse_int(std::string_view text) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::optional<PortRange> parse_ports(std::string_view text) {
  const std::size_t dash = text.find('-');
  const std::optional<int> low = parse_int(text.substr(0, dash));
  const std::optional<int> high =
      dash == std::string_view::npos ? low : parse_int(text.substr(dash + 1));
  if (!low || !high || *low < 0 || *high > 65535 || *low > *high) return std::nullopt;
  return PortRange{static_cast<std::uint16_t>(*low), static_cast<std::uint16_t>(*high)};
}

std::string join_kinds() {
  std::string out;
  for (const std::string_view k : kKinds) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

}  // namespace

bool Subnet::contains(const net::IpAddress& ip) const {
  return ip.family == network.family && net::in_prefix(ip.bytes.data(), network, prefix);
}

std::optional<Subnet> Subnet::parse(std::string_view text) {
  const std::size_t slash = text.find('/');
  Subnet subnet;
  if (!net::IpAddress::parse(text.substr(0, slash), subnet.network)) return std::nullopt;
  const int max_prefix = subnet.network.family == 4 ? 32 : 128;
  subnet.prefix = max_prefix;
  if (slash != std::string_view::npos) {
    const std::optional<int> prefix = parse_int(text.substr(slash + 1));
    if (!prefix || *prefix < 0 || *prefix > max_prefix) return std::nullopt;
    subnet.prefix = *prefix;
  }
  return subnet;
}

bool SuppressionRule::matches(const Alert& alert) const {
  if (src && !src->contains(alert.src_ip)) return false;
  if (dst && !dst->contains(alert.dst_ip)) return false;
  if (addr && !addr->contains(alert.src_ip) && !addr->contains(alert.dst_ip)) return false;
  if (src_port && !src_port->contains(alert.src_port)) return false;
  if (dst_port && !dst_port->contains(alert.dst_port)) return false;
  if (port && !port->contains(alert.src_port) && !port->contains(alert.dst_port)) return false;
  if (kind && *kind != alert.kind) return false;
  if (protocol && !iequals(*protocol, alert.protocol)) return false;
  if (interface && *interface != alert.interface) return false;
  if (min_severity && alert.severity >= *min_severity) return false;
  return true;
}

bool SuppressionRule::matches(const Evidence& ev) const {
  // The evidence read as the alert it would be part of: the host is the source of what it did
  // (attacker) or the destination of what it suffered (victim).
  Alert view;
  view.kind = ev.kind;
  view.severity = ev.threat;
  view.interface = ev.interface;
  view.dst_port = ev.port;
  if (ev.ip_proto != 0) view.protocol = std::string(flow::protocol_name(ev.ip_proto));
  if (ev.role == Role::kVictim) {
    view.src_ip = ev.peer;
    view.dst_ip = ev.host;
  } else {
    view.src_ip = ev.host;
    view.dst_ip = ev.peer;
  }
  if (!ev.flows.empty()) view.src_port = ev.flows.back().src_port;
  return matches(view);
}

SuppressionRule SuppressionRule::parse(std::string_view text) {
  SuppressionRule rule;
  rule.text = std::string(text);
  const auto fail = [&](std::string_view token, std::string_view why) {
    throw core::Error(
        fmt::format("suppression rule \"{}\": bad token \"{}\": {}", text, token, why));
  };
  std::size_t pos = 0;
  bool any = false;
  while (pos < text.size()) {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    if (pos >= text.size()) break;
    std::size_t end = pos;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
    const std::string_view token = text.substr(pos, end - pos);
    pos = end;
    any = true;

    const std::size_t eq = token.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == token.size()) {
      fail(token, "expected key=value");
    }
    const std::string_view key = token.substr(0, eq);
    const std::string_view value = token.substr(eq + 1);
    const auto once = [&](auto& field) {
      if (field.has_value()) fail(token, fmt::format("\"{}\" given twice", key));
    };
    const auto subnet = [&](std::optional<Subnet>& field) {
      once(field);
      field = Subnet::parse(value);
      if (!field) fail(token, "expected an IPv4/IPv6 address or CIDR subnet");
    };
    const auto ports = [&](std::optional<PortRange>& field) {
      once(field);
      field = parse_ports(value);
      if (!field) fail(token, "expected a port 0-65535 or a range N-M");
    };
    if (key == "src") {
      subnet(rule.src);
    } else if (key == "dst") {
      subnet(rule.dst);
    } else if (key == "addr") {
      subnet(rule.addr);
    } else if (key == "src_port") {
      ports(rule.src_port);
    } else if (key == "dst_port") {
      ports(rule.dst_port);
    } else if (key == "port") {
      ports(rule.port);
    } else if (key == "kind") {
      once(rule.kind);
      if (std::find(kKinds.begin(), kKinds.end(), value) == kKinds.end()) {
        fail(token, "unknown kind; expected one of " + join_kinds());
      }
      rule.kind = std::string(value);
    } else if (key == "proto") {
      once(rule.protocol);
      rule.protocol = std::string(value);
    } else if (key == "iface") {
      once(rule.interface);
      rule.interface = std::string(value);
    } else if (key == "min_severity") {
      once(rule.min_severity);
      rule.min_severity = parse_severity(value);
      if (!rule.min_severity) fail(token, "expected LOW, MEDIUM, HIGH or CRITICAL");
    } else {
      fail(token,
           "unknown key; expected src, dst, addr, src_port, dst_port, port, kind, proto, iface or "
           "min_severity");
    }
  }
  if (!any) throw core::Error("suppression rule is empty; expected key=value tokens");
  return rule;
}

SuppressionRules::SuppressionRules(const std::vector<std::string>& rules) {
  for (const std::string& rule : rules) add(rule);
}

void SuppressionRules::add(std::string_view rule) {
  rules_.push_back(SuppressionRule::parse(rule));
}

bool SuppressionRules::suppressed(const Alert& alert) const {
  const bool hit = std::any_of(rules_.begin(), rules_.end(),
                               [&](const SuppressionRule& rule) { return rule.matches(alert); });
  if (hit) ++suppressed_count_;
  return hit;
}

bool SuppressionRules::suppressed(const Evidence& evidence) const {
  const bool hit = std::any_of(rules_.begin(), rules_.end(),
                               [&](const SuppressionRule& r) { return r.matches(evidence); });
  if (hit) ++suppressed_count_;
  return hit;
}

void SuppressionRules::filter(std::vector<Alert>& alerts) const {
  std::erase_if(alerts, [this](const Alert& alert) { return suppressed(alert); });
}

}  // namespace netsentry::detect
