#include "netflow/ipfix_exporter.h"

#include <fixbuf/public.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace netsentry::netflow {
namespace {

// Record layouts handed to fixbuf: fields in template order, largest first, so the structs have no
// padding fixbuf would not know about.
struct Record4 {
  std::uint64_t start_ms;
  std::uint64_t end_ms;
  std::uint64_t octets;
  std::uint64_t packets;
  std::uint64_t fwd_packets;
  std::uint64_t bwd_packets;
  float score;
  std::uint32_t src;
  std::uint32_t dst;
  std::uint16_t src_port;
  std::uint16_t dst_port;
  std::uint16_t vlan;
  std::uint8_t proto;
  std::uint8_t end_reason;
  std::uint8_t verdict;
  std::uint8_t votes;
  std::uint8_t voters;
  std::uint8_t pad[5];
};
static_assert(sizeof(Record4) == 80);

struct Record6 {
  std::uint64_t start_ms;
  std::uint64_t end_ms;
  std::uint64_t octets;
  std::uint64_t packets;
  std::uint64_t fwd_packets;
  std::uint64_t bwd_packets;
  std::uint8_t src[16];
  std::uint8_t dst[16];
  float score;
  std::uint16_t src_port;
  std::uint16_t dst_port;
  std::uint16_t vlan;
  std::uint8_t proto;
  std::uint8_t end_reason;
  std::uint8_t verdict;
  std::uint8_t votes;
  std::uint8_t voters;
  std::uint8_t pad[1];
};
static_assert(sizeof(Record6) == 96);

// Names of netsentry's enterprise elements (docs/ipfix.md).
constexpr const char* kScore = "netsentryAnomalyScore";
constexpr const char* kVerdict = "netsentryVerdict";
constexpr const char* kVotes = "netsentryVotes";
constexpr const char* kVoters = "netsentryVoters";
constexpr const char* kFwdPackets = "netsentryInitiatorPackets";
constexpr const char* kBwdPackets = "netsentryResponderPackets";

fbInfoElement_t element(const char* name, std::uint32_t ent, std::uint16_t num, std::uint16_t len,
                        std::uint32_t flags, std::uint8_t type, const char* description) {
  fbInfoElement_t e{};
  e.ref.name = name;
  e.ent = ent;
  e.num = num;
  e.len = len;
  e.flags = flags;
  e.type = type;
  e.description = description;
  return e;
}

std::string take(GError*& error) {
  std::string text = error != nullptr ? error->message : "unknown error";
  g_clear_error(&error);
  return text;
}

// IPFIX flowEndReason (RFC 7011 / IANA): 1 idle, 2 active, 3 end of flow, 4 forced end,
// 5 lack of resources.
std::uint8_t end_reason(flow::EndReason reason) {
  switch (reason) {
    case flow::EndReason::kIdle:
      return 1;
    case flow::EndReason::kActive:
    case flow::EndReason::kOngoing:
      return 2;
    case flow::EndReason::kFin:
    case flow::EndReason::kRst:
      return 3;
    case flow::EndReason::kEndOfInput:
      return 4;
    case flow::EndReason::kEvicted:
      return 5;
    case flow::EndReason::kCount:
      break;
  }
  return 4;
}

}  // namespace

struct IpfixExporter::Fixbuf {
  fbInfoModel_t* model = nullptr;
  fBuf_t* buf = nullptr;  // owns the session and the exporter
  fbSession_t* session = nullptr;
  std::uint16_t tid4 = 0;
  std::uint16_t tid6 = 0;
  std::uint16_t current = 0;
  std::chrono::steady_clock::time_point templates_sent;
  std::vector<fbInfoElement_t> elements;

  ~Fixbuf() {
    if (buf != nullptr) fBufFree(buf);  // frees session and exporter
    if (model != nullptr) fbInfoModelFree(model);
  }
};

