// FlowTable's flood guard (flow/flood_guard.h): a destination flooded with connection attempts
// that never complete gets summaries instead of one flow per SYN; busy servers whose clients
// complete their handshakes, and slow attempts, keep every flow.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "flow/flow_observer.h"
#include "flow/flow_table.h"
#include "flow_test_support.h"

namespace netsentry::flow {
namespace {

using namespace netsentry::flow::testing;
namespace tf = net::tcp_flag;

class FloodObserver final : public FlowObserver {
 public:
  void on_flow_event(const FlowEvent& /*event*/) override {}
  void on_flow_progress(FlowRecord&& /*record*/) override {}
  void on_flood_summary(const FloodSummary& summary) override { summaries.push_back(summary); }
  std::vector<FloodSummary> summaries;

  [[nodiscard]] std::uint64_t attempts() const {
    std::uint64_t n = 0;
    for (const FloodSummary& s : summaries) n += s.attempts;
    return n;
  }
  [[nodiscard]] std::uint64_t replies() const {
    std::uint64_t n = 0;
    for (const FloodSummary& s : summaries) n += s.replies;
    return n;
  }
};

// Every packet is in a flow or in a flood summary, and the summaries hold every summarised one.
void expect_every_packet_accounted(const CollectingSink& sink, const FlowTable& table,
                                   const FloodObserver& observer) {
  const FlowStats& st = table.stats();
  std::uint64_t in_flows = 0;
  for (const FlowRecord& r : sink.records) in_flows += r.packet_count;
  EXPECT_EQ(in_flows + st.flood.summarized, st.packets);
  EXPECT_EQ(observer.attempts() + observer.replies(), st.flood.summarized);
}

// Source number i of a spoofed flood: 11.x.y.z, port from i.
Endpoint spoofed(std::uint32_t i) {
  return {ipv4(11, static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8),
               static_cast<std::uint8_t>(i)),
          static_cast<std::uint16_t>(1024 + i % 60000)};
}

FlowConfig guarded(std::uint32_t rate = 1000) {
  FlowConfig config;
  config.flood_summary_rate = rate;
  return config;
}

TEST(FloodGuard, ASpoofedSynFloodBecomesSummariesAfterHalfASecond) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  // 20,000 SYNs/s for 3 s, each from its own source, never answered.
  constexpr std::uint32_t kSyns = 60'000;
  for (std::uint32_t i = 0; i < kSyns; ++i) {
    table.add(tcp(kT0 + std::int64_t{i} * 50 * kUs, spoofed(i), kServer, tf::kSyn));
  }
  table.flush();
  const FlowStats& st = table.stats();
  // The SYNs of the first quarter seconds start flows, until the first is judged (250-500 ms).
  EXPECT_GE(st.flows_created, 5'000u);
  EXPECT_LE(st.flows_created, 15'000u);
  EXPECT_EQ(st.flows_created + st.flood.summarized, kSyns);
  EXPECT_EQ(sink.records.size(), st.flows_created);
  EXPECT_EQ(st.flood.floods, 1u);
  ASSERT_FALSE(observer.summaries.empty());
  EXPECT_TRUE(observer.summaries.front().started);
  EXPECT_TRUE(observer.summaries.back().ended);
  EXPECT_EQ(observer.attempts(), st.flood.summarized);
  EXPECT_EQ(observer.summaries.back().total_attempts, st.flood.summarized);
  for (const FloodSummary& s : observer.summaries) {
    EXPECT_EQ(s.dst, kServer.ip);
    EXPECT_EQ(s.dst_port, kServer.port);
    EXPECT_EQ(s.ip_proto, 6);
    if (s.attempts > 1) {
      EXPECT_TRUE(s.many_sources());
    }
    if (s.attempts > 0) {
      EXPECT_LE(s.first_ns, s.last_ns);
      EXPECT_EQ(s.attempt_bytes, s.attempts * tcp(0, kClient, kServer, tf::kSyn).wire_len);
    }
  }
  // About one summary per packet-time second (plus the first one, at once).
  EXPECT_LE(observer.summaries.size(), 6u);
}

TEST(FloodGuard, ANewFloodsFirstSummaryComesAQuarterSecondAfterItIsFound) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  // A flood at one server throughout (its summaries come once a second), and from a quarter
  // second before a whole second B on, one at another: found at B + 0.25 s (its first quarter
  // judged two quarters on). Its first summary covers a quarter second, not the rest of the
  // second up to B + 1 s.
  const std::int64_t b = (kT0 / kSec + 3) * kSec;
  const Endpoint second{ipv4(10, 0, 0, 6), 80};
  for (std::int64_t t = kT0; t < b + 2 * kSec; t += 250 * kUs) {
    table.add(tcp(t, spoofed(static_cast<std::uint32_t>(t / kUs)), kServer, tf::kSyn));
    if (t >= b - 250 * kMs) {
      table.add(tcp(t + kUs, spoofed(static_cast<std::uint32_t>(t / kUs) + 7), second, tf::kSyn));
    }
  }
  table.flush();
  EXPECT_EQ(table.stats().flood.floods, 2u);
  const FloodSummary* first = nullptr;
  for (const FloodSummary& s : observer.summaries) {
    if (s.dst == second.ip && s.started) first = &s;
  }
  ASSERT_NE(first, nullptr);
  EXPECT_GE(first->first_ns, b + 250 * kMs);
  EXPECT_LE(first->last_ns, b + 500 * kMs) << "reported at the next whole second, not sooner";
  EXPECT_GE(first->attempts, 900u);  // 4,000/s for a quarter second
}

TEST(FloodGuard, ABusyServerWhoseClientsCompleteTheirHandshakesKeepsEveryFlow) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  // 10,000 connections/s for 2 s, each completed 40 ms after its SYN (the round trip).
  constexpr std::uint32_t kConnections = 20'000;
  std::vector<net::Packet> packets;
  for (std::uint32_t i = 0; i < kConnections; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 100 * kUs;
    const Endpoint c = spoofed(i);
    table.add(tcp(t, c, kServer, tf::kSyn));
    // Replies and completions of earlier connections interleave, in time order.
    if (i >= 400) {
      const Endpoint earlier = spoofed(i - 400);
      table.add(tcp(t + 10 * kUs, kServer, earlier, tf::kSyn | tf::kAck));
      table.add(tcp(t + 20 * kUs, earlier, kServer, tf::kAck));
    }
  }
  table.flush();
  EXPECT_EQ(table.stats().flood.summarized, 0u);
  EXPECT_EQ(table.stats().flood.floods, 0u);
  EXPECT_TRUE(observer.summaries.empty());
  EXPECT_EQ(table.stats().flows_created, kConnections);
}

