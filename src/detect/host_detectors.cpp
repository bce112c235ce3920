#include "detect/host_detectors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/error.h"
#include "detect/alert_format.h"
#include "detect/windowed_table.h"
#include "fmt/format.h"

namespace netsentry::detect {

namespace {

using flow::CicFeature;

constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kUdp = 17;
constexpr std::uint8_t kIcmp = 1;
constexpr std::uint8_t kIcmpv6 = 58;
constexpr std::uint8_t kPortLogin = 1;
constexpr std::uint8_t kPortWeb = 2;

// Who and what a detector counts for. Unused parts stay zero.
struct SubjectKey {
  net::IpAddress src;
  net::IpAddress dst;
  std::uint16_t port = 0;
  std::uint8_t proto = 0;
  friend bool operator==(const SubjectKey&, const SubjectKey&) = default;
};

std::uint64_t mix(std::uint64_t h) {
  // splitmix64 finaliser: cheap and well distributed.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

std::uint64_t hash_address(const net::IpAddress& ip, std::uint64_t seed) {
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;
  std::memcpy(&lo, ip.bytes.data(), 8);
  std::memcpy(&hi, ip.bytes.data() + 8, 8);
  return mix(seed ^ mix(lo ^ mix(hi + ip.family)));
}

struct SubjectKeyHash {
  std::size_t operator()(const SubjectKey& key) const {
    const std::uint64_t h = hash_address(key.src, hash_address(key.dst, 0x9e3779b97f4a7c15ULL));
    return static_cast<std::size_t>(mix(h ^ (std::uint64_t{key.port} << 8) ^ key.proto));
  }
};

// What every detector keeps per subject to time and report its windows.
struct Track {
  std::int64_t first_ns = std::numeric_limits<std::int64_t>::max();
  std::int64_t last_ns = std::numeric_limits<std::int64_t>::min();
  int level = 0;               // 0 nothing reported, 1 HIGH, 2 CRITICAL
  std::uint64_t reported = 0;  // the measure at the last alert

  void see(const flow::FlowRecord& record) {
    first_ns = std::min(first_ns, record.start_ns);
    last_ns = std::max(last_ns, std::max(record.end_ns, record.start_ns));
  }
  [[nodiscard]] double elapsed_seconds() const {
    return last_ns > first_ns ? double(last_ns - first_ns) / 1e9 : 0.0;
  }
};

// One source, or "many" once a second distinct one shows up.
struct SourceTracker {
  net::IpAddress first;
  bool many = false;
  void see(const net::IpAddress& ip) {
    if (first.family == 0) {
      first = ip;
    } else if (!(first == ip)) {
      many = true;
    }
  }
};

struct ScanState : Track {
  DistinctCounter distinct;
  std::uint64_t probes = 0;
};

struct SynFloodState : Track {
  std::uint64_t attempts = 0;
  std::uint64_t half_open = 0;
  SourceTracker sources;
  SourceTracker destinations;  // the network-wide subject only
};

// The size that most replies share, by the majority vote (Boyer-Moore): when one size holds a
// fraction f > 1/2 of the votes, `lead` is at least (2f - 1) times the votes.
struct ReplySizeVote {
  std::uint64_t size = 0;
  std::uint64_t lead = 0;
  void add(std::uint64_t reply) {
    if (lead == 0) {
      size = reply;
      lead = 1;
    } else if (reply == size) {
      ++lead;
    } else {
      --lead;
    }
  }
  // True when at least `ratio` (> 1/2) of `votes` replies had one size.
  [[nodiscard]] bool holds(double ratio, std::uint64_t votes) const {
    return votes > 0 && double(lead) >= (2 * ratio - 1) * double(votes);
  }
};

struct BruteForceState : Track {
  std::uint64_t sessions = 0;
  ReplySizeVote replies;
};

// Slow HTTP (slowloris / slow POST): connections that stay open long while sending almost nothing.
// Distinct connections by source port, kept up to the threshold's critical level.
struct SlowHttpState : Track {
  std::vector<std::uint16_t> ports;
  std::uint64_t connections = 0;
  void add(std::uint16_t port, std::size_t cap) {
    if (std::find(ports.begin(), ports.end(), port) != ports.end()) return;
    ++connections;
    if (ports.size() < cap) ports.push_back(port);
  }
};

struct UdpFloodState : Track {
  std::uint64_t packets = 0;
  std::uint64_t flows = 0;
  std::uint64_t unanswered = 0;  // flows that got no UDP reply
  std::uint64_t unanswered_packets = 0;
  // The unanswered flows' own span: answered traffic to the host (DNS) may have opened the window
  // long before the flood and would dilute its rate.
  Track unanswered_span;
  SourceTracker sources;
};

struct IcmpFloodState : Track {
  std::uint64_t requests = 0;
};

template <class State>
using Table = WindowedTable<SubjectKey, State, SubjectKeyHash>;

Severity severity_for(int level) { return level >= 2 ? Severity::kCritical : Severity::kHigh; }

std::string_view service_name(std::uint16_t port) {
  switch (port) {
    case 21:
      return "FTP";
    case 22:
      return "SSH";
    case 23:
      return "Telnet";
    case 25:
    case 587:
      return "SMTP";
    case 465:
      return "SMTPS";
    case 80:
    case 8080:
      return "HTTP";
    case 110:
      return "POP3";
    case 143:
      return "IMAP";
    case 389:
      return "LDAP";
    case 443:
    case 8443:
      return "HTTPS";
    case 445:
      return "SMB";
    case 993:
      return "IMAPS";
    case 995:
      return "POP3S";
    case 1433:
      return "MSSQL";
    case 3306:
      return "MySQL";
    case 3389:
      return "RDP";
    case 5432:
      return "PostgreSQL";
    case 5900:
      return "VNC";
    default:
      return {};
  }
}

std::string service_suffix(std::uint16_t port) {
  const std::string_view name = service_name(port);
  return name.empty() ? std::string() : fmt::format(" ({})", name);
}

Alert base_alert(std::string_view kind, const Track& track, int level, std::uint8_t proto) {
  Alert alert;
  alert.kind = std::string(kind);
  alert.time_ns = track.first_ns;
  alert.last_ns = track.last_ns;
  alert.severity = severity_for(level);
  alert.protocol = std::string(flow::protocol_name(proto));
  return alert;
}

int level_for(double value, double threshold, double critical_factor) {
  if (threshold <= 0 || value < threshold) return 0;
  return value >= threshold * critical_factor ? 2 : 1;
}

std::uint64_t payload_bytes(const flow::FlowRecord& record) {
  return static_cast<std::uint64_t>(record[CicFeature::kTotalLengthFwd] +
                                    record[CicFeature::kTotalLengthBwd]);
}

}  // namespace

TcpHandshake tcp_handshake(const flow::FlowRecord& record) {
  TcpHandshake result;
  if (record.ip_proto != kTcp) return result;
  if (record.first_packets.empty()) {
    // No packet summaries kept: judge from the flag counts (SYN and SYN-ACK, an ACK each way).
    const double syn = record[CicFeature::kSynFlagCount];
    result.attempt = syn > 0;
    result.completed = syn >= 2 && record[CicFeature::kTotalBwdPackets] >= 1 &&
                       record[CicFeature::kTotalFwdPacket] >= 2 &&
                       record[CicFeature::kAckFlagCount] >= 2;
    return result;
  }
  using net::tcp_flag::kAck;
  using net::tcp_flag::kSyn;
  const flow::PacketSummary& first = record.first_packets.front();
  result.attempt = first.direction > 0 && (first.tcp_flags & kSyn) && !(first.tcp_flags & kAck);
  if (!result.attempt) return result;
  bool syn_ack = false;
  for (const flow::PacketSummary& p : record.first_packets) {
    const bool syn = p.tcp_flags & kSyn;
    const bool ack = p.tcp_flags & kAck;
    if (!syn_ack) {
      syn_ack = p.direction < 0 && syn && ack;
    } else if (p.direction > 0 && ack && !syn) {
      result.completed = true;
      break;
    }
  }
  return result;
}

bool is_probe(const flow::FlowRecord& record) {
  const bool no_reply = record[CicFeature::kTotalBwdPackets] <= 0;
  switch (record.ip_proto) {
    case kTcp: {
      if (payload_bytes(record) > 0) return false;
      return !tcp_handshake(record).completed || record[CicFeature::kRstFlagCount] > 0;
    }
    case kUdp:
      return no_reply;
    case kIcmp:
    case kIcmpv6: {
      const double type = record[CicFeature::kIcmpType];
      const bool echo_request =
          (record.ip_proto == kIcmp && type == 8) || (record.ip_proto == kIcmpv6 && type == 128);
      return echo_request && no_reply;
    }
    default:
      return false;
  }
}

struct HostDetectors::Tables {
  explicit Tables(const HostDetectorOptions& o)
      : port_scan(o.window_ns, o.max_tracked),
        host_scan(o.window_ns, o.max_tracked),
        syn_flood(o.window_ns, o.max_tracked),
        brute_force(o.window_ns, o.max_tracked),
        udp_flood(o.window_ns, o.max_tracked),
        icmp_flood(o.window_ns, o.max_tracked),
        slow_http(o.window_ns, o.max_tracked),
        port_class(65'536, 0) {
    budget.limit = o.max_sketches;
    for (const std::uint16_t p : o.brute_force_web_ports) port_class[p] = kPortWeb;
    for (const std::uint16_t p : o.brute_force_ports) port_class[p] = kPortLogin;
  }

