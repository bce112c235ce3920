#include "flow/flow_format.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace netsentry::flow {
namespace {

constexpr std::size_t kLeadingColumns = 15;  // identity + seed columns

const std::array<std::string_view, kLeadingColumns + kCicFeatureCount + 1>& columns() {
  static const auto table = [] {
    std::array<std::string_view, kLeadingColumns + kCicFeatureCount + 1> names{
        "start_time",  "end_time",  "src_ip",     "src_port",        "dst_ip",
        "dst_port",    "ip_proto",  "vlan",       "end_reason",      "Duration",
        "PacketCount", "ByteCount", "SourcePort", "DestinationPort", "Protocol"};
    const auto cic = cic_feature_names();
    for (std::size_t i = 0; i < cic.size(); ++i) names[kLeadingColumns + i] = cic[i];
    names.back() = "packets";
    return names;
  }();
  return table;
}

template <typename Int>
void append_int(Int value, std::string& out) {
  char buf[24];
  const auto result = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, result.ptr);
}

void append_json_string(std::string_view text, std::string& out) {
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm, valid for any int64 day count
// a timestamp can produce).
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Calls emit(column index, value) for every column but `packets`, in order; value is a
// std::string_view for text columns and a double for numeric ones.
template <typename Emit>
void for_each_field(const FlowRecord& record, Emit&& emit) {
  std::string text;
  append_timestamp_utc(record.start_ns, text);
  emit(0, text);
  text.clear();
  append_timestamp_utc(record.end_ns, text);
  emit(1, text);
  text.clear();
  append_ip(record.src_ip, text);
  emit(2, text);
  emit(3, static_cast<double>(record.src_port));
  text.clear();
  append_ip(record.dst_ip, text);
  emit(4, text);
  emit(5, static_cast<double>(record.dst_port));
  emit(6, static_cast<double>(record.ip_proto));
  emit(7, static_cast<double>(record.vlan));
  emit(8, end_reason_name(record.end_reason));
  emit(9, record.duration_s);
  emit(10, static_cast<double>(record.packet_count));
  emit(11, static_cast<double>(record.byte_count));
  emit(12, static_cast<double>(record.src_port));
  emit(13, static_cast<double>(record.dst_port));
  emit(14, record.protocol());
  for (std::size_t i = 0; i < kCicFeatureCount; ++i) emit(kLeadingColumns + i, record.cic[i]);
}

}  // namespace

std::span<const std::string_view> flow_columns() { return columns(); }

void append_csv_field(std::string_view field, std::string& out) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void append_number(double value, std::string& out) {
  // Features are finite by construction (rates are 0 for zero durations); a non-finite value
  // would make the CSV unreadable by our own loaders and the JSON invalid, so it becomes 0.
  if (!std::isfinite(value) || value == 0) {
    out += '0';
    return;
  }
  char buf[32];
  const auto result = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, result.ptr);
}

void append_timestamp_utc(std::int64_t ns, std::string& out) {
  const std::int64_t us = floor_div(ns, 1000);
  const std::int64_t secs = floor_div(us, 1'000'000);
  const std::int64_t micros = us - secs * 1'000'000;
  const std::int64_t days = floor_div(secs, 86'400);
  const std::int64_t sod = secs - days * 86'400;
  std::int64_t year = 0;
  unsigned month = 0;
  unsigned day = 0;
  civil_from_days(days, year, month, day);
  char buf[48];
  const int n =
      std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                    static_cast<long long>(year), month, day, static_cast<long long>(sod / 3600),
                    static_cast<long long>(sod / 60 % 60), static_cast<long long>(sod % 60),
                    static_cast<long long>(micros));
  out.append(buf, static_cast<std::size_t>(n));
}

void append_ip(const net::IpAddress& ip, std::string& out) {
  char buf[INET6_ADDRSTRLEN];
  const int family = ip.family == 6 ? AF_INET6 : ip.family == 4 ? AF_INET : 0;
  if (family == 0 || inet_ntop(family, ip.bytes.data(), buf, sizeof(buf)) == nullptr) return;
  out += buf;
}

void append_csv_header(std::string& out) {
  bool first = true;
  for (std::string_view name : columns()) {
    if (!first) out += ',';
    first = false;
    append_csv_field(name, out);
  }
  out += '\n';
}

void append_csv_row(const FlowRecord& record, std::string& out) {
  struct Emit {
    std::string& out;
    void operator()(std::size_t index, std::string_view text) const {
      if (index > 0) out += ',';
      append_csv_field(text, out);
    }
    void operator()(std::size_t index, double value) const {
      if (index > 0) out += ',';
      append_number(value, out);
    }
  };
  for_each_field(record, Emit{out});
  out += ',';
  for (std::size_t i = 0; i < record.first_packets.size(); ++i) {
    const PacketSummary& p = record.first_packets[i];
    if (i > 0) out += '|';
    append_int(p.size, out);
    out += ':';
    append_int(static_cast<int>(p.direction), out);
    out += ':';
    append_int(p.iat_us, out);
    out += ':';
    append_int(static_cast<unsigned>(p.tcp_flags), out);
  }
  out += '\n';
}

void append_jsonl(const FlowRecord& record, std::string& out) {
  struct Emit {
    std::string& out;
    void key(std::size_t index) const {
      out += index == 0 ? '{' : ',';
      append_json_string(columns()[index], out);
      out += ':';
    }
    void operator()(std::size_t index, std::string_view text) const {
      key(index);
      append_json_string(text, out);
    }
    void operator()(std::size_t index, double value) const {
      key(index);
      append_number(value, out);
    }
  };
  const Emit emit{out};
  for_each_field(record, emit);
  emit.key(columns().size() - 1);
  out += '[';
  for (std::size_t i = 0; i < record.first_packets.size(); ++i) {
    const PacketSummary& p = record.first_packets[i];
    if (i > 0) out += ',';
    out += '[';
    append_int(p.size, out);
    out += ',';
    append_int(static_cast<int>(p.direction), out);
    out += ',';
    append_int(p.iat_us, out);
    out += ',';
    append_int(static_cast<unsigned>(p.tcp_flags), out);
    out += ']';
  }
  out += "]}\n";
}

std::vector<std::pair<std::string_view, double>> cic_named_features(const FlowRecord& record) {
  const auto names = cic_feature_names();
  std::vector<std::pair<std::string_view, double>> out;
  out.reserve(kCicFeatureCount);
  for (std::size_t i = 0; i < kCicFeatureCount; ++i) out.emplace_back(names[i], record.cic[i]);
  return out;
}

}  // namespace netsentry::flow
