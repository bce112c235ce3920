#include "store/alert_log.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <iterator>
#include <system_error>
#include <vector>

#include "core/error.h"
#include "store/traffic_log.h"

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

std::string time_text(std::int64_t ns) {
  return format_timestamp(std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(ns))));
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
  writer.header = {"timestamp", "severity",  "kind",      "src_ip", "src_port", "dst_ip",
                   "dst_port",  "protocol",  "score",     "votes",  "count",    "reason",
                   "id",        "interface", "last_seen", "voters", "models",   "evidence"};
  writer.max_bytes = options.max_bytes;
  writer.keep = options.keep;
  return writer;
}

}  // namespace

AlertLog::AlertLog(const AlertLogOptions& options) : writer_(writer_options(options)) {}

void AlertLog::write(const detect::Alert& alert) {
  const std::string timestamp = time_text(alert.time_ns);
  const std::string last_seen = alert.last_ns != 0 ? time_text(alert.last_ns) : std::string();
  const std::string src_ip = address_text(alert.src_ip);
  const std::string dst_ip = address_text(alert.dst_ip);
  NumberText src_port, dst_port, score, votes, count, id, voters;
  if (alert.src_port != 0) format_integer(src_port, alert.src_port);
  if (alert.dst_port != 0) format_integer(dst_port, alert.dst_port);
  format_score(score, alert.score);
  format_integer(votes, alert.votes);
  format_integer(count, static_cast<std::int64_t>(alert.count));
  if (alert.id != 0) format_integer(id, alert.id);
  format_integer(voters, alert.voters);

  models_.clear();
  for (const detect::ModelVote& vote : alert.models) {
    if (!models_.empty()) models_ += "; ";
    fmt::format_to(std::back_inserter(models_), "{}={:.4f}/{:.4f} {}", vote.model, vote.score,
                   vote.threshold, vote.vote ? "yes" : "no");
  }
  evidence_.clear();
  for (const detect::Evidence& item : alert.evidence) {
    if (!evidence_.empty()) evidence_ += "; ";
    fmt::format_to(std::back_inserter(evidence_), "{}={:.6g} (expected {:.6g}, deviation {:.3g})",
                   item.feature, item.value, item.expected, item.deviation);
  }

  writer_.write_row({timestamp, detect::severity_name(alert.severity), alert.kind, src_ip,
                     src_port.view, dst_ip, dst_port.view, alert.protocol, score.view, votes.view,
                     count.view, alert.reason, id.view, alert.interface, last_seen, voters.view,
                     models_, evidence_});
}

void AlertLog::flush() { writer_.flush(); }

}  // namespace netsentry::store
