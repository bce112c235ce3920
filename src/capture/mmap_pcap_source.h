// Provides the zero-copy reader for classic pcap files (internal to src/capture/; open_file picks
// it): the file is mapped read-only and each packet is a span into the mapping, so no byte is
// copied between the page cache and the decoder. Its packets, timestamps, filter results and
// errors are those libpcap's reader gives for the same file. pcapng, pipes and stdin stay on
// libpcap.
// Thread rules: as PacketSource (next() from one thread, break_loop() from any).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "capture/packet_source.h"
#include "capture/pcap_handle.h"

namespace netsentry::capture {

// The parts of a classic pcap file header the record reader needs.
struct ClassicPcapLayout {
  bool swapped = false;      // written in the other byte order
  bool nanoseconds = false;  // magic 0xa1b23c4d: fractions are nanoseconds
  std::uint64_t file_size = 0;
};

// The layout when `fd` is a regular file holding classic pcap 2.4 (any of the four magic numbers);
// nullopt otherwise (pcapng, a pipe, an older format version, too short), which libpcap reads.
[[nodiscard]] std::optional<ClassicPcapLayout> probe_classic_pcap(int fd);

// Maps the file behind `fd` (which the caller may close afterwards). `snapshot` is the snapshot
// length libpcap derived from the header (pcap_snapshot). Returns nullptr when the file cannot be
// mapped, so the caller can fall back to libpcap.
[[nodiscard]] std::unique_ptr<PacketSource> open_mapped_pcap(int fd, const ClassicPcapLayout& layout,
                                                             std::string path, net::LinkType link,
                                                             std::uint32_t snapshot,
                                                             BpfProgram filter);

}  // namespace netsentry::capture
