// Provides netflow::IpfixExporter: netsentry's finished flows as IPFIX (RFC 7011) over UDP,
// through libfixbuf (src/netflow is its only user). One biflow record per flow (RFC 5103: the
// reverse counters carry the responder's direction) with IANA's standard information elements,
// and a few enterprise-specific elements for what only netsentry knows (the anomaly score and
// verdict), documented in docs/ipfix.md. Templates are sent first and again every
// template_refresh (UDP collectors that start later learn them).
// Thread rules: add()/flush() from one thread at a time (a mutex serialises them); stats() from
// any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "flow/flow_record.h"

namespace netsentry::netflow {

// netsentry's private enterprise number for its own elements. 32473 is the number IANA reserves
// for documentation and examples (RFC 5612): netsentry has no number of its own, so its elements
// must never be read as another vendor's (docs/ipfix.md).
inline constexpr std::uint32_t kNetsentryEnterprise = 32473;

struct IpfixExporterOptions {
  std::string host = "127.0.0.1";
  std::string port = "4739";
  std::uint32_t observation_domain = 0;
  std::uint32_t enterprise = kNetsentryEnterprise;
  std::chrono::seconds template_refresh{60};
};

// What the detection stage adds to a flow.
struct ExportExtras {
  std::optional<float> score;  // the ensemble score; absent when not scored
  bool anomalous = false;
  std::uint8_t votes = 0;
  std::uint8_t voters = 0;
};

struct ExporterStats {
  std::uint64_t records = 0;
  std::uint64_t messages = 0;
  std::uint64_t errors = 0;  // records that could not be encoded or sent
};

class IpfixExporter final {
 public:
  // Resolves the destination and sends the templates. Throws core::Error for an unusable address.
  explicit IpfixExporter(IpfixExporterOptions options);
  ~IpfixExporter();  // flushes
  IpfixExporter(const IpfixExporter&) = delete;
  IpfixExporter& operator=(const IpfixExporter&) = delete;

  void add(const flow::FlowRecord& record, const ExportExtras& extras);
  // Sends the message being built.
  void flush();

  [[nodiscard]] ExporterStats stats() const;
  [[nodiscard]] std::string destination() const { return options_.host + ":" + options_.port; }

 private:
  struct Fixbuf;  // libfixbuf's session, exporter and buffer (ipfix_exporter.cpp)
  IpfixExporterOptions options_;
  std::mutex mutex_;  // guards fixbuf_
  std::unique_ptr<Fixbuf> fixbuf_;
  std::atomic<std::uint64_t> records_{0};
  std::atomic<std::uint64_t> messages_{0};
  std::atomic<std::uint64_t> errors_{0};
};

}  // namespace netsentry::netflow
