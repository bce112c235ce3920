// Provides ProcessResolver: maps socket inodes to the owning process (pid and /proc/<pid>/comm) by
// scanning /proc/<pid>/fd symlinks ("socket:[inode]"), as psutil does. The scan is the expensive
// part, so it is cached and rate-limited: update() rescans only when it sees an inode that the last
// scan neither resolved nor failed to resolve, and at most once per min_rescan_interval. Each scan
// reads at most max_fds_per_scan descriptors. Processes that vanish or deny access (other users'
// processes without CAP_SYS_PTRACE) are skipped: ownership is best effort.
// Thread rules: not thread-safe; one owner thread calls update() and find().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "host/proc_sockets.h"

namespace netsentry::host {

struct ProcessInfo {
  std::int32_t pid = 0;
  std::string name;  // /proc/<pid>/comm without the newline
};

struct ProcessResolverOptions {
  std::filesystem::path proc_root = "/proc";
  std::chrono::milliseconds min_rescan_interval{1000};
  std::size_t max_fds_per_scan = 1 << 18;
};

class ProcessResolver final {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  explicit ProcessResolver(ProcessResolverOptions options = {});

  // Makes find() answer for `sockets`, rescanning /proc if needed and allowed at `now`.
  void update(std::span<const SocketEntry> sockets, TimePoint now);

  // The owner of `inode` as of the last scan, or nullptr when unknown.
  [[nodiscard]] const ProcessInfo* find(std::uint64_t inode) const;

  [[nodiscard]] std::uint64_t scans() const { return scans_; }
  // Scans that stopped at max_fds_per_scan before visiting every process.
  [[nodiscard]] std::uint64_t truncated_scans() const { return truncated_scans_; }

 private:
  void scan(std::span<const SocketEntry> sockets);

  ProcessResolverOptions options_;
  std::vector<ProcessInfo> processes_;                          // owners found by the last scan
  std::unordered_map<std::uint64_t, std::size_t> owner_index_;  // inode -> processes_ index
  // Inodes the last scan looked for and did not find; seeing them again does not trigger a rescan.
  std::unordered_set<std::uint64_t> unresolved_;
  TimePoint last_scan_{};
  bool scanned_ = false;
  std::uint64_t scans_ = 0;
  std::uint64_t truncated_scans_ = 0;
};

}  // namespace netsentry::host
