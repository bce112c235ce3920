// Provides detect::MlFlowDetector, the ML flow scorer as a detector: it scores flows with a model
// bundle (the generic model, models/default) and this network's own baseline (SiteBaseline), and
// gives flow_anomaly evidence about the flow's initiator (threat MEDIUM, confidence from the
// ensemble's margin over its threshold and how many models agree) when
//  * the generic model calls the flow anomalous, and
//  * the site baseline, once learned, does not call it typical of this network (at least as
//    ordinary as the median of this network's own flows by default: SiteBaselineOptions)
// (with --learn-baseline there is no generic model: the site baseline alone decides).
// What it does not score: one-packet flows (evidence about them comes from the host detectors, a
// scan or a flood) and known ordinary traffic (OrdinaryTraffic: neighbour discovery, DHCP, mDNS,
// ICMP errors about existing flows, ...).
// Early verdicts: a flow's first progress report (after progress_packets packets or
// progress_after of its life, see flow::FlowConfig) is scored as well as its end and the
// pipeline's interim reports; the same flow's verdicts are one subject, so they do not add up in
// its host's profile. An early report whose flow ends in the same scoring batch is not scored: its
// final verdict comes at the same moment.
// Scoring runs in batches (at most `batch` flows, `span_s` of packet time, and live at most
// `latency_s` of wall time waiting), which amortises each model's fixed cost. Every finished flow
// goes to the FlowVerdictSink in the order it ended, with its verdict.
// The site baseline learns from scorable finished flows of hosts without an engaged alert.
// Thread rules: not thread-safe; the detection stage calls it from one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "detect/detector.h"
#include "detect/flow_scorer.h"
#include "detect/ordinary_traffic.h"
#include "detect/sinks.h"
#include "detect/site_baseline.h"
#include "ml/bundle.h"

namespace netsentry::detect {

struct MlDetectorOptions {
  std::uint64_t min_packets = 2;  // fewer: not scored (host-detector evidence only)
  bool early = true;              // score flows' first progress reports
  std::size_t batch = 4096;
  double span_s = 10;
  double latency_s = 0.5;
  bool live = true;  // false: batches depend on packet order only (replays)
  // Generic-model evidence needs a margin over the threshold of at least this share of the
  // remaining range (threshold..1); 0 = any anomalous verdict.
  double min_margin = 0;
  Severity threat = Severity::kMedium;
  OrdinaryTrafficOptions ordinary;
};

struct MlDetectorStats {
  std::uint64_t finished = 0;          // finished flows seen
  std::uint64_t scored = 0;            // finished flows scored
  std::uint64_t early_scored = 0;      // progress and interim reports scored
  std::uint64_t early_superseded = 0;  // ... not scored: their flow ended in the same batch
  std::uint64_t early_held = 0;        // ... flagged, but no evidence: the site baseline learns
  std::uint64_t anomalous = 0;         // finished flows the generic model called anomalous
  std::uint64_t typical_here = 0;      // ... that the site baseline called typical
  std::uint64_t with_evidence = 0;     // finished flows that gave evidence (early or at the end)
  std::uint64_t one_packet = 0;        // finished flows left to the host detectors
  std::uint64_t ordinary = 0;          // finished flows that are known ordinary traffic
  double seconds = 0;                  // wall time scoring (all models, both baselines)
  double early_seconds = 0;            // of which for progress and interim reports
};

class MlFlowDetector final : public Detector {
 public:
  // `verdicts` (may be null) receives every finished flow; `site` (may be null) is this network's
  // baseline, owned by the caller. `may_learn(host)` says whether a host's flows may teach the
  // site baseline (false for hosts with engaged alerts).
  MlFlowDetector(MlDetectorOptions options, FlowVerdictSink* verdicts, SiteBaseline* site,
                 std::function<bool(const net::IpAddress&)> may_learn);
  ~MlFlowDetector() override;

