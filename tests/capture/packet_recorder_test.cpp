// The packet recorder keeps the newest packets within its memory and age budget, finds them by
// address and time, stays consistent while read during recording, and its packets become capture
// files that the capture readers give back unchanged.
#include "capture/packet_recorder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "capture/capture_file_writer.h"
#include "capture/packet_source.h"
#include "core/error.h"

namespace netsentry::capture {
namespace {

net::IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  net::IpAddress ip;
  ip.family = 4;
  ip.bytes = {a, b, c, d};
  return ip;
}

net::IpAddress v6_from(const net::IpAddress& ip4) {
  net::IpAddress ip = ip4;
  ip.family = 6;  // same leading bytes, other family: must never match the IPv4 address
  return ip;
}

// A packet whose bytes encode its timestamp, so a reader can check every byte it sees.
std::vector<std::uint8_t> frame_for(std::int64_t ts, std::size_t size) {
  std::vector<std::uint8_t> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::uint8_t>((ts * 31 + i) & 0xFF);
  return bytes;
}

bool frame_matches(const RecordedPacket& p) {
  for (std::size_t i = 0; i < p.bytes().size(); ++i) {
    if (p.bytes()[i] != static_cast<std::uint8_t>((p.ts_ns * 31 + i) & 0xFF)) return false;
  }
  return true;
}

RecorderOptions small(std::size_t memory, std::int64_t age_ns = 0) {
  RecorderOptions o;
  o.memory_bytes = memory;
  o.segment_bytes = 64 << 10;
  o.max_age_ns = age_ns;
  return o;
}

std::vector<std::int64_t> times(const PacketRecorder& r, const RecorderQuery& q) {
  std::vector<std::int64_t> out;
  r.for_each(q, [&](const RecordedPacket& p) {
    out.push_back(p.ts_ns);
    return true;
  });
  return out;
}

TEST(PacketRecorder, FindsPacketsByHostPeerAndTimeOldestFirst) {
  PacketRecorder r(small(1 << 20));
  const auto a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2), c = v4(10, 0, 0, 3);
  for (std::int64_t t = 1; t <= 30; ++t) {
    const net::IpAddress pair[2] = {t % 3 == 0 ? c : a, b};
    const auto bytes = frame_for(t, 60 + static_cast<std::size_t>(t));
    r.record(t, 100, 1, bytes, pair);
  }
  RecorderQuery q;
  q.host = c;
  EXPECT_EQ(times(r, q), (std::vector<std::int64_t>{3, 6, 9, 12, 15, 18, 21, 24, 27, 30}));
  q.host = b;
  q.peer = a;
  q.from_ns = 10;
  q.to_ns = 14;
  EXPECT_EQ(times(r, q), (std::vector<std::int64_t>{10, 11, 13, 14}));
  q.host = v6_from(a);
  q.peer.reset();
  EXPECT_TRUE(times(r, q).empty()) << "an IPv6 address never matches an IPv4 one";
  // The lengths and bytes come back as recorded.
  q.host = a;
  q.from_ns = 4;
  q.to_ns = 4;
  std::size_t seen = 0;
  r.for_each(q, [&](const RecordedPacket& p) {
    EXPECT_EQ(p.wire_len, 100u);
    EXPECT_EQ(p.link_type, 1);
    EXPECT_EQ(p.bytes().size(), 64u);
    EXPECT_TRUE(frame_matches(p));
    ++seen;
    return true;
  });
  EXPECT_EQ(seen, 1u);
  EXPECT_EQ(r.stats().packets, 30u);
  EXPECT_EQ(r.stats().oldest_ns, 1);
  EXPECT_EQ(r.stats().newest_ns, 30);
}

// A file's packets by offset, as a capture source's read-back gives them; counts its reads.
class FakeReadBack final : public PacketReadBack {
 public:
  std::span<const std::uint8_t> read(std::int64_t file_offset, std::int64_t ts_ns,
                                     std::uint32_t /*wire_len*/, std::uint32_t cap_len,
                                     ReadBackWindow& window) const override {
    ++reads;
    if (gone.contains(file_offset)) return {};
    window.bytes = frame_for(ts_ns, cap_len);
    window.start = file_offset;
    return window.bytes;
  }
  mutable std::atomic<int> reads{0};
  std::set<std::int64_t> gone;
};

