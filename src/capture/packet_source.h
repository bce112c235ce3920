// Provides capture::PacketSource, the seam between libpcap and the rest: a live interface or a
// capture file (pcap or pcapng, micro- or nanosecond timestamps) yielding raw packets with
// nanosecond timestamps, plus capture statistics. Only src/capture/ includes libpcap.
// Thread rules: next() and stats() from the one capture thread; break_loop() from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "net/packet.h"

namespace netsentry::capture {

struct RawPacket {
  std::int64_t ts_ns = 0;
  std::uint32_t wire_len = 0;
  std::uint32_t cap_len = 0;
  // The packet's link type: the source's, or in pcapng the link type of its interface.
  net::LinkType link = net::LinkType::kEthernet;
  std::span<const std::uint8_t> bytes;  // valid until the next call to next()
  // Where the source's read_back() finds this packet again (-1: it cannot).
  std::int64_t file_offset = -1;
};

// A caller's window of a file for PacketReadBack::read: the bytes read last and where they start.
struct ReadBackWindow {
  std::vector<std::uint8_t> bytes;
  std::int64_t start = -1;
};

// Reads a packet a file source handed out again, from the file (see PacketSource::read_back).
// Thread rules: read() from any thread, concurrently, each with a window of its own; it outlives
// the source it came from.
class PacketReadBack {
 public:
  virtual ~PacketReadBack() = default;
  // The bytes of the packet at `file_offset` (in `window`, valid until its next use), when the
  // file still holds that record there with this timestamp and these lengths; empty when it does
  // not (the file was changed or truncated since) or cannot be read. Reads the file only when
  // the window does not hold the record, and then a block of the file from it on, so packets
  // asked for in file order mostly come from the window.
  virtual std::span<const std::uint8_t> read(std::int64_t file_offset, std::int64_t ts_ns,
                                             std::uint32_t wire_len, std::uint32_t cap_len,
                                             ReadBackWindow& window) const = 0;
};

struct CaptureStats {
  std::uint64_t received = 0;        // packets handed to us
  std::uint64_t kernel_dropped = 0;  // ps_drop: no room in the kernel buffer
  std::uint64_t if_dropped = 0;      // ps_ifdrop: dropped by the interface/driver
  std::uint64_t queue_dropped = 0;   // dropped by us (pipeline queue full); filled by the pipeline
};

enum class ReadStatus { kPacket, kTimeout, kEnd };

// Thrown when the process may not capture; `monitor` catches it and falls back to counters only.
class PermissionError : public core::Error {
 public:
  using core::Error::Error;
};

class PacketSource {
 public:
  virtual ~PacketSource() = default;
  // The link type of the source (pcapng: of its first interface); each RawPacket carries its own.
  // A link type net::decode does not understand is not an error: its packets are counted.
  [[nodiscard]] virtual net::LinkType link_type() const = 0;
  // kTimeout only for live sources (no packet within the read timeout). A read error in a file
  // (truncated or damaged) ends the input; error() then says what happened.
  virtual ReadStatus next(RawPacket& out) = 0;
  [[nodiscard]] virtual CaptureStats stats() const = 0;
  virtual void break_loop() = 0;
  [[nodiscard]] virtual const std::string& description() const = 0;
  // Non-empty when the input ended because of an error rather than its end.
  [[nodiscard]] virtual const std::string& error() const = 0;
  // For a source reading a regular file whose packets can be read again later (RawPacket::
  // file_offset): the reader that does it. Null for the others (live, pipes, libpcap's reader).
  [[nodiscard]] virtual std::shared_ptr<const PacketReadBack> read_back() const { return nullptr; }
};

struct LiveOptions {
  std::string interface;  // empty: the interface of the default route
  std::string filter;     // BPF expression, empty = everything
  int snaplen = 262144;
  bool promisc = false;
  int timeout_ms = 100;
  int buffer_bytes = 16 << 20;
};

// Opens a capture file; throws core::Error naming the file and the reason. Regular files are read
// by our own readers: classic pcap (records read in large blocks, no copy per packet; the same
// packets, timestamps and errors as libpcap) and pcapng (any number of sections and interfaces,
// each with its own link type, snapshot length and timestamp resolution, which libpcap 1.10
// refuses). Pipes and "-" (stdin) go through libpcap.
std::unique_ptr<PacketSource> open_file(const std::string& path, const std::string& filter = "");
// As open_file, but always through libpcap's stdio reader: the reference that tests and benchmarks
// compare the mapped reader with.
std::unique_ptr<PacketSource> open_file_via_libpcap(const std::string& path,
                                                    const std::string& filter = "");
// Opens a live interface; throws PermissionError (with how to fix it) or core::Error.
std::unique_ptr<PacketSource> open_live(const LiveOptions& options);

// libpcap's version string, e.g. "libpcap version 1.10.3 (with TPACKET_V3)".
std::string library_version();

// The interface of the IPv4 default route (from /proc/net/route), else the first non-loopback
// interface that is up, else "lo".
std::string default_interface(const std::string& proc_root = "/proc");

}  // namespace netsentry::capture
