// libpcap-backed PacketSource for files and live interfaces.
#include <pcap/pcap.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "capture/packet_source.h"
#include "fmt/format.h"

namespace netsentry::capture {
namespace {

class PcapHandle {
 public:
  explicit PcapHandle(pcap_t* p = nullptr) : p_(p) {}
  ~PcapHandle() {
    if (p_) pcap_close(p_);
  }
  PcapHandle(const PcapHandle&) = delete;
  PcapHandle& operator=(const PcapHandle&) = delete;
  pcap_t* get() const { return p_; }
  pcap_t* release() { return std::exchange(p_, nullptr); }

 private:
  pcap_t* p_;
};

void apply_filter(pcap_t* p, const std::string& filter, const std::string& what) {
  if (filter.empty()) return;
  bpf_program program{};
  if (pcap_compile(p, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    throw core::Error(fmt::format("{}: bad filter \"{}\": {}", what, filter, pcap_geterr(p)));
  }
  const int rc = pcap_setfilter(p, &program);
  pcap_freecode(&program);
  if (rc != 0) throw core::Error(fmt::format("{}: cannot set filter: {}", what, pcap_geterr(p)));
}

net::LinkType checked_link_type(pcap_t* p, const std::string& what) {
  const int dlt = pcap_datalink(p);
  net::LinkType type{};
  if (!net::link_type_from_dlt(dlt, type)) {
    const char* name = pcap_datalink_val_to_name(dlt);
    throw core::Error(fmt::format(
        "{}: link type {} ({}) is not supported; netsentry decodes Ethernet, Linux cooked v1/v2, "
        "raw IP and BSD loopback",
        what, dlt, name ? name : "unknown"));
  }
  return type;
}

class PcapSource final : public PacketSource {
 public:
  PcapSource(pcap_t* p, std::string description, bool live)
      : handle_(p), description_(std::move(description)), live_(live) {
    link_type_ = checked_link_type(p, description_);
  }

  net::LinkType link_type() const override { return link_type_; }

  ReadStatus next(RawPacket& out) override {
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    const int rc = pcap_next_ex(handle_.get(), &header, &data);
    if (rc == 1) {
      ++received_;
      // The handle was opened with nanosecond precision, so tv_usec holds nanoseconds.
      out.ts_ns = static_cast<std::int64_t>(header->ts.tv_sec) * 1'000'000'000 + header->ts.tv_usec;
      out.wire_len = header->len;
      out.cap_len = header->caplen;
      out.bytes = {data, header->caplen};
      return ReadStatus::kPacket;
    }
    if (rc == 0) return ReadStatus::kTimeout;
    if (rc == PCAP_ERROR) {
      error_ = fmt::format("{}: read error after {} packets: {}", description_, received_,
                           pcap_geterr(handle_.get()));
    }
    return ReadStatus::kEnd;  // PCAP_ERROR_BREAK or end of file
  }

  CaptureStats stats() const override {
    CaptureStats s;
    s.received = received_;
    if (live_) {
      pcap_stat ps{};
      if (pcap_stats(handle_.get(), &ps) == 0) {
        s.kernel_dropped = ps.ps_drop;
        s.if_dropped = ps.ps_ifdrop;
      }
    }
    return s;
  }

  void break_loop() override { pcap_breakloop(handle_.get()); }
  const std::string& description() const override { return description_; }
  const std::string& error() const override { return error_; }

 private:
  PcapHandle handle_;
  std::string description_;
  bool live_;
  net::LinkType link_type_{};
  std::uint64_t received_ = 0;
  std::string error_;
};

}  // namespace

std::unique_ptr<PacketSource> open_file(const std::string& path, const std::string& filter) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  if (!p) throw core::Error(fmt::format("{}: cannot read capture: {}", path, err));
  auto source = std::make_unique<PcapSource>(p, path, false);  // owns p from here
  apply_filter(p, filter, path);
  return source;
}

std::unique_ptr<PacketSource> open_live(const LiveOptions& options) {
  const std::string iface = options.interface.empty() ? default_interface() : options.interface;
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_create(iface.c_str(), err);
  if (!p) throw core::Error(fmt::format("interface {}: {}", iface, err));
  PcapHandle guard(p);
  pcap_set_snaplen(p, options.snaplen);
  pcap_set_promisc(p, options.promisc ? 1 : 0);
  pcap_set_timeout(p, options.timeout_ms);
  pcap_set_buffer_size(p, options.buffer_bytes);
  pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
  const int rc = pcap_activate(p);
  if (rc == PCAP_ERROR_PERM_DENIED || rc == PCAP_ERROR_PROMISC_PERM_DENIED) {
    throw PermissionError(fmt::format(
        "interface {}: no permission to capture packets ({}). Run as root, or grant the binary the "
        "capture capabilities once: sudo setcap cap_net_raw,cap_net_admin+eip $(command -v netsentry)",
        iface, pcap_statustostr(rc)));
  }
  if (rc == PCAP_ERROR_NO_SUCH_DEVICE) {
    throw core::Error(fmt::format("interface {}: no such interface (see `ip link`)", iface));
  }
  if (rc < 0) {
    throw core::Error(fmt::format("interface {}: cannot capture: {}", iface, pcap_geterr(p)));
  }
  // Warnings (rc > 0) such as PCAP_WARNING_PROMISC_NOTSUP still capture.
  auto source = std::make_unique<PcapSource>(guard.release(), "interface " + iface, true);
  apply_filter(p, options.filter, "interface " + iface);
  return source;
}

std::string default_interface(const std::string& proc_root) {
  std::ifstream route(proc_root + "/net/route");
  std::string line;
  std::getline(route, line);  // header
  while (std::getline(route, line)) {
    std::istringstream fields(line);
    std::string iface, destination, gateway;
    if (fields >> iface >> destination >> gateway && destination == "00000000") return iface;
  }
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_if_t* devices = nullptr;
  std::string chosen = "lo";
  if (pcap_findalldevs(&devices, err) == 0) {
    for (pcap_if_t* d = devices; d; d = d->next) {
      if ((d->flags & PCAP_IF_LOOPBACK) == 0 && (d->flags & PCAP_IF_UP) != 0 &&
          std::strcmp(d->name, "any") != 0) {
        chosen = d->name;
        break;
      }
    }
    pcap_freealldevs(devices);
  }
  return chosen;
}

}  // namespace netsentry::capture
