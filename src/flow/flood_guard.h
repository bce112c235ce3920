// Provides flow::FloodGuard, the flow table's guard against floods of new flows (a spoofed SYN,
// UDP or ICMP echo flood opens one flow per packet: a million records for a million packets, each
// scored, stored and written, for an attacker's random addresses).
//
// Rule: the guard counts the attempts to each destination, and how many of them were answered, in
// quarter seconds of packet time. An attempt is a packet that matches no flow and would start one:
//  * TCP: a SYN without ACK to ip:port; answered when the initiator completes the handshake (its
//    ACK after the destination's reply);
//  * UDP: a datagram to ip:port; answered when the destination replies in its flow;
//  * ICMP and ICMPv6: an echo request to ip (port 0). Echo requests are judged by their count
//    alone: a host answers spoofed requests as readily as real ones, and nothing ordinary starts a
//    thousand new echo conversations a second with one host.
// A quarter second is judged once two more have begun (250-500 ms after, so an answer has had its
// round trip): when it held at least rate/4 attempts to one destination and fewer than a tenth of
// them were answered (for echo requests: any share), the destination is flooded.
// A flood sprayed at many ports of one host (hping3 --rand-source with a random or counting port)
// gives no ip:port enough, so TCP and UDP attempts that no flooded ip:port took are also counted
// per host and protocol, with majority votes over their ports and sources: a host is flooded on
// all its ports by the same rule when, besides, no port got 80 % of a judged quarter's attempts
// (a one-port flood is its port's, and once that port is flooded its attempts no longer count
// here) and no source sent 80 % of them (one host's fast port scan keeps its flows).
// A flood spread over many hosts of one network ("carpet bombing": spoofed SYNs, UDP datagrams
// or echo requests at random addresses of a /24, each host getting too few for its own count)
// is counted per network too: attempts that no flooded ip:port or host took are also counted for
// their destination's IPv4 /24 or IPv6 /64 and protocol, with majority votes over each quarter's
// destination hosts and sources: the network is flooded on all its hosts by the same rule when,
// besides, no host got 80 % of a judged quarter's attempts (then it is that host's flood) and no
// source sent 80 % of them (one scanner's fast sweep keeps its flows). Its summaries have
// `prefix` set; its hosts' replies (TCP SYN-ACKs and RSTs, echo replies, ICMP errors about its
// datagrams) count as replies, and its hosts keep their own new UDP flows.
// A flood spread over neighbouring networks (a carpet over a /20 or a /16), each network getting
// too few for its own count, is counted per block too: attempts and strays that no flooded
// ip:port, host or network took are also counted for their destination's IPv4 /16 or IPv6 /48,
// with majority votes over each quarter's destination networks and sources: the block is flooded
// by the same rule when no network got 80 % and no source sent 80 % of a judged quarter's. Its
// summaries have `prefix` 16 or 48 (FloodSummary::block()); without them such a carpet opened a
// flow per packet (420,000-580,000 in 8 s live) though the detectors found it.
// TCP packets outside any connection (a packet that matches no flow and is no SYN: an ACK flood's,
// hping3 -A --flood --rand-source; a RST flood's; SYN-ACKs reflected at this host by servers
// whose SYNs carried its address; unless it is a flooded destination's reply) are counted per
// host too, as strays, answered when the destination sends the flow a packet that is no RST (a
// connection or handshake picked up midway answers at once; a host without the connection
// resets it): the host is flooded with strays by the same rule when no source sent 80 % of a
// judged quarter's strays. Strays that no host flooded with strays took are also counted for
// their destination's network, as attempts are (an ACK flood carpet-bombing a /24): the network is
// flooded with strays when no host got 80 % and no source sent 80 % of a judged quarter's; its
// summaries have `strays` and `prefix` set.
// From then on an
// attempt to it is counted in the destination's flood summary instead of starting a flow, and so
// are its replies that match no flow (TCP: its SYN-ACK or RST to a port that has no flow with it,
// and a RST to it that matches no flow; UDP: a datagram from its port, and its ICMP
// destination-unreachable errors; ICMP: an echo reply). A host flooded on all its ports keeps its
// own new UDP flows: only its TCP replies and ICMP errors count as replies. The
// destination calms down when a judged quarter second holds fewer than rate/8 attempts; then
// attempts start flows again.
//
// Summaries: the counts since the last report, given once per second of packet time, when the
// destination calms down and at the end (see FloodSummary). A legitimate client of a flooded TCP
// server still gets its flow, from its handshake's last ACK on (history without 'S' and 'h'); a
// legitimate client's datagrams or pings to a flooded destination are counted in the summary.
//
// Memory is fixed: 4,096 buckets of two destinations each (a destination whose bucket is held by
// two others is not guarded), 256 buckets of two networks each apart from them (the hosts of a
// carpet-bombed network cannot crowd its own entry out), 64 of two blocks each, and at most
// kMaxFlooded flooded destinations at once (more are not summarised, and counted). Packet time
// only: a replay summarises the same packets every time. Tunnelled (inner) packets are not guarded.
// Thread rules: owned by the flow table's thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "flow/flow_observer.h"
#include "net/packet.h"

