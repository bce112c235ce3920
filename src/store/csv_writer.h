// Provides store::CsvWriter, an appending RFC 4180 CSV file with a fixed header: fields are quoted
// only when they hold a comma, a double quote, CR or LF (quotes doubled inside); the header is
// written once, when the file is new or empty; reopening an existing file checks its header and
// throws core::Error naming the file when it differs. Rows are buffered (flush() writes them) and
// the file rotates by size: before a row would take it past max_bytes it becomes name.1, older
// files shift up to name.<keep>, and a new file starts with the header. Lines end in "\n".
// Without a header it is a plain line file (JSON lines: the EVE log): nothing is written or
// checked before the first line, and write_line() appends one line; everything else is the same.
// A failing write (disk full, quota, file-size limit, I/O error) never throws: the unwritten rows
// stay buffered, up to max_pending_bytes (whole rows only, so no row is ever cut), later rows
// are counted as dropped, each flush() tries again, and writing resumes once the disk has space;
// health() says so (a warning is logged when a fault starts, a note when it ends).
// Thread rules: not thread-safe; one owner (the writer thread) calls every method except
// health(), which any thread may call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace netsentry::store {

// Appends `field` to `line`, quoted if RFC 4180 requires it.
void append_csv_field(std::string& line, std::string_view field);

struct CsvWriterOptions {
  std::filesystem::path path;
  std::vector<std::string> header;
  std::uint64_t max_bytes = 0;  // 0: never rotate
  std::size_t keep = 5;         // rotated files kept (name.1 newest .. name.<keep> oldest)
  std::size_t buffer_bytes = 64 * 1024;
  // Rows kept in memory while the file cannot be written; past it new rows are dropped.
  std::size_t max_pending_bytes = 1024 * 1024;
};

// A writer's state for reports ("system" alerts, /api/stats). Plain data, copied out.
struct WriterHealth {
  bool failing = false;            // the last write attempt failed
  std::string error;               // "<path>: write failed: No space left on device" while failing
  std::uint64_t faults = 0;        // times writing started failing
  std::uint64_t dropped_rows = 0;  // rows refused while the pending buffer was full
};

class CsvWriter final {
 public:
  // Opens (creating if needed) and validates the file. Throws core::Error on a header mismatch or
  // an I/O failure, with the path in the message.
  explicit CsvWriter(CsvWriterOptions options);
  ~CsvWriter();  // flushes; errors there are lost, so call flush() to see them
  CsvWriter(CsvWriter&& other) noexcept;
  CsvWriter& operator=(CsvWriter&&) = delete;
  CsvWriter(const CsvWriter&) = delete;
  CsvWriter& operator=(const CsvWriter&) = delete;

  // One record; the field count must match the header (core::Error otherwise).
  void write_row(std::span<const std::string_view> fields);
  void write_row(std::initializer_list<std::string_view> fields) {
    write_row(std::span<const std::string_view>(fields.begin(), fields.size()));
  }
  // One line of a file without a header (`line` holds no line break; core::Error with a header).
  void write_line(std::string_view line);
  // Writes buffered rows to the file; on a write failure keeps them and records it (health()).
  void flush();
  // Any thread.
  [[nodiscard]] WriterHealth health() const;

  [[nodiscard]] const std::filesystem::path& path() const { return options_.path; }
  [[nodiscard]] std::uint64_t rotations() const { return rotations_; }

 private:
  void open();
  void append_row();  // row_, rotating first if it would pass max_bytes
  void rotate();
  void close_file() noexcept;
  [[noreturn]] void fail(std::string_view what, int error) const;
  void set_failing(std::string message);
  void set_writing();

  CsvWriterOptions options_;
  std::string header_line_;  // encoded, with its newline
  std::string buffer_;
  std::string row_;
  int fd_ = -1;
  std::uint64_t file_bytes_ = 0;    // on disk, not counting buffer_
  std::uint64_t header_bytes_ = 0;  // what a fresh file holds before any row
  std::uint64_t rotations_ = 0;
  bool failing_ = false;  // the last write failed (owner thread; health_ is the shared copy)
  mutable std::mutex health_mutex_;  // guards health_
  WriterHealth health_;
};

}  // namespace netsentry::store
