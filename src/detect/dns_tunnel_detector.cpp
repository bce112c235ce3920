#include "detect/dns_tunnel_detector.h"

#include <fmt/format.h>

#include <algorithm>

#include "detect/alert.h"
#include "detect/alert_format.h"

namespace netsentry::detect {

namespace {

constexpr std::size_t kExampleChars = 80;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Printable ASCII only, at most kExampleChars: a DNS name is untrusted bytes.
std::string printable(std::string_view name) {
  std::string out;
  for (const char c : name.substr(0, kExampleChars)) {
    out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  }
  if (name.size() > kExampleChars) out += "...";
  return out;
}

std::size_t longest_label(std::string_view s) {
  std::size_t longest = 0;
  std::size_t run = 0;
  for (const char c : s) {
    run = c == '.' ? 0 : run + 1;
    longest = std::max(longest, run);
  }
  return longest;
}

std::uint32_t hash_name(std::string_view name) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (const char c : name) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return static_cast<std::uint32_t>(mix64(h));
}

}  // namespace

DnsDomain split_dns_domain(std::string_view name) {
  // Label starts from the right.
  std::size_t dots[3] = {std::string_view::npos, std::string_view::npos, std::string_view::npos};
  std::size_t found = 0;
  for (std::size_t i = name.size(); i-- > 0 && found < 3;) {
    if (name[i] == '.') dots[found++] = i;
  }
  if (found < 2) return {name, {}};
  std::size_t cut = dots[1];  // before the last two labels
  const std::string_view tld = name.substr(dots[0] + 1);
  const std::string_view second = name.substr(dots[1] + 1, dots[0] - dots[1] - 1);
  // example.co.uk, example.com.au: a two-letter country code under a short second level.
  if (tld.size() == 2 && second.size() <= 3) {
    if (found < 3) return {name, {}};
    cut = dots[2];
  }
  return {name.substr(cut + 1), name.substr(0, cut)};
}

DnsTunnelDetector::DnsTunnelDetector(const HostDetectorOptions& options)
    : options_(options), table_(options.dns_tunnel_window_ns, options.max_tracked) {
  validate(options_);
  sketches_.limit = options_.max_sketches;
}

auto DnsTunnelDetector::closer(std::vector<Evidence>& out) {
  return [this, &out](const Table::Entry& e) {
    const std::uint64_t names = e.state.names.count(false);
    if (e.state.grew(names)) {
      out.push_back(make(e, e.state.level));
      ++evidence_;
    }
  };
}

Evidence DnsTunnelDetector::make(const Table::Entry& e, int level) const {
  const State& s = e.state;
  const double t = double(options_.dns_tunnel_names);
  const auto names = s.names.count(false);
  Evidence ev = rule_evidence(kind::kDnsTunnel, name(), e.key, s, level,
                              rule_confidence(double(names), t, options_.critical_factor));
  ev.host = e.key.src;
  ev.role = Role::kAttacker;
  ev.peer = e.key.dst;
  ev.port = 53;
  ev.ip_proto = kUdp;
  ev.count = s.queries;
  ev.score = static_cast<float>(double(names) / t);
  ev.description = fmt::format(
      "DNS tunnelling suspected: {} asked {} for {} distinct long names under {} in {} ({} "
      "characters of encoded names; e.g. {})",
      e.key.src.to_string(), e.key.dst.to_string(), format_count(names), printable(s.domain),
      format_duration(s.elapsed_seconds()), format_count(s.subdomain_bytes), printable(s.example));
  ev.deviations.push_back({"distinct_long_names", double(names), t, ev.score});
  return ev;
}

void DnsTunnelDetector::on_sighting(const net::Sighting& sg, std::vector<Evidence>& out) {
  if (sg.kind != net::SightingKind::kDnsQuery || options_.dns_tunnel_names == 0) return;
  // The server is a resolver from now on; a resolver's own questions are its clients'.
  const std::uint64_t server = hash_address(sg.peer, 0x7f4a7c15ULL);
  if (resolvers_.insert(server).second) {
    resolver_order_.push_back(server);
    if (resolver_order_.size() > kMaxResolvers) {
      resolvers_.erase(resolver_order_.front());
      resolver_order_.pop_front();
    }
  }
  if (resolvers_.contains(hash_address(sg.ip, 0x7f4a7c15ULL))) return;
  const std::string_view name = sg.name;
  if (ends_with(name, ".arpa") || ends_with(name, ".local") || name == "arpa") return;
  const DnsDomain d = split_dns_domain(name);
  if (d.subdomain.size() < options_.dns_tunnel_min_subdomain ||
      longest_label(d.subdomain) < options_.dns_tunnel_min_label) {
    return;
  }
  // One window per client, server and domain (the domain's hash in the key's port and proto).
  const std::uint32_t domain_hash = hash_name(d.domain);
  SubjectKey key{sg.ip, sg.peer, static_cast<std::uint16_t>(domain_hash),
                 static_cast<std::uint8_t>(domain_hash >> 16)};
  auto& e = table_.touch(key, sg.ts_ns, closer(out));
  State& s = e.state;
  s.see(sg.ts_ns, sg.ts_ns);
  if (s.domain.empty()) s.domain = std::string(d.domain);
  s.example = std::string(name.substr(0, kExampleChars + 1));
  ++s.queries;
  s.subdomain_bytes += d.subdomain.size();
  s.names.add(hash_name(name), false, options_.dns_tunnel_names, sketches_);
  const int level = level_for(double(s.names.count(false)), double(options_.dns_tunnel_names),
                              options_.critical_factor);
  if (level > s.level) {
    s.level = level;
    s.reported = s.names.count(false);
    out.push_back(make(e, level));
    ++evidence_;
  }
}

void DnsTunnelDetector::advance(std::int64_t now_ns, std::vector<Evidence>& out) {
  table_.expire(now_ns, closer(out));
}

void DnsTunnelDetector::flush(std::vector<Evidence>& out) { table_.close_all(closer(out)); }

DetectorStats DnsTunnelDetector::stats() const {
  return {evidence_, table_.evictions(), table_.size()};
}

}  // namespace netsentry::detect
