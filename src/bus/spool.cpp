#include "bus/spool.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <system_error>

#include "core/error.h"

namespace netsentry::bus {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kRecordHeader = 8;  // length + CRC
constexpr std::uint32_t kMaxRecord = 64U << 20;

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>(v >> 8));
}
std::uint32_t get_u32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint16_t get_u16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

std::uint32_t checksum(const char* data, std::size_t size) {
  return static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(size)));
}

[[noreturn]] void fail(const fs::path& path, std::string_view what) {
  throw core::Error(path.string() + ": " + std::string(what) + ": " + std::strerror(errno));
}

// Reads the whole file (segments are bounded by segment_bytes plus one record).
std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot read the spool");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Parses one record's body at data[0..size); false when it is not a valid body.
bool parse_body(const char* data, std::size_t size, SpoolRecord& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  std::size_t at = 0;
  if (size < 2) return false;
  const std::size_t subject = get_u16(p);
  at = 2;
  if (at + subject + 2 > size) return false;
  out.subject.assign(data + at, subject);
  at += subject;
  const std::size_t id = get_u16(p + at);
  at += 2;
  if (at + id + 1 > size) return false;
  out.id.assign(data + at, id);
  at += id;
  out.encoding = p[at];
  ++at;
  out.payload.assign(data + at, size - at);
  return true;
}

// Scans a segment's bytes: the valid prefix's length and record count; stops at the first record
// that is short, oversized or fails its checksum.
void scan(const std::string& bytes, std::uint64_t& valid, std::uint64_t& records,
          std::uint64_t stop_at = UINT64_MAX) {
  valid = 0;
  records = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  while (valid + kRecordHeader <= bytes.size() && valid < stop_at) {
    const std::uint32_t length = get_u32(p + valid);
    const std::uint32_t crc = get_u32(p + valid + 4);
    if (length > kMaxRecord || valid + kRecordHeader + length > bytes.size()) break;
    if (checksum(bytes.data() + valid + kRecordHeader, length) != crc) break;
    valid += kRecordHeader + length;
    ++records;
  }
}

}  // namespace

Spool::Spool(SpoolOptions options) : options_(std::move(options)) {
  options_.max_bytes = std::max<std::uint64_t>(options_.max_bytes, 64 * 1024);
  options_.segment_bytes =
      std::clamp<std::uint64_t>(options_.segment_bytes, 4096, options_.max_bytes / 4);
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) {
    throw core::Error(options_.dir.string() + ": cannot create the spool folder: " + ec.message());
  }
  recover();
  open_tail();
}

Spool::~Spool() {
  if (tail_fd_ >= 0) ::close(tail_fd_);
}

fs::path Spool::segment_path(std::uint64_t number) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llu.seg", static_cast<unsigned long long>(number));
  return options_.dir / name;
}

void Spool::recover() {
  std::vector<std::uint64_t> numbers;
  for (const auto& entry : fs::directory_iterator(options_.dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != 20 || !name.ends_with(".seg")) continue;
    std::uint64_t n = 0;
    const auto r = std::from_chars(name.data(), name.data() + 16, n);
    if (r.ec == std::errc() && r.ptr == name.data() + 16) numbers.push_back(n);
  }
  std::sort(numbers.begin(), numbers.end());

  Position head{numbers.empty() ? 1 : numbers.front(), 0};
  {
    std::ifstream in(options_.dir / "head");
    Position saved;
    if (in >> saved.segment >> saved.offset) head = saved;
  }
  for (const std::uint64_t n : numbers) {
    const fs::path path = segment_path(n);
    if (n < head.segment) {  // fully sent before the restart
      fs::remove(path);
      continue;
    }
    const std::string bytes = read_file(path);
    Segment seg{n, 0, 0};
    scan(bytes, seg.bytes, seg.records);
    if (seg.bytes < bytes.size()) {
      counters_.damaged_bytes += bytes.size() - seg.bytes;
      if (::truncate(path.c_str(), static_cast<off_t>(seg.bytes)) != 0) {
        fail(path, "cannot cut off a damaged spool record");
      }
    }
    segments_.push_back(seg);
    total_bytes_ += seg.bytes;
    total_records_ += seg.records;
    if (n == head.segment) {
      std::uint64_t consumed_bytes = 0;
      scan(bytes.substr(0, std::min<std::uint64_t>(head.offset, seg.bytes)), consumed_bytes,
           head_records_);
      head.offset = consumed_bytes;  // a record boundary, within the valid part
    }
  }
  if (segments_.empty() || head.segment < segments_.front().number) {
    head = {segments_.empty() ? numbers.empty() ? 1 : numbers.back() + 1 : segments_.front().number,
            0};
    head_records_ = 0;
  }
  head_ = head;
  counters_.recovered = total_records_ - head_records_;
}

