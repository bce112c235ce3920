// Provides bus::Spool, the publisher's bounded on-disk queue. Every message a sensor publishes is
// appended here first and removed once JetStream acknowledged it, so a message survives a broker
// outage and a restart of the sensor and is sent in the order it was made.
//
// Layout: <dir>/<16-digit number>.seg files of records, appended in order, and <dir>/head (the
// position of the first record not yet acknowledged, replaced atomically). A record is
// [u32 length][u32 CRC-32 of the body][body]; a torn or damaged tail (a crash mid-write) is cut
// off at the first record that does not check when the spool is opened. Past max_bytes the oldest
// segment is deleted and its unsent records are counted as dropped. Files are written through the
// page cache without fsync: a process crash loses nothing, a power cut may lose the last writes.
//
// Thread rules: every method may be called from any thread (one mutex); the publisher appends
// from its encoder thread and reads and commits from its sender thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace netsentry::bus {

struct SpoolRecord {
  std::string subject;
  std::string id;             // the Nats-Msg-Id
  std::uint8_t encoding = 0;  // bus::Encoding
  std::string payload;

  friend bool operator==(const SpoolRecord&, const SpoolRecord&) = default;
};

struct SpoolOptions {
  std::filesystem::path dir;
  std::uint64_t max_bytes = 1ULL << 30;  // 1 GiB
  // A segment is closed past this size (at most max_bytes / 4, so dropping one frees a part).
  std::uint64_t segment_bytes = 16ULL << 20;
};

struct SpoolStats {
  std::uint64_t bytes = 0;     // unsent bytes on disk
  std::uint64_t messages = 0;  // unsent records
  std::uint64_t appended = 0;  // since open
  std::uint64_t committed = 0;
  std::uint64_t dropped = 0;        // unsent records deleted past max_bytes (since open)
  std::uint64_t recovered = 0;      // unsent records found at open
  std::uint64_t damaged_bytes = 0;  // cut off at open (torn or damaged records)
};

class Spool final {
 public:
  struct Position {
    std::uint64_t segment = 0;
    std::uint64_t offset = 0;
    friend auto operator<=>(const Position&, const Position&) = default;
  };
  // Records read from the head, not yet removed.
  struct Batch {
    std::vector<SpoolRecord> records;
    Position start;
    Position end;
    std::uint64_t bytes = 0;
  };

  // Creates the folder or opens an existing spool (recovering its unsent records). Throws
  // core::Error naming the path when it cannot be created or read.
  explicit Spool(SpoolOptions options);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Appends records in order; drops the oldest segments past max_bytes. Throws core::Error when
  // the disk refuses the write (the caller counts the records as lost).
  void append(std::span<const SpoolRecord> records);
  // Up to max_records records (and about max_bytes) from the head, in order; empty when none.
  [[nodiscard]] Batch peek(std::size_t max_records, std::uint64_t max_bytes);
  // The batch was delivered: the head moves past it (unless segments were dropped meanwhile).
  void commit(const Batch& batch);

  [[nodiscard]] SpoolStats stats() const;
  [[nodiscard]] bool empty() const;

 private:
  struct Segment {
    std::uint64_t number = 0;
    std::uint64_t bytes = 0;    // valid bytes in the file
    std::uint64_t records = 0;  // valid records in the file
  };

  std::filesystem::path segment_path(std::uint64_t number) const;
  void recover();
  void open_tail();
  void drop_oldest_locked();
  void write_head_locked();
  void release_consumed_locked();

  SpoolOptions options_;
  mutable std::mutex mutex_;      // guards everything below
  std::deque<Segment> segments_;  // oldest first; the last one is appended to
  int tail_fd_ = -1;
  Position head_;                    // first unsent record
  std::uint64_t head_records_ = 0;   // records of the head segment before head_.offset
  std::uint64_t total_bytes_ = 0;    // sum of segments_' bytes
  std::uint64_t total_records_ = 0;  // sum of segments_' records
  SpoolStats counters_;
  std::string buffer_;  // append scratch
};

}  // namespace netsentry::bus
