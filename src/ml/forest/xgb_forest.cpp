#include "ml/forest/xgb_forest.h"

#include <xgboost/c_api.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string_view>

#include "core/error.h"

namespace netsentry::ml::forest {
namespace {

// XGBoost's message can carry a stack trace; our errors are one line.
std::string last_error_line() {
  std::string_view msg = XGBGetLastError();
  if (const auto nl = msg.find('\n'); nl != std::string_view::npos) msg = msg.substr(0, nl);
  return std::string(msg);
}

void check(int rc, const std::string& what) {
  if (rc != 0) throw core::Error("xgboost: " + what + ": " + last_error_line());
}

class DMatrix {
 public:
  explicit DMatrix(const data::Matrix& x, const char* what) {
    check(XGDMatrixCreateFromMat(x.data(), x.rows, x.cols, std::numeric_limits<float>::quiet_NaN(),
                                 &handle_),
          std::string("cannot build the ") + what + " matrix");
  }
  ~DMatrix() {
    if (handle_ != nullptr) XGDMatrixFree(handle_);
  }
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;

  void set_floats(const char* field, std::span<const float> values) {
    check(XGDMatrixSetFloatInfo(handle_, field, values.data(), values.size()),
          std::string("cannot set ") + field);
  }
  [[nodiscard]] DMatrixHandle get() const { return handle_; }

 private:
  DMatrixHandle handle_ = nullptr;
};

// "[3]\tvalidation-logloss:0.123" -> 0.123
double parse_eval(const char* text) {
  std::string_view s = text;
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos) {
    throw core::Error("xgboost: unexpected evaluation output \"" + std::string(s) + "\"");
  }
  return std::strtod(std::string(s.substr(colon + 1)).c_str(), nullptr);
}

}  // namespace

Booster::~Booster() { reset(nullptr); }

Booster::Booster(Booster&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}

Booster& Booster::operator=(Booster&& other) noexcept {
  if (this != &other) reset(std::exchange(other.handle_, nullptr));
  return *this;
}

void Booster::reset(void* handle) noexcept {
  if (handle_ != nullptr) XGBoosterFree(handle_);
  handle_ = handle;
}

void Booster::train(const data::Matrix& x, std::span<const int> y, std::span<const float> weights,
                    const data::Matrix* x_val, std::span<const int> y_val,
                    const BoosterConfig& config) {
  if (x.rows == 0) throw core::Error("xgboost: the training matrix is empty");
  if (y.size() != x.rows) {
    throw core::Error("xgboost: " + std::to_string(y.size()) + " labels for " +
                      std::to_string(x.rows) + " training rows");
  }
  if (!weights.empty() && weights.size() != x.rows) {
    throw core::Error("xgboost: " + std::to_string(weights.size()) + " weights for " +
                      std::to_string(x.rows) + " training rows");
  }
  const bool has_val = x_val != nullptr && x_val->rows > 0;
  if (has_val && (y_val.size() != x_val->rows || x_val->cols != x.cols)) {
    throw core::Error("xgboost: validation set shape does not match (" +
                      std::to_string(x_val->rows) + "x" + std::to_string(x_val->cols) + ", " +
                      std::to_string(y_val.size()) + " labels; training has " +
                      std::to_string(x.cols) + " columns)");
  }

  DMatrix dtrain(x, "training");
  const std::vector<float> labels(y.begin(), y.end());
  dtrain.set_floats("label", labels);
  if (!weights.empty()) dtrain.set_floats("weight", weights);
  std::optional<DMatrix> dval;
  if (has_val) {
    dval.emplace(*x_val, "validation");
    const std::vector<float> val_labels(y_val.begin(), y_val.end());
    dval->set_floats("label", val_labels);
  }

  DMatrixHandle cache[] = {dtrain.get(), has_val ? dval->get() : nullptr};
  BoosterHandle raw = nullptr;
  check(XGBoosterCreate(cache, has_val ? 2 : 1, &raw), "cannot create a booster");
  Booster fresh;
  fresh.handle_ = raw;
  for (const auto& [name, value] : config.params) {
    check(XGBoosterSetParam(raw, name.c_str(), value.c_str()),
          "parameter " + name + "=" + value + " rejected");
  }

  const bool early_stop = has_val && config.early_stopping_rounds > 0;
  double best = std::numeric_limits<double>::infinity();
  int best_round = -1;
  for (int round = 0; round < config.rounds; ++round) {
    check(XGBoosterUpdateOneIter(raw, round, dtrain.get()),
          "training round " + std::to_string(round) + " failed");
    if (!has_val) continue;
    DMatrixHandle eval_sets[] = {dval->get()};
    const char* eval_names[] = {"validation"};
    const char* eval_text = nullptr;
    check(XGBoosterEvalOneIter(raw, round, eval_sets, eval_names, 1, &eval_text),
          "evaluation failed");
    const double loss = parse_eval(eval_text);
    if (config.progress) config.progress(eval_text);
    if (loss < best) {
      best = loss;
      best_round = round;
    } else if (early_stop && round - best_round >= config.early_stopping_rounds) {
      break;
    }
  }
  if (early_stop && best_round + 1 < fresh.boosted_rounds()) {
    BoosterHandle sliced = nullptr;
    check(XGBoosterSlice(raw, 0, best_round + 1, 1, &sliced),
          "cannot cut the booster back to round " + std::to_string(best_round));
    fresh.reset(sliced);
  }
  *this = std::move(fresh);
}

