#include "ml/bundle_manifest.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "ml/bundle.h"

namespace netsentry::ml {
namespace fs = std::filesystem;
using nlohmann::json;

void check_bundle_manifest(const fs::path& dir) {
  if (!fs::is_directory(dir)) {
    throw core::Error(fmt::format(
        "{}: not a folder (a model bundle is a folder with manifest.json)", dir.string()));
  }
  const fs::path path = dir / "manifest.json";
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec)) {
    throw core::Error(
        fmt::format("{}: not a file (a bundle's manifest is a JSON file)", path.string()));
  }
  std::ifstream in(path);
  if (!in) {
    throw core::Error(
        fmt::format("{}: cannot read (is this a model bundle folder?)", path.string()));
  }
  json manifest;
  try {
    manifest = json::parse(in);
  } catch (const json::exception& e) {
    throw core::Error(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
  }
  if (!manifest.is_object() || !manifest.contains("format_version")) {
    throw core::Error(fmt::format("{}: missing \"format_version\"", path.string()));
  }
  const json& version = manifest.at("format_version");
  if (!version.is_number_integer()) {
    throw core::Error(fmt::format("{}: \"format_version\" has the wrong type", path.string()));
  }
  if (version.get<int>() != kBundleFormatVersion) {
    throw core::Error(
        fmt::format("{}: format_version {} is not supported (this netsentry reads {})",
                    path.string(), version.get<int>(), kBundleFormatVersion));
  }
  if (!manifest.contains("models")) {
    throw core::Error(fmt::format("{}: missing \"models\"", path.string()));
  }
  const json& models = manifest.at("models");
  if (!models.is_object() || models.empty()) {
    throw core::Error(fmt::format("{}: \"models\" lists no model", path.string()));
  }
  for (const auto& [name, entry] : models.items()) {
    if (std::find(kModelNames.begin(), kModelNames.end(), name) == kModelNames.end()) {
      throw core::Error(fmt::format("{}: unknown model \"{}\"", path.string(), name));
    }
    if (!entry.is_object() || !entry.contains("file") || !entry.at("file").is_string()) {
      throw core::Error(
          fmt::format("{}: model \"{}\" names no file (\"file\")", path.string(), name));
    }
    for (const char* key : {"file", "weights"}) {
      if (!entry.contains(key)) continue;  // "weights": the plain weights, when saved with them
      if (!entry.at(key).is_string()) {
        throw core::Error(
            fmt::format("{}: model \"{}\": \"{}\" has the wrong type", path.string(), name, key));
      }
      const fs::path file = dir / entry.at(key).get<std::string>();
      if (!fs::exists(file)) {
        throw core::Error(fmt::format("{}: model \"{}\" names {}, which is missing", path.string(),
                                      name, file.string()));
      }
    }
  }
}

}  // namespace netsentry::ml
