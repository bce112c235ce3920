// Provides the settings of the rule detectors over flows (HostDetectorOptions) and
// make_host_detectors(), which builds one detector per enabled rule:
//  * port scan (PortScanDetector):   distinct destination ports probed on one host by one source;
//  * host scan (HostScanDetector):   distinct hosts probed on one port/protocol by one source;
//  * SYN flood (SynFloodDetector):   TCP connection attempts to one ip:port that never completed
//                                    the handshake (count and ratio; sources may be spoofed, so the
//                                    victim is the profile), and a network-wide spray;
//  * brute force (BruteForceDetector): short sessions from one source to one login service; on a
//                                    web port, very many, or a fast burst of same-size replies;
//  * UDP flood (UdpFloodDetector):   UDP packets per second to one host from many flows;
//  * ICMP flood (IcmpFloodDetector): echo requests per second from one source to one host;
//  * TCP flood (TcpFloodDetector):   TCP packets outside any connection to one host (ACK flood);
//  * network flood (NetworkFloodDetector): datagrams or echo requests spread over every host of
//                                    a /24 or /64 (carpet bombing), from the flow table's flood
//                                    summaries (SYNs: the SYN flood detector's network subject);
//  * slow HTTP (SlowHttpDetector):   connections to a web port held open while sending almost
//                                    nothing (slowloris);
//  * exfiltration (ExfiltrationDetector): a TCP connection that trickles data out for seconds while
//                                    its peer answers nothing;
//  * ARP / ND spoofing (NeighbourSpoofDetector): an address claimed by a MAC it is not bound to;
//  * DNS tunnelling (DnsTunnelDetector): many distinct long names under one domain from a client;
//  * beaconing (BeaconDetector):     regular new connections from a host to one server port.
// Every detector counts in packet-time windows (window_ns from a subject's first event), emits
// evidence when a subject crosses its threshold (threat HIGH) and when it reaches critical_factor
// times it (CRITICAL), and, when an alerted subject's window closes with a larger count, a summary
// with the window's totals (same subject: it replaces the earlier evidence in the host's profile).
// Scans and floods count flow starts, replies and probes as they happen (flow events from the flow
// table's observer), so they conclude within a second of packet time of crossing a threshold,
// whatever the flow timeouts.
// Memory is bounded: each detector tracks at most max_tracked subjects (least recently used
// evicted, counted); the scan detectors' distinct counts are exact up to the threshold, then use
// at most max_sketches 8 KiB bitmaps each.
// Thread rules: the detectors are not thread-safe; the detection stage calls them from one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "detect/detector.h"

namespace netsentry::detect {

struct HostDetectorOptions {
  std::int64_t window_ns = 60'000'000'000;
  std::size_t max_tracked = 65'536;  // subjects per detector
  std::size_t max_sketches = 1'024;  // 8 KiB bitmaps per scan detector past the exact limit
  double critical_factor = 10;       // CRITICAL at this multiple of a threshold

  // A threshold of 0 disables that detector.
  std::size_t port_scan_ports = 100;
  std::size_t host_scan_hosts = 64;
  std::size_t syn_flood_half_open = 100;
  double syn_flood_ratio = 0.8;  // half-open / attempts
  // Also for SYNs sprayed from many sources at random destinations (network-wide) or at many
  // ports of one host (victim-wide): half-open SYNs per second over the window's flows needed
  // besides the count and ratio above; 0 disables both subjects.
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
  // faster (per second over the window so far), most of whose replies have one of two sizes (the
  // login form and the failure page).
  std::size_t brute_force_web_burst_sessions = 40;
  // hydra's http-post-form ran at 13-15 sessions a second in the lab (web credential stuffing).
  double brute_force_web_burst_per_second = 10;
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
  std::size_t udp_flood_min_flows = 20;
  // Echo requests per second from one source to one host (ping sends 1/s, ping -f ~100/s), over
  // at least icmp_flood_min_packets requests.
  double icmp_flood_packets_per_second = 500;
  std::uint64_t icmp_flood_min_packets = 1'000;
  // TCP packets outside any connection per second to one host (an ACK flood), judged from the
  // flow table's flood summaries (so only at --flood-summary-rate and above); 0 disables.
  double tcp_flood_packets_per_second = 1'000;
  // Slow HTTP: connections to a web port open at least this long that sent at most this many
  // payload bytes, counted per source and server (finished or still open).
  std::size_t slow_http_connections = 20;
  double slow_http_min_seconds = 20;
  std::uint64_t slow_http_max_bytes = 2'000;
  std::vector<std::uint16_t> slow_http_ports = {80, 443, 8000, 8080, 8443};
  // Held-open requests seen early: a connection open at least this long whose request is
  // unfinished (some bytes sent, under slow_http_max_bytes, nothing answered yet) counts at once.
  double slow_http_early_seconds = 4;
  // Exfiltration: a TCP connection open at least exfil_min_seconds whose one side sent at least
  // exfil_min_packets data packets and exfil_min_bytes of payload at no more than
  // exfil_max_bytes_per_second on average, while the other side sent no payload at all, to a port
  // not in exfil_ignored_ports (services that are one-way by design: syslog over TCP, MQTT
  // publishers, Graphite). A bulk upload is fast and gets an answer; an interactive session echoes.
  // 0 seconds disables the detector.
  double exfil_min_seconds = 8;
  std::uint64_t exfil_min_packets = 6;
  std::uint64_t exfil_min_bytes = 1'500;
  double exfil_max_bytes_per_second = 20'000;
  std::vector<std::uint16_t> exfil_ignored_ports = {514, 601, 1883, 2003, 6514, 8883};

