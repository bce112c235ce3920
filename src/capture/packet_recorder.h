// Provides capture::PacketRecorder, a bounded memory ring of the most recent packets (as the
// capture pipeline carries them: timestamp, lengths, link type and the captured bytes) with the
// addresses each packet is about, so the packets behind an alert can be written out as a capture
// file after the fact (see store::EvidenceStore). The ring is a list of fixed-size segments: the
// oldest segment is dropped when the memory budget or the age limit is reached, so memory never
// passes the budget whatever the traffic.
// Recording is in three steps so each packet is copied once, by the capture thread, straight into
// the ring (capture::PacketRing calls write() and lets the flow meter read the packet there): the
// flow thread, once it has decoded the packet, gives its addresses (commit(), which makes it
// visible to readers) and, once the meter no longer looks at it, releases it (release()). A segment
// leaves the ring only when every packet in it is released, so the writer never overwrites bytes
// the flow thread still reads; when that would be needed, write() keeps nothing and has_room()
// says so (a lossless replay waits on it).
// Thread rules: has_room() and write() from one thread (the writer: the capture thread); commit()
// and release() from one thread (the flow thread), in write order; record() does all three for a
// caller that is both. for_each() and stats() from any thread, concurrently: readers see every
// packet committed before their call began, and never block the writer for longer than it takes
// to copy a list of segment pointers. A thread of the recorder's own (the preparer) makes the
// segments of the ring's first lap ahead of the writer, once traffic has filled half the first
// one, so the writer does not pay for committing fresh memory (see packet_recorder.cpp).
// Reading a file (a replay of a classic pcap file), the packets need not be copied: given the
// source's read-back (read_back_from), record_reference() keeps a packet's place in the file
// instead of its bytes, and a query reads the bytes back from the file for the packets whose
// bytes its visitor asks for (RecordedPacket::bytes()). Such a packet takes as much of the budget
// as its copy would, so the ring keeps the same packets either way and alert evidence is the
// same; only the copying and the memory are saved. The flow thread is then the only writer (the
// capture thread has nothing to copy).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <thread>
#include <vector>

#include "capture/packet_source.h"
#include "net/packet.h"

namespace netsentry::capture {

struct RecorderOptions {
  std::size_t memory_bytes = std::size_t{128} << 20;  // ring budget; 0 = recorder off
  std::int64_t max_age_ns = 0;  // also drop packets older than this (packet time); 0 = no limit
  std::size_t segment_bytes = std::size_t{4} << 20;  // unit of allocation and eviction
};

struct RecorderStats {
  std::uint64_t packets = 0;          // recorded since start
  std::uint64_t bytes = 0;            // captured bytes recorded since start
  std::uint64_t evicted_packets = 0;  // dropped from the ring (budget or age)
  std::uint64_t too_large = 0;        // not recorded: larger than a segment
  std::uint64_t no_room = 0;          // not recorded: the ring was full of packets not yet released
  // Kept by reference, but the file no longer held them when a query read them back (changed or
  // truncated since): left out of that query.
  std::uint64_t unreadable = 0;
  // Held by the ring now (packets kept by reference: the memory their entries reached, which
  // is far below the budget their copies would take).
  std::size_t memory_bytes = 0;
  std::int64_t oldest_ns = 0;  // packet time of the oldest packet still held (0: empty)
  std::int64_t newest_ns = 0;
  std::uint64_t queries = 0;
};

// One recorded packet, as for_each() hands it out, valid during the callback only.
class RecordedPacket {
 public:
  // Reads a packet kept by reference (the recorder's, per query).
  class Loader {
   public:
    virtual ~Loader() = default;
    // The packet's bytes, or empty when its file no longer holds it.
    virtual std::span<const std::uint8_t> load(const RecordedPacket& packet) const = 0;
  };

  // A packet whose bytes are in memory.
  RecordedPacket(std::int64_t ts_ns, std::uint32_t wire_len, int link_type,
                 std::span<const std::uint8_t> bytes)
      : ts_ns(ts_ns),
        wire_len(wire_len),
        cap_len(static_cast<std::uint32_t>(bytes.size())),
        link_type(link_type),
        held_(bytes),
        loaded_(true) {}
  // A packet kept by reference: its bytes are read by `loader` when first asked for.
  RecordedPacket(std::int64_t ts_ns, std::uint32_t wire_len, int link_type, std::uint32_t cap_len,
                 std::int64_t file_offset, const Loader& loader)
      : ts_ns(ts_ns),
        wire_len(wire_len),
        cap_len(cap_len),
        link_type(link_type),
        file_offset(file_offset),
        loader_(&loader) {}

