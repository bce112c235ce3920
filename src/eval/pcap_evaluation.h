// Provides the judgement of a labelled capture (the lab's capture.pcap + labels.csv) replayed
// through monitor's CapturePipeline and DetectionStage (app/evaluate_pcap.h runs the replay), at
// two levels:
//  * flow level: every finished flow's ensemble verdict against its label (episode_labels.h), and
//    the share of flows that gave ML evidence;
//  * attack level: per episode, whether an alert was attributed to it, which kinds, when the first
//    delivery holding evidence from the episode's time reached the user (packet time: from the
//    episode's start, and from the time that evidence concluded, i.e. a detector crossed its
//    threshold), and how many alerts; p50/p95 of both over the detected episodes. Alerts
//    attributed to no episode are false alerts, counted by kind, by severity above LOW, and per
//    hour of capture (benign traffic runs throughout a lab capture).
// PcapEvaluator is the part without I/O (fed flows, verdicts and alerts; unit-tested directly);
// format_pcap_evaluation() / pcap_evaluation_json() print its result.
// Thread rules: PcapEvaluator's methods may be called from any thread (guarded by mutex_).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "detect/alert.h"
#include "detect/flow_scorer.h"
#include "detect/sinks.h"
#include "eval/episode_labels.h"
#include "flow/flow_observer.h"
#include "flow/flow_record.h"

namespace netsentry::eval {

struct EpisodeOutcome {
  std::uint64_t flows = 0;         // finished flows labelled with this episode
  std::uint64_t packets = 0;       // their packets (both directions), and flood summaries'
  std::uint64_t alerts = 0;        // distinct alerts attributed (an aggregated alert counts once)
  std::uint64_t alert_events = 0;  // their repeat counts summed
  std::map<std::string, std::uint64_t> alert_kinds;  // kind -> distinct alerts
  std::optional<std::int64_t> first_alert_ns;        // packet time the first one was raised
  // Packet time the evidence of that first delivery's own kind concluded (the detector the alert
  // is named for crossed its threshold; the earliest evidence when none of its kind is about the
  // episode).
  std::optional<std::int64_t> threshold_ns;
  std::uint64_t coinciding_alerts = 0;  // address-less alerts inside the window
  [[nodiscard]] bool detected() const { return alerts > 0; }
};

struct FlowLevelResult {
  std::uint64_t flows = 0;  // finished flows
  std::map<std::string, std::uint64_t> by_label;
  std::uint64_t unscored = 0;       // finished flows without an ensemble verdict
  std::uint64_t with_evidence = 0;  // finished flows that gave ML evidence
  std::uint64_t benign_with_evidence = 0;
  // Finished flows the model called anomalous, benign and attack apart, and by label those of
  // them this network's baseline called typical (so no evidence).
  std::uint64_t flagged_benign = 0;
  std::uint64_t flagged_attack = 0;
  std::map<std::string, std::uint64_t> typical_here_by_label;
  float threshold = 0;  // the ensemble's
  // One entry per scored flow: 1 = attack label; the ensemble score; the label as an index into
  // label_names (0 = BENIGN, then the episodes' kinds in first-seen order).
  std::vector<int> y;
  std::vector<float> scores;
  std::vector<std::int32_t> label_code;
  std::vector<std::string> label_names;
  [[nodiscard]] bool scored() const { return !scores.empty(); }
};

struct PcapEvaluation {
  std::string capture;
  std::string labels;
  std::string model;  // the bundle's description; empty = rules and detectors only
  // This network's baseline in the replay: "off", "loaded from DIR", "learned from the first N
  // minutes", "still learning at the end (...)"; set by the command.
  std::string site_baseline;
  std::vector<Episode> episodes;
  std::vector<EpisodeOutcome> outcomes;  // one per episode
  std::uint64_t packets = 0;
  std::int64_t first_ns = 0;  // the capture's packet-time span, from its flows
  std::int64_t last_ns = 0;
  FlowLevelResult flows;
  std::uint64_t alerts = 0;        // distinct alerts
  std::uint64_t alert_events = 0;  // repeat counts summed
  std::uint64_t attributed_alerts = 0;
  std::uint64_t coinciding_alerts = 0;  // address-less, inside some episode's window
  std::uint64_t false_alerts = 0;       // attributed to no episode, coinciding with none
  std::uint64_t false_alerts_above_low = 0;
  std::map<std::string, std::uint64_t> false_alerts_by_kind;
  std::vector<std::string> false_alert_reasons;  // "#id SEVERITY kind: reason" (the first 20)