TEST(PacketRecorder, KeptByReferenceItHoldsTheSamePacketsAndReadsOnlyThoseAskedFor) {
  PacketRecorder copies(small(256 << 10));
  PacketRecorder places(small(256 << 10));
  auto file = std::make_shared<FakeReadBack>();
  places.read_back_from(file);
  ASSERT_TRUE(places.by_reference());
  const net::IpAddress a = v4(10, 0, 0, 1);
  const net::IpAddress b = v4(10, 0, 0, 2);
  const net::IpAddress pair[2] = {a, b};
  std::int64_t offset = 24;
  for (std::int64_t ts = 1; ts <= 2000; ++ts) {
    const std::size_t size = 60 + static_cast<std::size_t>(ts * 37 % 1400);
    const auto bytes = frame_for(ts, size);
    copies.record(ts, static_cast<std::uint32_t>(size), 1, bytes, pair);
    // A packet cut at capture (its wire length 100 bytes over the captured) of a raw-IPv4 link:
    // each field of the entry comes back as it was given.
    places.record_reference(ts, static_cast<std::uint32_t>(size) + 100, 228,
                            static_cast<std::uint32_t>(size), offset, pair);
    offset += 16 + static_cast<std::int64_t>(size);
  }
  // A copy's place in the budget: the same packets left the ring, the same are found.
  EXPECT_GT(copies.stats().evicted_packets, 1000u);
  EXPECT_EQ(places.stats().evicted_packets, copies.stats().evicted_packets);
  EXPECT_EQ(places.stats().bytes, copies.stats().bytes);
  // Entries of a few dozen bytes instead of the packets: a fraction of the memory.
  EXPECT_GT(places.stats().memory_bytes, 0u);
  EXPECT_LT(places.stats().memory_bytes, copies.stats().memory_bytes / 4);
  RecorderQuery q;
  q.host = a;
  EXPECT_EQ(times(places, q), times(copies, q));
  EXPECT_EQ(file->reads.load(), 0) << "nothing read while only times were looked at";
  // Asked for, the bytes are read back whole; a packet its file no longer holds is left empty
  // and counted.
  std::vector<std::int64_t> held;
  std::vector<std::int64_t> offsets;
  places.for_each(q, [&](const RecordedPacket& p) {
    held.push_back(p.ts_ns);
    offsets.push_back(p.file_offset);
    return true;
  });
  ASSERT_GT(held.size(), 10u);
  file->gone.insert(offsets[3]);
  int whole = 0, empty = 0;
  places.for_each(q, [&](const RecordedPacket& p) {
    const auto bytes = p.bytes();
    if (bytes.empty()) {
      ++empty;
      EXPECT_EQ(p.ts_ns, held[3]);
    } else if (frame_matches(p) && bytes.size() == p.cap_len) {
      ++whole;
    }
    EXPECT_EQ(p.wire_len, p.cap_len + 100);
    EXPECT_EQ(p.link_type, 228);
    return true;
  });
  EXPECT_EQ(whole, static_cast<int>(held.size()) - 1);
  EXPECT_EQ(empty, 1);
  EXPECT_EQ(places.stats().unreadable, 1u);
  EXPECT_EQ(copies.stats().unreadable, 0u);
  // Set after packets were written: refused.
  EXPECT_THROW(copies.read_back_from(file), core::Error);
}

void many_queries_in_one_pass(bool by_reference);

TEST(PacketRecorder, ManyQueriesInOnePassSeeWhatEachAloneWould) {
  // Packets copied, and kept by reference (IPv4 addresses in slots of 4 bytes, IPv6 in 16).
  for (const bool by_reference : {false, true}) {
    SCOPED_TRACE(by_reference);
    many_queries_in_one_pass(by_reference);
  }
}

