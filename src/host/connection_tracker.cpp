#include "host/connection_tracker.h"

#include <algorithm>
#include <utility>

namespace netsentry::host {
namespace {

// FNV-1a over the identifying fields; the endpoints are small fixed-size byte arrays.
void mix(std::size_t& hash, std::uint64_t byte) {
  hash ^= byte;
  hash *= 1099511628211ULL;
}

void mix_endpoint(std::size_t& hash, const Endpoint& endpoint) {
  mix(hash, static_cast<std::uint64_t>(endpoint.ip.family));
  for (const std::uint8_t byte : endpoint.ip.bytes) mix(hash, byte);
  mix(hash, endpoint.port & 0xff);
  mix(hash, endpoint.port >> 8);
}

}  // namespace

std::string_view event_name(ConnectionEventKind kind) {
  switch (kind) {
    case ConnectionEventKind::kSnapshot:
      return "snapshot";
    case ConnectionEventKind::kOpened:
      return "opened";
    case ConnectionEventKind::kStateChanged:
      return "state_changed";
    case ConnectionEventKind::kClosed:
      return "closed";
  }
  return "snapshot";
}

std::size_t ConnectionTracker::KeyHash::operator()(const Key& key) const {
  std::size_t hash = 14695981039346656037ULL;
  mix(hash, static_cast<std::uint64_t>(key.transport));
  mix_endpoint(hash, key.local);
  mix_endpoint(hash, key.remote);
  return hash;
}

ConnectionTracker::Key ConnectionTracker::key_of(const Connection& connection) {
  return Key{connection.socket.transport, connection.socket.local, connection.socket.remote};
}

ConnectionTracker::ConnectionTracker(std::size_t max_tracked) : max_tracked_(max_tracked) {}

std::vector<ConnectionEvent> ConnectionTracker::update(std::span<const Connection> current) {
  std::vector<ConnectionEvent> events;
  std::vector<Connection> next;
  std::unordered_map<Key, std::size_t, KeyHash> next_index;
  next.reserve(std::min(current.size(), max_tracked_));
  next_index.reserve(next.capacity());
  std::vector<bool> seen(tracked_.size(), false);

  // Pass 1 keeps what is already tracked, so the cap never evicts a known socket for a new one.
  std::vector<bool> taken(current.size(), false);
  for (std::size_t i = 0; i < current.size(); ++i) {
    const Key key = key_of(current[i]);
    const auto previous = index_.find(key);
    if (previous == index_.end() || seen[previous->second]) continue;
    seen[previous->second] = true;
    taken[i] = true;
    next_index.emplace(key, next.size());
    next.push_back(current[i]);
    if (tracked_[previous->second].socket.state != current[i].socket.state) {
      events.push_back({ConnectionEventKind::kStateChanged, current[i]});
    }
  }
  // Pass 2 adds new sockets while there is room.
  const ConnectionEventKind new_kind =
      first_ ? ConnectionEventKind::kSnapshot : ConnectionEventKind::kOpened;
  for (std::size_t i = 0; i < current.size(); ++i) {
    if (taken[i]) continue;
    const Key key = key_of(current[i]);
    if (index_.contains(key) || next_index.contains(key)) continue;  // a duplicate identity
    if (next.size() >= max_tracked_) {
      ++untracked_total_;
      continue;
    }
    next_index.emplace(key, next.size());
    next.push_back(current[i]);
    events.push_back({new_kind, current[i]});
  }
  for (std::size_t i = 0; i < tracked_.size(); ++i) {
    if (!seen[i]) events.push_back({ConnectionEventKind::kClosed, std::move(tracked_[i])});
  }

  tracked_ = std::move(next);
  index_ = std::move(next_index);
  first_ = false;
  return events;
}

}  // namespace netsentry::host
