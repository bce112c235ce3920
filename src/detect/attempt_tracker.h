// Provides detect::AttemptTracker, which tells the detectors how connection attempts ended
// (detect::Attempt) as soon as that is known, from the flow table's events:
//  * a TCP SYN answered with RST: refused, at once;
//  * a TCP SYN answered with SYN-ACK: completed when the initiator's ACK follows, reset when its
//    RST follows, half-open when nothing follows within unanswered_after;
//  * a TCP SYN, a UDP flow's first datagram or an ICMP echo request without any reply within
//    unanswered_after: unanswered (UDP and ICMP attempts that are answered are not told);
//  * a flow that ends while its attempt is pending is judged from its record; so is every flow
//    when no events arrive (records only), and a completed connection that ends reset without
//    payload (a connect scan's open port) is told again as a repeat probe.
// Memory is bounded: at most max_pending attempts wait for their outcome, in a ring (by start)
// indexed by an open-addressing table; past that the oldest is judged early (as if its time had
// run out) and counted. The ring starts small and doubles when full up to max_pending (a quiet
// network never pays for a flood's table: first touching 65,536 entries cost a start-up's page
// faults), so a flood of new connections allocates only a few times, never past the bound.
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "detect/detector.h"
#include "flow/flow_observer.h"
#include "flow/flow_record.h"

namespace netsentry::detect {

struct AttemptTrackerOptions {
  std::int64_t unanswered_after_ns = 1'000'000'000;
  std::size_t max_pending = 65'536;
};

struct AttemptTrackerStats {
  std::uint64_t attempts = 0;      // outcomes told
  std::uint64_t judged_early = 0;  // pending attempts judged before their time (table full)
  std::size_t pending = 0;
};

class AttemptTracker final {
 public:
  explicit AttemptTracker(AttemptTrackerOptions options = {});

  void on_flow_event(const flow::FlowEvent& event, std::vector<Attempt>& out);
  void on_flow_finished(const flow::FlowRecord& record, std::vector<Attempt>& out);
  // Judges the attempts whose time ran out by now_ns.
  void advance(std::int64_t now_ns, std::vector<Attempt>& out);
  // Judges every pending attempt (end of input).
  void flush(std::vector<Attempt>& out);

  [[nodiscard]] AttemptTrackerStats stats() const;

 private:
  struct Pending {
    Attempt attempt;
    std::uint64_t id = 0;
    std::int64_t deadline = 0;
    bool syn_ack = false;  // TCP: answered with SYN-ACK, waiting for the initiator
    bool live = false;     // false: judged already (a hole in the ring)
  };
  // The ring position of `id`, or kNone.
  [[nodiscard]] std::uint32_t find(std::uint64_t id) const;
  void index_insert(std::uint64_t id, std::uint32_t position);
  void index_erase(std::uint64_t id);
  // Drops the judged entries at the ring's front.
  void pop_dead();
  // Moves the entries into a ring of ring_size (>= count_) and an index sized for it.
  void resize(std::size_t ring_size);
  void remove(std::uint32_t position);
  void resolve(Pending& pending, std::int64_t now_ns, std::vector<Attempt>& out);
  void tell(Attempt attempt, std::vector<Attempt>& out);

  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;
  static constexpr std::size_t kInitialRing = 1024;
  AttemptTrackerOptions options_;
  bool events_ = false;        // flow events arrive: finished flows were seen starting
  std::vector<Pending> ring_;  // by start; head_ is the oldest, count_ entries (live or holes)
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::size_t live_ = 0;
  // Open addressing, linear probing, backward-shift deletion: id -> ring position + 1 (0 = empty).
  std::vector<std::uint64_t> index_ids_;
  std::vector<std::uint32_t> index_pos_;
  std::size_t index_mask_ = 0;
  AttemptTrackerStats stats_;
};

}  // namespace netsentry::detect