TEST(PacketRecorder, PacketsKeptByReferenceWithIpv4AddressesTakeFewerBytes) {
  // A thousand packets with two IPv4 addresses, a thousand with two IPv6 ones, each in a ring
  // of its own that evicts nothing: 40 bytes an entry against 64.
  auto file = std::make_shared<FakeReadBack>();
  std::size_t memory[2] = {};
  for (const bool ipv6 : {false, true}) {
    RecorderOptions o;  // one segment holds them all
    o.memory_bytes = 16 << 20;
    o.segment_bytes = 4 << 20;
    PacketRecorder r(o);
    r.read_back_from(file);
    const auto a = ipv6 ? v6_from(v4(10, 0, 0, 1)) : v4(10, 0, 0, 1);
    const auto b = ipv6 ? v6_from(v4(10, 0, 0, 2)) : v4(10, 0, 0, 2);
    const net::IpAddress pair[2] = {a, b};
    for (std::int64_t t = 1; t <= 1000; ++t) r.record_reference(t, 1600, 228, 1500, t * 1516, pair);
    EXPECT_EQ(r.stats().evicted_packets, 0u);
    memory[ipv6 ? 1 : 0] = r.stats().memory_bytes;
    RecorderQuery q;
    q.host = b;
    q.peer = a;
    std::size_t found = 0;
    std::int64_t expected_ts = 0;
    r.for_each(q, [&](const RecordedPacket& p) {
      found += frame_matches(p) ? 1 : 0;
      // Each field of the entry comes back as it was given.
      EXPECT_EQ(p.ts_ns, ++expected_ts);
      EXPECT_EQ(p.file_offset, p.ts_ns * 1516);
      EXPECT_EQ(p.wire_len, 1600u);
      EXPECT_EQ(p.cap_len, 1500u);
      EXPECT_EQ(p.link_type, 228);
      return true;
    });
    EXPECT_EQ(found, 1000u);
  }
  EXPECT_LE(memory[0], 1000u * 40 + 4096);
  EXPECT_GE(memory[1], 1000u * 64);
}

