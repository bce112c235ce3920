#include "store/alert_log.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <fstream>
#include <iterator>
#include <system_error>
#include <vector>

#include "core/error.h"
#include "core/time_format.h"
#include "store/csv_writer.h"

namespace netsentry::store {
namespace {

struct NumberText {
  char text[32];
  std::string_view view;
};

void format_integer(NumberText& slot, std::int64_t value) {
  const auto result = std::to_chars(std::begin(slot.text), std::end(slot.text), value);
  slot.view = std::string_view(slot.text, static_cast<std::size_t>(result.ptr - slot.text));
}

void format_score(NumberText& slot, double value) {
  const auto result = fmt::format_to_n(slot.text, sizeof slot.text, "{:.4f}", value);
  slot.view = std::string_view(slot.text, static_cast<std::size_t>(result.out - slot.text));
}

std::string address_text(const net::IpAddress& address) {
  return address.family == 0 ? std::string() : address.to_string();
}

const std::vector<std::string>& header() {
  static const std::vector<std::string> columns = {
      "timestamp", "severity", "kind",   "src_ip", "src_port", "dst_ip",    "dst_port",  "protocol",
      "score",     "votes",    "count",  "reason", "id",       "interface", "last_seen", "voters",
      "models",    "evidence", "change", "state",  "host",     "role",      "revision",  "why"};
  return columns;
}

CsvWriterOptions writer_options(const AlertLogOptions& options) {
  std::error_code error;
  std::filesystem::create_directories(options.directory, error);
  if (error) {
    throw core::Error(options.directory.string() +
                      ": cannot create log directory: " + error.message());
  }
  CsvWriterOptions writer;
  writer.path = options.directory / AlertLog::kFile;
  writer.header = header();
  writer.max_bytes = options.max_bytes;
  writer.keep = options.keep;
  // An alerts.csv written by an older netsentry has fewer columns: keep it aside, start anew.
  std::ifstream existing(writer.path);
  std::string first;
  if (existing && std::getline(existing, first) && !first.empty()) {
    std::string expected;
    for (std::size_t i = 0; i < writer.header.size(); ++i) {
      if (i > 0) expected.push_back(',');
      append_csv_field(expected, writer.header[i]);
    }
    if (first != expected) {
      existing.close();
      const auto aside = writer.path.string() + ".old";
      std::filesystem::rename(writer.path, aside, error);
      if (error) {
        throw core::Error(writer.path.string() + ": has another header and cannot be moved to " +
                          aside + ": " + error.message());
      }
      spdlog::warn("{} had an older header; kept as {}", writer.path.string(), aside);
    }
  }
  return writer;
}

}  // namespace

AlertLog::AlertLog(const AlertLogOptions& options)
    : options_(options), writer_(writer_options(options)) {}

void AlertLog::write(const detect::Alert& alert, detect::AlertChange change) {
  const std::string timestamp = core::format_utc(alert.time_ns);
  const std::string last_seen =
      alert.last_ns != 0 ? core::format_utc(alert.last_ns) : std::string();
  const std::string src_ip = address_text(alert.src_ip);
  const std::string dst_ip = address_text(alert.dst_ip);
  const std::string host = address_text(alert.host);
  NumberText src_port, dst_port, score, votes, count, id, voters, revision;
  if (alert.src_port != 0) format_integer(src_port, alert.src_port);
  if (alert.dst_port != 0) format_integer(dst_port, alert.dst_port);
  format_score(score, alert.score);
  format_integer(votes, alert.votes);
  format_integer(count, static_cast<std::int64_t>(alert.count));
  if (alert.id != 0) format_integer(id, alert.id);
  format_integer(voters, alert.voters);
  format_integer(revision, alert.revision);

  models_.clear();
  for (const detect::ModelVote& vote : alert.models) {
    if (!models_.empty()) models_ += "; ";
    fmt::format_to(std::back_inserter(models_), "{}={:.4f}/{:.4f} {}", vote.model, vote.score,
                   vote.threshold, vote.vote ? "yes" : "no");
  }
  evidence_.clear();
  for (const detect::FeatureDeviation& item : alert.features) {
    if (!evidence_.empty()) evidence_ += "; ";
    fmt::format_to(std::back_inserter(evidence_), "{}={:.6g} (expected {:.6g}, deviation {:.3g})",
                   item.feature, item.value, item.expected, item.deviation);
  }
  why_.clear();
  for (const detect::Evidence& e : alert.evidence) {
    if (!why_.empty()) why_ += "; ";
    fmt::format_to(std::back_inserter(why_), "{} {} {:.2f}{}: {}", e.kind,
                   detect::severity_name(e.threat), e.confidence,
                   e.count > 1 ? fmt::format(" x{}", e.count) : std::string(), e.description);
  }

  writer_.write_row({timestamp,
                     detect::severity_name(alert.severity),
                     alert.kind,
                     src_ip,
                     src_port.view,
                     dst_ip,
                     dst_port.view,
                     alert.protocol,
                     score.view,
                     votes.view,
                     count.view,
                     alert.reason,
                     id.view,
                     alert.interface,
                     last_seen,
                     voters.view,
                     models_,
                     evidence_,
                     detect::alert_change_name(change),
                     detect::alert_state_name(alert.state),
                     host,
                     detect::role_name(alert.role, alert.host),
                     revision.view,
                     why_});
  dirty_ = true;
}

void AlertLog::on_alert(const detect::Alert& alert, detect::AlertChange change) {
  if (change == detect::AlertChange::kUpdated) {
    const auto it = last_row_ns_.find(alert.id);
    if (it != last_row_ns_.end() && alert.last_ns - it->second < options_.update_interval_ns) {
      held_[alert.id] = alert;
      return;
    }
  }
  held_.erase(alert.id);
  write(alert, change);
  if (change == detect::AlertChange::kPast) {
    last_row_ns_.erase(alert.id);
  } else {
    last_row_ns_[alert.id] = alert.last_ns;
  }
  // New rows reach the file within about a second, so `tail -f alerts.csv` follows them.
  if (std::chrono::steady_clock::now() - flushed_ >= options_.flush_interval) write_out();
}

void AlertLog::tick() {
  if (dirty_ && std::chrono::steady_clock::now() - flushed_ >= options_.flush_interval) {
    write_out();
  }
}

void AlertLog::write_out() {
  flushed_ = std::chrono::steady_clock::now();
  if (!dirty_) return;
  writer_.flush();  // a failure stays in health(); the rows wait and are tried again
  dirty_ = writer_.health().failing;
}

void AlertLog::flush() {
  for (const auto& [id, alert] : held_) {
    write(alert, detect::AlertChange::kUpdated);
    last_row_ns_[id] = alert.last_ns;
  }
  held_.clear();
  write_out();
}

}  // namespace netsentry::store