  // ARP and neighbour-discovery spoofing (NeighbourSpoofDetector): an address claimed by a MAC
  // other than the one it is bound to. Bindings are remembered for spoof_binding_ns (packet time;
  // at most max_tracked); a binding whose MAC has been silent for a window may move (a lease given
  // to another device) after one claim. Off when false.
  bool spoof_detection = true;
  std::int64_t spoof_binding_ns = 4LL * 3600 * 1'000'000'000;
  std::size_t spoof_claims = 3;  // conflicting claims in a window for full confidence

  // DNS tunnelling and exfiltration over DNS (DnsTunnelDetector): distinct long names queried by
  // one client under one domain within dns_tunnel_window_ns. A name counts when the part before
  // the domain has at least dns_tunnel_min_subdomain characters and a label of at least
  // dns_tunnel_min_label (encoded data); 0 names disables the detector. Names whose long labels
  // also look encoded (letters and digits only, both of them, and the character spread of random
  // data: base32, hex, base64url) are evidence sooner, from dns_tunnel_encoded_names of them
  // (at most 16; 0: only the dns_tunnel_names rule).
  std::size_t dns_tunnel_names = 10;
  std::size_t dns_tunnel_encoded_names = 4;
  std::int64_t dns_tunnel_window_ns = 300'000'000'000;
  std::size_t dns_tunnel_min_subdomain = 24;
  std::size_t dns_tunnel_min_label = 16;

  // Beaconing (BeaconDetector): at least beacon_connections new connections from one host to one
  // server port whose intervals are regular (median absolute deviation at most
  // beacon_max_dispersion of the median interval, the longest at most beacon_max_spread times the
  // shortest; the median between beacon_min_interval_s and
  // beacon_max_interval_s), within beacon_window_ns, to a server port that at most
  // beacon_rare_sources hosts use in the window (a rare destination; an API many clients poll on
  // schedule is ordinary). Connections closer than beacon_min_interval_s to the previous one
  // belong to the same burst. Ports of protocols that are periodic by design are ignored (MQTT
  // publishers that connect for each reading among them, as for exfiltration), and so are the
  // database and cache servers' ports: an application polling its database or queue table on a
  // timer (a job runner, a pool's health check) is a schedule by design, and C2 does not speak
  // these protocols (a benign lab run's app client polling PostgreSQL every 42 s +-12 s was a HIGH
  // beacon alert). 0 connections disables the detector.
  std::size_t beacon_connections = 6;
  double beacon_max_dispersion = 0.3;
  double beacon_max_spread = 3.5;  // longest interval / shortest
  double beacon_min_interval_s = 2;
  double beacon_max_interval_s = 3600;
  std::int64_t beacon_window_ns = 3600LL * 1'000'000'000;
  std::size_t beacon_rare_sources = 2;
  // A schedule of connections carrying more than this (either way) is a scripted transfer (a
  // download, a backup), not a callback: a C2 check-in or a trickle upload moves kilobytes.
  std::uint64_t beacon_max_bytes = 1'000'000;
  std::vector<std::uint16_t> beacon_ignored_ports = {
      53,   67,   68,   123,  137,  138,  161,  162,  514,  1883,  1900, 3702,
      5353, 5355, 8883, 1433, 1521, 3306, 5432, 6379, 9042, 11211, 27017};  // the last 8: databases
};

// Throws core::Error on unusable options (window <= 0, ratio outside (0, 1], ...).
void validate(const HostDetectorOptions& options);

// One detector per rule whose threshold is not 0, in a fixed order (scans, floods, brute force,
// slow HTTP, exfiltration, neighbour spoofing, DNS tunnelling, beaconing). Throws core::Error on
// unusable options.
[[nodiscard]] std::vector<std::unique_ptr<Detector>> make_host_detectors(
    const HostDetectorOptions& options);

}  // namespace netsentry::detect