  [[nodiscard]] double duration_s() const { return static_cast<double>(last_ns - first_ns) / 1e9; }
  // False alerts per hour of capture time; 0 for an empty capture.
  [[nodiscard]] double false_alerts_per_hour() const;
  [[nodiscard]] double false_alerts_above_low_per_hour() const;
  // Over the detected episodes: seconds from the episode's start / from the threshold to the
  // first alert; nullopt when none was detected. q in [0, 1] (0.5, 0.95), linear interpolation.
  [[nodiscard]] std::optional<double> time_to_first_alert_quantile(double q) const;
  [[nodiscard]] std::optional<double> time_after_threshold_quantile(double q) const;
  [[nodiscard]] std::uint64_t detected_episodes() const;
};

class PcapEvaluator final : public detect::AlertSink, public detect::FlowVerdictSink {
 public:
  explicit PcapEvaluator(const EpisodeLabels& labels);

  // Any batch the pipeline hands the engine (finished or interim): the capture's time span.
  void observe_flows(std::span<const flow::FlowRecord> flows);
  // Packet time reached now_ns: alerts delivered from here on were raised at now_ns (or later).
  void observe_time(std::int64_t now_ns);
  // A flooded destination's summary (flow/flood_guard.h): its packets count in the episode its
  // first source and destination match (they are in no flow).
  void observe_flood(const flow::FloodSummary& summary);
  // The stage's finished flows with their verdicts (empty or unscored: no verdict). Interim
  // reports (EndReason::kOngoing) are skipped.
  void on_flows(std::span<const flow::FlowRecord> flows,
                std::span<const detect::FlowVerdict> verdicts, float threshold) override;
  // Every delivery of an alert; a later delivery of an id replaces the alert kept for it.
  void on_alert(const detect::Alert& alert, detect::AlertChange change) override;

  // Attributes the alerts and fills everything but capture/labels/model/packets.
  [[nodiscard]] PcapEvaluation result() const;

 private:
  struct SeenAlert {
    detect::Alert alert;
    std::int64_t raised_ns = 0;
  };
  struct FirstSeen {
    std::int64_t delivered_ns = 0;
    std::int64_t threshold_ns = 0;
  };

  const EpisodeLabels& labels_;
  mutable std::mutex mutex_;  // guards everything below
  std::int64_t now_ns_ = 0;
  std::int64_t first_ns_ = INT64_MAX;
  std::int64_t last_ns_ = INT64_MIN;
  FlowLevelResult flows_;
  std::vector<std::uint64_t> episode_flows_, episode_packets_;
  std::map<std::string, std::int32_t> label_index_;
  std::map<std::int64_t, SeenAlert> alerts_;  // by id
  // Per episode, the first delivery holding evidence from its time.
  std::vector<std::optional<FirstSeen>> first_seen_;
};

// The text report: the run, flows by label, the flow-level classification report (evaluation.h's
// format), the per-episode table and the false alerts.
[[nodiscard]] std::string format_pcap_evaluation(const PcapEvaluation& evaluation);
// One JSON object; the keys are listed in `evaluate --help`.
[[nodiscard]] nlohmann::json pcap_evaluation_json(const PcapEvaluation& evaluation);

}  // namespace netsentry::eval
