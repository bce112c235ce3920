#include "capture/packet_recorder.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace netsentry::capture {

namespace {

// A recorded packet in a segment: this header, `naddr` addresses of 16 bytes, the captured bytes,
// padding to 8 bytes.
struct EntryHeader {
  std::int64_t ts_ns;
  std::uint32_t wire_len;
  std::uint32_t stored_len;
  std::int32_t link_type;
  std::uint8_t naddr;
  std::uint8_t ipv6_mask;  // bit i: address i is IPv6 (else IPv4)
  std::uint16_t reserved;
};
static_assert(sizeof(EntryHeader) == 24);

constexpr std::size_t align8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

bool same_address(const std::uint8_t* stored, bool ipv6, const net::IpAddress& a) {
  if (a.family != (ipv6 ? 6 : 4)) return false;
  return std::memcmp(stored, a.bytes.data(), ipv6 ? 16 : 4) == 0;
}

}  // namespace

struct PacketRecorder::Segment {
  explicit Segment(std::size_t size) : data(new std::uint8_t[size]), capacity(size) {}
  std::unique_ptr<std::uint8_t[]> data;
  std::size_t capacity;
  // Bytes of complete entries: written by the recording thread with release after each entry,
  // read with acquire by readers, who only ever look below it.
  std::atomic<std::size_t> committed{0};
  std::atomic<std::int64_t> first_ns{INT64_MAX};
  std::atomic<std::int64_t> last_ns{INT64_MIN};
  std::atomic<std::uint64_t> packets{0};

  void reset() {
    committed.store(0, std::memory_order_relaxed);
    first_ns.store(INT64_MAX, std::memory_order_relaxed);
    last_ns.store(INT64_MIN, std::memory_order_relaxed);
    packets.store(0, std::memory_order_relaxed);
  }
};

PacketRecorder::PacketRecorder(RecorderOptions options) : options_(options) {
  if (!enabled()) return;
  if (options_.segment_bytes < (std::size_t{64} << 10)) {
    throw core::Error("packet recorder: segments must be at least 64 KiB");
  }
  if (options_.segment_bytes > options_.memory_bytes) {
    throw core::Error("packet recorder: the memory budget (" +
                      std::to_string(options_.memory_bytes >> 20) +
                      " MiB) is smaller than one segment");
  }
  if (options_.max_age_ns < 0) throw core::Error("packet recorder: negative age limit");
  current_ = new_segment();
  segments_.push_back(current_);
}

PacketRecorder::~PacketRecorder() = default;

std::shared_ptr<PacketRecorder::Segment> PacketRecorder::new_segment() {
  // Under mutex_ (or in the constructor).
  if (!pool_.empty()) {
    auto s = std::move(pool_.back());
    pool_.pop_back();
    s->reset();
    return s;
  }
  return std::make_shared<Segment>(options_.segment_bytes);
}

void PacketRecorder::evict_locked(std::int64_t now_ns) {
  const std::size_t max_segments =
      std::max<std::size_t>(1, options_.memory_bytes / options_.segment_bytes);
  auto too_old = [&](const Segment& s) {
    return options_.max_age_ns > 0 && s.last_ns.load(std::memory_order_relaxed) != INT64_MIN &&
           s.last_ns.load(std::memory_order_relaxed) < now_ns - options_.max_age_ns;
  };
  // The current segment (the last) is never evicted.
  while (segments_.size() > 1 && (segments_.size() > max_segments || too_old(*segments_.front()))) {
    std::shared_ptr<Segment> old = std::move(segments_.front());
    segments_.erase(segments_.begin());
    evicted_packets_ += old->packets.load(std::memory_order_relaxed);
    // Reuse it unless a reader still holds it (readers copy their pointers under mutex_, so the
    // count cannot rise behind our back).
    if (old.use_count() == 1 && pool_.size() < 2) pool_.push_back(std::move(old));
  }
}

