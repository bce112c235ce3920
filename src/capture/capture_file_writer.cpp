#include "capture/capture_file_writer.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <span>

namespace netsentry::capture {

namespace {

template <typename T>
void put(std::string& out, T value) {
  char raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));  // host byte order: readers detect it from the magic
  out.append(raw, sizeof(T));
}

void pad32(std::string& out) { out.append((4 - out.size() % 4) % 4, '\0'); }

// A classic pcap record: seconds, nanoseconds, captured and original lengths, the bytes.
void append_record(std::string& out, std::int64_t ts_ns, std::uint32_t wire_len,
                   std::span<const std::uint8_t> bytes) {
  const std::int64_t ts = std::max<std::int64_t>(ts_ns, 0);
  const auto cap_len = static_cast<std::uint32_t>(bytes.size());
  put<std::uint32_t>(out, static_cast<std::uint32_t>(ts / 1'000'000'000));
  put<std::uint32_t>(out, static_cast<std::uint32_t>(ts % 1'000'000'000));
  put<std::uint32_t>(out, cap_len);
  put<std::uint32_t>(out, std::max(wire_len, cap_len));
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string classic_pcap(const PacketBatch& batch, std::uint32_t snaplen, int link_type) {
  std::string out = classic_pcap_header(link_type, snaplen);
  append_classic_pcap_records(out, batch);
  return out;
}

std::string pcapng(const PacketBatch& batch, std::uint32_t snaplen) {
  std::string out;
  out.reserve(64 + batch.byte_count() + 36 * batch.size());
  // Section header block.
  put<std::uint32_t>(out, 0x0A0D0D0A);
  put<std::uint32_t>(out, 28);
  put<std::uint32_t>(out, 0x1A2B3C4D);
  put<std::uint16_t>(out, 1);
  put<std::uint16_t>(out, 0);
  put<std::int64_t>(out, -1);  // section length unknown
  put<std::uint32_t>(out, 28);
  // One interface per link type, in order of first appearance, with nanosecond resolution.
  std::map<int, std::uint32_t> interfaces;
  for (const auto& item : batch.items()) {
    if (interfaces.count(item.link_type) != 0) continue;
    const auto id = static_cast<std::uint32_t>(interfaces.size());
    interfaces[item.link_type] = id;
    put<std::uint32_t>(out, 1);   // interface description block
    put<std::uint32_t>(out, 32);  // 20 + if_tsresol option (4 + 4 padded) + end (4)
    put<std::uint16_t>(out, static_cast<std::uint16_t>(item.link_type));
    put<std::uint16_t>(out, 0);
    put<std::uint32_t>(out, snaplen);
    put<std::uint16_t>(out, 9);  // if_tsresol
    put<std::uint16_t>(out, 1);
    out.push_back(9);  // 10^-9 s
    out.append(3, '\0');
    put<std::uint32_t>(out, 0);  // opt_endofopt
    put<std::uint32_t>(out, 32);
  }
  for (const auto& item : batch.items()) {
    const std::uint32_t padded = (item.cap_len + 3) & ~std::uint32_t{3};
    const std::uint32_t length = 32 + padded;
    const auto ts = static_cast<std::uint64_t>(std::max<std::int64_t>(item.ts_ns, 0));
    put<std::uint32_t>(out, 6);  // enhanced packet block
    put<std::uint32_t>(out, length);
    put<std::uint32_t>(out, interfaces[item.link_type]);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(ts >> 32));
    put<std::uint32_t>(out, static_cast<std::uint32_t>(ts & 0xFFFFFFFFu));
    put<std::uint32_t>(out, item.cap_len);
    put<std::uint32_t>(out, std::max(item.wire_len, item.cap_len));
    out.append(reinterpret_cast<const char*>(batch.bytes().data() + item.offset), item.cap_len);
    pad32(out);
    put<std::uint32_t>(out, length);
  }
  return out;
}

}  // namespace

std::string classic_pcap_header(int link_type, std::uint32_t snaplen) {
  std::string out;
  put<std::uint32_t>(out, 0xa1b23c4d);  // nanosecond timestamps
  put<std::uint16_t>(out, 2);
  put<std::uint16_t>(out, 4);
  put<std::int32_t>(out, 0);
  put<std::uint32_t>(out, 0);
  put<std::uint32_t>(out, snaplen);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(link_type));
  return out;
}

void append_classic_pcap_records(std::string& out, const PacketBatch& batch) {
  out.reserve(out.size() + batch.byte_count() + 16 * batch.size());
  for (const auto& item : batch.items()) {
    append_record(out, item.ts_ns, item.wire_len,
                  {batch.bytes().data() + item.offset, item.cap_len});
  }
}

void append_classic_pcap_record(std::string& out, const RecordedPacket& packet) {
  append_record(out, packet.ts_ns, packet.wire_len, packet.bytes());
}

void PacketBatch::add(const RecordedPacket& packet) {
  Item item;
  item.ts_ns = packet.ts_ns;
  item.wire_len = packet.wire_len;
  item.link_type = packet.link_type;
  item.offset = bytes_.size();
  const auto bytes = packet.bytes();
  item.cap_len = static_cast<std::uint32_t>(bytes.size());
  bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
  items_.push_back(item);
}

std::string capture_file_image(const PacketBatch& batch, std::uint32_t snaplen) {
  const auto& items = batch.items();
  const bool one_link = std::all_of(items.begin(), items.end(), [&](const PacketBatch::Item& i) {
    return i.link_type == items.front().link_type;
  });
  // An empty batch is an empty Ethernet capture.
  if (items.empty()) return classic_pcap(batch, snaplen, 1);
  return one_link ? classic_pcap(batch, snaplen, items.front().link_type) : pcapng(batch, snaplen);
}

}  // namespace netsentry::capture
