// Provides net::FragmentReassembler: IPv4 and IPv6 fragment reassembly with bounded memory, so a
// fragmented datagram's flow gets its ports (and a fragmented tunnel its inner packet) while every
// wire packet is still counted in that flow.
//
// Fragments are held per datagram (source, destination, protocol, identification, tunnel depth).
// When a datagram is complete, its L4 header is decoded from the reassembled bytes and every held
// fragment is handed to the sink as a packet of the datagram's flow, in arrival order: ports from
// the reassembled header, TCP flags and the L4 header on the fragment at offset 0, each fragment's
// own share of the payload, its own wire and IP lengths and time. The reassembled datagram follows
// (on_datagram), for tunnel decapsulation. A datagram that cannot complete (timeout, eviction,
// end of input) hands its fragments over as they are, with the ports of its first fragment when
// that one arrived: no packet is ever lost, only counted under the reason it stayed incomplete.
//
// Bounds (ReassemblyConfig): datagrams in progress, fragments per datagram and in total, captured
// bytes held in total, datagrams per source address, and a timeout in packet time. Overlapping
// fragments are counted; the bytes that arrived first win. Only captured bytes are held: data past
// a fragment's capture length is a hole, and the reassembled view ends at the first hole (like a
// snapshot length) while its declared length stays the datagram's.
// All memory is allocated in the constructor; add() never allocates.
// Thread rules: one owner thread; the sink is called inside add(), advance() and flush().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "net/packet.h"

namespace netsentry::net {

struct ReassemblyConfig {
  std::size_t max_datagrams = 1024;             // datagrams in progress at once
  std::size_t max_fragments = 8192;             // fragments held in total
  std::size_t max_fragments_per_datagram = 64;  // at most 256
  std::size_t max_bytes = 4u << 20;             // captured fragment bytes held in total
  std::size_t max_per_source = 64;              // datagrams in progress per source address
  std::chrono::nanoseconds timeout = std::chrono::seconds(30);  // as Linux's ipfrag_time
};

struct ReassemblyStats {
  std::uint64_t fragments = 0;              // fragments given to add()
  std::uint64_t reassembled = 0;            // datagrams completed
  std::uint64_t reassembled_fragments = 0;  // fragments of completed datagrams
  std::uint64_t incomplete = 0;             // datagrams handed over without completing (sum below)
  std::uint64_t timed_out = 0;              // ... after the timeout
  std::uint64_t evicted = 0;                // ... to make room (datagram, fragment or byte bounds)
  std::uint64_t evicted_per_source = 0;     // ... because their source had too many in progress
  std::uint64_t flushed = 0;                // ... at the end of input
  std::uint64_t overlaps = 0;            // fragments overlapping an earlier one of their datagram
  std::uint64_t oversized = 0;           // fragments reaching past 65,535 bytes: not held
  std::uint64_t too_many_fragments = 0;  // datagrams that exceeded max_fragments_per_datagram
  std::uint64_t malformed = 0;           // reassembled datagrams whose L4 header was malformed
  std::size_t peak_datagrams = 0;
  std::size_t peak_bytes = 0;
};

// Receives what the reassembler hands over. Called on the owner's thread.
class FragmentSink {
 public:
  virtual ~FragmentSink() = default;
  // One wire fragment as a packet of its datagram's flow (fragment == true, payload empty).
  virtual void on_fragment(const Packet& packet) = 0;
  // A completed datagram, decoded from the reassembled bytes (fragment == false; spans valid until
  // the call returns; wire_len is the sum of its fragments' wire lengths), after its fragments.
  virtual void on_datagram(const Packet& datagram) = 0;
};

class FragmentReassembler final {
 public:
  // Throws core::Error-free: config values of 0 are raised to 1.
  explicit FragmentReassembler(const ReassemblyConfig& config = {});
  ~FragmentReassembler();
  FragmentReassembler(const FragmentReassembler&) = delete;
  FragmentReassembler& operator=(const FragmentReassembler&) = delete;

  // Takes one decoded fragment (fragment == true, l3 IPv4/IPv6). Expires timed-out datagrams
  // first (at the fragment's time). Its captured data bytes are copied.
  void add(const Packet& fragment, FragmentSink& sink);
  // Expires datagrams older than the timeout at `now_ns` (packet time).
  void advance(std::int64_t now_ns, FragmentSink& sink);
  // Hands over every datagram in progress (end of input).
  void flush(FragmentSink& sink);

