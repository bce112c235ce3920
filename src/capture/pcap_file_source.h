// Provides the fast reader for classic pcap files (internal to src/capture/; open_file picks it):
// the file is read with large pread() calls into one reused buffer and each packet is a span into
// that buffer, so every byte is copied once (page cache -> buffer) where libpcap's stdio reader
// copies it twice. Its packets, timestamps, filter results and errors are those libpcap gives for
// the same file. pcapng, pipes and stdin stay on libpcap. Each packet carries its record's offset
// in the file, and read_back() gives a reader that reads it again from there (the packet recorder
// keeps a replay's packets as such places instead of copies).
// Why not mmap: on this project's virtual machines the first touch of each mapped 4 KiB page costs
// about 2 us (a shadow page-table fault), five times what read() needs for the whole page.
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
};

// The layout when `fd` is a regular file holding classic pcap 2.4 (any of the four magic numbers);
// nullopt otherwise (pcapng, a pipe, an older format version, too short), which libpcap reads.
// Reads with pread, so the descriptor's offset does not move.
[[nodiscard]] std::optional<ClassicPcapLayout> probe_classic_pcap(int fd);

// Reads the records of the file behind `fd` (duplicated; the caller keeps its own) from byte 24
// on. `snapshot` is the snapshot length libpcap derived from the header (pcap_snapshot).
// Throws core::Error when the descriptor cannot be duplicated.
[[nodiscard]] std::unique_ptr<PacketSource> open_pcap_file_source(
    int fd, const ClassicPcapLayout& layout, std::string path, net::LinkType link,
    std::uint32_t snapshot, BpfProgram filter);

}  // namespace netsentry::capture