  // The captured bytes: a packet kept by reference is read from its file now (a visitor that
  // does not look at them costs nothing). Empty, though cap_len is not, when the file no longer
  // holds the packet (counted in RecorderStats::unreadable).
  [[nodiscard]] std::span<const std::uint8_t> bytes() const {
    if (!loaded_) {
      held_ = loader_->load(*this);
      loaded_ = true;
    }
    return held_;
  }

  std::int64_t ts_ns = 0;
  std::uint32_t wire_len = 0;
  std::uint32_t cap_len = 0;      // captured length
  int link_type = 0;              // the pcap link type (DLT) of the bytes
  std::int64_t file_offset = -1;  // where a packet kept by reference is in its file

 private:
  mutable std::span<const std::uint8_t> held_;
  const Loader* loader_ = nullptr;
  mutable bool loaded_ = false;
};

struct RecorderQuery {
  net::IpAddress host;  // packets with this address among theirs
  // Nonzero: packets with any address of the network host/prefix among theirs instead (a
  // network's or a block's alert, whose profile is no one host).
  std::uint8_t prefix = 0;
  std::optional<net::IpAddress> peer;  // and, when given, this one too
  std::int64_t from_ns = INT64_MIN;    // packet time, inclusive
  std::int64_t to_ns = INT64_MAX;
};

class PacketRecorder final {
 public:
  // At most this many addresses per packet (the outer pair and the inner pair of a tunnel).
  static constexpr std::size_t kMaxAddresses = 4;

  struct Segment;
  // A packet write() put in the ring, until it is committed and released. Empty when not kept.
  struct Pending {
    Segment* segment = nullptr;
    std::size_t at = 0;                   // the entry's offset in its segment
    std::span<const std::uint8_t> bytes;  // the packet's bytes in the ring
    explicit operator bool() const { return segment != nullptr; }
  };

  // Throws core::Error when segment_bytes is below 64 KiB or above memory_bytes (when on).
  explicit PacketRecorder(RecorderOptions options = {});
  ~PacketRecorder();
  PacketRecorder(const PacketRecorder&) = delete;
  PacketRecorder& operator=(const PacketRecorder&) = delete;

  [[nodiscard]] bool enabled() const { return options_.memory_bytes > 0; }

  // Before the first write: packets recorded with record_reference() are read back through
  // `read_back` (the source's; the recorder shares it, so it outlives the source). Their entries
  // are a few dozen bytes of memory, touched as they are written, so no segment is made ahead.
  // Throws core::Error when packets were written already.
  void read_back_from(std::shared_ptr<const PacketReadBack> read_back);
  [[nodiscard]] bool by_reference() const { return read_back_ != nullptr; }

  // Writer: whether write() would keep a packet of `length` bytes now (true too when it could
  // never keep it: a packet larger than a segment is counted, not waited for).
  [[nodiscard]] bool has_room(std::size_t length);
  // Writer: copies one packet into the ring with room for `address_slots` addresses (at most
  // kMaxAddresses), invisible to readers until committed. Timestamps should not go backwards (a
  // replay's may: the age limit then uses the newest time seen). No allocation except when a new
  // segment is needed. Returns an empty Pending (and counts why) when the packet is not kept.
  Pending write(std::int64_t ts_ns, std::uint32_t wire_len, int link_type,
                std::span<const std::uint8_t> bytes, std::size_t address_slots = 2);
  // Flow thread, in write order, for every written packet: the addresses queries match on (at
  // most the slots written for; none: the packet is never found) and publication to readers.
  void commit(const Pending& packet, std::span<const net::IpAddress> addresses);
  // Flow thread: nothing written up to and including `packet` is looked at any more.
  void release(const Pending& packet);

  // write(), commit() and release() for a caller that is writer and flow thread at once.
  void record(std::int64_t ts_ns, std::uint32_t wire_len, int link_type,
              std::span<const std::uint8_t> bytes, std::span<const net::IpAddress> addresses);
  // With read_back_from() set, as record() for a packet of `cap_len` bytes the read-back finds at
  // `file_offset`: that place is kept instead of the bytes. Without it, nothing is kept.
  void record_reference(std::int64_t ts_ns, std::uint32_t wire_len, int link_type,
                        std::uint32_t cap_len, std::int64_t file_offset,
                        std::span<const net::IpAddress> addresses);

