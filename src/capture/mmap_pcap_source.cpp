#include "capture/mmap_pcap_source.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <utility>

#include "fmt/format.h"

namespace netsentry::capture {
namespace {

constexpr std::uint32_t kMagicMicro = 0xA1B2C3D4;
constexpr std::uint32_t kMagicNano = 0xA1B23C4D;
constexpr std::size_t kFileHeaderBytes = 24;
constexpr std::size_t kRecordHeaderBytes = 16;
// libpcap's max_snaplen_for_dlt() for every link type we decode (MAXIMUM_SNAPLEN); a record
// claiming more is damaged, and libpcap refuses it with the messages below.
constexpr std::uint32_t kMaxCaplen = 262144;

std::uint32_t load32(const std::uint8_t* p, bool swapped) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return swapped ? __builtin_bswap32(v) : v;
}

class MappedFile {
 public:
  MappedFile(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  ~MappedFile() {
    if (data_) ::munmap(const_cast<std::uint8_t*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  [[nodiscard]] const std::uint8_t* data() const { return data_; }
  [[nodiscard]] std::size_t size() const { return size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

class MappedPcapSource final : public PacketSource {
 public:
  MappedPcapSource(const std::uint8_t* data, std::size_t size, const ClassicPcapLayout& layout,
                   std::string path, net::LinkType link, std::uint32_t snapshot,
                   BpfProgram filter)
      : file_(data, size),
        description_(std::move(path)),
        link_type_(link),
        swapped_(layout.swapped),
        fraction_ns_(layout.nanoseconds ? 1 : 1000),
        snapshot_(snapshot),
        filter_(std::move(filter)) {}

  net::LinkType link_type() const override { return link_type_; }

  ReadStatus next(RawPacket& out) override {
    const std::uint8_t* const base = file_.data();
    const std::size_t size = file_.size();
    for (;;) {
      if (break_requested_.load(std::memory_order_relaxed)) return ReadStatus::kEnd;
      std::size_t left = size - pos_;
      if (left < kRecordHeaderBytes) {
        if (left != 0) {
          fail(fmt::format("truncated dump file; tried to read {} header bytes, only got {}",
                           kRecordHeaderBytes, left));
        }
        return ReadStatus::kEnd;
      }
      const std::uint8_t* record = base + pos_;
      const std::uint32_t sec = load32(record, swapped_);
      const std::uint32_t frac = load32(record + 4, swapped_);
      const std::uint32_t caplen = load32(record + 8, swapped_);
      const std::uint32_t len = load32(record + 12, swapped_);
      left -= kRecordHeaderBytes;
      if (caplen > kMaxCaplen) {
        fail(caplen > snapshot_
                 ? fmt::format("invalid packet capture length {}, bigger than snaplen of {}",
                               caplen, snapshot_)
                 : fmt::format("invalid packet capture length {}, bigger than maximum of {}",
                               caplen, kMaxCaplen));
        return ReadStatus::kEnd;
      }
      std::uint32_t kept = caplen;
      if (caplen > snapshot_) {
        // libpcap hands out at most the snapshot length and skips the rest of the record.
        if (left < snapshot_) return truncated(snapshot_, left);
        kept = snapshot_;
      }
      if (left < caplen) return truncated(caplen, left);
      const std::uint8_t* data = record + kRecordHeaderBytes;
      pos_ += kRecordHeaderBytes + caplen;

      if (!filter_.empty()) {
        pcap_pkthdr header{};
        header.caplen = kept;
        header.len = len;
        if (pcap_offline_filter(filter_.get(), &header, data) == 0) continue;
      }
      ++received_;
      // libpcap's record header holds signed 32-bit fields; keep its sign extension.
      out.ts_ns = static_cast<std::int64_t>(static_cast<std::int32_t>(sec)) * 1'000'000'000 +
                  static_cast<std::int64_t>(static_cast<std::int32_t>(frac)) * fraction_ns_;
      out.wire_len = len;
      out.cap_len = kept;
      out.bytes = {data, kept};
      return ReadStatus::kPacket;
    }
  }

  CaptureStats stats() const override {
    CaptureStats s;
    s.received = received_;
    return s;
  }

  void break_loop() override { break_requested_.store(true, std::memory_order_relaxed); }
  const std::string& description() const override { return description_; }
  const std::string& error() const override { return error_; }

 private:
  ReadStatus truncated(std::uint32_t wanted, std::size_t got) {
    fail(fmt::format("truncated dump file; tried to read {} captured bytes, only got {}", wanted,
                     got));
    return ReadStatus::kEnd;
  }
  // Same wording as the libpcap reader; the input ends here.
  void fail(const std::string& reason) {
    error_ = fmt::format("{}: read error after {} packets: {}", description_, received_, reason);
    pos_ = file_.size();
  }

  MappedFile file_;
  std::string description_;
  net::LinkType link_type_;
  bool swapped_;
  std::int64_t fraction_ns_;
  std::uint32_t snapshot_;
  BpfProgram filter_;
  std::size_t pos_ = kFileHeaderBytes;
  std::uint64_t received_ = 0;
  std::string error_;
  std::atomic<bool> break_requested_{false};
};

}  // namespace

std::optional<ClassicPcapLayout> probe_classic_pcap(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  if (static_cast<std::uint64_t>(st.st_size) < kFileHeaderBytes) return std::nullopt;
  std::uint8_t header[kFileHeaderBytes];
  if (::pread(fd, header, sizeof(header), 0) != static_cast<ssize_t>(sizeof(header))) {
    return std::nullopt;
  }
  ClassicPcapLayout layout;
  layout.file_size = static_cast<std::uint64_t>(st.st_size);
  const std::uint32_t magic = load32(header, false);
  if (magic == kMagicMicro || magic == kMagicNano) {
    layout.swapped = false;
  } else if (magic == __builtin_bswap32(kMagicMicro) || magic == __builtin_bswap32(kMagicNano)) {
    layout.swapped = true;
  } else {
    return std::nullopt;
  }
  layout.nanoseconds = (layout.swapped ? __builtin_bswap32(magic) : magic) == kMagicNano;
  std::uint16_t major;
  std::uint16_t minor;
  std::memcpy(&major, header + 4, 2);
  std::memcpy(&minor, header + 6, 2);
  if (layout.swapped) {
    major = __builtin_bswap16(major);
    minor = __builtin_bswap16(minor);
  }
  // Versions before 2.4 may have caplen and len swapped; libpcap's heuristics handle those.
  if (major != 2 || minor != 4) return std::nullopt;
  return layout;
}

std::unique_ptr<PacketSource> open_mapped_pcap(int fd, const ClassicPcapLayout& layout,
                                               std::string path, net::LinkType link,
                                               std::uint32_t snapshot, BpfProgram filter) {
  const auto size = static_cast<std::size_t>(layout.file_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  if (map == MAP_FAILED) return nullptr;
  ::madvise(map, size, MADV_SEQUENTIAL);
  return std::make_unique<MappedPcapSource>(static_cast<const std::uint8_t*>(map), size, layout,
                                            std::move(path), link, snapshot, std::move(filter));
}

}  // namespace netsentry::capture
