#include "app/flow_output.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "flow/flow_format.h"
#include "fmt/format.h"

namespace netsentry::app {

namespace {
constexpr std::size_t kFlushBytes = 1 << 20;
}

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
  if (buffer_.size() >= kFlushBytes) write_out();
}

void FlowFileSink::write_out() {
  if (buffer_.empty()) return;
  const std::size_t n = std::fwrite(buffer_.data(), 1, buffer_.size(), file_);
  if (n != buffer_.size()) {
    const std::string reason = std::strerror(errno);
    buffer_.clear();
    throw core::Error(fmt::format("{}: write failed: {}", path_ == "-" ? "stdout" : path_, reason));
  }
  buffer_.clear();
}

void FlowFileSink::flush() {
  write_out();
  if (std::fflush(file_) != 0) {
    throw core::Error(
        fmt::format("{}: flush failed: {}", path_ == "-" ? "stdout" : path_, std::strerror(errno)));
  }
}

}  // namespace netsentry::app
