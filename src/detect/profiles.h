// Provides detect::Profiles, where evidence becomes alerts: one profile per host (or, for volume
// and system evidence, per interface or output) holding its evidence of the last `window` of packet
// time, a risk score computed from it, and at most one engaged alert.
//
// Score. Each piece of evidence weighs w = confidence x threat weight (LOW 0.25, MEDIUM 0.5,
// HIGH 0.8, CRITICAL 1). Pieces of one kind combine like independent chances, 1 - prod(1 - w), so
// repeated evidence of one kind saturates at 1; kinds add up. A newer piece from the same detector
// about the same subject (a window's summary, a flow's final verdict after its early one) replaces
// the older one's weight (the larger stays) instead of adding to it. The alert's `score` is the
// raw score divided by alert_threshold, so 1 means "at the threshold".
// Defaults: a rule detector that crosses its threshold (confidence >= 0.8, threat HIGH: w >= 0.64)
// alerts at once; one anomalous flow (ML evidence: threat MEDIUM, w <= 0.5) never does alone, two
// clearly anomalous ones or several mildly anomalous ones of one host in the window do.
//
// Alerts. A profile whose score reaches alert_threshold (or that receives decisive evidence) raises
// an alert with the next id (kRaised, delivered at once). While it is engaged, new evidence folds
// in: a severity rise is delivered at once (kEscalated), other changes at most once per
// update_interval of packet time (kUpdated, from advance()). After quiet_time without new evidence
// the alert is delivered a last time as past (kPast); later evidence raises a new alert. Evidence
// that expects its own continuation (Evidence::hold_ns: a beacon's next callback) keeps the alert
// engaged until then as well.
// Deliveries depend on packet time and the order of evidence only, so a replay gives the same.
//
// Memory is bounded: at most max_hosts profiles (the one with the oldest evidence and no engaged
// alert is dropped to make room, counted; only when the oldest are all engaged does one of them
// go, its alert past first) and max_items pieces of evidence
// per profile (beyond it, new evidence merges into the oldest piece of its kind, or replaces the
// oldest piece). Profiles whose evidence expired and that hold no alert are dropped.
// Thread rules: not thread-safe; the detection stage calls it from one thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "detect/alert.h"
#include "detect/evidence.h"

namespace netsentry::detect {

struct ProfileOptions {
  std::int64_t window_ns = 300'000'000'000;  // evidence counts this long (packet time)
  double alert_threshold = 0.6;              // raw score that raises an alert
  std::int64_t quiet_ns = 120'000'000'000;   // an engaged alert goes past after this long quiet
  std::int64_t update_interval_ns = 1'000'000'000;
  std::size_t max_hosts = 16'384;
  std::size_t max_items = 16;  // pieces of evidence kept per profile
  std::array<double, 4> threat_weight = {0.25, 0.5, 0.8, 1.0};  // by Severity
};

struct AlertDelivery {
  Alert alert;
  AlertChange change = AlertChange::kRaised;
};

// One profile as the dashboard lists it.
struct HostRisk {
  net::IpAddress host;    // family 0: an interface or output profile
  std::string interface;  // its name then
  double score = 0;       // relative to the alert threshold (1 = at it)
  std::int64_t last_ns = 0;
  std::int64_t alert_id = 0;  // the engaged alert, 0 when none
  // Without an engaged alert: the host's latest alert, gone past (0 when it never had one), so a
  // risky host's row can still lead to what it was alerted for.
  std::int64_t past_alert_id = 0;
  Severity severity = Severity::kLow;  // the highest threat among its evidence
  std::vector<Evidence> evidence;      // strongest first
};

struct ProfilesStats {
  std::uint64_t evidence = 0;
  std::uint64_t raised = 0;
  std::uint64_t deliveries = 0;
  std::uint64_t evictions = 0;  // profiles dropped to make room
  std::uint64_t merged = 0;     // pieces merged because a profile was full
  std::size_t hosts = 0;
  std::size_t engaged = 0;
};

class Profiles final {
 public:
  // Alert ids start at first_alert_id (the next id the store has not used). Throws core::Error on
  // unusable options.
  explicit Profiles(ProfileOptions options = {}, std::int64_t first_alert_id = 1);
  ~Profiles();
  Profiles(const Profiles&) = delete;
  Profiles& operator=(const Profiles&) = delete;

  // Adds one piece of evidence (its time_ns is packet time); appends what must be delivered now.
  void add(const Evidence& evidence, std::vector<AlertDelivery>& out);
  // Packet time reached now_ns: due updates, alerts gone quiet, expired evidence.
  void advance(std::int64_t now_ns, std::vector<AlertDelivery>& out);
  // End of input: the engaged alerts' pending updates (they stay engaged).
  void flush(std::vector<AlertDelivery>& out);

  // True when `host` has an engaged alert.
  [[nodiscard]] bool engaged(const net::IpAddress& host) const;
  // The profiles with the highest scores (at least one piece of evidence), at most n.
  [[nodiscard]] std::vector<HostRisk> riskiest(std::size_t n) const;
  [[nodiscard]] ProfilesStats stats() const;
  [[nodiscard]] const ProfileOptions& options() const { return options_; }
  // The id the next raised alert will get.
  [[nodiscard]] std::int64_t next_alert_id() const { return next_id_; }

 private:
  struct Host;
  struct Index;
  [[nodiscard]] double raw_score(const Host& host) const;
  [[nodiscard]] Severity severity(const Host& host) const;
  [[nodiscard]] Alert build(const Host& host) const;
  void deliver(Host& host, AlertChange change, std::vector<AlertDelivery>& out);
  void drop(std::list<Host>::iterator it, std::vector<AlertDelivery>& out);
  void expire_items(Host& host) const;

  ProfileOptions options_;
  std::int64_t next_id_;
  std::int64_t now_ns_ = 0;
  std::list<Host> hosts_;  // least recent evidence first
  std::unique_ptr<Index> index_;
  ProfilesStats stats_;
};

}  // namespace netsentry::detect
