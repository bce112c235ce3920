#include "ml/bundle.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <fstream>
#include <limits>
#include <thread>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/time_format.h"
#include "ml/isolation_forest.h"
#include "ml/neural/autoencoder.h"
#include "ml/neural/packet_lstm.h"
#include "ml/neural/traffic_forecaster.h"
#include "ml/neural/weights_file.h"
#include "ml/random_forest.h"
#include "ml/torch_module.h"

namespace netsentry::ml {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kManifest = "manifest.json";
constexpr const char* kBundleFormat = "netsentry-model-bundle";
constexpr const char* kValidationFile = "validation_scores.json";

json read_json(const fs::path& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    throw core::Error(
        fmt::format("{}: cannot read (is this a model bundle folder?)", path.string()));
  }
  if (!fs::is_regular_file(status)) {
    throw core::Error(fmt::format("{}: not a regular file", path.string()));
  }
  std::ifstream in(path);
  if (!in)
    throw core::Error(
        fmt::format("{}: cannot read (is this a model bundle folder?)", path.string()));
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw core::Error(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
  }
}

template <typename T>
T field(const json& j, const char* key, const fs::path& where) {
  if (!j.is_object() || !j.contains(key)) {
    throw core::Error(fmt::format("{}: missing \"{}\"", where.string(), key));
  }
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw core::Error(fmt::format("{}: \"{}\" has the wrong type", where.string(), key));
  }
}

// The file a manifest names for a model, checked to stay inside the bundle folder: a plain
// relative path whose resolved location (symbolic links followed) is under the folder.
fs::path model_file(const fs::path& dir, const std::string& file, std::string_view model,
                    const fs::path& manifest) {
  const fs::path rel(file);
  const auto refuse = [&](std::string_view why) {
    throw core::Error(
        fmt::format("{}: model \"{}\": file \"{}\" {}", manifest.string(), model, file, why));
  };
  if (file.empty()) refuse("is empty");
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory()) {
    refuse("must be a path inside the bundle folder, not an absolute path");
  }
  for (const auto& part : rel) {
    if (part == "..") refuse("must stay inside the bundle folder (no \"..\")");
  }
  const fs::path path = dir / rel;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    throw core::Error(fmt::format("{}: model \"{}\" names {}, which is missing", manifest.string(),
                                  model, path.string()));
  }
  const fs::path real_dir = fs::canonical(dir, ec);
  const fs::path real = ec ? fs::path() : fs::canonical(path, ec);
  if (ec) refuse(fmt::format("cannot be resolved: {}", ec.message()));
  const auto mismatch = std::mismatch(real_dir.begin(), real_dir.end(), real.begin(), real.end());
  if (mismatch.first != real_dir.end()) {
    refuse(fmt::format("resolves to {}, outside the bundle folder", real.string()));
  }
  if (!fs::is_regular_file(real, ec)) refuse("is not a regular file");
  return path;
}

}  // namespace

bool model_available(std::string_view name) {
  if (name == "isolation_forest" || name == "random_forest") return true;
  if (name == "lstm" || name == "autoencoder") return torch_module::available();
  return false;
}

std::unique_ptr<Model> make_model(std::string_view name) {
  if (name == "isolation_forest") return std::make_unique<IsolationForest>();
  if (name == "random_forest") return std::make_unique<RandomForest>();
  if (name == "lstm" || name == "autoencoder") {
    std::string why;
    if (!torch_module::available(&why)) {
      throw core::Error(fmt::format("model \"{}\" needs LibTorch: {}", name, why));
    }
    return name == "lstm" ? torch_module::make_lstm() : torch_module::make_autoencoder();
  }
  throw core::Error(fmt::format(
      "unknown model \"{}\" (known: isolation_forest, random_forest, lstm, autoencoder)", name));
}

bool is_neural(std::string_view name) { return name == "lstm" || name == "autoencoder"; }

void set_model_threads(Model& model, int threads) {
  model.set_threads(threads);
  // LibTorch's thread count is process-wide; set it when a LibTorch model is in use (a model the
  // module made means a loaded module; the torch-free scorers must not load it).
  if (is_neural(model.name()) && torch_module::loaded()) torch_module::set_threads(threads);
}

