#include "app/flow_output.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "core/error.h"
#include "flow/flow_format.h"
#include "fmt/format.h"

namespace netsentry::app {

namespace {
constexpr std::size_t kFlushBytes = 1 << 20;
constexpr std::size_t kMaxPendingBytes = 8 << 20;  // kept while the disk is full
}  // namespace

FlowFileSink::FlowFileSink(const std::string& path, FlowFormat format, bool append,
                           FlowLabeller labeller)
    : path_(path), format_(format), labeller_(std::move(labeller)) {
  bool need_header = format == FlowFormat::kCsv;
  if (path == "-") {
    file_ = stdout;
  } else {
    if (append && std::filesystem::exists(path) && std::filesystem::file_size(path) > 0) {
      need_header = false;
    }
    file_ = std::fopen(path.c_str(), append ? "ab" : "wb");
    if (!file_) throw core::Error(fmt::format("{}: cannot write: {}", path, std::strerror(errno)));
    owns_file_ = true;
    // Our buffer is the buffering: fwrite's count is then exactly what reached the file, so a
    // write that fails part-way can continue from that byte (no row cut in two).
    std::setvbuf(file_, nullptr, _IONBF, 0);
  }
  buffer_.reserve(kFlushBytes + 64 * 1024);
  if (need_header) {
    flow::append_csv_header(buffer_);
    // The header ends with '\n'; the label column goes last so earlier columns keep their place.
    if (labeller_) buffer_.insert(buffer_.size() - 1, ",Label");
  }
}

FlowFileSink::~FlowFileSink() {
  try {
    flush();
  } catch (const core::Error&) {
    // The destructor cannot report; flush() already failed loudly if the caller called it.
  }
  if (owns_file_ && file_) std::fclose(file_);
}

void FlowFileSink::on_flow(flow::FlowRecord&& record) {
  if (failing_ && buffer_.size() >= kMaxPendingBytes) {
    std::lock_guard lock(health_mutex_);
    ++health_.dropped_rows;
    return;
  }
  if (format_ == FlowFormat::kCsv) {
    flow::append_csv_row(record, buffer_);
    if (labeller_) {
      buffer_.pop_back();  // the row's '\n'
      buffer_ += ',';
      flow::append_csv_field(labeller_(record), buffer_);
      buffer_ += '\n';
    }
  } else {
    flow::append_jsonl(record, buffer_);
    if (labeller_) {
      buffer_.resize(buffer_.size() - 2);  // the object's closing "}\n"
      buffer_ += ",\"Label\":\"";
      buffer_ += labeller_(record);  // a kind name: nothing to escape (see FlowLabeller)
      buffer_ += "\"}\n";
    }
  }
  ++written_;
  if (buffer_.size() >= kFlushBytes && !failing_) write_out();
}

store::WriterHealth FlowFileSink::health() const {
  std::lock_guard lock(health_mutex_);
  return health_;
}

void FlowFileSink::write_out() {
  if (buffer_.empty()) return;
  const std::size_t n = std::fwrite(buffer_.data(), 1, buffer_.size(), file_);
  if (n != buffer_.size()) {
    const std::string message =
        fmt::format("{}: write failed: {}", path_ == "-" ? "stdout" : path_, std::strerror(errno));
    std::clearerr(file_);
    if (!keep_going_) {
      buffer_.clear();
      throw core::Error(message);
    }
    // Whole records only in the file: cut a partial one back (shrinking needs no space).
    std::size_t keep = n;
    struct stat info {};
    if (owns_file_ && n > 0 && ::fstat(::fileno(file_), &info) == 0) {
      const std::size_t last_newline = std::string_view(buffer_.data(), n).rfind('\n');
      keep = last_newline == std::string_view::npos ? 0 : last_newline + 1;
      const off_t before = info.st_size - static_cast<off_t>(n);
      if (keep != n && ::ftruncate(::fileno(file_), before + static_cast<off_t>(keep)) != 0) {
        keep = n;
      }
    }
    buffer_.erase(0, keep);
    std::lock_guard lock(health_mutex_);
    if (!failing_) ++health_.faults;
    failing_ = health_.failing = true;
    health_.error = message;
    return;
  }
  buffer_.clear();
  if (failing_) {
    std::lock_guard lock(health_mutex_);
    failing_ = health_.failing = false;
    health_.error.clear();
    spdlog::info("{}: writing again ({} records were dropped while it failed)", path_,
                 health_.dropped_rows);
  }
}

void FlowFileSink::flush() {
  write_out();
  if (failing_) return;
  if (std::fflush(file_) != 0) {
    throw core::Error(
        fmt::format("{}: flush failed: {}", path_ == "-" ? "stdout" : path_, std::strerror(errno)));
  }
}

}  // namespace netsentry::app
