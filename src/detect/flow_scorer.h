// Provides detect::FlowScorer, how a model bundle judges flows: it binds the bundle's inputs to
// flow::FlowRecord fields once (CICFlowMeter names, the original project's columns, our flows.csv
// names), scores batches of flows with every model and the ensemble (a verdict per flow), and
// describes anomalous flows for their evidence: a sentence with the numbers, each model's vote and
// score, and the features furthest from the training data (as z-scores, or the autoencoder's
// per-feature reconstruction error when it voted).
// A bundle whose inputs live flows cannot supply (e.g. NSL-KDD's content features) is refused at
// construction with the list of missing inputs, not silently fed zeros.
// Thread rules: construct on one thread; score() and describe() are const and may run
// concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/matrix.h"
#include "detect/evidence.h"
#include "flow/flow_record.h"
#include "ml/bundle.h"

namespace netsentry::detect {

struct FlowScorerOptions {
  std::size_t evidence_features = 5;  // at most this many features described per flow
  // Flows described in full per batch (the first anomalous flow of each host pair); the others
  // get a short description, so an attack-heavy batch does not cost more to describe than to
  // score.
  std::size_t described_per_batch = 64;
};

// The note of a flow the generic model flagged and this network's baseline called typical (no
// evidence; detect/ml_flow_detector.h); evaluate --pcap counts them by label.
inline constexpr std::string_view kTypicalHereNote = "typical of this network (site baseline)";

// One flow's verdict (parallel to the scored batch).
struct FlowVerdict {
  float score = 0;  // ensemble score
  bool anomalous = false;
  int votes = 0;          // models with a vote (weight above 0) that find the flow anomalous
  int voters = 0;         // models with a vote that scored it
  bool scored = false;    // false: no model judged it (see `note`)
  bool evidence = false;  // the ML detector gave evidence about it (after the site baseline)
  // Why it was not scored or gave no evidence although anomalous: "one packet", "DHCP", "typical
  // of this network", ...; empty otherwise.
  std::string_view note;
};

// What score() keeps for describe(): the model inputs and every model's scores.
struct ScoredBatch {
  data::Matrix x;
  ml::ModelScores scores;
};

class FlowScorer final {
 public:
  // `bundle` must outlive the scorer. Throws core::Error naming inputs that flows cannot supply.
  FlowScorer(const ml::Bundle& bundle, FlowScorerOptions options = {});

  // Scores `flows`; fills `verdicts` (one per flow) and, when given, `batch` for describe().
  void score(std::span<const flow::FlowRecord> flows, std::vector<FlowVerdict>& verdicts,
             ScoredBatch* batch = nullptr) const;
  // Describes rows of a scored batch into one Evidence each (description, score, votes, models,
  // deviations; the caller sets who, how sure and how bad). `rows` index `flows`.
  void describe(std::span<const flow::FlowRecord> flows, const ScoredBatch& batch,
                std::span<const FlowVerdict> verdicts, std::span<const std::size_t> rows,
                std::vector<Evidence>& out) const;

  // The model inputs in the bundle's order and what each is read from (for --help and logs).
  [[nodiscard]] const std::vector<std::string>& input_names() const { return input_names_; }
  [[nodiscard]] float threshold() const { return bundle_.ensemble.threshold(); }
  [[nodiscard]] const ml::Bundle& bundle() const { return bundle_; }

 private:
  enum class Source : std::uint8_t {
    kCic,       // record.cic[index]
    kDuration,  // duration_s
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
  void describe_one(const flow::FlowRecord& r, const ScoredBatch& batch, std::size_t row,
                    const FlowVerdict& v, const std::vector<float>* ae_errors, Evidence& out,
                    bool full) const;

  const ml::Bundle& bundle_;
  FlowScorerOptions options_;
  std::vector<Binding> numeric_;
  std::vector<std::string> input_names_;
  std::size_t categorical_count_ = 0;  // every categorical input is a protocol column
  // Per bundle model: its weight in the ensemble is above 0. Votes count only these; the others
  // are scored for the evidence (their verdicts are in Evidence::models and the description).
  std::vector<bool> voting_;
};

}  // namespace netsentry::detect