  SketchBudget budget;
  Table<ScanState> port_scan;
  Table<ScanState> host_scan;
  Table<SynFloodState> syn_flood;
  Table<BruteForceState> brute_force;
  Table<UdpFloodState> udp_flood;
  Table<IcmpFloodState> icmp_flood;
  Table<SlowHttpState> slow_http;
  std::vector<std::uint8_t> port_class;  // by destination port: 0, kPortLogin, kPortWeb
};

namespace {

// The UDP packet rate that makes a flood: lower when almost no flow was answered.
// True when the unanswered part is a flood of its own kind: many flows, nearly one per packet
// (a new source port each time), so one-way streams (few flows) and DNS (answered) stay out.
bool unanswered_flood(const HostDetectorOptions& o, const UdpFloodState& s) {
  return o.udp_flood_unanswered_packets_per_second > 0 && s.unanswered >= o.udp_flood_min_flows &&
         double(s.unanswered) >= o.udp_flood_unanswered_ratio * double(s.unanswered_packets);
}
double udp_flood_limit(const HostDetectorOptions& o, const UdpFloodState& s) {
  return unanswered_flood(o, s) ? o.udp_flood_unanswered_packets_per_second
                                : o.udp_flood_packets_per_second;
}

// Echo requests per second, the span floored at 1 s as for UDP.
double icmp_rate(const IcmpFloodState& s) {
  return double(s.requests) / std::max(s.elapsed_seconds(), 1.0);
}

// The alert for a subject's current numbers, used both when a threshold is crossed and for the
// window's closing summary.
class AlertWriter {
 public:
  explicit AlertWriter(const HostDetectorOptions& o) : o_(o) {}

