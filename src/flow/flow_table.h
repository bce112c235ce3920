// Provides flow::FlowTable, the flow meter: it groups decoded packets into bidirectional flows
// (canonical 5-tuple + VLAN), keeps each TCP connection's state (flow/connection_state.h), ends
// flows on timeouts, TCP teardown, memory pressure or end of input, and hands each finished
// FlowRecord to a FlowSink. Packet time drives everything (never the wall clock), so replaying a
// capture gives the same flows.
//
// Flow rules:
//  * initiator: the first packet's source, unless Zeek's rules say the destination (a first
//    packet that is a SYN-ACK or mid-connection TCP from a likely server port, UDP from a likely
//    server port), or a SYN answers a SYN-ACK seen first (the roles swap; history gets '^');
//  * idle: a flow with no packet for more than idle_timeout ends (reason idle);
//  * active: a flow older than active_timeout ends (reason active); the next packet of the same key
//    starts a new record that keeps the initiator, the connection state and the connection start
//    (Total TCP Flow Time);
//  * TCP close: once the connection is closed (both FINs, a RST, or a FIN with the peer never
//    heard from) the flow lingers for `linger`: remnants (the last ACK, a retransmitted FIN, a RST
//    answering a late segment) are counted in it and never start a new flow; then it ends (reason
//    fin or rst). A connection rejected or aborted before it was established (REJ, RSTOS0, RSTRH)
//    ends at once. A SYN without ACK on a closed or half-closed flow ends it and starts a new one;
//  * cic_mode (CICFlowMeter rules): active timeout 120 s, the first FIN or a RST ends a TCP flow at
//    once, the first packet's source is the initiator, and one-packet flows are counted but not
//    emitted;
//  * memory is bounded: a new flow at max_flows evicts the flow idle the longest (reason evicted).
//  * floods: a destination flooded with attempts that go unanswered (a spoofed SYN or UDP flood),
//    or with echo requests from new sources, gets no flow per packet: FloodGuard
//    (flow/flood_guard.h) counts them in a summary for the observer (off with flood_summary_rate
//    0, and in cic_mode).
// A packet decapsulated from a tunnel (Packet::outer) starts a flow whose tunnel_parent is the
// outer packet's Community ID; the outer packet is a packet of its own flow. Non-IP packets are
// counted and ignored. Packets whose timestamp goes backwards are treated as arriving at the
// latest time seen.
//
// Memory: about 1.25 KB per flow with 32 first packets (~330 MB when the default 262,144 flows are
// all in use). Address space for max_flows is reserved up front; memory is committed as flows
// appear (2,048 flows' worth at a time) and never grows past the bound, however many sources a
// flood spoofs.
//
// Thread rules: one thread owns a FlowTable; the sink is called on that thread, inside add(),
// add_batch(), advance() and flush(). add() costs O(1) with no allocation for packets of existing
// flows; building a finished flow's record allocates its first-packets vector. The destructor does
// not flush: call flush() at end of input.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "flow/connection_state.h"
#include "flow/flood_guard.h"
#include "flow/flow_features.h"
#include "flow/flow_observer.h"
#include "flow/flow_record.h"
#include "flow/huge_page_array.h"
#include "net/flow_key.h"
#include "net/packet.h"

namespace netsentry::flow {

// Receives finished flows. Called on the FlowTable's thread; keep it cheap (e.g. push to a queue).
class FlowSink {
 public:
  virtual ~FlowSink() = default;
  virtual void on_flow(FlowRecord&& record) = 0;
};

struct FlowConfig {
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(120);
  std::chrono::nanoseconds active_timeout = std::chrono::seconds(3600);
  std::size_t max_flows = 262'144;  // 1 .. 16,777,216
  std::size_t first_packets = 32;   // packets summarised per flow for sequence models; <= 1024
  bool cic_mode = false;
  // Progress reports to the observer (flow_observer.h), when one is set: at this many packets and
  // every 8x as many (0 = none), and at the first packet this long after the start and again
  // after every doubling of that age (1 s, 2 s, 4 s, ...; 0 = none).
  std::uint32_t progress_packets = 8;
  std::chrono::nanoseconds progress_after = std::chrono::seconds(1);
  // How long a closed TCP connection keeps its remnants (Zeek's tcp_close_delay and
  // tcp_reset_delay are 5 s).
  std::chrono::nanoseconds linger = std::chrono::seconds(5);
  std::uint16_t community_id_seed = 0;
  // Connection attempts per second to one ip:port, nearly all never completed, before its further
  // SYNs are counted in a flood summary instead of starting flows (flow/flood_guard.h); 0 = off.
  std::uint32_t flood_summary_rate = 1000;

