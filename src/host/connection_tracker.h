// Provides ConnectionTracker: turns successive socket lists into change events (the first call
// reports every socket as a snapshot; later calls report opened, state_changed and closed). A
// socket is identified by transport and its local and remote endpoints, not by inode, because the
// kernel drops the inode when a connection enters TIME_WAIT and that is a state change, not a new
// socket. Sockets sharing one identity (SO_REUSEPORT listeners) are reported once.
// Memory is bounded by max_tracked: sockets past the cap are not tracked and are counted; sockets
// already tracked keep their place so a busy host does not produce spurious closed events.
// Thread rules: not thread-safe; one owner thread calls update().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "host/connection_reader.h"

namespace netsentry::host {

enum class ConnectionEventKind : std::uint8_t { kSnapshot, kOpened, kStateChanged, kClosed };

// "snapshot", "opened", "state_changed", "closed" (the `event` column of network_connections.csv).
[[nodiscard]] std::string_view event_name(ConnectionEventKind kind);

struct ConnectionEvent {
  ConnectionEventKind kind = ConnectionEventKind::kSnapshot;
  // The socket as it is now; for kClosed, as it was last seen.
  Connection connection;
};

class ConnectionTracker final {
 public:
  static constexpr std::size_t kDefaultMaxTracked = 65536;

  explicit ConnectionTracker(std::size_t max_tracked = kDefaultMaxTracked);

  // Events since the previous call, in a deterministic order: state_changed, then snapshot or
  // opened, each in the order of `current`; then closed in the order they were tracked.
  [[nodiscard]] std::vector<ConnectionEvent> update(std::span<const Connection> current);

  [[nodiscard]] std::size_t tracked() const { return tracked_.size(); }
  // Sockets left untracked because the cap was reached, summed over all calls.
  [[nodiscard]] std::uint64_t untracked_total() const { return untracked_total_; }

 private:
  struct Key {
    Transport transport;
    Endpoint local;
    Endpoint remote;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& key) const;
  };
  static Key key_of(const Connection& connection);

  std::size_t max_tracked_;
  bool first_ = true;
  std::vector<Connection> tracked_;
  std::unordered_map<Key, std::size_t, KeyHash> index_;  // key -> tracked_ position
  std::uint64_t untracked_total_ = 0;
};

}  // namespace netsentry::host
