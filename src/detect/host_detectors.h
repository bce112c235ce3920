// Provides detect::HostDetectors, the rule detectors over completed flows where per-flow models are
// weak, each counting in packet-time windows (default 60 s from a subject's first event):
//  * port scan:   distinct destination ports probed on one host by one source;
//  * host scan:   distinct hosts probed on one port/protocol by one source;
//  * SYN flood:   TCP connection attempts to one ip:port that never completed the handshake
//                 (count and ratio; sources may be spoofed, so the subject is the destination);
//  * brute force: short sessions from one source to one login service (ssh, ftp, rdp, ...); on a
//                 web port, either very many, or a fast burst whose replies are mostly one size
//                 (the same "401 Unauthorized" page again and again);
//  * UDP flood:   UDP packets per second from many flows to one host, with a lower limit when
//                 almost every flow went unanswered (random source ports, no service);
//  * ICMP flood:  echo requests per second from one source to one host.
// A "probe" is a connection attempt that got no service: a TCP flow whose handshake did not
// complete, or that completed without payload and was reset; a UDP/ICMP flow without any reply.
// Counting probes rather than flows keeps busy clients and FTP data channels from looking like
// scans. An alert is emitted when a subject crosses its threshold (HIGH) and when it reaches
// critical_factor times it (CRITICAL); when the window of an alerted subject closes and its count
// grew since the last alert, a final summary with the window's totals follows (same kind/subject,
// for the AlertAggregator to fold).
// Memory is bounded: each detector tracks at most max_tracked subjects (least recently used
// evicted, counted) and distinct counts are exact up to the threshold, then use at most
// max_sketches 8 KiB bitmaps in total. Thread rules: not thread-safe; one owner thread (the
// flow/detection thread) calls everything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "detect/alert.h"
#include "flow/flow_record.h"

namespace netsentry::detect {

struct HostDetectorOptions {
  std::int64_t window_ns = 60'000'000'000;
  std::size_t max_tracked = 65'536;  // subjects per detector
  std::size_t max_sketches = 1'024;  // 8 KiB bitmaps for distinct counts past the threshold
  double critical_factor = 10;       // CRITICAL at this multiple of a threshold

  // A threshold of 0 disables that detector.
  std::size_t port_scan_ports = 100;
  std::size_t host_scan_hosts = 64;
  std::size_t syn_flood_half_open = 100;
  double syn_flood_ratio = 0.8;  // half-open / attempts
  // Also network-wide (random destinations): half-open SYNs per second over the window's flows
  // needed besides the count and ratio above; 0 disables the network-wide subject.
  double syn_flood_network_rate = 1000;
  // Ten short sessions a minute to one login service: hydra keeps a few connections and tries
  // several passwords on each, so an SSH attack shows as about one session a second.
  std::size_t brute_force_sessions = 10;
  // Login services counted by the brute-force detector, and busier web ports with their own
  // (higher) threshold, since browsers open many short connections legitimately.
  std::vector<std::uint16_t> brute_force_ports = {21,  22,  23,  25,   110,  143,  389,  445, 465,
                                                  587, 993, 995, 1433, 3306, 3389, 5432, 5900};
  std::vector<std::uint16_t> brute_force_web_ports = {80, 443, 8080, 8443};
  std::size_t brute_force_web_sessions = 300;
  // A web login attack without 300 sessions: at least this many short sessions at this rate or
  // faster (per second over the window so far), most of whose replies have the same size.
  std::size_t brute_force_web_burst_sessions = 40;
  double brute_force_web_burst_per_second = 15;
  double brute_force_same_reply_ratio = 0.75;
  // A session is "short" when all three hold.
  std::uint64_t brute_force_max_packets = 40;
  std::uint64_t brute_force_max_bytes = 20'000;
  double brute_force_max_seconds = 30;
  double udp_flood_packets_per_second = 10'000;
  // The lower limit for the flows that got no UDP reply (DNS and QUIC are answered; a flood to a
  // closed port is not), measured over their own span, when there are at least
  // udp_flood_min_flows of them with at least udp_flood_unanswered_ratio flows per packet (a new
  // source port for most packets: a one-way stream is one flow).
  double udp_flood_unanswered_packets_per_second = 1'000;
  double udp_flood_unanswered_ratio = 0.5;
  // Echo requests per second from one source to one host (ping sends 1/s, ping -f ~100/s), over
  // at least icmp_flood_min_packets requests.
  double icmp_flood_packets_per_second = 500;
  std::uint64_t icmp_flood_min_packets = 1'000;
  // Slow HTTP: connections to a web port open at least this long that sent at most this many
  // payload bytes, counted per source and server (finished or still open).
  std::size_t slow_http_connections = 20;
  double slow_http_min_seconds = 20;
  std::uint64_t slow_http_max_bytes = 2'000;
  std::vector<std::uint16_t> slow_http_ports = {80, 443, 8000, 8080, 8443};
  std::size_t udp_flood_min_flows = 20;
};

struct HostDetectorStats {
  std::uint64_t flows = 0;
  std::uint64_t alerts = 0;
  std::uint64_t evictions = 0;         // subjects dropped early because a detector was full
  std::uint64_t sketches_refused = 0;  // distinct counts that saturated (budget spent)
  std::size_t tracked = 0;             // subjects tracked now, all detectors
  std::size_t sketches_in_use = 0;
};

// Handshake facts of a TCP flow, from its first packets (or its flag counts when the flow table
// kept none). Exposed for tests and for the lead's scoring stage.
struct TcpHandshake {
  bool attempt = false;    // the initiator's first packet was a SYN without ACK
  bool completed = false;  // SYN, SYN-ACK, ACK seen in order
};
[[nodiscard]] TcpHandshake tcp_handshake(const flow::FlowRecord& record);
// True when the flow looks like a probe that got no service (see the header comment).
[[nodiscard]] bool is_probe(const flow::FlowRecord& record);

class HostDetectors final {
 public:
  // Throws core::Error on unusable options (window <= 0, ratio outside (0, 1], ...).
  explicit HostDetectors(HostDetectorOptions options = {});
  ~HostDetectors();
  HostDetectors(const HostDetectors&) = delete;
  HostDetectors& operator=(const HostDetectors&) = delete;

  // Feeds one completed flow; appends alerts for thresholds crossed. Windows are in the flows'
  // packet time (end_ns); windows that ended before this flow are closed first.
  void observe(const flow::FlowRecord& record, std::vector<Alert>& out);
  // Closes the windows that ended by now_ns (packet time), appending their summaries. Call it
  // regularly (e.g. once a packet-time second) so quiet subjects are reported and forgotten.
  void advance(std::int64_t now_ns, std::vector<Alert>& out);
  // An interim report of a connection still open (only the slow-HTTP detector judges those).
  void observe_ongoing(const flow::FlowRecord& record, std::vector<Alert>& out);
  // Closes every window (end of input / shutdown).
  void flush(std::vector<Alert>& out);

  [[nodiscard]] HostDetectorStats stats() const;
  [[nodiscard]] const HostDetectorOptions& options() const { return options_; }

 private:
  void observe_slow(const flow::FlowRecord& record, std::vector<Alert>& out);
  struct Tables;
  HostDetectorOptions options_;
  std::unique_ptr<Tables> tables_;
  HostDetectorStats stats_;
};

}  // namespace netsentry::detect
