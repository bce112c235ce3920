#include "capture/pcapng_file_source.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "capture/file_io.h"
#include "capture/pcap_handle.h"
#include "core/error.h"
#include "fmt/format.h"

namespace netsentry::capture {
namespace {

constexpr std::uint32_t kSectionHeader = 0x0A0D0D0A;
constexpr std::uint32_t kInterfaceDescription = 0x00000001;
constexpr std::uint32_t kObsoletePacket = 0x00000002;
constexpr std::uint32_t kSimplePacket = 0x00000003;
constexpr std::uint32_t kEnhancedPacket = 0x00000006;
constexpr std::uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr std::uint16_t kOptionEnd = 0;
constexpr std::uint16_t kOptionTsResol = 9;
constexpr std::uint16_t kOptionTsOffset = 14;
constexpr std::size_t kMinBlock = 12;  // type, length, trailing length
constexpr std::size_t kInitialBuffer = 1 << 20;
// libpcap's limit on interfaces per section is memory; ours keeps a bound against hostile files.
constexpr std::size_t kMaxInterfaces = 65536;

// pcapng stores LINKTYPE_ values; libpcap's filter compiler takes DLT_ values, which differ for a
// few old link types (libpcap maps them the same way when it reads a file).
int dlt_of_linktype(int linktype) {
  switch (linktype) {
    case 100:
      return DLT_ATM_RFC1483;
    case 101:
      return DLT_RAW;
    case 102:
      return DLT_SLIP_BSDOS;
    case 103:
      return DLT_PPP_BSDOS;
    default:
      return linktype;
  }
}

struct Interface {
  net::LinkType link = net::LinkType::kEthernet;
  int dlt = 1;
  std::uint32_t snaplen = 0;  // 0 = no limit
  // Timestamp units: ns = units * mul / div (one of them 1), plus offset_ns.
  std::uint64_t mul = 1000;
  std::uint64_t div = 1;
  std::int64_t offset_ns = 0;
  std::size_t filter = 0;  // index into filters_ + 1; 0 = none compiled yet
};

class PcapngFileSource final : public PacketSource {
 public:
  PcapngFileSource(int fd, std::string path, std::string filter)
      : fd_(fd), description_(std::move(path)), filter_text_(std::move(filter)) {
    buffer_.resize(kInitialBuffer);
  }

  // Reads the section header and blocks up to the first interface description, so link_type()
  // is known. Throws for a file that is not pcapng as it should be.
  void open() {
    if (!read_block_header()) {
      throw core::Error(fmt::format("{}: cannot read capture: {}", description_,
                                    error_reason_.empty() ? "empty file" : error_reason_));
    }
    while (interfaces_.empty()) {
      const std::uint32_t type = peek_type();
      if (type == kEnhancedPacket || type == kSimplePacket || type == kObsoletePacket) {
        throw core::Error(fmt::format(
            "{}: cannot read capture: a packet block comes before any interface description",
            description_));
      }
      if (!consume_block()) {
        if (failed_) {
          throw core::Error(
              fmt::format("{}: cannot read capture: {}", description_, error_reason_));
        }
        break;  // a file without interfaces holds no packets
      }
      // What follows the first interface is read (and reported) by next().
      if (!interfaces_.empty()) break;
      if (!read_block_header()) {
        if (failed_) {
          throw core::Error(
              fmt::format("{}: cannot read capture: {}", description_, error_reason_));
        }
        break;
      }
    }
    link_type_ = interfaces_.empty() ? net::LinkType::kEthernet : interfaces_.front().link;
    error_.clear();
    error_reason_.clear();
    failed_ = false;
  }

  net::LinkType link_type() const override { return link_type_; }