void many_queries_in_one_pass(bool by_reference) {
  PacketRecorder r(small(1 << 20));
  auto file = std::make_shared<FakeReadBack>();
  if (by_reference) r.read_back_from(file);
  std::int64_t offset = 24;
  const auto record = [&](std::int64_t t, std::size_t size,
                          std::span<const net::IpAddress> addresses) {
    if (by_reference) {
      r.record_reference(t, static_cast<std::uint32_t>(size), 1, static_cast<std::uint32_t>(size),
                         offset, addresses);
      offset += 16 + static_cast<std::int64_t>(size);
    } else {
      r.record(t, static_cast<std::uint32_t>(size), 1, frame_for(t, size), addresses);
    }
  };
  // 40 hosts talking to a server, IPv4 and IPv6 (the same leading bytes), and a tunnel whose
  // inner and outer pairs share an address (it must be visited once per query, not twice).
  const auto server = v4(10, 0, 0, 100);
  std::vector<net::IpAddress> hosts;
  for (std::uint8_t i = 1; i <= 20; ++i) hosts.push_back(v4(10, 0, 0, i));
  for (std::uint8_t i = 1; i <= 20; ++i) hosts.push_back(v6_from(v4(10, 0, 0, i)));
  std::int64_t t = 0;
  for (int round = 0; round < 25; ++round) {
    for (std::size_t h = 0; h < hosts.size(); ++h) {
      ++t;
      if (h % 7 == 3) {
        const net::IpAddress four[4] = {hosts[h], server, hosts[h], v4(192, 168, 0, 1)};
        record(t, 90, four);
      } else {
        const net::IpAddress pair[2] = {hosts[h], server};
        record(t, 80, pair);
      }
    }
  }
  std::vector<RecorderQuery> queries;
  for (std::size_t h = 0; h < hosts.size(); ++h) {
    RecorderQuery q;
    q.host = hosts[h];
    q.from_ns = static_cast<std::int64_t>(h) * 11;  // each its own window
    q.to_ns = q.from_ns + 600;
    if (h % 5 == 0) q.peer = v4(192, 168, 0, 1);  // only the tunnelled packets
    queries.push_back(q);
  }
  // Two queries about one host.
  queries.push_back(queries[4]);
  // A network's (an alert about a flood spread over its hosts): the IPv4 hosts 1-15 of
  // 10.0.0.0/28, each packet once though a tunnel's holds its host twice; the same as IPv6
  // (hosts 1-15 of the IPv6 network with the same leading 28 bits); and a /24's packets with one
  // peer (the tunnelled ones).
  const std::size_t first_network = queries.size();
  RecorderQuery net_q;
  net_q.host = v4(10, 0, 0, 0);
  net_q.prefix = 28;
  net_q.from_ns = 200;
  net_q.to_ns = 500;
  queries.push_back(net_q);
  RecorderQuery net6_q = net_q;
  net6_q.host = v6_from(v4(10, 0, 0, 0));
  net6_q.prefix = 28;
  queries.push_back(net6_q);
  RecorderQuery net_peer_q = net_q;
  net_peer_q.prefix = 24;
  net_peer_q.peer = v4(192, 168, 0, 1);
  queries.push_back(net_peer_q);
  // Queries matching nothing.
  RecorderQuery server_q;
  server_q.host = server;
  server_q.from_ns = 100;
  server_q.to_ns = 140;
  queries.push_back(server_q);
  RecorderQuery nobody;
  nobody.host = v4(172, 16, 0, 1);
  queries.push_back(nobody);
  RecorderQuery empty_window = queries[1];
  empty_window.from_ns = 5;
  empty_window.to_ns = 4;
  queries.push_back(empty_window);

  const std::uint64_t passes_before = r.stats().queries;
  std::vector<std::vector<std::int64_t>> seen(queries.size());
  std::size_t bad_bytes = 0;
  const std::size_t visits = r.for_each_of(queries, [&](std::size_t i, const RecordedPacket& p) {
    seen[i].push_back(p.ts_ns);
    if (!frame_matches(p)) ++bad_bytes;
    return true;
  });
  EXPECT_EQ(r.stats().queries - passes_before, 1u) << "one pass over the ring for all";
  EXPECT_EQ(bad_bytes, 0u);
  std::size_t expected_visits = 0;
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const auto alone = times(r, queries[i]);
    EXPECT_EQ(seen[i], alone) << "query " << i;
    expected_visits += alone.size();
  }
  EXPECT_EQ(visits, expected_visits);
  EXPECT_TRUE(seen[0].empty()) << "a peer host 0 never talked to";
  EXPECT_FALSE(seen[1].empty());
  EXPECT_FALSE(seen[3].empty()) << "a tunnelled host's query";
  EXPECT_FALSE(seen[10].empty()) << "a tunnelled host's query with the tunnel's peer";
  EXPECT_FALSE(seen[queries.size() - 3].empty()) << "the server's query";
  EXPECT_TRUE(seen[queries.size() - 2].empty());
  EXPECT_TRUE(seen[queries.size() - 1].empty());
  // The networks' queries: packet t was host (t - 1) % 40's (IPv4 for 0-19, IPv6 for 20-39;
  // every seventh from 3 tunnelled to 192.168.0.1).
  std::vector<std::int64_t> want_v4, want_v6, want_peer;
  for (std::int64_t ts = 200; ts <= 500; ++ts) {
    const auto h = static_cast<std::size_t>((ts - 1) % 40);
    if (h < 20 && h + 1 <= 15) want_v4.push_back(ts);
    if (h >= 20 && h - 20 + 1 <= 15) want_v6.push_back(ts);
    if (h % 7 == 3) want_peer.push_back(ts);  // the server, 10.0.0.100, is in the /24
  }
  EXPECT_EQ(seen[first_network], want_v4);
  EXPECT_EQ(seen[first_network + 1], want_v6);
  EXPECT_EQ(seen[first_network + 2], want_peer);

  // A visitor stopping one query leaves the others going.
  std::vector<std::size_t> calls(queries.size(), 0);
  r.for_each_of(queries, [&](std::size_t i, const RecordedPacket&) { return ++calls[i] < 2; });
  for (std::size_t i = 0; i < queries.size(); ++i) {
    EXPECT_EQ(calls[i], std::min<std::size_t>(seen[i].size(), 2)) << "query " << i;
  }
}

TEST(PacketRecorder, StopsWhenTheVisitorSaysSo) {
  PacketRecorder r(small(1 << 20));
  const auto a = v4(1, 1, 1, 1);
  for (std::int64_t t = 0; t < 10; ++t) r.record(t, 60, 1, frame_for(t, 60), {&a, 1});
  int calls = 0;
  RecorderQuery q;
  q.host = a;
  EXPECT_EQ(r.for_each(q, [&](const RecordedPacket&) { return ++calls < 3; }), 3u);
}

