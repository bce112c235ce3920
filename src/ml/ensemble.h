// Provides ml::Ensemble, which turns the scores of any subset of our models (Isolation Forest,
// Random Forest, LSTM, autoencoder) into one decision, in one of five modes:
//  - vote: each model votes 1 when its score exceeds its own threshold; the ensemble score is
//    sum(w_i * vote_i) / sum(w_i) and a row is anomalous when that exceeds the quorum, 0.5 by
//    default (the original project's rule: with equal weights, a strict majority of models). A
//    higher quorum asks for agreement: with weights IF 2, RF 2, LSTM 1, AE 1 and quorum 0.75 a
//    row needs both forests and at least one of the sequence models;
//  - soft: each model's score is mapped to a probability by Platt scaling fitted on the validation
//    split; the ensemble score is the weighted mean probability, threshold tuned for max F1;
//  - stacked: an L2 logistic regression on the standardized model scores, fitted on the validation
//    split (Newton's method), threshold tuned for max F1.
//  - tail: each model's score becomes its tail position among the NORMAL validation rows,
//    u = P(normal score <= s) (a quantile table of 257 points, interpolated); the ensemble score
//    is 1 - prod_m (1 - u_m + eps)^(w_m / sum w) (Fisher's method for combining p-values, mapped
//    into [0, 1)), so one model that finds a row far outside normal is enough, and several that
//    find it moderately unusual add up. The threshold is not tuned on attacks: it is the
//    (1 - alert_rate) quantile of the normal validation rows' ensemble scores (default 5 %,
//    the autoencoder's 95th-percentile rule applied to the ensemble). Supervised modes learn the
//    attacks in the training data and are chosen by validation F1 on those same attacks; tail
//    keeps the anomaly detectors' say for attacks the training data never showed.
//  - max: the same tail positions; the ensemble score is 1 - min_m (1 - u_m + eps) over the models
//    with a weight above 0 (their size does not matter), i.e. the most extreme tail position of
//    any model: a row one model finds far outside normal is flagged however ordinary the others
//    find it, and several moderately unusual positions do not add up. Threshold as tail: the
//    (1 - alert_rate) quantile of the normal validation rows' ensemble scores.
// Thread rules: configure and fit from one thread; score()/predict() are const and may run
// concurrently.
#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace netsentry::ml {

enum class EnsembleMode { kVote, kSoft, kStacked, kTail, kMax };

[[nodiscard]] std::string_view to_string(EnsembleMode mode);
// "vote" | "soft" | "stacked" | "tail" | "max"; throws core::Error naming the bad value
// otherwise.
[[nodiscard]] EnsembleMode ensemble_mode_from_string(std::string_view text);

// The (1 - rate) quantile of `values`, the floor((1 - rate) * (n - 1))-th smallest: the threshold
// that lets `rate` of them through (the tail and max modes' alert rate, the fusion search's
// budget). Throws core::Error when `values` is empty.
[[nodiscard]] double alert_rate_cut(std::vector<double> values, double rate);

// Model name -> one score per row (higher = more suspicious); all vectors the same length.
using ModelScores = std::map<std::string, std::vector<float>, std::less<>>;

struct EnsembleModeResult {
  EnsembleMode mode = EnsembleMode::kVote;
  double f1 = 0.0;         // on the validation split
  float threshold = 0.5f;  // on the ensemble score
};

class Ensemble {
 public:
  // The threshold each model's own predict() uses; the vote mode needs one per model.
  void set_model_threshold(const std::string& model, float threshold);
  // Weight of a model's vote / probability (default 1; must be >= 0).
  void set_weight(const std::string& model, double weight);
  void set_mode(EnsembleMode mode);
  // vote: the share of the total weight a row's votes must exceed, in [0.5, 1). Default 0.5.
  void set_vote_quorum(double quorum);
  [[nodiscard]] double vote_quorum() const { return vote_quorum_; }
  // Share of normal validation rows the tail and max modes' thresholds let through as alerts, in
  // (0, 0.5]. Takes effect at the next fit().
  void set_tail_alert_rate(double rate);
  [[nodiscard]] EnsembleMode mode() const { return mode_; }

  // Fits soft (calibration + threshold), stacked (regression + threshold), tail and max (normal
  // quantile tables + thresholds) on validation scores of the models in `validation` and records
  // the validation F1 of all five modes. Needs both
  // classes in `y_val` and a model threshold for every model.
  void fit(const ModelScores& validation, std::span<const int> y_val);
  // Switches to the mode with the best validation F1 (ties go to the simpler mode) and returns it.
  EnsembleMode choose_best();
  [[nodiscard]] const std::vector<EnsembleModeResult>& validation_results() const {
    return results_;
  }