  [[nodiscard]] Alert port_scan(const Table<ScanState>::Entry& e, int level) const {
    const ScanState& s = e.state;
    const std::uint64_t ports = s.distinct.count(true);
    Alert a = base_alert(kind::kPortScan, s, level, e.key.proto);
    a.src_ip = e.key.src;
    a.dst_ip = e.key.dst;
    a.score = static_cast<float>(double(ports) / double(o_.port_scan_ports));
    a.reason = fmt::format("Port scan suspected: {}{} ports on {} probed from {} in {}",
                           s.distinct.saturated() ? "at least " : "", format_count(ports),
                           e.key.dst.to_string(), e.key.src.to_string(),
                           format_duration(s.elapsed_seconds()));
    a.evidence.push_back({"distinct_ports", double(ports), double(o_.port_scan_ports), a.score});
    a.evidence.push_back({"probes", double(s.probes), 0, 0});
    return a;
  }

  [[nodiscard]] Alert host_scan(const Table<ScanState>::Entry& e, int level) const {
    const ScanState& s = e.state;
    const std::uint64_t hosts = s.distinct.count(false);
    Alert a = base_alert(kind::kHostScan, s, level, e.key.proto);
    a.src_ip = e.key.src;
    a.dst_port = e.key.port;
    a.score = static_cast<float>(double(hosts) / double(o_.host_scan_hosts));
    const std::string target =
        (e.key.proto == kTcp || e.key.proto == kUdp)
            ? fmt::format("port {}/{}{}", e.key.port, flow::protocol_name(e.key.proto),
                          service_suffix(e.key.port))
            : std::string(flow::protocol_name(e.key.proto));
    a.reason = fmt::format("Host scan suspected: {}{} hosts probed on {} from {} in {}",
                           s.distinct.saturated() ? "at least " : "", format_count(hosts), target,
                           e.key.src.to_string(), format_duration(s.elapsed_seconds()));
    a.evidence.push_back({"distinct_hosts", double(hosts), double(o_.host_scan_hosts), a.score});
    a.evidence.push_back({"probes", double(s.probes), 0, 0});
    return a;
  }

