#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "core/error.h"

namespace netsentry::core {
namespace fs = std::filesystem;
namespace {

// ".name.tmp-<pid>-<n>" beside `path`: hidden, unique within and across processes.
fs::path temporary_beside(const fs::path& path, std::string_view kind) {
  static std::atomic<unsigned> counter{0};
  fs::path name = path.filename();
  if (name.empty()) name = path.parent_path().filename();
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::string hidden(".");
  hidden.append(name.string());
  hidden.push_back('.');
  hidden.append(kind);
  hidden.push_back('-');
  hidden.append(std::to_string(::getpid()));
  hidden.push_back('-');
  hidden.append(std::to_string(counter++));
  return parent / hidden;
}

std::string reason(int error) { return std::strerror(error); }

}  // namespace

void write_file_atomically(const fs::path& path, std::string_view content) {
  const fs::path temp = temporary_beside(path, "tmp");
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path.string() + ": cannot write: " + reason(errno));
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      throw Error(path.string() + ": write failed: " + reason(error) + " (the previous file, " +
                  "if any, is unchanged)");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    throw Error(path.string() + ": write failed: " + reason(error));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    throw Error(path.string() + ": cannot replace: " + reason(error));
  }
}

StagedDirectory::StagedDirectory(fs::path target) : target_(std::move(target)) {
  while (!target_.empty() && target_.filename().empty()) target_ = target_.parent_path();  // "a/"
  std::error_code ec;
  if (target_.has_parent_path()) fs::create_directories(target_.parent_path(), ec);
  staging_ = temporary_beside(target_, "staging");
  if (!fs::create_directory(staging_, ec) || ec) {
    throw Error(target_.string() + ": cannot create a folder beside it (" + staging_.string() +
                "): " + (ec ? ec.message() : "it exists"));
  }
}

StagedDirectory::~StagedDirectory() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void StagedDirectory::commit() {
  std::error_code ec;
  if (fs::exists(target_, ec) && !fs::is_directory(target_, ec)) {
    throw Error(target_.string() + ": exists and is not a folder");
  }
  if (fs::is_directory(target_, ec)) {
    // Keep what the new contents do not replace (a forecaster trained separately, notes).
    for (const auto& entry : fs::directory_iterator(target_, ec)) {
      const fs::path dest = staging_ / entry.path().filename();
      if (fs::exists(fs::symlink_status(dest))) continue;
      std::error_code copy_ec;
      fs::copy(entry.path(), dest, fs::copy_options::recursive | fs::copy_options::copy_symlinks,
               copy_ec);
      if (copy_ec) {
        throw Error(target_.string() + ": cannot carry over " + entry.path().filename().string() +
                    ": " + copy_ec.message() + " (the previous folder is unchanged)");
      }
    }
    const fs::path old = temporary_beside(target_, "old");
    fs::rename(target_, old, ec);
    if (ec) throw Error(target_.string() + ": cannot replace: " + ec.message());
    fs::rename(staging_, target_, ec);
    if (ec) {
      std::error_code back;
      fs::rename(old, target_, back);
      throw Error(target_.string() + ": cannot replace: " + ec.message());
    }
    fs::remove_all(old, ec);
  } else {
    fs::rename(staging_, target_, ec);
    if (ec) throw Error(target_.string() + ": cannot create: " + ec.message());
  }
  committed_ = true;
}

}  // namespace netsentry::core