  // CICFlowMeter's rules (see the header comment).
  [[nodiscard]] static FlowConfig cic() {
    FlowConfig config;
    config.active_timeout = std::chrono::seconds(120);
    config.cic_mode = true;
    return config;
  }
};

struct FlowStats {
  std::uint64_t packets = 0;  // given to add() / add_batch()
  std::uint64_t non_ip = 0;   // ignored: not IPv4/IPv6
  std::uint64_t flows_created = 0;
  std::array<std::uint64_t, kEndReasonCount> emitted{};  // records sent to the sink, by reason
  std::uint64_t evicted = 0;                   // flows ended to make room (emitted or suppressed)
  std::uint64_t single_packet_suppressed = 0;  // cic_mode: one-packet flows not emitted
  std::uint64_t remnants = 0;   // packets counted in a closed, lingering TCP connection
  std::uint64_t flipped = 0;    // flows whose initiator is their first packet's destination
  std::uint64_t reversed = 0;   // flows whose roles swapped later (SYN after a SYN-ACK)
  std::uint64_t tunnelled = 0;  // flows of decapsulated packets (with a tunnel_parent)
  FloodGuardStats flood;        // packets counted in flood summaries, not in flows
  std::size_t current = 0;      // flows in the table now
  std::size_t peak = 0;

  [[nodiscard]] std::uint64_t emitted_total() const;
  [[nodiscard]] std::uint64_t emitted_by(EndReason reason) const {
    return emitted[static_cast<std::size_t>(reason)];
  }
};

class FlowTable final {
 public:
  // Throws core::Error when the config is unusable (max_flows or first_packets out of range,
  // non-positive timeouts) or its address space cannot be reserved.
  FlowTable(const FlowConfig& config, FlowSink& sink);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // Accounts one decoded packet. Expires due flows first, using the packet's time.
  void add(const net::Packet& packet);
  // Same as add() for each packet in order, but overlaps the memory accesses of nearby packets:
  // faster when many flows are live. Prefer it when packets arrive in batches.
  void add_batch(std::span<const net::Packet> packets);
  // Expires flows that are idle or too old at `now_ns` (packet time); cheap when nothing is due.
  void advance(std::int64_t now_ns);
  // Ends every flow (reason end_of_input, or fin/rst for closed TCP connections) and empties the
  // table.
  void flush();
  // Interim reports of long-lived flows, so a slow attack or a long exfiltration can be judged
  // before it ends: every live flow older than `min_age_ns` at `now_ns` whose age crossed a
  // multiple of `interval_ns` since `previous_now_ns`, and that had a packet since then, is given
  // to `sink` as a record with end
  // reason kOngoing (features so far); the flow itself goes on unchanged and is not counted as
  // emitted. Returns the number reported. Cost: the flows older than min_age_ns (oldest first).
  std::size_t report_ongoing(std::int64_t previous_now_ns, std::int64_t now_ns,
                             std::int64_t min_age_ns, std::int64_t interval_ns, FlowSink& sink);

  // Tells `observer` (or nobody, with nullptr) about open flows' first moments and progress; it
  // must outlive the table or be replaced. See flow_observer.h.
  void set_observer(FlowObserver* observer) {
    observer_ = observer;
    guard_.set_observer(observer);
  }

  [[nodiscard]] const FlowStats& stats() const { return stats_; }
  [[nodiscard]] std::size_t size() const { return stats_.current; }
  [[nodiscard]] const FlowConfig& config() const { return config_; }

 private:
  static constexpr std::uint32_t kNil = 0xFFFFFFFFu;