namespace {

// The plain weights file a saved LibTorch model has a torch-free scorer for: the autoencoder's,
// the packet LSTM's (a row LSTM, with or without host context, has none). Empty when none.
std::string plain_weights_of(const Model& m, const fs::path& dir, const std::string& file) {
  if (!is_neural(m.name()) || (m.name() == "lstm" && !m.reads_packets())) return {};
  const fs::path weights = neural::weights_path(dir, file);
  std::error_code ec;
  return fs::is_regular_file(weights, ec) ? weights.filename().string() : std::string();
}

}  // namespace

const Model* Bundle::find(std::string_view name) const {
  for (const auto& m : models) {
    if (m->name() == name) return m.get();
  }
  return nullptr;
}

std::vector<std::string> Bundle::model_names() const {
  std::vector<std::string> out;
  for (const auto& m : models) out.emplace_back(m->name());
  return out;
}

bool Bundle::reads_packets() const {
  return std::any_of(models.begin(), models.end(),
                     [](const auto& m) { return m->reads_packets(); });
}

namespace {

// Scores `input` with the models at `which` (indices into `models`), side by side on up to
// `threads` threads (one model each), into results[i] and took[i] (seconds).
void score_side_by_side(const std::vector<std::unique_ptr<Model>>& models,
                        const std::vector<std::size_t>& which, const ScoreInput& input, int threads,
                        std::vector<std::vector<float>>& results, std::vector<double>& took) {
  using Clock = std::chrono::steady_clock;
  std::vector<std::exception_ptr> errors(models.size());
  std::atomic<std::size_t> next{0};
  // Workers take models in the order of `which` (costliest first, see Bundle::score).
  const auto work = [&] {
    for (std::size_t k = next.fetch_add(1); k < which.size(); k = next.fetch_add(1)) {
      const std::size_t i = which[k];
      const auto t0 = Clock::now();
      try {
        results[i] = models[i]->score(input);
      } catch (...) {
        errors[i] = std::current_exception();
      }
      took[i] += std::chrono::duration<double>(Clock::now() - t0).count();
    }
  };
  const std::size_t workers =
      std::min<std::size_t>(static_cast<std::size_t>(std::max(1, threads)), which.size());
  {
    std::vector<std::jthread> pool;
    for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(work);
    work();
  }
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

bool is_forest(std::string_view name) {
  return name == "isolation_forest" || name == "random_forest";
}

}  // namespace

ModelScores Bundle::score(const ScoreInput& input, std::map<std::string, double>* seconds) const {
  using Clock = std::chrono::steady_clock;
  std::vector<std::vector<float>> results(models.size());
  std::vector<double> took(models.size(), 0.0);
  // Costliest per row first (measured on the lab's flows: the autoencoder, then the packet LSTM,
  // then the forests), so the thread that takes the last, cheap model is not the one that
  // started with the longest.
  std::vector<std::size_t> all(models.size());
  for (std::size_t i = 0; i < models.size(); ++i) all[i] = i;
  const auto rank = [&](std::size_t i) {
    const std::string_view name = models[i]->name();
    return name == "autoencoder" ? 0 : name == "lstm" ? 1 : name == "isolation_forest" ? 2 : 3;
  };
  std::stable_sort(all.begin(), all.end(),
                   [&](std::size_t a, std::size_t b) { return rank(a) < rank(b); });
  score_side_by_side(models, all, input, score_threads, results, took);
  ModelScores scores;
  for (std::size_t i = 0; i < models.size(); ++i) {
    const std::string name(models[i]->name());
    if (seconds) (*seconds)[name] = took[i];
    scores.emplace(name, std::move(results[i]));
  }
  const auto t0 = Clock::now();
  scores.emplace("ensemble", ensemble.score(scores));
  if (seconds) (*seconds)["ensemble"] = std::chrono::duration<double>(Clock::now() - t0).count();
  return scores;
}

bool Bundle::cascades() const {
  if (ensemble.mode() != EnsembleMode::kVote) return false;
  std::size_t first = 0, second = 0;
  for (const auto& m : models) {
    if (ensemble.weight_of(std::string(m->name())) == 0.0) continue;
    if (is_forest(m->name())) {
      ++first;
    } else if (m->reads_neighbour_rows()) {
      return false;  // an LSTM reading each host's earlier rows: no subsets
    } else {
      ++second;
    }
  }
  return first > 0 && second > 0;
}

ModelScores Bundle::score_cascade(const ScoreInput& input, CascadeStats* stats,
                                  std::map<std::string, double>* seconds) const {
  if (!cascades()) {
    auto scores = score(input, seconds);
    if (stats) {
      stats->rows += input.x.rows;
      stats->second_stage_rows += input.x.rows;
    }
    return scores;
  }
  const std::size_t rows = input.x.rows;
  std::vector<std::vector<float>> results(models.size());
  std::vector<double> took(models.size(), 0.0);
  // Stages: each forest alone, the heaviest vote first (the Random Forest's "no" decides most
  // rows by itself, so the Isolation Forest scores only what it leaves open), then the costly
  // models side by side. Each stage scores the rows the stages before left open.
  std::vector<std::size_t> forests, costly;
  std::vector<double> weight(models.size());
  double total = 0;
  for (std::size_t i = 0; i < models.size(); ++i) {
    weight[i] = ensemble.weight_of(std::string(models[i]->name()));
    total += weight[i];
    (is_forest(models[i]->name()) ? forests : costly).push_back(i);
  }
  std::stable_sort(forests.begin(), forests.end(), [&](std::size_t a, std::size_t b) {
    if (weight[a] != weight[b]) return weight[a] > weight[b];
    return models[a]->name() == "random_forest" && models[b]->name() != "random_forest";
  });
  std::vector<std::vector<std::size_t>> stages;
  for (const std::size_t i : forests) stages.push_back({i});
  if (!costly.empty()) stages.push_back(costly);
  for (auto& r : results) r.assign(rows, std::numeric_limits<float>::quiet_NaN());

  std::vector<double> yes(rows, 0.0);  // share of the weight voting "attack" so far
  double unscored = total;             // weight of the models not scored yet
  std::vector<std::size_t> open(rows);
  for (std::size_t r = 0; r < rows; ++r) open[r] = r;
  const auto quorum = static_cast<float>(ensemble.vote_quorum());
  std::vector<std::vector<float>> part(models.size());
  for (std::size_t s = 0; s < stages.size() && !open.empty(); ++s) {
    const std::vector<std::size_t>& stage = stages[s];
    if (open.size() == rows) {
      score_side_by_side(models, stage, input, score_threads, part, took);
    } else {
      const data::Matrix x = input.x.select_rows(open);
      std::vector<std::int32_t> group;
      if (!input.group.empty()) {
        for (const std::size_t r : open) group.push_back(input.group[r]);
      }
      std::vector<data::PacketStep> packets;
      std::vector<std::size_t> offset;
      if (!input.packets.empty()) {
        offset.push_back(0);
        for (const std::size_t r : open) {
          const auto seq = input.packets.of(r);
          packets.insert(packets.end(), seq.begin(), seq.end());
          offset.push_back(packets.size());
        }
      }
      score_side_by_side(models, stage, {x, group, {packets, offset}}, score_threads, part, took);
    }
    for (const std::size_t i : stage) {
      for (std::size_t k = 0; k < open.size(); ++k) results[i][open[k]] = part[i][k];
      unscored -= weight[i];
    }
    if (s + 1 == stages.size()) break;  // the last stage's rows are decided by the ensemble
    // A row whose votes so far plus every unscored model's weight cannot exceed the quorum is
    // decided normal (the same comparison as Ensemble::score's vote).
    const double rest = unscored / total;
    for (const std::size_t i : stage) {
      const double w = weight[i] / total;
      const float t = models[i]->threshold();
      for (const std::size_t r : open) yes[r] += results[i][r] > t ? w : 0.0;
    }
    std::size_t kept = 0;
    for (const std::size_t r : open) {
      if (static_cast<float>(yes[r] + rest) > quorum) open[kept++] = r;
    }
    open.resize(kept);
  }
  if (stats) {
    stats->rows += rows;
    stats->second_stage_rows += open.size();
  }
  ModelScores scores;
  for (std::size_t i = 0; i < models.size(); ++i) {
    if (seconds) (*seconds)[std::string(models[i]->name())] = took[i];
    scores.emplace(std::string(models[i]->name()), std::move(results[i]));
  }
  const auto t0 = std::chrono::steady_clock::now();
  scores.emplace("ensemble", ensemble.score(scores));
  if (seconds) {
    (*seconds)["ensemble"] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return scores;
}

float Bundle::threshold(std::string_view name) const {
  if (name == "ensemble") return ensemble.threshold();
  const Model* m = find(name);
  if (!m) throw core::Error(fmt::format("the bundle has no model \"{}\"", name));
  return m->threshold();
}

void Bundle::save(const fs::path& dir) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw core::Error(fmt::format("{}: cannot create: {}", dir.string(), ec.message()));
  json manifest;
  manifest["format"] = kBundleFormat;
  manifest["format_version"] = kBundleFormatVersion;
  manifest["created_at"] = core::format_utc_now();
  manifest["feature_names"] = preprocessor.feature_names();
  manifest["inputs"] = {{"numeric", preprocessor.numeric_inputs()},
                        {"categorical", preprocessor.categorical_inputs()}};
  manifest["preprocessing"] = preprocessor.to_json();
  json entries = json::object();
  for (const auto& m : models) {
    const std::string file = m->save(dir);
    json entry = {{"file", file}, {"threshold", m->threshold()}};
    if (const std::string weights = plain_weights_of(*m, dir, file); !weights.empty()) {
      entry["weights"] = weights;
    }
    if (metrics.contains(m->name())) entry["metrics"] = metrics.at(std::string(m->name()));
    entries[std::string(m->name())] = entry;
  }
  manifest["models"] = entries;
  if (!validation_scores.empty()) {
    json v = {{"y", validation_y}, {"scores", json::object()}};
    if (!validation_rows.empty()) v["rows"] = validation_rows;
    for (const auto& [name, s] : validation_scores) v["scores"][name] = s;
    std::ofstream out(dir / kValidationFile, std::ios::trunc);
    out << v.dump() << '\n';
    out.close();
    if (!out) {
      throw core::Error(fmt::format("{}: write failed", (dir / kValidationFile).string()));
    }
    manifest["validation_scores"] = kValidationFile;
  }
  manifest["ensemble"] = ensemble.to_json();
  if (metrics.contains("ensemble")) manifest["ensemble_metrics"] = metrics.at("ensemble");
  manifest["training"] = training;
  std::ofstream out(dir / kManifest);
  out << manifest.dump(2) << '\n';
  if (!out) throw core::Error(fmt::format("{}: write failed", (dir / kManifest).string()));
}

Bundle Bundle::load(const fs::path& dir, int threads) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw core::Error(fmt::format(
        "{}: not a folder (a model bundle is a folder with manifest.json)", dir.string()));
  }
  const fs::path manifest_path = dir / kManifest;
  try {
    return load_checked(dir, manifest_path, threads);
  } catch (const core::Error&) {
    throw;
  } catch (const std::exception& e) {
    // Anything else (a library's exception, an allocation failure) still names the bundle.
    throw core::Error(fmt::format("{}: cannot load the model bundle: {}", dir.string(), e.what()));
  }
}