void Spool::open_tail() {
  if (segments_.empty() || segments_.back().bytes >= options_.segment_bytes) {
    const std::uint64_t next = segments_.empty() ? head_.segment : segments_.back().number + 1;
    segments_.push_back(Segment{next, 0, 0});
    if (segments_.size() == 1) head_ = {next, 0};
  }
  if (tail_fd_ >= 0) ::close(tail_fd_);
  const fs::path path = segment_path(segments_.back().number);
  tail_fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (tail_fd_ < 0) fail(path, "cannot open the spool segment");
}

void Spool::append(std::span<const SpoolRecord> records) {
  if (records.empty()) return;
  std::lock_guard lock(mutex_);
  std::size_t i = 0;
  while (i < records.size()) {
    // One write per segment's share of the records.
    buffer_.clear();
    std::uint64_t added = 0;
    Segment& tail = segments_.back();
    while (i < records.size() &&
           (added == 0 || tail.bytes + buffer_.size() < options_.segment_bytes)) {
      const SpoolRecord& r = records[i];
      const std::size_t start = buffer_.size();
      put_u32(buffer_, 0);
      put_u32(buffer_, 0);
      put_u16(buffer_, static_cast<std::uint16_t>(std::min<std::size_t>(r.subject.size(), 65535)));
      buffer_.append(r.subject, 0, 65535);
      put_u16(buffer_, static_cast<std::uint16_t>(std::min<std::size_t>(r.id.size(), 65535)));
      buffer_.append(r.id, 0, 65535);
      buffer_.push_back(static_cast<char>(r.encoding));
      buffer_.append(r.payload);
      const auto length = static_cast<std::uint32_t>(buffer_.size() - start - kRecordHeader);
      const std::uint32_t crc = checksum(buffer_.data() + start + kRecordHeader, length);
      for (int b = 0; b < 4; ++b) {
        buffer_[start + b] = static_cast<char>((length >> (8 * b)) & 0xff);
        buffer_[start + 4 + b] = static_cast<char>((crc >> (8 * b)) & 0xff);
      }
      ++added;
      ++i;
    }
    // Room first: the oldest segments go (counted) while the new bytes would pass the cap.
    while (total_bytes_ + buffer_.size() > options_.max_bytes && segments_.size() > 1) {
      drop_oldest_locked();
    }
    std::size_t written = 0;
    while (written < buffer_.size()) {
      const ssize_t n = ::write(tail_fd_, buffer_.data() + written, buffer_.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // Cut a partial record off so the segment stays readable, then report.
        const int saved = errno;
        if (written > 0) {
          (void)::ftruncate(tail_fd_, static_cast<off_t>(segments_.back().bytes));
        }
        errno = saved;
        fail(segment_path(segments_.back().number), "cannot write to the spool");
      }
      written += static_cast<std::size_t>(n);
    }
    Segment& seg = segments_.back();
    seg.bytes += buffer_.size();
    seg.records += added;
    total_bytes_ += buffer_.size();
    total_records_ += added;
    counters_.appended += added;
    if (seg.bytes >= options_.segment_bytes) open_tail();
  }
}

void Spool::drop_oldest_locked() {
  const Segment oldest = segments_.front();
  const bool is_head = oldest.number == head_.segment;
  counters_.dropped += is_head ? oldest.records - head_records_ : oldest.records;
  fs::remove(segment_path(oldest.number));
  total_bytes_ -= oldest.bytes;
  total_records_ -= oldest.records;
  segments_.pop_front();
  if (head_.segment <= oldest.number) {
    head_ = {segments_.front().number, 0};
    head_records_ = 0;
    write_head_locked();
  }
}

