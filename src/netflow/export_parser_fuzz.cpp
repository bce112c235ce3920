// libFuzzer entry point for netflow::ExportParser (NetFlow v5, v9 and IPFIX). The input is a
// sequence of datagrams, each [u16 big-endian length][bytes] (the rest of the input when the length
// runs past it), fed to one parser as if from one exporter, so templates learned from one datagram
// are used by the next. Every datagram is copied into an exactly-sized buffer so the sanitizer sees
// any read past it. Built only by the `fuzz` preset; seeds: tests/netflow/make_corpus.py.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "netflow/export_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  netsentry::netflow::ExportParser parser(netsentry::netflow::ParserOptions{8});
  std::vector<netsentry::netflow::ExportedFlow> out;
  std::size_t at = 0;
  std::uint64_t fed = 0;
  std::size_t bytes = 0;
  while (at < size && fed < 64) {
    std::size_t len = size - at;
    if (size - at >= 2) {
      len = std::min<std::size_t>((std::size_t{data[at]} << 8) | data[at + 1], size - at - 2);
      at += 2;
    }
    auto datagram = std::make_unique<std::uint8_t[]>(len + 1);
    if (len > 0) std::memcpy(datagram.get(), data + at, len);
    parser.parse({datagram.get(), len}, fed % 2 ? "192.0.2.1:2055" : "192.0.2.2:2055", out);
    at += len;
    bytes += len;
    ++fed;
  }
  const auto& s = parser.stats();
  // Invariants for any input; abort() makes libFuzzer keep it.
  const bool counted = s.packets == fed && s.bad_packets <= s.packets && s.records == out.size();
  // A record takes at least one byte of its datagram (v5: 48).
  const bool bounded = out.size() <= bytes && parser.templates() <= 8;
  for (const auto& f : out) {
    const auto family_ok = [](const netsentry::net::IpAddress& a) {
      return a.family == 0 || a.family == 4 || a.family == 6;
    };
    if (!family_ok(f.src) || !family_ok(f.dst)) std::abort();
    (void)netsentry::netflow::to_flow_record(f);
  }
  if (!counted || !bounded) std::abort();
  return 0;
}