  struct Slot {
    net::FlowKey key;
    std::uint32_t hash = 0;
    bool initiator_is_a = false;  // the key's endpoint a is the initiator
    bool closed = false;          // TCP connection closed: lingering for remnants
    bool attempt = false;         // started by an attempt the flood guard counted, not yet answered
    bool stray = false;           // ... by a TCP stray the flood guard counted, not yet answered
    bool stray_dst_is_a = false;  // the stray's destination is the key's endpoint a
    Connection conn;              // kept across active-timeout splits (same connection)
    net::CommunityId parent;      // tunnel_parent (valid for a decapsulated flow)
    // Observer bookkeeping, kept across an active-timeout split (the same connection).
    bool replied = false;                // kReply told
    bool confirmed = false;              // kConfirm told
    std::int64_t next_progress_age = 0;  // flow age of the next timed progress report
    std::uint64_t next_progress = 0;     // packet count of the next progress report
    FlowAccumulator acc;
  };
  // List links live outside the slots, in small dense arrays: moving a flow to the LRU tail on
  // every packet then touches neighbours' 16-byte links, not their ~700-byte slots.
  struct Link {
    std::uint32_t prev;
    std::uint32_t next;
    std::int64_t time_ns;  // LRU: table time of the last packet; age: of the record's first packet
  };
  struct List {
    HugePageArray<Link> links;
    std::uint32_t head = kNil;
    std::uint32_t tail = kNil;

    void push_back(std::uint32_t id, std::int64_t time_ns);
    void unlink(std::uint32_t id);
    [[nodiscard]] bool contains(std::uint32_t id) const {
      return links[id].prev != kNil || head == id;
    }
  };

  // A packet's canonical key and hash, computed once.
  struct Keyed {
    net::FlowKey key;
    std::uint32_t hash = 0;
    bool src_is_a = false;
    bool ip = true;
  };
  [[nodiscard]] std::uint32_t hash_key(const net::FlowKey& key) const;
  void add_keyed(const net::Packet& packet, const Keyed& keyed);
  // The observer's part of add_keyed(), before (`created`, moments) and after the packet counts.
  void observe_moment(std::uint32_t id, const net::Packet& packet, bool forward, bool created);
  void observe_progress(std::uint32_t id);
  void expire(std::int64_t now);
  [[nodiscard]] std::uint32_t find(const net::FlowKey& key, std::uint32_t hash) const;
  std::uint32_t create(const net::FlowKey& key, std::uint32_t hash, bool src_is_a,
                       const net::Packet& first);
  [[nodiscard]] EndReason close_reason(std::uint32_t id) const;
  // Emits the record held by `id` (unless empty or suppressed) and removes the flow.
  void end(std::uint32_t id, EndReason reason);
  // Emits the record held by `id` and keeps the slot, empty, for the same connection.
  void split(std::uint32_t id);
  // Fills `record` from slot `id`; false when there is nothing to emit (empty or suppressed).
  bool build_record(std::uint32_t id, EndReason reason, FlowRecord& record);
  // The record part of build_record, without suppression or counting.
  void fill_record(std::uint32_t id, EndReason reason, FlowRecord& record);
  void index_erase(std::uint32_t id);
  std::span<PacketSummary> sequence(std::uint32_t id) {
    if (config_.first_packets == 0) return {};
    return {&sequences_[std::size_t{id} * config_.first_packets], config_.first_packets};
  }

  FlowConfig config_;
  FlowSink& sink_;
  FlowObserver* observer_ = nullptr;
  std::int64_t idle_ns_;
  std::int64_t active_ns_;
  std::int64_t linger_ns_;
  std::uint64_t seed_;
  std::int64_t now_ = INT64_MIN;

  // Open addressing with linear probing and backward-shift deletion: entry = hash << 32 | (id + 1),
  // 0 = empty. At most half full, so probes stay short even under a flood of new keys.
  HugePageArray<std::uint64_t> index_;
  std::uint64_t mask_ = 0;

  // Sized for max_flows up front but committed 2,048 ids at a time as ids are first used, so memory
  // follows the peak number of flows; ids are reused through free_.
  HugePageArray<Slot> slots_;
  HugePageArray<PacketSummary> sequences_;  // first_packets per slot
  std::vector<std::uint32_t> free_;
  std::uint32_t next_unused_ = 0;
  std::uint32_t populated_ = 0;  // ids below it have their pages committed

  List lru_;     // by last packet: head = idle the longest
  List age_;     // by record start: head = oldest; only slots holding packets
  List linger_;  // closed TCP connections by close time: head = closed the longest
  FlowStats stats_;
  FloodGuard guard_;  // counts into stats_.flood
};

}  // namespace netsentry::flow
