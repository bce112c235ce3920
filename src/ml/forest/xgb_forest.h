// Provides ml::forest::Booster, our small RAII face of XGBoost's C API (this folder is the only one
// that includes <xgboost/c_api.h>): train a binary classifier on a data::Matrix with optional row
// weights and early stopping, predict probabilities in batches, save/load XGBoost's JSON format.
// Every XGBoost failure becomes core::Error with what we were doing and XGBoost's first error line.
// Thread rules: train/load/set_param/set_attr from one thread; predict() is const and may run
// concurrently (XGBoost's in-place prediction keeps per-thread buffers).
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "data/matrix.h"

namespace netsentry::ml::forest {

struct BoosterConfig {
  // XGBoost parameters, applied in order (name, value), e.g. {"max_depth", "8"}.
  std::vector<std::pair<std::string, std::string>> params;
  int rounds = 1;
  // Stop when the validation logloss has not improved for this many rounds (0 = never); the
  // booster is then cut back to its best round. Needs validation data.
  int early_stopping_rounds = 0;
  std::function<void(const std::string&)> progress;  // may be empty
};

class Booster {
 public:
  Booster() = default;
  ~Booster();
  Booster(Booster&& other) noexcept;
  Booster& operator=(Booster&& other) noexcept;
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;

  // Trains a fresh booster (replacing any previous one) on rows `x` with 0/1 labels `y`.
  // `weights` (per row) may be empty; `x_val`/`y_val` may be null/empty.
  void train(const data::Matrix& x, std::span<const int> y, std::span<const float> weights,
             const data::Matrix* x_val, std::span<const int> y_val, const BoosterConfig& config);

  // P(y = 1) per row; NaN values are treated as missing.
  [[nodiscard]] std::vector<float> predict(const data::Matrix& x) const;

  // XGBoost's own format; a ".json" file name selects its JSON model format.
  void save(const std::filesystem::path& file) const;
  void load(const std::filesystem::path& file);

  void set_param(const std::string& name, const std::string& value);
  // String attributes travel inside the saved model.
  void set_attr(const std::string& key, const std::string& value);
  [[nodiscard]] std::optional<std::string> attr(const std::string& key) const;

  [[nodiscard]] bool empty() const { return handle_ == nullptr; }
  [[nodiscard]] std::size_t num_features() const;
  [[nodiscard]] int boosted_rounds() const;

 private:
  void reset(void* handle) noexcept;

  void* handle_ = nullptr;  // BoosterHandle
};

}  // namespace netsentry::ml::forest