Bundle Bundle::load_checked(const fs::path& dir, const fs::path& manifest_path, int threads) {
  const json manifest = read_json(manifest_path);
  if (!manifest.is_object()) {
    throw core::Error(fmt::format("{}: expected a JSON object", manifest_path.string()));
  }
  const auto format = field<std::string>(manifest, "format", manifest_path);
  if (format != kBundleFormat) {
    throw core::Error(fmt::format("{}: \"format\" is \"{}\", expected \"{}\"",
                                  manifest_path.string(), format, kBundleFormat));
  }
  const auto version = field<int>(manifest, "format_version", manifest_path);
  if (version != kBundleFormatVersion) {
    throw core::Error(
        fmt::format("{}: format_version {} is not supported (this netsentry reads {})",
                    manifest_path.string(), version, kBundleFormatVersion));
  }
  Bundle b;
  try {
    b.preprocessor =
        data::Preprocessor::from_json(field<json>(manifest, "preprocessing", manifest_path));
  } catch (const core::Error& e) {
    throw core::Error(fmt::format("{}: preprocessing: {}", manifest_path.string(), e.what()));
  }
  const auto names = field<std::vector<std::string>>(manifest, "feature_names", manifest_path);
  if (names != b.preprocessor.feature_names()) {
    throw core::Error(
        fmt::format("{}: feature_names ({} features) do not match the preprocessing ({} features)",
                    manifest_path.string(), names.size(), b.preprocessor.output_size()));
  }
  const json entries = field<json>(manifest, "models", manifest_path);
  if (!entries.is_object() || entries.empty()) {
    throw core::Error(fmt::format("{}: \"models\" lists no model", manifest_path.string()));
  }
  for (const auto& [name, entry] : entries.items()) {
    if (std::find(kModelNames.begin(), kModelNames.end(), name) == kModelNames.end()) {
      throw core::Error(fmt::format("{}: unknown model \"{}\"", manifest_path.string(), name));
    }
    if (!entry.is_object()) {
      throw core::Error(
          fmt::format("{}: models.{} must be an object", manifest_path.string(), name));
    }
  }
  // Several models score side by side on one thread each (see score_threads).
  const std::size_t listed = static_cast<std::size_t>(
      std::count_if(kModelNames.begin(), kModelNames.end(),
                    [&](std::string_view n) { return entries.contains(std::string(n)); }));
  // The LibTorch models score without LibTorch when every one of them lists its plain weights
  // (bundles saved before them, or with a row-sequence LSTM, load the module as before).
  bool plain = true;
  for (const auto& [name, entry] : entries.items()) {
    if (is_neural(name) && !entry.contains("weights")) plain = false;
  }
  for (std::string_view name : kModelNames) {
    if (!entries.contains(name)) continue;
    const json& entry = entries.at(std::string(name));
    const auto file = field<std::string>(entry, "file", manifest_path);
    (void)model_file(dir, file, name, manifest_path);
    const auto threshold = field<double>(entry, "threshold", manifest_path);
    if (!std::isfinite(threshold)) {
      throw core::Error(fmt::format("{}: models.{}.threshold is not a finite number",
                                    manifest_path.string(), name));
    }
    std::unique_ptr<Model> model;
    if (plain && is_neural(name)) {
      const auto weights = field<std::string>(entry, "weights", manifest_path);
      (void)model_file(dir, weights, name, manifest_path);
      if (fs::path(weights).stem() != fs::path(file).stem()) {
        throw core::Error(fmt::format(
            "{}: model \"{}\": weights \"{}\" and file \"{}\" must share a name (one sidecar "
            "describes both)",
            manifest_path.string(), name, weights, file));
      }
      model = name == "lstm" ? neural::make_packet_lstm() : neural::make_autoencoder();
      model->load(dir, weights, b.preprocessor.output_size());
    } else {
      model = make_model(name);
      model->load(dir, file, b.preprocessor.output_size());
    }
    model->set_threshold(static_cast<float>(threshold));
    set_model_threads(*model, listed > 1 ? 1 : threads);
    if (entry.contains("metrics")) b.metrics[std::string(name)] = entry.at("metrics");
    b.models.push_back(std::move(model));
  }
  b.score_threads = threads;
  try {
    b.ensemble = Ensemble::from_json(field<json>(manifest, "ensemble", manifest_path));
  } catch (const core::Error& e) {
    throw core::Error(fmt::format("{}: {}", manifest_path.string(), e.what()));
  }
  for (const auto& used : b.ensemble.models()) {
    if (!b.find(used)) {
      throw core::Error(fmt::format("{}: the ensemble uses \"{}\", which the bundle does not hold",
                                    manifest_path.string(), used));
    }
  }
  if (manifest.contains("validation_scores")) {
    const auto file = field<std::string>(manifest, "validation_scores", manifest_path);
    const fs::path path = model_file(dir, file, "validation_scores", manifest_path);
    const json v = read_json(path);
    const auto bad = [&](const std::string& what) {
      throw core::Error(fmt::format("{}: {}", path.string(), what));
    };
    if (!v.is_object() || !v.contains("y") || !v.contains("scores") ||
        !v.at("scores").is_object()) {
      bad("expected {\"y\": [...], \"scores\": {model: [...]}}");
    }
    try {
      b.validation_y = v.at("y").get<std::vector<int>>();
      if (v.contains("rows")) {
        const json& rows = v.at("rows");
        if (!rows.is_array() || !std::all_of(rows.begin(), rows.end(), [](const json& r) {
              return r.is_number_unsigned();
            })) {
          bad("rows must be row numbers (integers >= 0)");
        }
        b.validation_rows = rows.get<std::vector<std::size_t>>();
        if (b.validation_rows.size() != b.validation_y.size()) {
          bad(fmt::format("rows has {} entries for {} labels", b.validation_rows.size(),
                          b.validation_y.size()));
        }
      }
      for (const auto& [name, s] : v.at("scores").items()) {
        auto scores = s.get<std::vector<float>>();
        if (scores.size() != b.validation_y.size()) {
          bad(fmt::format("scores.{} has {} entries for {} labels", name, scores.size(),
                          b.validation_y.size()));
        }
        for (const float x : scores) {
          if (!std::isfinite(x)) bad(fmt::format("scores.{} holds a non-finite number", name));
        }
        b.validation_scores.emplace(name, std::move(scores));
      }
    } catch (const json::exception& e) {
      bad(fmt::format("a field has the wrong type ({})", e.what()));
    }
    for (const int y : b.validation_y) {
      if (y != 0 && y != 1) bad("labels must be 0 or 1");
    }
    for (const auto& m : b.models) {
      if (!b.validation_scores.contains(m->name())) {
        bad(fmt::format("holds no scores of {}", m->name()));
      }
    }
  }
  if (manifest.contains("ensemble_metrics"))
    b.metrics["ensemble"] = manifest.at("ensemble_metrics");
  if (manifest.contains("training")) b.training = manifest.at("training");
  return b;
}

