// Provides store::AlertLog, the alerts.csv file, as a detect::AlertSink: one row per step of an
// alert's life, with the columns
//   timestamp, severity, kind, src_ip, src_port, dst_ip, dst_port, protocol, score, votes, count,
//   reason
// (the contract, in that order) followed by id, interface, last_seen, voters, models,
// evidence (the strongest evidence's feature deviations), change, state, host, role, revision, why
// (every piece of evidence: "kind THREAT confidence: description", "; "-separated).
// Rows: when an alert is raised, escalated and goes past, and while it stays engaged at most one
// update row per update_interval of packet time (its last_seen), so a long flood reads as a few
// rows with growing counts, and a replay gives the same rows. At the end (flush()) an engaged
// alert whose latest update was not written yet gets its row, so the file ends with every alert's
// final numbers. `timestamp` is the alert's first
// evidence in every row of it; `id` ties the rows of one alert together.
// Timestamps are RFC 3339 UTC with milliseconds (core::format_utc, as in every other alert
// output; only the seed's network_*.csv files keep Python's local time); an unknown
// address or a port of 0 is an empty field; models read "isolation_forest=0.8123/0.6000 yes;
// lstm=0.1000/0.5000 no" (score/threshold vote) and evidence "Flow Packets/s=12000 (expected 35,
// deviation 8.1); ...". Written through CsvWriter: RFC 4180 quoting, header once, append across
// restarts, size rotation, a full disk kept in health() (rows wait in memory); rows are flushed
// at least once a second of wall time (tail -f works).
// An alerts.csv with an older header is moved aside to alerts.csv.old and a new file started.
// Thread rules: not thread-safe; one owner (the detection stage) calls every method.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "detect/alert.h"
#include "detect/sinks.h"
#include "store/csv_writer.h"

namespace netsentry::store {

struct AlertLogOptions {
  std::filesystem::path directory = ".";
  std::uint64_t max_bytes = 0;  // 0: never rotate
  std::size_t keep = 5;
  std::int64_t update_interval_ns = 60'000'000'000;  // packet time between update rows
  std::chrono::milliseconds flush_interval{1000};    // wall time between flushes of new rows
};

class AlertLog final : public detect::AlertSink {
 public:
  static constexpr std::string_view kFile = "alerts.csv";

  // Creates the directory if needed and opens (or appends to) alerts.csv. Throws core::Error
  // naming the path when it cannot.
  explicit AlertLog(const AlertLogOptions& options);

  void on_alert(const detect::Alert& alert, detect::AlertChange change) override;
  // Flushes when rows wait and flush_interval passed since the last flush.
  void tick() override;
  // End of input: writes the rows of updates held back, then the buffered rows. A write failure
  // is kept in health(), not thrown (see CsvWriter).
  void flush() override;

  // One row, whatever the change (for tests and tools).
  void write(const detect::Alert& alert, detect::AlertChange change = detect::AlertChange::kRaised);
  // Any thread.
  [[nodiscard]] WriterHealth health() const { return writer_.health(); }

  [[nodiscard]] const std::filesystem::path& path() const { return writer_.path(); }

 private:
  AlertLogOptions options_;
  CsvWriter writer_;
  void write_out();  // the buffered rows to the file

  std::unordered_map<std::int64_t, std::int64_t> last_row_ns_;  // engaged alert id -> last_seen
  // Engaged alerts' latest update not written (held back by update_interval), by id: std::map,
  // so the end writes them in id order.
  std::map<std::int64_t, detect::Alert> held_;
  std::chrono::steady_clock::time_point flushed_{};
  bool dirty_ = false;
  std::string models_;
  std::string evidence_;
  std::string why_;
};

}  // namespace netsentry::store
