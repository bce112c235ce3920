// Provides our pcapng reader (internal to src/capture/; open_file picks it for regular pcapng
// files). libpcap 1.10 stops with "read error" when a file's interfaces differ in link type or
// snapshot length; this reader keeps each interface's link type, snapshot length, timestamp
// resolution (if_tsresol, powers of 10 or 2) and offset (if_tsoffset), across any number of
// sections of either byte order. Enhanced, simple and obsolete packet blocks are read; other
// blocks (name resolution, statistics, secrets, custom) are skipped. A malformed or truncated block
// ends the input with an error naming it, after the packets before it.
// The filter is compiled once per link type met (libpcap's compiler on a dead handle).
// Thread rules: as PacketSource (next() from one thread, break_loop() from any).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "capture/packet_source.h"

namespace netsentry::capture {

// True when the file behind `fd` (a regular file) starts with a pcapng section header block.
[[nodiscard]] bool probe_pcapng(int fd);

// Reads the pcapng file behind `fd` (duplicated; the caller keeps its own). Reads up to the first
// interface description so link_type() is known; throws core::Error naming `path` when the file
// does not start as pcapng should, or the filter does not compile.
[[nodiscard]] std::unique_ptr<PacketSource> open_pcapng_file_source(int fd, std::string path,
                                                                    const std::string& filter);

// The largest block we accept (as libpcap's reader).
inline constexpr std::uint32_t kMaxPcapngBlockBytes = 16u << 20;

}  // namespace netsentry::capture
