// libpcap-backed PacketSource for files and live interfaces; open_file hands classic pcap files to
// the faster record reader (pcap_file_source.h).
#include <pcap/pcap.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "capture/packet_source.h"
#include "capture/pcap_file_source.h"
#include "capture/pcap_handle.h"
#include "capture/pcapng_file_source.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace netsentry::capture {
namespace {

constexpr std::size_t kFileBufferBytes = 1 << 20;

void apply_filter(pcap_t* p, const std::string& filter, const std::string& what) {
  if (filter.empty()) return;
  const BpfProgram program = compile_filter(p, filter, what);
  if (pcap_setfilter(p, const_cast<bpf_program*>(program.get())) != 0) {
    throw core::Error(fmt::format("{}: cannot set filter: {}", what, pcap_geterr(p)));
  }
}

class PcapSource final : public PacketSource {
 public:
  PcapSource(pcap_t* p, std::string description, bool live)
      : handle_(p), description_(std::move(description)), live_(live) {
    link_type_ = link_type_of(p);
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
      out.link = link_type_;
      out.bytes = {data, header->caplen};
      out.file_offset = -1;  // read through libpcap: not read back
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

std::unique_ptr<PacketSource> open_file_impl(const std::string& path, const std::string& filter,
                                             bool fast_reader) {
  char err[PCAP_ERRBUF_SIZE] = {};
  std::FILE* file = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!file) {
    throw core::Error(fmt::format("{}: cannot read capture: {}", path, std::strerror(errno)));
  }
  std::optional<ClassicPcapLayout> layout;
  if (fast_reader && file != stdin) {
    layout = probe_classic_pcap(fileno(file));
    if (!layout && probe_pcapng(fileno(file))) {
      // Our reader: libpcap 1.10 cannot read interfaces of different link types or snapshot
      // lengths in one file.
      try {
        auto source = open_pcapng_file_source(fileno(file), path, filter);
        std::fclose(file);
        return source;
      } catch (...) {
        std::fclose(file);
        throw;
      }
    }
  }
  // When libpcap reads the records: our own FILE with a large buffer, as stdio's default 4 KiB
  // turns a capture file into hundreds of thousands of read() calls.
  if (!layout) std::setvbuf(file, nullptr, _IOFBF, kFileBufferBytes);
  pcap_t* p = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, err);
  if (!p) {
    if (file != stdin) std::fclose(file);
    throw core::Error(fmt::format("{}: cannot read capture: {}", path, err));
  }
  PcapHandle handle(p);  // owns file from here
  if (layout) {
    // libpcap has parsed and checked the file header (link type, snapshot length); our reader
    // takes the records from there, with the filter compiled for that link type.
    const net::LinkType link = link_type_of(p);
    return open_pcap_file_source(fileno(file), *layout, path, link,
                                 static_cast<std::uint32_t>(pcap_snapshot(p)),
                                 compile_filter(p, filter, path));
  }
  auto source = std::make_unique<PcapSource>(handle.release(), path, false);  // owns p from here
  apply_filter(p, filter, path);
  return source;
}

}  // namespace

BpfProgram compile_filter(pcap_t* p, const std::string& filter, const std::string& what) {
  BpfProgram program;
  if (filter.empty()) return program;
  if (pcap_compile(p, program.reset_for_compile(), filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    throw core::Error(fmt::format("{}: bad filter \"{}\": {}", what, filter, pcap_geterr(p)));
  }
  program.mark_compiled();
  return program;
}

net::LinkType link_type_of(pcap_t* p) { return net::link_type_of_dlt(pcap_datalink(p)); }

std::unique_ptr<PacketSource> open_file(const std::string& path, const std::string& filter) {
  return open_file_impl(path, filter, /*fast_reader=*/true);
}

std::unique_ptr<PacketSource> open_file_via_libpcap(const std::string& path,
                                                    const std::string& filter) {
  return open_file_impl(path, filter, /*fast_reader=*/false);
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
        "capture capabilities once: sudo setcap cap_net_raw,cap_net_admin+eip $(command -v "
        "netsentry)",
        iface, pcap_statustostr(rc)));
  }
  if (rc == PCAP_ERROR_NO_SUCH_DEVICE) {
    throw core::Error(fmt::format("interface {}: no such interface (see `ip link`)", iface));
  }
  if (rc < 0) {
    throw core::Error(fmt::format("interface {}: cannot capture: {}", iface, pcap_geterr(p)));
  }
  // Warnings (rc > 0) such as PCAP_WARNING_PROMISC_NOTSUP still capture.
  if (!net::is_supported(link_type_of(p))) {
    const char* name = pcap_datalink_val_to_name(pcap_datalink(p));
    spdlog::warn(
        "interface {}: link type {} ({}) is not one netsentry decodes: its packets are counted, "
        "no flow is built",
        iface, pcap_datalink(p), name ? name : "unknown");
  }
  auto source = std::make_unique<PcapSource>(guard.release(), "interface " + iface, true);
  apply_filter(p, options.filter, "interface " + iface);
  return source;
}

std::string library_version() { return pcap_lib_version(); }

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
