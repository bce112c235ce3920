// Provides the parsing the dashboard server does itself on request inputs, as pure functions so
// that they are unit-tested and fuzzed (src/server/http_request_fuzz.cpp) apart from the server:
// Host and Origin/Referer checks (DNS rebinding, CSRF), Accept-Encoding, alert ids, token
// comparison. Thread rules: pure functions, any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace netsentry::server {

// The host part of a Host header value ("[::1]:8050" -> "::1", "Example.org:80" -> "example.org").
[[nodiscard]] std::string host_of(std::string_view host_header);

// The port of "host:port" / "[v6]:port", or `fallback` when none is given.
[[nodiscard]] std::string port_of(std::string_view host_port, std::string_view fallback);

// True when a request with this Host header may be answered: an IP literal (a browser that was
// pointed at an address, never a rebound name), localhost or a name under .localhost, or one of
// `allowed` (case-insensitive).
[[nodiscard]] bool is_allowed_host(std::string_view host_header,
                                   const std::vector<std::string>& allowed);

// True when an Origin ("http://127.0.0.1:8050") or Referer ("http://127.0.0.1:8050/page") names
// the same scheme-less host and port as the request's Host header. "null" and other schemes are
// never the same origin.
[[nodiscard]] bool same_origin(std::string_view origin_or_referer, std::string_view host_header);

// True when an Accept-Encoding value lists gzip without q=0.
[[nodiscard]] bool accepts_gzip(std::string_view accept_encoding);

// A positive decimal id ("17"), or nullopt.
[[nodiscard]] std::optional<std::int64_t> parse_id(std::string_view text);

// Compares without an early exit, so response time does not reveal how much of a guess matched.
[[nodiscard]] bool constant_time_equal(std::string_view given, std::string_view expected);

}  // namespace netsentry::server
