// Provides FakeProc, a throwaway directory laid out like /proc for the host tests: net tables,
// /proc/<pid>/comm and /proc/<pid>/fd symlinks. Removed when it goes out of scope.
// Thread rules: test-only, single thread.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace netsentry::host::testing {

class FakeProc {
 public:
  FakeProc() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "netsentry-proc-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    root_ = pattern;
  }
  ~FakeProc() {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }
  FakeProc(const FakeProc&) = delete;
  FakeProc& operator=(const FakeProc&) = delete;

  [[nodiscard]] const std::filesystem::path& root() const { return root_; }

  void write(const std::filesystem::path& relative, std::string_view text) const {
    const auto path = root_ / relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  }

  // Gives process `pid` the name `comm` (created on first use) and an fd pointing at `target`.
  void add_fd(int pid, std::string_view comm, int fd, const std::string& target) const {
    const auto dir = root_ / std::to_string(pid);
    write(dir / "comm", std::string(comm) + "\n");
    std::filesystem::create_directories(dir / "fd");
    std::filesystem::create_symlink(target, dir / "fd" / std::to_string(fd));
  }

 private:
  std::filesystem::path root_;
};

}  // namespace netsentry::host::testing
