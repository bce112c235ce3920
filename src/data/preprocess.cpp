#include "data/preprocess.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "data/text.h"

namespace netsentry::data {

namespace {

using core::Error;
using nlohmann::json;

constexpr int kFormatVersion = 1;
constexpr std::string_view kOther = "<other>";
// Names and order of the original project's engineered features.
constexpr std::array<std::string_view, 4> kEngineered = {"BytesPerPacket", "PacketRate", "ByteRate",
                                                         "Duration_PacketCount_Ratio"};
// A column is "heavy-tailed" for Log1p::kHeavyTailed when it is non-negative and exceeds this.
constexpr double kHeavyTailMax = 100.0;

double safe_div(double a, double b) { return b == 0 ? 0.0 : a / b; }

double engineered_value(int formula, double duration, double packets, double bytes) {
  switch (formula) {
    case 0:
      return safe_div(bytes, packets);
    case 1:
      return safe_div(packets, duration);
    case 2:
      return safe_div(bytes, duration);
    default:
      return safe_div(duration, packets);
  }
}

double median_of(std::vector<double>& v) {
  if (v.empty()) return 0.0;
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double m = v[mid];
  if (v.size() % 2 == 0) {
    const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
    m = (m + lower) / 2.0;
  }
  return m;
}

std::string_view encoding_name(CategoricalEncoding e) {
  return e == CategoricalEncoding::kOneHot ? "one_hot" : "label";
}
std::string_view log1p_name(Log1p l) {
  switch (l) {
    case Log1p::kOff:
      return "off";
    case Log1p::kHeavyTailed:
      return "heavy_tailed";
    case Log1p::kNonNegative:
      return "non_negative";
  }
  return "off";
}

}  // namespace

std::size_t Preprocessor::slot_of(const CategoricalFeature& f, std::string_view cell) const {
  cell = text::trim(cell);
  std::array<char, 32> buf{};
  if (text::is_protocol_column(f.name)) cell = text::canonical_protocol(cell, buf);
  if (!cell.empty()) {
    for (std::size_t i = 0; i < f.levels.size(); ++i) {
      if (f.levels[i] == cell) return i;
    }
  }
  return f.levels.size();
}

void Preprocessor::build_output_names() {
  output_names_.clear();
  for (const auto& n : numeric_) output_names_.push_back(n.name);
  for (const auto& c : categorical_) {
    if (options_.encoding == CategoricalEncoding::kLabel) {
      output_names_.push_back(c.name);
      continue;
    }
    for (const auto& level : c.levels) output_names_.push_back(c.name + "=" + level);
    output_names_.push_back(c.name + "=" + std::string(kOther));
  }
}

void Preprocessor::fit(const Dataset& train) {
  if (options_.max_categories < 2) throw Error("preprocessor: max_categories must be at least 2");
  if (train.rows() == 0) throw Error("preprocessor: cannot fit on an empty dataset");
  numeric_inputs_.clear();
  categorical_inputs_.clear();
  numeric_.clear();
  categorical_.clear();
  duration_input_ = packets_input_ = bytes_input_ = -1;

  const std::size_t n = train.rows();
  std::vector<const Column*> num_cols;
  for (const auto& col : train.columns) {
    if (std::find(options_.exclude_columns.begin(), options_.exclude_columns.end(), col.name) !=
        options_.exclude_columns.end()) {
      continue;
    }
    if (col.kind == ColumnKind::kNumeric && options_.drop_constant && col.name != "Duration" &&
        col.name != "PacketCount" && col.name != "ByteCount") {
      // A column constant over the training data carries no information; as an input it would
      // turn any other value at inference (e.g. a feature one flow meter computes and another
      // leaves at 0) into an extreme z-score. Missing cells would be imputed with the constant.
      const float* first = nullptr;
      bool constant = true;
      for (const float& x : col.values) {
        if (!std::isfinite(x)) continue;
        if (!first) first = &x;
        if (x != *first) {
          constant = false;
          break;
        }
      }
      if (constant) continue;
    }
    if (col.kind == ColumnKind::kNumeric) {
      const int idx = static_cast<int>(numeric_inputs_.size());
      numeric_inputs_.push_back(col.name);
      num_cols.push_back(&col);
      if (col.name == "Duration") duration_input_ = idx;
      if (col.name == "PacketCount") packets_input_ = idx;
      if (col.name == "ByteCount") bytes_input_ = idx;
    } else {
      categorical_inputs_.push_back(col.name);
    }
  }

  // Fits log1p/mean/scale of one numeric feature from its imputed raw values.
  auto fit_numeric = [&](NumericFeature& f, const std::vector<double>& v) {
    double lo = std::numeric_limits<double>::infinity();
    double hi = -lo;
    for (double x : v) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    f.log1p = lo >= 0 && ((options_.log1p == Log1p::kHeavyTailed && hi > kHeavyTailMax) ||
                          options_.log1p == Log1p::kNonNegative);
    // Welford in double: stable, and float-range values cannot overflow.
    double mean = 0, m2 = 0;
    std::size_t k = 0;
    for (double x : v) {
      if (f.log1p) x = std::log1p(std::max(x, 0.0));
      ++k;
      const double d = x - mean;
      mean += d / static_cast<double>(k);
      m2 += d * (x - mean);
    }
    const double sd = k > 0 ? std::sqrt(m2 / static_cast<double>(k)) : 0.0;
    f.mean = options_.scale ? mean : 0.0;
    f.scale = (options_.scale && sd > 1e-12 && std::isfinite(sd)) ? sd : 1.0;
  };

  // Raw inputs: median of finite values, then imputed values for the rest of the fit. Only the
  // engineered features' three inputs are kept past their own column; the others share one
  // buffer (keeping every column doubled the fit's memory: fresh pages at every site baseline fit).
  std::vector<std::vector<double>> imputed(num_cols.size());
  std::vector<double> finite;
  std::vector<double> scratch;
  finite.reserve(n);
  for (std::size_t i = 0; i < num_cols.size(); ++i) {
    NumericFeature f;
    f.name = num_cols[i]->name;
    f.input = static_cast<int>(i);
    finite.clear();
    for (float x : num_cols[i]->values) {
      if (std::isfinite(x)) finite.push_back(x);
    }
    f.median = median_of(finite);
    const auto input = static_cast<int>(i);
    const bool kept = input == duration_input_ || input == packets_input_ || input == bytes_input_;
    auto& v = kept ? imputed[i] : scratch;
    v.resize(n);
    for (std::size_t r = 0; r < n; ++r) {
      const double x = num_cols[i]->values[r];
      v[r] = std::isfinite(x) ? x : f.median;
    }
    fit_numeric(f, v);
    numeric_.push_back(std::move(f));
  }

  if (options_.engineered_features && duration_input_ >= 0 && packets_input_ >= 0 &&
      bytes_input_ >= 0) {
    for (int formula = 0; formula < static_cast<int>(kEngineered.size()); ++formula) {
      const std::string name(kEngineered[static_cast<std::size_t>(formula)]);
      // A dataset that already carries the feature keeps its own column.
      if (std::find(numeric_inputs_.begin(), numeric_inputs_.end(), name) !=
          numeric_inputs_.end()) {
        continue;
      }
      NumericFeature f;
      f.name = name;
      f.engineered = formula;
      std::vector<double> v(n);
      for (std::size_t r = 0; r < n; ++r) {
        v[r] = engineered_value(formula, imputed[static_cast<std::size_t>(duration_input_)][r],
                                imputed[static_cast<std::size_t>(packets_input_)][r],
                                imputed[static_cast<std::size_t>(bytes_input_)][r]);
      }
      fit_numeric(f, v);
      numeric_.push_back(std::move(f));
    }
  }

  for (const auto& name : categorical_inputs_) {
    const Column* col = train.find(name);
    std::vector<std::size_t> counts(col->levels.size(), 0);
    for (auto c : col->codes) {
      if (c >= 0) ++counts[static_cast<std::size_t>(c)];
    }
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      if (counts[i] > 0 && col->levels[i] != kOther) order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      if (counts[a] != counts[b]) return counts[a] > counts[b];
      return col->levels[a] < col->levels[b];
    });
    if (order.size() > options_.max_categories - 1) order.resize(options_.max_categories - 1);
    CategoricalFeature f;
    f.name = name;
    for (auto i : order) f.levels.push_back(col->levels[i]);
    categorical_.push_back(std::move(f));
  }

  build_output_names();
  fitted_ = true;
}