TEST(PacketRecorder, MemoryStaysWithinBudgetAndKeepsTheNewest) {
  const std::size_t budget = 512 << 10;  // eight 64 KiB segments
  PacketRecorder r(small(budget));
  const auto a = v4(192, 168, 0, 1);
  const std::int64_t n = 20'000;  // ~8 MB of 400-byte packets: sixteen times the budget
  for (std::int64_t t = 0; t < n; ++t) r.record(t, 400, 1, frame_for(t, 400), {&a, 1});
  const RecorderStats s = r.stats();
  EXPECT_LE(s.memory_bytes, budget + 2 * (64 << 10));
  EXPECT_GT(s.evicted_packets, 0u);
  RecorderQuery q;
  q.host = a;
  const auto held = times(r, q);
  ASSERT_FALSE(held.empty());
  EXPECT_EQ(held.back(), n - 1) << "the newest packet is always held";
  EXPECT_EQ(static_cast<std::uint64_t>(held.size()) + s.evicted_packets,
            static_cast<std::uint64_t>(n));
  for (std::size_t i = 1; i < held.size(); ++i) ASSERT_EQ(held[i], held[i - 1] + 1);
  EXPECT_GT(held.size(), 1000u) << "most of the budget holds packets";
}

TEST(PacketRecorder, DropsPacketsOlderThanTheAgeLimit) {
  const std::int64_t second = 1'000'000'000;
  PacketRecorder r(small(64 << 20, 10 * second));
  const auto a = v4(10, 1, 1, 1);
  // 200-byte packets, 100 per second for 60 s: ~1.4 MB, far below the memory budget.
  for (std::int64_t t = 0; t < 60 * second; t += second / 100) {
    r.record(t, 200, 1, frame_for(t, 200), {&a, 1});
  }
  RecorderQuery q;
  q.host = a;
  const auto held = times(r, q);
  ASSERT_FALSE(held.empty());
  // Whole segments go, so up to one segment (~290 packets, ~3 s) older than the limit remains.
  EXPECT_GE(held.front(), 60 * second - 10 * second - 4 * second);
  EXPECT_GT(r.stats().evicted_packets, 0u);
}

TEST(PacketRecorder, OffRecordsNothingAndRejectsBadSizes) {
  PacketRecorder off(small(0));
  const auto a = v4(1, 2, 3, 4);
  off.record(1, 60, 1, frame_for(1, 60), {&a, 1});
  EXPECT_FALSE(off.enabled());
  EXPECT_EQ(off.stats().packets, 0u);
  RecorderOptions tiny = small(1 << 20);
  tiny.segment_bytes = 1024;
  EXPECT_THROW(PacketRecorder{tiny}, core::Error);
  RecorderOptions inverted = small(32 << 10);
  EXPECT_THROW(PacketRecorder{inverted}, core::Error);
}

TEST(PacketRecorder, ReadersSeeWholePacketsWhileRecordingGoesOn) {
  PacketRecorder r(small(1 << 20));
  const auto a = v4(10, 9, 9, 9);
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> checked{0}, bad{0};
  std::thread reader([&] {
    RecorderQuery q;
    q.host = a;
    while (!done.load()) {
      std::int64_t last = -1;
      r.for_each(q, [&](const RecordedPacket& p) {
        if (!frame_matches(p) || p.ts_ns <= last) bad.fetch_add(1);
        last = p.ts_ns;
        checked.fetch_add(1);
        return true;
      });
    }
  });
  for (std::int64_t t = 0; t < 300'000; ++t) {
    r.record(t, 128, 1, frame_for(t, 64 + static_cast<std::size_t>(t % 200)), {&a, 1});
  }
  done.store(true);
  reader.join();
  EXPECT_GT(checked.load(), 0u);
  EXPECT_EQ(bad.load(), 0u);
}

