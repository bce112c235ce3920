#include "host/connection_reader.h"

#include <system_error>

#include "core/error.h"
#include "host/proc_file.h"

namespace netsentry::host {

ConnectionReader::ConnectionReader(ConnectionReaderOptions options)
    : options_(std::move(options)),
      resolver_(ProcessResolverOptions{.proc_root = options_.proc_root,
                                       .min_rescan_interval = options_.min_rescan_interval,
                                       .max_fds_per_scan = options_.max_fds_per_scan}) {}

std::vector<Connection> ConnectionReader::read(TimePoint now) {
  struct Table {
    const char* name;
    Transport transport;
  };
  static constexpr Table kTables[] = {{"tcp", Transport::kTcp},
                                      {"tcp6", Transport::kTcp},
                                      {"udp", Transport::kUdp},
                                      {"udp6", Transport::kUdp}};
  sockets_.clear();
  std::size_t tables_read = 0;
  std::error_code first_error;
  for (const Table& table : kTables) {
    const std::filesystem::path path = options_.proc_root / "net" / table.name;
    if (const std::error_code error = read_proc_file(path, buffer_)) {
      if (!first_error) first_error = error;
      continue;
    }
    ++tables_read;
    malformed_lines_ += parse_proc_sockets(buffer_, table.transport, sockets_);
  }
  if (tables_read == 0) {
    throw core::Error("cannot read socket tables in " + (options_.proc_root / "net").string() +
                      " (tcp, tcp6, udp, udp6): " + first_error.message());
  }

  if (options_.resolve_processes) resolver_.update(sockets_, now);
  std::vector<Connection> connections;
  connections.reserve(sockets_.size());
  for (const SocketEntry& socket : sockets_) {
    Connection& connection = connections.emplace_back();
    connection.socket = socket;
    if (!options_.resolve_processes || socket.inode == 0) continue;
    if (const ProcessInfo* owner = resolver_.find(socket.inode)) {
      connection.pid = owner->pid;
      connection.process = owner->name;
    }
  }
  return connections;
}

}  // namespace netsentry::host
