// Provides store::SqliteSinks, how the detection stage writes into the SQLite store: alerts (a
// delivery of an id replaces its row in place, so the row shows the latest count, score, state
// and evidence; an engaged alert's plain updates, which come up to once a second of packet time,
// are written at most once per update_interval of packet time, the newest held until then and
// written by flush(): raising, escalation and the past state are written at once), finished
// flows with their verdicts ("anomaly" when the flow gave ML evidence, "benign" when scored
// without, "unscored" otherwise) and traffic samples. The store's health (failed transactions) is
// watched through health().
// Thread rules: the stage calls the sink methods from its thread; health() from the stage's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "detect/sinks.h"
#include "store/sqlite_store.h"

namespace netsentry::store {

// The store's rows for finished flows and their verdicts ("anomaly", "benign", "unscored"; id 0).
void make_flow_rows(std::span<const flow::FlowRecord> flows,
                    std::span<const detect::FlowVerdict> verdicts, std::vector<FlowRow>& rows);

class SqliteSinks final : public detect::AlertSink,
                          public detect::FlowVerdictSink,
                          public detect::TrafficSink {
 public:
  // Packet time between two writes of an engaged alert's plain updates. Each write serialises the
  // alert's evidence list (kilobytes) and rewrites its row: a replay's long flood or transfer
  // alert, updated every packet-time second, spent a third of a benign replay's store writer
  // there. A reader of the store (the `dashboard` command, the hub) sees an engaged alert's count
  // and last-seen at most this old; the monitor's own dashboard shows its live state.
  static constexpr std::int64_t kUpdateIntervalNs = 5'000'000'000;

  explicit SqliteSinks(SqliteStore& store, std::int64_t update_interval_ns = kUpdateIntervalNs)
      : store_(store), update_interval_ns_(update_interval_ns) {}

  void on_alert(const detect::Alert& alert, detect::AlertChange change) override;
  void on_flows(std::span<const flow::FlowRecord> flows,
                std::span<const detect::FlowVerdict> verdicts, float threshold) override;
  void on_traffic(const host::TrafficSample& sample) override;
  // Writes the held updates, then the store's queue.
  void flush() override;

  // Failed transactions so far, as the stage's system alert says them.
  [[nodiscard]] detect::OutputHealth health() const;

  // Called after each batch of flows was queued, with the rows as stored (ids given) and the
  // records they came from (the bus publishes them). Set before the stage starts.
  using RowListener = std::function<void(std::span<const flow::FlowRecord* const> records,
                                         std::span<const FlowRow> rows)>;
  void set_row_listener(RowListener listener) { row_listener_ = std::move(listener); }

 private:
  SqliteStore& store_;
  std::int64_t update_interval_ns_;
  // Engaged alerts: the last_ns of their newest written row, and their newest update not written
  // yet (at most one per engaged alert, which the profiles bound), by id.
  std::map<std::int64_t, std::int64_t> written_ns_;
  std::map<std::int64_t, detect::Alert> held_;
  std::vector<FlowRow> rows_;
  std::vector<const flow::FlowRecord*> records_;
  RowListener row_listener_;
};

}  // namespace netsentry::store
