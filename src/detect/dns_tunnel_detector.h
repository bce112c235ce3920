// Provides detect::DnsTunnelDetector: data carried out in DNS names (DNS tunnelling, low-rate
// exfiltration over DNS). From the DNS questions clients send (net::SightingKind::kDnsQuery) it
// counts, per client and domain (the name's last two labels, three under a two-letter country
// code with a short second level: example.co.uk), the distinct names whose part before the domain
// is long (dns_tunnel_min_subdomain characters, with a label of dns_tunnel_min_label: encoded
// data, not a host name) within dns_tunnel_window_ns. Crossing dns_tunnel_names is evidence
// (threat HIGH) about the client as attacker, the server as peer; CRITICAL at critical_factor
// times it. Names whose long labels look encoded (looks_encoded) cross sooner, at
// dns_tunnel_encoded_names: a tunnel asking one question every few seconds is named within
// seconds, while long readable names (service and CDN host names) need the full count. While
// the names keep coming, fresh evidence (replacing the last) follows at most every 30 s, and the
// last names are reported 30 s after the previous evidence, while its alert is still engaged.
// Resolvers forward their clients' questions: a host that was itself asked questions is a
// resolver, and its forwarded questions are not counted against it. Reverse lookups (.arpa) and
// link-local names (.local) never count.
// Memory is bounded: at most max_tracked (client, domain) windows, distinct names exact up to the
// threshold then estimated in bitmaps (max_sketches), at most 1,024 resolvers remembered.
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/host_detectors.h"

namespace netsentry::detect {

// The domain a DNS name belongs to ("a.b.example.co.uk" -> "example.co.uk") and the length of
// the part before it; the domain is the whole name when it has at most two labels.
struct DnsDomain {
  std::string_view domain;
  std::string_view subdomain;  // without the dot before the domain
};
[[nodiscard]] DnsDomain split_dns_domain(std::string_view name);

// True when every label of `subdomain` of at least min_label characters looks like encoded data
// (and there is one): ASCII letters and digits only, at least two of each; unless it is all hex,
// at most 35 % of its letters vowels (words have about 40 %, random base32 or base64 letters
// about 20 %); and at least 3.5 bits of character entropy (3 for hex: random base32 carries
// 4-5 bits over 32 characters, random hex 3.4-3.9 over 16-32).
[[nodiscard]] bool looks_encoded(std::string_view subdomain, std::size_t min_label);

class DnsTunnelDetector final : public Detector {
 public:
  explicit DnsTunnelDetector(const HostDetectorOptions& options);

  [[nodiscard]] std::string_view name() const override { return "dns_tunnel"; }
  void on_sighting(const net::Sighting& sighting, std::vector<Evidence>& out) override;
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;
  [[nodiscard]] DetectorStats stats() const override;

 private:
  struct State : Track {
    DistinctCounter names;
    std::array<std::uint32_t, 16> encoded{};  // distinct encoded-looking names (their hashes)
    std::size_t encoded_count = 0;
    std::int64_t reported_ns = 0;       // packet time of the latest evidence
    std::uint64_t queries = 0;          // long-name questions (repeats included)
    std::uint64_t subdomain_bytes = 0;  // their subdomain characters
    std::string domain;
    std::string example;  // the latest long name (for the description)
  };
  using Table = SubjectTable<State>;
  // Distinct long names plus encoded ones (what a new piece of evidence must have grown).
  [[nodiscard]] static std::uint64_t names_seen(const State& s) {
    return s.names.count(false) + s.encoded_count;
  }
  // The window's measure relative to its threshold (1 = crossed): long names against
  // dns_tunnel_names, encoded ones against dns_tunnel_encoded_names, whichever is further.
  [[nodiscard]] double measure(const State& s) const;
  [[nodiscard]] Evidence make(const Table::Entry& e, int level) const;
  [[nodiscard]] auto closer(std::vector<Evidence>& out);

  HostDetectorOptions options_;
  Table table_;
  SketchBudget sketches_;
  // Reported windows whose later names are still to be reported (at most kMaxLive, oldest
  // forgotten: their window's close reports them).
  static constexpr std::size_t kMaxLive = 256;
  std::deque<SubjectKey> live_;
  // Hosts that were asked questions, by address hash (at most kMaxResolvers, oldest forgotten).
  static constexpr std::size_t kMaxResolvers = 1'024;
  std::unordered_set<std::uint64_t> resolvers_;
  std::deque<std::uint64_t> resolver_order_;
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
