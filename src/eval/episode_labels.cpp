#include "eval/episode_labels.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "data/csv_reader.h"
#include "data/text.h"

namespace netsentry::eval {
namespace {

constexpr std::int64_t kNsPerSecond = 1'000'000'000;

std::int64_t seconds_ns(double seconds) {
  return static_cast<std::int64_t>(seconds * static_cast<double>(kNsPerSecond));
}

using data::CsvField;
using data::text::iequals;
using data::text::trim;

bool valid_kind(std::string_view kind) {
  return !kind.empty() && std::all_of(kind.begin(), kind.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

struct Time {
  double seconds = 0;
  std::int64_t ns = 0;
};

// Epoch seconds as written by the lab ("1767225661.004779") to the exact nanosecond; a double
// would be 8 ns off. Other spellings (exponents) go through the double.
Time parse_time(const CsvField& f, std::string_view column, const std::string& name) {
  const std::string_view text = trim(f.text);
  Time t;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), t.seconds);
  // 9e9 s (year 2255) keeps nanoseconds inside int64.
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(t.seconds) || t.seconds < 0 || t.seconds > 9e9) {
    throw core::Error(fmt::format("{}:{}:{}: {} \"{}\" is not a time in epoch seconds", name,
                                  f.line, f.column, column, f.text));
  }
  const std::size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction =
      dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  const auto digits = [](std::string_view v) {
    return std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!whole.empty() && digits(whole) && digits(fraction)) {
    std::int64_t sec = 0;
    (void)std::from_chars(whole.data(), whole.data() + whole.size(), sec);
    std::int64_t frac = 0;
    for (std::size_t i = 0; i < 9; ++i) {
      frac = frac * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
    }
    t.ns = sec * kNsPerSecond + frac;
  } else {
    t.ns = static_cast<std::int64_t>(std::llround(t.seconds * 1e9));
  }
  return t;
}

bool has_address(const net::IpAddress& ip) { return ip.family != 0; }

bool overlaps(std::int64_t a0, std::int64_t a1, std::int64_t b0, std::int64_t b1) {
  return a0 <= b1 && b0 <= a1;
}

}  // namespace

bool Episode::src_is_prefix() const { return src.prefix < (src.network.family == 4 ? 32 : 128); }

bool Episode::matches_endpoints(const net::IpAddress& a, const net::IpAddress& b) const {
  const auto other_ok = [this](const net::IpAddress& other) { return !dst || *dst == other; };
  return (src.contains(a) && other_ok(b)) || (src.contains(b) && other_ok(a));
}

AlertMatch match_alert(const Episode& e, const detect::Alert& a) {
  const bool has_src = has_address(a.src_ip);
  const bool has_dst = has_address(a.dst_ip);
  if (!has_src && !has_dst) {
    const std::int64_t slack = seconds_ns(kFlowSlackSeconds);
    return a.time_ns >= e.start_ns - slack && a.time_ns <= e.end_ns + slack
               ? AlertMatch::kCoinciding
               : AlertMatch::kNone;
  }
  if (a.time_ns < e.start_ns - seconds_ns(kAlertLeadSeconds) ||
      a.time_ns > e.end_ns + seconds_ns(kAlertLagSeconds)) {
    return AlertMatch::kNone;
  }
  if ((has_src && e.src.contains(a.src_ip)) || (has_dst && e.src.contains(a.dst_ip))) {
    return AlertMatch::kAttributed;
  }
  // Spoofed sources: the detector reports the victim and "many sources" without an address.
  if (!has_src && e.src_is_prefix() && (!e.dst || *e.dst == a.dst_ip)) {
    return AlertMatch::kAttributed;
  }
  return AlertMatch::kNone;
}

