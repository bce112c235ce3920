#include "data/csv_loader.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/utf8.h"
#include "data/csv_reader.h"
#include "data/text.h"

namespace netsentry::data {

namespace {

using core::Error;

// ---------------------------------------------------------------------------------------------
// Names

constexpr std::string_view kNslKddNames[] = {"duration",
                                             "protocol_type",
                                             "service",
                                             "flag",
                                             "src_bytes",
                                             "dst_bytes",
                                             "land",
                                             "wrong_fragment",
                                             "urgent",
                                             "hot",
                                             "num_failed_logins",
                                             "logged_in",
                                             "num_compromised",
                                             "root_shell",
                                             "su_attempted",
                                             "num_root",
                                             "num_file_creations",
                                             "num_shells",
                                             "num_access_files",
                                             "num_outbound_cmds",
                                             "is_host_login",
                                             "is_guest_login",
                                             "count",
                                             "srv_count",
                                             "serror_rate",
                                             "srv_serror_rate",
                                             "rerror_rate",
                                             "srv_rerror_rate",
                                             "same_srv_rate",
                                             "diff_srv_rate",
                                             "srv_diff_host_rate",
                                             "dst_host_count",
                                             "dst_host_srv_count",
                                             "dst_host_same_srv_rate",
                                             "dst_host_diff_srv_rate",
                                             "dst_host_same_src_port_rate",
                                             "dst_host_srv_diff_host_rate",
                                             "dst_host_serror_rate",
                                             "dst_host_srv_serror_rate",
                                             "dst_host_rerror_rate",
                                             "dst_host_srv_rerror_rate"};
static_assert(std::size(kNslKddNames) == 41);
constexpr std::string_view kNslKddLabel = "attack";
constexpr std::string_view kNslKddDifficulty = "difficulty";

// Every CICFlowMeter spelling we know -> the corrected-release name our flow meter writes. Keys are
// matched case-insensitively after trimming (the 2017 CSVs have leading spaces in most names).
constexpr std::pair<std::string_view, std::string_view> kCicAliases[] = {
    // Identifiers (2017 release / CICFlowMeter-V3)
    {"Source IP", "Src IP"},
    {"Source Port", "Src Port"},
    {"Destination IP", "Dst IP"},
    {"Destination Port", "Dst Port"},
    // Counts and lengths
    {"Total Fwd Packets", "Total Fwd Packet"},
    {"Tot Fwd Pkts", "Total Fwd Packet"},
    {"Total Backward Packets", "Total Bwd packets"},
    {"Tot Bwd Pkts", "Total Bwd packets"},
    {"Total Length of Fwd Packets", "Total Length of Fwd Packet"},
    {"TotLen Fwd Pkts", "Total Length of Fwd Packet"},
    {"Total Length of Bwd Packets", "Total Length of Bwd Packet"},
    {"TotLen Bwd Pkts", "Total Length of Bwd Packet"},
    {"Fwd Pkt Len Max", "Fwd Packet Length Max"},
    {"Fwd Pkt Len Min", "Fwd Packet Length Min"},
    {"Fwd Pkt Len Mean", "Fwd Packet Length Mean"},
    {"Fwd Pkt Len Std", "Fwd Packet Length Std"},
    {"Bwd Pkt Len Max", "Bwd Packet Length Max"},
    {"Bwd Pkt Len Min", "Bwd Packet Length Min"},
    {"Bwd Pkt Len Mean", "Bwd Packet Length Mean"},
    {"Bwd Pkt Len Std", "Bwd Packet Length Std"},
    {"Flow Byts/s", "Flow Bytes/s"},
    {"Flow Pkts/s", "Flow Packets/s"},
    {"Fwd IAT Tot", "Fwd IAT Total"},
    {"Bwd IAT Tot", "Bwd IAT Total"},
    {"Fwd Header Len", "Fwd Header Length"},
    {"Bwd Header Len", "Bwd Header Length"},
    {"Fwd Pkts/s", "Fwd Packets/s"},
    {"Bwd Pkts/s", "Bwd Packets/s"},
    {"Min Packet Length", "Packet Length Min"},
    {"Pkt Len Min", "Packet Length Min"},
    {"Max Packet Length", "Packet Length Max"},
    {"Pkt Len Max", "Packet Length Max"},
    {"Pkt Len Mean", "Packet Length Mean"},
    {"Pkt Len Std", "Packet Length Std"},
    {"Pkt Len Var", "Packet Length Variance"},
    // Flags (the 2017 release misspells CWR as CWE)
    {"FIN Flag Cnt", "FIN Flag Count"},
    {"SYN Flag Cnt", "SYN Flag Count"},
    {"RST Flag Cnt", "RST Flag Count"},
    {"PSH Flag Cnt", "PSH Flag Count"},
    {"ACK Flag Cnt", "ACK Flag Count"},
    {"URG Flag Cnt", "URG Flag Count"},
    {"CWE Flag Count", "CWR Flag Count"},
    {"CWE Flag Cnt", "CWR Flag Count"},
    {"ECE Flag Cnt", "ECE Flag Count"},
    // Averages and bulk
    {"Pkt Size Avg", "Average Packet Size"},
    {"Avg Fwd Segment Size", "Fwd Segment Size Avg"},
    {"Fwd Seg Size Avg", "Fwd Segment Size Avg"},
    {"Avg Bwd Segment Size", "Bwd Segment Size Avg"},
    {"Bwd Seg Size Avg", "Bwd Segment Size Avg"},
    {"Fwd Avg Bytes/Bulk", "Fwd Bytes/Bulk Avg"},
    {"Fwd Byts/b Avg", "Fwd Bytes/Bulk Avg"},
    {"Fwd Avg Packets/Bulk", "Fwd Packet/Bulk Avg"},
    {"Fwd Pkts/b Avg", "Fwd Packet/Bulk Avg"},
    {"Fwd Avg Bulk Rate", "Fwd Bulk Rate Avg"},
    {"Fwd Blk Rate Avg", "Fwd Bulk Rate Avg"},
    {"Bwd Avg Bytes/Bulk", "Bwd Bytes/Bulk Avg"},
    {"Bwd Byts/b Avg", "Bwd Bytes/Bulk Avg"},
    {"Bwd Avg Packets/Bulk", "Bwd Packet/Bulk Avg"},
    {"Bwd Pkts/b Avg", "Bwd Packet/Bulk Avg"},
    {"Bwd Avg Bulk Rate", "Bwd Bulk Rate Avg"},
    {"Bwd Blk Rate Avg", "Bwd Bulk Rate Avg"},
    // Subflows
    {"Subflow Fwd Pkts", "Subflow Fwd Packets"},
    {"Subflow Fwd Byts", "Subflow Fwd Bytes"},
    {"Subflow Bwd Pkts", "Subflow Bwd Packets"},
    {"Subflow Bwd Byts", "Subflow Bwd Bytes"},
    // Window and segment
    {"Init_Win_bytes_forward", "FWD Init Win Bytes"},
    {"Init Fwd Win Byts", "FWD Init Win Bytes"},
    {"Init_Win_bytes_backward", "Bwd Init Win Bytes"},
    {"Init Bwd Win Byts", "Bwd Init Win Bytes"},
    {"act_data_pkt_fwd", "Fwd Act Data Pkts"},
    {"min_seg_size_forward", "Fwd Seg Size Min"},
};

// Canonical names that only differ from some spelling by case ("Total Bwd Packets").
constexpr std::string_view kCicCanonical[] = {"Flow ID",
                                              "Src IP",
                                              "Src Port",
                                              "Dst IP",
                                              "Dst Port",
                                              "Flow Duration",
                                              "Total Fwd Packet",
                                              "Total Bwd packets",
                                              "Total Length of Fwd Packet",
                                              "Total Length of Bwd Packet",
                                              "Fwd Packet Length Max",
                                              "Fwd Packet Length Min",
                                              "Fwd Packet Length Mean",
                                              "Fwd Packet Length Std",
                                              "Bwd Packet Length Max",
                                              "Bwd Packet Length Min",
                                              "Bwd Packet Length Mean",
                                              "Bwd Packet Length Std",
                                              "Flow Bytes/s",
                                              "Flow Packets/s",
                                              "Flow IAT Mean",
                                              "Flow IAT Std",
                                              "Flow IAT Max",
                                              "Flow IAT Min",
                                              "Fwd IAT Total",
                                              "Fwd IAT Mean",
                                              "Fwd IAT Std",
                                              "Fwd IAT Max",
                                              "Fwd IAT Min",
                                              "Bwd IAT Total",
                                              "Bwd IAT Mean",
                                              "Bwd IAT Std",
                                              "Bwd IAT Max",
                                              "Bwd IAT Min",
                                              "Fwd PSH Flags",
                                              "Bwd PSH Flags",
                                              "Fwd URG Flags",
                                              "Bwd URG Flags",
                                              "Fwd RST Flags",
                                              "Bwd RST Flags",
                                              "Fwd Header Length",
                                              "Bwd Header Length",
                                              "Fwd Packets/s",
                                              "Bwd Packets/s",
                                              "Packet Length Min",
                                              "Packet Length Max",
                                              "Packet Length Mean",
                                              "Packet Length Std",
                                              "Packet Length Variance",
                                              "FIN Flag Count",
                                              "SYN Flag Count",
                                              "RST Flag Count",
                                              "PSH Flag Count",
                                              "ACK Flag Count",
                                              "URG Flag Count",
                                              "CWR Flag Count",
                                              "ECE Flag Count",
                                              "Down/Up Ratio",
                                              "Average Packet Size",
                                              "Fwd Segment Size Avg",
                                              "Bwd Segment Size Avg",
                                              "Fwd Bytes/Bulk Avg",
                                              "Fwd Packet/Bulk Avg",
                                              "Fwd Bulk Rate Avg",
                                              "Bwd Bytes/Bulk Avg",
                                              "Bwd Packet/Bulk Avg",
                                              "Bwd Bulk Rate Avg",
                                              "Subflow Fwd Packets",
                                              "Subflow Fwd Bytes",
                                              "Subflow Bwd Packets",
                                              "Subflow Bwd Bytes",
                                              "FWD Init Win Bytes",
                                              "Bwd Init Win Bytes",
                                              "Fwd Act Data Pkts",
                                              "Fwd Seg Size Min",
                                              "Active Mean",
                                              "Active Std",
                                              "Active Max",
                                              "Active Min",
                                              "Idle Mean",
                                              "Idle Std",
                                              "Idle Max",
                                              "Idle Min",
                                              "ICMP Code",
                                              "ICMP Type",
                                              "Total TCP Flow Time",
                                              "Attempted Category"};

std::string lower_copy(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = text::lower(c);
  return out;
}

const std::unordered_map<std::string, std::string_view>& alias_table() {
  static const auto* table = [] {
    auto* t = new std::unordered_map<std::string, std::string_view>();
    for (auto name : kCicCanonical) t->emplace(lower_copy(name), name);
    for (const auto& [from, to] : kCicAliases) t->emplace(lower_copy(from), to);
    return t;
  }();
  return *table;
}

// ---------------------------------------------------------------------------------------------
// Files

// No CSV line of ours is near this; a header of 100,000 named columns is about 2 MiB.
constexpr std::size_t kMaxLineBytes = std::size_t{16} << 20;

// A whole input file as bytes: mapped read-only for regular files (no copy, no zero-fill), read
// into memory for pipes and other special files.
class FileBytes {
 public:
  explicit FileBytes(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
      ::close(fd);
      throw Error(path + ": is a directory, expected a CSV file");
    }
    if (S_ISREG(st.st_mode)) {
      size_ = static_cast<std::size_t>(st.st_size);
      if (size_ > 0) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (p == MAP_FAILED) {
          const int err = errno;
          ::close(fd);
          throw Error(path + ": cannot map file: " + std::strerror(err));
        }
        ::madvise(p, size_, MADV_SEQUENTIAL);
        map_ = p;
      }
      ::close(fd);
      return;
    }
    char buf[1 << 16];
    std::size_t line = 1;
    std::size_t line_bytes = 0;  // since the last newline
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n == 0) break;
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ::close(fd);
        throw Error(path + ": read failed: " + std::strerror(err));
      }
      // A pipe or device without line breaks (/dev/zero) would otherwise be read until memory
      // runs out.
      const std::string_view chunk(buf, static_cast<std::size_t>(n));
      const std::size_t last_newline = chunk.rfind('\n');
      if (last_newline == std::string_view::npos) {
        line_bytes += chunk.size();
      } else {
        line += static_cast<std::size_t>(std::count(chunk.begin(), chunk.end(), '\n'));
        line_bytes = chunk.size() - last_newline - 1;
      }
      if (line_bytes > kMaxLineBytes) {
        ::close(fd);
        throw Error(path + ":" + std::to_string(line) + ": line longer than " +
                    std::to_string(kMaxLineBytes >> 20) + " MiB; is this a CSV file?");
      }
      copy_.append(chunk);
    }
    ::close(fd);
  }
  ~FileBytes() {
    if (map_ != nullptr) ::munmap(map_, size_);
  }
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;

  [[nodiscard]] std::string_view view() const {
    return map_ != nullptr ? std::string_view(static_cast<const char*>(map_), size_)
                           : std::string_view(copy_);
  }

 private:
  void* map_ = nullptr;
  std::size_t size_ = 0;
  std::string copy_;
};

