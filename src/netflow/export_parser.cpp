#include "netflow/export_parser.h"

#include <algorithm>
#include <cstring>

namespace netsentry::netflow {
namespace {

constexpr std::uint32_t kReversePen = 29305;             // RFC 5103 reverse information elements
constexpr std::int64_t kNtpEpochOffset = 2'208'988'800;  // 1900-01-01 to 1970-01-01, seconds
constexpr std::size_t kMaxFields = 512;
constexpr std::uint16_t kVariable = 65535;

// Bounds-checked big-endian reads over one datagram.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> d) : d_(d) {}
  [[nodiscard]] std::size_t left() const { return d_.size() - at_; }
  [[nodiscard]] std::size_t at() const { return at_; }
  bool u8(std::uint8_t& v) {
    if (left() < 1) return false;
    v = d_[at_++];
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (left() < 2) return false;
    v = static_cast<std::uint16_t>((d_[at_] << 8) | d_[at_ + 1]);
    at_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (left() < 4) return false;
    v = (std::uint32_t{d_[at_]} << 24) | (std::uint32_t{d_[at_ + 1]} << 16) |
        (std::uint32_t{d_[at_ + 2]} << 8) | std::uint32_t{d_[at_ + 3]};
    at_ += 4;
    return true;
  }
  bool bytes(std::size_t n, std::span<const std::uint8_t>& out) {
    if (left() < n) return false;
    out = d_.subspan(at_, n);
    at_ += n;
    return true;
  }
  bool skip(std::size_t n) {
    if (left() < n) return false;
    at_ += n;
    return true;
  }

