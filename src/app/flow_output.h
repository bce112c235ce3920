// Provides FlowFileSink: a flow::FlowSink that writes finished flows to a file (or stdout) as CSV
// or JSON lines, buffering output and flushing on demand, optionally with a last `Label` column
// (`flows --labels`). Used by `flows` and by `monitor`'s writer. Thread rules: one thread at a time
// (the sink's owner).
#pragma once

#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "flow/flow_table.h"
#include "store/csv_writer.h"

namespace netsentry::app {

enum class FlowFormat { kCsv, kJsonl };
// A record's label text (letters, digits, '_', '-', '.'); the view must outlive the call.
using FlowLabeller = std::function<std::string_view(const flow::FlowRecord&)>;

class FlowFileSink final : public flow::FlowSink {
 public:
  // path "-" = stdout. Appends to an existing CSV file without repeating the header when `append`.
  // With a labeller, every record gets a last column "Label" (CSV) / key "Label" (JSON lines).
  // Throws core::Error when the file cannot be opened.
  FlowFileSink(const std::string& path, FlowFormat format, bool append = false,
               FlowLabeller labeller = {});
  ~FlowFileSink() override;
  FlowFileSink(const FlowFileSink&) = delete;
  FlowFileSink& operator=(const FlowFileSink&) = delete;

  void on_flow(flow::FlowRecord&& record) override;
  // Writes buffered records; throws core::Error on a write error (disk full), unless
  // keep_going() was set: then the unwritten bytes wait (whole records, bounded at 8 MiB, later
  // records dropped and counted) for the next flush, and health() tells.
  void flush();
  [[nodiscard]] std::uint64_t written() const { return written_; }
  // monitor: a full disk must not stop monitoring.
  void keep_going() { keep_going_ = true; }
  // Any thread.
  [[nodiscard]] store::WriterHealth health() const;

 private:
  void write_out();

  std::string path_;
  FlowFormat format_;
  FlowLabeller labeller_;
  std::FILE* file_ = nullptr;
  bool owns_file_ = false;
  std::string buffer_;
  std::uint64_t written_ = 0;
  bool keep_going_ = false;
  bool failing_ = false;
  mutable std::mutex health_mutex_;  // guards health_
  store::WriterHealth health_;
};

}  // namespace netsentry::app
