#include "capture/pcap_file_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "capture/file_io.h"
#include "core/error.h"
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
// Large enough for the largest record, small enough to stay in L2 while the decoder reads it.
constexpr std::size_t kBufferBytes = 512 * 1024;
static_assert(kBufferBytes >= kRecordHeaderBytes + kMaxCaplen);
// What a read-back reads at least: the packets asked for after one are often right behind it.
constexpr std::size_t kReadBackWindowBytes = 64 * 1024;

// How a file's record headers read, and the snapshot length libpcap cuts records to.
struct RecordFormat {
  bool swapped;              // written in the other byte order
  std::int64_t fraction_ns;  // nanoseconds per unit of the timestamp's fraction
  std::uint32_t snapshot;

  struct Header {
    std::int64_t ts_ns;
    std::uint32_t caplen;  // as the record says
    std::uint32_t kept;    // what libpcap hands out: at most the snapshot length
    std::uint32_t len;
  };
  // The timestamp as libpcap computes it: its record header has signed 32-bit fields,
  // sign-extended in a file of this host's byte order, while its byte swap yields unsigned values
  // (seconds past 2038 differ).
  [[nodiscard]] Header header(const std::uint8_t* record) const {
    const std::uint32_t sec = load32(record, swapped);
    const std::uint32_t frac = load32(record + 4, swapped);
    const std::int64_t s = swapped ? static_cast<std::int64_t>(sec)
                                   : static_cast<std::int64_t>(static_cast<std::int32_t>(sec));
    const std::int64_t f = swapped ? static_cast<std::int64_t>(frac)
                                   : static_cast<std::int64_t>(static_cast<std::int32_t>(frac));
    const std::uint32_t caplen = load32(record + 8, swapped);
    return {s * 1'000'000'000 + f * fraction_ns, caplen, caplen > snapshot ? snapshot : caplen,
            load32(record + 12, swapped)};
  }
};

// Reads a record again by its offset, with a descriptor of its own, checking that the record
// header there still says what the reader saw.
class PcapReadBack final : public PacketReadBack {
 public:
  PcapReadBack(int fd, const RecordFormat& format) : fd_(fd), format_(format) {}

  std::span<const std::uint8_t> read(std::int64_t file_offset, std::int64_t ts_ns,
                                     std::uint32_t wire_len, std::uint32_t cap_len,
                                     ReadBackWindow& window) const override {
    if (file_offset < static_cast<std::int64_t>(kFileHeaderBytes)) return {};
    const std::size_t need = kRecordHeaderBytes + cap_len;
    const bool held =
        window.start >= 0 && file_offset >= window.start &&
        static_cast<std::size_t>(file_offset - window.start) + need <= window.bytes.size();
    if (!held) {
      window.start = -1;
      window.bytes.resize(std::max(need, kReadBackWindowBytes));
      std::size_t got = 0;
      while (got < need) {
        const ssize_t n = ::pread(fd_.get(), window.bytes.data() + got, window.bytes.size() - got,
                                  static_cast<off_t>(file_offset + static_cast<std::int64_t>(got)));
        if (n > 0) {
          got += static_cast<std::size_t>(n);
        } else if (n == 0 || errno != EINTR) {
          return {};
        }
      }
      window.bytes.resize(got);
      window.start = file_offset;
    }
    const std::uint8_t* record =
        window.bytes.data() + static_cast<std::size_t>(file_offset - window.start);
    const RecordFormat::Header h = format_.header(record);
    if (h.kept != cap_len || h.len != wire_len || h.ts_ns != ts_ns) return {};
    return {record + kRecordHeaderBytes, cap_len};
  }

 private:
  FileDescriptor fd_;
  RecordFormat format_;
};

class PcapFileSource final : public PacketSource {
 public:
  PcapFileSource(int fd, const ClassicPcapLayout& layout, std::string path, net::LinkType link,
                 std::uint32_t snapshot, BpfProgram filter)
      : fd_(fd),
        description_(std::move(path)),
        link_type_(link),
        format_{layout.swapped, layout.nanoseconds ? 1 : 1000, snapshot},
        filter_(std::move(filter)),
        buffer_(new std::uint8_t[kBufferBytes]) {}

  net::LinkType link_type() const override { return link_type_; }

