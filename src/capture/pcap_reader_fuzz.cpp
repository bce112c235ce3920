// libFuzzer entry point for the capture file readers (capture::open_file: our classic pcap and
// pcapng readers, libpcap for what they do not take): the input is a whole file, given as an
// in-memory file (memfd), read to its end with every packet decoded. A damaged file must end in
// core::Error or a read error, never a crash, a hang or a read outside the packet. Built only by
// the `fuzz` preset. Seeds: scripts/fuzz-seeds copies small real captures.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "capture/packet_source.h"
#include "core/error.h"
#include "net/decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = ::memfd_create("pcap-fuzz", MFD_CLOEXEC);
  if (fd < 0) return 0;
  std::size_t written = 0;
  while (written < size) {
    const ssize_t n = ::write(fd, data + written, size - written);
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    auto source = netsentry::capture::open_file(path);
    netsentry::capture::RawPacket raw;
    netsentry::net::Packet packet;
    netsentry::net::DecodeStats stats;
    std::uint64_t packets = 0;
    while (source->next(raw) == netsentry::capture::ReadStatus::kPacket) {
      if (raw.bytes.size() != raw.cap_len) std::abort();
      // Touch every byte so the sanitizer checks the span.
      volatile std::uint8_t sum = 0;
      for (const std::uint8_t b : raw.bytes) sum = static_cast<std::uint8_t>(sum + b);
      (void)netsentry::net::decode(raw.link, raw.bytes, raw.wire_len, raw.ts_ns, packet, stats);
      if (++packets > 1'000'000) break;
    }
  } catch (const netsentry::core::Error&) {
    // A clear error for a damaged file is the expected outcome.
  }
  ::close(fd);
  return 0;
}