// Waits (at most 10 s) until the recorder holds `bytes`; returns what it holds then.
std::size_t wait_for_memory(const PacketRecorder& r, std::size_t bytes) {
  for (int i = 0; i < 1000 && r.stats().memory_bytes != bytes; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return r.stats().memory_bytes;
}

TEST(PacketRecorder, MakesSegmentsAheadOnlyOnceTrafficFillsTheFirstAndWithinTheBudget) {
  RecorderOptions o;
  o.segment_bytes = 2 << 20;  // a huge page's size: the preparer's segments take huge pages
  o.memory_bytes = 16 << 20;  // eight segments
  PacketRecorder r(o);
  const auto a = v4(10, 7, 7, 7);
  std::int64_t t = 0;
  // 1,000-byte packets (1,040 bytes with their entry and one address): 2,016 fill a segment.
  for (; t < 900; ++t) r.record(t, 1000, 1, frame_for(t, 1000), {&a, 1});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(r.stats().memory_bytes, o.segment_bytes) << "less than half a segment: one segment";

  for (; t < 1'100; ++t) r.record(t, 1000, 1, frame_for(t, 1000), {&a, 1});
  // Past half the first segment: four made ahead, and no more while the writer stays in it.
  EXPECT_EQ(wait_for_memory(r, 5 * o.segment_bytes), 5 * o.segment_bytes);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(r.stats().memory_bytes, 5 * o.segment_bytes);

  // The writer takes one: the preparer makes another, up to the budget's eight in all.
  for (; t < 2'100; ++t) r.record(t, 1000, 1, frame_for(t, 1000), {&a, 1});
  EXPECT_EQ(wait_for_memory(r, 6 * o.segment_bytes), 6 * o.segment_bytes);

  // Many laps through segments made ahead and made by the writer: memory stays within the
  // budget, and the packets held are the newest, whole.
  const std::int64_t n = 60'000;  // ~64 MB: four times the budget
  for (; t < n; ++t) r.record(t, 1000, 1, frame_for(t, 1000), {&a, 1});
  const RecorderStats s = r.stats();
  EXPECT_LE(s.memory_bytes, o.memory_bytes + 2 * o.segment_bytes);
  RecorderQuery q;
  q.host = a;
  std::vector<std::int64_t> held;
  std::uint64_t bad = 0;
  r.for_each(q, [&](const RecordedPacket& p) {
    if (!frame_matches(p) || p.bytes().size() != 1000) ++bad;
    held.push_back(p.ts_ns);
    return true;
  });
  EXPECT_EQ(bad, 0u);
  ASSERT_FALSE(held.empty());
  EXPECT_EQ(held.back(), n - 1);
  EXPECT_EQ(static_cast<std::uint64_t>(held.size()) + s.evicted_packets,
            static_cast<std::uint64_t>(n));
  EXPECT_GT(held.size(), 7u * 1'900) << "the budget's segments hold packets";
}

TEST(PacketRecorder, ASegmentThatLeftTheRingWhileReadIsReusedNotMadeAnew) {
  const std::size_t segment = 64 << 10;
  PacketRecorder r(small(4 * segment));  // four segments
  const auto a = v4(10, 9, 9, 9);
  std::int64_t t = 0;
  // 1,000-byte packets (1,040 bytes with their entry and one address): 63 fill a segment.
  for (; t < 5'000; ++t) r.record(t, 1000, 1, frame_for(t, 1000), {&a, 1});
  const RecorderStats before = r.stats();  // the ring and its emptied segments kept for reuse

  // The writer moves on three segments while a reader holds the whole ring: the three segments
  // it evicts meanwhile stay with the reader, and come back for reuse (two, the pool's room)
  // when the reader lets go of them, instead of being freed and made anew.
  RecorderQuery q;
  q.host = a;
  bool wrote = false;
  std::uint64_t bad = 0;
  r.for_each(q, [&](const RecordedPacket& p) {
    if (!frame_matches(p)) ++bad;
    if (!wrote) {
      for (const std::int64_t end = t + 200; t < end; ++t) {
        r.record(t, 1000, 1, frame_for(t, 1000), {&a, 1});
      }
      wrote = true;
    }
    return true;
  });
  EXPECT_EQ(bad, 0u) << "a held segment is never overwritten";
  const RecorderStats after = r.stats();
  EXPECT_GE(after.memory_bytes, before.memory_bytes);
  EXPECT_LE(after.memory_bytes, 6 * segment) << "the ring and at most two kept for reuse";
  EXPECT_EQ(times(r, q).back(), t - 1);
}

class CaptureFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("netsentry-recorder-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& image) {
    const auto path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << image;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(CaptureFiles, OneLinkTypeBecomesAClassicPcapThatReadsBackUnchanged) {
  PacketRecorder r(small(1 << 20));
  const auto a = v4(10, 0, 0, 1);
  PacketBatch batch;
  for (std::int64_t t = 0; t < 50; ++t) {
    const std::int64_t ts = 1'700'000'000'123'456'789 + t * 1'000'003;
    r.record(ts, 1500, 1, frame_for(ts, 60 + static_cast<std::size_t>(t)), {&a, 1});
  }
  RecorderQuery q;
  q.host = a;
  r.for_each(q, [&](const RecordedPacket& p) {
    batch.add(p);
    return true;
  });
  ASSERT_EQ(batch.size(), 50u);
  const std::string image = capture_file_image(batch, 320);
  std::uint32_t magic = 0;
  std::memcpy(&magic, image.data(), 4);
  EXPECT_EQ(magic, 0xa1b23c4du);
  auto source = open_file(write("one.pcap", image));
  EXPECT_EQ(source->link_type(), net::LinkType::kEthernet);
  RawPacket raw;
  std::size_t i = 0;
  while (source->next(raw) == ReadStatus::kPacket) {
    const auto& item = batch.items()[i];
    EXPECT_EQ(raw.ts_ns, item.ts_ns) << i;
    EXPECT_EQ(raw.wire_len, 1500u);
    EXPECT_EQ(raw.cap_len, item.cap_len);
    EXPECT_EQ(0, std::memcmp(raw.bytes.data(), batch.bytes().data() + item.offset, item.cap_len));
    ++i;
  }
  EXPECT_EQ(i, 50u);
  EXPECT_EQ(source->error(), "");
}

// Walks pcapng blocks: every block's leading and trailing lengths agree, interfaces come before
// the packets that name them.
TEST_F(CaptureFiles, MixedLinkTypesBecomeAPcapngWithOneInterfaceEach) {
  PacketBatch batch;
  const std::vector<std::uint8_t> eth(60, 0xAB), raw(41, 0x45);
  batch.add({1'000, 60, 1, eth});
  batch.add({2'000, 41, 101, raw});
  batch.add({3'000, 60, 1, eth});
  const std::string image = capture_file_image(batch, 320);
  std::size_t at = 0;
  std::vector<std::uint32_t> types;
  std::vector<std::uint16_t> links;
  std::vector<std::uint32_t> packet_interfaces;
  while (at < image.size()) {
    std::uint32_t type = 0, length = 0, trailer = 0;
    ASSERT_LE(at + 12, image.size());
    std::memcpy(&type, image.data() + at, 4);
    std::memcpy(&length, image.data() + at + 4, 4);
    ASSERT_EQ(length % 4, 0u);
    ASSERT_LE(at + length, image.size());
    std::memcpy(&trailer, image.data() + at + length - 4, 4);
    EXPECT_EQ(trailer, length);
    types.push_back(type);
    if (type == 1) {
      std::uint16_t link = 0;
      std::memcpy(&link, image.data() + at + 8, 2);
      links.push_back(link);
    } else if (type == 6) {
      std::uint32_t interface = 0, high = 0, low = 0, cap = 0;
      std::memcpy(&interface, image.data() + at + 8, 4);
      std::memcpy(&high, image.data() + at + 12, 4);
      std::memcpy(&low, image.data() + at + 16, 4);
      std::memcpy(&cap, image.data() + at + 20, 4);
      EXPECT_LT(interface, links.size());
      packet_interfaces.push_back(interface);
      EXPECT_EQ((std::uint64_t{high} << 32) | low, 1000u * packet_interfaces.size());
      EXPECT_EQ(cap, interface == 0 ? 60u : 41u);
    }
    at += length;
  }
  EXPECT_EQ(types, (std::vector<std::uint32_t>{0x0A0D0D0A, 1, 1, 6, 6, 6}));
  EXPECT_EQ(links, (std::vector<std::uint16_t>{1, 101}));
  EXPECT_EQ(packet_interfaces, (std::vector<std::uint32_t>{0, 1, 0}));
}

TEST_F(CaptureFiles, AnEmptyBatchIsAnEmptyCapture) {
  auto source = open_file(write("empty.pcap", capture_file_image(PacketBatch{}, 320)));
  RawPacket raw;
  EXPECT_EQ(source->next(raw), ReadStatus::kEnd);
  EXPECT_EQ(source->error(), "");
}

}  // namespace
}  // namespace netsentry::capture