  ReadStatus next(RawPacket& out) override {
    for (;;) {
      if (break_requested_.load(std::memory_order_relaxed)) return ReadStatus::kEnd;
      if (end_ - pos_ < kRecordHeaderBytes && !fill(kRecordHeaderBytes)) {
        if (!failed_ && end_ != pos_) {
          fail(fmt::format("truncated dump file; tried to read {} header bytes, only got {}",
                           kRecordHeaderBytes, end_ - pos_));
        }
        return ReadStatus::kEnd;
      }
      const std::uint8_t* record = buffer_.get() + pos_;
      const RecordFormat::Header h = format_.header(record);
      const std::uint32_t caplen = h.caplen;
      const std::uint32_t snapshot = format_.snapshot;
      if (caplen > kMaxCaplen) {
        fail(caplen > snapshot
                 ? fmt::format("invalid packet capture length {}, bigger than snaplen of {}",
                               caplen, snapshot)
                 : fmt::format("invalid packet capture length {}, bigger than maximum of {}",
                               caplen, kMaxCaplen));
        return ReadStatus::kEnd;
      }
      const std::size_t need = kRecordHeaderBytes + caplen;
      if (end_ - pos_ < need) {
        if (!fill(need)) {
          if (failed_) return ReadStatus::kEnd;
          // libpcap reads at most the snapshot length first, then skips the rest.
          const std::size_t got = end_ - pos_ - kRecordHeaderBytes;
          return truncated(caplen > snapshot && got < snapshot ? snapshot : caplen, got);
        }
        record = buffer_.get() + pos_;  // fill() moved the record to the buffer's start
      }
      // libpcap hands out at most the snapshot length of a longer record.
      const std::uint32_t kept = h.kept;
      const std::uint8_t* data = record + kRecordHeaderBytes;
      // The buffer holds the file's bytes from file_offset_ - end_ on.
      const std::int64_t offset = static_cast<std::int64_t>(file_offset_) -
                                  static_cast<std::int64_t>(end_) +
                                  static_cast<std::int64_t>(record - buffer_.get());
      pos_ += need;

      if (!filter_.empty()) {
        pcap_pkthdr header{};
        header.caplen = kept;
        header.len = h.len;
        if (pcap_offline_filter(filter_.get(), &header, data) == 0) continue;
      }
      ++received_;
      out.ts_ns = h.ts_ns;
      out.wire_len = h.len;
      out.cap_len = kept;
      out.link = link_type_;
      out.bytes = {data, kept};
      out.file_offset = offset;
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

  std::shared_ptr<const PacketReadBack> read_back() const override {
    const int own = ::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0);
    if (own < 0) return nullptr;  // descriptors exhausted: packets are copied instead
    return std::make_shared<PcapReadBack>(own, format_);
  }

 private:
  // Makes at least `need` unread bytes available, moving the unread tail to the buffer's start
  // first; false at the end of the file (or after a read error, which fail() records).
  bool fill(std::size_t need) {
    if (failed_) return false;
    if (pos_ > 0) {
      std::memmove(buffer_.get(), buffer_.get() + pos_, end_ - pos_);
      end_ -= pos_;
      pos_ = 0;
    }
    while (end_ < need) {
      const ssize_t n = ::pread(fd_.get(), buffer_.get() + end_, kBufferBytes - end_, file_offset_);
      if (n > 0) {
        end_ += static_cast<std::size_t>(n);
        file_offset_ += n;
      } else if (n == 0) {
        return false;
      } else if (errno != EINTR) {
        fail(fmt::format("error reading dump file: {}", std::strerror(errno)));
        return false;
      }
    }
    return true;
  }

  ReadStatus truncated(std::uint32_t wanted, std::size_t got) {
    fail(fmt::format("truncated dump file; tried to read {} captured bytes, only got {}", wanted,
                     got));
    return ReadStatus::kEnd;
  }
  // Same wording as the libpcap reader; the input ends here.
  void fail(const std::string& reason) {
    error_ = fmt::format("{}: read error after {} packets: {}", description_, received_, reason);
    failed_ = true;
    pos_ = end_ = 0;
  }

  FileDescriptor fd_;
  std::string description_;
  net::LinkType link_type_;
  RecordFormat format_;
  BpfProgram filter_;
  std::unique_ptr<std::uint8_t[]> buffer_;
  std::size_t pos_ = 0;  // next unread byte in buffer_
  std::size_t end_ = 0;  // end of the bytes read into buffer_
  off_t file_offset_ = kFileHeaderBytes;
  bool failed_ = false;
  std::uint64_t received_ = 0;
  std::string error_;
  std::atomic<bool> break_requested_{false};
};

}  // namespace

std::optional<ClassicPcapLayout> probe_classic_pcap(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  std::uint8_t header[kFileHeaderBytes];
  if (::pread(fd, header, sizeof(header), 0) != static_cast<ssize_t>(sizeof(header))) {
    return std::nullopt;
  }
  ClassicPcapLayout layout;
  const std::uint32_t magic = load32(header, false);
  if (magic == kMagicMicro || magic == kMagicNano) {
    layout.swapped = false;
  } else if (magic == __builtin_bswap32(kMagicMicro) || magic == __builtin_bswap32(kMagicNano)) {
    layout.swapped = true;
  } else {
    return std::nullopt;
  }
  layout.nanoseconds = load32(header, layout.swapped) == kMagicNano;
  const std::uint16_t major = load16(header + 4, layout.swapped);
  const std::uint16_t minor = load16(header + 6, layout.swapped);
  // Before 2.4, caplen and len may be swapped in the records; libpcap's heuristics handle those.
  if (major != 2 || minor != 4) return std::nullopt;
  return layout;
}

std::unique_ptr<PacketSource> open_pcap_file_source(int fd, const ClassicPcapLayout& layout,
                                                    std::string path, net::LinkType link,
                                                    std::uint32_t snapshot, BpfProgram filter) {
  const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) {
    throw core::Error(fmt::format("{}: cannot read capture: {}", path, std::strerror(errno)));
  }
  // A capture that is not in the page cache yet is read front to back.
  ::posix_fadvise(own, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::make_unique<PcapFileSource>(own, layout, std::move(path), link, snapshot,
                                          std::move(filter));
}

}  // namespace netsentry::capture