bool has_glob_chars(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

std::vector<std::string> expand(std::span<const std::string> inputs) {
  std::vector<std::string> out;
  for (const auto& in : inputs) {
    if (!has_glob_chars(in)) {
      out.push_back(in);
      continue;
    }
    glob_t g{};
    const int rc = ::glob(in.c_str(), 0, nullptr, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
      ::globfree(&g);
      throw Error(in + ": no file matches this pattern");
    }
    if (rc != 0) {
      ::globfree(&g);
      throw Error(in + ": cannot expand pattern");
    }
    // glob() sorts its matches, so the load order is stable.
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
    ::globfree(&g);
  }
  if (out.empty()) throw Error("no input files given");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Timestamps

bool read_int(std::string_view& s, int min_digits, int max_digits, int& out) {
  int digits = 0;
  out = 0;
  while (!s.empty() && digits < max_digits && s.front() >= '0' && s.front() <= '9') {
    out = out * 10 + (s.front() - '0');
    s.remove_prefix(1);
    ++digits;
  }
  return digits >= min_digits;
}

bool eat(std::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// HH:MM[:SS[.frac]] [AM|PM] [Z]
bool parse_clock(std::string_view s, double& seconds) {
  int h = 0, mi = 0, sec = 0;
  if (!read_int(s, 1, 2, h) || !eat(s, ':') || !read_int(s, 2, 2, mi)) return false;
  double frac = 0;
  if (eat(s, ':')) {
    if (!read_int(s, 2, 2, sec)) return false;
    if (!s.empty() && s.front() == '.') {
      double scale = 0.1;
      s.remove_prefix(1);
      while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
        frac += (s.front() - '0') * scale;
        scale /= 10;
        s.remove_prefix(1);
      }
    }
  }
  s = text::trim(s);
  if (text::iequals(s, "PM")) {
    if (h < 12) h += 12;
    s = {};
  } else if (text::iequals(s, "AM")) {
    if (h == 12) h = 0;
    s = {};
  }
  if (s == "Z" || s == "+00:00") s = {};
  if (!s.empty() || h > 23 || mi > 59 || sec > 60) return false;
  seconds = h * 3600.0 + mi * 60.0 + sec + frac;
  return true;
}

// Epoch seconds (or milliseconds, when the number is too big to be seconds), ISO
// "YYYY-MM-DD[ T]HH:MM[:SS[.f]]" or CIC-IDS2017's "D/M/YYYY H:MM[:SS]"; NaN otherwise.
double parse_timestamp(std::string_view s) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  s = text::trim(s);
  if (s.empty()) return kNaN;
  double v = 0;
  if (text::parse_number(s, v) == text::CellKind::kNumber) return v > 1e11 ? v / 1000.0 : v;
  int y = 0, m = 0, d = 0;
  std::string_view t = s;
  if (read_int(t, 4, 4, y) && eat(t, '-')) {
    if (!read_int(t, 1, 2, m) || !eat(t, '-') || !read_int(t, 1, 2, d)) return kNaN;
  } else {
    t = s;
    if (!read_int(t, 1, 2, d) || !eat(t, '/') || !read_int(t, 1, 2, m) || !eat(t, '/') ||
        !read_int(t, 4, 4, y)) {
      return kNaN;
    }
  }
  if (m < 1 || m > 12 || d < 1 || d > 31) return kNaN;
  double clock = 0;
  if (!t.empty()) {
    if (t.front() != ' ' && t.front() != 'T') return kNaN;
    t.remove_prefix(1);
    if (!parse_clock(t, clock)) return kNaN;
  }
  return static_cast<double>(
             days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d))) *
             86400.0 +
         clock;
}