  [[nodiscard]] std::string_view name() const override { return "flow_scorer"; }
  void on_flow_event(const flow::FlowEvent& event, std::vector<Evidence>& out) override;
  void on_flow_progress(const flow::FlowRecord& record, std::vector<Evidence>& out) override;
  void on_flow_interim(const flow::FlowRecord& record, std::vector<Evidence>& out) override;
  void on_flow_finished(const flow::FlowRecord& record, std::vector<Evidence>& out) override;
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;

  // The generic model (null: none). Flows scored from then on use it.
  void set_model(std::unique_ptr<ml::Bundle> bundle, std::string what);
  // While waiting, flows queue unscored until set_model() or set_waiting(false).
  void set_waiting(bool waiting) { waiting_ = waiting; }
  // Replays: called when a batch falls due while waiting; it returns once the wait is over
  // (set_model() or set_waiting(false) called). Batches are then cut at the same flows whenever
  // the model arrives, so a replay's verdicts and evidence do not depend on how long it loaded.
  void set_await(std::function<void()> await) { await_ = std::move(await); }
  [[nodiscard]] std::size_t pending() const { return pending_.size(); }
  [[nodiscard]] const ml::Bundle* model() const { return bundle_.get(); }
  [[nodiscard]] const std::string& model_description() const { return what_; }
  [[nodiscard]] float threshold() const;
  [[nodiscard]] MlDetectorStats ml_stats() const { return stats_; }

 private:
  struct Item {
    flow::FlowRecord record;
    bool finished = false;
    std::string_view note;  // set: not scored, and why
  };
  void enqueue(const flow::FlowRecord& record, bool finished, std::vector<Evidence>& out);
  void score(std::vector<Evidence>& out);
  [[nodiscard]] bool due(std::int64_t now_ns) const;
  // A model scores flows now (the generic one, or the site baseline alone).
  [[nodiscard]] bool judge();
  // Takes the site baseline's newly fitted model (a replay: once its time beside the packets is
  // over, waiting for a fit still running).
  void adopt_site();
  // The pending batch spans `span_s` of packet time by `now_ns`.
  [[nodiscard]] bool spans(std::int64_t now_ns) const;
  void give_evidence(const flow::FlowRecord& record, Evidence ev, const FlowVerdict& v, bool early,
                     std::vector<Evidence>& out);

  MlDetectorOptions options_;
  FlowVerdictSink* verdicts_;
  SiteBaseline* site_;
  std::function<bool(const net::IpAddress&)> may_learn_;
  OrdinaryTraffic ordinary_;
  std::unique_ptr<ml::Bundle> bundle_;
  std::unique_ptr<FlowScorer> scorer_;
  std::string what_;
  bool waiting_ = false;
  std::function<void()> await_;
  std::int64_t latest_ns_ = 0;  // packet time of the newest flow or tick seen

  std::vector<Item> pending_;
  std::int64_t pending_first_ns_ = 0;
  std::chrono::steady_clock::time_point pending_since_;
  // Flows whose first progress report was scored, and flows that gave evidence early (bounded:
  // the oldest are forgotten first).
  std::unordered_set<std::uint64_t> early_done_;
  std::deque<std::uint64_t> early_order_;
  std::unordered_set<std::uint64_t> early_evidence_;
  std::unordered_set<std::uint64_t> finished_ids_;  // score()'s scratch
  std::deque<std::uint64_t> evidence_order_;
  MlDetectorStats stats_;
  // Scratch.
  std::vector<flow::FlowRecord> rows_;
  std::vector<FlowVerdict> verdicts_scratch_;
  std::vector<FlowVerdict> batch_verdicts_;  // one per pending item
  std::vector<std::size_t> index_scratch_;   // pending items scored
  std::vector<flow::FlowRecord> finished_scratch_;
  std::vector<FlowVerdict> finished_verdicts_scratch_;
};

}  // namespace netsentry::detect
