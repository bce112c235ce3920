#include "store/traffic_log.h"

#include <charconv>
#include <cmath>
#include <iterator>
#include <system_error>
#include <vector>

#include "core/error.h"
#include "core/time_format.h"

namespace netsentry::store {
namespace {

// Formats integers into a caller-provided slot so a row needs no allocation per field.
struct NumberText {
  char text[24];
  std::string_view view;
};

void format_number(NumberText& slot, std::int64_t value) {
  const auto result = std::to_chars(std::begin(slot.text), std::end(slot.text), value);
  slot.view = std::string_view(slot.text, static_cast<std::size_t>(result.ptr - slot.text));
}

void format_rate(NumberText& slot, double rate) { format_number(slot, std::llround(rate)); }

const std::filesystem::path& ensure_directory(const std::filesystem::path& directory) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    throw core::Error(directory.string() + ": cannot create log directory: " + error.message());
  }
  return directory;
}

CsvWriterOptions writer_options(const TrafficLogOptions& options, std::string_view file,
                                std::vector<std::string> header) {
  CsvWriterOptions writer;
  writer.path = ensure_directory(options.directory) / file;
  writer.header = std::move(header);
  writer.max_bytes = options.max_bytes;
  writer.keep = options.keep;
  return writer;
}

}  // namespace

TrafficLog::TrafficLog(const TrafficLogOptions& options)
    : traffic_(
          writer_options(options, kTrafficFile,
                         {"timestamp", "bytes_sent", "bytes_recv", "packets_sent", "packets_recv",
                          "total_bytes", "errin", "errout", "dropin", "dropout"})),
      connections_(writer_options(options, kConnectionsFile,
                                  {"timestamp", "local_ip", "local_port", "remote_ip",
                                   "remote_port", "status", "type", "pid", "process", "event"})) {}

void TrafficLog::write(const host::TrafficSample& sample) {
  const std::string timestamp = core::format_python_local(sample.timestamp);
  const host::InterfaceRates& total = sample.total;
  NumberText numbers[9];
  format_rate(numbers[0], total.bytes_sent);
  format_rate(numbers[1], total.bytes_recv);
  format_rate(numbers[2], total.packets_sent);
  format_rate(numbers[3], total.packets_recv);
  // The sum of the rounded parts, so every row satisfies total = sent + recv exactly.
  format_number(numbers[4], std::llround(total.bytes_sent) + std::llround(total.bytes_recv));
  format_rate(numbers[5], total.errin);
  format_rate(numbers[6], total.errout);
  format_rate(numbers[7], total.dropin);
  format_rate(numbers[8], total.dropout);
  traffic_.write_row({timestamp, numbers[0].view, numbers[1].view, numbers[2].view, numbers[3].view,
                      numbers[4].view, numbers[5].view, numbers[6].view, numbers[7].view,
                      numbers[8].view});
}

void TrafficLog::write(std::chrono::system_clock::time_point time,
                       std::span<const host::ConnectionEvent> events) {
  if (events.empty()) return;
  const std::string timestamp = core::format_python_local(time);
  std::string local_ip;
  std::string remote_ip;
  for (const host::ConnectionEvent& event : events) {
    const host::Connection& connection = event.connection;
    const host::Endpoint& local = connection.socket.local;
    const host::Endpoint& remote = connection.socket.remote;
    NumberText local_port;
    NumberText remote_port;
    NumberText pid;
    local_ip = local.empty() ? std::string() : local.ip.to_string();
    remote_ip = remote.empty() ? std::string() : remote.ip.to_string();
    if (!local.empty()) format_number(local_port, local.port);
    if (!remote.empty()) format_number(remote_port, remote.port);
    if (connection.pid != host::kUnknownPid) format_number(pid, connection.pid);
    connections_.write_row({timestamp, local_ip, local_port.view, remote_ip, remote_port.view,
                            host::state_name(connection.socket.state),
                            host::socket_type_name(connection.socket.transport), pid.view,
                            connection.process, host::event_name(event.kind)});
  }
}

void TrafficLog::flush() {
  traffic_.flush();
  connections_.flush();
}

}  // namespace netsentry::store