// ---------------------------------------------------------------------------------------------
// Dialects

struct Dialect {
  Format format = Format::kGeneric;
  std::string label;  // "" = unlabelled
  bool label_required = false;
  std::string class_column;  // "" = the label column
  std::string timestamp;
  std::string packets;  // per-row packet sequences (size:direction:gap:flags|...)
  std::string group;
  std::vector<std::string> drop;
  std::vector<std::string> categorical;
  std::vector<std::string> negatives;  // label texts meaning "normal"
  std::string positive;                // when set, only this text means "attack"
  bool cic_names = false;              // apply the CIC alias table to header names
};

const std::vector<std::string> kCicIdentifiers = {
    "id", "Flow ID", "Src IP", "Src Port", "Dst IP", "Timestamp", "Attempted Category"};
const std::vector<std::string> kNormalWords = {"0", "normal", "benign", "false"};

Dialect dialect_for(Format f) {
  Dialect d;
  d.format = f;
  switch (f) {
    case Format::kOriginal:
      d.label = "Label";
      d.drop = {"SourcePort"};
      d.categorical = {"Protocol"};
      d.positive = "Attack";
      break;
    case Format::kFlows:
      d.label = "Label";
      d.timestamp = "start_time";
      d.group = "src_ip";
      d.packets = "packets";
      d.drop = {"start_time", "end_time", "src_ip", "src_port", "dst_ip", "dst_port", "protocol",
                "vlan", "end_reason", "packets", "SourcePort",
                // Interoperable identity and state columns: not model features.
                "community_id", "orig_ip_bytes", "resp_ip_bytes", "conn_state", "history",
                "tunnel_parent"};
      d.drop.insert(d.drop.end(), kCicIdentifiers.begin(), kCicIdentifiers.end());
      d.categorical = {"Protocol"};
      d.negatives = kNormalWords;
      d.cic_names = true;
      break;
    case Format::kCicIds2017:
      d.label = "Label";
      d.timestamp = "Timestamp";
      d.group = "Src IP";
      d.drop = kCicIdentifiers;
      d.categorical = {"Protocol"};
      d.negatives = kNormalWords;
      d.cic_names = true;
      break;
    case Format::kNslKdd:
      d.label = std::string(kNslKddLabel);
      d.label_required = true;
      d.drop = {std::string(kNslKddDifficulty)};
      d.categorical = {"protocol_type", "service", "flag"};
      d.negatives = {"normal"};
      break;
    case Format::kUnswNb15:
      d.label = "label";
      d.class_column = "attack_cat";
      d.timestamp = "stime";
      d.group = "srcip";
      d.drop = {"id", "srcip", "sport", "dstip", "stime", "ltime"};
      d.categorical = {"proto", "service", "state"};
      d.negatives = {"0"};
      break;
    case Format::kGeneric:
    case Format::kAuto:
      d.format = Format::kGeneric;
      d.negatives = kNormalWords;
      break;
  }
  return d;
}

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool looks_like_nsl_kdd(const std::vector<std::string_view>& first) {
  if (first.size() != 42 && first.size() != 43) return false;
  double v = 0;
  if (text::parse_number(first[0], v) != text::CellKind::kNumber) return false;
  std::array<char, 32> buf{};
  const auto proto = text::canonical_protocol(first[1], buf);
  return proto == "tcp" || proto == "udp" || proto == "icmp";
}