TEST(FloodGuard, UnansweredSynsBelowTheRateKeepEveryFlow) {
  CollectingSink sink;
  FlowTable table(guarded(1000), sink);
  // 800 unanswered SYNs/s for 5 s: a slow scan or a small flood, below the rate.
  for (std::uint32_t i = 0; i < 4'000; ++i) {
    table.add(tcp(kT0 + std::int64_t{i} * 1250 * kUs, spoofed(i), kServer, tf::kSyn));
  }
  table.flush();
  EXPECT_EQ(table.stats().flood.summarized, 0u);
  EXPECT_EQ(table.stats().flows_created, 4'000u);
}

TEST(FloodGuard, OffWithRateZeroAndInCicMode) {
  for (FlowConfig config : {guarded(0), FlowConfig::cic()}) {
    CountingSink sink;
    FlowTable table(config, sink);
    for (std::uint32_t i = 0; i < 20'000; ++i) {
      table.add(tcp(kT0 + std::int64_t{i} * 50 * kUs, spoofed(i), kServer, tf::kSyn));
    }
    table.flush();
    EXPECT_EQ(table.stats().flood.summarized, 0u);
    EXPECT_EQ(table.stats().flows_created, 20'000u);
  }
}

TEST(FloodGuard, TheVictimsRepliesAreSummarisedAndALegitimateClientStillGetsItsFlow) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  std::int64_t t = kT0;
  for (std::uint32_t i = 0; i < 30'000; ++i, t += 50 * kUs) {
    table.add(tcp(t, spoofed(i), kServer, tf::kSyn));
    // The victim answers each SYN; the spoofed sources never complete.
    table.add(tcp(t + 5 * kUs, kServer, spoofed(i), tf::kSyn | tf::kAck));
  }
  ASSERT_EQ(table.stats().flood.floods, 1u);
  const std::uint64_t summarized = table.stats().flood.summarized;
  EXPECT_GT(observer.replies() + summarized, 0u);
  // A real client during the flood: its SYN and the SYN-ACK are summarised, its ACK and data
  // make its flow (from the handshake's last ACK on).
  const std::size_t before = sink.records.size();
  table.add(tcp(t, kClient, kServer, tf::kSyn));
  table.add(tcp(t + 1 * kMs, kServer, kClient, tf::kSyn | tf::kAck));
  table.add(tcp(t + 2 * kMs, kClient, kServer, tf::kAck));
  table.add(tcp(t + 3 * kMs, kClient, kServer, tf::kPsh | tf::kAck, 300));
  table.add(tcp(t + 4 * kMs, kServer, kClient, tf::kPsh | tf::kAck, 1200));
  EXPECT_EQ(table.stats().flood.summarized, summarized + 2);
  table.flush();
  const FlowRecord* client = nullptr;
  for (std::size_t i = before; i < sink.records.size(); ++i) {
    if (sink.records[i].src_ip == kClient.ip) client = &sink.records[i];
  }
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->packet_count, 3u);
  EXPECT_EQ(client->dst_ip, kServer.ip);
  expect_every_packet_accounted(sink, table, observer);
  EXPECT_GT(observer.replies(), 10'000u);
}

// An ICMP echo request (type 8) or reply (0) of `size` bytes of payload.
net::Packet echo(std::int64_t ts_ns, const net::IpAddress& from, const net::IpAddress& to,
                 std::uint8_t type) {
  net::Packet p = udp(ts_ns, {from, 0}, {to, 0}, 56);
  p.ip_proto = 1;
  p.src_port = p.dst_port = 0;
  p.icmp_type = type;
  return p;
}

TEST(FloodGuard, ASpoofedUdpFloodBecomesSummariesAndTheVictimsRepliesToo) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  // hping3 --udp --flood --rand-source: 20,000 datagrams/s for 3 s, each from its own source; the
  // victim's service answers one in fifty (a reply to a spoofed address matches no flow once its
  // datagram was summarised).
  const Endpoint victim{ipv4(10, 0, 0, 53), 9999};
  constexpr std::uint32_t kDatagrams = 60'000;
  for (std::uint32_t i = 0; i < kDatagrams; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 50 * kUs;
    table.add(udp(t, spoofed(i), victim, 64));
    if (i % 50 == 0) table.add(udp(t + 10 * kUs, victim, spoofed(i), 32));
  }
  table.flush();
  const FlowStats& st = table.stats();
  EXPECT_EQ(st.flood.floods, 1u);
  EXPECT_GE(st.flows_created, 5'000u);
  EXPECT_LE(st.flows_created, 15'000u);
  ASSERT_FALSE(observer.summaries.empty());
  for (const FloodSummary& s : observer.summaries) {
    EXPECT_EQ(s.dst, victim.ip);
    EXPECT_EQ(s.dst_port, victim.port);
    EXPECT_EQ(s.ip_proto, 17);
    if (s.attempts > 1) {
      EXPECT_TRUE(s.many_sources());
    }
  }
  EXPECT_GT(observer.replies(), 500u);
  expect_every_packet_accounted(sink, table, observer);
}

// A flooded host's own traffic at `t` (its k-th): a DNS query answered and an HTTPS handshake,
// from a new port each time.
void own_traffic(FlowTable& table, std::int64_t t, const net::IpAddress& host, std::uint32_t k) {
  const Endpoint own{host, static_cast<std::uint16_t>(40'000 + k)};
  const Endpoint resolver{ipv4(192, 168, 1, 1), 53};
  const Endpoint web{ipv4(192, 168, 1, 2), 443};
  table.add(udp(t + 1 * kUs, own, resolver, 40));
  table.add(udp(t + 2 * kUs, resolver, own, 120));
  table.add(tcp(t + 3 * kUs, own, web, tf::kSyn));
  table.add(tcp(t + 4 * kUs, web, own, tf::kSyn | tf::kAck));
  table.add(tcp(t + 5 * kUs, own, web, tf::kAck));
}

// The flows of own_traffic() that stayed whole: 2 per call.
std::size_t own_flows(const CollectingSink& sink, const net::IpAddress& host) {
  std::size_t n = 0;
  for (const FlowRecord& r : sink.records) {
    if (r.src_ip == host && r.packet_count == 2 + (r.ip_proto == 6 ? 1 : 0)) ++n;
  }
  return n;
}

// Port number i of a spray at every port: 1-65535 in a scattered order.
std::uint16_t sprayed_port(std::uint32_t i) {
  return static_cast<std::uint16_t>(1 + (i * 7919U) % 65535U);
}

TEST(FloodGuard, ASpoofedFloodSprayedAtEveryPortOfAHostIsSummarisedForTheHost) {
  // hping3 -S / --udp --flood --rand-source -p ++1 (or a random port per packet): no ip:port
  // gets more than a few attempts, so only the host's count sees the flood. The victim resets
  // one TCP SYN in ten to its spoofed source (a closed port's RST).
  for (const std::uint8_t proto : {std::uint8_t{6}, std::uint8_t{17}}) {
    SCOPED_TRACE(proto == 6 ? "SYN flood" : "UDP flood");
    CollectingSink sink;
    FloodObserver observer;
    FlowTable table(guarded(), sink);
    table.set_observer(&observer);
    constexpr std::uint32_t kAttempts = 60'000;  // 20,000/s for 3 s
    for (std::uint32_t i = 0; i < kAttempts; ++i) {
      const std::int64_t t = kT0 + std::int64_t{i} * 50 * kUs;
      const Endpoint victim{ipv4(10, 0, 0, 9), sprayed_port(i)};
      if (proto == 6) {
        table.add(tcp(t, spoofed(i), victim, tf::kSyn));
        if (i % 10 == 0) table.add(tcp(t + 10 * kUs, victim, spoofed(i), tf::kRst | tf::kAck));
      } else {
        table.add(udp(t, spoofed(i), victim, 64));
      }
      // The victim's own new connections and queries during the flood keep their flows.
      if (i % 20'000 == 19'999) own_traffic(table, t, ipv4(10, 0, 0, 9), i / 20'000);
    }
    table.flush();
    const FlowStats& st = table.stats();
    EXPECT_EQ(own_flows(sink, ipv4(10, 0, 0, 9)), 6u);
    EXPECT_EQ(st.flood.floods, 1u);
    EXPECT_GE(st.flows_created, 5'000u);
    EXPECT_LE(st.flows_created, 15'000u);
    ASSERT_FALSE(observer.summaries.empty());
    for (const FloodSummary& s : observer.summaries) {
      EXPECT_EQ(s.dst, ipv4(10, 0, 0, 9));
      EXPECT_TRUE(s.all_ports);
      EXPECT_EQ(s.dst_port, 0);
      EXPECT_EQ(s.ip_proto, proto);
      if (s.attempts > 1) {
        EXPECT_TRUE(s.many_sources());
      }
    }
    if (proto == 6) {
      EXPECT_GT(observer.replies(), 4'000u);  // the victim's RSTs after the flood was found
    }
    expect_every_packet_accounted(sink, table, observer);
  }
}

TEST(FloodGuard, OneHostsFastPortScanAndAOnePortFloodAreNotSummarisedForTheHost) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  // nmap -p- -T5 from one host: 10,000 SYNs/s at every port for 3 s, closed ports reset.
  for (std::uint32_t i = 0; i < 30'000; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 100 * kUs;
    const Endpoint port{ipv4(10, 0, 0, 9), sprayed_port(i)};
    table.add(tcp(t, kClient, port, tf::kSyn));
    table.add(tcp(t + 10 * kUs, port, kClient, tf::kRst | tf::kAck));
  }
  EXPECT_EQ(table.stats().flood.floods, 0u);
  EXPECT_EQ(table.stats().flows_created, 30'000u);
  // A spoofed flood at one port of another host: that port's summary, not its host's.
  for (std::uint32_t i = 0; i < 60'000; ++i) {
    table.add(tcp(kT0 + 4 * kSec + std::int64_t{i} * 50 * kUs, spoofed(i), kServer, tf::kSyn));
  }
  table.flush();
  EXPECT_EQ(table.stats().flood.floods, 1u);
  ASSERT_FALSE(observer.summaries.empty());
  for (const FloodSummary& s : observer.summaries) {
    EXPECT_FALSE(s.all_ports);
    EXPECT_EQ(s.dst_port, kServer.port);
  }
}

TEST(FloodGuard, AServerWhoseManyServicesAnswerManyClientsKeepsEveryFlow) {
  CollectingSink sink;
  FlowTable table(guarded(), sink);
  // 10,000 clients/s for 2 s at 1,000 TCP ports and 1,000 UDP ports of one host, all answered.
  constexpr std::uint32_t kClients = 20'000;
  for (std::uint32_t i = 0; i < kClients; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 100 * kUs;
    const Endpoint service{ipv4(10, 0, 0, 9), static_cast<std::uint16_t>(10'000 + i % 1000)};
    const Endpoint c = spoofed(i);
    if (i % 2 == 0) {
      table.add(tcp(t, c, service, tf::kSyn));
      table.add(tcp(t + 20 * kUs, service, c, tf::kSyn | tf::kAck));
      table.add(tcp(t + 40 * kUs, c, service, tf::kAck));
    } else {
      table.add(udp(t, c, service, 64));
      table.add(udp(t + 20 * kUs, service, c, 200));
    }
  }
  table.flush();
  EXPECT_EQ(table.stats().flood.floods, 0u);
  EXPECT_EQ(table.stats().flows_created, kClients);
}

TEST(FloodGuard, AckAndRstFloodsAndReflectedSynAcksAreSummarisedAsStrays) {
  // hping3 -A (or -R) --flood --rand-source -p 80: 20,000 packets/s for 3 s outside any
  // connection, each from its own source; or SYN-ACKs from 60,000 servers whose SYNs carried the
  // victim's address. The victim resets each ACK and SYN-ACK (no socket), a RST that matches the
  // packet's flow until the flood is found and no flow after; it answers no RST.
  struct Case {
    const char* name;
    std::uint8_t flags;
    bool resets;
  };
  for (const Case c : {Case{"ACK flood", tf::kAck, true}, Case{"RST flood", tf::kRst, false},
                       Case{"reflected SYN-ACKs", tf::kSyn | tf::kAck, true}}) {
    SCOPED_TRACE(c.name);
    CollectingSink sink;
    FloodObserver observer;
    FlowTable table(guarded(), sink);
    table.set_observer(&observer);
    const Endpoint victim{ipv4(10, 0, 0, 9), 80};
    constexpr std::uint32_t kPackets = 60'000;
    for (std::uint32_t i = 0; i < kPackets; ++i) {
      const std::int64_t t = kT0 + std::int64_t{i} * 50 * kUs;
      table.add(tcp(t, spoofed(i), victim, c.flags));
      if (c.resets) table.add(tcp(t + 10 * kUs, victim, spoofed(i), tf::kRst));
    }
    table.flush();
    const FlowStats& st = table.stats();
    EXPECT_EQ(st.flood.floods, 1u);
    EXPECT_GE(st.flows_created, 5'000u);
    EXPECT_LE(st.flows_created, 15'000u);
    ASSERT_FALSE(observer.summaries.empty());
    for (const FloodSummary& s : observer.summaries) {
      EXPECT_EQ(s.dst, victim.ip);
      EXPECT_TRUE(s.strays);
      EXPECT_TRUE(s.all_ports);
      EXPECT_EQ(s.ip_proto, 6);
      if (s.attempts > 1) {
        EXPECT_TRUE(s.many_sources());
      }
    }
    EXPECT_GT(observer.attempts(), 40'000u);
    if (c.resets) {
      EXPECT_GT(observer.replies(), 40'000u);  // the victim's resets
    }
    expect_every_packet_accounted(sink, table, observer);
  }
}

TEST(FloodGuard, ConnectionsAndHandshakesPickedUpMidwayAtStartKeepEveryFlow) {
  // A monitor started beside busy servers: 10,000 established connections from 10,000 clients
  // show up within half a second, each with a data segment the server acknowledges.
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  for (std::uint32_t i = 0; i < 10'000; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 50 * kUs;
    table.add(tcp(t, spoofed(i), kServer, tf::kAck | tf::kPsh, 200));
    table.add(tcp(t + 30 * kUs, kServer, spoofed(i), tf::kAck));
  }
  // One host's own stray packets (a scanner's ACK scan, nmap -sA, reset by the target) are not
  // an ACK flood either: one source.
  for (std::uint32_t i = 0; i < 10'000; ++i) {
    const std::int64_t t = kT0 + kSec + std::int64_t{i} * 50 * kUs;
    const Endpoint port{ipv4(10, 0, 0, 9), static_cast<std::uint16_t>(1 + i)};
    table.add(tcp(t, kClient, port, tf::kAck));
    table.add(tcp(t + 10 * kUs, port, kClient, tf::kRst));
  }
  // 10,000 handshakes picked up halfway: the server's SYN-ACK, each client's ACK.
  const Endpoint web{ipv4(10, 0, 0, 81), 443};
  for (std::uint32_t i = 0; i < 10'000; ++i) {
    const std::int64_t t = kT0 + 2 * kSec + std::int64_t{i} * 50 * kUs;
    table.add(tcp(t, web, spoofed(i), tf::kSyn | tf::kAck));
    table.add(tcp(t + 30 * kUs, spoofed(i), web, tf::kAck));
  }
  table.flush();
  EXPECT_EQ(table.stats().flood.floods, 0u);
  EXPECT_TRUE(observer.summaries.empty());
  EXPECT_EQ(table.stats().flows_created, 30'000u);
}

TEST(FloodGuard, AFloodedClosedPortsUnreachableErrorsGoToItsSummary) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  // A spoofed UDP flood at a closed port: the victim's kernel answers one datagram in ten with a
  // port unreachable error to its spoofed source (rate-limited), which matches no flow.
  const Endpoint victim{ipv4(10, 0, 0, 53), 9999};
  std::uint64_t errors = 0;
  for (std::uint32_t i = 0; i < 40'000; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 50 * kUs;
    table.add(udp(t, spoofed(i), victim, 64));
    if (i % 10 == 0) {
      net::Packet error = echo(t + 10 * kUs, victim.ip, spoofed(i).ip, 3);
      error.icmp_code = 3;
      table.add(error);
      ++errors;
    }
  }
  // Another host's unreachable errors are not the flood's.
  net::Packet other = echo(kT0 + 2 * kSec + 1, ipv4(10, 0, 0, 54), spoofed(7).ip, 3);
  table.add(other);
  table.flush();
  const FlowStats& st = table.stats();
  ASSERT_EQ(st.flood.floods, 1u);
  std::uint64_t error_flows = 0;
  for (const FlowRecord& r : sink.records) {
    if (r.ip_proto == 1) ++error_flows;
  }
  // The errors before the flood was found (its first half second) made flows; the rest, none.
  EXPECT_LE(error_flows, 1'000u + 1);
  EXPECT_EQ(observer.replies(), errors - (error_flows - 1));
  std::uint64_t in_flows = 0;
  for (const FlowRecord& r : sink.records) in_flows += r.packet_count;
  EXPECT_EQ(in_flows + st.flood.summarized, st.packets);
}

TEST(FloodGuard, ABusyResolverThatAnswersItsQueriesKeepsEveryFlow) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  // 10,000 queries/s for 2 s from new source ports, each answered 30 ms later.
  const Endpoint resolver{ipv4(10, 0, 0, 53), 53};
  constexpr std::uint32_t kQueries = 20'000;
  for (std::uint32_t i = 0; i < kQueries; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 100 * kUs;
    table.add(udp(t, spoofed(i), resolver, 40));
    if (i >= 300) table.add(udp(t + 10 * kUs, resolver, spoofed(i - 300), 120));
  }
  table.flush();
  EXPECT_EQ(table.stats().flood.summarized, 0u);
  EXPECT_TRUE(observer.summaries.empty());
  EXPECT_EQ(table.stats().flows_created, kQueries);
}

TEST(FloodGuard, ASpoofedEchoFloodIsSummarisedThoughTheVictimAnswersEveryRequest) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  // hping3 --icmp --flood --rand-source: 20,000 requests/s for 3 s; the victim answers each.
  const net::IpAddress victim = ipv4(10, 0, 0, 9);
  constexpr std::uint32_t kRequests = 60'000;
  for (std::uint32_t i = 0; i < kRequests; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 50 * kUs;
    table.add(echo(t, spoofed(i).ip, victim, 8));
    table.add(echo(t + 10 * kUs, victim, spoofed(i).ip, 0));
  }
  table.flush();
  const FlowStats& st = table.stats();
  EXPECT_EQ(st.flood.floods, 1u);
  EXPECT_LE(st.flows_created, 15'000u);
  ASSERT_FALSE(observer.summaries.empty());
  EXPECT_EQ(observer.summaries.front().ip_proto, 1);
  EXPECT_EQ(observer.summaries.front().dst_port, 0);
  EXPECT_EQ(observer.attempts(), kRequests - st.flows_created);
  EXPECT_EQ(observer.replies(), observer.attempts());
}

TEST(FloodGuard, PingsFromAFewHostsAndASlowPingSweepKeepTheirFlows) {
  CollectingSink sink;
  FlowTable table(guarded(), sink);
  // 50 hosts pinging one server 10 times a second each for 10 s (one flow each), and 800 new
  // hosts a second pinging it once (below the rate of new echo conversations).
  const net::IpAddress server = ipv4(10, 0, 0, 9);
  for (std::uint32_t i = 0; i < 8'000; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 1250 * kUs;
    table.add(echo(t, spoofed(i).ip, server, 8));
    table.add(echo(t + kUs, ipv4(10, 1, 0, static_cast<std::uint8_t>(i % 50)), server, 8));
  }
  table.flush();
  EXPECT_EQ(table.stats().flood.summarized, 0u);
  EXPECT_EQ(table.stats().flows_created, 8'050u);
}

// Host number i of a flood spread over 10.9.<net>.0/24: all 256 in a scattered order.
net::IpAddress spread_host(std::uint32_t i, std::uint8_t net = 0) {
  return ipv4(10, 9, net, static_cast<std::uint8_t>((i * 37U) % 256U));
}

// `clients` new clients at 10,000 a second from `start`, each served by server(i): HTTPS
// handshakes that complete and DNS queries that are answered, alternately.
void serve_new_clients(FlowTable& table, std::int64_t start, std::uint32_t clients,
                       net::IpAddress (*server)(std::uint32_t)) {
  for (std::uint32_t i = 0; i < clients; ++i) {
    const std::int64_t t = start + std::int64_t{i} * 100 * kUs;
    const Endpoint c = spoofed(i);
    if (i % 2 == 0) {
      const Endpoint web{server(i), 443};
      table.add(tcp(t, c, web, tf::kSyn));
      table.add(tcp(t + 20 * kUs, web, c, tf::kSyn | tf::kAck));
      table.add(tcp(t + 40 * kUs, c, web, tf::kAck));
    } else {
      const Endpoint resolver{server(i), 53};
      table.add(udp(t, c, resolver, 40));
      table.add(udp(t + 20 * kUs, resolver, c, 120));
    }
  }
}

// A carpet flood of each kind (spoofed SYNs, ACKs outside any connection as hping3 -A sends, UDP
// datagrams, echo requests): `attempts` at victim(i), one every `gap_ns`. The hosts reset one
// SYN in ten and every ACK, and answer every echo request; `own_host` makes its own DNS queries
// and connections three times, which keep their flows. Every kind must become summaries of
// `dst`/`prefix` alone once the first judged quarter seconds have started their flows
// (`min_flows` to `max_flows`).
struct Carpet {
  std::uint32_t attempts;
  std::int64_t gap_ns;
  net::IpAddress (*victim)(std::uint32_t);
  net::IpAddress own_host;
  net::IpAddress dst;
  std::uint8_t prefix;
  std::uint64_t min_flows;
  std::uint64_t max_flows;
};

void expect_carpet_summarised(const Carpet& c) {
  for (const int kind : {0, 1, 2, 3}) {
    const std::uint8_t proto = kind <= 1 ? 6 : kind == 2 ? 17 : 1;
    const bool strays = kind == 1;
    SCOPED_TRACE(kind == 0   ? "SYN flood"
                 : strays    ? "ACK flood"
                 : kind == 2 ? "UDP flood"
                             : "echo flood");
    CollectingSink sink;
    FloodObserver observer;
    FlowTable table(guarded(), sink);
    table.set_observer(&observer);
    for (std::uint32_t i = 0; i < c.attempts; ++i) {
      const std::int64_t t = kT0 + std::int64_t{i} * c.gap_ns;
      const net::IpAddress victim = c.victim(i);
      if (strays) {
        table.add(tcp(t, spoofed(i), {victim, 80}, tf::kAck));
        table.add(tcp(t + 10 * kUs, {victim, 80}, spoofed(i), tf::kRst));
      } else if (proto == 6) {
        table.add(tcp(t, spoofed(i), {victim, 80}, tf::kSyn));
        if (i % 10 == 0)
          table.add(tcp(t + 10 * kUs, {victim, 80}, spoofed(i), tf::kRst | tf::kAck));
      } else if (proto == 17) {
        table.add(udp(t, spoofed(i), {victim, 9999}, 64));
      } else {
        table.add(echo(t, spoofed(i).ip, victim, 8));
        table.add(echo(t + 10 * kUs, victim, spoofed(i).ip, 0));
      }
      if (i % (c.attempts / 3) == c.attempts / 3 - 1) {
        own_traffic(table, t, c.own_host, i / (c.attempts / 3));
      }
    }
    table.flush();
    const FlowStats& st = table.stats();
    EXPECT_EQ(own_flows(sink, c.own_host), 6u);
    EXPECT_EQ(st.flood.floods, 1u);
    EXPECT_GE(st.flows_created, c.min_flows);
    EXPECT_LE(st.flows_created, c.max_flows);
    ASSERT_FALSE(observer.summaries.empty());
    for (const FloodSummary& s : observer.summaries) {
      EXPECT_EQ(s.dst, c.dst);
      EXPECT_EQ(s.prefix, c.prefix);
      EXPECT_EQ(s.block(), c.prefix == 16);
      EXPECT_TRUE(s.all_ports);
      EXPECT_EQ(s.strays, strays);
      EXPECT_EQ(s.dst_port, 0);
      EXPECT_EQ(s.ip_proto, proto);
      if (s.attempts > 1) {
        EXPECT_TRUE(s.many_sources());
      }
    }
    EXPECT_GT(observer.attempts(), c.attempts / 2);
    // The hosts' resets and echo replies after the flood was found.
    if (strays) {
      EXPECT_GT(observer.replies(), c.attempts * 3 / 5);
    } else if (proto == 6) {
      EXPECT_GT(observer.replies(), c.attempts / 20);
    } else if (proto == 1) {
      EXPECT_EQ(observer.replies(), observer.attempts());
    }
    expect_every_packet_accounted(sink, table, observer);
  }
}

TEST(FloodGuard, ASpoofedFloodSpreadOverTheHostsOfANetworkIsSummarisedForTheNetwork) {
  // Carpet bombing: each kind at random hosts of a /24, 20,000/s for 3 s, so each host gets under
  // 80/s: no ip:port or host is flooded, the network is.
  expect_carpet_summarised({.attempts = 60'000,
                            .gap_ns = 50 * kUs,
                            .victim = [](std::uint32_t i) { return spread_host(i); },
                            .own_host = ipv4(10, 9, 0, 7),
                            .dst = ipv4(10, 9, 0, 0),
                            .prefix = 24,
                            .min_flows = 5'000,
                            .max_flows = 15'000});
}

TEST(FloodGuard, ConnectionsPickedUpMidwayAtEveryHostOfANetworkKeepEveryFlow) {
  // A monitor started beside a server farm: 20,000 established connections at the 256 hosts of a
  // /24 within a second, each carried on by its host; and one scanner's ACK scan of the /24
  // (nmap -sA, each probe reset): neither is a flood of strays.
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  for (std::uint32_t i = 0; i < 20'000; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 50 * kUs;
    const Endpoint server{spread_host(i), 443};
    table.add(tcp(t, spoofed(i), server, tf::kAck | tf::kPsh, 200));
    table.add(tcp(t + 30 * kUs, server, spoofed(i), tf::kAck));
  }
  for (std::uint32_t i = 0; i < 20'000; ++i) {
    const std::int64_t t = kT0 + 2 * kSec + std::int64_t{i} * 50 * kUs;
    const Endpoint probe{spread_host(i), static_cast<std::uint16_t>(1 + i % 1000)};
    table.add(tcp(t, kClient, probe, tf::kAck));
    table.add(tcp(t + 10 * kUs, probe, kClient, tf::kRst));
  }
  table.flush();
  EXPECT_EQ(table.stats().flood.floods, 0u);
  EXPECT_TRUE(observer.summaries.empty());
  EXPECT_EQ(table.stats().flows_created, 40'000u);
}

// Spoofed SYNs at random interface identifiers of `networks` /64s of fd00:9::/48, one every
// `gap_ns` (no such host answers): summarised for fd00:9:: as a /`prefix` alone.
void expect_ipv6_carpet_summarised(std::uint32_t attempts, std::int64_t gap_ns,
                                   std::uint8_t networks, std::uint8_t prefix) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  for (std::uint32_t i = 0; i < attempts; ++i) {
    net::IpAddress victim;
    victim.family = 6;
    victim.bytes = {0xfd,
                    0,
                    0,
                    9,
                    0,
                    0,
                    0,
                    static_cast<std::uint8_t>(i % networks),
                    0x12,
                    0x34,
                    0,
                    0,
                    0,
                    0,
                    static_cast<std::uint8_t>(i * 7919U >> 8),
                    static_cast<std::uint8_t>(i)};
    net::Packet p = tcp(kT0 + std::int64_t{i} * gap_ns, spoofed(i), {victim, 443}, tf::kSyn);
    p.l3 = net::L3::kIpv6;
    table.add(p);
  }
  table.flush();
  EXPECT_EQ(table.stats().flood.floods, 1u);
  ASSERT_FALSE(observer.summaries.empty());
  net::IpAddress first;
  first.family = 6;
  first.bytes = {0xfd, 0, 0, 9};
  for (const FloodSummary& s : observer.summaries) {
    EXPECT_EQ(s.dst, first);
    EXPECT_EQ(s.prefix, prefix);
  }
  EXPECT_GT(observer.attempts(), attempts * 5 / 8);
  expect_every_packet_accounted(sink, table, observer);
}

TEST(FloodGuard, ASpoofedFloodSpreadOverAnIpv6NetworkIsSummarisedForItsSlash64) {
  // 20,000/s at fd00:9::/64 for 2 s.
  expect_ipv6_carpet_summarised(40'000, 50 * kUs, 1, 64);
}

// Host number i of a flood spread over the 16 /24s of 10.9.0.0/20: network i % 16, hosts in a
// scattered order.
net::IpAddress block_host(std::uint32_t i) {
  return ipv4(10, 9, static_cast<std::uint8_t>(i % 16),
              static_cast<std::uint8_t>(((i / 16) * 37U) % 256U));
}

TEST(FloodGuard, ASpoofedFloodSpreadOverNeighbouringNetworksIsSummarisedForTheirBlock) {
  // A thin carpet: each kind at random hosts of the 16 /24s of a /20, 8,000/s for 3 s, so each
  // /24 gets 500/s, under the rate of 1,000/s a network needs: no ip:port, host or network is
  // flooded, their block is.
  expect_carpet_summarised({.attempts = 24'000,
                            .gap_ns = 125 * kUs,
                            .victim = block_host,
                            .own_host = ipv4(10, 9, 3, 7),
                            .dst = ipv4(10, 9, 0, 0),
                            .prefix = 16,
                            .min_flows = 2'000,
                            .max_flows = 8'000});
}

TEST(FloodGuard, AFloodSpreadOverTheNetworksOfAnIpv6BlockIsSummarisedForItsSlash48) {
  // 8,000/s at 16 /64s of fd00:9::/48 (500/s each, under a network's rate) for 3 s.
  expect_ipv6_carpet_summarised(24'000, 125 * kUs, 16, 48);
}

TEST(FloodGuard, ASweepOfNeighbouringNetworksAndTheirBusyServersKeepEveryFlow) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  // One scanner's SYN sweep of the 16 /24s of a /20 at 10,000 probes/s for 2 s, unanswered; then
  // 10,000 new clients a second for 2 s at the servers of the same /24s, answered.
  for (std::uint32_t i = 0; i < 20'000; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 100 * kUs;
    const Endpoint scanner{kClient.ip, static_cast<std::uint16_t>(20'000 + i % 40'000)};
    table.add(tcp(t, scanner, {block_host(i), 80}, tf::kSyn));
  }
  serve_new_clients(table, kT0 + 3 * kSec, 20'000, block_host);
  table.flush();
  EXPECT_EQ(table.stats().flood.floods, 0u);
  EXPECT_TRUE(observer.summaries.empty());
  EXPECT_EQ(table.stats().flows_created, 40'000u);
}

TEST(FloodGuard, AFloodMostlyAtOneNetworkUnderItsOwnRateIsNotSummarisedForItsBlock) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  // Spoofed SYNs, 1,040/s for 2 s: 49 in 52 at the hosts of 10.9.5.0/24 (980/s, under the
  // rate of 1,000/s), the rest over the block's other /24s. The block passes the rate, but it is
  // nearly all one network's, which is under its own: no summary.
  for (std::uint32_t i = 0; i < 2'080; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * kSec / 1'040;
    const net::IpAddress victim = i % 52 < 49 ? spread_host(i, 5) : block_host(i);
    table.add(tcp(t, spoofed(i), {victim, 80}, tf::kSyn));
  }
  table.flush();
  EXPECT_EQ(table.stats().flood.floods, 0u);
  EXPECT_TRUE(observer.summaries.empty());
  EXPECT_EQ(table.stats().flows_created, 2'080u);
}

TEST(FloodGuard, ASweepFromOneHostAndAOneHostFloodAreNotSummarisedForTheNetwork) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  // nmap -sn -T5 from one host at 10,000 probes/s for 3 s: SYNs to port 80 and echo requests
  // at every host of 10.9.1.0/24, unanswered.
  for (std::uint32_t i = 0; i < 30'000; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 100 * kUs;
    if (i % 2 == 0) {
      const Endpoint scanner{kClient.ip, static_cast<std::uint16_t>(20'000 + i % 40'000)};
      table.add(tcp(t, scanner, {spread_host(i, 1), 80}, tf::kSyn));
    } else {
      table.add(echo(t, kClient.ip, spread_host(i, 1), 8));
    }
  }
  EXPECT_EQ(table.stats().flood.floods, 0u);
  EXPECT_EQ(table.stats().flood.summarized, 0u);
  // Each SYN its flow; the echo requests one flow per host.
  EXPECT_EQ(table.stats().flows_created, 15'000u + 128u);
  // A spoofed flood at one host of another /24: that host's port, not the network.
  for (std::uint32_t i = 0; i < 60'000; ++i) {
    table.add(tcp(kT0 + 4 * kSec + std::int64_t{i} * 50 * kUs, spoofed(i), {ipv4(10, 9, 2, 5), 80},
                  tf::kSyn));
  }
  table.flush();
  EXPECT_EQ(table.stats().flood.floods, 1u);
  ASSERT_FALSE(observer.summaries.empty());
  for (const FloodSummary& s : observer.summaries) {
    EXPECT_EQ(s.prefix, 0);
    EXPECT_EQ(s.dst, ipv4(10, 9, 2, 5));
  }
}

TEST(FloodGuard, ManyClientsServedByEveryHostOfANetworkKeepEveryFlow) {
  CollectingSink sink;
  FlowTable table(guarded(), sink);
  // 10,000 new clients a second for 2 s at the 256 servers of a /24 (a web farm, a resolver
  // pool): TCP handshakes complete, datagrams are answered.
  constexpr std::uint32_t kClients = 20'000;
  serve_new_clients(table, kT0, kClients, [](std::uint32_t i) { return spread_host(i); });
  table.flush();
  EXPECT_EQ(table.stats().flood.floods, 0u);
  EXPECT_EQ(table.stats().flows_created, kClients);
}

TEST(FloodGuard, AFloodFromOneHostWhoseKernelResetsTheSynAcksIsSummarisedWholly) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  // hping3 --flood from one host, not spoofed: each SYN from its own port, the victim answers
  // with SYN-ACK and the flooder's kernel, which opened no such connection, resets it.
  const Endpoint victim{ipv4(10, 77, 0, 1), 80};
  constexpr std::uint32_t kSyns = 20'000;
  for (std::uint32_t i = 0; i < kSyns; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 100 * kUs;
    const Endpoint flooder{ipv4(10, 77, 0, 67), static_cast<std::uint16_t>(1024 + i % 60000)};
    table.add(tcp(t, flooder, victim, tf::kSyn));
    table.add(tcp(t + 20 * kUs, victim, flooder, tf::kSyn | tf::kAck));
    table.add(tcp(t + 40 * kUs, flooder, victim, tf::kRst));
  }
  table.flush();
  const FlowStats& st = table.stats();
  EXPECT_EQ(st.flood.floods, 1u);
  // Three packets per SYN: in its flow (the first half second) or all three summarised.
  EXPECT_LT(st.flows_created, kSyns / 2);
  EXPECT_EQ(st.flows_created * 3 + st.flood.summarized, std::uint64_t{kSyns} * 3);
  std::uint64_t resets = 0;
  for (const FloodSummary& s : observer.summaries) {
    resets += s.resets;
    if (s.attempts > 0) {
      EXPECT_FALSE(s.many_sources());
      EXPECT_EQ(s.source, ipv4(10, 77, 0, 67));
    }
  }
  EXPECT_EQ(resets, observer.attempts());
  EXPECT_EQ(observer.replies(), observer.attempts());
}

// A flood from one host while clients keep connecting to the flooded server (their SYNs, which
// match no flow, are summarised too): the summaries still name the flooder. Two flooders sharing
// the flood evenly are "many sources".
std::vector<FloodSummary> summaries_of_mixed_flood(int other_every, bool two_flooders) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  const Endpoint victim{ipv4(10, 77, 0, 1), 80};
  const auto flooder = ipv4(10, 77, 0, 67);
  for (std::uint32_t i = 0; i < 20'000; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 100 * kUs;
    const auto port = static_cast<std::uint16_t>(1024 + i % 60000);
    Endpoint from{two_flooders && i % 2 ? ipv4(10, 77, 0, 99) : flooder, port};
    if (other_every > 0 && i % static_cast<std::uint32_t>(other_every) == 0) {
      from = {ipv4(10, 77, 0, static_cast<std::uint8_t>(10 + i % 50)), port};  // a client
    }
    table.add(tcp(t, from, victim, tf::kSyn));
  }
  table.flush();
  EXPECT_EQ(table.stats().flood.floods, 1u);
  return observer.summaries;
}

TEST(FloodGuard, TheSummaryNamesTheFloodingHostThoughClientsKeepConnecting) {
  std::size_t checked = 0;
  for (const FloodSummary& s : summaries_of_mixed_flood(/*one in*/ 20, false)) {
    if (s.attempts < 100) continue;
    EXPECT_FALSE(s.many_sources()) << s.attempts << " attempts, lead " << s.source_lead;
    EXPECT_EQ(s.source, ipv4(10, 77, 0, 67));
    ++checked;
  }
  EXPECT_GT(checked, 0u);
  checked = 0;
  // A third from clients: no single host sent 80 % of the attempts.
  for (const FloodSummary& s : summaries_of_mixed_flood(3, false)) {
    if (s.attempts < 100) continue;
    EXPECT_TRUE(s.many_sources()) << s.attempts << " attempts, lead " << s.source_lead;
    ++checked;
  }
  EXPECT_GT(checked, 0u);
  checked = 0;
  for (const FloodSummary& s : summaries_of_mixed_flood(0, true)) {
    if (s.attempts < 100) continue;
    EXPECT_TRUE(s.many_sources());
    ++checked;
  }
  EXPECT_GT(checked, 0u);
}

TEST(FloodGuard, AFloodThatCalmsDownEndsAndItsDestinationGetsFlowsAgain) {
  CollectingSink sink;
  FloodObserver observer;
  FlowTable table(guarded(), sink);
  table.set_observer(&observer);
  std::int64_t t = kT0;
  for (std::uint32_t i = 0; i < 40'000; ++i, t += 50 * kUs) {
    table.add(tcp(t, spoofed(i), kServer, tf::kSyn));
  }
  ASSERT_EQ(table.stats().flood.floods, 1u);
  // Two quiet seconds, then one SYN a second: the flood is over at the next tick or SYN.
  const std::uint64_t created = table.stats().flows_created;
  for (std::uint32_t i = 0; i < 5; ++i) {
    table.add(tcp(t + (2 + std::int64_t{i}) * kSec, spoofed(100'000 + i), kServer, tf::kSyn));
  }
  EXPECT_EQ(table.stats().flows_created, created + 5);
  ASSERT_FALSE(observer.summaries.empty());
  EXPECT_TRUE(observer.summaries.back().ended);
  EXPECT_EQ(observer.summaries.back().total_attempts, table.stats().flood.summarized);
  std::size_t ended = 0;
  for (const FloodSummary& s : observer.summaries) ended += s.ended ? 1 : 0;
  EXPECT_EQ(ended, 1u);
  // advance() alone (no packets) reports and ends a flood too.
  for (std::uint32_t i = 0; i < 40'000; ++i) {
    table.add(
        tcp(t + 10 * kSec + std::int64_t{i} * 50 * kUs, spoofed(200'000 + i), kServer, tf::kSyn));
  }
  EXPECT_EQ(table.stats().flood.floods, 2u);
  const std::size_t reports = observer.summaries.size();
  table.advance(t + 20 * kSec);
  ASSERT_GT(observer.summaries.size(), reports);
  EXPECT_TRUE(observer.summaries.back().ended);
}

TEST(FloodGuard, SummariesAreTheSameOnEveryReplay) {
  const auto run = [] {
    CountingSink sink;
    FloodObserver observer;
    FlowTable table(guarded(), sink);
    table.set_observer(&observer);
    for (std::uint32_t i = 0; i < 30'000; ++i) {
      table.add(tcp(kT0 + std::int64_t{i} * 40 * kUs, spoofed(i), kServer, tf::kSyn));
    }
    table.flush();
    std::vector<std::uint64_t> out{table.stats().flows_created};
    for (const FloodSummary& s : observer.summaries) {
      out.push_back(s.attempts);
      out.push_back(static_cast<std::uint64_t>(s.last_ns));
    }
    return out;
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace netsentry::flow
