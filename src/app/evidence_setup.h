// Provides app::EvidenceSetup, monitor's packets-behind-alerts wiring: the packet recorder (a
// bounded memory ring the capture pipeline's flow thread fills), the evidence store writing
// <evidence folder>/alert-<id>.pcap for every alert about a host, the alert sink that asks it,
// the reader GET /api/alerts/ID/pcap serves from, and the counters the dashboard and the
// end-of-run summary show. The evidence folder is `evidence/` beside the SQLite store (so
// `dashboard --db` finds it), or in --out without a store.
// Thread rules: build and destroy on the owning thread (before the pipeline starts, after it
// stopped); recorder(), sink() and folder() are borrowed by the pipeline and the stage;
// status() and read() from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "app/capture_pipeline.h"
#include "app/commands.h"
#include "capture/packet_recorder.h"
#include "server/dashboard_source.h"
#include "store/evidence_store.h"

namespace netsentry::app {

// The evidence folder for monitor's options: beside the store, else in --out.
[[nodiscard]] std::filesystem::path evidence_folder(const MonitorOptions& options);

class EvidenceSetup final {
 public:
  // Throws core::Error for an unusable budget (below 1 MB of memory, a negative age) or a folder
  // that cannot be created.
  explicit EvidenceSetup(const MonitorOptions& options);
  ~EvidenceSetup();
  EvidenceSetup(const EvidenceSetup&) = delete;
  EvidenceSetup& operator=(const EvidenceSetup&) = delete;

  [[nodiscard]] bool enabled() const { return recorder_->enabled(); }
  // For PipelineOptions::recorder (null when off).
  [[nodiscard]] capture::PacketRecorder* recorder() {
    return enabled() ? recorder_.get() : nullptr;
  }
  // For the detection stage's alert sinks (null when off).
  [[nodiscard]] detect::AlertSink* sink() { return sink_.get(); }
  [[nodiscard]] const std::filesystem::path& folder() const { return folder_; }

  // An alert's stored packets (a classic pcap file's bytes), nullopt when none.
  [[nodiscard]] std::optional<std::string> read(std::int64_t alert_id) const;
  // The recorder's and the folder's use now.
  [[nodiscard]] server::EvidenceStatus status() const;
  // One line for the log: memory and disk use against their budgets.
  [[nodiscard]] std::string summary() const;

 private:
  std::filesystem::path folder_;
  std::uint64_t memory_budget_ = 0;
  std::uint64_t disk_budget_ = 0;
  std::unique_ptr<capture::PacketRecorder> recorder_;
  std::unique_ptr<store::EvidenceStore> store_;
  std::unique_ptr<store::EvidenceSink> sink_;
};

}  // namespace netsentry::app
