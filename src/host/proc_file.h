// Provides read_proc_file: reads a whole /proc (or fixture) text file into a caller-owned buffer,
// and next_token, the blank-separated tokenizer the /proc table parsers share.
// /proc files report size 0, so the file is read until EOF rather than by its stat size; the buffer
// keeps its capacity between calls so a once-a-second reader stops allocating after warm-up.
// Thread rules: a free function; callers must not share one buffer between threads.
#pragma once

#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace netsentry::host {

// Replaces `out` with the file's contents. Returns an empty error_code on success, otherwise the
// errno of the failing open/read (ENOENT for a missing file, EACCES for a forbidden one).
[[nodiscard]] std::error_code read_proc_file(const std::filesystem::path& path, std::string& out);

// Splits off the next token separated by spaces, tabs or CRs; returns false when none is left.
inline bool next_token(std::string_view& rest, std::string_view& token) {
  constexpr std::string_view kBlanks = " \t\r";
  const auto start = rest.find_first_not_of(kBlanks);
  if (start == std::string_view::npos) return false;
  rest.remove_prefix(start);
  const auto end = std::min(rest.find_first_of(kBlanks), rest.size());
  token = rest.substr(0, end);
  rest.remove_prefix(end);
  return true;
}

}  // namespace netsentry::host
