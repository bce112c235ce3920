// Provides detect::OrdinaryTraffic, the traffic every network carries by design and a flow model
// must not judge: it names why a finished flow is ordinary, or returns nothing.
//  * IPv6 neighbour and router discovery (ICMPv6 133-137) and multicast listener discovery (MLD,
//    ICMPv6 130-132 and 143); IGMP (its IPv4 counterpart);
//  * DHCP (UDP 67/68) and DHCPv6 (UDP 546/547);
//  * local name and service discovery: mDNS (UDP 5353), LLMNR (UDP/TCP 5355), SSDP (UDP 1900),
//    NetBIOS name and datagram services (UDP 137/138);
//  * the network's own control plane, which flow models trained on hosts' traffic have never
//    seen: routing protocols (OSPF, EIGRP, PIM, RIP/RIPng UDP 520/521, Babel UDP 6696, BGP TCP
//    179, LDP 646), router redundancy (VRRP/CARP, HSRP UDP 1985/2029), BFD (UDP 3784/3785/4784)
//    and flow export (sFlow 6343, NetFlow 2055, IPFIX 4739);
//  * ICMP errors (destination unreachable, time exceeded, parameter problem, packet too big,
//    source quench, redirect) sent to a host that started a flow within `error_window`: an error
//    about an existing flow. Without the quoted header, "existing" is judged by the host the error
//    is for, which is what a traceroute or a closed port produces.
//  * TCP flows of at most `bare_tcp_max_packets` packets that carried no payload either way: a
//    refused or probed port, a lone RST or FIN, a connection torn down before a byte was sent.
//    There is nothing for a flow model to judge; scans and floods made of them are what the host
//    detectors (port and host scans, SYN floods) count;
//  * TCP connections that were open before the capture began: no handshake in the flow's
//    history (it was picked up mid-connection: a FIN, the last data, a reset) and its first packet
//    within `joined_window` of the first packet this monitor saw. A model trained on whole
//    connections reads their tail as a flow of its own ("2 RSTs in 5 packets");
//  * flows whose initiator has an address no host can send from (IPv4 multicast, the limited
//    broadcast, 0/8; IPv6 multicast): spoofed (hping3 --rand-source picks 224/4 one time in 16),
//    and a profile of such an address names no host. Seen in an echo flood spread over a network,
//    whose hosts answered a spoofed multicast source twice: its two replies made a MEDIUM alert
//    about 224.18.64.209;
//  * flows between loopback addresses (127.0.0.0/8, ::1) unless `loopback`: a host talking to
//    itself (a local database, a dashboard's own requests) has zero round trips and loopback's
//    64 KiB segments, unlike any network traffic a flow model is trained on, and an attacker
//    there is already on the host. The host detectors still see it.
// ARP never becomes a flow (the flow table counts and skips non-IP packets), and one-packet flows
// are left to the host detectors by the ML detector itself.
// Memory: the recent flow starters are a fixed direct-mapped table (max_hosts slots, a newer host
// may take an older one's slot): O(1) per flow start with no allocation, so a spoofed flood costs
// nothing but overwritten slots. Its pages (2 MB by default) are committed as slots are first
// written, not zeroed at start: a network of a few hosts touches a few pages.
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "flow/flow_observer.h"
#include "flow/flow_record.h"
#include "flow/huge_page_array.h"

namespace netsentry::detect {

struct OrdinaryTrafficOptions {
  std::int64_t error_window_ns = 120'000'000'000;
  std::size_t max_hosts = 65'536;
  // TCP flows of at most this many packets without payload are not judged (0: judge them all).
  std::uint64_t bare_tcp_max_packets = 10;
  bool loopback = false;  // judge flows between loopback addresses too
  // TCP flows without a handshake that begin this soon after the first flow seen: connections
  // open before the capture began (0: judge them all).
  std::int64_t joined_window_ns = 120'000'000'000;
};

class OrdinaryTraffic final {
 public:
  explicit OrdinaryTraffic(OrdinaryTrafficOptions options = {});

  // Remembers who starts flows (for ICMP errors about them).
  void on_flow_event(const flow::FlowEvent& event);
  void on_flow_started(const net::IpAddress& initiator, std::int64_t time_ns);
  // Why `record` is ordinary traffic ("DHCP", "IPv6 neighbour discovery", ...); empty otherwise.
  [[nodiscard]] std::string_view reason(const flow::FlowRecord& record) const;

 private:
  // The reasons named by protocol and port (ICMP `type`); empty otherwise.
  [[nodiscard]] std::string_view by_protocol(const flow::FlowRecord& record, int type) const;
  struct Slot {
    net::IpAddress host;
    std::int64_t time_ns = 0;
  };
  [[nodiscard]] std::size_t slot_of(const net::IpAddress& host) const;
  [[nodiscard]] bool started_recently(const net::IpAddress& host, std::int64_t time_ns) const;

  OrdinaryTrafficOptions options_;
  std::int64_t first_ns_ = 0;        // the first flow's start (0: none yet)
  flow::HugePageArray<Slot> slots_;  // all-zero bytes: an empty slot (family 0, time 0)
};

}  // namespace netsentry::detect
