// Provides outputs that appear complete or not at all: write_file_atomically() writes a file under
// a temporary name in the same folder, syncs it and renames it over the target; StagedDirectory
// builds a folder (a model bundle) beside its target and swaps it in on commit(). A failure or a
// crash part-way leaves the previous file or folder as it was, never a truncated one.
// Thread rules: not thread-safe; one owner.
#pragma once

#include <filesystem>
#include <string_view>

namespace netsentry::core {

// Throws core::Error naming `path` when the folder is missing or the write fails.
void write_file_atomically(const std::filesystem::path& path, std::string_view content);

class StagedDirectory final {
 public:
  // Creates an empty staging folder beside `target` (same file system, so the swap is a rename).
  explicit StagedDirectory(std::filesystem::path target);
  // Removes the staging folder unless committed.
  ~StagedDirectory();
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;

  // Where to write the new contents.
  [[nodiscard]] const std::filesystem::path& path() const { return staging_; }
  // Puts the staged folder at `target`. Entries of an existing target that the staged folder
  // lacks (e.g. a bundle's traffic/ forecaster) are carried over; the rest of the old folder is
  // removed. Throws core::Error (the old folder stays) when the swap fails.
  void commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path staging_;
  bool committed_ = false;
};

}  // namespace netsentry::core