  // Any thread: calls `visit` for every held packet matching `query`, oldest first, until it
  // returns false. Returns the number of packets visited.
  std::size_t for_each(const RecorderQuery& query,
                       const std::function<bool(const RecordedPacket&)>& visit) const;
  // Any thread: the packets of many queries in one pass over the ring (an evidence writer
  // bringing thousands of alerts up to date at once reads the ring once, not once per alert):
  // calls `visit(i, packet)` for every held packet matching queries[i], oldest first (a packet
  // matching several queries once per query), until it returns false for that query. Returns
  // the number of visits.
  std::size_t for_each_of(
      std::span<const RecorderQuery> queries,
      const std::function<bool(std::size_t, const RecordedPacket&)>& visit) const;

  [[nodiscard]] RecorderStats stats() const;

 private:
  class WindowLoader;
  // The held entries with a time in [from_ns, to_ns], oldest first: `match(header, addresses,
  // packet)` for each (EntryHeader, its address slots, the packet) until it returns false.
  template <class Match>
  void scan(std::int64_t from_ns, std::int64_t to_ns, Match&& match) const;
  std::shared_ptr<Segment> new_segment();
  // Flow thread: the entry of `seg` ending at `end` (a packet of `captured` bytes with `naddr`
  // addresses) is complete: it is counted and made visible to readers.
  void published(Segment& seg, std::size_t naddr, std::uint32_t captured, std::size_t end);
  // Writer: room for an entry taking `budget` bytes of the budget and `stored` bytes of memory
  // (the segment and the entry's offset in it), or a null segment (counted) when there is none.
  std::pair<Segment*, std::size_t> place(std::int64_t ts_ns, std::size_t budget,
                                         std::size_t stored);
  // Under mutex_: whether the preparer should make a segment now.
  [[nodiscard]] bool preparing_wanted() const;
  // The preparer thread: keeps up to kReadyAhead segments made ahead of the writer.
  void prepare_loop(std::stop_token stop);
  // Whether the oldest segment may go: not the current one, and every packet in it released.
  [[nodiscard]] bool front_released() const;
  // Under mutex_: drops the oldest released segments while over budget or too old.
  void evict_locked(std::int64_t now_ns);
  // A reader's hold on a segment ends (takes mutex_): one that left the ring meanwhile is pooled.
  void let_go(std::shared_ptr<Segment>& segment) const;

  RecorderOptions options_;
  std::size_t max_segments_ = 1;
  // Writer's: its segment (also the list's last), the newest time seen, segments made so far.
  std::shared_ptr<Segment> current_;
  std::int64_t newest_ns_ = INT64_MIN;
  std::uint64_t next_sequence_ = 0;
  // Flow thread's: segments numbered below this hold released packets only.
  std::atomic<std::uint64_t> released_below_{0};

  // Guards pool_, the counters below and segments_, which only the writer changes (so it reads
  // it without the lock).
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<Segment>> segments_;  // oldest first; the last is current_
  // Emptied segments kept for reuse (at most kPoolSegments), given back by eviction or, for one
  // a reader held when it left the ring, by that reader (let_go): a segment made anew costs the
  // writer a page fault per 4 KiB on its first lap (see packet_recorder.cpp).
  static constexpr std::size_t kPoolSegments = 2;
  mutable std::vector<std::shared_ptr<Segment>> pool_;
  std::uint64_t evicted_packets_ = 0;
  std::atomic<std::uint64_t> too_large_{0};
  std::atomic<std::uint64_t> no_room_{0};
  mutable std::atomic<std::uint64_t> unreadable_{0};
  std::shared_ptr<const PacketReadBack> read_back_;  // set before the first write
  mutable std::uint64_t queries_ = 0;
  std::atomic<std::uint64_t> packets_{0};
  std::atomic<std::uint64_t> bytes_{0};

  // The first lap's segments, made ahead by the preparer (guarded by mutex_ too): the writer
  // takes them instead of making its own. Four, so a preparer that lost the CPU for a while is
  // still ahead (two left the writer making 5-12 of a replay's 31 itself on a loaded machine).
  static constexpr std::size_t kReadyAhead = 4;
  std::vector<std::shared_ptr<Segment>> ready_;
  std::size_t preparing_ = 0;   // 1 while the preparer makes one
  bool prepare_ahead_ = false;  // set once traffic has filled half the first segment
  bool asked_ahead_ = false;    // the writer's copy of it (read without the lock)
  std::condition_variable_any prepare_cv_;
  std::jthread preparer_;  // declared last: stopped and joined before the rest goes
};

}  // namespace netsentry::capture