namespace {
// Writes one numeric output from an imputed raw value.
inline float finish_numeric(double x, bool log1p, double mean, double scale) {
  if (log1p) x = std::log1p(std::max(x, 0.0));
  return static_cast<float>((x - mean) / scale);
}
}  // namespace

Matrix Preprocessor::transform(const Dataset& data) const {
  if (!fitted_) throw Error("preprocessor: transform() called before fit()");
  auto require = [&](const std::string& name, ColumnKind kind) {
    const Column* c = data.find(name);
    if (c == nullptr) {
      throw Error("data (" + (data.files.empty() ? std::string("in memory") : data.files[0]) +
                  ") lacks column \"" + name + "\" that the model was trained with");
    }
    if (c->kind != kind) {
      throw Error("column \"" + name + "\" is " + std::string(to_string(c->kind)) +
                  " in the data but was " + std::string(to_string(kind)) + " in training");
    }
    return c;
  };
  std::vector<const Column*> num(numeric_inputs_.size());
  for (std::size_t i = 0; i < num.size(); ++i)
    num[i] = require(numeric_inputs_[i], ColumnKind::kNumeric);
  // Per categorical input: data level code -> our slot, computed once per level.
  std::vector<const Column*> cat(categorical_inputs_.size());
  std::vector<std::vector<std::size_t>> slot_table(cat.size());
  for (std::size_t i = 0; i < cat.size(); ++i) {
    cat[i] = require(categorical_inputs_[i], ColumnKind::kCategorical);
    for (const auto& level : cat[i]->levels)
      slot_table[i].push_back(slot_of(categorical_[i], level));
  }

  const std::size_t rows = data.rows();
  Matrix out(rows, output_size());
  std::vector<double> raw(numeric_inputs_.size());
  for (std::size_t r = 0; r < rows; ++r) {
    float* o = out.row(r).data();
    for (std::size_t i = 0; i < num.size(); ++i) {
      const double x = num[i]->values[r];
      raw[i] = std::isfinite(x) ? x : numeric_[i].median;
    }
    std::size_t k = 0;
    for (const auto& f : numeric_) {
      const double x =
          f.input >= 0
              ? raw[static_cast<std::size_t>(f.input)]
              : engineered_value(f.engineered, raw[static_cast<std::size_t>(duration_input_)],
                                 raw[static_cast<std::size_t>(packets_input_)],
                                 raw[static_cast<std::size_t>(bytes_input_)]);
      o[k++] = finish_numeric(x, f.log1p, f.mean, f.scale);
    }
    for (std::size_t i = 0; i < cat.size(); ++i) {
      const auto code = cat[i]->codes[r];
      const std::size_t other = categorical_[i].levels.size();
      const std::size_t slot = code < 0 ? other : slot_table[i][static_cast<std::size_t>(code)];
      if (options_.encoding == CategoricalEncoding::kLabel) {
        o[k++] = static_cast<float>(slot);
      } else {
        o[k + slot] = 1.0f;  // the row starts zeroed
        k += other + 1;
      }
    }
  }
  return out;
}

