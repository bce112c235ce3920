// Provides what the rule detectors share: the subject key they count for (with a hash suited to
// WindowedTable), the per-subject time span (Track), "one source or many" (SourceTracker), the
// level of a measure against its threshold, the confidence that level carries, TCP handshake and
// probe facts of a finished flow, service names for descriptions, and the skeleton of a detector's
// Evidence. Thread rules: pure functions and plain values.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "detect/evidence.h"
#include "detect/windowed_table.h"
#include "flow/flow_record.h"
#include "flow/huge_page_array.h"
#include "net/packet.h"

namespace netsentry::detect {

inline constexpr std::uint8_t kTcp = 6;
inline constexpr std::uint8_t kUdp = 17;
inline constexpr std::uint8_t kIcmp = 1;
inline constexpr std::uint8_t kIcmpv6 = 58;

// Who and what a detector counts for. Unused parts stay zero.
struct SubjectKey {
  net::IpAddress src;
  net::IpAddress dst;
  std::uint16_t port = 0;
  std::uint8_t proto = 0;
  friend bool operator==(const SubjectKey&, const SubjectKey&) = default;
};

// splitmix64 finaliser: cheap and well distributed.
[[nodiscard]] inline std::uint64_t mix64(std::uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

[[nodiscard]] inline std::uint64_t hash_address(const net::IpAddress& ip, std::uint64_t seed) {
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;
  std::memcpy(&lo, ip.bytes.data(), 8);
  std::memcpy(&hi, ip.bytes.data() + 8, 8);
  return mix64(seed ^ mix64(lo ^ mix64(hi + ip.family)));
}

struct SubjectKeyHash {
  std::size_t operator()(const SubjectKey& key) const {
    const std::uint64_t h = hash_address(key.src, hash_address(key.dst, 0x9e3779b97f4a7c15ULL));
    return static_cast<std::size_t>(mix64(h ^ (std::uint64_t{key.port} << 8) ^ key.proto));
  }
};

// The evidence subject of a detector's key: the same key gives the same subject, so a window's
// later summaries replace its earlier evidence in the host's profile.
[[nodiscard]] std::uint64_t subject_of(std::string_view detector, const SubjectKey& key);

template <class State>
using SubjectTable = WindowedTable<SubjectKey, State, SubjectKeyHash>;

// What every detector keeps per subject to time its windows and remember what it reported.
struct Track {
  std::int64_t first_ns = std::numeric_limits<std::int64_t>::max();
  std::int64_t last_ns = std::numeric_limits<std::int64_t>::min();
  int level = 0;               // 0 nothing reported, 1 HIGH, 2 CRITICAL
  std::uint64_t reported = 0;  // the measure at the last evidence

  void see(std::int64_t from_ns, std::int64_t to_ns) {
    first_ns = std::min(first_ns, from_ns);
    last_ns = std::max(last_ns, std::max(from_ns, to_ns));
  }
  void see(const flow::FlowRecord& record) { see(record.start_ns, record.end_ns); }
  [[nodiscard]] double elapsed_seconds() const {
    return last_ns > first_ns ? double(last_ns - first_ns) / 1e9 : 0.0;
  }
  // True when the subject was reported and its measure grew since (a summary is due).
  [[nodiscard]] bool grew(std::uint64_t measure) const { return level > 0 && measure > reported; }
};

// Keeps the last `keep` distinct flows behind a subject's evidence (a repeat of the newest is
// not added again).
inline void remember_recent(std::vector<FlowRef>& recent, const FlowRef& ref,
                            std::size_t keep = 3) {
  if (!recent.empty() && recent.back() == ref) return;
  if (recent.size() >= keep) recent.erase(recent.begin());
  recent.push_back(ref);
}

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

// A 16-bit hash of `host`: what a majority vote over a network's destination hosts counts.
[[nodiscard]] inline std::uint16_t host_vote(const net::IpAddress& host) {
  return static_cast<std::uint16_t>(hash_address(host, 0) >> 48);
}

// 0 below the threshold (or a threshold of 0: disabled), 1 from it, 2 from critical_factor times
// it.
[[nodiscard]] inline int level_for(double value, double threshold, double critical_factor) {
  if (threshold <= 0 || value < threshold) return 0;
  return value >= threshold * critical_factor ? 2 : 1;
}

// The threat of a level: HIGH, or CRITICAL at the critical level.
[[nodiscard]] inline Severity threat_for(int level) {
  return level >= 2 ? Severity::kCritical : Severity::kHigh;
}

// How sure a rule is once its measure is past its threshold: 0.8 at the threshold, rising with
// the logarithm of measure / threshold to 1 at critical_factor times it.
[[nodiscard]] double rule_confidence(double value, double threshold, double critical_factor);

[[nodiscard]] std::uint64_t payload_bytes(const flow::FlowRecord& record);

// Handshake facts of a TCP flow, from its first packets (or its flag counts when the flow table
// kept none).
struct TcpHandshake {
  bool attempt = false;    // the initiator's first packet was a SYN without ACK
  bool completed = false;  // SYN, SYN-ACK, ACK seen in order
};
[[nodiscard]] TcpHandshake tcp_handshake(const flow::FlowRecord& record);
// True when the finished flow was a probe that got no service (see detect::Probe).
[[nodiscard]] bool is_probe(const flow::FlowRecord& record);

// How many packets of a flow a detector has counted so far, for flows it heard of more than once
// (a flow event, progress reports, the finished record): each report adds only what is new.
// Bounded: past `capacity` flows the oldest is forgotten (it then counts as `initial` again).
class PacketLedger final {
 public:
  explicit PacketLedger(std::size_t capacity = 65'536) : capacity_(capacity) {}
  // Packets counted for `flow` so far; `initial` when it is not remembered.
  [[nodiscard]] std::uint64_t counted(std::uint64_t flow, std::uint64_t initial) const {
    const auto it = counted_.find(flow);
    return it == counted_.end() ? initial : it->second;
  }
  void set(std::uint64_t flow, std::uint64_t packets) {
    auto [it, added] = counted_.try_emplace(flow, packets);
    if (!added) {
      it->second = packets;
      return;
    }
    order_.push_back(flow);
    if (order_.size() > capacity_) {
      counted_.erase(order_.front());
      order_.pop_front();
    }
  }
  void forget(std::uint64_t flow) { counted_.erase(flow); }  // its order_ entry goes in time
  [[nodiscard]] std::size_t size() const { return counted_.size(); }

 private:
  std::size_t capacity_;
  std::unordered_map<std::uint64_t, std::uint64_t> counted_;
  std::deque<std::uint64_t> order_;
};

// Admits a subject to a detector's table only at its second event within a window, so a spoofed
// flood's sources (one probe each) never cost a table entry: the first events wait in a fixed
// direct-mapped table of small slots (O(1), no allocation, one cache line touched), known by their
// key's 64-bit hash; a collision forgets a waiting first event, and that subject is admitted one
// event later. `Event` is what the detector needs of the first event besides the key. The table's
// pages are committed as slots are first written (zero bytes are a free slot), not zeroed at
// start: a quiet network touches few of them.
template <class Event>
class SecondSight final {
 public:
  // Small pages: slots are written at random, so a huge page would commit 2 MiB at the first.
  SecondSight(std::size_t slots, std::int64_t window_ns)
      : slots_(std::max<std::size_t>(1, slots), /*huge_bytes=*/0), window_ns_(window_ns) {}

  // The waiting first event of `key` when there is one from within the window (it is taken),
  // else nullopt after `event` took the key's slot.
  std::optional<Event> admit(const SubjectKey& key, std::int64_t time_ns, const Event& event) {
    const std::uint64_t hash = mix64(SubjectKeyHash{}(key)) | 1;  // 0 marks a free slot
    Slot& slot = slots_[hash % slots_.size()];
    if (slot.hash == hash && time_ns - slot.time_ns < window_ns_) {
      slot.hash = 0;
      return slot.event;
    }
    slot = {hash, time_ns, event};
    return std::nullopt;
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::int64_t time_ns = 0;
    Event event{};
  };
  flow::HugePageArray<Slot> slots_;
  std::int64_t window_ns_;
};

// "SSH", "HTTP", ... for well-known login and web ports; empty otherwise.
[[nodiscard]] std::string_view service_name(std::uint16_t port);
// " (SSH)" or "".
[[nodiscard]] std::string service_suffix(std::uint16_t port);

// Appends `ev`; when it is about a victim (a host, or a network named by `interface`) and names
// one source (a flood that is not spoofed), also the same evidence about that source as the
// attacker, so the attacker's own profile alerts too.
void push_with_culprit(std::vector<Evidence>& out, Evidence ev);

// An Evidence with the common fields set: kind, detector, time span, confidence and threat from
// the level, subject from the key.
[[nodiscard]] Evidence rule_evidence(std::string_view kind, std::string_view detector,
                                     const SubjectKey& key, const Track& track, int level,
                                     double confidence);

}  // namespace netsentry::detect
