#include "detect/dns_tunnel_detector.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "detect/alert.h"
#include "detect/alert_format.h"

namespace netsentry::detect {

namespace {

constexpr std::size_t kExampleChars = 80;
constexpr std::int64_t kRefreshNs = 30'000'000'000;

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

bool looks_encoded(std::string_view subdomain, std::size_t min_label) {
  bool any = false;
  std::size_t start = 0;
  while (start <= subdomain.size()) {
    std::size_t end = subdomain.find('.', start);
    if (end == std::string_view::npos) end = subdomain.size();
    const std::string_view label = subdomain.substr(start, end - start);
    start = end + 1;
    if (label.size() < min_label) continue;
    std::array<std::uint16_t, 128> seen{};
    std::size_t digits = 0;
    std::size_t letters = 0;
    std::size_t vowels = 0;
    bool hex = true;
    for (const char c : label) {
      const auto u = static_cast<unsigned char>(c);
      const auto lower = static_cast<unsigned char>(u | 0x20);
      if (u >= '0' && u <= '9') {
        ++digits;
      } else if (lower >= 'a' && lower <= 'z') {
        ++letters;
        hex = hex && lower <= 'f';
        if (lower == 'a' || lower == 'e' || lower == 'i' || lower == 'o' || lower == 'u') ++vowels;
      } else {
        return false;  // a hyphen, an underscore, anything else: not an encoding we know
      }
      ++seen[u];
    }
    if (digits < 2 || letters < 2) return false;
    // Words carry about two vowels in five letters; random base32/base64 letters one in five.
    if (!hex && double(vowels) > 0.35 * double(letters)) return false;
    double entropy = 0;
    const double n = double(label.size());
    for (const std::uint16_t count : seen) {
      if (count == 0) continue;
      const double p = double(count) / n;
      entropy -= p * std::log2(p);
    }
    if (entropy < (hex ? 3.0 : 3.5)) return false;
    any = true;
  }
  return any;
}

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
    const std::uint64_t names = names_seen(e.state);
    if (e.state.grew(names)) {
      out.push_back(make(e, e.state.level));
      ++evidence_;
    }
  };
}

double DnsTunnelDetector::measure(const State& s) const {
  double ratio = double(s.names.count(false)) / double(options_.dns_tunnel_names);
  if (options_.dns_tunnel_encoded_names > 0) {
    ratio = std::max(ratio, double(s.encoded_count) / double(options_.dns_tunnel_encoded_names));
  }
  return ratio;
}

Evidence DnsTunnelDetector::make(const Table::Entry& e, int level) const {
  const State& s = e.state;
  const double t = double(options_.dns_tunnel_names);
  const auto names = s.names.count(false);
  const double ratio = measure(s);
  Evidence ev = rule_evidence(kind::kDnsTunnel, name(), e.key, s, level,
                              rule_confidence(ratio, 1.0, options_.critical_factor));
  ev.host = e.key.src;
  ev.role = Role::kAttacker;
  ev.peer = e.key.dst;
  ev.port = 53;
  ev.ip_proto = kUdp;
  ev.count = s.queries;
  ev.score = static_cast<float>(ratio);
  const std::string encoded =
      s.encoded_count == 0 ? std::string()
                           : fmt::format(", {}{} of them encoded data",
                                         s.encoded_count >= s.encoded.size() ? "at least " : "",
                                         format_count(s.encoded_count));
  ev.description = fmt::format(
      "DNS tunnelling suspected: {} asked {} for {} distinct long names under {} in {}{} ({} "
      "characters of long names; e.g. {})",
      e.key.src.to_string(), e.key.dst.to_string(), format_count(names), printable(s.domain),
      format_duration(s.elapsed_seconds()), encoded, format_count(s.subdomain_bytes),
      printable(s.example));
  ev.deviations.push_back({"distinct_long_names", double(names), t, double(names) / t});
  if (options_.dns_tunnel_encoded_names > 0 && s.encoded_count > 0) {
    const double te = double(options_.dns_tunnel_encoded_names);
    ev.deviations.push_back(
        {"distinct_encoded_names", double(s.encoded_count), te, double(s.encoded_count) / te});
  }
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
  const std::uint32_t h = hash_name(name);
  s.names.add(h, false, options_.dns_tunnel_names, sketches_);
  if (options_.dns_tunnel_encoded_names > 0 && s.encoded_count < s.encoded.size() &&
      looks_encoded(d.subdomain, options_.dns_tunnel_min_label)) {
    const auto end = s.encoded.begin() + static_cast<std::ptrdiff_t>(s.encoded_count);
    if (std::find(s.encoded.begin(), end, h) == end) s.encoded[s.encoded_count++] = h;
  }
  const int level = level_for(measure(s), 1.0, options_.critical_factor);
  const std::uint64_t names = names_seen(s);
  // Evidence when the threshold is crossed (or the critical level), and while the tunnel goes on
  // at most every kRefreshNs with its grown numbers, so its alert stays one engaged alert.
  if (level > s.level ||
      (s.level > 0 && names > s.reported && sg.ts_ns - s.reported_ns >= kRefreshNs)) {
    if (s.level == 0) {
      live_.push_back(key);
      if (live_.size() > kMaxLive) live_.pop_front();
    }
    s.level = std::max(s.level, level);
    s.reported = names;
    s.reported_ns = sg.ts_ns;
    out.push_back(make(e, s.level));
    ++evidence_;
  }
}

void DnsTunnelDetector::advance(std::int64_t now_ns, std::vector<Evidence>& out) {
  for (auto it = live_.begin(); it != live_.end();) {
    Table::Entry* e = table_.find(*it);
    if (e == nullptr || e->state.level == 0) {
      it = live_.erase(it);
      continue;
    }
    State& s = e->state;
    const std::uint64_t names = names_seen(s);
    if (names > s.reported && now_ns - s.reported_ns >= kRefreshNs) {
      s.reported = names;
      s.reported_ns = now_ns;
      out.push_back(make(*e, s.level));
      ++evidence_;
    }
    ++it;
  }
  table_.expire(now_ns, closer(out));
}

void DnsTunnelDetector::flush(std::vector<Evidence>& out) { table_.close_all(closer(out)); }

DetectorStats DnsTunnelDetector::stats() const {
  return {evidence_, table_.evictions(), table_.size()};
}

}  // namespace netsentry::detect