namespace {

// Writes <dir>/<stem of file>.weights from the .pt through the module and names it in the sidecar.
fs::path export_plain_weights(const fs::path& dir, const std::string& file) {
  torch_module::api().export_weights(dir, file);
  const fs::path weights = neural::weights_path(dir, file);
  const fs::path sidecar = neural::sidecar_path(dir, file);
  json doc = read_json(sidecar);
  if (!doc.is_object())
    throw core::Error(fmt::format("{}: expected a JSON object", sidecar.string()));
  doc["weights_file"] = weights.filename().string();
  core::write_file_atomically(sidecar, doc.dump(2) + "\n");
  return weights;
}

}  // namespace

std::vector<fs::path> add_plain_weights(const fs::path& dir) {
  const fs::path manifest_path = dir / kManifest;
  json manifest = read_json(manifest_path);
  json& entries = manifest["models"];
  if (!entries.is_object()) {
    throw core::Error(fmt::format("{}: \"models\" lists no model", manifest_path.string()));
  }
  std::vector<fs::path> written;
  for (auto& [name, entry] : entries.items()) {
    if (!is_neural(name)) continue;
    const auto file = field<std::string>(entry, "file", manifest_path);
    (void)model_file(dir, file, name, manifest_path);
    if (name == "lstm") {
      const fs::path path = neural::sidecar_path(dir, file);
      const json doc = read_json(path);
      const neural::Sidecar sidecar{path, 0, 0.0f,
                                    doc.is_object() ? doc.value("options", json()) : json()};
      if (neural::lstm_input(sidecar) != "packets") continue;
    }
    const fs::path weights = export_plain_weights(dir, file);
    entry["weights"] = weights.filename().string();
    written.push_back(weights);
  }
  std::error_code ec;
  if (fs::exists(dir / "traffic" / "traffic_forecaster.json", ec)) {
    written.push_back(export_plain_weights(dir / "traffic", neural::kForecasterFile));
  }
  core::write_file_atomically(manifest_path, manifest.dump(2) + "\n");
  return written;
}

std::string hash_files(const std::vector<std::string>& files) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  std::vector<char> buffer(1 << 20);
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      const auto n = in.gcount();
      for (std::streamsize i = 0; i < n; ++i) {
        h ^= static_cast<unsigned char>(buffer[static_cast<std::size_t>(i)]);
        h *= 0x100000001b3ULL;
      }
    }
  }
  return fmt::format("{:016x}", h);
}

}  // namespace netsentry::ml