namespace netsentry::flow {

struct FloodGuardStats {
  std::uint64_t summarized = 0;        // packets counted in summaries instead of flows
  std::uint64_t summarized_bytes = 0;  // their wire bytes
  std::uint64_t floods = 0;            // destinations found flooded (each time anew)
  std::uint64_t not_guarded = 0;       // flooded destinations past kMaxFlooded: not summarised
};

class FloodGuard final {
 public:
  static constexpr std::size_t kMaxFlooded = 64;
  static constexpr std::int64_t kQuarterNs = 250'000'000;

  // `rate`: attempts per second to one destination before it can be flooded; 0 turns it off.
  // Counts into `stats`, which must outlive the guard.
  FloodGuard(std::uint32_t rate, FloodGuardStats& stats);

  [[nodiscard]] bool enabled() const { return rate_ != 0; }
  // Who gets the summaries (null: nobody; they are then only counted).
  void set_observer(FlowObserver* observer) { observer_ = observer; }

  // An attempt (see above: a SYN without ACK, a UDP datagram, an echo request) that matches no
  // flow, at packet time `now_ns`. True: it was counted in a flood summary and must not start a
  // flow. False: it starts a flow, counted as an attempt.
  bool on_attempt(const net::Packet& packet, std::int64_t now_ns);
  // A packet that matches no flow and may answer attempts: a SYN-ACK or RST, a UDP datagram, an
  // echo reply. True when it comes from a flooded destination (a reply), or is a RST to one (an
  // initiator resetting the destination's SYN-ACK, as a flooding host's kernel does), and was
  // counted in its summary.
  bool on_reply(const net::Packet& packet, std::int64_t now_ns);
  // The flow started by a counted attempt to `dst`:`dst_port` (`ip_proto`) was answered: the
  // initiator completed the TCP handshake, or the destination replied to a UDP datagram (or,
  // `stray`, sent a flow started by a TCP stray a packet that is no RST); `started_ns`: the
  // attempt's time.
  void on_completed(const net::IpAddress& dst, std::uint16_t dst_port, std::uint16_t vlan,
                    std::uint8_t ip_proto, std::int64_t started_ns, bool stray = false);
  // A TCP packet outside any connection (see above: no SYN, and no flooded destination's reply)
  // that matches no flow. True: it was counted in its destination's flood summary and must not
  // start a flow.
  bool on_stray(const net::Packet& packet, std::int64_t now_ns);
  // An ICMP or ICMPv6 destination-unreachable error (type 3, ICMPv6 1) that matches no flow.
  // True when it comes from a host with a flooded UDP port (its kernel refusing the flood's
  // datagrams at a closed port, to their spoofed sources) and was counted in that summary as a
  // reply.
  bool on_unreachable(const net::Packet& packet, std::int64_t now_ns);
  [[nodiscard]] static bool unreachable(const net::Packet& packet);
  // An echo request (ICMP type 8, ICMPv6 128) or reply (0, 129).
  [[nodiscard]] static bool echo_request(const net::Packet& packet);
  [[nodiscard]] static bool echo_reply(const net::Packet& packet);
  // Packet time is now_ns: once a second it reports the flooded destinations' counts and lets
  // calm ones go; otherwise one comparison.
  void tick(std::int64_t now_ns) {
    if (now_ns >= next_tick_ns_ && !floods_.empty()) report_due(now_ns);
  }
  // End of input: reports every flooded destination as ended and forgets them.
  void flush();

 private:
  struct Entry {
    std::uint64_t tag = 0;                    // hash of the destination; 0 = free
    std::int64_t quarter = -1;                // the newest quarter second counted
    std::int64_t judged = -1;                 // quarters up to this one are judged
    std::array<std::uint32_t, 4> attempts{};  // by quarter % 4
    std::array<std::uint32_t, 4> completed{};
    std::uint8_t flood = 0;      // index in floods_ + 1; 0 = not flooded
    bool echo = false;           // echo requests: judged by their count alone
    std::uint8_t scope = kPort;  // kHost: judged by their ports' and sources' spread too;
                                 // kStray: by their sources' spread too; kNet and kNetStray:
                                 // by their destination hosts' and sources' spread; kBlock and
                                 // kBlockStray: by their destination networks' and sources' too
    // All but kPort: majority votes over each quarter's ports (kNet and kNetStray: destination
    // hosts, kBlock and kBlockStray: destination networks, a 16-bit hash) and sources (a 32-bit
    // hash of the address; flow::majority_vote)
    std::array<std::uint16_t, 4> port{};
    std::array<std::uint32_t, 4> port_lead{};
    std::array<std::uint32_t, 4> source{};
    std::array<std::uint32_t, 4> source_lead{};
  };
  struct Flood {
    std::size_t entry = 0;  // its Entry in entries_
    FloodSummary summary;   // the counts since the last report
    bool reported = false;  // a report went out for this flood (the next is not `started`)
  };