Format detect(const std::vector<std::string>& header) {
  if (contains(header, "attack_cat") && contains(header, "label")) return Format::kUnswNb15;
  if (contains(header, "end_reason") && contains(header, "start_time")) return Format::kFlows;
  if (contains(header, "Flow Duration")) return Format::kCicIds2017;
  if (contains(header, "Duration") && contains(header, "PacketCount") &&
      contains(header, "ByteCount")) {
    return Format::kOriginal;
  }
  return Format::kGeneric;
}

// ---------------------------------------------------------------------------------------------
// Loading

enum class Role : std::uint8_t { kDrop, kFeature, kLabel, kClass, kTimestamp, kGroup, kPackets };

// What to do with each field of a file's records. Several roles may share a field (the label is
// usually also the class column), so each field lists up to three.
struct FieldPlan {
  Role roles[3] = {Role::kDrop, Role::kDrop, Role::kDrop};
  int feature = -1;  // index into Dataset::columns
};

class Dictionary {
 public:
  explicit Dictionary(std::vector<std::string>& levels) : levels_(&levels) {
    for (std::size_t i = 0; i < levels.size(); ++i)
      map_.emplace(levels[i], static_cast<std::int32_t>(i));
  }
  std::int32_t intern(std::string_view s) {
    if (last_ >= 0 && (*levels_)[static_cast<std::size_t>(last_)] == s) return last_;
    // Labels and categories end up in a bundle's JSON manifest and in reports: one policy for
    // bytes that are not UTF-8 (core/utf8.h), applied where the text enters.
    if (!core::is_valid_utf8(s)) return intern(core::sanitize_utf8(s));
    auto it = map_.find(s);
    if (it == map_.end()) {
      const auto code = static_cast<std::int32_t>(levels_->size());
      levels_->emplace_back(s);
      it = map_.emplace(levels_->back(), code).first;
    }
    last_ = it->second;
    return last_;
  }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<std::string>* levels_;
  std::unordered_map<std::string, std::int32_t, Hash, std::equal_to<>> map_;
  std::int32_t last_ = -1;
};

std::string quote_cell(std::string_view cell) {
  constexpr std::size_t kMax = 40;
  std::string out = "\"";
  out.append(core::printable(cell.substr(0, kMax)));  // never raw control bytes in a message
  if (cell.size() > kMax) out += "...";
  out += '"';
  return out;
}

