// Provides Connection (a socket plus its owning process) and ConnectionReader, which reads
// <proc_root>/net/{tcp,tcp6,udp,udp6} and attaches owners through a ProcessResolver: the
// equivalent of psutil.net_connections(kind="inet"). Tables missing on this kernel (tcp6/udp6 with
// IPv6 disabled) are skipped; a proc root with none of them is a user mistake and throws
// core::Error. Thread rules: not thread-safe; one owner thread calls read().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "host/proc_sockets.h"
#include "host/process_resolver.h"

namespace netsentry::host {

inline constexpr std::int32_t kUnknownPid = -1;

struct Connection {
  SocketEntry socket;
  std::int32_t pid = kUnknownPid;  // psutil's None
  std::string process;             // empty when the owner is unknown
};

struct ConnectionReaderOptions {
  std::filesystem::path proc_root = "/proc";
  // Owner lookup walks every /proc/<pid>/fd; turn it off when only sockets are needed.
  bool resolve_processes = true;
  std::chrono::milliseconds min_rescan_interval{1000};
  std::size_t max_fds_per_scan = 1 << 18;
};

class ConnectionReader final {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  explicit ConnectionReader(ConnectionReaderOptions options = {});

  // Every inet socket of the host at `now`, TCP before UDP, IPv4 before IPv6 (file order within).
  // Throws core::Error when none of the four tables can be read.
  [[nodiscard]] std::vector<Connection> read(TimePoint now);

  [[nodiscard]] std::uint64_t malformed_lines() const { return malformed_lines_; }
  [[nodiscard]] const ProcessResolver& resolver() const { return resolver_; }

 private:
  ConnectionReaderOptions options_;
  ProcessResolver resolver_;
  std::string buffer_;
  std::vector<SocketEntry> sockets_;
  std::uint64_t malformed_lines_ = 0;
};

}  // namespace netsentry::host