Spool::Batch Spool::peek(std::size_t max_records, std::uint64_t max_bytes) {
  std::lock_guard lock(mutex_);
  Batch batch;
  batch.start = head_;
  Position at = head_;
  for (const Segment& seg : segments_) {
    if (seg.number < at.segment) continue;
    if (seg.number > at.segment) at = {seg.number, 0};
    if (at.offset >= seg.bytes) continue;
    // Read only what this batch may take (the rest of a 16 MB segment is read by later batches),
    // more when the next record alone is larger.
    const fs::path path = segment_path(seg.number);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path, "cannot read the spool");
    const std::uint64_t available = seg.bytes - at.offset;
    const std::uint64_t budget = max_bytes > batch.bytes ? max_bytes - batch.bytes : 0;
    std::uint64_t want = std::min<std::uint64_t>(available, budget + 65536);
    std::string bytes;
    const auto read_window = [&] {
      bytes.assign(static_cast<std::size_t>(want), '\0');
      std::size_t got = 0;
      while (got < bytes.size()) {
        const ssize_t n = ::pread(fd, bytes.data() + got, bytes.size() - got,
                                  static_cast<off_t>(at.offset + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
      }
      bytes.resize(got);
    };
    read_window();
    if (bytes.size() >= kRecordHeader) {
      const std::uint64_t first =
          kRecordHeader + get_u32(reinterpret_cast<const unsigned char*>(bytes.data()));
      if (first > bytes.size() && first <= available) {
        want = first;
        read_window();
      }
    }
    ::close(fd);
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t pos = 0;
    bool bad = false;  // a record that cannot be read: the rest of this segment is skipped
    while (pos + kRecordHeader <= bytes.size() && batch.records.size() < max_records &&
           (batch.records.empty() || batch.bytes < max_bytes)) {
      const std::uint32_t length = get_u32(p + pos);
      if (pos + kRecordHeader + length > bytes.size()) {
        bad = pos + kRecordHeader + length > available;
        break;
      }
      SpoolRecord record;
      if (!parse_body(bytes.data() + pos + kRecordHeader, length, record)) {
        bad = true;
        break;
      }
      batch.records.push_back(std::move(record));
      pos += kRecordHeader + length;
      batch.bytes += kRecordHeader + length;
    }
    at.offset += pos;
    batch.end = at;
    if (batch.records.size() >= max_records || batch.bytes >= max_bytes) break;
    // The window ended inside this segment: the next batch goes on from here.
    if (at.offset < seg.bytes && !bad) break;
  }
  if (batch.records.empty()) batch.end = batch.start;
  return batch;
}

void Spool::commit(const Batch& batch) {
  if (batch.records.empty()) return;
  std::lock_guard lock(mutex_);
  if (batch.end <= head_) return;  // segments were dropped past it meanwhile
  const std::uint64_t unsent_before = total_records_ - head_records_;
  if (batch.end.segment == head_.segment && batch.start == head_) {
    head_records_ += batch.records.size();
  } else {
    // The head moves into another segment (or past a drop): count that segment's records before
    // the new head. Once per segment, so the re-read is cheap.
    std::uint64_t valid = 0;
    std::uint64_t records = 0;
    scan(read_file(segment_path(batch.end.segment)), valid, records, batch.end.offset);
    head_records_ = records;
  }
  head_ = batch.end;
  release_consumed_locked();
  counters_.committed += unsent_before - (total_records_ - head_records_);
  write_head_locked();
}

void Spool::release_consumed_locked() {
  // Segments wholly before the head, and a closed head segment that is fully sent, are deleted.
  while (segments_.size() > 1) {
    const Segment& front = segments_.front();
    const bool consumed = front.number < head_.segment ||
                          (front.number == head_.segment && head_.offset >= front.bytes);
    if (!consumed) break;
    fs::remove(segment_path(front.number));
    total_bytes_ -= front.bytes;
    total_records_ -= front.records;
    segments_.pop_front();
    if (head_.segment <= front.number || head_.segment < segments_.front().number) {
      head_ = {segments_.front().number, 0};
      head_records_ = 0;
    }
  }
}

void Spool::write_head_locked() {
  const fs::path tmp = options_.dir / "head.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << head_.segment << ' ' << head_.offset << '\n';
    if (!out) fail(tmp, "cannot write the spool head");
  }
  std::error_code ec;
  fs::rename(tmp, options_.dir / "head", ec);
  if (ec) throw core::Error((options_.dir / "head").string() + ": " + ec.message());
}

SpoolStats Spool::stats() const {
  std::lock_guard lock(mutex_);
  SpoolStats s = counters_;
  std::uint64_t consumed_bytes = 0;
  if (!segments_.empty() && segments_.front().number == head_.segment)
    consumed_bytes = head_.offset;
  s.bytes = total_bytes_ - consumed_bytes;
  s.messages = total_records_ - head_records_;
  return s;
}

bool Spool::empty() const {
  std::lock_guard lock(mutex_);
  return total_records_ == head_records_;
}

}  // namespace netsentry::bus