// Parses a flows CSV "packets" cell, `size:direction:gap_us:flags` per packet joined by '|'
// (empty: no packet). Returns an empty string, or what is wrong.
std::string parse_packets(std::string_view cell, std::vector<PacketStep>& out) {
  constexpr std::size_t kMaxPackets = 1024;  // the flow meter's --first-packets limit
  out.clear();
  if (cell.empty()) return {};
  std::size_t start = 0;
  while (start <= cell.size()) {
    const std::size_t bar = std::min(cell.find('|', start), cell.size());
    const std::string_view step = cell.substr(start, bar - start);
    long long v[4] = {0, 0, 0, 0};
    std::size_t pos = 0;
    for (int k = 0; k < 4; ++k) {
      const std::size_t colon = k < 3 ? step.find(':', pos) : step.size();
      if (colon == std::string_view::npos)
        return "packet " + quote_cell(step) + " is not size:direction:gap:flags";
      const std::string_view part = step.substr(pos, colon - pos);
      const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v[k]);
      if (ec != std::errc() || end != part.data() + part.size() || part.empty()) {
        return "packet " + quote_cell(step) + " is not size:direction:gap:flags";
      }
      pos = colon + 1;
    }
    if (v[0] < 0 || v[0] > 0xFFFFFFFFLL || (v[1] != 1 && v[1] != -1) || v[2] < 0 ||
        v[2] > 0xFFFFFFFFLL || v[3] < 0 || v[3] > 255) {
      return "packet " + quote_cell(step) + " is out of range";
    }
    if (out.size() == kMaxPackets) return "more than 1024 packets";
    out.push_back({static_cast<std::uint32_t>(v[0]), static_cast<std::uint32_t>(v[2]),
                   static_cast<std::int8_t>(v[1]), static_cast<std::uint8_t>(v[3])});
    start = bar + 1;
  }
  return {};
}

class Loader {
 public:
  Loader(const LoadOptions& options, LoadReport& report) : opt_(options), report_(report) {}

  Dataset run(const std::vector<std::string>& files) {
    ds_.files = files;
    for (std::size_t i = 0; i < files.size(); ++i) {
      if (opt_.max_rows != 0 && ds_.rows() >= opt_.max_rows) break;
      load_file(i);
    }
    finish();
    return std::move(ds_);
  }

 private:
  struct Pending {
    std::string_view text;
    text::CellKind kind;
    float value;
  };

  [[noreturn]] void fail(const std::string& msg) { throw Error(msg); }

  // Records a bad row, or throws when bad rows are not to be skipped.
  void bad_row(const std::string& msg) {
    if (!opt_.skip_bad_rows) fail(msg);
    ++report_.bad_rows;
    if (report_.bad_row_examples.size() < 5) report_.bad_row_examples.push_back(msg);
  }

  void load_file(std::size_t file_index) {
    const std::string& path = ds_.files[file_index];
    const FileBytes bytes(path);
    const std::string_view data = bytes.view();
    CsvReader reader(data);
    std::vector<std::string_view> fields;
    std::size_t line = 0, bad_field = 0;
    auto status = reader.next(fields, line, bad_field);
    while (status == CsvReader::Status::kRecord && fields.size() == 1 &&
           text::trim(fields[0]).empty()) {
      status = reader.next(fields, line, bad_field);
    }
    if (status == CsvReader::Status::kEnd) fail(path + ": file is empty");
    if (status != CsvReader::Status::kRecord)
      fail(path + ":" + std::to_string(line) + ": malformed header");

    // Header (or its absence, for NSL-KDD).
    bool headerless = false;
    std::vector<std::string> names;
    Format fmt = opt_.format;
    if ((fmt == Format::kAuto || fmt == Format::kNslKdd) && looks_like_nsl_kdd(fields)) {
      fmt = Format::kNslKdd;
      headerless = true;
      for (auto n : kNslKddNames) names.emplace_back(n);
      names.emplace_back(kNslKddLabel);
      if (fields.size() == 43) names.emplace_back(kNslKddDifficulty);
    } else {
      for (auto f : fields) names.emplace_back(text::trim(f));
      if (fmt == Format::kAuto) {
        std::vector<std::string> canon;
        for (const auto& n : names) canon.push_back(canonical_column_name(n));
        fmt = detect(canon);
      }
    }
    const Dialect dialect = make_dialect(fmt);
    if (dialect.cic_names) {
      for (auto& n : names) {
        std::string c = canonical_column_name(n);
        if (c != n) note_rename(n, c);
        n = std::move(c);
      }
    }

    if (file_index == 0) {
      dialect_ = dialect;
      report_.format = dialect.format;
      ds_.format = std::string(to_string(dialect.format));
      build_schema(names, path, reader_for_inference(data, headerless));
    } else if (dialect.format != dialect_.format) {
      fail(path + ": looks like " + std::string(to_string(dialect.format)) + " but " +
           ds_.files[0] + " is " + std::string(to_string(dialect_.format)) +
           "; load them separately");
    }
    const std::vector<FieldPlan> plan = plan_fields(names, path);

    const auto file_id = static_cast<std::uint32_t>(file_index);
    reserve_rows(data.size(), fields);
    if (headerless) {
      read_record(fields, line, plan, path, file_id);
    }
    while (opt_.max_rows == 0 || ds_.rows() < opt_.max_rows) {
      status = reader.next(fields, line, bad_field);
      if (status == CsvReader::Status::kEnd) break;
      if (status == CsvReader::Status::kUnterminatedQuote) {
        bad_row(path + ":" + std::to_string(line) + ":" + std::to_string(bad_field + 1) +
                ": quoted field is never closed");
        continue;
      }
      if (status == CsvReader::Status::kTextAfterQuote) {
        bad_row(path + ":" + std::to_string(line) + ":" + std::to_string(bad_field + 1) +
                ": unexpected text after a closing quote");
        continue;
      }
      if (fields.size() == 1 && text::trim(fields[0]).empty()) continue;  // blank line
      read_record(fields, line, plan, path, file_id);
    }
  }