void PacketRecorder::record(std::int64_t ts_ns, std::uint32_t wire_len, int link_type,
                            std::span<const std::uint8_t> bytes,
                            std::span<const net::IpAddress> addresses) {
  if (!enabled()) return;
  const std::size_t naddr = std::min(addresses.size(), kMaxAddresses);
  const std::size_t need = align8(sizeof(EntryHeader) + 16 * naddr + bytes.size());
  if (need > options_.segment_bytes) {
    std::lock_guard lock(mutex_);
    ++too_large_;
    return;
  }
  newest_ns_ = std::max(newest_ns_, ts_ns);
  Segment* seg = current_.get();
  std::size_t at = seg->committed.load(std::memory_order_relaxed);
  if (at + need > seg->capacity) {
    std::lock_guard lock(mutex_);
    current_ = new_segment();
    segments_.push_back(current_);
    evict_locked(newest_ns_);
    seg = current_.get();
    at = 0;
  } else if (options_.max_age_ns > 0 && segments_.size() > 1) {
    // Age eviction without a segment change: checked cheaply against the oldest segment's end.
    // segments_.front() is only replaced under mutex_, which this thread takes for every change.
    const Segment& front = *segments_.front();
    if (front.last_ns.load(std::memory_order_relaxed) < newest_ns_ - options_.max_age_ns) {
      std::lock_guard lock(mutex_);
      evict_locked(newest_ns_);
    }
  }

  std::uint8_t* p = seg->data.get() + at;
  EntryHeader h{};
  h.ts_ns = ts_ns;
  h.wire_len = wire_len;
  h.stored_len = static_cast<std::uint32_t>(bytes.size());
  h.link_type = link_type;
  h.naddr = static_cast<std::uint8_t>(naddr);
  for (std::size_t i = 0; i < naddr; ++i) {
    if (addresses[i].family == 6) h.ipv6_mask |= static_cast<std::uint8_t>(1u << i);
  }
  std::memcpy(p, &h, sizeof h);
  p += sizeof h;
  for (std::size_t i = 0; i < naddr; ++i, p += 16) std::memcpy(p, addresses[i].bytes.data(), 16);
  if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());

  if (seg->first_ns.load(std::memory_order_relaxed) == INT64_MAX) {
    seg->first_ns.store(ts_ns, std::memory_order_relaxed);
  }
  if (ts_ns > seg->last_ns.load(std::memory_order_relaxed)) {
    seg->last_ns.store(ts_ns, std::memory_order_relaxed);
  }
  seg->packets.fetch_add(1, std::memory_order_relaxed);
  seg->committed.store(at + need, std::memory_order_release);
  packets_.fetch_add(1, std::memory_order_relaxed);
  bytes_.fetch_add(bytes.size(), std::memory_order_relaxed);
}

std::size_t PacketRecorder::for_each(
    const RecorderQuery& query, const std::function<bool(const RecordedPacket&)>& visit) const {
  if (!enabled()) return 0;
  std::vector<std::pair<std::shared_ptr<Segment>, std::size_t>> snapshot;
  {
    std::lock_guard lock(mutex_);
    ++queries_;
    snapshot.reserve(segments_.size());
    for (const auto& s : segments_) {
      snapshot.emplace_back(s, s->committed.load(std::memory_order_acquire));
    }
  }
  std::size_t visited = 0;
  for (const auto& [seg, end] : snapshot) {
    // Timestamps may go backwards a little (a replay's), so a segment's range is only a hint
    // when it is clearly outside the query.
    if (seg->first_ns.load(std::memory_order_relaxed) > query.to_ns &&
        seg->last_ns.load(std::memory_order_relaxed) > query.to_ns) {
      continue;
    }
    if (seg->last_ns.load(std::memory_order_relaxed) < query.from_ns) continue;
    const std::uint8_t* base = seg->data.get();
    std::size_t at = 0;
    while (at < end) {
      EntryHeader h;
      std::memcpy(&h, base + at, sizeof h);
      const std::uint8_t* addrs = base + at + sizeof h;
      const std::uint8_t* bytes = addrs + 16 * std::size_t{h.naddr};
      at += align8(sizeof h + 16 * std::size_t{h.naddr} + h.stored_len);
      if (h.ts_ns < query.from_ns || h.ts_ns > query.to_ns) continue;
      bool host = false;
      bool peer = !query.peer.has_value();
      for (std::size_t i = 0; i < h.naddr; ++i) {
        const bool v6 = (h.ipv6_mask >> i) & 1u;
        host = host || same_address(addrs + 16 * i, v6, query.host);
        if (!peer) peer = same_address(addrs + 16 * i, v6, *query.peer);
      }
      if (!host || !peer) continue;
      ++visited;
      const RecordedPacket packet{h.ts_ns, h.wire_len, h.link_type, {bytes, h.stored_len}};
      if (!visit(packet)) return visited;
    }
  }
  return visited;
}

RecorderStats PacketRecorder::stats() const {
  RecorderStats s;
  s.packets = packets_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  s.evicted_packets = evicted_packets_;
  s.too_large = too_large_;
  s.queries = queries_;
  s.memory_bytes = (segments_.size() + pool_.size()) * options_.segment_bytes;
  for (const auto& seg : segments_) {
    if (seg->packets.load(std::memory_order_relaxed) == 0) continue;
    const auto first = seg->first_ns.load(std::memory_order_relaxed);
    if (s.oldest_ns == 0 || first < s.oldest_ns) s.oldest_ns = first;
    s.newest_ns = std::max(s.newest_ns, seg->last_ns.load(std::memory_order_relaxed));
  }
  return s;
}

}  // namespace netsentry::capture
