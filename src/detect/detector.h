// Provides detect::Detector, the interface every detection rule implements (one final class per
// rule: port scan, host scan, SYN/UDP/ICMP flood, brute force, slow HTTP, the volume rules, the ML
// flow scorer), and the inputs the detection stage hands them:
//  * flow events (flow/flow_observer.h): a flow's first packet, first reply and the initiator's
//    answer to it, as they happen;
//  * connection attempts (detect::Attempt) and how they ended: completed, refused, unanswered,
//    half-open or reset, judged by the stage's AttemptTracker from flow events as they happen
//    (refused at once, unanswered or half-open after a second) or from the finished flow;
//  * progress records of open flows (after their first packets, at packet milestones, after a
//    second, and the pipeline's interim reports of long-lived flows), and finished flows;
//  * flood summaries: the SYNs to a flooded destination that the flow table counted instead of
//    starting a flow for each (flow/flood_guard.h);
//  * traffic samples (host counters or the capture's per-second series);
//  * advance(now): packet time moved on (windows close); flush(): end of input.
// A detector appends detect::Evidence to `out`; it never raises alerts itself.
// Thread rules: the stage calls a detector from one thread at a time; detectors need no locks.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "detect/evidence.h"
#include "flow/flow_observer.h"
#include "flow/flow_record.h"
#include "host/monitor.h"
#include "net/packet.h"
#include "net/sighting.h"

namespace netsentry::detect {

enum class AttemptOutcome : std::uint8_t {
  kCompleted,   // TCP: the handshake completed (only TCP attempts are told when served)
  kRefused,     // TCP: answered with RST
  kUnanswered,  // no reply at all (TCP SYN, UDP datagram, ICMP echo request)
  kHalfOpen,    // TCP: SYN-ACK, but the initiator never completed the handshake
  kReset,       // TCP: the initiator reset the connection without sending payload
};

// A connection attempt (a TCP SYN, a UDP flow's first datagram, an ICMP echo request) and how it
// ended. Every outcome but kCompleted is a probe: an attempt that got no service.
struct Attempt {
  std::int64_t time_ns = 0;   // when its outcome was known
  std::int64_t start_ns = 0;  // its first packet
  net::IpAddress src;
  net::IpAddress dst;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;  // ICMP: the flow key's pseudo-port
  std::uint8_t ip_proto = 0;
  AttemptOutcome outcome = AttemptOutcome::kUnanswered;
  // Told before as kCompleted; only now known to be a probe (a connect scan's reset, seen when the
  // flow ended). Counters of attempts skip it.
  bool repeat = false;

  [[nodiscard]] bool probe() const { return outcome != AttemptOutcome::kCompleted; }
};

// What a detector tracks, for the stage's counters.
struct DetectorStats {
  std::uint64_t evidence = 0;
  std::uint64_t evictions = 0;  // subjects dropped early because a table was full
  std::size_t tracked = 0;      // subjects tracked now
};

class Detector {
 public:
  virtual ~Detector() = default;

  // The detector's name in evidence and logs ("port_scan", "syn_flood", "flow_scorer", ...).
  [[nodiscard]] virtual std::string_view name() const = 0;

  virtual void on_sighting(const net::Sighting& /*sighting*/, std::vector<Evidence>& /*out*/) {}
  virtual void on_flow_event(const flow::FlowEvent& /*event*/, std::vector<Evidence>& /*out*/) {}
  virtual void on_attempt(const Attempt& /*attempt*/, std::vector<Evidence>& /*out*/) {}
  // A record of a flow still open (end_reason kOngoing) from the flow table's observer: after its
  // first packets, at packet milestones, or its first packet a second after its start.
  virtual void on_flow_progress(const flow::FlowRecord& /*record*/,
                                std::vector<Evidence>& /*out*/) {}
  // The pipeline's periodic interim report of a long-lived open flow (end_reason kOngoing).
  virtual void on_flow_interim(const flow::FlowRecord& record, std::vector<Evidence>& out) {
    on_flow_progress(record, out);
  }
  virtual void on_flow_finished(const flow::FlowRecord& /*record*/,
                                std::vector<Evidence>& /*out*/) {}
  // A flooded destination's summary from the flow table: SYNs that started no flow (each one a
  // half-open attempt), and the destination's replies to them.
  virtual void on_flood_summary(const flow::FloodSummary& /*summary*/,
                                std::vector<Evidence>& /*out*/) {}
  // Before a batch's summaries are handed over one by one: all of them at once (the flow table
  // reports every flooded network of a second together; FloodSummary::prefix marks a network's).
  virtual void before_network_floods(std::span<const flow::FloodSummary> /*networks*/) {}
  virtual void on_traffic(const host::TrafficSample& /*sample*/, std::vector<Evidence>& /*out*/) {}
  // Packet time reached now_ns: close the windows that ended.
  virtual void advance(std::int64_t /*now_ns*/, std::vector<Evidence>& /*out*/) {}
  // End of input: close every window.
  virtual void flush(std::vector<Evidence>& /*out*/) {}

  [[nodiscard]] virtual DetectorStats stats() const { return {}; }
};

}  // namespace netsentry::detect