  // Sizes the per-row vectors from the file size and the first record's length, so that big
  // files are not copied again and again as the vectors grow.
  void reserve_rows(std::size_t file_bytes, const std::vector<std::string_view>& first) {
    std::size_t record_bytes = first.size();
    for (auto f : first) record_bytes += f.size();
    // 30 % slack: the first record may be longer than the average one.
    std::size_t rows =
        ds_.rows() + file_bytes / std::max<std::size_t>(record_bytes, 8) * 13 / 10 + 16;
    if (opt_.max_rows != 0) rows = std::min(rows, opt_.max_rows);
    for (auto& c : ds_.columns)
      (c.kind == ColumnKind::kNumeric ? c.values.reserve(rows) : c.codes.reserve(rows));
    ds_.origin.reserve(rows);
    if (!dialect_.label.empty()) label_codes_.reserve(rows);
    if (!dialect_.timestamp.empty()) ds_.timestamp.reserve(rows);
    if (!dialect_.group.empty()) ds_.group.reserve(rows);
  }

  // A reader positioned at the first data record, for generic column-kind inference.
  static CsvReader reader_for_inference(std::string_view data, bool headerless) {
    CsvReader r(data);
    if (!headerless) {
      std::vector<std::string_view> f;
      std::size_t line = 0, bad = 0;
      while (r.next(f, line, bad) == CsvReader::Status::kRecord && f.size() == 1 &&
             text::trim(f[0]).empty()) {
      }
    }
    return r;
  }

  Dialect make_dialect(Format fmt) const {
    Dialect d = dialect_for(fmt);
    if (!opt_.label_column.empty()) {
      d.label = opt_.label_column;
      d.label_required = true;
    }
    if (!opt_.class_column.empty()) d.class_column = opt_.class_column;
    if (!opt_.positive_value.empty()) {
      d.positive = opt_.positive_value;
      d.negatives.clear();
    } else if (!opt_.negative_value.empty()) {
      d.negatives = {opt_.negative_value};
      d.positive.clear();
    }
    if (opt_.drop_columns) d.drop = *opt_.drop_columns;
    if (d.cic_names) {
      for (auto& n : d.drop) n = canonical_column_name(n);
      for (auto& n : d.categorical) n = canonical_column_name(n);
    }
    for (const auto& c : opt_.categorical_columns) {
      d.categorical.push_back(d.cic_names ? canonical_column_name(c) : c);
    }
    return d;
  }

  void note_rename(const std::string& from, const std::string& to) {
    std::string s = from + " -> " + to;
    if (!contains(report_.renamed, s)) report_.renamed.push_back(std::move(s));
  }

  bool is_feature_name(const std::string& n) const {
    const Dialect& d = dialect_;
    return n != d.label && n != d.class_column && n != d.timestamp && n != d.group &&
           n != d.packets && !contains(d.drop, n);
  }

  // Decides the feature columns (from the first file) and their kinds.
  void build_schema(const std::vector<std::string>& names, const std::string& path,
                    CsvReader infer) {
    const Dialect& d = dialect_;
    std::unordered_set<std::string> seen;
    std::vector<std::size_t> infer_fields;
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::string& n = names[i];
      if (n.empty()) fail(path + ":1:" + std::to_string(i + 1) + ": empty column name");
      if (!seen.insert(n).second) continue;
      schema_names_.push_back(n);
      if (!is_feature_name(n)) continue;
      Column c;
      c.name = n;
      const bool categorical = contains(d.categorical, n) || text::is_protocol_column(n);
      c.kind = categorical ? ColumnKind::kCategorical : ColumnKind::kNumeric;
      if (!categorical && d.format == Format::kGeneric) infer_fields.push_back(ds_.columns.size());
      feature_field_.push_back(i);
      ds_.columns.push_back(std::move(c));
    }
    if (!d.label.empty() && !seen.count(d.label)) {
      if (d.label_required) {
        fail(path + ": no label column \"" + d.label + "\" in the header");
      }
      dialect_.label.clear();
    }
    if (!dialect_.class_column.empty() && !seen.count(dialect_.class_column)) {
      if (!opt_.class_column.empty()) {
        fail(path + ": no class column \"" + dialect_.class_column + "\" in the header");
      }
      dialect_.class_column.clear();
    }
    if (!d.timestamp.empty() && !seen.count(d.timestamp)) dialect_.timestamp.clear();
    if (!d.group.empty() && !seen.count(d.group)) dialect_.group.clear();
    if (!d.packets.empty() && !seen.count(d.packets)) dialect_.packets.clear();
    if (!dialect_.label.empty() && dialect_.class_column.empty())
      dialect_.class_column = dialect_.label;
    if (ds_.columns.empty()) fail(path + ": no feature columns left after dropping identifiers");

