// Test support: writes capture files (classic pcap with micro- or nanosecond timestamps, and
// pcapng) from packets the test builds, so tests run on a fresh clone without third-party captures.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace netsentry::testing {

struct CapturedFrame {
  std::int64_t ts_ns = 0;
  std::vector<std::uint8_t> bytes;
  std::uint32_t wire_len = 0;  // 0 = bytes.size()
};

enum class CaptureFormat { kPcapMicro, kPcapNano, kPcapng };

namespace detail {
inline void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
inline void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}
inline void pad4(std::vector<std::uint8_t>& out) {
  while (out.size() % 4) out.push_back(0);
}
}  // namespace detail

// Writes `frames` to `path`; `linktype` is the DLT (1 = Ethernet).
inline void write_capture(const std::string& path, const std::vector<CapturedFrame>& frames,
                          CaptureFormat format = CaptureFormat::kPcapMicro, int linktype = 1,
                          std::uint32_t snaplen = 262144) {
  using detail::put16;
  using detail::put32;
  std::vector<std::uint8_t> out;
  if (format == CaptureFormat::kPcapng) {
    // Section Header Block
    put32(out, 0x0A0D0D0A);
    put32(out, 28);
    put32(out, 0x1A2B3C4D);
    put16(out, 1);
    put16(out, 0);
    put32(out, 0xFFFFFFFF);
    put32(out, 0xFFFFFFFF);  // section length unknown (-1)
    put32(out, 28);
    // Interface Description Block with if_tsresol = 9 (nanoseconds)
    put32(out, 1);
    put32(out, 32);
    put16(out, static_cast<std::uint16_t>(linktype));
    put16(out, 0);
    put32(out, snaplen);
    put16(out, 9);  // if_tsresol
    put16(out, 1);
    out.push_back(9);
    out.push_back(0);
    out.push_back(0);
    out.push_back(0);
    put16(out, 0);  // opt_endofopt
    put16(out, 0);
    put32(out, 32);
    for (const auto& f : frames) {
      const std::uint32_t cap = static_cast<std::uint32_t>(f.bytes.size());
      const std::uint32_t padded = (cap + 3) & ~3u;
      const std::uint32_t len = 32 + padded;
      put32(out, 6);
      put32(out, len);
      put32(out, 0);  // interface id
      const auto ts = static_cast<std::uint64_t>(f.ts_ns);
      put32(out, static_cast<std::uint32_t>(ts >> 32));
      put32(out, static_cast<std::uint32_t>(ts));
      put32(out, cap);
      put32(out, f.wire_len ? f.wire_len : cap);
      out.insert(out.end(), f.bytes.begin(), f.bytes.end());
      detail::pad4(out);
      put32(out, len);
    }
  } else {
    const bool nano = format == CaptureFormat::kPcapNano;
    put32(out, nano ? 0xA1B23C4D : 0xA1B2C3D4);
    put16(out, 2);
    put16(out, 4);
    put32(out, 0);
    put32(out, 0);
    put32(out, snaplen);
    put32(out, static_cast<std::uint32_t>(linktype));
    for (const auto& f : frames) {
      const std::int64_t sec = f.ts_ns / 1'000'000'000;
      const std::int64_t frac = f.ts_ns % 1'000'000'000;
      put32(out, static_cast<std::uint32_t>(sec));
      put32(out, static_cast<std::uint32_t>(nano ? frac : frac / 1000));
      put32(out, static_cast<std::uint32_t>(f.bytes.size()));
      put32(out, f.wire_len ? f.wire_len : static_cast<std::uint32_t>(f.bytes.size()));
      out.insert(out.end(), f.bytes.begin(), f.bytes.end());
    }
  }
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw std::runtime_error("cannot write " + path);
  file.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
}

}  // namespace netsentry::testing