EpisodeLabels EpisodeLabels::load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::Error(fmt::format("{}: cannot read the labels file", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw core::Error(fmt::format("{}: read error", path.string()));
  return parse(text.str(), path.string());
}

EpisodeLabels EpisodeLabels::parse(std::string_view text, const std::string& name) {
  data::CsvRecords reader(text, name);
  std::vector<CsvField> record;
  if (!reader.next(record)) {
    throw core::Error(
        fmt::format("{}:1:1: empty file; expected the header "
                    "kind,src,dst,start,end,tool,description",
                    name));
  }
  constexpr std::array<std::string_view, 7> kColumns = {"kind", "src",  "dst",        "start",
                                                        "end",  "tool", "description"};
  std::array<std::optional<std::size_t>, 7> index;
  for (std::size_t i = 0; i < record.size(); ++i) {
    for (std::size_t c = 0; c < kColumns.size(); ++c) {
      if (iequals(trim(record[i].text), kColumns[c])) index[c] = i;
    }
  }
  for (std::size_t c = 0; c < 5; ++c) {
    if (!index[c]) {
      throw core::Error(fmt::format(
          "{}:1:1: no \"{}\" column in the header (expected kind,src,dst,start,end,tool,"
          "description)",
          name, kColumns[c]));
    }
  }
  EpisodeLabels labels;
  while (reader.next(record)) {
    if (record.size() == 1 && trim(record[0].text).empty()) continue;  // a blank line
    const auto field = [&](std::size_t c) -> const CsvField* {
      return index[c] && *index[c] < record.size() ? &record[*index[c]] : nullptr;
    };
    const std::size_t line = record.front().line;
    for (std::size_t c = 0; c < 5; ++c) {
      if (!field(c)) {
        const CsvField& last = record.back();
        throw core::Error(
            fmt::format("{}:{}:{}: missing the \"{}\" field ({} fields, header "
                        "has more)",
                        name, line, last.column + last.text.size(), kColumns[c], record.size()));
      }
    }
    Episode e;
    e.line = line;
    const CsvField& kind = *field(0);
    e.kind = std::string(trim(kind.text));
    if (!valid_kind(e.kind)) {
      throw core::Error(
          fmt::format("{}:{}:{}: kind \"{}\" is not a name (letters, digits, '_', '-', '.')", name,
                      kind.line, kind.column, kind.text));
    }
    if (iequals(e.kind, kBenignLabel)) {
      throw core::Error(fmt::format("{}:{}:{}: kind \"{}\" names normal traffic, not an attack",
                                    name, kind.line, kind.column, kind.text));
    }
    const CsvField& src = *field(1);
    e.src_text = std::string(trim(src.text));
    const auto subnet = detect::Subnet::parse(e.src_text);
    if (!subnet) {
      throw core::Error(fmt::format("{}:{}:{}: src \"{}\" is not an address or CIDR prefix", name,
                                    src.line, src.column, src.text));
    }
    e.src = *subnet;
    const CsvField& dst = *field(2);
    e.dst_text = std::string(trim(dst.text));
    if (!e.dst_text.empty()) {
      net::IpAddress ip;
      if (!net::IpAddress::parse(e.dst_text, ip)) {
        throw core::Error(
            fmt::format("{}:{}:{}: dst \"{}\" is not an address (leave it empty "
                        "when the attack targets many hosts)",
                        name, dst.line, dst.column, dst.text));
      }
      e.dst = ip;
    }
    const CsvField& start = *field(3);
    const CsvField& end = *field(4);
    const Time t0 = parse_time(start, "start", name);
    const Time t1 = parse_time(end, "end", name);
    if (t1.ns < t0.ns) {
      throw core::Error(fmt::format("{}:{}:{}: end {} is before start {}", name, end.line,
                                    end.column, end.text, start.text));
    }
    e.start_s = t0.seconds;
    e.end_s = t1.seconds;
    e.start_ns = t0.ns;
    e.end_ns = t1.ns;
    if (const CsvField* f = field(5)) e.tool = f->text;
    if (const CsvField* f = field(6)) e.description = f->text;
    labels.episodes_.push_back(std::move(e));
  }
  std::stable_sort(labels.episodes_.begin(), labels.episodes_.end(),
                   [](const Episode& a, const Episode& b) { return a.start_ns < b.start_ns; });
  return labels;
}

std::optional<std::size_t> EpisodeLabels::match_flow(const net::IpAddress& a,
                                                     const net::IpAddress& b, std::int64_t start_ns,
                                                     std::int64_t end_ns) const {
  const std::int64_t slack = seconds_ns(kFlowSlackSeconds);
  for (std::size_t i = 0; i < episodes_.size(); ++i) {
    const Episode& e = episodes_[i];
    if (e.start_ns - slack > end_ns) break;  // sorted by start: no later episode overlaps
    if (overlaps(start_ns, end_ns, e.start_ns - slack, e.end_ns + slack) &&
        e.matches_endpoints(a, b)) {
      return i;
    }
  }
  return std::nullopt;
}

std::string_view EpisodeLabels::flow_label(const flow::FlowRecord& flow) const {
  const auto i = match_flow(flow);
  return i ? std::string_view(episodes_[*i].kind) : kBenignLabel;
}

std::optional<std::size_t> EpisodeLabels::attribute_alert(const detect::Alert& alert) const {
  std::optional<std::size_t> best;
  // Rank: same kind, then the alert inside the episode's own window, then the latest start.
  const auto rank = [&](const Episode& e) {
    const std::int64_t slack = seconds_ns(kFlowSlackSeconds);
    const bool inside = alert.time_ns >= e.start_ns - slack && alert.time_ns <= e.end_ns + slack;
    return std::tuple(e.kind == alert.kind, inside, e.start_ns);
  };
  for (std::size_t i = 0; i < episodes_.size(); ++i) {
    if (match_alert(episodes_[i], alert) != AlertMatch::kAttributed) continue;
    if (!best || rank(episodes_[i]) > rank(episodes_[*best])) best = i;
  }
  return best;
}

}  // namespace netsentry::eval
