#include "app/evidence_setup.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace netsentry::app {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
// One alert's file: enough for minutes of a scan or the start of a flood, small enough to open
// in Wireshark at once.
constexpr std::uint64_t kMaxAlertBytes = std::uint64_t{16} << 20;

std::string mib(std::uint64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / kMiB);
}

}  // namespace

std::filesystem::path evidence_folder(const MonitorOptions& o) {
  if (!o.no_db && !o.db.empty()) return std::filesystem::path(o.db).parent_path() / "evidence";
  return o.watch.out_dir / "evidence";
}

EvidenceSetup::EvidenceSetup(const MonitorOptions& o) : folder_(evidence_folder(o)) {
  if (!(o.record_memory_mb >= 0) || !(o.record_seconds >= 0) || !(o.evidence_max_mb >= 0)) {
    throw core::Error(
        "--record-memory, --record-seconds and --evidence-max-mb must not be negative");
  }
  capture::RecorderOptions ro;
  const bool on = !o.no_record && o.record_memory_mb > 0;
  if (on && o.record_memory_mb < 1) {
    throw core::Error(fmt::format("--record-memory {}: give at least 1 (MB), or --no-record",
                                  o.record_memory_mb));
  }
  ro.memory_bytes = on ? static_cast<std::size_t>(o.record_memory_mb * kMiB) : 0;
  // Segments are the unit of eviction: at most a quarter of the budget, so a small ring still
  // keeps three quarters of its packets while the oldest segment goes.
  ro.segment_bytes =
      std::clamp<std::size_t>(ro.memory_bytes / 4, std::size_t{64} << 10, std::size_t{4} << 20);
  // The recorder keeps up to two emptied segments for reuse beside its ring: the ring gets the
  // rest, so what it holds stays within what was asked for.
  if (on) ro.memory_bytes = std::max(ro.segment_bytes, ro.memory_bytes - 2 * ro.segment_bytes);
  memory_budget_ = on ? static_cast<std::uint64_t>(o.record_memory_mb * kMiB) : 0;
  ro.max_age_ns = static_cast<std::int64_t>(o.record_seconds * 1e9);
  recorder_ = std::make_unique<capture::PacketRecorder>(ro);
  if (!on) return;
  store::EvidenceOptions eo;
  eo.dir = folder_;
  eo.max_total_bytes = static_cast<std::uint64_t>(o.evidence_max_mb * kMiB);
  // A file never outgrows the folder's budget (the budget removes whole files, never the last).
  eo.max_alert_bytes = std::min(kMaxAlertBytes, eo.max_total_bytes);
  eo.retention_days = o.retention_days;  // the SQLite store's
  disk_budget_ = eo.max_total_bytes;
  store_ = std::make_unique<store::EvidenceStore>(*recorder_, eo);
  sink_ = std::make_unique<store::EvidenceSink>(*store_);
}

EvidenceSetup::~EvidenceSetup() = default;

std::optional<std::string> EvidenceSetup::read(std::int64_t alert_id) const {
  // The folder is the truth: the store removes files it evicts, and an earlier run's files
  // (or a run with the recorder off) are served as they are.
  return store::read_evidence_file(folder_ / store::EvidenceStore::file_name(alert_id),
                                   store::kMaxEvidenceFileBytes);
}

server::EvidenceStatus EvidenceSetup::status() const {
  server::EvidenceStatus e;
  e.recording = enabled();
  if (!enabled()) return e;
  const capture::RecorderStats r = recorder_->stats();
  e.memory_bytes = r.memory_bytes;
  e.memory_budget = memory_budget_;
  e.packets_recorded = r.packets;
  e.packets_evicted = r.evicted_packets;
  e.packets_not_kept = r.no_room;
  e.oldest_ms = r.oldest_ns / 1'000'000;
  const store::EvidenceStats s = store_->stats();
  e.files = s.files;
  e.disk_bytes = s.bytes;
  e.disk_budget = disk_budget_;
  e.files_removed = s.files_evicted + s.files_expired;
  e.write_errors = s.write_errors;
  return e;
}

std::string EvidenceSetup::summary() const {
  if (!enabled()) return "evidence: packet recorder off (--no-record)";
  const server::EvidenceStatus e = status();
  const store::EvidenceStats s = store_->stats();
  const capture::RecorderStats r = recorder_->stats();
  std::string by_reference;
  if (recorder_->by_reference()) {
    by_reference = r.unreadable == 0
                       ? ", kept as places in the capture file"
                       : fmt::format(
                             ", kept as places in the capture file; {} of them were no "
                             "longer there when read back (the file changed)",
                             r.unreadable);
  }
  return fmt::format(
      "evidence: recorder {} of {} in memory ({} packets recorded{}, {} left the ring, {} not "
      "kept for want of room); {} files, {} of {} on disk in {} ({} packets written, {} over the "
      "per-alert cap, {} files removed, {} write errors)",
      mib(e.memory_bytes), mib(e.memory_budget), e.packets_recorded, by_reference,
      e.packets_evicted, e.packets_not_kept, e.files, mib(e.disk_bytes), mib(e.disk_budget),
      folder_.string(), s.packets_written, s.truncated_packets, e.files_removed, e.write_errors);
}

}  // namespace netsentry::app
