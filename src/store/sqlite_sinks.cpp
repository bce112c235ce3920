#include "store/sqlite_sinks.h"

#include <fmt/format.h>

namespace netsentry::store {

void SqliteSinks::on_alert(const detect::Alert& alert, detect::AlertChange change) {
  if (change == detect::AlertChange::kUpdated) {
    const auto it = written_ns_.find(alert.id);
    if (it != written_ns_.end() && alert.last_ns - it->second < update_interval_ns_) {
      held_[alert.id] = alert;
      return;
    }
  }
  held_.erase(alert.id);
  (void)store_.put_alert(alert);  // a full queue is counted by the store
  if (change == detect::AlertChange::kPast) {
    written_ns_.erase(alert.id);
  } else {
    written_ns_[alert.id] = alert.last_ns;
  }
}

void SqliteSinks::flush() {
  for (const auto& [id, alert] : held_) {
    (void)store_.put_alert(alert);
    written_ns_[id] = alert.last_ns;
  }
  held_.clear();
  store_.flush();
}

void SqliteSinks::on_flows(std::span<const flow::FlowRecord> flows,
                           std::span<const detect::FlowVerdict> verdicts, float /*threshold*/) {
  if (flows.empty()) return;
  make_flow_rows(flows, verdicts, rows_);
  if (!row_listener_) {
    // Nobody reads the rows afterwards: the store takes them as they are.
    (void)store_.add_flows(std::move(rows_));  // a full queue is counted by the store
    return;
  }
  (void)store_.add_flows(std::span<FlowRow>(rows_));
  records_.clear();
  for (const flow::FlowRecord& f : flows) records_.push_back(&f);
  row_listener_(records_, rows_);
}

void make_flow_rows(std::span<const flow::FlowRecord> flows,
                    std::span<const detect::FlowVerdict> verdicts, std::vector<FlowRow>& rows) {
  rows.clear();
  rows.reserve(flows.size());
  for (std::size_t i = 0; i < flows.size(); ++i) {
    const detect::FlowVerdict v = i < verdicts.size() ? verdicts[i] : detect::FlowVerdict{};
    const std::string_view verdict = !v.scored ? "unscored" : v.evidence ? "anomaly" : "benign";
    rows.push_back(make_flow_row(flows[i], v.score, verdict, v.votes, v.voters));
  }
}

void SqliteSinks::on_traffic(const host::TrafficSample& sample) {
  (void)store_.add_traffic(sample);
}

detect::OutputHealth SqliteSinks::health() const {
  const StoreStats st = store_.stats();
  detect::OutputHealth h;
  h.faults = st.write_errors;
  if (st.write_errors > 0) {
    h.message = fmt::format(
        "The SQLite store {} failed to write ({} failed transactions, {} rows lost so far): {}. "
        "Monitoring continues.",
        store_.path().string(), st.write_errors, st.rows_lost,
        store_.last_error().value_or("unknown error"));
  }
  return h;
}

}  // namespace netsentry::store