void Preprocessor::transform_record(std::span<const double> numeric,
                                    std::span<const std::string_view> categorical,
                                    std::span<float> out) const {
  if (numeric.size() != numeric_inputs_.size() ||
      categorical.size() != categorical_inputs_.size() || out.size() != output_names_.size()) {
    throw Error("preprocessor: transform_record() got " + std::to_string(numeric.size()) + "/" +
                std::to_string(categorical.size()) + " inputs and " + std::to_string(out.size()) +
                " outputs, expected " + std::to_string(numeric_inputs_.size()) + "/" +
                std::to_string(categorical_inputs_.size()) + " and " +
                std::to_string(output_names_.size()));
  }
  auto raw = [&](int input) {
    const double x = numeric[static_cast<std::size_t>(input)];
    return std::isfinite(x) ? x : numeric_[static_cast<std::size_t>(input)].median;
  };
  std::size_t k = 0;
  for (const auto& f : numeric_) {
    const double x = f.input >= 0 ? raw(f.input)
                                  : engineered_value(f.engineered, raw(duration_input_),
                                                     raw(packets_input_), raw(bytes_input_));
    out[k++] = finish_numeric(x, f.log1p, f.mean, f.scale);
  }
  for (std::size_t i = 0; i < categorical_.size(); ++i) {
    const std::size_t slot = slot_of(categorical_[i], categorical[i]);
    const std::size_t other = categorical_[i].levels.size();
    if (options_.encoding == CategoricalEncoding::kLabel) {
      out[k++] = static_cast<float>(slot);
    } else {
      std::fill(out.begin() + static_cast<std::ptrdiff_t>(k),
                out.begin() + static_cast<std::ptrdiff_t>(k + other + 1), 0.0f);
      out[k + slot] = 1.0f;
      k += other + 1;
    }
  }
}

