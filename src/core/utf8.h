// Provides the one policy for text that comes from the network or from other processes
// (interface names, process names from /proc, query values, CSV cells, labels, HTTP headers):
// it is checked with is_valid_utf8() where a request can be refused (a query value answers 400),
// and everywhere else it is written with every invalid sequence replaced by U+FFFD, at the
// boundary where it leaves as JSON (nlohmann's error_handler_t::replace, which follows the same
// rule) or CSV (sanitize_utf8()). Nothing inside the pipeline rejects or rewrites such text.
// Thread rules: pure functions, any thread.
#pragma once

#include <string>
#include <string_view>

namespace netsentry::core {

// True when `text` is well-formed UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF).
[[nodiscard]] bool is_valid_utf8(std::string_view text);

// `text` with each maximal invalid subsequence replaced by U+FFFD (the Unicode standard's
// "substitution of maximal subparts"); valid text is returned unchanged.
[[nodiscard]] std::string sanitize_utf8(std::string_view text);

// `text` made printable for a one-line message: invalid UTF-8 as U+FFFD, control bytes
// (0x00-0x1F, 0x7F) as \xNN, so an error message never carries raw control bytes to a terminal.
[[nodiscard]] std::string printable(std::string_view text);

}  // namespace netsentry::core