    // Generic CSVs: a column with non-numeric text in its first rows is categorical.
    if (!infer_fields.empty()) {
      std::vector<std::string_view> f;
      std::size_t line = 0, bad = 0;
      for (int rows = 0; rows < 1000; ++rows) {
        const auto st = infer.next(f, line, bad);
        if (st == CsvReader::Status::kEnd) break;
        if (st != CsvReader::Status::kRecord || f.size() != names.size()) continue;
        for (std::size_t c : infer_fields) {
          float v = 0;
          if (ds_.columns[c].kind == ColumnKind::kNumeric &&
              text::parse_number(f[feature_field_[c]], v) == text::CellKind::kBad) {
            ds_.columns[c].kind = ColumnKind::kCategorical;
          }
        }
      }
    }
    stats_.resize(ds_.columns.size());
  }

  // Maps a file's fields to roles by name; every file must carry the first file's columns.
  // Linear in the number of columns (a hash of names, not a scan per name).
  std::vector<FieldPlan> plan_fields(const std::vector<std::string>& names,
                                     const std::string& path) {
    std::vector<FieldPlan> plan(names.size());
    std::unordered_map<std::string_view, std::size_t> first_field;
    first_field.reserve(names.size());
    std::unordered_map<std::string_view, int> feature_of;
    feature_of.reserve(ds_.columns.size());
    for (std::size_t c = 0; c < ds_.columns.size(); ++c) {
      feature_of.emplace(ds_.columns[c].name, static_cast<int>(c));
    }
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::string& n = names[i];
      const auto [first, fresh] = first_field.emplace(n, i);
      if (!fresh) {
        // The 2017 CIC-IDS release repeats "Fwd Header Length" (the same values twice): a known
        // quirk, tolerated and reported. Anywhere else two columns of one name are ambiguous.
        if (!(dialect_.format == Format::kCicIds2017 && n == "Fwd Header Length")) {
          fail(path + ":1:" + std::to_string(i + 1) + ": column \"" + core::printable(n) +
               "\" repeats column " + std::to_string(first->second + 1) + "; rename one of them");
        }
        std::string s = path + ": column \"" + n + "\" (field " + std::to_string(i + 1) + ")";
        if (!contains(report_.ignored_duplicates, s)) report_.ignored_duplicates.push_back(s);
        continue;
      }
      FieldPlan& p = plan[i];
      int k = 0;
      if (n == dialect_.label) p.roles[k++] = Role::kLabel;
      if (n == dialect_.class_column) p.roles[k++] = Role::kClass;
      if (n == dialect_.timestamp) p.roles[k++] = Role::kTimestamp;
      if (k < 3 && n == dialect_.group) p.roles[k++] = Role::kGroup;
      if (k < 3 && n == dialect_.packets) p.roles[k++] = Role::kPackets;
      if (const auto it = feature_of.find(n); it != feature_of.end()) {
        p.roles[0] = Role::kFeature;
        p.feature = it->second;
      }
    }
    std::unordered_set<std::string> seen;
    seen.reserve(first_field.size());
    for (const auto& [name, field] : first_field) seen.emplace(name);
    const std::unordered_set<std::string> schema(schema_names_.begin(), schema_names_.end());
    std::vector<std::string> missing, extra;
    for (const auto& n : schema_names_) {
      if (!seen.count(n)) missing.push_back(n);
    }
    for (const auto& n : seen) {
      if (!schema.count(n)) extra.push_back(n);
    }
    if (!missing.empty() || !extra.empty()) {
      std::sort(extra.begin(), extra.end());
      std::string msg = path + ": columns differ from " + ds_.files[0] + ":";
      auto list = [&](const char* what, const std::vector<std::string>& v) {
        if (v.empty()) return;
        msg += std::string(" ") + what;
        for (std::size_t i = 0; i < v.size() && i < 5; ++i)
          msg += (i ? ", \"" : " \"") + core::printable(v[i]) + "\"";
        if (v.size() > 5) msg += " and " + std::to_string(v.size() - 5) + " more";
        msg += ";";
      };
      list("missing", missing);
      list("unexpected", extra);
      msg.pop_back();
      fail(msg);
    }
    expected_fields_ = names.size();
    return plan;
  }

  void read_record(const std::vector<std::string_view>& fields, std::size_t line,
                   const std::vector<FieldPlan>& plan, const std::string& path,
                   std::uint32_t file) {
    if (fields.size() != expected_fields_) {
      bad_row(path + ":" + std::to_string(line) + ": expected " + std::to_string(expected_fields_) +
              " fields, found " + std::to_string(fields.size()));
      return;
    }
    pending_.resize(ds_.columns.size());
    std::string_view label_text, class_text, time_text, group_text;
    pending_packets_.clear();
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const FieldPlan& p = plan[i];
      if (p.roles[0] == Role::kDrop) continue;
      if (p.roles[0] == Role::kFeature) {
        Pending& pe = pending_[static_cast<std::size_t>(p.feature)];
        const Column& col = ds_.columns[static_cast<std::size_t>(p.feature)];
        if (col.kind == ColumnKind::kNumeric) {
          pe.kind = text::parse_number(fields[i], pe.value);
          if (pe.kind == text::CellKind::kBad) {
            bad_row(path + ":" + std::to_string(line) + ":" + std::to_string(i + 1) + ": " +
                    quote_cell(fields[i]) + " is not a number (column \"" + col.name + "\")");
            return;
          }
        } else {
          pe.text = text::trim(fields[i]);
        }
        continue;
      }
      for (Role r : p.roles) {
        switch (r) {
          case Role::kLabel:
            label_text = text::trim(fields[i]);
            break;
          case Role::kClass:
            class_text = text::trim(fields[i]);
            break;
          case Role::kTimestamp:
            time_text = fields[i];
            break;
          case Role::kGroup:
            group_text = text::trim(fields[i]);
            break;
          case Role::kPackets:
            if (const auto err = parse_packets(text::trim(fields[i]), pending_packets_);
                !err.empty()) {
              bad_row(path + ":" + std::to_string(line) + ":" + std::to_string(i + 1) + ": " + err +
                      " (column \"" + dialect_.packets + "\")");
              return;
            }
            break;
          default:
            break;
        }
      }
    }
    if (!dialect_.label.empty() && label_text.empty()) {
      bad_row(path + ":" + std::to_string(line) + ": empty label (column \"" + dialect_.label +
              "\")");
      return;
    }

    // The row is valid: commit it.
    if (dicts_.empty()) {
      for (auto& c : ds_.columns) dicts_.emplace_back(c.levels);
    }
    for (std::size_t c = 0; c < ds_.columns.size(); ++c) {
      Column& col = ds_.columns[c];
      const Pending& pe = pending_[c];
      if (col.kind == ColumnKind::kNumeric) {
        col.values.push_back(pe.value);
        if (pe.kind == text::CellKind::kEmpty) ++stats_[c].empty;
        if (pe.kind == text::CellKind::kNonFinite) ++stats_[c].non_finite;
      } else if (pe.text.empty()) {
        col.codes.push_back(-1);
      } else if (text::is_protocol_column(col.name)) {
        std::array<char, 32> buf{};
        col.codes.push_back(dicts_[c].intern(text::canonical_protocol(pe.text, buf)));
      } else {
        col.codes.push_back(dicts_[c].intern(pe.text));
      }
    }
    if (!dialect_.label.empty()) {
      label_codes_.push_back(label_dict_.intern(label_text));
      if (dialect_.class_column != dialect_.label) {
        ds_.class_code.push_back(class_dict_.intern(class_text.empty() ? "<none>" : class_text));
      }
    }
    if (!dialect_.timestamp.empty()) ds_.timestamp.push_back(parse_timestamp(time_text));
    if (!dialect_.group.empty()) ds_.group.push_back(group_dict_.intern(group_text));
    if (!dialect_.packets.empty()) {
      if (ds_.packet_offset.empty()) ds_.packet_offset.push_back(0);
      ds_.packets.insert(ds_.packets.end(), pending_packets_.begin(), pending_packets_.end());
      ds_.packet_offset.push_back(ds_.packets.size());
    }
    ds_.origin.push_back({file, static_cast<std::uint32_t>(line)});
  }

  bool is_positive(std::string_view label) const {
    if (!dialect_.positive.empty()) return text::iequals(label, dialect_.positive);
    for (const auto& n : dialect_.negatives) {
      if (text::iequals(label, n)) return false;
    }
    return true;
  }

  void finish() {
    if (!dialect_.label.empty()) {
      std::vector<int> positive(label_levels_.size());
      for (std::size_t i = 0; i < label_levels_.size(); ++i)
        positive[i] = is_positive(label_levels_[i]);
      ds_.y.reserve(label_codes_.size());
      for (auto c : label_codes_) ds_.y.push_back(positive[static_cast<std::size_t>(c)]);
      if (dialect_.class_column == dialect_.label) {
        ds_.class_code = std::move(label_codes_);
        ds_.class_names = std::move(label_levels_);
      } else {
        ds_.class_names = std::move(class_levels_);
      }
    }
    ds_.group_names = std::move(group_levels_);
    report_.rows = ds_.rows();
    for (std::size_t c = 0; c < stats_.size(); ++c) {
      if (stats_[c].empty + stats_[c].non_finite == 0) continue;
      report_.columns.push_back({ds_.columns[c].name, stats_[c].empty, stats_[c].non_finite});
    }
  }

  struct Counts {
    std::size_t empty = 0, non_finite = 0;
  };

  const LoadOptions& opt_;
  LoadReport& report_;
  Dataset ds_;
  Dialect dialect_;
  std::vector<std::string> schema_names_;   // first file's distinct column names
  std::vector<std::size_t> feature_field_;  // first file's field index per feature column
  std::size_t expected_fields_ = 0;
  std::vector<Pending> pending_;
  std::vector<PacketStep> pending_packets_;
  std::vector<Counts> stats_;
  std::vector<Dictionary> dicts_;
  std::vector<std::string> label_levels_, class_levels_, group_levels_;
  std::vector<std::int32_t> label_codes_;
  Dictionary label_dict_{label_levels_};
  Dictionary class_dict_{class_levels_};
  Dictionary group_dict_{group_levels_};
};

}  // namespace