void Preprocessor::transform_record(
    const std::function<double(std::string_view)>& numeric,
    const std::function<std::string_view(std::string_view)>& categorical,
    std::span<float> out) const {
  // Small records (every dialect we know) stay on the stack.
  constexpr std::size_t kStack = 128;
  std::array<double, kStack> num_stack{};
  std::array<std::string_view, kStack> cat_stack{};
  std::vector<double> num_heap;
  std::vector<std::string_view> cat_heap;
  std::span<double> num(num_stack.data(), numeric_inputs_.size());
  std::span<std::string_view> cat(cat_stack.data(), categorical_inputs_.size());
  if (numeric_inputs_.size() > kStack) {
    num_heap.resize(numeric_inputs_.size());
    num = num_heap;
  }
  if (categorical_inputs_.size() > kStack) {
    cat_heap.resize(categorical_inputs_.size());
    cat = cat_heap;
  }
  for (std::size_t i = 0; i < numeric_inputs_.size(); ++i) num[i] = numeric(numeric_inputs_[i]);
  for (std::size_t i = 0; i < categorical_inputs_.size(); ++i) {
    cat[i] = categorical(categorical_inputs_[i]);
  }
  transform_record(num, cat, out);
}

nlohmann::json Preprocessor::to_json() const {
  if (!fitted_) throw Error("preprocessor: to_json() called before fit()");
  json j;
  j["version"] = kFormatVersion;
  j["options"] = {{"encoding", encoding_name(options_.encoding)},
                  {"max_categories", options_.max_categories},
                  {"log1p", log1p_name(options_.log1p)},
                  {"scale", options_.scale},
                  {"engineered_features", options_.engineered_features},
                  {"exclude_columns", options_.exclude_columns}};
  j["numeric_inputs"] = numeric_inputs_;
  j["categorical_inputs"] = categorical_inputs_;
  json nums = json::array();
  for (const auto& f : numeric_) {
    json e = {{"name", f.name},
              {"median", f.median},
              {"log1p", f.log1p},
              {"mean", f.mean},
              {"scale", f.scale}};
    if (f.input >= 0) {
      e["input"] = numeric_inputs_[static_cast<std::size_t>(f.input)];
    } else {
      e["engineered"] = kEngineered[static_cast<std::size_t>(f.engineered)];
    }
    nums.push_back(std::move(e));
  }
  j["numeric"] = std::move(nums);
  json cats = json::array();
  for (const auto& c : categorical_) cats.push_back({{"name", c.name}, {"levels", c.levels}});
  j["categorical"] = std::move(cats);
  j["feature_names"] = output_names_;
  return j;
}