 private:
  std::span<const std::uint8_t> d_;
  std::size_t at_ = 0;
};

std::uint64_t be(std::span<const std::uint8_t> b) {
  std::uint64_t v = 0;
  for (const std::uint8_t c : b.first(std::min<std::size_t>(b.size(), 8))) v = (v << 8) | c;
  return v;
}

net::IpAddress v4(std::span<const std::uint8_t> b) {
  net::IpAddress a;
  a.family = 4;
  std::memcpy(a.bytes.data(), b.data(), 4);
  return a;
}

net::IpAddress v6(std::span<const std::uint8_t> b) {
  net::IpAddress a;
  a.family = 6;
  std::memcpy(a.bytes.data(), b.data(), 16);
  return a;
}

std::int64_t ntp_to_ns(std::uint64_t ntp) {
  const auto seconds = static_cast<std::int64_t>(ntp >> 32) - kNtpEpochOffset;
  const auto fraction = static_cast<std::int64_t>(((ntp & 0xffffffffULL) * 1'000'000'000ULL) >> 32);
  return seconds * 1'000'000'000 + fraction;
}

// Times a record may state in several ways; resolved once the whole record is read.
struct Times {
  std::int64_t start_ns = 0, end_ns = 0;
  bool start = false, end = false;
  std::int64_t start_uptime_ms = -1, end_uptime_ms = -1;  // sysUpTime-relative (21/22)
  std::int64_t init_ms = -1;                              // systemInitTimeMilliseconds (160)
  std::int64_t start_delta_us = -1, end_delta_us = -1;    // before the export time (158/159)
};

// One field of a v9/IPFIX record into `f`.
void apply_field(const ExportParser::FieldSpec& spec, std::span<const std::uint8_t> v,
                 ExportedFlow& f, Times& t) {
  using F = ExportedFlow;
  if (spec.enterprise == kReversePen) {
    switch (spec.id) {
      case 1:
      case 85:
        f.reverse_octets = be(v);
        f.present |= F::kReverseOctets;
        break;
      case 2:
      case 86:
        f.reverse_packets = be(v);
        f.present |= F::kReversePackets;
        break;
      default:
        break;
    }
    return;
  }
  if (spec.enterprise != 0) return;
  switch (spec.id) {
    case 1:   // octetDeltaCount
    case 85:  // octetTotalCount
      f.octets = be(v);
      f.present |= F::kOctets;
      break;
    case 2:   // packetDeltaCount
    case 86:  // packetTotalCount
      f.packets = be(v);
      f.present |= F::kPackets;
      break;
    case 4:
      if (!v.empty()) {
        f.protocol = static_cast<std::uint8_t>(be(v));
        f.present |= F::kProtocol;
      }
      break;
    case 6:
      if (!v.empty()) {
        f.tcp_flags = static_cast<std::uint8_t>(be(v) & 0xff);
        f.present |= F::kTcpFlags;
      }
      break;
    case 7:
      f.src_port = static_cast<std::uint16_t>(be(v));
      f.present |= F::kSrcPort;
      break;
    case 11:
      f.dst_port = static_cast<std::uint16_t>(be(v));
      f.present |= F::kDstPort;
      break;
    case 8:
      if (v.size() == 4) {
        f.src = v4(v);
        f.present |= F::kSrcAddress;
      }
      break;
    case 12:
      if (v.size() == 4) {
        f.dst = v4(v);
        f.present |= F::kDstAddress;
      }
      break;
    case 27:
      if (v.size() == 16) {
        f.src = v6(v);
        f.present |= F::kSrcAddress;
      }
      break;
    case 28:
      if (v.size() == 16) {
        f.dst = v6(v);
        f.present |= F::kDstAddress;
      }
      break;
    case 32:   // icmpTypeCodeIPv4
    case 139:  // icmpTypeCodeIPv6
      if (v.size() == 2) {
        f.icmp_type = v[0];
        f.icmp_code = v[1];
        f.present |= F::kIcmpTypeCode;
      }
      break;
    case 176:  // icmpTypeIPv4
    case 178:  // icmpTypeIPv6
      if (v.size() == 1) {
        f.icmp_type = v[0];
        f.present |= F::kIcmpTypeCode;
      }
      break;
    case 177:
    case 179:
      if (v.size() == 1) f.icmp_code = v[0];
      break;
    case 58:   // vlanId
    case 243:  // dot1qVlanId
      f.vlan = static_cast<std::uint16_t>(be(v) & 0x0fff);
      f.present |= F::kVlan;
      break;
    case 136:
      if (v.size() == 1) {
        f.end_reason = v[0];
        f.present |= F::kEndReason;
      }
      break;
    case 21:
      t.end_uptime_ms = static_cast<std::int64_t>(be(v) & 0xffffffffULL);
      break;
    case 22:
      t.start_uptime_ms = static_cast<std::int64_t>(be(v) & 0xffffffffULL);
      break;
    case 160:
      t.init_ms = static_cast<std::int64_t>(be(v));
      break;
    case 150:
      t.start_ns = static_cast<std::int64_t>(be(v)) * 1'000'000'000;
      t.start = true;
      break;
    case 151:
      t.end_ns = static_cast<std::int64_t>(be(v)) * 1'000'000'000;
      t.end = true;
      break;
    case 152:
      t.start_ns = static_cast<std::int64_t>(be(v)) * 1'000'000;
      t.start = true;
      break;
    case 153:
      t.end_ns = static_cast<std::int64_t>(be(v)) * 1'000'000;
      t.end = true;
      break;
    case 154:
    case 156:
      if (v.size() == 8) {
        t.start_ns = ntp_to_ns(be(v));
        t.start = true;
      }
      break;
    case 155:
    case 157:
      if (v.size() == 8) {
        t.end_ns = ntp_to_ns(be(v));
        t.end = true;
      }
      break;
    case 158:
      t.start_delta_us = static_cast<std::int64_t>(be(v));
      break;
    case 159:
      t.end_delta_us = static_cast<std::int64_t>(be(v));
      break;
    default:
      break;
  }
}

// Absolute times from whatever the record gave: explicit times win, then sysUpTime-relative ones
// (with the record's or the header's idea of boot time), then deltas before the export time.
void resolve_times(Times& t, std::int64_t boot_ms, bool have_boot, std::int64_t export_ns,
                   ExportedFlow& f) {
  const bool boot = t.init_ms >= 0 || have_boot;
  const std::int64_t init = t.init_ms >= 0 ? t.init_ms : boot_ms;
  if (!t.start && t.start_uptime_ms >= 0 && boot) {
    t.start_ns = (init + t.start_uptime_ms) * 1'000'000;
    t.start = true;
  }
  if (!t.end && t.end_uptime_ms >= 0 && boot) {
    t.end_ns = (init + t.end_uptime_ms) * 1'000'000;
    t.end = true;
  }
  if (!t.start && t.start_delta_us >= 0) {
    t.start_ns = export_ns - t.start_delta_us * 1000;
    t.start = true;
  }
  if (!t.end && t.end_delta_us >= 0) {
    t.end_ns = export_ns - t.end_delta_us * 1000;
    t.end = true;
  }
  if (t.start) {
    f.start_ns = t.start_ns;
    f.present |= ExportedFlow::kStart;
  }
  if (t.end) {
    f.end_ns = t.end_ns;
    f.present |= ExportedFlow::kEnd;
  }
}

bool is_flow(const ExportedFlow& f) {
  return f.has(ExportedFlow::kSrcAddress) && f.has(ExportedFlow::kDstAddress);
}

// Reads `n` field specifiers of a template record; the first `scope` are scope fields (system,
// interface, ...), not flow fields. IPFIX marks an enterprise-specific element with the id's top
// bit and follows it with the enterprise number.
bool read_fields(Reader& s, std::size_t n, std::size_t scope, bool enterprise_bit,
                 std::vector<ExportParser::FieldSpec>& fields) {
  bool ok = true;
  for (std::size_t i = 0; ok && i < n; ++i) {
    ExportParser::FieldSpec f;
    ok = s.u16(f.id) && s.u16(f.length);
    if (ok && enterprise_bit && (f.id & 0x8000) != 0) {
      f.id &= 0x7fff;
      ok = s.u32(f.enterprise);
    }
    if (i < scope) f.enterprise = UINT32_MAX;
    fields.push_back(f);
  }
  return ok;
}

// Reads one data record laid out by `fields` into `f` and `times`; false when it runs past the
// set. With `variable_lengths` (IPFIX), a field of length 65535 carries its own length first
// (RFC 7011 section 7); NetFlow v9 lengths are all fixed.
bool read_record(Reader& s, const std::vector<ExportParser::FieldSpec>& fields,
                 bool variable_lengths, ExportedFlow& f, Times& times) {
  for (const ExportParser::FieldSpec& spec : fields) {
    std::size_t n = spec.length;
    bool ok = true;
    if (variable_lengths && n == kVariable) {
      std::uint8_t short_len = 0;
      ok = s.u8(short_len);
      n = short_len;
      if (ok && short_len == 255) {
        std::uint16_t long_len = 0;
        ok = s.u16(long_len);
        n = long_len;
      }
    }
    std::span<const std::uint8_t> v;
    if (!ok || !s.bytes(n, v)) return false;
    apply_field(spec, v, f, times);
  }
  return true;
}

}  // namespace

std::string_view format_name(ExportFormat format) {
  switch (format) {
    case ExportFormat::kNetflow5:
      return "netflow5";
    case ExportFormat::kNetflow9:
      return "netflow9";
    case ExportFormat::kIpfix:
      return "ipfix";
  }
  return "unknown";
}

ExportParser::ExportParser(ParserOptions options) : options_(options) {
  options_.max_templates = std::max<std::size_t>(options_.max_templates, 1);
}

void ExportParser::parse(std::span<const std::uint8_t> d, std::string_view exporter,
                         std::vector<ExportedFlow>& out) {
  ++stats_.packets;
  if (d.size() < 2) {
    ++stats_.truncated;
    ++stats_.bad_packets;
    return;
  }
  const std::uint16_t version = static_cast<std::uint16_t>((d[0] << 8) | d[1]);
  const std::uint64_t bad_before = stats_.truncated + stats_.bad_template + stats_.unknown_version;
  switch (version) {
    case 5:
      parse_v5(d, out);
      break;
    case 9:
      parse_v9(d, exporter, out);
      break;
    case 10:
      parse_ipfix(d, exporter, out);
      break;
    default:
      ++stats_.unknown_version;
      break;
  }
  if (stats_.truncated + stats_.bad_template + stats_.unknown_version != bad_before) {
    ++stats_.bad_packets;
  }
}

void ExportParser::parse_v5(std::span<const std::uint8_t> d, std::vector<ExportedFlow>& out) {
  Reader r(d);
  std::uint16_t version = 0, count = 0;
  std::uint32_t uptime = 0, secs = 0, nsecs = 0, sequence = 0;
  if (!r.u16(version) || !r.u16(count) || !r.u32(uptime) || !r.u32(secs) || !r.u32(nsecs) ||
      !r.u32(sequence) || !r.skip(4)) {
    ++stats_.truncated;
    return;
  }
  // The router's boot time in ms since the epoch: records are stamped in uptime.
  const std::int64_t boot_ms = std::int64_t{secs} * 1000 + nsecs / 1'000'000 - std::int64_t{uptime};
  for (std::uint16_t i = 0; i < count; ++i) {
    std::span<const std::uint8_t> rec;
    if (!r.bytes(48, rec)) {
      ++stats_.truncated;
      return;
    }
    Reader x(rec);
    std::span<const std::uint8_t> src, dst;
    std::uint32_t nexthop = 0, packets = 0, octets = 0, first = 0, last = 0;
    std::uint16_t in = 0, outif = 0, sport = 0, dport = 0;
    std::uint8_t pad = 0, flags = 0, proto = 0, tos = 0;
    (void)x.bytes(4, src);
    (void)x.bytes(4, dst);
    (void)x.u32(nexthop);
    (void)x.u16(in);
    (void)x.u16(outif);
    (void)x.u32(packets);
    (void)x.u32(octets);
    (void)x.u32(first);
    (void)x.u32(last);
    (void)x.u16(sport);
    (void)x.u16(dport);
    (void)x.u8(pad);
    (void)x.u8(flags);
    (void)x.u8(proto);
    (void)x.u8(tos);
    ExportedFlow f;
    f.format = ExportFormat::kNetflow5;
    f.src = v4(src);
    f.dst = v4(dst);
    f.src_port = sport;
    f.dst_port = dport;
    f.protocol = proto;
    f.packets = packets;
    f.octets = octets;
    f.tcp_flags = flags;
    f.start_ns = (boot_ms + first) * 1'000'000;
    f.end_ns = (boot_ms + last) * 1'000'000;
    f.present = ExportedFlow::kSrcAddress | ExportedFlow::kDstAddress | ExportedFlow::kProtocol |
                ExportedFlow::kPackets | ExportedFlow::kOctets | ExportedFlow::kStart |
                ExportedFlow::kEnd;
    if (proto == 6 || proto == 17 || proto == 132) {
      f.present |= ExportedFlow::kSrcPort | ExportedFlow::kDstPort;
      if (proto == 6) f.present |= ExportedFlow::kTcpFlags;
    } else if (proto == 1) {
      // NetFlow v5 carries ICMP type and code in the destination port.
      f.icmp_type = static_cast<std::uint8_t>(dport >> 8);
      f.icmp_code = static_cast<std::uint8_t>(dport & 0xff);
      f.dst_port = 0;
      f.present |= ExportedFlow::kIcmpTypeCode;
    }
    out.push_back(f);
    ++stats_.records;
  }
}

bool ExportParser::learn(const std::string& key, std::vector<FieldSpec> fields, bool options) {
  if (fields.empty() || fields.size() > kMaxFields) {
    ++stats_.bad_template;
    return false;
  }
  std::size_t min_length = 0;
  for (const FieldSpec& f : fields) min_length += f.length == kVariable ? 1 : f.length;
  if (min_length == 0) {  // would never advance through a data set
    ++stats_.bad_template;
    return false;
  }
  ++stats_.templates;
  auto it = templates_.find(key);
  if (it != templates_.end()) {
    lru_.erase(it->second.lru);
  } else {
    if (templates_.size() >= options_.max_templates) {
      templates_.erase(lru_.back());
      lru_.pop_back();
      ++stats_.template_evictions;
    }
    it = templates_.emplace(key, Template{}).first;
  }
  lru_.push_front(key);
  it->second = Template{std::move(fields), min_length, options, lru_.begin()};
  return true;
}

const ExportParser::Template* ExportParser::find(const std::string& key) {
  const auto it = templates_.find(key);
  if (it == templates_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return &it->second;
}

bool ExportParser::keep_template(bool ok, std::uint16_t tid, const std::string& prefix,
                                 std::vector<FieldSpec> fields, bool options) {
  if (!ok || tid < 256) {
    ++(ok ? stats_.bad_template : stats_.truncated);
    return false;
  }
  return learn(prefix + std::to_string(tid), std::move(fields), options);
}

template <class OnTemplates, class ResolveTimes>
void ExportParser::parse_sets(std::span<const std::uint8_t> sets, ExportFormat format,
                              const std::string& prefix, OnTemplates&& on_templates,
                              ResolveTimes&& resolve_times, std::vector<ExportedFlow>& out) {
  // Template and options template set ids: 0 and 1 in NetFlow v9, 2 and 3 in IPFIX.
  const std::uint16_t template_set = format == ExportFormat::kIpfix ? 2 : 0;
  Reader r(sets);
  while (r.left() > 0) {
    std::uint16_t set_id = 0, set_length = 0;
    if (!r.u16(set_id) || !r.u16(set_length) || set_length < 4) {
      ++stats_.truncated;
      return;
    }
    std::span<const std::uint8_t> body;
    if (!r.bytes(set_length - 4, body)) {
      ++stats_.truncated;
      return;
    }
    if (set_id == template_set || set_id == template_set + 1) {
      on_templates(body, set_id == template_set + 1);
      continue;
    }
    if (set_id < 256) continue;  // reserved
    const Template* t = find(prefix + std::to_string(set_id));
    if (t == nullptr) {
      ++stats_.no_template;
      continue;
    }
    const std::vector<FieldSpec> fields = t->fields;  // learn() may replace it below
    const bool options = t->options;
    const std::size_t min_length = t->min_length;
    Reader s(body);
    while (s.left() >= min_length) {
      ExportedFlow f;
      f.format = format;
      Times times;
      if (!read_record(s, fields, format == ExportFormat::kIpfix, f, times)) {
        ++stats_.truncated;
        break;
      }
      resolve_times(times, f);
      if (options || !is_flow(f)) {
        ++stats_.not_a_flow;
        continue;
      }
      out.push_back(f);
      ++stats_.records;
    }
  }
}

void ExportParser::parse_v9(std::span<const std::uint8_t> d, std::string_view exporter,
                            std::vector<ExportedFlow>& out) {
  Reader r(d);
  std::uint16_t version = 0, count = 0;
  std::uint32_t uptime = 0, secs = 0, sequence = 0, source = 0;
  if (!r.u16(version) || !r.u16(count) || !r.u32(uptime) || !r.u32(secs) || !r.u32(sequence) ||
      !r.u32(source)) {
    ++stats_.truncated;
    return;
  }
  const std::int64_t boot_ms = std::int64_t{secs} * 1000 - std::int64_t{uptime};
  const std::string prefix = std::string(exporter) + "|9|" + std::to_string(source) + "|";
  const auto templates = [&](std::span<const std::uint8_t> body, bool options) {
    Reader s(body);
    // Templates (0) and options templates (1); what is left after the last one is padding.
    while (s.left() >= 4) {
      std::uint16_t tid = 0;
      std::vector<FieldSpec> fields;
      bool ok = s.u16(tid);
      if (!options) {
        std::uint16_t n = 0;
        ok = ok && s.u16(n) && n <= kMaxFields && read_fields(s, n, 0, false, fields);
      } else {
        std::uint16_t scope_len = 0, option_len = 0;
        ok = ok && s.u16(scope_len) && s.u16(option_len) && scope_len % 4 == 0 &&
             option_len % 4 == 0 && (scope_len + option_len) / 4 <= kMaxFields &&
             read_fields(s, (scope_len + option_len) / 4, scope_len / 4, false, fields);
      }
      if (!keep_template(ok, tid, prefix, std::move(fields), options)) break;
      if (options) break;  // one options template per set; the rest is padding
    }
  };
  const auto times = [&](Times& t, ExportedFlow& f) {
    resolve_times(t, boot_ms, true, std::int64_t{secs} * 1'000'000'000, f);
  };
  parse_sets(d.subspan(r.at()), ExportFormat::kNetflow9, prefix, templates, times, out);
}

void ExportParser::parse_ipfix(std::span<const std::uint8_t> d, std::string_view exporter,
                               std::vector<ExportedFlow>& out) {
  Reader head(d);
  std::uint16_t version = 0, length = 0;
  std::uint32_t export_time = 0, sequence = 0, domain = 0;
  if (!head.u16(version) || !head.u16(length) || !head.u32(export_time) || !head.u32(sequence) ||
      !head.u32(domain) || length < 16 || length > d.size()) {
    ++stats_.truncated;
    return;
  }
  const std::string prefix = std::string(exporter) + "|10|" + std::to_string(domain) + "|";
  // systemInitTimeMilliseconds sent in an options record applies to later data of the domain.
  const std::string boot_key = prefix + "boot";
  const auto templates = [&](std::span<const std::uint8_t> body, bool options) {
    Reader s(body);
    while (s.left() >= 4) {
      std::uint16_t tid = 0, n = 0, scope = 0;
      bool ok = s.u16(tid) && s.u16(n) && n <= kMaxFields;
      if (ok && options) ok = s.u16(scope) && scope <= n;
      if (ok && n == 0) {
        // A withdrawal: forget the template.
        if (const auto it = templates_.find(prefix + std::to_string(tid)); it != templates_.end()) {
          lru_.erase(it->second.lru);
          templates_.erase(it);
        }
        continue;
      }
      std::vector<FieldSpec> fields;
      ok = ok && read_fields(s, n, scope, true, fields);
      if (!keep_template(ok, tid, prefix, std::move(fields), options)) break;
    }
  };
  const auto times = [&](Times& t, ExportedFlow& f) {
    if (t.init_ms >= 0) {
      // Remembered for the domain's later records (softflowd sends it in an options record).
      if (boot_ms_.size() >= options_.max_templates && !boot_ms_.contains(boot_key)) {
        boot_ms_.clear();
      }
      boot_ms_[boot_key] = t.init_ms;
    }
    std::int64_t boot_ms = 0;
    const auto boot = boot_ms_.find(boot_key);
    const bool have_boot = boot != boot_ms_.end();
    if (have_boot) boot_ms = boot->second;
    resolve_times(t, boot_ms, have_boot, std::int64_t{export_time} * 1'000'000'000, f);
  };
  parse_sets(d.subspan(16, length - 16), ExportFormat::kIpfix, prefix, templates, times, out);
}

flow::FlowRecord to_flow_record(const ExportedFlow& f) {
  flow::FlowRecord r;
  r.start_ns = f.has(ExportedFlow::kStart) ? f.start_ns : f.end_ns;
  r.end_ns = f.has(ExportedFlow::kEnd) ? f.end_ns : r.start_ns;
  if (r.end_ns < r.start_ns) std::swap(r.start_ns, r.end_ns);
  r.src_ip = f.src;
  r.dst_ip = f.dst;
  r.src_port = f.src_port;
  r.dst_port = f.dst_port;
  r.ip_proto = f.protocol;
  r.vlan = f.vlan;
  switch (f.end_reason) {
    case 1:
      r.end_reason = flow::EndReason::kIdle;
      break;
    case 2:
      r.end_reason = flow::EndReason::kActive;
      break;
    case 3:
      r.end_reason = flow::EndReason::kFin;
      break;
    case 5:
      r.end_reason = flow::EndReason::kEvicted;
      break;
    default:
      r.end_reason = flow::EndReason::kEndOfInput;
      break;
  }
  r.duration_s = static_cast<double>(r.end_ns - r.start_ns) / 1e9;
  r.packet_count = f.packets + f.reverse_packets;
  r.byte_count = f.octets + f.reverse_octets;
  r.cic[static_cast<std::size_t>(flow::CicFeature::kTotalFwdPacket)] =
      static_cast<double>(f.packets);
  r.cic[static_cast<std::size_t>(flow::CicFeature::kTotalBwdPackets)] =
      static_cast<double>(f.reverse_packets);
  r.cic[static_cast<std::size_t>(flow::CicFeature::kFlowDuration)] =
      static_cast<double>(r.end_ns - r.start_ns) / 1e3;  // CICFlowMeter's microseconds
  const bool icmp = f.protocol == 1 || f.protocol == 58;
  r.cic[static_cast<std::size_t>(flow::CicFeature::kIcmpType)] =
      icmp && f.has(ExportedFlow::kIcmpTypeCode) ? f.icmp_type : -1;
  r.cic[static_cast<std::size_t>(flow::CicFeature::kIcmpCode)] =
      icmp && f.has(ExportedFlow::kIcmpTypeCode) ? f.icmp_code : -1;
  r.cic[static_cast<std::size_t>(flow::CicFeature::kFwdInitWinBytes)] = -1;
  r.cic[static_cast<std::size_t>(flow::CicFeature::kBwdInitWinBytes)] = -1;
  return r;
}

}  // namespace netsentry::netflow