  // The fitted threshold of the current mode (not vote) moved to the (1 - rate) quantile of its
  // score on the normal rows of `validation`: an alert budget instead of the best F1.
  void set_threshold_at_alert_rate(const ModelScores& validation, std::span<const int> y_val,
                                   double rate);
  // Fusion internals, for the held-out-family search (fusion_search.h): one model's per-row term
  // before weighting — vote: 1 when above its threshold; soft: its calibrated probability; tail and
  // max: log(1 - u + epsilon) (max takes the smallest of the used models' terms instead of their
  // weighted sum) — and the score of any fitted mode without switching to it.
  [[nodiscard]] std::vector<double> model_terms(EnsembleMode mode, const std::string& model,
                                                std::span<const float> scores) const;
  [[nodiscard]] std::vector<float> score_as(EnsembleMode mode, const ModelScores& scores) const;
  [[nodiscard]] double tail_epsilon() const { return tail_epsilon_; }
  [[nodiscard]] double alert_rate() const { return tail_alert_rate_; }
  // False for bundles from before the max mode (set_threshold_at_alert_rate in max mode sets it).
  [[nodiscard]] bool has_max_threshold() const { return max_threshold_.has_value(); }
  // True when the current mode's threshold comes from the alert rate (tail and max always; soft and
  // stacked after set_threshold_at_alert_rate), false when from the best validation F1.
  [[nodiscard]] bool threshold_from_alert_rate() const {
    return mode_ == EnsembleMode::kTail || mode_ == EnsembleMode::kMax ||
           (alert_rate_mode_ && *alert_rate_mode_ == mode_);
  }
  [[nodiscard]] double weight_of(const std::string& model) const { return weight(model); }

  // Continuous ensemble score per row in [0, 1] (see the modes above). `scores` must hold every
  // model the ensemble uses (extra entries are ignored); throws core::Error naming a missing one.
  [[nodiscard]] std::vector<float> score(const ModelScores& scores) const;
  // score > threshold()
  [[nodiscard]] std::vector<int> predict(const ModelScores& scores) const;
  // The decision threshold of the current mode on the ensemble score (the quorum for vote).
  [[nodiscard]] float threshold() const;
  // The models used, in name order: those fitted on, or (before fit) those with a threshold.
  [[nodiscard]] std::vector<std::string> models() const;
  [[nodiscard]] bool fitted() const { return fitted_; }

  [[nodiscard]] nlohmann::json to_json() const;
  // Reads what to_json() wrote; throws core::Error saying which field is missing or wrong.
  [[nodiscard]] static Ensemble from_json(const nlohmann::json& j);

  struct Calibration {  // p = 1 / (1 + exp(-(a * score + b)))
    double a = 1.0;
    double b = 0.0;
  };
  struct StackedTerm {  // contribution coef * (score - mean) / scale
    double mean = 0.0;
    double scale = 1.0;
    double coef = 0.0;
  };

 private:
  [[nodiscard]] std::vector<double> score_mode(EnsembleMode mode, const ModelScores& scores,
                                               std::size_t rows) const;
  [[nodiscard]] std::size_t check_scores(const ModelScores& scores, EnsembleMode mode) const;
  [[nodiscard]] double weight(const std::string& model) const;

  EnsembleMode mode_ = EnsembleMode::kVote;
  bool fitted_ = false;
  std::vector<std::string> fitted_models_;
  std::map<std::string, float, std::less<>> model_thresholds_;
  std::map<std::string, double, std::less<>> weights_;
  double vote_quorum_ = 0.5;
  std::map<std::string, Calibration, std::less<>> calibration_;
  float soft_threshold_ = 0.5f;
  std::map<std::string, StackedTerm, std::less<>> stacked_;
  double stacked_intercept_ = 0.0;
  float stacked_threshold_ = 0.5f;
  // tail: per model, the normal validation scores at probabilities k / (size - 1).
  std::map<std::string, std::vector<float>, std::less<>> tail_quantiles_;
  double tail_alert_rate_ = 0.05;
  double tail_epsilon_ = 1e-4;  // 1 / (normal validation rows + 1): u never reaches 1 exactly
  float tail_threshold_ = 0.5f;
  std::optional<float> max_threshold_;  // absent in bundles from before the max mode
  // soft or stacked: the mode whose threshold set_threshold_at_alert_rate moved.
  std::optional<EnsembleMode> alert_rate_mode_;
  std::vector<EnsembleModeResult> results_;
};

}  // namespace netsentry::ml
