// Provides the held-out-family validation `train` uses to choose its default fusion (ensemble mode
// and model weights). Validation rows that look like the training data cannot tell which fusion
// generalises: every mode detects the attacks it was fitted on. So the training rows are split
// into folds by attack FAMILY (class): each fold's models are trained without some families, and
// each candidate fusion is judged by how many rows of the families its models never saw it
// detects, at a fixed false-positive budget on benign rows they never saw either.
//
// Candidates: the tail fusion and the original's vote, each with every weight vector over {0, 1, 2}
// per model (one model alone included), and the max fusion (the most extreme tail position) of
// every set of two or more models (its weights only say which models it reads). Not the soft and
// stacked modes: both scale each model's score by a logistic fit to the families the training data
// has, so a family unlike them is read on the wrong scale. The tail fusion reads each score only by
// its position among benign rows. Measured (docs/models.md, 2026-12-06): on CIC-IDS2017
// leave-one-family-out the search chose soft in 3 of 8 runs; its first soft candidate never
// detected the left-out family better than its first tail candidate (mean 0.64 against 0.92), and
// without soft and stacked the mean went from 0.816 to 0.921 (train seed 42; over seeds 42, 7 and 3
// from 0.640 to 0.717).
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

// Every candidate's result, best first. The first is the equal-weight tail fusion unless a
// candidate within the budget beats it clearly (beats_clearly with `clear_win_se`); then it is the
// best such candidate. The rest follow by highest mean recall; within `tie` of the best, fewer
// false positives, then weights closer to all-equal. A negative `clear_win_se` ranks by recall
// alone (the rule before 2026-12-06's second change). Throws core::Error when folds is empty or a
// fold lacks a model's scores.
// Why the pull toward equal weights: the folds hold out only a few families each, so the weights
// that detect them best partly fit those families. On CIC-IDS2017 leave-one-family-out
// (docs/models.md) ranking by recall alone reached a mean of 0.702 and this rule 0.750 on five
// train seeds' dumped folds (replayed), 0.606 and 0.614 on three new seeds (real runs), 0.743 and
// 0.750 on six seeds once the row-sequence LSTM's validation scores were in context (replayed
// exactly; one seed 0.039 worse, one 0.063 better); the NSL-KDD choice is unchanged.
[[nodiscard]] std::vector<FusionResult> search_fusion(const std::vector<FoldScores>& folds,
                                                      const std::vector<std::string>& models,
                                                      double fp_budget, double tie = 0.002,
                                                      double clear_win_se = 1.0);

// Whether `a` detects the held-out families better than `b` by more than `se` standard errors of
// the per-family differences (each family of b's once; a family a lacks counts as 0 recall): the
// mean difference must be positive and above se * sd / sqrt(families).
[[nodiscard]] bool beats_clearly(const FusionResult& a, const FusionResult& b, double se);

// One fold's inputs to the search, for replaying it outside netsentry (`train --fusion-dump`,
// bench/fusion_replay): {fold, models, tail_epsilon, y_calibrate, y_test, family_test, terms:
// {vote|tail: {calibrate, test}}}, each terms array [model][row] as Ensemble::model_terms gives it
// (a tail candidate's score is 1 - exp(max(sum_m share_m * term_m, log(tail_epsilon))), a max
// candidate's the same with the smallest term of its models in place of the sum, both from the
// tail terms; a vote's the weighted share of models above their own threshold). Throws like
// search_fusion.
[[nodiscard]] nlohmann::json fold_terms_json(const FoldScores& fold,
                                             const std::vector<std::string>& models,
                                             std::size_t index);

// {budget, folds, candidates, selection, best: {...}, top: [...], reference: [...]}: what the
// manifest records of the search (`clear_win_se` as given to search_fusion, for "selection").
[[nodiscard]] nlohmann::json to_json(const std::vector<FusionResult>& ranked, double fp_budget,
                                     std::size_t folds,
                                     const std::vector<std::string>& family_names,
                                     double clear_win_se = 1.0);

}  // namespace netsentry::ml