  [[nodiscard]] Alert syn_flood(const Table<SynFloodState>::Entry& e, int level) const {
    const SynFloodState& s = e.state;
    Alert a = base_alert(kind::kSynFlood, s, level, kTcp);
    a.dst_ip = e.key.dst;
    a.dst_port = e.key.port;
    if (!s.sources.many) a.src_ip = s.sources.first;
    const double ratio = s.attempts > 0 ? double(s.half_open) / double(s.attempts) : 0.0;
    const double rate = double(s.half_open) / std::max(s.elapsed_seconds(), 1e-3);
    a.score = static_cast<float>(double(s.half_open) / double(o_.syn_flood_half_open));
    // The network-wide subject (no destination) covers floods sprayed at random destinations.
    const std::string target = e.key.dst.family == 0 ? std::string("many destinations")
                                                     : format_endpoint(e.key.dst, e.key.port);
    a.reason = fmt::format(
        "SYN flood suspected: {} half-open connections to {} ({:.0f}% of {} attempts) from {}, "
        "{}/s",
        format_count(s.half_open), target, ratio * 100, format_count(s.attempts),
        s.sources.many ? std::string("many sources") : s.sources.first.to_string(),
        format_number(rate));
    a.evidence.push_back(
        {"half_open", double(s.half_open), double(o_.syn_flood_half_open), a.score});
    a.evidence.push_back({"half_open_ratio", ratio, o_.syn_flood_ratio, 0});
    a.evidence.push_back({"half_open_per_second", rate, 0, 0});
    return a;
  }

  [[nodiscard]] Alert brute_force(const Table<BruteForceState>::Entry& e, int level,
                                  std::size_t threshold) const {
    const BruteForceState& s = e.state;
    Alert a = base_alert(kind::kBruteForce, s, level, kTcp);
    a.src_ip = e.key.src;
    a.dst_ip = e.key.dst;
    a.dst_port = e.key.port;
    a.score = static_cast<float>(double(s.sessions) / double(threshold));
    a.reason = fmt::format("Brute force suspected: {} short sessions from {} to {}{} in {}",
                           format_count(s.sessions), e.key.src.to_string(),
                           format_endpoint(e.key.dst, e.key.port), service_suffix(e.key.port),
                           format_duration(s.elapsed_seconds()));
    a.evidence.push_back({"short_sessions", double(s.sessions), double(threshold), a.score});
    return a;
  }

  [[nodiscard]] Alert slow_http(const Table<SlowHttpState>::Entry& e, int level) const {
    const SlowHttpState& s = e.state;
    Alert a = base_alert(kind::kSlowHttp, s, level, kTcp);
    a.src_ip = e.key.src;
    a.dst_ip = e.key.dst;
    a.dst_port = e.key.port;
    a.score = static_cast<float>(double(s.connections) / double(o_.slow_http_connections));
    a.reason = fmt::format(
        "Slow HTTP attack suspected (slowloris): {} connections from {} to {} held open for at "
        "least {} each while sending under {} bytes",
        format_count(s.connections), e.key.src.to_string(), format_endpoint(e.key.dst, e.key.port),
        format_duration(o_.slow_http_min_seconds), format_count(o_.slow_http_max_bytes));
    a.evidence.push_back(
        {"slow_connections", double(s.connections), double(o_.slow_http_connections), a.score});
    return a;
  }

  [[nodiscard]] Alert udp_flood(const Table<UdpFloodState>::Entry& e, int level,
                                double rate) const {
    const UdpFloodState& s = e.state;
    Alert a = base_alert(kind::kUdpFlood, s, level, kUdp);
    a.dst_ip = e.key.dst;
    if (!s.sources.many) a.src_ip = s.sources.first;
    const double limit = udp_flood_limit(o_, s);
    a.score = static_cast<float>(rate / limit);
    a.reason = fmt::format(
        "UDP flood suspected: {} packets/s to {} in {} flows from {} over {} ({} unanswered)",
        format_number(rate), e.key.dst.to_string(), format_count(s.flows),
        s.sources.many ? std::string("many sources") : s.sources.first.to_string(),
        format_duration(s.elapsed_seconds()), format_count(s.unanswered));
    a.evidence.push_back({"packets_per_second", rate, limit, a.score});
    a.evidence.push_back({"flows", double(s.flows), double(o_.udp_flood_min_flows), 0});
    a.evidence.push_back({"unanswered_flows", double(s.unanswered), 0, 0});
    return a;
  }

