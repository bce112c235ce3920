// Provides detect::BeaconDetector: command-and-control beaconing and other regular callbacks —
// a host opening new connections to one server port at regular intervals (jitter included), from
// flow starts as they happen (TCP SYNs, UDP flows' first datagrams). Per (client, server, port,
// protocol) it keeps the latest connection starts (starts within beacon_min_interval_s of the
// previous one join its burst); from beacon_connections on, when the median interval lies between
// beacon_min_interval_s and beacon_max_interval_s and the intervals' median absolute deviation is
// at most beacon_max_dispersion of it, the longest interval at most beacon_max_spread times the
// shortest (a few intervals of human-paced visits can look regular by their median alone), and at
// most beacon_rare_sources hosts use that server port
// in the window (a rare destination: what RITA calls low prevalence; an API many clients poll on
// schedule is ordinary), that is evidence (threat HIGH) about the client (attacker), the server
// its peer. Ports of protocols that are periodic by design (DNS, NTP, DHCP, SNMP, syslog, SSDP,
// mDNS, LLMNR, WS-Discovery, MQTT) are ignored, and so is a schedule whose connections carry bulk
// data (more than beacon_max_bytes: a scripted download or backup, not a callback).
// Memory is bounded: a subject enters the table at its second start (SecondSight), at most
// max_tracked subjects and server ports, at most kStarts starts each.
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/host_detectors.h"

namespace netsentry::detect {

// The regularity of a series of event times: the median interval and its median absolute
// deviation relative to it (0: perfectly regular). `times` ascending, at least three.
struct IntervalStats {
  double median_s = 0;
  double dispersion = 0;
  double spread = 0;  // the longest interval over the shortest
};
[[nodiscard]] IntervalStats interval_stats(std::span<const std::int64_t> times_ns);

class BeaconDetector final : public Detector {
 public:
  static constexpr std::size_t kStarts = 16;

  explicit BeaconDetector(const HostDetectorOptions& options);

  [[nodiscard]] std::string_view name() const override { return "beacon"; }
  void on_flow_event(const flow::FlowEvent& event, std::vector<Evidence>& out) override;
  void on_flow_progress(const flow::FlowRecord& record, std::vector<Evidence>& out) override;
  void on_flow_finished(const flow::FlowRecord& record, std::vector<Evidence>& out) override;
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;
  [[nodiscard]] DetectorStats stats() const override;

 private:
  struct State : Track {
    std::array<std::int64_t, kStarts> starts{};  // ring of the latest burst starts
    std::size_t count = 0;                       // bursts seen in the window
    IntervalStats regularity;
    std::uint64_t bulk = 0;         // connections that carried more than beacon_max_bytes
    std::int64_t last_bulk_ns = 0;  // start of the latest one counted
    std::vector<FlowRef> recent;
  };
  struct Users : Track {
    std::array<std::uint64_t, 4> sources{};  // hashes of the first few clients
    std::size_t distinct = 0;
  };
  struct First {
    std::int64_t start_ns = 0;
  };
  using Table = SubjectTable<State>;
  using UserTable = SubjectTable<Users>;

  [[nodiscard]] Evidence make(const Table::Entry& e) const;
  [[nodiscard]] std::size_t users(const flow::FlowEvent& ev);
  void see_size(const flow::FlowRecord& record);

  HostDetectorOptions options_;
  std::vector<bool> ignored_;  // by destination port
  Table table_;
  UserTable users_;
  SecondSight<First> admit_;
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