  ReadStatus next(RawPacket& out) override {
    for (;;) {
      if (break_requested_.load(std::memory_order_relaxed)) return ReadStatus::kEnd;
      if (!have_header_ && !read_block_header()) return ReadStatus::kEnd;
      const std::uint32_t type = peek_type();
      if (type != kEnhancedPacket && type != kSimplePacket && type != kObsoletePacket) {
        if (!consume_block()) return ReadStatus::kEnd;
        continue;
      }
      if (!need(block_len_)) return ReadStatus::kEnd;
      const std::uint8_t* b = buffer_.data() + pos_;
      if (load32(b + block_len_ - 4, swapped_) != block_len_) {
        return fail("packet block: its trailing length differs");
      }
      const std::uint8_t* body = b + 8;
      const std::size_t body_len = block_len_ - kMinBlock;
      std::size_t if_id = 0;
      std::uint64_t units = 0;
      std::uint32_t caplen = 0;
      std::uint32_t len = 0;
      std::size_t data_at = 0;
      if (type == kEnhancedPacket) {
        if (body_len < 20) return fail("enhanced packet block too short");
        if_id = load32(body, swapped_);
        units = static_cast<std::uint64_t>(load32(body + 4, swapped_)) << 32 |
                load32(body + 8, swapped_);
        caplen = load32(body + 12, swapped_);
        len = load32(body + 16, swapped_);
        data_at = 20;
      } else if (type == kObsoletePacket) {
        if (body_len < 20) return fail("packet block too short");
        if_id = load16(body, swapped_);
        units = static_cast<std::uint64_t>(load32(body + 4, swapped_)) << 32 |
                load32(body + 8, swapped_);
        caplen = load32(body + 12, swapped_);
        len = load32(body + 16, swapped_);
        data_at = 20;
      } else {
        if (body_len < 4) return fail("simple packet block too short");
        len = load32(body, swapped_);
        data_at = 4;
        caplen = static_cast<std::uint32_t>(std::min<std::size_t>(len, body_len - 4));
        if (!interfaces_.empty() && interfaces_.front().snaplen != 0) {
          caplen = std::min(caplen, interfaces_.front().snaplen);
        }
      }
      if (if_id >= interfaces_.size()) {
        return fail(fmt::format("a packet names interface {}, but the section describes {}", if_id,
                                interfaces_.size()));
      }
      if (caplen > body_len - data_at) {
        return fail(fmt::format("packet capture length {} is bigger than its block", caplen));
      }
      const Interface& iface = interfaces_[if_id];
      const std::uint8_t* data = body + data_at;
      pos_ += block_len_;
      have_header_ = false;
      if (iface.filter != 0) {
        pcap_pkthdr header{};
        header.caplen = caplen;
        header.len = len;
        if (pcap_offline_filter(filters_[iface.filter - 1]->get(), &header, data) == 0) continue;
      }
      ++received_;
      out.ts_ns = timestamp_ns(iface, units);
      out.wire_len = len;
      out.cap_len = caplen;
      out.link = iface.link;
      out.bytes = {data, caplen};
      out.file_offset = -1;  // not read back: the recorder copies pcapng packets
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
  static std::int64_t timestamp_ns(const Interface& iface, std::uint64_t units) {
    __extension__ using U128 = unsigned __int128;
    const U128 ns = static_cast<U128>(units) * iface.mul / iface.div;
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(ns)) + iface.offset_ns;
  }

  // Records why the input ends here (same wording as the other readers) and returns kEnd.
  ReadStatus fail(const std::string& reason) {
    error_reason_ = reason;
    error_ = fmt::format("{}: read error after {} packets: {}", description_, received_, reason);
    failed_ = true;
    pos_ = end_ = 0;
    have_header_ = false;
    return ReadStatus::kEnd;
  }
  bool failed(const std::string& reason) {
    fail(reason);
    return false;
  }

  // Makes at least `n` unread bytes available; false at the end of the file or on an error.
  bool need(std::size_t n) {
    if (failed_) return false;
    if (end_ - pos_ >= n) return true;
    if (n > buffer_.size()) buffer_.resize(std::max(n, buffer_.size() * 2));
    if (pos_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + pos_, end_ - pos_);
      end_ -= pos_;
      pos_ = 0;
    }
    while (end_ < n) {
      const ssize_t got = ::read(fd_.get(), buffer_.data() + end_, buffer_.size() - end_);
      if (got > 0) {
        end_ += static_cast<std::size_t>(got);
      } else if (got == 0) {
        if (end_ != pos_) {
          fail(fmt::format("truncated file: a block needs {} bytes, only {} remain", n,
                           end_ - pos_));
        }
        return false;
      } else if (errno != EINTR) {
        fail(fmt::format("error reading file: {}", std::strerror(errno)));
        return false;
      }
    }
    return true;
  }

