#include "ml/neural/sidecar.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>

#include "core/error.h"

namespace netsentry::ml::neural {

std::filesystem::path sidecar_path(const std::filesystem::path& dir, const std::string& file) {
  return dir / std::filesystem::path(file).replace_extension(".json");
}

Sidecar read_sidecar(const std::filesystem::path& dir, const std::string& file,
                     std::string_view model, std::size_t expected_features, int format_version) {
  const std::filesystem::path path = sidecar_path(dir, file);
  const std::string where = path.string();
  std::ifstream in(path);
  if (!in) throw core::Error(fmt::format("{}: cannot open the {} model sidecar", where, model));
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw core::Error(fmt::format("{}: not valid JSON ({})", where, e.what()));
  }
  if (!doc.is_object()) throw core::Error(fmt::format("{}: expected a JSON object", where));
  const auto version = doc.value("format_version", nlohmann::json());
  if (!version.is_number_integer() || version.get<int>() != format_version) {
    throw core::Error(
        fmt::format("{}: {} format_version is {}, this build reads {}; retrain the model", where,
                    model, version.dump(), format_version));
  }
  const auto name = doc.value("model", nlohmann::json());
  if (!name.is_string() || name.get<std::string>() != model) {
    throw core::Error(
        fmt::format("{}: holds model {}, expected \"{}\"", where, name.dump(), model));
  }
  const auto features = doc.value("features", nlohmann::json());
  if (!features.is_number_unsigned() || features.get<std::size_t>() == 0) {
    throw core::Error(fmt::format("{}: \"features\" must be a positive integer", where));
  }
  if (features.get<std::size_t>() != expected_features) {
    throw core::Error(fmt::format("{}: the {} model was trained on {} features, the bundle has {}",
                                  where, model, features.get<std::size_t>(), expected_features));
  }
  const auto threshold = doc.value("threshold", nlohmann::json());
  if (!threshold.is_number() || !std::isfinite(threshold.get<double>())) {
    throw core::Error(fmt::format("{}: \"threshold\" must be a finite number", where));
  }
  const auto options = doc.value("options", nlohmann::json());
  if (!options.is_object()) {
    throw core::Error(fmt::format("{}: \"options\" must be an object", where));
  }
  return {path, features.get<std::size_t>(), threshold.get<float>(), options};
}

int option_int(const nlohmann::json& options, const char* key, const std::filesystem::path& where,
               int min_value, int max_value) {
  const auto it = options.find(key);
  if (it == options.end() || !it->is_number_integer() || it->get<long long>() < min_value ||
      it->get<long long>() > max_value) {
    throw core::Error(fmt::format("{}: option \"{}\" must be an integer in [{}, {}]{}",
                                  where.string(), key, min_value, max_value,
                                  it == options.end() ? " (missing)" : ", got " + it->dump()));
  }
  return it->get<int>();
}

float option_float(const nlohmann::json& options, const char* key,
                   const std::filesystem::path& where) {
  const auto it = options.find(key);
  if (it == options.end() || !it->is_number() || !std::isfinite(it->get<double>())) {
    throw core::Error(fmt::format("{}: option \"{}\" must be a number", where.string(), key));
  }
  return it->get<float>();
}

void check_parameter_budget(const std::filesystem::path& dir, const std::string& file,
                            const std::filesystem::path& sidecar, double parameters) {
  const std::filesystem::path path = dir / file;
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec) throw core::Error(fmt::format("{}: model parameters file not found", path.string()));
  // LibTorch stores float32 tensors uncompressed: a file smaller than the architecture's
  // parameters cannot hold them, and building that network first could exhaust memory.
  if (parameters * 4.0 > static_cast<double>(bytes) + 4096.0) {
    throw core::Error(fmt::format(
        "{}: the architecture it describes needs {:.0f} parameters ({:.1f} MB), but {} holds "
        "{} bytes",
        sidecar.string(), parameters, parameters * 4.0 / 1e6, path.string(), bytes));
  }
}

void check_score_input(std::string_view model, const data::Matrix& x,
                       std::span<const std::int32_t> group, std::size_t features) {
  if (features == 0) {
    throw core::Error(fmt::format("{}: the model is not trained or loaded", model));
  }
  if (x.rows > 0 && x.cols != features) {
    throw core::Error(fmt::format("{}: input has {} features, the model was trained on {}", model,
                                  x.cols, features));
  }
  if (!group.empty() && group.size() != x.rows) {
    throw core::Error(
        fmt::format("{}: {} group ids for {} rows to score", model, group.size(), x.rows));
  }
}

}  // namespace netsentry::ml::neural
