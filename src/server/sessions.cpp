#include "server/sessions.h"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "server/request_checks.h"

namespace netsentry::server {

std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const std::size_t end = std::min(header.find(';'), header.size());
    std::string_view pair = header.substr(0, end);
    header.remove_prefix(end == header.size() ? end : end + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = pair.substr(0, eq);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
    if (key != name) continue;
    std::string_view value = pair.substr(eq + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return std::nullopt;
}

std::string SessionTable::create() {
  std::array<unsigned char, 32> raw{};
  std::size_t got = 0;
  while (got < raw.size()) {
    const ssize_t n = ::getrandom(raw.data() + got, raw.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw core::Error(std::string("session id: getrandom: ") + std::strerror(errno));
    got += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(64);
  for (unsigned char c : raw) {
    id.push_back(kHex[c >> 4]);
    id.push_back(kHex[c & 15]);
  }
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  for (auto it = expires_.begin(); it != expires_.end();) {
    it = it->second <= now ? expires_.erase(it) : std::next(it);
  }
  if (expires_.size() >= capacity_) {
    expires_.erase(
        std::min_element(expires_.begin(), expires_.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; }));
  }
  expires_[id] = now + lifetime_;
  return id;
}

bool SessionTable::valid(std::string_view id) const {
  if (id.size() != 64) return false;
  std::lock_guard lock(mutex_);
  const auto it = expires_.find(id);
  // The map lookup is not constant-time, but the id is 256 random bits: guessing a prefix from
  // timing still leaves 2^200 candidates for the rest.
  return it != expires_.end() && it->second > Clock::now() && constant_time_equal(it->first, id);
}

void SessionTable::revoke(std::string_view id) {
  std::lock_guard lock(mutex_);
  if (const auto it = expires_.find(id); it != expires_.end()) expires_.erase(it);
}

std::size_t SessionTable::size() const {
  std::lock_guard lock(mutex_);
  return expires_.size();
}

std::string SessionTable::cookie(std::string_view id) const {
  std::string out(kCookieName);
  out += '=';
  out += id;
  out += "; Path=/; HttpOnly; SameSite=Strict; Max-Age=";
  out += id.empty() ? "0" : std::to_string(lifetime_.count());
  return out;
}

}  // namespace netsentry::server
