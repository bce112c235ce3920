#include "flow/flow_format.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace netsentry::flow {
namespace {

constexpr std::size_t kLeadingColumns = 15;  // identity + seed columns
// Interoperable columns, after `packets` (new columns go at the end of the file).
constexpr std::array<std::string_view, 6> kTrailingColumns = {
    "community_id", "orig_ip_bytes", "resp_ip_bytes", "conn_state", "history", "tunnel_parent"};
constexpr std::size_t kPacketsColumn = kLeadingColumns + kCicFeatureCount;
constexpr std::size_t kColumnCount = kPacketsColumn + 1 + kTrailingColumns.size();

const std::array<std::string_view, kColumnCount>& columns() {
  static const auto table = [] {
    std::array<std::string_view, kColumnCount> names{
        "start_time",  "end_time",  "src_ip",     "src_port",        "dst_ip",
        "dst_port",    "ip_proto",  "vlan",       "end_reason",      "Duration",
        "PacketCount", "ByteCount", "SourcePort", "DestinationPort", "Protocol"};
    const auto cic = cic_feature_names();
    for (std::size_t i = 0; i < cic.size(); ++i) names[kLeadingColumns + i] = cic[i];
    names[kPacketsColumn] = "packets";
    for (std::size_t i = 0; i < kTrailingColumns.size(); ++i) {
      names[kPacketsColumn + 1 + i] = kTrailingColumns[i];
    }
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

constexpr char kDigitPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

char* write_2digits(unsigned v, char* p) {
  std::memcpy(p, kDigitPairs + 2 * v, 2);
  return p + 2;
}

// The longest text one write_* call below produces (a double, an IPv6 address, a timestamp).
constexpr std::size_t kMaxFieldChars = 64;

// 2017-07-06T12:39:06.818901Z: always 27 characters, as int64 nanoseconds only reach the years
// 1677 to 2262.
char* write_timestamp_utc(std::int64_t ns, char* p) {
  const std::int64_t us = floor_div(ns, 1000);
  const std::int64_t secs = floor_div(us, 1'000'000);
  const auto micros = static_cast<unsigned>(us - secs * 1'000'000);
  const std::int64_t days = floor_div(secs, 86'400);
  const auto sod = static_cast<unsigned>(secs - days * 86'400);
  std::int64_t year = 0;
  unsigned month = 0;
  unsigned day = 0;
  civil_from_days(days, year, month, day);
  const auto y = static_cast<unsigned>(year);
  p = write_2digits(y / 100, p);
  p = write_2digits(y % 100, p);
  *p++ = '-';
  p = write_2digits(month, p);
  *p++ = '-';
  p = write_2digits(day, p);
  *p++ = 'T';
  p = write_2digits(sod / 3600, p);
  *p++ = ':';
  p = write_2digits(sod / 60 % 60, p);
  *p++ = ':';
  p = write_2digits(sod % 60, p);
  *p++ = '.';
  p = write_2digits(micros / 10'000, p);
  p = write_2digits(micros / 100 % 100, p);
  p = write_2digits(micros % 100, p);
  *p++ = 'Z';
  return p;
}

// Shortest round-trip form, 0 for zero and non-finite values (see append_number).
char* write_number(double value, char* p) {
  if (!std::isfinite(value) || value == 0) {
    *p++ = '0';
    return p;
  }
  // Most features are whole numbers (counts, bytes, microseconds), and integer formatting is much
  // cheaper. to_chars(double) prints whichever of fixed and scientific is shorter (fixed on a
  // tie), so 100000 is "1e+05": take the integer text only when fixed wins. Below 1e15 every
  // integer is a double whose shortest form has exactly its significant digits, and the exponent
  // has two digits.
  if (std::fabs(value) < 1e15 && value == std::trunc(value)) {
    const auto n = static_cast<std::int64_t>(value);
    char* end = std::to_chars(p, p + 24, n).ptr;
    const auto digits = static_cast<std::size_t>(end - p) - (n < 0 ? 1 : 0);
    std::size_t trailing_zeros = 0;
    while (trailing_zeros < digits &&
           end[-1 - static_cast<std::ptrdiff_t>(trailing_zeros)] == '0') {
      ++trailing_zeros;
    }
    const std::size_t significant = digits - trailing_zeros;
    const std::size_t scientific = significant + (significant > 1 ? 1 : 0) + 4;  // d.ddde+XX
    if (digits <= scientific) return end;
  }
  return std::to_chars(p, p + 32, value).ptr;
}

char* write_octet(unsigned v, char* p) {
  if (v >= 100) {
    *p++ = static_cast<char>('0' + v / 100);
    return write_2digits(v % 100, p);
  }
  if (v >= 10) return write_2digits(v, p);
  *p++ = static_cast<char>('0' + v);
  return p;
}

// Dotted IPv4 by hand; IPv6 through inet_ntop for its "::" compression rules. Empty when the
// address has no family.
char* write_ip(const net::IpAddress& ip, char* p) {
  if (ip.family == 4) {
    for (int i = 0; i < 4; ++i) {
      if (i > 0) *p++ = '.';
      p = write_octet(ip.bytes[i], p);
    }
    return p;
  }
  static_assert(INET6_ADDRSTRLEN <= kMaxFieldChars);
  if (ip.family != 6 || inet_ntop(AF_INET6, ip.bytes.data(), p, INET6_ADDRSTRLEN) == nullptr) {
    return p;
  }
  return p + std::strlen(p);
}

// Builds a CSV row in a stack buffer and hands it to the string in large pieces: a hundred
// separate std::string appends per row cost more than the formatting.
class RowWriter {
 public:
  explicit RowWriter(std::string& out) : out_(out) {}
  ~RowWriter() { flush(); }
  RowWriter(const RowWriter&) = delete;
  RowWriter& operator=(const RowWriter&) = delete;

  // Room for kMaxFieldChars more characters; the returned pointer is where to write them.
  char* reserve() {
    if (static_cast<std::size_t>(buffer_ + sizeof(buffer_) - p_) < kMaxFieldChars) flush();
    return p_;
  }
  void commit(char* end) { p_ = end; }
  void put(char c) {
    char* p = reserve();
    *p = c;
    commit(p + 1);
  }
  void put(std::string_view text) {
    if (text.size() >= kMaxFieldChars) {
      flush();
      out_ += text;
      return;
    }
    char* p = reserve();
    std::memcpy(p, text.data(), text.size());
    commit(p + text.size());
  }
  void flush() {
    out_.append(buffer_, p_);
    p_ = buffer_;
  }

 private:
  std::string& out_;
  char buffer_[4096];
  char* p_ = buffer_;
};

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
  char buf[kMaxFieldChars];
  out.append(buf, write_number(value, buf));
}

void append_timestamp_utc(std::int64_t ns, std::string& out) {
  char buf[kMaxFieldChars];
  out.append(buf, write_timestamp_utc(ns, buf));
}

void append_ip(const net::IpAddress& ip, std::string& out) {
  char buf[kMaxFieldChars];
  out.append(buf, write_ip(ip, buf));
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
  // The columns of for_each_field, written straight into the row: timestamps, addresses, reason
  // and protocol names never contain a character that needs quoting.
  RowWriter row(out);
  const auto number = [&row](double value) {
    char* p = row.reserve();
    p = write_number(value, p);
    *p++ = ',';
    row.commit(p);
  };
  char* p = row.reserve();
  p = write_timestamp_utc(record.start_ns, p);
  *p++ = ',';
  p = write_timestamp_utc(record.end_ns, p);
  *p++ = ',';
  row.commit(p);
  p = row.reserve();
  p = write_ip(record.src_ip, p);
  *p++ = ',';
  row.commit(p);
  number(static_cast<double>(record.src_port));
  p = row.reserve();
  p = write_ip(record.dst_ip, p);
  *p++ = ',';
  row.commit(p);
  number(static_cast<double>(record.dst_port));
  number(static_cast<double>(record.ip_proto));
  number(static_cast<double>(record.vlan));
  row.put(end_reason_name(record.end_reason));
  row.put(',');
  number(record.duration_s);
  number(static_cast<double>(record.packet_count));
  number(static_cast<double>(record.byte_count));
  number(static_cast<double>(record.src_port));
  number(static_cast<double>(record.dst_port));
  row.put(record.protocol());
  row.put(',');
  for (const double value : record.cic) number(value);
  for (std::size_t i = 0; i < record.first_packets.size(); ++i) {
    const PacketSummary& s = record.first_packets[i];
    p = row.reserve();
    if (i > 0) *p++ = '|';
    p = std::to_chars(p, p + 10, s.size).ptr;
    *p++ = ':';
    p = std::to_chars(p, p + 4, static_cast<int>(s.direction)).ptr;
    *p++ = ':';
    p = std::to_chars(p, p + 10, s.iat_us).ptr;
    *p++ = ':';
    p = std::to_chars(p, p + 3, static_cast<unsigned>(s.tcp_flags)).ptr;
    row.commit(p);
  }
  // community_id, orig_ip_bytes, resp_ip_bytes, conn_state, history, tunnel_parent: none of them
  // contains a character that needs quoting (base64 has no comma; history is letters and '^').
  p = row.reserve();
  *p++ = ',';
  p = record.community_id.write(p);
  *p++ = ',';
  row.commit(p);
  p = row.reserve();
  p = std::to_chars(p, p + 24, record.orig_ip_bytes).ptr;
  *p++ = ',';
  p = std::to_chars(p, p + 24, record.resp_ip_bytes).ptr;
  *p++ = ',';
  row.commit(p);
  row.put(conn_state_name(record.conn_state));
  row.put(',');
  row.put(record.history.view());
  p = row.reserve();
  *p++ = ',';
  p = record.tunnel_parent.write(p);
  *p++ = '\n';
  row.commit(p);
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
  emit.key(kPacketsColumn);
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
  out += ']';
  emit.key(kPacketsColumn + 1);
  append_json_string(record.community_id.to_string(), out);
  emit(kPacketsColumn + 2, static_cast<double>(record.orig_ip_bytes));
  emit(kPacketsColumn + 3, static_cast<double>(record.resp_ip_bytes));
  emit(kPacketsColumn + 4, conn_state_name(record.conn_state));
  emit(kPacketsColumn + 5, record.history.view());
  emit.key(kPacketsColumn + 6);
  append_json_string(record.tunnel_parent.to_string(), out);
  out += "}\n";
}

std::vector<std::pair<std::string_view, double>> cic_named_features(const FlowRecord& record) {
  const auto names = cic_feature_names();
  std::vector<std::pair<std::string_view, double>> out;
  out.reserve(kCicFeatureCount);
  for (std::size_t i = 0; i < kCicFeatureCount; ++i) out.emplace_back(names[i], record.cic[i]);
  return out;
}

}  // namespace netsentry::flow