  [[nodiscard]] const ReassemblyStats& stats() const { return stats_; }
  [[nodiscard]] std::size_t in_progress() const { return datagrams_in_use_; }
  [[nodiscard]] std::size_t bytes_held() const { return bytes_held_; }
  [[nodiscard]] const ReassemblyConfig& config() const { return config_; }

 private:
  static constexpr std::uint32_t kNil = 0xFFFFFFFFu;
  static constexpr std::size_t kChunkBytes = 512;
  static constexpr std::size_t kMaxDatagramBytes = 65535;

  struct Fragment {
    std::int64_t ts_ns;
    std::uint32_t wire_len;
    std::uint32_t cap_len;
    std::uint32_t ip_total_len;
    std::uint32_t offset;    // in the datagram's payload (after the IP headers)
    std::uint32_t length;    // declared data bytes
    std::uint32_t captured;  // data bytes held (<= length)
    std::uint32_t first_chunk;
    std::uint32_t next;  // next fragment of the datagram (arrival order), or the free list
    bool more;
  };
  struct Datagram {
    // Key.
    std::array<std::uint8_t, 16> src;
    std::array<std::uint8_t, 16> dst;
    std::uint32_t id;
    std::uint8_t family;
    std::uint8_t proto;
    std::uint8_t depth;
    // State.
    bool in_use = false;
    bool have_first = false;  // the offset-0 fragment arrived: `head` is it
    bool have_last = false;   // the fragment with M clear arrived: `total` is known
    std::uint32_t total = 0;  // payload bytes of the whole datagram
    std::uint32_t declared_sum = 0;
    std::uint32_t first_fragment = kNil;
    std::uint32_t last_fragment = kNil;
    std::uint32_t fragments = 0;
    std::uint32_t bytes = 0;  // chunk bytes held
    std::uint32_t hash_next = kNil;
    std::uint32_t source = kNil;
    std::uint32_t older = kNil;  // creation-order list
    std::uint32_t newer = kNil;
    std::uint64_t hash = 0;
    std::int64_t first_ts = 0;
    Packet head;    // the offset-0 fragment, or until it arrives the first fragment (spans cleared)
    Packet parent;  // for a datagram inside a tunnel: the packet that carried its first fragment
    bool has_parent = false;
  };
  struct Source {
    std::array<std::uint8_t, 16> addr;
    std::uint8_t family;
    std::uint32_t count = 0;
    std::uint32_t hash_next = kNil;
    std::uint64_t hash = 0;
  };

  std::uint32_t find(const Packet& p, std::uint64_t hash) const;
  std::uint32_t create(const Packet& p, std::uint64_t hash, FragmentSink& sink);
  // Hands over the datagram's fragments as they are and frees it; `reason` counter incremented.
  void give_up(std::uint32_t d, std::uint64_t& reason, FragmentSink& sink);
  void complete(std::uint32_t d, FragmentSink& sink);
  void release(std::uint32_t d);
  bool reserve_chunks(std::size_t count, std::uint32_t keep, FragmentSink& sink);
  std::uint32_t store(std::span<const std::uint8_t> data);
  void emit_fragment(const Datagram& dg, const Fragment& f, const Packet& flow_packet,
                     FragmentSink& sink) const;
  std::uint32_t source_of(const Packet& p);
  void source_release(std::uint32_t s);
  void unlink_age(std::uint32_t d);

  ReassemblyConfig config_;
  ReassemblyStats stats_;
  std::int64_t now_ = INT64_MIN;

  std::vector<Datagram> datagrams_;
  std::vector<std::uint32_t> free_datagrams_;
  std::vector<std::uint32_t> buckets_;
  std::uint64_t bucket_mask_ = 0;
  std::uint32_t oldest_ = kNil;
  std::uint32_t newest_ = kNil;
  std::size_t datagrams_in_use_ = 0;

  std::vector<Fragment> fragments_;
  std::uint32_t free_fragment_ = kNil;
  std::size_t fragments_in_use_ = 0;

  std::unique_ptr<std::uint8_t[]> chunk_bytes_;
  std::vector<std::uint32_t> chunk_next_;
  std::uint32_t free_chunk_ = kNil;
  std::size_t free_chunks_ = 0;
  std::size_t bytes_held_ = 0;

  std::vector<Source> sources_;
  std::vector<std::uint32_t> free_sources_;
  std::vector<std::uint32_t> source_buckets_;

  std::unique_ptr<std::uint8_t[]> scratch_;  // the reassembled payload
  std::vector<std::uint32_t> order_;         // fragment ids sorted by offset (sized per datagram)
  DecodeStats scratch_stats_;
};

}  // namespace netsentry::net
