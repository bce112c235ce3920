// Provides store::SqliteSinks, how the detection stage writes into the SQLite store: alerts (every
// delivery of an id replaces its row in place, so the row always shows the latest count, score,
// state and evidence), finished flows with their verdicts ("anomaly" when the flow gave ML
// evidence, "benign" when scored without, "unscored" otherwise) and traffic samples. The store's
// health (failed transactions) is watched through health().
// Thread rules: the stage calls the sink methods from its thread; health() from the stage's thread.
#pragma once

#include <functional>
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
  explicit SqliteSinks(SqliteStore& store) : store_(store) {}

  void on_alert(const detect::Alert& alert, detect::AlertChange change) override;
  void on_flows(std::span<const flow::FlowRecord> flows,
                std::span<const detect::FlowVerdict> verdicts, float threshold) override;
  void on_traffic(const host::TrafficSample& sample) override;
  void flush() override { store_.flush(); }

  // Failed transactions so far, as the stage's system alert says them.
  [[nodiscard]] detect::OutputHealth health() const;

  // Called after each batch of flows was queued, with the rows as stored (ids given) and the
  // records they came from (the bus publishes them). Set before the stage starts.
  using RowListener = std::function<void(std::span<const flow::FlowRecord* const> records,
                                         std::span<const FlowRow> rows)>;
  void set_row_listener(RowListener listener) { row_listener_ = std::move(listener); }

 private:
  SqliteStore& store_;
  std::vector<FlowRow> rows_;
  std::vector<const flow::FlowRecord*> records_;
  RowListener row_listener_;
};

}  // namespace netsentry::store