Preprocessor Preprocessor::from_json(const nlohmann::json& j) {
  try {
    if (!j.is_object()) throw Error("preprocessor JSON: expected an object");
    const int version = j.at("version").get<int>();
    if (version != kFormatVersion) {
      throw Error("preprocessor JSON: version " + std::to_string(version) +
                  " is not supported (expected " + std::to_string(kFormatVersion) + ")");
    }
    Preprocessor p;
    const json& o = j.at("options");
    const auto enc = o.at("encoding").get<std::string>();
    if (enc == "one_hot") {
      p.options_.encoding = CategoricalEncoding::kOneHot;
    } else if (enc == "label") {
      p.options_.encoding = CategoricalEncoding::kLabel;
    } else {
      throw Error("preprocessor JSON: unknown encoding \"" + enc + "\"");
    }
    const auto lg = o.at("log1p").get<std::string>();
    if (lg == "off") {
      p.options_.log1p = Log1p::kOff;
    } else if (lg == "heavy_tailed") {
      p.options_.log1p = Log1p::kHeavyTailed;
    } else if (lg == "non_negative") {
      p.options_.log1p = Log1p::kNonNegative;
    } else {
      throw Error("preprocessor JSON: unknown log1p policy \"" + lg + "\"");
    }
    p.options_.max_categories = o.at("max_categories").get<std::size_t>();
    p.options_.scale = o.at("scale").get<bool>();
    p.options_.engineered_features = o.at("engineered_features").get<bool>();
    p.options_.exclude_columns = o.at("exclude_columns").get<std::vector<std::string>>();
    p.numeric_inputs_ = j.at("numeric_inputs").get<std::vector<std::string>>();
    p.categorical_inputs_ = j.at("categorical_inputs").get<std::vector<std::string>>();

    auto input_index = [&](const std::string& name) {
      const auto it = std::find(p.numeric_inputs_.begin(), p.numeric_inputs_.end(), name);
      return it == p.numeric_inputs_.end() ? -1 : static_cast<int>(it - p.numeric_inputs_.begin());
    };
    p.duration_input_ = input_index("Duration");
    p.packets_input_ = input_index("PacketCount");
    p.bytes_input_ = input_index("ByteCount");
    for (const auto& e : j.at("numeric")) {
      NumericFeature f;
      f.name = e.at("name").get<std::string>();
      f.median = e.at("median").get<double>();
      f.log1p = e.at("log1p").get<bool>();
      f.mean = e.at("mean").get<double>();
      f.scale = e.at("scale").get<double>();
      if (e.contains("input")) {
        f.input = input_index(e.at("input").get<std::string>());
        if (f.input < 0) {
          throw Error("preprocessor JSON: feature \"" + f.name + "\" reads an unknown input");
        }
      } else {
        const auto formula = e.at("engineered").get<std::string>();
        const auto it = std::find(kEngineered.begin(), kEngineered.end(), formula);
        if (it == kEngineered.end()) {
          throw Error("preprocessor JSON: unknown engineered feature \"" + formula + "\"");
        }
        if (p.duration_input_ < 0 || p.packets_input_ < 0 || p.bytes_input_ < 0) {
          throw Error("preprocessor JSON: \"" + formula +
                      "\" needs numeric inputs Duration, PacketCount and ByteCount");
        }
        f.engineered = static_cast<int>(it - kEngineered.begin());
      }
      if (!(f.scale > 0) || !std::isfinite(f.mean) || !std::isfinite(f.median)) {
        throw Error("preprocessor JSON: feature \"" + f.name + "\" has invalid statistics");
      }
      p.numeric_.push_back(std::move(f));
    }
    if (p.numeric_.size() < p.numeric_inputs_.size()) {
      throw Error("preprocessor JSON: fewer numeric features than numeric inputs");
    }
    for (std::size_t i = 0; i < p.numeric_inputs_.size(); ++i) {
      // transform() imputes input i with numeric_[i].median, so inputs must come first, in order.
      if (p.numeric_[i].input != static_cast<int>(i)) {
        throw Error("preprocessor JSON: numeric features are not in input order");
      }
    }
    const json& cats = j.at("categorical");
    if (cats.size() != p.categorical_inputs_.size()) {
      throw Error("preprocessor JSON: categorical features do not match categorical_inputs");
    }
    for (std::size_t i = 0; i < cats.size(); ++i) {
      CategoricalFeature c;
      c.name = cats[i].at("name").get<std::string>();
      c.levels = cats[i].at("levels").get<std::vector<std::string>>();
      if (c.name != p.categorical_inputs_[i]) {
        throw Error("preprocessor JSON: categorical feature \"" + c.name + "\" is out of order");
      }
      p.categorical_.push_back(std::move(c));
    }
    p.build_output_names();
    const auto names = j.at("feature_names").get<std::vector<std::string>>();
    if (names != p.output_names_) {
      throw Error("preprocessor JSON: feature_names do not match the stored features (" +
                  std::to_string(names.size()) + " listed, " +
                  std::to_string(p.output_names_.size()) + " derived)");
    }
    p.fitted_ = true;
    return p;
  } catch (const json::exception& e) {
    throw Error(std::string("preprocessor JSON: ") + e.what());
  }
}

double Preprocessor::typical_value(std::size_t i) const {
  const NumericFeature& f = numeric_.at(i);
  return f.log1p ? std::expm1(f.mean) : f.mean;
}

double Preprocessor::raw_value(std::size_t i, float output) const {
  const NumericFeature& f = numeric_.at(i);
  const double v = output * f.scale + f.mean;  // scale 1, mean 0 when scaling is off
  return f.log1p ? std::expm1(v) : v;
}

}  // namespace netsentry::data
