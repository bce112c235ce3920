// Provides the held-out-family validation `train` uses to choose its default fusion (ensemble mode
// and model weights). Validation rows that look like the training data cannot tell which fusion
// generalises: every mode detects the attacks it was fitted on. So the training rows are split
// into folds by attack FAMILY (class): each fold's models are trained without some families, and
// each candidate fusion is judged by how many rows of the families its models never saw it
// detects, at a fixed false-positive budget on benign rows they never saw either.
//
// Candidates: the tail fusion and the original's vote, each with every weight vector over {0, 1, 2}
// per model (one model alone included). Not the soft and stacked modes: both scale each model's
// score by a logistic fit to the families the training data has, so a family unlike them is read
// on the wrong scale. The tail fusion reads each score only by its position among benign rows.
// Measured (docs/models.md, 2026-12-06): on CIC-IDS2017 leave-one-family-out the search chose soft
// in 3 of 8 runs; its first soft candidate never detected the left-out family better than its
// first tail candidate (mean 0.64 against 0.92), and without soft and stacked the mean went from
// 0.816 to 0.921 (train seed 42; over seeds 42, 7 and 3 from 0.640 to 0.717).
//
// For each fold the ensemble is fitted once on the fold's calibration rows (benign rows and rows
// of the families the fold trained on, all held out of its training: what `train` fits its
// ensemble on); a candidate's threshold is the (1 - budget) quantile of its score on the
// calibration benign rows, except vote, whose threshold is the original's fixed 0.5 (it competes
// only when that keeps to the budget on the calibration rows). Score: the mean over held-out
// families of the share of their rows detected (each family counts once, whatever its size).
// Thread rules: free functions; no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <vector>

#include "ml/ensemble.h"

namespace netsentry::ml {

// Which rows each fold trains on, calibrates on and is tested on (indices into the rows given to
// make_family_folds).
struct FamilyFold {
  std::vector<std::size_t> train;      // benign + attack rows of the fold's known families
  std::vector<std::size_t> calibrate;  // held out of training: benign + known families
  std::vector<std::size_t> test;       // held-out families' rows + benign rows held out of both
  std::vector<std::int32_t> held_out;  // the families (class codes) the fold never trains on
};

// Splits rows into `folds` folds of attack families (class codes of rows with y = 1), largest
// families spread round-robin so each fold holds out a similar share of attack rows. Benign rows
// are split per fold into training (70 %), calibration (15 %) and test (15 %) parts. Families
// smaller than `min_family_rows` are never held out (too few rows to measure). Returns an empty
// vector when fewer than two families are large enough. `max_train_rows` > 0 caps each fold's
// training rows (a class-stratified sample) so the search costs a bounded multiple of one
// training.
[[nodiscard]] std::vector<FamilyFold> make_family_folds(std::span<const int> y,
                                                        std::span<const std::int32_t> family,
                                                        int folds, std::uint64_t seed,
                                                        std::size_t min_family_rows = 20,
                                                        std::size_t max_train_rows = 0);

// One fold's model scores on its calibration and test rows.
struct FoldScores {
  ModelScores calibrate;
  std::vector<int> y_calibrate;
  ModelScores test;
  std::vector<int> y_test;
  std::vector<std::int32_t> family_test;    // class code per test row (any value for benign rows)
  std::map<std::string, float> thresholds;  // each fold model's own threshold (for vote)
};

struct FusionCandidate {
  EnsembleMode mode = EnsembleMode::kTail;
  std::map<std::string, double> weights;    // every model
  [[nodiscard]] std::string label() const;  // "tail (isolation_forest 1, lstm 0, ...)"
};

struct FusionResult {
  FusionCandidate candidate;
  double mean_recall = 0;  // over held-out families, each once
  double fp_rate = 0;      // held-out benign rows flagged, pooled over folds
  // False: a vote whose fixed threshold flags more calibration benign rows than the budget; it
  // ranks below every candidate that keeps to the budget.
  bool within_budget = true;
  std::map<std::int32_t, double> family_recall;
};

// Every candidate's result, best first: highest mean recall; within `tie` of the best, fewer false
// positives, then weights closer to all-equal. Throws core::Error when folds is empty or a fold
// lacks a model's scores.
[[nodiscard]] std::vector<FusionResult> search_fusion(const std::vector<FoldScores>& folds,
                                                      const std::vector<std::string>& models,
                                                      double fp_budget, double tie = 0.002);

// {budget, folds, candidates, best: {...}, top: [...]}: what the manifest records of the search.
[[nodiscard]] nlohmann::json to_json(const std::vector<FusionResult>& ranked, double fp_budget,
                                     std::size_t folds,
                                     const std::vector<std::string>& family_names);

}  // namespace netsentry::ml