  [[nodiscard]] Alert icmp_flood(const Table<IcmpFloodState>::Entry& e, int level,
                                 double rate) const {
    const IcmpFloodState& s = e.state;
    Alert a = base_alert(kind::kIcmpFlood, s, level, e.key.proto);
    a.src_ip = e.key.src;
    a.dst_ip = e.key.dst;
    a.score = static_cast<float>(rate / o_.icmp_flood_packets_per_second);
    a.reason = fmt::format("ICMP flood suspected: {} echo requests/s from {} to {} ({} over {})",
                           format_number(rate), e.key.src.to_string(), e.key.dst.to_string(),
                           format_count(s.requests), format_duration(s.elapsed_seconds()));
    a.evidence.push_back(
        {"echo_requests_per_second", rate, o_.icmp_flood_packets_per_second, a.score});
    a.evidence.push_back(
        {"echo_requests", double(s.requests), double(o_.icmp_flood_min_packets), 0});
    return a;
  }

 private:
  const HostDetectorOptions& o_;
};

// Packets per second over a window, with the span floored at 1 s so a burst of a few packets in a
// microsecond is not a "flood".
double udp_rate(const UdpFloodState& s) {
  if (s.unanswered > 0 && s.unanswered_packets * 2 >= s.packets) {
    return double(s.unanswered_packets) / std::max(s.unanswered_span.elapsed_seconds(), 1.0);
  }
  return double(s.packets) / std::max(s.elapsed_seconds(), 1.0);
}

std::size_t brute_force_threshold(const HostDetectorOptions& o, std::uint8_t port_class) {
  return port_class == kPortWeb ? o.brute_force_web_sessions : o.brute_force_sessions;
}

// A web login attack below the web threshold: a fast run of short sessions that mostly got the
// same reply. Browsers and API clients fetch pages of varied sizes, or reuse connections.
bool web_burst(const HostDetectorOptions& o, const BruteForceState& s) {
  if (o.brute_force_web_burst_sessions == 0 || s.sessions < o.brute_force_web_burst_sessions) {
    return false;
  }
  const double rate = double(s.sessions) / std::max(s.elapsed_seconds(), 1.0);
  return rate >= o.brute_force_web_burst_per_second &&
         s.replies.holds(o.brute_force_same_reply_ratio, s.sessions);
}

// The closing callbacks of the tables: a window's summary when an alerted subject's count grew
// since its last alert.
class Closers {
 public:
  Closers(const AlertWriter& writer, const HostDetectorOptions& o,
          const std::vector<std::uint8_t>& port_class, std::vector<Alert>& out,
          std::uint64_t& alerts)
      : writer_(writer), o_(o), port_class_(port_class), out_(out), alerts_(alerts) {}

  [[nodiscard]] auto port_scan() const {
    return [this](const Table<ScanState>::Entry& e) {
      if (grew(e.state, e.state.distinct.count(true))) push(writer_.port_scan(e, e.state.level));
    };
  }
  [[nodiscard]] auto host_scan() const {
    return [this](const Table<ScanState>::Entry& e) {
      if (grew(e.state, e.state.distinct.count(false))) push(writer_.host_scan(e, e.state.level));
    };
  }
  [[nodiscard]] auto syn_flood() const {
    return [this](const Table<SynFloodState>::Entry& e) {
      if (grew(e.state, e.state.half_open)) push(writer_.syn_flood(e, e.state.level));
    };
  }
  [[nodiscard]] auto brute_force() const {
    return [this](const Table<BruteForceState>::Entry& e) {
      if (!grew(e.state, e.state.sessions)) return;
      const std::size_t threshold = brute_force_threshold(o_, port_class_[e.key.port]);
      push(writer_.brute_force(e, e.state.level, threshold));
    };
  }
  [[nodiscard]] auto slow_http() const {
    return [this](const Table<SlowHttpState>::Entry& e) {
      if (grew(e.state, e.state.connections)) push(writer_.slow_http(e, e.state.level));
    };
  }
  [[nodiscard]] auto udp_flood() const {
    return [this](const Table<UdpFloodState>::Entry& e) {
      if (grew(e.state, e.state.packets)) {
        push(writer_.udp_flood(e, e.state.level, udp_rate(e.state)));
      }
    };
  }
  [[nodiscard]] auto icmp_flood() const {
    return [this](const Table<IcmpFloodState>::Entry& e) {
      if (grew(e.state, e.state.requests)) {
        push(writer_.icmp_flood(e, e.state.level, icmp_rate(e.state)));
      }
    };
  }