std::string_view to_string(Format format) {
  switch (format) {
    case Format::kAuto:
      return "auto";
    case Format::kOriginal:
      return "original";
    case Format::kFlows:
      return "flows";
    case Format::kCicIds2017:
      return "cicids2017";
    case Format::kNslKdd:
      return "nsl-kdd";
    case Format::kUnswNb15:
      return "unsw-nb15";
    case Format::kGeneric:
      return "generic";
  }
  return "unknown";
}

std::optional<Format> parse_format(std::string_view name) {
  const std::string n = lower_copy(text::trim(name));
  if (n == "auto") return Format::kAuto;
  if (n == "original" || n == "seed") return Format::kOriginal;
  if (n == "flows") return Format::kFlows;
  if (n == "cicids2017" || n == "cic" || n == "cic-ids2017" || n == "cicids")
    return Format::kCicIds2017;
  if (n == "nsl-kdd" || n == "nslkdd" || n == "kdd") return Format::kNslKdd;
  if (n == "unsw-nb15" || n == "unsw" || n == "unswnb15") return Format::kUnswNb15;
  if (n == "generic") return Format::kGeneric;
  return std::nullopt;
}

std::string LoadReport::summary() const {
  std::string s = "format " + std::string(to_string(format)) + ", " + std::to_string(rows) +
                  " rows from " + std::to_string(files.size()) + " file(s) in " +
                  std::to_string(static_cast<int>(seconds * 1000)) + " ms";
  if (bad_rows != 0) {
    s += "\n" + std::to_string(bad_rows) + " bad row(s) skipped";
    for (const auto& e : bad_row_examples) s += "\n  " + e;
  }
  for (const auto& c : columns) {
    s += "\ncolumn \"" + c.name + "\": " + std::to_string(c.empty) + " empty, " +
         std::to_string(c.non_finite) + " NaN/Infinity cell(s) (imputed with the training median)";
  }
  for (const auto& r : renamed) s += "\nrenamed " + r;
  for (const auto& d : ignored_duplicates) s += "\nignored duplicate " + d;
  return s;
}

Dataset load_csv(std::span<const std::string> paths_or_globs, const LoadOptions& options,
                 LoadReport* report) {
  const auto start = std::chrono::steady_clock::now();
  LoadReport local;
  LoadReport& rep = report != nullptr ? *report : local;
  rep = LoadReport{};
  rep.files = expand(paths_or_globs);
  Loader loader(options, rep);
  Dataset ds = loader.run(rep.files);
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return ds;
}

std::string canonical_column_name(std::string_view name) {
  const std::string_view t = text::trim(name);
  const auto& table = alias_table();
  const auto it = table.find(lower_copy(t));
  return it == table.end() ? std::string(t) : std::string(it->second);
}

std::span<const std::string_view> nsl_kdd_feature_names() { return kNslKddNames; }

std::string canonical_protocol(std::string_view text) {
  std::array<char, 32> buf{};
  return std::string(text::canonical_protocol(text, buf));
}

}  // namespace netsentry::data