std::vector<float> Booster::predict(const data::Matrix& x) const {
  if (empty()) throw core::Error("xgboost: predict() called before train() or load()");
  if (x.rows == 0) return {};
  const auto expected = num_features();
  if (x.cols != expected) {
    throw core::Error("xgboost: model has " + std::to_string(expected) +
                      " features but the data has " + std::to_string(x.cols));
  }
  // __array_interface__ describing our row-major float32 buffer; XGBoost reads it in place.
  char array[160];
  std::snprintf(
      array, sizeof array, R"({"data":[%llu,true],"shape":[%zu,%zu],"typestr":"<f4","version":3})",
      static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(x.data())), x.rows, x.cols);
  static constexpr const char* kConfig =
      R"({"type":0,"training":false,"iteration_begin":0,"iteration_end":0,)"
      R"("strict_shape":false,"cache_id":0,"missing":NaN})";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  check(XGBoosterPredictFromDense(handle_, array, kConfig, nullptr, &shape, &dim, &result),
        "prediction failed");
  return {result, result + x.rows};
}

void Booster::save(const std::filesystem::path& file) const {
  if (empty()) throw core::Error("xgboost: save() called before train()");
  check(XGBoosterSaveModel(handle_, file.string().c_str()), "cannot save " + file.string());
}

void Booster::load(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    throw core::Error(file.string() + ": model file not found");
  }
  BoosterHandle raw = nullptr;
  check(XGBoosterCreate(nullptr, 0, &raw), "cannot create a booster");
  Booster fresh;
  fresh.handle_ = raw;
  check(XGBoosterLoadModel(raw, file.string().c_str()), "cannot load " + file.string());
  *this = std::move(fresh);
}

void Booster::set_param(const std::string& name, const std::string& value) {
  if (empty()) throw core::Error("xgboost: set_param() called before train() or load()");
  check(XGBoosterSetParam(handle_, name.c_str(), value.c_str()),
        "parameter " + name + "=" + value + " rejected");
}

void Booster::set_attr(const std::string& key, const std::string& value) {
  if (empty()) throw core::Error("xgboost: set_attr() called before train() or load()");
  check(XGBoosterSetAttr(handle_, key.c_str(), value.c_str()), "cannot set attribute " + key);
}

std::optional<std::string> Booster::attr(const std::string& key) const {
  if (empty()) return std::nullopt;
  const char* out = nullptr;
  int found = 0;
  check(XGBoosterGetAttr(handle_, key.c_str(), &out, &found), "cannot read attribute " + key);
  if (found == 0 || out == nullptr) return std::nullopt;
  return std::string(out);
}

std::size_t Booster::num_features() const {
  if (empty()) return 0;
  bst_ulong n = 0;
  check(XGBoosterGetNumFeature(handle_, &n), "cannot read the feature count");
  return static_cast<std::size_t>(n);
}

int Booster::boosted_rounds() const {
  if (empty()) return 0;
  int n = 0;
  check(XGBoosterBoostedRounds(handle_, &n), "cannot read the number of rounds");
  return n;
}

}  // namespace netsentry::ml::forest