  std::uint32_t peek_type() const { return load32(buffer_.data() + pos_, swapped_); }

  // Reads the next block's type and length (a section header fixes the byte order); checks the
  // length. False at the end of the file or on an error.
  bool read_block_header() {
    if (!need(8)) return false;
    const std::uint8_t* b = buffer_.data() + pos_;
    std::uint32_t type;
    std::memcpy(&type, b, 4);
    if (type == kSectionHeader) {  // the same in both byte orders
      if (!need(12)) return false;
      b = buffer_.data() + pos_;
      const std::uint32_t magic = load32(b + 8, false);
      if (magic == kByteOrderMagic) {
        swapped_ = false;
      } else if (magic == __builtin_bswap32(kByteOrderMagic)) {
        swapped_ = true;
      } else {
        return failed("section header with an unknown byte-order magic");
      }
    } else if (!seen_section_) {
      return failed("not a pcapng file (no section header block)");
    }
    block_len_ = load32(b + 4, swapped_);
    if (block_len_ < kMinBlock || block_len_ % 4 != 0) {
      return failed(
          fmt::format("block of type 0x{:x} has an invalid length {}", peek_type(), block_len_));
    }
    if (block_len_ > kMaxPcapngBlockBytes) {
      return failed(fmt::format("block of {} bytes is larger than the {} bytes we accept",
                                block_len_, kMaxPcapngBlockBytes));
    }
    have_header_ = true;
    return true;
  }

  // Reads a whole non-packet block, handling section headers and interface descriptions.
  bool consume_block() {
    if (!need(block_len_)) return false;
    const std::uint8_t* b = buffer_.data() + pos_;
    const std::uint32_t type = load32(b, swapped_);
    if (load32(b + block_len_ - 4, swapped_) != block_len_) {
      return failed(fmt::format("block of type 0x{:x}: its trailing length differs", type));
    }
    const std::uint8_t* body = b + 8;
    const std::size_t body_len = block_len_ - kMinBlock;
    if (type == kSectionHeader) {
      if (body_len < 16) return failed("section header block too short");
      const std::uint16_t major = load16(body + 4, swapped_);
      if (major != 1) {
        return failed(fmt::format("section header version {} is not supported", major));
      }
      seen_section_ = true;
      interfaces_.clear();  // interface ids restart in each section
    } else if (type == kInterfaceDescription) {
      if (body_len < 8) return failed("interface description block too short");
      if (interfaces_.size() == kMaxInterfaces) return failed("too many interfaces");
      Interface iface;
      iface.dlt = load16(body, swapped_);
      iface.link = net::link_type_of_dlt(iface.dlt);
      iface.snaplen = load32(body + 4, swapped_);
      parse_interface_options(iface, body + 8, body_len - 8);
      iface.filter = filter_for(iface);
      interfaces_.push_back(iface);
    }
    pos_ += block_len_;
    have_header_ = false;
    return !failed_;
  }

