#include "host/net_dev.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "host/proc_file.h"

namespace netsentry::host {
namespace {

constexpr std::string_view kBlanks = " \t";

bool parse_u64(std::string_view token, std::uint64_t& value) {
  const auto* end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, value);
  return ec == std::errc() && ptr == end;
}

}  // namespace

NetDevTable parse_net_dev(std::string_view text) {
  NetDevTable table;
  // Receive has 8 columns (bytes packets errs drop fifo frame compressed multicast), transmit 8.
  constexpr std::size_t kColumns = 16;
  while (!text.empty()) {
    const auto eol = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == text.size() ? eol : eol + 1);
    // The two header lines ("Inter-|   Receive ...") are the only ones with a '|'.
    if (line.find('|') != std::string_view::npos) continue;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;

    // Interface names cannot contain ':', and large counters may touch it ("eth0:12345 ...").
    const auto colon = line.find(':');
    const auto name_start = line.find_first_not_of(kBlanks);
    if (colon == std::string_view::npos || name_start >= colon) {
      ++table.malformed_lines;
      continue;
    }
    std::string_view rest = line.substr(colon + 1);
    std::array<std::uint64_t, kColumns> values{};
    std::size_t count = 0;
    std::string_view token;
    bool ok = true;
    while (ok && count < kColumns && next_token(rest, token)) {
      if (!token.empty() && token.back() == '\r') token.remove_suffix(1);
      ok = parse_u64(token, values[count++]);
    }
    if (!ok || count != kColumns) {
      ++table.malformed_lines;
      continue;
    }
    InterfaceCounters& counters = table.interfaces.emplace_back();
    counters.name = line.substr(name_start, colon - name_start);
    counters.rx_bytes = values[0];
    counters.rx_packets = values[1];
    counters.rx_errs = values[2];
    counters.rx_drop = values[3];
    counters.tx_bytes = values[8];
    counters.tx_packets = values[9];
    counters.tx_errs = values[10];
    counters.tx_drop = values[11];
  }
  return table;
}

}  // namespace netsentry::host
