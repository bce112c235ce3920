#include "host/process_resolver.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <memory>
#include <string_view>

#include "host/proc_file.h"

namespace netsentry::host {
namespace {

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};
using DirHandle = std::unique_ptr<DIR, DirCloser>;

bool parse_pid(std::string_view name, std::int32_t& pid) {
  const auto* end = name.data() + name.size();
  const auto [ptr, ec] = std::from_chars(name.data(), end, pid);
  return !name.empty() && ec == std::errc() && ptr == end && pid > 0;
}

// Reads "socket:[12345]" from an fd symlink; returns false for anything that is not a socket.
bool socket_inode(int fd_dir, const char* entry, std::uint64_t& inode) {
  char target[64];
  const ssize_t n = ::readlinkat(fd_dir, entry, target, sizeof target);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof target) return false;
  const std::string_view text(target, static_cast<std::size_t>(n));
  constexpr std::string_view kPrefix = "socket:[";
  if (!text.starts_with(kPrefix) || !text.ends_with(']')) return false;
  const std::string_view digits = text.substr(kPrefix.size(), text.size() - kPrefix.size() - 1);
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), inode);
  return ec == std::errc() && ptr == digits.data() + digits.size();
}

}  // namespace

ProcessResolver::ProcessResolver(ProcessResolverOptions options) : options_(std::move(options)) {}

void ProcessResolver::update(std::span<const SocketEntry> sockets, TimePoint now) {
  bool unknown = false;
  for (const SocketEntry& socket : sockets) {
    // Inode 0 is a socket without an owner (TIME_WAIT); no scan can resolve it.
    if (socket.inode != 0 && !owner_index_.contains(socket.inode) &&
        !unresolved_.contains(socket.inode)) {
      unknown = true;
      break;
    }
  }
  if (!unknown) return;
  // A clock stepped backwards must not freeze rescans until it catches up.
  const bool due =
      !scanned_ || now < last_scan_ || now - last_scan_ >= options_.min_rescan_interval;
  if (!due) return;
  last_scan_ = now;
  scanned_ = true;
  scan(sockets);
}

const ProcessInfo* ProcessResolver::find(std::uint64_t inode) const {
  const auto it = owner_index_.find(inode);
  return it == owner_index_.end() ? nullptr : &processes_[it->second];
}

void ProcessResolver::scan(std::span<const SocketEntry> sockets) {
  ++scans_;
  // Only inodes we were asked about are recorded, so the maps stay as small as the socket list.
  std::unordered_set<std::uint64_t> wanted;
  wanted.reserve(sockets.size());
  for (const SocketEntry& socket : sockets) {
    if (socket.inode != 0) wanted.insert(socket.inode);
  }
  processes_.clear();
  owner_index_.clear();
  unresolved_.clear();

  DirHandle proc(::opendir(options_.proc_root.c_str()));
  std::size_t fds_read = 0;
  bool truncated = false;
  std::string comm;
  while (proc && !truncated) {
    const dirent* pid_entry = ::readdir(proc.get());
    if (pid_entry == nullptr) break;
    std::int32_t pid = 0;
    if (!parse_pid(pid_entry->d_name, pid)) continue;

    const std::filesystem::path pid_dir = options_.proc_root / pid_entry->d_name;
    const int fd_dir = ::open((pid_dir / "fd").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_dir < 0) continue;  // vanished, or another user's process
    DirHandle fds(::fdopendir(fd_dir));
    if (!fds) {
      ::close(fd_dir);
      continue;
    }
    std::size_t owner = processes_.size();
    while (const dirent* fd_entry = ::readdir(fds.get())) {
      if (fd_entry->d_name[0] == '.') continue;
      if (++fds_read > options_.max_fds_per_scan) {
        truncated = true;
        break;
      }
      std::uint64_t inode = 0;
      if (!socket_inode(fd_dir, fd_entry->d_name, inode) || !wanted.contains(inode)) continue;
      if (owner == processes_.size()) {
        ProcessInfo& info = processes_.emplace_back();
        info.pid = pid;
        if (!read_proc_file(pid_dir / "comm", comm)) {
          while (!comm.empty() && (comm.back() == '\n' || comm.back() == '\r')) comm.pop_back();
          info.name = comm;
        }
      }
      // A socket shared by several processes (fork) keeps its first owner, like psutil.
      owner_index_.try_emplace(inode, owner);
    }
  }
  if (truncated) ++truncated_scans_;
  for (const std::uint64_t inode : wanted) {
    if (!owner_index_.contains(inode)) unresolved_.insert(inode);
  }
}

}  // namespace netsentry::host
