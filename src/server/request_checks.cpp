#include "server/request_checks.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace netsentry::server {

std::string host_of(std::string_view value) {
  std::string_view h = value;
  if (!h.empty() && h.front() == '[') {
    const std::size_t close = h.find(']');
    h = close == std::string_view::npos ? h.substr(1) : h.substr(1, close - 1);
  } else if (const std::size_t colon = h.find(':');
             colon != std::string_view::npos && h.find(':', colon + 1) == std::string_view::npos) {
    h = h.substr(0, colon);  // name:port; a bare IPv6 address has several colons
  }
  while (!h.empty() && h.back() == '.') h.remove_suffix(1);  // "localhost." is "localhost"
  std::string out(h);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
  });
  return out;
}

std::string port_of(std::string_view host_port, std::string_view fallback) {
  std::size_t start = 0;
  if (!host_port.empty() && host_port.front() == '[') {
    const std::size_t close = host_port.find(']');
    if (close == std::string_view::npos) return std::string(fallback);
    start = close + 1;
  } else if (std::count(host_port.begin(), host_port.end(), ':') > 1) {
    return std::string(fallback);  // a bare IPv6 address
  }
  const std::size_t colon = host_port.find(':', start);
  return colon == std::string_view::npos ? std::string(fallback)
                                         : std::string(host_port.substr(colon + 1));
}

bool is_allowed_host(std::string_view host_header, const std::vector<std::string>& allowed) {
  const std::string host = host_of(host_header);
  if (host.empty() || host.find('\0') != std::string::npos) return false;
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return true;
  }
  if (host == "localhost" || (host.size() > 10 && host.ends_with(".localhost"))) return true;
  return std::any_of(allowed.begin(), allowed.end(),
                     [&](const std::string& name) { return host_of(name) == host; });
}

bool same_origin(std::string_view origin, std::string_view host_header) {
  if (host_header.empty()) return false;
  for (const auto& [scheme, port] :
       {std::pair<std::string_view, std::string_view>{"http://", "80"}, {"https://", "443"}}) {
    if (origin.substr(0, scheme.size()) != scheme) continue;
    std::string_view rest = origin.substr(scheme.size());
    rest = rest.substr(0, rest.find_first_of("/?#"));
    if (rest.find('@') != std::string_view::npos) return false;  // user@host is not an origin
    return host_of(rest) == host_of(host_header) &&
           port_of(rest, port) == port_of(host_header, "80");
  }
  return false;
}

bool accepts_gzip(std::string_view value) {
  std::string_view rest = value;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    const std::size_t semi = item.find(';');
    std::string_view coding = item.substr(0, semi);
    while (!coding.empty() && coding.back() == ' ') coding.remove_suffix(1);
    if (coding != "gzip") continue;
    if (semi == std::string_view::npos) return true;
    std::string_view q = item.substr(semi + 1);
    while (!q.empty() && q.front() == ' ') q.remove_prefix(1);
    // "q=0", "q=0.0", "q=0.000" refuse it; anything else accepts.
    if (q.substr(0, 2) != "q=") return true;
    q.remove_prefix(2);
    return q.find_first_not_of("0.") != std::string_view::npos;
  }
  return false;
}

std::optional<std::int64_t> parse_id(std::string_view text) {
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

bool constant_time_equal(std::string_view given, std::string_view expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned char>(g ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

}  // namespace netsentry::server
