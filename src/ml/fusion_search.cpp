#include "ml/fusion_search.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <set>

#include "core/error.h"

namespace netsentry::ml {
namespace {

constexpr double kWeightGrid[] = {0.0, 1.0, 2.0};

// Per model and row: the mode's term before weighting (see Ensemble::model_terms).
struct Terms {
  std::vector<std::vector<double>> calibrate;  // [model][row]
  std::vector<std::vector<double>> test;
};

struct FoldState {
  Ensemble ensemble;
  std::map<EnsembleMode, Terms> terms;
  std::vector<std::size_t> calibrate_benign;  // rows of calibrate with y = 0
};

std::vector<std::vector<double>> weight_vectors(std::size_t models) {
  std::vector<std::vector<double>> out;
  std::vector<std::size_t> digit(models, 0);
  const std::size_t base = std::size(kWeightGrid);
  while (true) {
    std::vector<double> w(models);
    double sum = 0;
    for (std::size_t m = 0; m < models; ++m) sum += w[m] = kWeightGrid[digit[m]];
    // Skip all-zero and vectors that are multiples of a smaller one (2,2,... = 1,1,...).
    bool all_even = true;
    for (const double v : w) all_even = all_even && (v == 0.0 || v == 2.0);
    if (sum > 0 && !all_even) out.push_back(std::move(w));
    std::size_t k = 0;
    while (k < models && ++digit[k] == base) digit[k++] = 0;
    if (k == models) break;
  }
  return out;
}

double distance_from_equal(const std::map<std::string, double>& w) {
  double mean = 0;
  for (const auto& [name, v] : w) mean += v / static_cast<double>(w.size());
  double d = 0;
  for (const auto& [name, v] : w) d += (v - mean) * (v - mean);
  return mean > 0 ? d / (mean * mean) : 1e9;
}

// The modes whose per-model terms a fold keeps: the tail fusion's (which the max fusion reads
// too) and the original's vote (see the header for why not soft or stacked).
constexpr EnsembleMode kSearched[] = {EnsembleMode::kVote, EnsembleMode::kTail};

// The max fusion reads only which models have a weight: one candidate per set of two or more.
bool max_candidate(const std::vector<double>& w) {
  std::size_t used = 0;
  for (const double v : w) {
    if (v != 0.0 && v != 1.0) return false;
    used += v == 1.0 ? 1 : 0;
  }
  return used >= 2;
}

// Fits the fold's ensemble on its calibration rows and computes each searched mode's per-model
// terms on the calibration and test rows.
FoldState prepare_fold(const FoldScores& fold, const std::vector<std::string>& models,
                       std::size_t f) {
  FoldState st;
  for (const auto& name : models) {
    if (!fold.calibrate.contains(name) || !fold.test.contains(name)) {
      throw core::Error(fmt::format("fusion search: fold {} has no scores of {}", f, name));
    }
    const auto t = fold.thresholds.find(name);
    st.ensemble.set_model_threshold(name, t == fold.thresholds.end() ? 0.5f : t->second);
  }
  ModelScores calibrate, test;
  for (const auto& name : models) {
    calibrate.emplace(name, fold.calibrate.at(name));
    test.emplace(name, fold.test.at(name));
  }
  st.ensemble.fit(calibrate, fold.y_calibrate);
  for (const EnsembleMode mode : kSearched) {
    Terms& t = st.terms[mode];
    for (const auto& name : models) {
      t.calibrate.push_back(st.ensemble.model_terms(mode, name, calibrate.at(name)));
      t.test.push_back(st.ensemble.model_terms(mode, name, test.at(name)));
    }
  }
  for (std::size_t i = 0; i < fold.y_calibrate.size(); ++i) {
    if (fold.y_calibrate[i] == 0) st.calibrate_benign.push_back(i);
  }
  return st;
}

}  // namespace

std::vector<FamilyFold> make_family_folds(std::span<const int> y,
                                          std::span<const std::int32_t> family, int folds,
                                          std::uint64_t seed, std::size_t min_family_rows,
                                          std::size_t max_train_rows) {
  if (family.size() != y.size()) {
    throw core::Error(
        fmt::format("family validation: {} class codes for {} labels", family.size(), y.size()));
  }
  std::map<std::int32_t, std::size_t> sizes;
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (y[i] == 1) ++sizes[family[i]];
  }
  std::vector<std::pair<std::size_t, std::int32_t>> large;
  for (const auto& [f, n] : sizes) {
    if (n >= min_family_rows) large.emplace_back(n, f);
  }
  if (large.size() < 2 || folds < 2) return {};
  std::sort(large.begin(), large.end(), std::greater<>());
  const auto k = static_cast<std::size_t>(
      std::min<std::size_t>(static_cast<std::size_t>(folds), large.size()));
  std::vector<FamilyFold> out(k);
  std::map<std::int32_t, std::size_t> fold_of;
  for (std::size_t i = 0; i < large.size(); ++i) {
    fold_of[large[i].second] = i % k;
    out[i % k].held_out.push_back(large[i].second);
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (std::size_t f = 0; f < k; ++f) {
    FamilyFold& fold = out[f];
    std::vector<std::size_t> train;
    for (std::size_t i = 0; i < y.size(); ++i) {
      const double r = u(rng);
      if (y[i] == 0) {
        (r < 0.70 ? train : r < 0.85 ? fold.calibrate : fold.test).push_back(i);
        continue;
      }
      const auto it = fold_of.find(family[i]);
      if (it != fold_of.end() && it->second == f) {
        fold.test.push_back(i);
      } else {
        (r < 0.82 ? train : fold.calibrate).push_back(i);
      }
    }
    if (max_train_rows > 0 && train.size() > max_train_rows) {
      // Keep the benign/attack balance of the fold's training rows.
      std::shuffle(train.begin(), train.end(), rng);
      train.resize(max_train_rows);
      std::sort(train.begin(), train.end());
    }
    fold.train = std::move(train);
  }
  return out;
}

std::string FusionCandidate::label() const {
  std::string out(to_string(mode));
  out += " (";
  bool first = true;
  for (const auto& [name, w] : weights) {
    out += fmt::format("{}{} {:g}", first ? "" : ", ", name, w);
    first = false;
  }
  return out + ")";
}

std::vector<FusionResult> search_fusion(const std::vector<FoldScores>& folds,
                                        const std::vector<std::string>& models, double fp_budget,
                                        double tie, double clear_win_se) {
  if (folds.empty()) throw core::Error("fusion search: no fold to judge candidates on");
  if (models.empty()) throw core::Error("fusion search: no model");
  if (!(fp_budget > 0 && fp_budget < 0.5)) {
    throw core::Error(fmt::format("fusion search: budget {} is outside (0, 0.5)", fp_budget));
  }
  std::vector<FoldState> state;
  state.reserve(folds.size());
  for (std::size_t f = 0; f < folds.size(); ++f) state.push_back(prepare_fold(folds[f], models, f));

  // Judges one candidate on every fold, from its fused scores.
  const auto judge = [&](const FusionCandidate& c,
                         const std::function<void(std::size_t, std::vector<double>&,
                                                  std::vector<double>&)>& fused) {
    FusionResult r;
    r.candidate = c;
    std::map<std::int32_t, std::pair<std::size_t, std::size_t>> hits;  // family -> (hit, rows)
    std::size_t benign = 0, false_positives = 0;
    std::size_t calibrate_benign = 0, calibrate_flagged = 0;
    std::vector<double> cal, test;
    for (std::size_t f = 0; f < folds.size(); ++f) {
      fused(f, cal, test);
      double threshold = 0.5;
      if (c.mode != EnsembleMode::kVote) {
        std::vector<double> normal;
        normal.reserve(state[f].calibrate_benign.size());
        for (const std::size_t i : state[f].calibrate_benign) normal.push_back(cal[i]);
        threshold = alert_rate_cut(std::move(normal), fp_budget);
      } else {
        for (const std::size_t i : state[f].calibrate_benign) {
          ++calibrate_benign;
          calibrate_flagged += cal[i] > threshold ? 1 : 0;
        }
      }
      const FoldScores& fold = folds[f];
      for (std::size_t i = 0; i < test.size(); ++i) {
        const bool flagged = test[i] > threshold;
        if (fold.y_test[i] == 0) {
          ++benign;
          false_positives += flagged ? 1 : 0;
        } else {
          auto& h = hits[fold.family_test[i]];
          h.first += flagged ? 1 : 0;
          ++h.second;
        }
      }
    }
    double sum = 0;
    for (const auto& [family, h] : hits) {
      const double recall = static_cast<double>(h.first) / static_cast<double>(h.second);
      r.family_recall[family] = recall;
      sum += recall;
    }
    r.mean_recall = hits.empty() ? 0.0 : sum / static_cast<double>(hits.size());
    // The vote's threshold is fixed (0.5): it competes only where it keeps to the budget on
    // the calibration rows, as every other candidate does by construction.
    r.within_budget =
        static_cast<double>(calibrate_flagged) <= fp_budget * static_cast<double>(calibrate_benign);
    r.fp_rate =
        benign == 0 ? 0.0 : static_cast<double>(false_positives) / static_cast<double>(benign);
    return r;
  };

  std::vector<FusionResult> results;
  for (const auto& w : weight_vectors(models.size())) {
    double total = 0;
    for (const double v : w) total += v;
    for (const EnsembleMode mode : {EnsembleMode::kVote, EnsembleMode::kTail, EnsembleMode::kMax}) {
      if (mode == EnsembleMode::kMax && !max_candidate(w)) continue;
      FusionCandidate c;
      c.mode = mode;
      for (std::size_t m = 0; m < models.size(); ++m) c.weights[models[m]] = w[m];
      // As Ensemble::score_mode: a weighted sum of the terms (vote, tail) or their smallest (max).
      const auto combine = [&](const std::vector<std::vector<double>>& terms,
                               std::vector<double>& out, double epsilon) {
        const std::size_t n = terms.front().size();
        const bool largest = mode == EnsembleMode::kMax;
        out.assign(n, largest ? std::numeric_limits<double>::infinity() : 0.0);
        for (std::size_t m = 0; m < terms.size(); ++m) {
          if (w[m] == 0.0) continue;
          const double share = w[m] / total;
          for (std::size_t i = 0; i < n; ++i) {
            out[i] = largest ? std::min(out[i], terms[m][i]) : out[i] + share * terms[m][i];
          }
        }
        if (mode != EnsembleMode::kVote) {
          const double floor = std::log(epsilon);
          for (auto& v : out) v = 1.0 - std::exp(std::max(v, floor));
        }
      };
      const EnsembleMode terms_of = mode == EnsembleMode::kMax ? EnsembleMode::kTail : mode;
      results.push_back(
          judge(c, [&](std::size_t f, std::vector<double>& cal, std::vector<double>& test) {
            const Terms& t = state[f].terms.at(terms_of);
            combine(t.calibrate, cal, state[f].ensemble.tail_epsilon());
            combine(t.test, test, state[f].ensemble.tail_epsilon());
          }));
    }
  }
  std::sort(results.begin(), results.end(), [](const FusionResult& a, const FusionResult& b) {
    if (a.within_budget != b.within_budget) return a.within_budget;
    return a.mean_recall > b.mean_recall;
  });
  // Within `tie` of the best: fewer false positives, then weights closer to equal.
  const double best = results.front().mean_recall;
  const auto tied_end = std::find_if(results.begin(), results.end(), [&](const FusionResult& r) {
    return !r.within_budget || r.mean_recall < best - tie;
  });
  std::stable_sort(results.begin(), tied_end, [](const FusionResult& a, const FusionResult& b) {
    if (std::abs(a.fp_rate - b.fp_rate) > 1e-9) return a.fp_rate < b.fp_rate;
    return distance_from_equal(a.candidate.weights) < distance_from_equal(b.candidate.weights);
  });
  // The equal-weight tail fusion leads unless a candidate within the budget beats it clearly.
  const auto equal = std::find_if(results.begin(), results.end(), [](const FusionResult& r) {
    if (r.candidate.mode != EnsembleMode::kTail) return false;
    return std::all_of(r.candidate.weights.begin(), r.candidate.weights.end(),
                       [](const auto& w) { return w.second == 1.0; });
  });
  if (equal == results.end() || clear_win_se < 0) return results;
  auto chosen = std::find_if(results.begin(), results.end(), [&](const FusionResult& r) {
    return r.within_budget && beats_clearly(r, *equal, clear_win_se);
  });
  if (chosen == results.end()) chosen = equal;
  std::rotate(results.begin(), chosen, chosen + 1);
  return results;
}

bool beats_clearly(const FusionResult& a, const FusionResult& b, double se) {
  std::vector<double> d;
  for (const auto& [family, recall] : b.family_recall) {
    const auto it = a.family_recall.find(family);
    d.push_back((it == a.family_recall.end() ? 0.0 : it->second) - recall);
  }
  if (d.empty()) return false;
  const double n = static_cast<double>(d.size());
  const double mean = std::accumulate(d.begin(), d.end(), 0.0) / n;
  double var = 0;
  for (const double v : d) var += (v - mean) * (v - mean);
  const double standard_error = d.size() > 1 ? std::sqrt(var / (n - 1) / n) : 0.0;
  return mean > 0 && mean > se * standard_error;
}

nlohmann::json fold_terms_json(const FoldScores& fold, const std::vector<std::string>& models,
                               std::size_t index) {
  const FoldState st = prepare_fold(fold, models, index);
  nlohmann::json j = {{"fold", index},
                      {"models", models},
                      {"tail_epsilon", st.ensemble.tail_epsilon()},
                      {"y_calibrate", fold.y_calibrate},
                      {"y_test", fold.y_test},
                      {"family_test", fold.family_test}};
  for (const EnsembleMode mode : kSearched) {
    const Terms& t = st.terms.at(mode);
    j["terms"][std::string(to_string(mode))] = {{"calibrate", t.calibrate}, {"test", t.test}};
  }
  return j;
}

nlohmann::json to_json(const std::vector<FusionResult>& ranked, double fp_budget, std::size_t folds,
                       const std::vector<std::string>& family_names, double clear_win_se) {
  const auto one = [&](const FusionResult& r) {
    nlohmann::json families = nlohmann::json::object();
    for (const auto& [f, recall] : r.family_recall) {
      const std::string name = f >= 0 && static_cast<std::size_t>(f) < family_names.size()
                                   ? family_names[static_cast<std::size_t>(f)]
                                   : std::to_string(f);
      families[name] = recall;
    }
    return nlohmann::json{{"mode", std::string(to_string(r.candidate.mode))},
                          {"weights", r.candidate.weights},
                          {"mean_recall", r.mean_recall},
                          {"fp_rate", r.fp_rate},
                          {"within_budget", r.within_budget},
                          {"family_recall", families}};
  };
  nlohmann::json j = {{"method", "held-out families"},
                      {"fp_budget", fp_budget},
                      {"folds", folds},
                      {"candidates", ranked.size()}};
  j["selection"] = clear_win_se < 0
                       ? std::string("highest mean recall")
                       : fmt::format(
                             "the equal-weight tail unless a candidate's mean recall is higher by "
                             "more than {:g} standard error(s) of the per-family differences",
                             clear_win_se);
  if (ranked.empty()) return j;
  j["best"] = one(ranked.front());
  j["top"] = nlohmann::json::array();
  for (std::size_t i = 0; i < ranked.size() && i < 5; ++i) j["top"].push_back(one(ranked[i]));
  // The same measurement for the plain equal-weight modes and each model alone, for reports.
  j["reference"] = nlohmann::json::array();
  for (const auto& r : ranked) {
    std::size_t used = 0;
    bool equal = true;
    for (const auto& [name, w] : r.candidate.weights) {
      used += w > 0 ? 1 : 0;
      equal = equal && w == 1.0;
    }
    if (equal || (used == 1 && r.candidate.mode == EnsembleMode::kTail)) {
      j["reference"].push_back(one(r));
    }
  }
  return j;
}

}  // namespace netsentry::ml
