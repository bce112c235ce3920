// Provides server::SessionTable, the browser sessions of a token-protected server: the page's
// login step (POST /api/login with the token) creates one and the server sets its id as an
// HttpOnly, SameSite=Strict cookie, so the token itself never travels in a URL (history, logs,
// Referer) and scripts on the page cannot read the session. Ids are 256 random bits from the
// kernel; a session ends after its lifetime, on logout, or when the table is full and it is the
// oldest (the table is bounded: a flood of logins cannot grow memory).
// Also cookie_value(), the one Cookie header parser the server uses.
// Thread rules: every method may be called from any thread (mutex_ guards the table).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace netsentry::server {

// The value of cookie `name` in a Cookie request header ("a=1; name=value; b=2"), or nullopt.
[[nodiscard]] std::optional<std::string_view> cookie_value(std::string_view header,
                                                           std::string_view name);

class SessionTable final {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::string_view kCookieName = "netsentry_session";

  explicit SessionTable(std::chrono::seconds lifetime = std::chrono::hours(12),
                        std::size_t capacity = 256)
      : lifetime_(lifetime), capacity_(capacity) {}

  // A new session's id (64 hex digits). Throws core::Error when the kernel has no randomness.
  [[nodiscard]] std::string create();
  // True when `id` names a live session.
  [[nodiscard]] bool valid(std::string_view id) const;
  void revoke(std::string_view id);
  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] std::chrono::seconds lifetime() const { return lifetime_; }

  // The Set-Cookie value that stores `id` in the browser (or, with an empty id, removes it).
  [[nodiscard]] std::string cookie(std::string_view id) const;

 private:
  std::chrono::seconds lifetime_;
  std::size_t capacity_;
  mutable std::mutex mutex_;  // guards expires_
  std::map<std::string, Clock::time_point, std::less<>> expires_;
};

}  // namespace netsentry::server
