// Provides store::AlertLog, the alerts.csv file: one row per alert with the columns
//   timestamp, severity, kind, src_ip, src_port, dst_ip, dst_port, protocol, score, votes, count,
//   reason
// (the contract, in that order) followed by id, interface, last_seen, voters, models,
// evidence. Timestamps are local time printed like the other CSV files (format_timestamp); an
// unknown address or a port of 0 is an empty field; models read "isolation_forest=0.8123/0.6000
// yes; lstm=0.1000/0.5000 no" (score/threshold vote) and evidence "Flow Packets/s=12000
// (expected 35, deviation 8.1); ...". Written through CsvWriter: RFC 4180 quoting, header once,
// append across restarts, size rotation.
// Thread rules: not thread-safe; one owner (the writer thread) calls every method.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "detect/alert.h"
#include "store/csv_writer.h"

namespace netsentry::store {

struct AlertLogOptions {
  std::filesystem::path directory = ".";
  std::uint64_t max_bytes = 0;  // 0: never rotate
  std::size_t keep = 5;
};

class AlertLog final {
 public:
  static constexpr std::string_view kFile = "alerts.csv";

  // Creates the directory if needed and opens (or appends to) alerts.csv. Throws core::Error
  // naming the path when it cannot, or when an existing file has a different header.
  explicit AlertLog(const AlertLogOptions& options);

  void write(const detect::Alert& alert);
  // A write failure is kept in health(), not thrown (see CsvWriter).
  void flush();
  // Any thread.
  [[nodiscard]] WriterHealth health() const { return writer_.health(); }

  [[nodiscard]] const std::filesystem::path& path() const { return writer_.path(); }

 private:
  CsvWriter writer_;
  std::string models_;
  std::string evidence_;
};

}  // namespace netsentry::store