 private:
  static bool grew(const Track& track, std::uint64_t measure) {
    return track.level > 0 && measure > track.reported;
  }
  void push(Alert alert) const {
    out_.push_back(std::move(alert));
    ++alerts_;
  }

  const AlertWriter& writer_;
  const HostDetectorOptions& o_;
  const std::vector<std::uint8_t>& port_class_;
  std::vector<Alert>& out_;
  std::uint64_t& alerts_;
};

}  // namespace

HostDetectors::HostDetectors(HostDetectorOptions options) : options_(std::move(options)) {
  const auto bad = [](std::string_view what) {
    throw core::Error(fmt::format("host detectors: {}", what));
  };
  if (options_.window_ns <= 0) bad("window must be positive");
  if (options_.max_tracked == 0) bad("max_tracked must be positive");
  if (!(options_.critical_factor >= 1)) bad("critical_factor must be at least 1");
  if (!(options_.syn_flood_ratio > 0 && options_.syn_flood_ratio <= 1)) {
    bad(fmt::format("syn_flood_ratio must be in (0, 1], got {}", options_.syn_flood_ratio));
  }
  if (!(options_.udp_flood_packets_per_second >= 0)) {
    bad("udp_flood_packets_per_second must not be negative");
  }
  if (!(options_.udp_flood_unanswered_packets_per_second >= 0) ||
      !(options_.icmp_flood_packets_per_second >= 0)) {
    bad("flood packet rates must not be negative");
  }
  if (!(options_.udp_flood_unanswered_ratio > 0 && options_.udp_flood_unanswered_ratio <= 1)) {
    bad(fmt::format("udp_flood_unanswered_ratio must be in (0, 1], got {}",
                    options_.udp_flood_unanswered_ratio));
  }
  if (!(options_.brute_force_same_reply_ratio > 0.5 &&
        options_.brute_force_same_reply_ratio <= 1)) {
    bad(fmt::format("brute_force_same_reply_ratio must be in (0.5, 1], got {}",
                    options_.brute_force_same_reply_ratio));
  }
  tables_ = std::make_unique<Tables>(options_);
}

HostDetectors::~HostDetectors() = default;

void HostDetectors::observe(const flow::FlowRecord& record, std::vector<Alert>& out) {
  ++stats_.flows;
  Tables& t = *tables_;
  const AlertWriter writer(options_);
  const HostDetectorOptions& o = options_;
  const Closers closers(writer, o, t.port_class, out, stats_.alerts);
  const double cf = o.critical_factor;
  const std::int64_t now = std::max(record.end_ns, record.start_ns);
  const auto emit = [&](Track& track, int level, std::uint64_t measure, auto&& make) {
    if (level <= track.level) return;
    out.push_back(make(level));
    ++stats_.alerts;
    track.level = level;
    track.reported = measure;
  };

  // is_probe() is only true for TCP, UDP, ICMP and ICMPv6.
  const bool probe = is_probe(record);
  if (probe && o.port_scan_ports > 0 && (record.ip_proto == kTcp || record.ip_proto == kUdp)) {
    auto& e = t.port_scan.touch({record.src_ip, record.dst_ip, 0, record.ip_proto}, now,
                                closers.port_scan());
    ScanState& s = e.state;
    s.see(record);
    ++s.probes;
    s.distinct.add(record.dst_port, true, o.port_scan_ports, t.budget);
    const std::uint64_t ports = s.distinct.count(true);
    emit(s, level_for(double(ports), double(o.port_scan_ports), cf), ports,
         [&](int level) { return writer.port_scan(e, level); });
  }
  if (probe && o.host_scan_hosts > 0) {
    const std::uint16_t port =
        (record.ip_proto == kTcp || record.ip_proto == kUdp) ? record.dst_port : 0;
    auto& e =
        t.host_scan.touch({record.src_ip, {}, port, record.ip_proto}, now, closers.host_scan());
    ScanState& s = e.state;
    s.see(record);
    ++s.probes;
    s.distinct.add(static_cast<std::uint32_t>(hash_address(record.dst_ip, 0)), false,
                   o.host_scan_hosts, t.budget);
    const std::uint64_t hosts = s.distinct.count(false);
    emit(s, level_for(double(hosts), double(o.host_scan_hosts), cf), hosts,
         [&](int level) { return writer.host_scan(e, level); });
  }
  if (record.ip_proto == kTcp && o.syn_flood_half_open > 0) {
    const TcpHandshake hs = tcp_handshake(record);
    if (hs.attempt) {
      auto& e =
          t.syn_flood.touch({{}, record.dst_ip, record.dst_port, kTcp}, now, closers.syn_flood());
      SynFloodState& s = e.state;
      ++s.attempts;
      if (!hs.completed) {
        // The flood's time span and sources are those of its half-open attempts: clients served
        // meanwhile neither make the sources "many" nor date the flood back to their visits.
        s.see(record);
        s.sources.see(record.src_ip);
        ++s.half_open;
      }
      const bool ratio_ok = double(s.half_open) >= o.syn_flood_ratio * double(s.attempts);
      const int level =
          ratio_ok ? level_for(double(s.half_open), double(o.syn_flood_half_open), cf) : 0;
      emit(s, level, s.half_open, [&](int lvl) { return writer.syn_flood(e, lvl); });
      if (o.syn_flood_network_rate > 0) {
        // Network-wide: half-open SYNs sprayed at many destinations from many sources, fast.
        auto& n = t.syn_flood.touch({{}, {}, 0, kTcp}, now, closers.syn_flood());
        SynFloodState& ns = n.state;
        ns.see(record);
        ns.sources.see(record.src_ip);
        ns.destinations.see(record.dst_ip);
        ++ns.attempts;
        if (!hs.completed) ++ns.half_open;
        const double rate = double(ns.half_open) / std::max(ns.elapsed_seconds(), 1e-3);
        const bool spray = ns.sources.many && ns.destinations.many &&
                           double(ns.half_open) >= o.syn_flood_ratio * double(ns.attempts) &&
                           rate >= o.syn_flood_network_rate;
        const int nlevel =
            spray ? level_for(double(ns.half_open), double(o.syn_flood_half_open), cf) : 0;
        emit(ns, nlevel, ns.half_open, [&](int lvl) { return writer.syn_flood(n, lvl); });
      }
    }
  }
  if (record.ip_proto == kTcp && t.port_class[record.dst_port] != 0) {
    const std::uint8_t port_class = t.port_class[record.dst_port];
    const std::size_t threshold = brute_force_threshold(o, port_class);
    const bool short_session = record.packet_count <= o.brute_force_max_packets &&
                               record.byte_count <= o.brute_force_max_bytes &&
                               record.duration_s <= o.brute_force_max_seconds;
    if (threshold > 0 && short_session && payload_bytes(record) > 0 &&
        tcp_handshake(record).completed) {
      auto& e = t.brute_force.touch({record.src_ip, record.dst_ip, record.dst_port, kTcp}, now,
                                    closers.brute_force());
      BruteForceState& s = e.state;
      s.see(record);
      ++s.sessions;
      s.replies.add(static_cast<std::uint64_t>(record[CicFeature::kTotalLengthBwd]));
      int level = level_for(double(s.sessions), double(threshold), cf);
      if (level == 0 && port_class == kPortWeb && web_burst(o, s)) level = 1;
      emit(s, level, s.sessions, [&](int lvl) { return writer.brute_force(e, lvl, threshold); });
    }
  }
  observe_slow(record, out);
  if (record.ip_proto == kUdp && o.udp_flood_packets_per_second > 0) {
    auto& e = t.udp_flood.touch({{}, record.dst_ip, 0, kUdp}, now, closers.udp_flood());
    UdpFloodState& s = e.state;
    s.see(record);
    s.sources.see(record.src_ip);
    ++s.flows;
    const auto packets =
        static_cast<std::uint64_t>(std::max(0.0, record[CicFeature::kTotalFwdPacket]));
    s.packets += packets;
    if (record[CicFeature::kTotalBwdPackets] <= 0) {
      ++s.unanswered;
      s.unanswered_packets += packets;
      s.unanswered_span.see(record);
    }
    const double rate = udp_rate(s);
    const int level =
        s.flows >= o.udp_flood_min_flows ? level_for(rate, udp_flood_limit(o, s), cf) : 0;
    emit(s, level, s.packets, [&](int lvl) { return writer.udp_flood(e, lvl, rate); });
  }
  if ((record.ip_proto == kIcmp || record.ip_proto == kIcmpv6) &&
      o.icmp_flood_packets_per_second > 0) {
    // The flow table keys echo requests and their replies apart from ICMP errors, so an echo
    // flow's initiator is the pinger and its forward packets are the requests.
    const double type = record[CicFeature::kIcmpType];
    const bool echo =
        (record.ip_proto == kIcmp && type == 8) || (record.ip_proto == kIcmpv6 && type == 128);
    if (echo) {
      auto& e = t.icmp_flood.touch({record.src_ip, record.dst_ip, 0, record.ip_proto}, now,
                                   closers.icmp_flood());
      IcmpFloodState& s = e.state;
      s.see(record);
      s.requests += static_cast<std::uint64_t>(std::max(0.0, record[CicFeature::kTotalFwdPacket]));
      const double rate = icmp_rate(s);
      const int level = s.requests >= o.icmp_flood_min_packets
                            ? level_for(rate, o.icmp_flood_packets_per_second, cf)
                            : 0;
      emit(s, level, s.requests, [&](int lvl) { return writer.icmp_flood(e, lvl, rate); });
    }
  }
}

void HostDetectors::observe_slow(const flow::FlowRecord& record, std::vector<Alert>& out) {
  const HostDetectorOptions& o = options_;
  if (record.ip_proto != kTcp || o.slow_http_connections == 0 ||
      std::find(o.slow_http_ports.begin(), o.slow_http_ports.end(), record.dst_port) ==
          o.slow_http_ports.end() ||
      record.duration_s < o.slow_http_min_seconds ||
      record[CicFeature::kTotalLengthFwd] > static_cast<double>(o.slow_http_max_bytes) ||
      !tcp_handshake(record).completed) {
    return;
  }
  Tables& t = *tables_;
  const AlertWriter writer(options_);
  const Closers closers(writer, o, t.port_class, out, stats_.alerts);
  const std::int64_t now = std::max(record.end_ns, record.start_ns);
  auto& e = t.slow_http.touch({record.src_ip, record.dst_ip, record.dst_port, kTcp}, now,
                              closers.slow_http());
  SlowHttpState& s = e.state;
  s.see(record);
  s.add(record.src_port,
        static_cast<std::size_t>(o.critical_factor * double(o.slow_http_connections)) + 1);
  const int level =
      level_for(double(s.connections), double(o.slow_http_connections), o.critical_factor);
  if (level > s.level) {
    out.push_back(writer.slow_http(e, level));
    ++stats_.alerts;
    s.level = level;
    s.reported = s.connections;
  }
}

void HostDetectors::observe_ongoing(const flow::FlowRecord& record, std::vector<Alert>& out) {
  observe_slow(record, out);
}

void HostDetectors::advance(std::int64_t now_ns, std::vector<Alert>& out) {
  Tables& t = *tables_;
  const AlertWriter writer(options_);
  const HostDetectorOptions& o = options_;
  const Closers closers(writer, o, t.port_class, out, stats_.alerts);
  t.port_scan.expire(now_ns, closers.port_scan());
  t.host_scan.expire(now_ns, closers.host_scan());
  t.syn_flood.expire(now_ns, closers.syn_flood());
  t.brute_force.expire(now_ns, closers.brute_force());
  t.udp_flood.expire(now_ns, closers.udp_flood());
  t.icmp_flood.expire(now_ns, closers.icmp_flood());
  t.slow_http.expire(now_ns, closers.slow_http());
}

void HostDetectors::flush(std::vector<Alert>& out) {
  Tables& t = *tables_;
  const AlertWriter writer(options_);
  const HostDetectorOptions& o = options_;
  const Closers closers(writer, o, t.port_class, out, stats_.alerts);
  t.port_scan.close_all(closers.port_scan());
  t.host_scan.close_all(closers.host_scan());
  t.syn_flood.close_all(closers.syn_flood());
  t.brute_force.close_all(closers.brute_force());
  t.udp_flood.close_all(closers.udp_flood());
  t.icmp_flood.close_all(closers.icmp_flood());
  t.slow_http.close_all(closers.slow_http());
}

HostDetectorStats HostDetectors::stats() const {
  HostDetectorStats stats = stats_;
  const Tables& t = *tables_;
  stats.evictions = t.port_scan.evictions() + t.host_scan.evictions() + t.syn_flood.evictions() +
                    t.brute_force.evictions() + t.udp_flood.evictions() + t.icmp_flood.evictions() +
                    t.slow_http.evictions();
  stats.tracked = t.port_scan.size() + t.host_scan.size() + t.syn_flood.size() +
                  t.brute_force.size() + t.udp_flood.size() + t.icmp_flood.size() +
                  t.slow_http.size();
  stats.sketches_in_use = t.budget.in_use;
  stats.sketches_refused = t.budget.refused;
  return stats;
}

}  // namespace netsentry::detect
