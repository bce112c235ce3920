// Provides TempDir, a scratch folder for fixture CSV files that is removed with the object, and
// datasets_dir(), where the third-party evaluation data lives (empty when absent).
// Thread rules: one TempDir per test.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace netsentry::data::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ns-data-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `content` byte for byte and returns the file's full path.
  std::string write(const std::string& name, std::string_view content) const {
    const auto p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::filesystem::path datasets_dir() {
  if (const char* env = std::getenv("NETSENTRY_DATASETS"); env != nullptr && *env != '\0') {
    return env;
  }
  return std::filesystem::path(NETSENTRY_SOURCE_DIR) / ".." / "shared" / "datasets";
}

}  // namespace netsentry::data::testing
