// Builds NetFlow v5, v9 and IPFIX datagrams byte by byte for the parser's tests.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace netsentry::netflow::testing {

class Bytes {
 public:
  Bytes& u8(std::uint32_t v) {
    b_.push_back(static_cast<std::uint8_t>(v));
    return *this;
  }
  Bytes& u16(std::uint32_t v) { return u8(v >> 8).u8(v); }
  Bytes& u32(std::uint32_t v) { return u16(v >> 16).u16(v); }
  Bytes& u64(std::uint64_t v) {
    return u32(static_cast<std::uint32_t>(v >> 32)).u32(static_cast<std::uint32_t>(v));
  }
  Bytes& ip4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return u8(a).u8(b).u8(c).u8(d);
  }
  Bytes& append(const Bytes& other) {
    b_.insert(b_.end(), other.b_.begin(), other.b_.end());
    return *this;
  }
  void put16(std::size_t at, std::uint32_t v) {
    b_[at] = static_cast<std::uint8_t>(v >> 8);
    b_[at + 1] = static_cast<std::uint8_t>(v);
  }
  [[nodiscard]] std::size_t size() const { return b_.size(); }
  [[nodiscard]] const std::vector<std::uint8_t>& data() const { return b_; }
  std::vector<std::uint8_t>& data() { return b_; }

 private:
  std::vector<std::uint8_t> b_;
};

// One v5 record: 10.0.0.1:sport -> 10.0.0.2:dport, first/last in uptime ms.
inline Bytes v5_record(std::uint16_t sport, std::uint16_t dport, std::uint8_t proto,
                       std::uint32_t packets, std::uint32_t octets, std::uint32_t first,
                       std::uint32_t last, std::uint8_t flags = 0x1b) {
  Bytes r;
  r.ip4(10, 0, 0, 1).ip4(10, 0, 0, 2).ip4(0, 0, 0, 0).u16(1).u16(2);
  r.u32(packets).u32(octets).u32(first).u32(last).u16(sport).u16(dport);
  r.u8(0).u8(flags).u8(proto).u8(0).u16(0).u16(0).u8(24).u8(24).u16(0);
  return r;
}

inline Bytes v5_packet(std::initializer_list<Bytes> records, std::uint32_t uptime_ms,
                       std::uint32_t unix_secs) {
  Bytes p;
  p.u16(5).u16(static_cast<std::uint32_t>(records.size())).u32(uptime_ms).u32(unix_secs).u32(0);
  p.u32(1).u8(0).u8(0).u16(0);
  for (const Bytes& r : records) p.append(r);
  return p;
}

// A v9 or IPFIX set header with its length filled in.
inline Bytes set(std::uint16_t id, const Bytes& body) {
  Bytes s;
  s.u16(id).u16(static_cast<std::uint32_t>(body.size() + 4)).append(body);
  return s;
}

// (id, length) pairs; an id with the high bit set takes an enterprise number from `pens`.
inline Bytes template_record(std::uint16_t tid,
                             std::initializer_list<std::pair<std::uint16_t, std::uint16_t>> fields,
                             std::initializer_list<std::uint32_t> pens = {}) {
  Bytes t;
  t.u16(tid).u16(static_cast<std::uint32_t>(fields.size()));
  auto pen = pens.begin();
  for (const auto& [id, len] : fields) {
    t.u16(id).u16(len);
    if ((id & 0x8000) != 0 && pen != pens.end()) t.u32(*pen++);
  }
  return t;
}

inline Bytes v9_packet(std::initializer_list<Bytes> sets, std::uint32_t uptime_ms,
                       std::uint32_t unix_secs, std::uint32_t source = 0) {
  Bytes p;
  p.u16(9).u16(static_cast<std::uint32_t>(sets.size())).u32(uptime_ms).u32(unix_secs).u32(1);
  p.u32(source);
  for (const Bytes& s : sets) p.append(s);
  return p;
}

inline Bytes ipfix_packet(std::initializer_list<Bytes> sets, std::uint32_t export_time,
                          std::uint32_t domain = 0) {
  Bytes p;
  p.u16(10).u16(0).u32(export_time).u32(1).u32(domain);
  for (const Bytes& s : sets) p.append(s);
  p.put16(2, static_cast<std::uint32_t>(p.size()));
  return p;
}

}  // namespace netsentry::netflow::testing