IpfixExporter::IpfixExporter(IpfixExporterOptions options)
    : options_(std::move(options)), fixbuf_(std::make_unique<Fixbuf>()) {
  Fixbuf& f = *fixbuf_;
  GError* error = nullptr;
  f.model = fbInfoModelAlloc();
  const std::uint32_t ent = options_.enterprise;
  f.elements = {
      element(kScore, ent, 1, 4, FB_IE_DEFAULT, FB_FLOAT_32,
              "netsentry's ensemble anomaly score of the flow (NaN when not scored)"),
      element(kVerdict, ent, 2, 1, FB_IE_IDENTIFIER, FB_UINT_8,
              "0 not scored, 1 benign, 2 anomalous"),
      element(kVotes, ent, 3, 1, FB_IE_QUANTITY, FB_UINT_8, "models that voted anomalous"),
      element(kVoters, ent, 4, 1, FB_IE_QUANTITY, FB_UINT_8, "models that voted"),
      element(kFwdPackets, ent, 5, 8, FB_IE_TOTALCOUNTER | FB_UNITS_PACKETS, FB_UINT_64,
              "packets sent by the flow's initiator"),
      element(kBwdPackets, ent, 6, 8, FB_IE_TOTALCOUNTER | FB_UNITS_PACKETS, FB_UINT_64,
              "packets sent by the flow's responder"),
  };
  f.elements.push_back(fbInfoElement_t{});  // FB_IE_NULL terminates the array
  fbInfoModelAddElementArray(f.model, f.elements.data());
  f.session = fbSessionAlloc(f.model);
  fbSessionSetDomain(f.session, options_.observation_domain);
  std::string host = options_.host;
  std::string port = options_.port;
  fbConnSpec_t spec{};
  spec.transport = FB_UDP;
  spec.host = host.data();
  spec.svc = port.data();
  fbExporter_t* exporter = fbExporterAllocNet(&spec);
  if (exporter == nullptr) {
    fbSessionFree(f.session);
    f.session = nullptr;
    throw core::Error("--export-ipfix " + destination() + ": cannot set up the exporter");
  }
  f.buf = fBufAllocForExport(f.session, exporter);

  // Two templates (IPv4 and IPv6 addresses); the same elements otherwise.
  const auto make = [&](bool v6) -> std::uint16_t {
    std::vector<fbInfoElementSpec_t> specs = {
        {const_cast<char*>("flowStartMilliseconds"), 8, 0},
        {const_cast<char*>("flowEndMilliseconds"), 8, 0},
        {const_cast<char*>("octetDeltaCount"), 8, 0},
        {const_cast<char*>("packetDeltaCount"), 8, 0},
        {const_cast<char*>(kFwdPackets), 8, 0},
        {const_cast<char*>(kBwdPackets), 8, 0},
    };
    if (v6) {
      specs.push_back({const_cast<char*>("sourceIPv6Address"), 16, 0});
      specs.push_back({const_cast<char*>("destinationIPv6Address"), 16, 0});
      specs.push_back({const_cast<char*>(kScore), 4, 0});
    } else {
      specs.push_back({const_cast<char*>(kScore), 4, 0});
      specs.push_back({const_cast<char*>("sourceIPv4Address"), 4, 0});
      specs.push_back({const_cast<char*>("destinationIPv4Address"), 4, 0});
    }
    for (fbInfoElementSpec_t s : std::initializer_list<fbInfoElementSpec_t>{
             {const_cast<char*>("sourceTransportPort"), 2, 0},
             {const_cast<char*>("destinationTransportPort"), 2, 0},
             {const_cast<char*>("vlanId"), 2, 0},
             {const_cast<char*>("protocolIdentifier"), 1, 0},
             {const_cast<char*>("flowEndReason"), 1, 0},
             {const_cast<char*>(kVerdict), 1, 0},
             {const_cast<char*>(kVotes), 1, 0},
             {const_cast<char*>(kVoters), 1, 0},
             {const_cast<char*>("paddingOctets"), static_cast<std::uint16_t>(v6 ? 1 : 5), 0}}) {
      specs.push_back(s);
    }
    specs.push_back({nullptr, 0, 0});
    fbTemplate_t* tmpl = fbTemplateAlloc(f.model);
    if (!fbTemplateAppendSpecArray(tmpl, specs.data(), UINT32_MAX, &error)) {
      throw core::Error("IPFIX template: " + take(error));
    }
    const std::uint16_t tid = fbSessionAddTemplate(f.session, TRUE, 0, tmpl, &error);
    if (tid == 0) throw core::Error("IPFIX template: " + take(error));
    if (fbSessionAddTemplate(f.session, FALSE, tid, tmpl, &error) == 0) {
      throw core::Error("IPFIX template: " + take(error));
    }
    return tid;
  };
  f.tid4 = make(false);
  f.tid6 = make(true);
  if (!fbSessionExportTemplates(f.session, &error)) {
    throw core::Error("--export-ipfix " + destination() + ": " + take(error));
  }
  f.templates_sent = std::chrono::steady_clock::now();
}

