#include "store/csv_writer.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/error.h"
#include "core/utf8.h"

namespace netsentry::store {
namespace {

// The first line of an existing file, without its line ending; reads at most `limit` bytes.
std::string read_first_line(int fd, std::size_t limit) {
  std::string line;
  char chunk[4096];
  off_t offset = 0;
  while (line.size() < limit) {
    const ssize_t n = ::pread(fd, chunk, sizeof chunk, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    const std::string_view text(chunk, static_cast<std::size_t>(n));
    const auto eol = text.find('\n');
    line.append(text.substr(0, eol));
    if (eol != std::string_view::npos) break;
    offset += n;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

void append_csv_field(std::string& line, std::string_view field) {
  // Process and interface names are any bytes; the file stays UTF-8 (core/utf8.h's policy).
  if (!core::is_valid_utf8(field)) {
    const std::string clean = core::sanitize_utf8(field);
    append_csv_field(line, clean);
    return;
  }
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    line.append(field);
    return;
  }
  line.push_back('"');
  for (const char c : field) {
    if (c == '"') line.push_back('"');
    line.push_back(c);
  }
  line.push_back('"');
}

CsvWriter::CsvWriter(CsvWriterOptions options) : options_(std::move(options)) {
  for (std::size_t i = 0; i < options_.header.size(); ++i) {
    if (i > 0) header_line_.push_back(',');
    append_csv_field(header_line_, options_.header[i]);
  }
  if (!options_.header.empty()) header_line_.push_back('\n');
  header_bytes_ = header_line_.size();
  open();
}

CsvWriter::CsvWriter(CsvWriter&& other) noexcept
    : options_(std::move(other.options_)),
      header_line_(std::move(other.header_line_)),
      buffer_(std::move(other.buffer_)),
      row_(std::move(other.row_)),
      fd_(std::exchange(other.fd_, -1)),
      file_bytes_(other.file_bytes_),
      header_bytes_(other.header_bytes_),
      rotations_(other.rotations_),
      failing_(other.failing_),
      health_(other.health()) {}

CsvWriter::~CsvWriter() {
  try {
    flush();
  } catch (const core::Error&) {
    // Nothing sensible to do in a destructor; callers who care call flush() first.
  }
  close_file();
}

void CsvWriter::fail(std::string_view what, int error) const {
  throw core::Error(options_.path.string() + ": " + std::string(what) + ": " +
                    std::strerror(error));
}

void CsvWriter::close_file() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void CsvWriter::open() {
  fd_ = ::open(options_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot open for appending", errno);
  struct stat info {};
  if (::fstat(fd_, &info) != 0) fail("cannot stat", errno);
  file_bytes_ = static_cast<std::uint64_t>(info.st_size);
  if (file_bytes_ == 0) {
    buffer_.insert(0, header_line_);  // before rows that waited for the file to open
    flush();
    return;
  }

  const int reader = ::open(options_.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (reader < 0) fail("cannot read existing header", errno);
  const std::string found =
      header_line_.empty() ? std::string() : read_first_line(reader, header_line_.size() + 1);
  char last = '\n';
  const bool read_last = ::pread(reader, &last, 1, info.st_size - 1) == 1;
  ::close(reader);
  const std::string_view expected(header_line_.data(),
                                  header_line_.empty() ? 0 : header_line_.size() - 1);
  if (found != expected) {
    close_file();
    constexpr std::size_t kShown = 200;
    const std::string shown = found.size() > kShown ? found.substr(0, kShown) + "..." : found;
    throw core::Error(options_.path.string() + ": existing header \"" + shown +
                      "\" does not match \"" + std::string(expected) +
                      "\"; move the file away or write to another directory");
  }
  // A row cut short by a crash must not swallow the next one.
  if (read_last && last != '\n') buffer_.insert(buffer_.begin(), '\n');
}

void CsvWriter::write_row(std::span<const std::string_view> fields) {
  if (fields.size() != options_.header.size()) {
    throw core::Error(options_.path.string() + ": row has " + std::to_string(fields.size()) +
                      " fields, the header has " + std::to_string(options_.header.size()));
  }
  row_.clear();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) row_.push_back(',');
    append_csv_field(row_, fields[i]);
  }
  row_.push_back('\n');
  append_row();
}

void CsvWriter::write_line(std::string_view line) {
  if (!options_.header.empty()) {
    throw core::Error(options_.path.string() + ": a CSV file takes rows, not lines");
  }
  row_.assign(line);
  row_.push_back('\n');
  append_row();
}

void CsvWriter::append_row() {
  const std::uint64_t size = file_bytes_ + buffer_.size();
  if (options_.max_bytes > 0 && size > header_bytes_ && size + row_.size() > options_.max_bytes &&
      fd_ >= 0) {
    rotate();
  }
  const std::size_t cap = std::max(options_.max_pending_bytes, options_.buffer_bytes);
  if (buffer_.size() + row_.size() > cap) {
    flush();  // the disk may have room again
    if (buffer_.size() + row_.size() > cap) {
      std::lock_guard lock(health_mutex_);
      ++health_.dropped_rows;
      return;
    }
  }
  buffer_.append(row_);
  // While failing, the owner's periodic flush() retries: not a failing syscall per row.
  if (buffer_.size() >= options_.buffer_bytes && !failing_) flush();
}

void CsvWriter::flush() {
  if (buffer_.empty()) return;  // also a moved-from writer, which has no file
  if (fd_ < 0) {
    // Opening failed earlier (after a rotation, or the disk had no room for a new inode).
    try {
      open();
    } catch (const core::Error& e) {
      set_failing(e.what());
      return;
    }
  }
  std::size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      // The file keeps whole rows only: a write that stopped mid-row is cut back to the last
      // line end (shrinking needs no space), and the rest waits in the buffer for the next flush.
      const std::size_t last_newline = std::string_view(buffer_.data(), done).rfind('\n');
      const std::size_t keep = last_newline == std::string_view::npos ? 0 : last_newline + 1;
      if (keep != done && ::ftruncate(fd_, static_cast<off_t>(file_bytes_ + keep)) != 0) {
        buffer_.erase(0, done);  // cannot cut back: go on from the byte that was written
        file_bytes_ += done;
      } else {
        buffer_.erase(0, keep);
        file_bytes_ += keep;
      }
      set_failing(options_.path.string() + ": write failed: " + std::strerror(error));
      return;
    }
    done += static_cast<std::size_t>(n);
  }
  file_bytes_ += done;
  buffer_.clear();
  set_writing();
}

WriterHealth CsvWriter::health() const {
  std::lock_guard lock(health_mutex_);
  return health_;
}

void CsvWriter::set_failing(std::string message) {
  failing_ = true;
  std::lock_guard lock(health_mutex_);
  if (!health_.failing) {
    ++health_.faults;
    spdlog::warn("{} (rows are kept in memory up to {} bytes and written when it works again)",
                 message, options_.max_pending_bytes);
  }
  health_.failing = true;
  health_.error = std::move(message);
}

void CsvWriter::set_writing() {
  failing_ = false;
  std::lock_guard lock(health_mutex_);
  if (!health_.failing) return;
  spdlog::info("{}: writing again ({} rows were dropped while it failed)", options_.path.string(),
               health_.dropped_rows);
  health_.failing = false;
  health_.error.clear();
}

void CsvWriter::rotate() {
  flush();
  if (!buffer_.empty()) return;  // cannot write now: rotate once the disk takes rows again
  close_file();
  const std::string base = options_.path.string();
  const auto numbered = [&base](std::size_t n) { return base + "." + std::to_string(n); };
  if (options_.keep == 0) {
    if (::unlink(base.c_str()) != 0 && errno != ENOENT) fail("cannot remove for rotation", errno);
  } else {
    // The oldest falls off the end; a missing file in the chain is not an error.
    if (::unlink(numbered(options_.keep).c_str()) != 0 && errno != ENOENT) {
      fail("cannot remove " + numbered(options_.keep), errno);
    }
    for (std::size_t n = options_.keep; n > 1; --n) {
      if (::rename(numbered(n - 1).c_str(), numbered(n).c_str()) != 0 && errno != ENOENT) {
        fail("cannot rename " + numbered(n - 1), errno);
      }
    }
    if (::rename(base.c_str(), numbered(1).c_str()) != 0) fail("cannot rotate", errno);
  }
  ++rotations_;
  try {
    open();
  } catch (const core::Error& e) {
    // No room for the new file: flush() retries opening it, and open() puts the header first.
    close_file();
    set_failing(e.what());
  }
}

}  // namespace netsentry::store
