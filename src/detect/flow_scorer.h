// Provides detect::FlowScorer, the ML stage of the live engine: it binds a model bundle's inputs to
// flow::FlowRecord fields once (CICFlowMeter names, the original project's columns, our flows.csv
// names), then scores batches of completed or in-progress flows with every model and the ensemble
// and turns the anomalous ones into Alerts carrying each model's vote and score and the evidence
// (the features furthest from the training data, as z-scores, or the autoencoder's per-feature
// reconstruction error when it voted).
// A bundle whose inputs live flows cannot supply (e.g. NSL-KDD's content features) is refused at
// construction with the list of missing inputs, not silently fed zeros.
// Thread rules: construct on one thread; score() is const and may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "detect/alert.h"
#include "flow/flow_record.h"
#include "ml/bundle.h"

namespace netsentry::detect {

struct FlowScorerOptions {
  std::size_t evidence_features = 5;  // at most this many evidence entries per alert
  // Severity of an anomalous flow from the ensemble score's margin over its threshold, as a
  // fraction of the remaining range (threshold..1), and how many models agree:
  //   CRITICAL: margin >= critical_margin and every model voted;
  //   HIGH:     margin >= high_margin or at least all but one model voted;
  //   MEDIUM:   at least half the models voted;  LOW: otherwise.
  double high_margin = 0.5;
  double critical_margin = 0.8;
};

// One flow's verdict (parallel to the scored batch).
struct FlowVerdict {
  float score = 0;  // ensemble score
  bool anomalous = false;
  int votes = 0;
  int voters = 0;
};

class FlowScorer final {
 public:
  // `bundle` must outlive the scorer. Throws core::Error naming inputs that flows cannot supply.
  FlowScorer(const ml::Bundle& bundle, FlowScorerOptions options = {});

  // Scores `flows`; fills `verdicts` (one per flow) and appends an Alert for each anomalous one.
  // Only the first anomalous flow of each host pair in the batch gets the full reason and
  // evidence; the others (folded by the aggregator into the first) carry a short reason.
  void score(std::span<const flow::FlowRecord> flows, std::vector<FlowVerdict>& verdicts,
             std::vector<Alert>& alerts) const;

  // The model inputs in the bundle's order and what each is read from (for --help and logs).
  [[nodiscard]] const std::vector<std::string>& input_names() const { return input_names_; }
  [[nodiscard]] float threshold() const { return bundle_.ensemble.threshold(); }

 private:
  enum class Source : std::uint8_t {
    kCic,            // record.cic[index]
    kDuration,       // duration_s
    kPacketCount,
    kByteCount,
    kSourcePort,
    kDestinationPort,
    kIpProto,
    kVlan,
  };
  struct Binding {
    Source source = Source::kCic;
    std::size_t index = 0;
  };

  [[nodiscard]] double numeric_value(const flow::FlowRecord& r, const Binding& b) const;
  void build_alert(const flow::FlowRecord& r, const data::Matrix& x, std::size_t row,
                   const ml::ModelScores& scores, const FlowVerdict& v,
                   const std::vector<float>* ae_errors, Alert& out, bool explain) const;

  const ml::Bundle& bundle_;
  FlowScorerOptions options_;
  std::vector<Binding> numeric_;
  std::vector<std::string> input_names_;
  std::size_t categorical_count_ = 0;  // every categorical input is a protocol column
};

}  // namespace netsentry::detect