  void parse_interface_options(Interface& iface, const std::uint8_t* p, std::size_t len) {
    std::size_t off = 0;
    while (len - off >= 4) {
      const std::uint16_t code = load16(p + off, swapped_);
      const std::uint16_t olen = load16(p + off + 2, swapped_);
      off += 4;
      if (code == kOptionEnd || olen > len - off) break;
      const std::uint8_t* v = p + off;
      if (code == kOptionTsResol && olen >= 1) {
        const unsigned exponent = v[0] & 0x7F;
        if (v[0] & 0x80) {
          // 2^-exponent seconds per unit.
          if (exponent <= 63) {
            iface.mul = 1'000'000'000;
            iface.div = std::uint64_t{1} << exponent;
          }
        } else if (exponent <= 9) {
          std::uint64_t m = 1;
          for (unsigned i = exponent; i < 9; ++i) m *= 10;
          iface.mul = m;
          iface.div = 1;
        } else if (exponent <= 19) {
          std::uint64_t d = 1;
          for (unsigned i = 9; i < exponent; ++i) d *= 10;
          iface.mul = 1;
          iface.div = d;
        }
      } else if (code == kOptionTsOffset && olen >= 8) {
        // Seconds, a 64-bit integer in the section's byte order.
        std::uint64_t raw;
        std::memcpy(&raw, v, 8);
        if (swapped_) raw = __builtin_bswap64(raw);
        iface.offset_ns = static_cast<std::int64_t>(raw) * 1'000'000'000;
      }
      off += (static_cast<std::size_t>(olen) + 3) & ~std::size_t{3};
    }
  }

  // The filter compiled for this interface's link type and snapshot length (shared by
  // interfaces of the same link type), as an index + 1; 0 when there is no filter.
  std::size_t filter_for(const Interface& iface) {
    if (filter_text_.empty()) return 0;
    for (std::size_t i = 0; i < filter_dlts_.size(); ++i) {
      if (filter_dlts_[i] == iface.dlt) return i + 1;
    }
    PcapHandle dead(pcap_open_dead(dlt_of_linktype(iface.dlt),
                                   iface.snaplen == 0 ? 262144 : static_cast<int>(iface.snaplen)));
    if (!dead.get()) throw core::Error(fmt::format("{}: cannot compile the filter", description_));
    filters_.push_back(std::make_unique<BpfProgram>(compile_filter(
        dead.get(), filter_text_, fmt::format("{} (link type {})", description_, iface.dlt))));
    filter_dlts_.push_back(iface.dlt);
    return filters_.size();
  }

  FileDescriptor fd_;
  std::string description_;
  std::string filter_text_;
  std::vector<std::uint8_t> buffer_;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  bool have_header_ = false;
  std::uint32_t block_len_ = 0;
  bool swapped_ = false;
  bool seen_section_ = false;
  std::vector<Interface> interfaces_;
  std::vector<std::unique_ptr<BpfProgram>> filters_;
  std::vector<int> filter_dlts_;
  net::LinkType link_type_ = net::LinkType::kEthernet;
  bool failed_ = false;
  std::uint64_t received_ = 0;
  std::string error_;
  std::string error_reason_;
  std::atomic<bool> break_requested_{false};
};

}  // namespace

bool probe_pcapng(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  std::uint8_t header[4];
  if (::pread(fd, header, sizeof(header), 0) != static_cast<ssize_t>(sizeof(header))) return false;
  std::uint32_t type;
  std::memcpy(&type, header, 4);
  return type == kSectionHeader;
}

std::unique_ptr<PacketSource> open_pcapng_file_source(int fd, std::string path,
                                                      const std::string& filter) {
  const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) {
    throw core::Error(fmt::format("{}: cannot read capture: {}", path, std::strerror(errno)));
  }
  // The duplicate shares the file offset; read from the start whatever the caller did.
  ::lseek(own, 0, SEEK_SET);
  ::posix_fadvise(own, 0, 0, POSIX_FADV_SEQUENTIAL);
  auto source = std::make_unique<PcapngFileSource>(own, std::move(path), filter);
  source->open();
  return source;
}

}  // namespace netsentry::capture
