// libFuzzer entry point for the request parsing the dashboard server does itself
// (server/request_checks.h, core/utf8.h): Host, Origin/Referer, Accept-Encoding, alert ids and
// the UTF-8 policy, with their invariants checked. The input is newline-separated fields, seeded
// from captured browser requests. Built only by the `fuzz` preset.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8.h"
#include "server/request_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> fields;
  for (std::size_t start = 0; start <= input.size();) {
    const std::size_t end = std::min(input.find('\n', start), input.size());
    fields.push_back(input.substr(start, end - start));
    start = end + 1;
  }
  const auto field = [&](std::size_t i) { return i < fields.size() ? fields[i] : input; };
  using namespace netsentry;

  const std::string host = server::host_of(field(0));
  for (const char c : host) {
    if (c >= 'A' && c <= 'Z') std::abort();  // host_of lower-cases
  }
  (void)server::port_of(field(0), "80");
  const std::vector<std::string> allowed = {std::string(field(4))};
  const bool allowed_host = server::is_allowed_host(field(0), allowed);
  const bool same = server::same_origin(field(1), field(0));
  // An origin that names another scheme or "null" is never ours.
  if (same && field(1).substr(0, 4) != "http") std::abort();
  (void)allowed_host;
  (void)server::accepts_gzip(field(2));
  if (const auto id = server::parse_id(field(3)); id && *id <= 0) std::abort();
  (void)server::constant_time_equal(field(1), field(2));

  const std::string clean = core::sanitize_utf8(input);
  if (!core::is_valid_utf8(clean)) std::abort();
  if (core::is_valid_utf8(input) && clean != input) std::abort();
  for (const char c : core::printable(input)) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f) std::abort();
  }
  return 0;
}
