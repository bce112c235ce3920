// Provides detect::BruteForceDetector: short completed sessions from one source to one login
// service (ssh, ftp, rdp, ...) within a window; on a web port either very many, or a fast burst
// whose replies are mostly one size (the same "401 Unauthorized" page again and again). Cleartext
// services that allow many guesses on one connection (FTP, POP3, IMAP, SMTP AUTH, telnet) also
// count the failed logins their servers announce (net::SightingKind::kLoginFailure, as they
// happen); the larger of the two counts is the measure. Login sessions end within seconds, so
// finished flows are early enough. The source is the profile.
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include <array>
#include <utility>

#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/host_detectors.h"

namespace netsentry::detect {

class BruteForceDetector final : public Detector {
 public:
  explicit BruteForceDetector(const HostDetectorOptions& options);

  [[nodiscard]] std::string_view name() const override { return "brute_force"; }
  void on_flow_finished(const flow::FlowRecord& record, std::vector<Evidence>& out) override;
  void on_sighting(const net::Sighting& sighting, std::vector<Evidence>& out) override;
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;
  [[nodiscard]] DetectorStats stats() const override;

 private:
  // The reply sizes most sessions got, by the Misra-Gries summary with kSlots counters: every
  // size that more than 1/(kSlots + 1) of the replies had is kept, its count at most that share
  // low. A login attack gets the same one or two pages again and again (the form, the failure);
  // browsers and API clients fetch pages of many sizes.
  struct ReplySizes {
    static constexpr std::size_t kSlots = 8;
    std::array<std::pair<std::uint64_t, std::uint64_t>, kSlots> slots{};  // (size, count)
    std::size_t used = 0;
    void add(std::uint64_t reply);
    // True when the two most common sizes account for at least `ratio` of `votes` replies.
    [[nodiscard]] bool holds(double ratio, std::uint64_t votes) const;
  };
  struct State : Track {
    std::uint64_t sessions = 0;
    std::uint64_t failures = 0;  // failed logins the server announced
    ReplySizes replies;
    [[nodiscard]] std::uint64_t measure() const { return std::max(sessions, failures); }
    std::vector<FlowRef> recent;
  };
  using Table = SubjectTable<State>;
  [[nodiscard]] std::size_t threshold(std::uint16_t port) const;
  [[nodiscard]] bool web_burst(const State& s) const;
  [[nodiscard]] Evidence make(const Table::Entry& e, int level) const;
  [[nodiscard]] auto closer(std::vector<Evidence>& out);
  void judge(Table::Entry& e, std::uint8_t port_class, std::vector<Evidence>& out);

  static constexpr std::uint8_t kPortLogin = 1;
  static constexpr std::uint8_t kPortWeb = 2;
  HostDetectorOptions options_;
  std::vector<std::uint8_t> port_class_;  // by destination port: 0, kPortLogin, kPortWeb
  Table table_;
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