  // What an entry counts: attempts to an ip:port, attempts to every port of a host (TCP and
  // UDP), TCP strays to a host, or attempts or TCP strays to every host of a network or of a
  // block of networks (their own entries).
  static constexpr std::uint8_t kPort = 0;
  static constexpr std::uint8_t kHost = 1;
  static constexpr std::uint8_t kStray = 2;
  static constexpr std::uint8_t kNet = 3;
  static constexpr std::uint8_t kNetStray = 4;
  static constexpr std::uint8_t kBlock = 5;
  static constexpr std::uint8_t kBlockStray = 6;
  [[nodiscard]] static bool network_scope(std::uint8_t scope) {
    return scope == kNet || scope == kNetStray;
  }
  [[nodiscard]] static bool block_scope(std::uint8_t scope) {
    return scope == kBlock || scope == kBlockStray;
  }
  [[nodiscard]] static bool stray_scope(std::uint8_t scope) {
    return scope == kStray || scope == kNetStray || scope == kBlockStray;
  }
  // What an entry of `scope` is keyed by (the address, its network or its block) and the prefix
  // its summaries carry (0 for a host's).
  [[nodiscard]] static net::IpAddress key_address(const net::IpAddress& address,
                                                  std::uint8_t scope);
  [[nodiscard]] static std::uint8_t scope_prefix(const net::IpAddress& address, std::uint8_t scope);
  [[nodiscard]] static std::uint64_t tag_of(const net::IpAddress& address, std::uint16_t port,
                                            std::uint16_t vlan, std::uint8_t ip_proto,
                                            std::uint8_t scope = kPort);
  // Whether `s` is the summary of `ip`:`port` in `scope` (tags can collide).
  [[nodiscard]] static bool same(const FloodSummary& s, const net::IpAddress& ip,
                                 std::uint16_t port, std::uint16_t vlan, std::uint8_t ip_proto,
                                 std::uint8_t scope = kPort);
  // The two entries a tag of `scope` may live in.
  [[nodiscard]] Entry* bucket(std::uint64_t tag, std::uint8_t scope);
  // The summary of `ip`:`port` (`ip_proto`) when it is flooded, else the one of every port of
  // `ip`, else the one of strays to `ip` (TCP), when `host_too` (`strays_too`) and that is, else
  // the one of every host of ip's network, then of its block (echo requests; TCP and UDP when
  // `host_too`; their strays as a host's), else null.
  [[nodiscard]] FloodSummary* flooded(const net::IpAddress& ip, std::uint16_t port,
                                      std::uint16_t vlan, std::uint8_t ip_proto,
                                      bool host_too = true, bool strays_too = true);
  // Counts an attempt in the entry of its `scope` (port: its ip:port; else its host, network or
  // block): true when that destination is flooded and the attempt went into its summary.
  // `source`: the hash of the packet's source the votes use, made by the first scope that votes
  // (0: not yet), so a packet counted at several scopes hashes its source once.
  bool count_attempt(const net::Packet& packet, std::uint16_t port, std::uint8_t scope,
                     std::int64_t now_ns, std::uint32_t& source);
  // The entry holding `tag` (of `scope`), or null.
  [[nodiscard]] Entry* find(std::uint64_t tag, std::uint8_t scope);
  // The entry holding `tag`, taking a free or stale one (no count within a second) when it has
  // none; null when both of its bucket's entries are busy with other destinations.
  [[nodiscard]] Entry* claim(std::uint64_t tag, std::uint8_t scope, std::int64_t quarter);
  // Moves `e` to `quarter`, judging the quarters that are due first: sets `flood` when a judged
  // quarter makes a destination flooded, `calm` when one ends its flood.
  void advance(Entry& e, std::int64_t quarter, bool& flood, bool& calm);
  // Counts one summarised packet in `s` (the `packets` and `bytes` of its kind) and the stats.
  void count(FloodSummary& s, std::uint64_t& packets, std::uint64_t& bytes,
             const net::Packet& packet, std::int64_t now_ns);
  void start_flood(Entry& e, const net::Packet& attempt, std::uint16_t port, std::uint8_t scope);
  void report_due(std::int64_t now_ns);
  void report(Flood& f, bool ended);
  void end_flood(std::size_t index);

  std::uint32_t rate_;
  std::uint32_t flood_attempts_;  // per judged quarter, to become flooded
  std::uint32_t calm_attempts_;   // per judged quarter, below which a flood ends
  std::vector<Entry> entries_;    // kBuckets * 2, kNetBuckets * 2 (networks'), kBlockBuckets * 2
  std::vector<Flood> floods_;
  std::int64_t next_tick_ns_ = INT64_MIN;
  FlowObserver* observer_ = nullptr;
  FloodGuardStats& stats_;
};

}  // namespace netsentry::flow
