#include "ml/bundle.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <exception>
#include <fstream>
#include <thread>

#include "core/error.h"
#include "ml/isolation_forest.h"
#include "ml/random_forest.h"
#include "ml/torch_module.h"

namespace netsentry::ml {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kManifest = "manifest.json";

json read_json(const fs::path& path) {
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
  if (!j.contains(key)) throw core::Error(fmt::format("{}: missing \"{}\"", where.string(), key));
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw core::Error(fmt::format("{}: \"{}\" has the wrong type", where.string(), key));
  }
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

void set_model_threads(Model& model, int threads) {
  if (auto* f = dynamic_cast<IsolationForest*>(&model)) f->set_threads(threads);
  if (auto* r = dynamic_cast<RandomForest*>(&model)) r->set_threads(threads);
  // LibTorch's thread count is process-wide; set it when a torch model is in use.
  if (model.name() == "lstm" || model.name() == "autoencoder") torch_module::set_threads(threads);
}

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

ModelScores Bundle::score(const data::Matrix& x, std::span<const std::int32_t> group,
                          std::map<std::string, double>* seconds) const {
  using Clock = std::chrono::steady_clock;
  std::vector<std::vector<float>> results(models.size());
  std::vector<double> took(models.size(), 0.0);
  std::vector<std::exception_ptr> errors(models.size());
  std::atomic<std::size_t> next{0};
  // Workers take models in order (the bundle order puts the forests first, the costly ones).
  const auto work = [&] {
    for (std::size_t i = next.fetch_add(1); i < models.size(); i = next.fetch_add(1)) {
      const auto t0 = Clock::now();
      try {
        results[i] = models[i]->score(x, group);
      } catch (...) {
        errors[i] = std::current_exception();
      }
      took[i] = std::chrono::duration<double>(Clock::now() - t0).count();
    }
  };
  const std::size_t workers =
      std::min<std::size_t>(static_cast<std::size_t>(std::max(1, score_threads)), models.size());
  {
    std::vector<std::jthread> pool;
    for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(work);
    work();
  }
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
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
  manifest["format"] = "netsentry-model-bundle";
  manifest["format_version"] = kBundleFormatVersion;
  manifest["created_at"] = fmt::format(
      "{:%Y-%m-%dT%H:%M:%SZ}",
      fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
  manifest["feature_names"] = preprocessor.feature_names();
  manifest["inputs"] = {{"numeric", preprocessor.numeric_inputs()},
                        {"categorical", preprocessor.categorical_inputs()}};
  manifest["preprocessing"] = preprocessor.to_json();
  json entries = json::object();
  for (const auto& m : models) {
    const std::string file = m->save(dir);
    json entry = {{"file", file}, {"threshold", m->threshold()}};
    if (metrics.contains(m->name())) entry["metrics"] = metrics.at(std::string(m->name()));
    entries[std::string(m->name())] = entry;
  }
  manifest["models"] = entries;
  manifest["ensemble"] = ensemble.to_json();
  if (metrics.contains("ensemble")) manifest["ensemble_metrics"] = metrics.at("ensemble");
  manifest["training"] = training;
  std::ofstream out(dir / kManifest);
  out << manifest.dump(2) << '\n';
  if (!out) throw core::Error(fmt::format("{}: write failed", (dir / kManifest).string()));
}

Bundle Bundle::load(const fs::path& dir, int threads) {
  if (!fs::is_directory(dir)) {
    throw core::Error(fmt::format(
        "{}: not a folder (a model bundle is a folder with manifest.json)", dir.string()));
  }
  const fs::path manifest_path = dir / kManifest;
  const json manifest = read_json(manifest_path);
  const auto version = field<int>(manifest, "format_version", manifest_path);
  if (version != kBundleFormatVersion) {
    throw core::Error(
        fmt::format("{}: format_version {} is not supported (this netsentry reads {})",
                    manifest_path.string(), version, kBundleFormatVersion));
  }
  Bundle b;
  b.preprocessor =
      data::Preprocessor::from_json(field<json>(manifest, "preprocessing", manifest_path));
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
  }
  for (std::string_view name : kModelNames) {
    if (!entries.contains(name)) continue;
    const json& entry = entries.at(std::string(name));
    const auto file = field<std::string>(entry, "file", manifest_path);
    if (!fs::exists(dir / file)) {
      throw core::Error(fmt::format("{}: model \"{}\" names {}, which is missing",
                                    manifest_path.string(), name, (dir / file).string()));
    }
    auto model = make_model(name);
    model->load(dir, file, b.preprocessor.output_size());
    model->set_threshold(field<float>(entry, "threshold", manifest_path));
    // Several models score side by side on one thread each (see score_threads).
    const std::size_t listed = static_cast<std::size_t>(std::count_if(
        kModelNames.begin(), kModelNames.end(),
        [&](std::string_view n) { return entries.contains(std::string(n)); }));
    set_model_threads(*model, listed > 1 ? 1 : threads);
    if (entry.contains("metrics")) b.metrics[std::string(name)] = entry.at("metrics");
    b.models.push_back(std::move(model));
  }
  b.score_threads = threads;
  b.ensemble = Ensemble::from_json(field<json>(manifest, "ensemble", manifest_path));
  for (const auto& used : b.ensemble.models()) {
    if (!b.find(used)) {
      throw core::Error(fmt::format("{}: the ensemble uses \"{}\", which the bundle does not hold",
                                    manifest_path.string(), used));
    }
  }
  if (manifest.contains("ensemble_metrics"))
    b.metrics["ensemble"] = manifest.at("ensemble_metrics");
  if (manifest.contains("training")) b.training = manifest.at("training");
  return b;
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
