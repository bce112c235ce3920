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
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "detect/evidence.h"
#include "detect/windowed_table.h"
#include "flow/flow_observer.h"
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

// Neighbouring networks flooded together: a carpet flood over a /20 or wider reaches many of the
// /24s (IPv6: /64s) the flood detectors count in (flow::flood_network_of), and each network's
// subject would be an alert of its own. A detector tells the block a network is in (IPv4 /16,
// IPv6 /48) whenever the network's subject first reaches a level in a window (join()); the block's
// first network keeps its own profile, and every other one joins the block's ("10.9.0.0/16"), so a
// flood over 16 /24s is two alerts, not 16; when a subject of the whole block (a flood spread over
// its networks, found before any of them alone) reached a level first, it claims the block
// (claim()) and every network joins: one alert. A block is forgotten `keep_ns` after the last
// network reached a level in it (then its next network is a first again). A tag keeps protocols
// apart.
// Bounded: at most `max_blocks` blocks (the stalest goes) and kMaxNetworks networks counted in
// each.
inline constexpr std::size_t kMaxFloodedBlocks = 4096;  // blocks a flood detector keeps
class FloodedBlocks final {
 public:
  static constexpr std::size_t kMaxNetworks = 4096;
  struct Block {
    net::IpAddress address;  // the block's first address
    net::IpAddress first;    // the block's first network, which keeps its own profile (or none)
    net::IpAddress low;      // the lowest and highest networks that reached a level in it
    net::IpAddress high;
    std::int64_t last_ns = 0;         // when a network last reached a level in it
    std::vector<std::uint16_t> seen;  // the networks (their index in the block), sorted
  };

  FloodedBlocks(std::int64_t keep_ns, std::size_t max_blocks)
      : keep_ns_(keep_ns), max_blocks_(std::max<std::size_t>(1, max_blocks)) {}

  // The subject of network `network` (its first address) and `tag` reached a level at now_ns:
  // whether it is part of its block's profile (false for the block's first network).
  bool join(const net::IpAddress& network, std::uint8_t tag, std::int64_t now_ns);
  // A subject of the whole block of `address` (a flood spread over its networks, found before
  // any of them alone) reached a level at now_ns: the block has no first network of its own, so
  // every network of it that reaches a level joins the block's profile.
  void claim(const net::IpAddress& address, std::uint8_t tag, std::int64_t now_ns);
  // A flood detector's subject first reached a level at now_ns: its block's own (`whole_block`,
  // which claims it) or one of its networks' (which joins it). Whether its evidence is given under
  // the block's profile.
  bool reached(const net::IpAddress& subject, bool whole_block, std::uint8_t tag,
               std::int64_t now_ns) {
    if (!whole_block) return join(subject, tag, now_ns);
    claim(subject, tag, now_ns);
    return true;
  }
  // A batch of the flow table's summaries: of its networks' summaries (FloodSummary::prefix; a
  // block's own summary is not one of its networks'), those `judged(summary)` by the detector under
  // `tag`, every block two or more of them are in is claimed before any of them is judged, so the
  // networks of a flood over neighbouring networks, found together, all join their block.
  template <class Judged>
  void claim_together(std::span<const flow::FloodSummary> networks, std::uint8_t tag,
                      Judged judged) {
    for (std::size_t i = 0; i < networks.size(); ++i) {
      const flow::FloodSummary& a = networks[i];
      if (a.prefix == 0 || a.block() || !judged(a)) continue;
      for (std::size_t j = i + 1; j < networks.size(); ++j) {
        const flow::FloodSummary& b = networks[j];
        if (b.prefix != 0 && !b.block() && judged(b) && !(b.dst == a.dst) &&
            block_of(b.dst) == block_of(a.dst)) {
          claim(a.dst, tag, std::max(a.last_ns, b.last_ns));
          break;
        }
      }
    }
  }
  // The block of `network` and `tag`, when one is known.
  [[nodiscard]] const Block* find(const net::IpAddress& network, std::uint8_t tag) const;
  [[nodiscard]] std::size_t size() const { return blocks_.size(); }

  // The block `address` is in (its first address), its prefix length, and its profile name
  // ("10.9.0.0/16", "2001:db8:1::/48").
  [[nodiscard]] static net::IpAddress block_of(const net::IpAddress& address) {
    return flow::flood_block_of(address);
  }
  [[nodiscard]] static std::uint8_t block_prefix_of(const net::IpAddress& address) {
    return flow::flood_block_prefix_of(address);
  }
  [[nodiscard]] static std::string name_of(const net::IpAddress& address);
  // "16 networks of 10.9.0.0/16 (10.9.0.0/24 to 10.9.15.0/24)", its networks being /`prefix`
  // ("1 network of 10.9.0.0/16 (10.9.13.0/24)" for one, "10.9.0.0/16" while none reached a
  // level).
  [[nodiscard]] static std::string describe(const Block& block, std::uint8_t prefix);

 private:
  [[nodiscard]] static SubjectKey key_of(const net::IpAddress& network, std::uint8_t tag) {
    return {{}, block_of(network), block_prefix_of(network), tag};
  }
  // The block of `address` and `tag` at now_ns (made, or made anew when stale, with `first`).
  Block& touch(const net::IpAddress& address, std::uint8_t tag, std::int64_t now_ns,
               const net::IpAddress& first);
  std::int64_t keep_ns_;
  std::size_t max_blocks_;
  std::unordered_map<SubjectKey, Block, SubjectKeyHash> blocks_;
};

// What a flood description adds about `block`, its networks being /`prefix`: for a network that
// joined it, "; one of 16 networks of 10.9.0.0/16 (10.9.0.0/24 to 10.9.15.0/24) flooded
// together" ("; part of a flood over neighbouring networks of 10.9.0.0/16" while it is the only
// one); for the block's own subject, once some of its networks reached a level too,
// "; flooded so far: 16 networks of ...".
[[nodiscard]] std::string block_suffix(const FloodedBlocks::Block& block, std::uint8_t prefix,
                                       bool network);

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
    Slot& slot = slots_.for_write(hash % slots_.size());          // read, then written
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