IpfixExporter::~IpfixExporter() {
  try {
    flush();
  } catch (...) {
  }
}

void IpfixExporter::add(const flow::FlowRecord& r, const ExportExtras& extras) {
  std::lock_guard lock(mutex_);
  Fixbuf& f = *fixbuf_;
  GError* error = nullptr;
  const auto now = std::chrono::steady_clock::now();
  if (now - f.templates_sent >= options_.template_refresh) {
    // Templates again for collectors that started after us (RFC 7011 8.4: UDP).
    if (!fbSessionExportTemplates(f.session, &error)) {
      errors_.fetch_add(1);
      g_clear_error(&error);
    }
    f.templates_sent = now;
  }
  const bool v6 = r.src_ip.family == 6 || r.dst_ip.family == 6;
  const std::uint16_t tid = v6 ? f.tid6 : f.tid4;
  if (tid != f.current) {
    if (!fBufSetInternalTemplate(f.buf, tid, &error) ||
        !fBufSetExportTemplate(f.buf, tid, &error)) {
      errors_.fetch_add(1);
      g_clear_error(&error);
      return;
    }
    f.current = tid;
  }
  const auto fill = [&](auto& rec) {
    rec.start_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(0, r.start_ns / 1'000'000));
    rec.end_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(0, r.end_ns / 1'000'000));
    rec.octets = r.byte_count;
    rec.packets = r.packet_count;
    rec.fwd_packets = static_cast<std::uint64_t>(r[flow::CicFeature::kTotalFwdPacket]);
    rec.bwd_packets = static_cast<std::uint64_t>(r[flow::CicFeature::kTotalBwdPackets]);
    rec.score = extras.score ? *extras.score : std::numeric_limits<float>::quiet_NaN();
    rec.src_port = r.src_port;
    rec.dst_port = r.dst_port;
    rec.vlan = r.vlan;
    rec.proto = r.ip_proto;
    rec.end_reason = end_reason(r.end_reason);
    rec.verdict = !extras.score ? 0 : extras.anomalous ? 2 : 1;
    rec.votes = extras.votes;
    rec.voters = extras.voters;
  };
  gboolean ok = FALSE;
  if (v6) {
    Record6 rec{};
    fill(rec);
    if (r.src_ip.family == 6) std::memcpy(rec.src, r.src_ip.bytes.data(), 16);
    if (r.dst_ip.family == 6) std::memcpy(rec.dst, r.dst_ip.bytes.data(), 16);
    ok = fBufAppend(f.buf, reinterpret_cast<std::uint8_t*>(&rec), sizeof rec, &error);
  } else {
    Record4 rec{};
    fill(rec);
    // fixbuf takes addresses in host byte order.
    const auto v4 = [](const net::IpAddress& a) {
      return (std::uint32_t{a.bytes[0]} << 24) | (std::uint32_t{a.bytes[1]} << 16) |
             (std::uint32_t{a.bytes[2]} << 8) | std::uint32_t{a.bytes[3]};
    };
    rec.src = v4(r.src_ip);
    rec.dst = v4(r.dst_ip);
    ok = fBufAppend(f.buf, reinterpret_cast<std::uint8_t*>(&rec), sizeof rec, &error);
  }
  if (!ok) {
    errors_.fetch_add(1);
    g_clear_error(&error);
    return;
  }
  records_.fetch_add(1);
}

void IpfixExporter::flush() {
  std::lock_guard lock(mutex_);
  GError* error = nullptr;
  if (!fixbuf_ || fixbuf_->buf == nullptr) return;
  if (!fBufEmit(fixbuf_->buf, &error)) {
    errors_.fetch_add(1);
    g_clear_error(&error);
    return;
  }
  messages_.fetch_add(1);
}

ExporterStats IpfixExporter::stats() const {
  return {records_.load(), messages_.load(), errors_.load()};
}

}  // namespace netsentry::netflow
