// Provides capture::PacketBatch (packets copied out of the recorder) and capture_file_image(),
// which turns a batch into the bytes of a capture file: classic pcap with nanosecond timestamps
// (magic 0xa1b23c4d) when every packet has the same link type, pcapng with one interface per link
// type otherwise. Both open in tcpdump, tshark, Wireshark and netsentry itself.
// Thread rules: plain values and a pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "capture/packet_recorder.h"

namespace netsentry::capture {

class PacketBatch {
 public:
  struct Item {
    std::int64_t ts_ns = 0;
    std::uint32_t wire_len = 0;
    int link_type = 0;
    std::size_t offset = 0;  // into bytes()
    std::uint32_t cap_len = 0;
  };

  // Copies the packet in.
  void add(const RecordedPacket& packet);
  [[nodiscard]] const std::vector<Item>& items() const { return items_; }
  [[nodiscard]] const std::vector<std::uint8_t>& bytes() const { return bytes_; }
  [[nodiscard]] std::size_t size() const { return items_.size(); }
  [[nodiscard]] bool empty() const { return items_.empty(); }
  // Captured bytes held (what a file of this batch costs, give or take 16-32 bytes a packet).
  [[nodiscard]] std::size_t byte_count() const { return bytes_.size(); }

 private:
  std::vector<Item> items_;
  std::vector<std::uint8_t> bytes_;
};

// The 24-byte header of a classic pcap file with nanosecond timestamps, and the records of
// `batch` in that format appended to `out` (every packet is written with its own link type
// ignored: the caller keeps one link type per file).
[[nodiscard]] std::string classic_pcap_header(int link_type, std::uint32_t snaplen);
void append_classic_pcap_records(std::string& out, const PacketBatch& batch);
// One packet's classic pcap record appended to `out`, straight from the recorder (no batch copy).
void append_classic_pcap_record(std::string& out, const RecordedPacket& packet);

// The file image of `batch` in the order given. `snaplen` goes into the header(s): the longest
// packet the capture could have kept.
[[nodiscard]] std::string capture_file_image(const PacketBatch& batch, std::uint32_t snaplen);

}  // namespace netsentry::capture
