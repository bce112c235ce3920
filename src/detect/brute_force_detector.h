// Provides detect::BruteForceDetector: short completed sessions from one source to one login
// service (ssh, ftp, rdp, ...) within a window; on a web port either very many, or a fast burst
// whose replies are mostly one size (the same "401 Unauthorized" page again and again). Login
// sessions end within seconds, so finished flows are early enough. The source is the profile.
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/host_detectors.h"

namespace netsentry::detect {

class BruteForceDetector final : public Detector {
 public:
  explicit BruteForceDetector(const HostDetectorOptions& options);

  [[nodiscard]] std::string_view name() const override { return "brute_force"; }
  void on_flow_finished(const flow::FlowRecord& record, std::vector<Evidence>& out) override;
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;
  [[nodiscard]] DetectorStats stats() const override;

 private:
  // The size that most replies share, by the majority vote (Boyer-Moore): when one size holds a
  // fraction f > 1/2 of the votes, `lead` is at least (2f - 1) times the votes.
  struct ReplySizeVote {
    std::uint64_t size = 0;
    std::uint64_t lead = 0;
    void add(std::uint64_t reply);
    [[nodiscard]] bool holds(double ratio, std::uint64_t votes) const;
  };
  struct State : Track {
    std::uint64_t sessions = 0;
    ReplySizeVote replies;
    std::vector<FlowRef> recent;
  };
  using Table = SubjectTable<State>;
  [[nodiscard]] std::size_t threshold(std::uint16_t port) const;
  [[nodiscard]] bool web_burst(const State& s) const;
  [[nodiscard]] Evidence make(const Table::Entry& e, int level) const;
  [[nodiscard]] auto closer(std::vector<Evidence>& out);

  static constexpr std::uint8_t kPortLogin = 1;
  static constexpr std::uint8_t kPortWeb = 2;
  HostDetectorOptions options_;
  std::vector<std::uint8_t> port_class_;  // by destination port: 0, kPortLogin, kPortWeb
  Table table_;
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
