#include "capture/packet_recorder.h"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <new>
#include <unordered_map>

#include "core/error.h"
#include "core/prefetch.h"

namespace netsentry::capture {

namespace {

// A recorded packet in a segment: this header, `address_slots` addresses of 16 bytes (the first
// `naddr` used), then the captured bytes (padded to 8 bytes), or for a packet kept by reference
// its 8-byte file offset. A packet kept by reference whose addresses are all IPv4 has slots of
// 4 bytes (kFourByteSlots): 40 bytes in all instead of 64 for the usual two addresses. On this
// project's paravirtualised test VM every fresh page the ring's entries reach costs a fault and
// its zeroing; the entries of a benign replay's ring took ~10 MB of them, ~5 % of its CPU.
struct EntryHeader {
  std::int64_t ts_ns;
  std::uint32_t wire_len;
  std::uint32_t stored_len;  // captured bytes (also of a packet kept by reference)
  std::int32_t link_type;
  std::uint8_t naddr;
  std::uint8_t ipv6_mask;  // bit i: address i is IPv6 (else IPv4)
  std::uint8_t address_slots;
  std::uint8_t flags;
};
static_assert(sizeof(EntryHeader) == 24);
constexpr std::uint8_t kByReference = 1;    // EntryHeader::flags: bytes in the file, not here
constexpr std::uint8_t kFourByteSlots = 2;  // EntryHeader::flags: IPv4 addresses of 4 bytes

// The bytes of one address slot of `h`.
constexpr std::size_t slot_bytes(std::uint8_t flags) {
  return (flags & kFourByteSlots) != 0 ? 4 : 16;
}

constexpr std::size_t align8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

// An entry holding its bytes: its memory, and what any entry of this packet takes of the budget.
constexpr std::size_t entry_size(std::size_t address_slots, std::size_t stored_len) {
  return align8(sizeof(EntryHeader) + 16 * address_slots + stored_len);
}
// An entry kept by reference: its memory.
constexpr std::size_t reference_size(std::size_t address_slots, std::uint8_t flags) {
  return align8(sizeof(EntryHeader) + slot_bytes(flags) * address_slots + sizeof(std::int64_t));
}
std::size_t stored_size(const EntryHeader& h) {
  return (h.flags & kByReference) != 0 ? reference_size(h.address_slots, h.flags)
                                       : entry_size(h.address_slots, h.stored_len);
}

void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by) {
  counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

// Writes up to h.address_slots of `addresses` at `slots` (an entry's address slots, of
// slot_bytes(h.flags) each) and notes them in `h` (naddr, ipv6_mask).
void put_addresses(EntryHeader& h, std::uint8_t* slots, std::span<const net::IpAddress> addresses) {
  const std::size_t naddr = std::min<std::size_t>(addresses.size(), h.address_slots);
  const std::size_t size = slot_bytes(h.flags);
  for (std::size_t i = 0; i < naddr; ++i) {
    std::memcpy(slots + size * i, addresses[i].bytes.data(), size);
    if (addresses[i].family == 6) h.ipv6_mask |= static_cast<std::uint8_t>(1u << i);
  }
  h.naddr = static_cast<std::uint8_t>(naddr);
}

bool same_address(const std::uint8_t* stored, bool ipv6, const net::IpAddress& a) {
  if (a.family != (ipv6 ? 6 : 4)) return false;
  // Constant sizes, so the compiler compares inline instead of calling memcmp per packet.
  return ipv6 ? std::memcmp(stored, a.bytes.data(), 16) == 0
              : std::memcmp(stored, a.bytes.data(), 4) == 0;
}

// Whether a stored address is in the network `network`/`prefix`.
bool in_network(const std::uint8_t* stored, bool ipv6, const net::IpAddress& network,
                std::uint8_t prefix) {
  return network.family == (ipv6 ? 6 : 4) && prefix <= (ipv6 ? 128 : 32) &&
         net::in_prefix(stored, network, prefix);
}

// Whether a stored address is what `query` asks for: its host, or an address of its network.
bool matches_host(const std::uint8_t* stored, bool ipv6, const RecorderQuery& query) {
  return query.prefix != 0 ? in_network(stored, ipv6, query.host, query.prefix)
                           : same_address(stored, ipv6, query.host);
}

constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kSmallPage = 4096;

// A segment's bytes: their own mapping, committed when made. On a paravirtualised guest (this
// project's test VM: pvm_irq_enable under exc_page_fault in perf) the first user write to each
// 4 KiB page costs microseconds even after MAP_POPULATE, as the hypervisor maps it on first use:
// filling a 128 MiB ring once cost its writer ~0.3 s, more than copying every packet of a 1 M
// packet replay. So the recorder's preparer thread makes the first lap's segments ahead of the
// writer (`ahead`): transparent huge pages when the size allows (2 MiB mapped at once; first use
// measured ~8x cheaper here), every page touched, so the writer's first write costs what a later
// one does. Populating huge pages may stall for the kernel to compact memory (see
// flow/huge_page_array.h): the preparer may wait for that, the capture thread never does. A
// segment the writer makes itself (the preparer behind) has small pages, populated by mmap. A
// recorder keeping packets by reference writes a few dozen bytes per packet: its segments are
// mapped lazily (kLazy), so only the pages its entries reach are ever committed. So is every
// recorder's first segment (see the constructor).
enum class Making { kPopulated, kAhead, kLazy };

struct SegmentBytes {
  SegmentBytes(std::size_t size, Making how) : size(size) {
    const bool ahead = how == Making::kAhead;
    if (!ahead || size % kHugePage != 0) {
      const int populate = how == Making::kLazy ? 0 : MAP_POPULATE;
      void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | populate, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      bytes = static_cast<std::uint8_t*>(p);
      // Small pages as the entries reach them: with transparent huge pages on ("always"), the
      // first entry would commit (and zero) 2 MiB at once.
      if (how == Making::kLazy) ::madvise(bytes, size, MADV_NOHUGEPAGE);
    } else {
      // Map 2 MiB more and keep the aligned middle: a huge page needs a 2 MiB-aligned address.
      const std::size_t mapped = size + kHugePage;
      void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      const auto start = reinterpret_cast<std::uintptr_t>(p);
      const auto aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
      if (aligned > start) ::munmap(p, aligned - start);
      if (const std::size_t tail = start + mapped - (aligned + size); tail > 0) {
        ::munmap(reinterpret_cast<void*>(aligned + size), tail);
      }
      bytes = reinterpret_cast<std::uint8_t*>(aligned);
      // Advice only: without transparent huge pages the segment gets small pages. Populating
      // needs Linux 5.14; before, the touches below fault the pages in.
      ::madvise(bytes, size, MADV_HUGEPAGE);
      ::madvise(bytes, size, MADV_POPULATE_WRITE);
    }
    if (ahead) {
      // The pages are zero already: writing zero changes nothing but the first-use cost.
      for (std::size_t at = 0; at < size; at += kSmallPage) {
        reinterpret_cast<volatile std::uint8_t*>(bytes)[at] = 0;
      }
    }
  }
  ~SegmentBytes() { ::munmap(bytes, size); }
  SegmentBytes(const SegmentBytes&) = delete;
  SegmentBytes& operator=(const SegmentBytes&) = delete;
  [[nodiscard]] std::uint8_t* get() const { return bytes; }
  std::uint8_t* bytes = nullptr;
  std::size_t size = 0;
};

}  // namespace

struct PacketRecorder::Segment {
  Segment(std::size_t size, Making how) : data(size, how), capacity(size) {}
  SegmentBytes data;
  std::size_t capacity;
  std::uint64_t sequence = 0;  // the writer's count of segments before this one
  std::size_t written = 0;     // writer's: bytes of entries written
  // Writer's: the budget the entries take, what their copies would (capacity bounds it). Equal to
  // `written` unless packets are kept by reference.
  std::size_t accounted = 0;
  // The pages entries have reached in this segment's mapping (never lowered: reuse keeps them),
  // for stats(): what a lazily mapped segment holds in memory.
  std::atomic<std::size_t> touched{0};
  // Bytes of committed entries: stored by the flow thread with release after each entry, read
  // with acquire by readers, who only ever look below it.
  std::atomic<std::size_t> committed{0};
  std::atomic<std::int64_t> first_ns{INT64_MAX};
  std::atomic<std::int64_t> last_ns{INT64_MIN};
  std::atomic<std::uint64_t> packets{0};  // committed with addresses

  void reset(std::uint64_t seq) {
    sequence = seq;
    written = 0;
    accounted = 0;
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
  // Two segments at least: the writer fills one while the flow thread still reads the other.
  if (options_.segment_bytes > options_.memory_bytes / 2) {
    throw core::Error("packet recorder: the memory budget (" +
                      std::to_string(options_.memory_bytes >> 10) +
                      " KiB) is smaller than two segments");
  }
  if (options_.max_age_ns < 0) throw core::Error("packet recorder: negative age limit");
  max_segments_ = options_.memory_bytes / options_.segment_bytes;
  // The first segment is mapped lazily: a replay keeps its packets by reference (read_back_from(),
  // entries of a few dozen bytes), and committing the whole of it here cost ~17 ms of every
  // monitor's start on the test VM; a live capture's later segments are made ahead.
  current_ = std::make_shared<Segment>(options_.segment_bytes, Making::kLazy);
  current_->reset(next_sequence_++);
  segments_.push_back(current_);
  preparer_ = std::jthread([this](std::stop_token stop) { prepare_loop(stop); });
}

PacketRecorder::~PacketRecorder() = default;

std::shared_ptr<PacketRecorder::Segment> PacketRecorder::new_segment() {
  // Under mutex_ (or in the constructor).
  std::shared_ptr<Segment> s;
  if (!pool_.empty()) {
    s = std::move(pool_.back());
    pool_.pop_back();
  } else if (!ready_.empty()) {
    s = std::move(ready_.front());
    ready_.erase(ready_.begin());
  } else {
    // The preparer is behind (or the ring is just made): small pages, which never wait for
    // memory compaction.
    s = std::make_shared<Segment>(options_.segment_bytes,
                                  read_back_ ? Making::kLazy : Making::kPopulated);
  }
  s->reset(next_sequence_++);
  return s;
}

bool PacketRecorder::preparing_wanted() const {
  // Under mutex_. Segments ahead only once traffic has filled half the first one (a quiet sensor
  // holds one segment), and never more than the budget allows in all.
  const std::size_t ahead = ready_.size() + preparing_;
  return prepare_ahead_ && ahead < kReadyAhead &&
         segments_.size() + pool_.size() + ahead < max_segments_;
}

void PacketRecorder::prepare_loop(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  while (prepare_cv_.wait(lock, stop, [this] { return preparing_wanted(); })) {
    // Counted before it exists, so the writer's own segments and this one stay within the
    // budget; made without the lock, so readers and the writer never wait for it.
    preparing_ = 1;
    lock.unlock();
    std::shared_ptr<Segment> segment;
    try {
      segment = std::make_shared<Segment>(options_.segment_bytes, Making::kAhead);
    } catch (const std::bad_alloc&) {
      // Out of memory: the writer makes its segments itself (and meets the same error there).
    }
    lock.lock();
    preparing_ = 0;
    if (!segment) return;
    ready_.push_back(std::move(segment));
  }
}

bool PacketRecorder::front_released() const {
  return segments_.size() > 1 &&
         segments_.front()->sequence < released_below_.load(std::memory_order_acquire);
}

void PacketRecorder::evict_locked(std::int64_t now_ns) {
  auto too_old = [&](const Segment& s) {
    return options_.max_age_ns > 0 && s.last_ns.load(std::memory_order_relaxed) != INT64_MIN &&
           s.last_ns.load(std::memory_order_relaxed) < now_ns - options_.max_age_ns;
  };
  // The current segment (the last) never goes, nor one the flow thread may still read.
  while (front_released() && (segments_.size() > max_segments_ || too_old(*segments_.front()))) {
    std::shared_ptr<Segment> old = std::move(segments_.front());
    segments_.erase(segments_.begin());
    evicted_packets_ += old->packets.load(std::memory_order_relaxed);
    // Reuse it unless a reader still holds it (readers copy their pointers under mutex_, so the
    // count cannot rise behind our back).
    if (old.use_count() == 1 && pool_.size() < kPoolSegments) pool_.push_back(std::move(old));
  }
}

void PacketRecorder::read_back_from(std::shared_ptr<const PacketReadBack> read_back) {
  if (!enabled() || !read_back) return;
  std::lock_guard lock(mutex_);
  if (next_sequence_ != 1 || current_->written != 0) {
    throw core::Error("packet recorder: the read-back is set after packets were written");
  }
  read_back_ = std::move(read_back);
  // The ring's first segment is mapped lazily already; nothing asks the preparer for segments
  // ahead.
  asked_ahead_ = true;
}

bool PacketRecorder::has_room(std::size_t length) {
  if (!enabled()) return true;
  const std::size_t need = entry_size(2, length);
  if (need > options_.segment_bytes) return true;
  if (current_->accounted + need <= current_->capacity) return true;
  return segments_.size() < max_segments_ || front_released();
}

std::pair<PacketRecorder::Segment*, std::size_t> PacketRecorder::place(std::int64_t ts_ns,
                                                                       std::size_t budget,
                                                                       std::size_t stored) {
  if (budget > options_.segment_bytes) {
    too_large_.fetch_add(1, std::memory_order_relaxed);
    return {nullptr, 0};
  }
  newest_ns_ = std::max(newest_ns_, ts_ns);
  Segment* seg = current_.get();
  std::size_t at = seg->written;
  if (seg->accounted + budget > seg->capacity) {
    if (segments_.size() >= max_segments_ && !front_released()) {
      no_room_.fetch_add(1, std::memory_order_relaxed);
      return {nullptr, 0};
    }
    std::lock_guard lock(mutex_);
    current_ = new_segment();
    segments_.push_back(current_);
    evict_locked(newest_ns_);
    // Segments made ahead are committed whole: for entries kept by reference, which fill a
    // segment's budget with a few dozen bytes each, the writer's lazily mapped ones are cheaper.
    asked_ahead_ = true;
    if (!read_back_) {
      prepare_ahead_ = true;
      if (preparing_wanted()) prepare_cv_.notify_one();
    }
    seg = current_.get();
    at = 0;
  } else if (!asked_ahead_ && seg->accounted >= seg->capacity / 2) {
    // Traffic has filled half the first segment: the preparer starts (a quiet recorder never gets
    // here), early enough to have the next segment ready when this one is full.
    asked_ahead_ = true;
    std::lock_guard lock(mutex_);
    prepare_ahead_ = true;
    prepare_cv_.notify_one();
  } else if (options_.max_age_ns > 0 && segments_.size() > 1) {
    // Age eviction without a segment change: checked cheaply against the oldest segment's end.
    // Only this thread changes segments_.
    const Segment& front = *segments_.front();
    if (front.last_ns.load(std::memory_order_relaxed) < newest_ns_ - options_.max_age_ns &&
        front_released()) {
      std::lock_guard lock(mutex_);
      evict_locked(newest_ns_);
    }
  }
  seg->written = at + stored;
  if (seg->written > seg->touched.load(std::memory_order_relaxed)) {
    seg->touched.store((seg->written + kSmallPage - 1) & ~(kSmallPage - 1),
                       std::memory_order_relaxed);
  }
  seg->accounted += budget;
  if (seg->first_ns.load(std::memory_order_relaxed) == INT64_MAX) {
    seg->first_ns.store(ts_ns, std::memory_order_relaxed);
  }
  if (ts_ns > seg->last_ns.load(std::memory_order_relaxed)) {
    seg->last_ns.store(ts_ns, std::memory_order_relaxed);
  }
  return {seg, at};
}

PacketRecorder::Pending PacketRecorder::write(std::int64_t ts_ns, std::uint32_t wire_len,
                                              int link_type, std::span<const std::uint8_t> bytes,
                                              std::size_t address_slots) {
  if (!enabled()) return {};
  address_slots = std::min(address_slots, kMaxAddresses);
  const std::size_t need = entry_size(address_slots, bytes.size());
  const auto [seg, at] = place(ts_ns, need, need);
  if (seg == nullptr) return {};
  std::uint8_t* p = seg->data.get() + at;
  EntryHeader h{};
  h.ts_ns = ts_ns;
  h.wire_len = wire_len;
  h.stored_len = static_cast<std::uint32_t>(bytes.size());
  h.link_type = link_type;
  h.address_slots = static_cast<std::uint8_t>(address_slots);
  std::memcpy(p, &h, sizeof h);
  std::uint8_t* data = p + sizeof h + 16 * address_slots;
  if (!bytes.empty()) std::memcpy(data, bytes.data(), bytes.size());
  return Pending{seg, at, {data, bytes.size()}};
}

void PacketRecorder::commit(const Pending& packet, std::span<const net::IpAddress> addresses) {
  if (!packet) return;
  Segment* seg = packet.segment;
  std::uint8_t* p = seg->data.get() + packet.at;
  EntryHeader h;
  std::memcpy(&h, p, sizeof h);
  put_addresses(h, p + sizeof h, addresses);
  std::memcpy(p, &h, sizeof h);
  published(*seg, h.naddr, h.stored_len, packet.at + stored_size(h));
}

void PacketRecorder::published(Segment& seg, std::size_t naddr, std::uint32_t captured,
                               std::size_t end) {
  if (naddr > 0) {
    // Only this thread changes these counters: plain stores, no locked read-modify-write.
    bump(seg.packets, 1);
    bump(packets_, 1);
    bump(bytes_, captured);
  }
  seg.committed.store(end, std::memory_order_release);
}

void PacketRecorder::release(const Pending& packet) {
  // Every packet of the segments before this one's is released.
  if (packet) released_below_.store(packet.segment->sequence, std::memory_order_release);
}

void PacketRecorder::record(std::int64_t ts_ns, std::uint32_t wire_len, int link_type,
                            std::span<const std::uint8_t> bytes,
                            std::span<const net::IpAddress> addresses) {
  const Pending packet =
      write(ts_ns, wire_len, link_type, bytes, std::min(addresses.size(), kMaxAddresses));
  commit(packet, addresses);
  release(packet);
}

void PacketRecorder::record_reference(std::int64_t ts_ns, std::uint32_t wire_len, int link_type,
                                      std::uint32_t cap_len, std::int64_t file_offset,
                                      std::span<const net::IpAddress> addresses) {
  if (!enabled() || !read_back_) return;
  const std::size_t slots = std::min(addresses.size(), kMaxAddresses);
  std::uint8_t flags = kByReference;
  if (std::all_of(addresses.begin(), addresses.begin() + static_cast<std::ptrdiff_t>(slots),
                  [](const net::IpAddress& a) { return a.family != 6; })) {
    flags |= kFourByteSlots;
  }
  // The budget is what a copy would take, whatever the entry's own size.
  const std::size_t size = reference_size(slots, flags);
  const auto [seg, at] = place(ts_ns, entry_size(slots, cap_len), size);
  if (seg == nullptr) return;
  std::uint8_t* p = seg->data.get() + at;
  // The line a few entries ahead, in a ring larger than the caches: PREFETCHW took an entry
  // from 31 to ~20 ns (bench_recorder's BM_RecordReference).
  core::prefetch_for_write(p + 512);
  // Written field by field straight into the ring, each store of a size the compiler knows. An
  // entry built on the stack and copied (its length varies with the slots: `rep movsq`), or read
  // back from the stack in wider loads than it was stored with (a failed store forward each),
  // cost about as much as the flow meter's whole accounting of the packet (bench_recorder's
  // BM_RecordReference: 45 ns a packet, 31 ns this way).
  const bool four = (flags & kFourByteSlots) != 0;
  std::uint8_t ipv6_mask = 0;
  std::uint8_t* at_slot = p + sizeof(EntryHeader);
  for (std::size_t i = 0; i < slots; ++i) {
    if (four) {
      std::memcpy(at_slot, addresses[i].bytes.data(), 4);
      at_slot += 4;
    } else {
      std::memcpy(at_slot, addresses[i].bytes.data(), 16);
      at_slot += 16;
      if (addresses[i].family == 6) ipv6_mask |= static_cast<std::uint8_t>(1u << i);
    }
  }
  std::memcpy(at_slot, &file_offset, sizeof file_offset);
  static_assert(offsetof(EntryHeader, naddr) == 20 && offsetof(EntryHeader, flags) == 23);
  const std::int32_t link = link_type;
  const auto n = static_cast<std::uint8_t>(slots);
  const std::uint8_t tail[4] = {n, ipv6_mask, n, flags};  // naddr, ipv6_mask, address_slots, flags
  std::memcpy(p + offsetof(EntryHeader, ts_ns), &ts_ns, 8);
  std::memcpy(p + offsetof(EntryHeader, wire_len), &wire_len, 4);
  std::memcpy(p + offsetof(EntryHeader, stored_len), &cap_len, 4);
  std::memcpy(p + offsetof(EntryHeader, link_type), &link, 4);
  std::memcpy(p + offsetof(EntryHeader, naddr), tail, 4);
  published(*seg, slots, cap_len, at + size);
  released_below_.store(seg->sequence, std::memory_order_release);
}

// A query's reader of packets kept by reference: a window of the file read in one call, so the
// packets of a dense match (a flood, a transfer) cost a copy each rather than a system call each.
class PacketRecorder::WindowLoader final : public RecordedPacket::Loader {
 public:
  explicit WindowLoader(const PacketRecorder& recorder) : recorder_(recorder) {}
  std::span<const std::uint8_t> load(const RecordedPacket& p) const override {
    const auto bytes =
        recorder_.read_back_->read(p.file_offset, p.ts_ns, p.wire_len, p.cap_len, window_);
    if (bytes.size() != p.cap_len) {
      recorder_.unreadable_.fetch_add(1, std::memory_order_relaxed);
      return {};
    }
    return bytes;
  }

 private:
  const PacketRecorder& recorder_;
  mutable ReadBackWindow window_;
};

template <class Match>
void PacketRecorder::scan(std::int64_t from_ns, std::int64_t to_ns, Match&& match) const {
  if (!enabled() || to_ns < from_ns) return;
  std::vector<std::pair<std::shared_ptr<Segment>, std::size_t>> snapshot;
  {
    std::lock_guard lock(mutex_);
    ++queries_;
    snapshot.reserve(segments_.size());
    for (const auto& s : segments_) {
      snapshot.emplace_back(s, s->committed.load(std::memory_order_acquire));
    }
  }
  const WindowLoader loader(*this);
  // Each segment is let go as soon as it has been looked at (oldest first, as the writer evicts
  // them), so a long query holds back few of the segments the writer wants to reuse.
  struct LetGo {
    const PacketRecorder& recorder;
    std::shared_ptr<Segment>& segment;
    ~LetGo() { recorder.let_go(segment); }
  };
  bool going = true;
  for (auto& [seg, end] : snapshot) {
    const LetGo let_go{*this, seg};
    if (!going) continue;
    // Timestamps may go backwards a little (a replay's), so a segment's range is only a hint
    // when it is clearly outside the query.
    if (seg->first_ns.load(std::memory_order_relaxed) > to_ns &&
        seg->last_ns.load(std::memory_order_relaxed) > to_ns) {
      continue;
    }
    if (seg->last_ns.load(std::memory_order_relaxed) < from_ns) continue;
    const std::uint8_t* base = seg->data.get();
    std::size_t at = 0;
    while (at < end) {
      EntryHeader h;
      std::memcpy(&h, base + at, sizeof h);
      const std::uint8_t* addrs = base + at + sizeof h;
      const std::uint8_t* bytes = addrs + slot_bytes(h.flags) * std::size_t{h.address_slots};
      at += stored_size(h);
      if (h.ts_ns < from_ns || h.ts_ns > to_ns) continue;
      if ((h.flags & kByReference) != 0) {
        std::int64_t offset = 0;
        std::memcpy(&offset, bytes, sizeof offset);
        const RecordedPacket packet(h.ts_ns, h.wire_len, h.link_type, h.stored_len, offset, loader);
        going = match(h, addrs, packet);
      } else {
        const RecordedPacket packet(h.ts_ns, h.wire_len, h.link_type, {bytes, h.stored_len});
        going = match(h, addrs, packet);
      }
      if (!going) break;
    }
  }
}

std::size_t PacketRecorder::for_each(
    const RecorderQuery& query, const std::function<bool(const RecordedPacket&)>& visit) const {
  std::size_t visited = 0;
  scan(query.from_ns, query.to_ns,
       [&](const EntryHeader& h, const std::uint8_t* addrs, const RecordedPacket& packet) {
         bool host = false;
         bool peer = !query.peer.has_value();
         const std::size_t size = slot_bytes(h.flags);
         for (std::size_t i = 0; i < h.naddr; ++i) {
           const bool v6 = (h.ipv6_mask >> i) & 1u;
           host = host || matches_host(addrs + size * i, v6, query);
           if (!peer) peer = same_address(addrs + size * i, v6, *query.peer);
         }
         if (!host || !peer) return true;
         ++visited;
         return visit(packet);
       });
  return visited;
}

std::size_t PacketRecorder::for_each_of(
    std::span<const RecorderQuery> queries,
    const std::function<bool(std::size_t, const RecordedPacket&)>& visit) const {
  if (queries.empty()) return 0;
  if (queries.size() == 1) {
    return for_each(queries[0], [&](const RecordedPacket& p) { return visit(0, p); });
  }
  // The queries by their host's address: a packet is matched by looking up its few addresses,
  // whatever the number of queries.
  struct Key {
    std::array<std::uint8_t, 16> bytes{};
    bool v6 = false;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept {
      std::uint64_t a = 0, b = 0;
      std::memcpy(&a, k.bytes.data(), 8);
      std::memcpy(&b, k.bytes.data() + 8, 8);
      const std::uint64_t x =
          (a ^ (b * 0x9E3779B97F4A7C15ull) ^ (k.v6 ? 0xA5A5ull : 0)) * 0xBF58476D1CE4E5B9ull;
      return static_cast<std::size_t>(x ^ (x >> 31));
    }
  };
  auto key_of = [](const std::uint8_t* stored, bool v6) {
    Key k;
    k.v6 = v6;
    std::memcpy(k.bytes.data(), stored, v6 ? 16 : 4);
    return k;
  };
  std::unordered_map<Key, std::vector<std::size_t>, KeyHash> by_host;
  // Queries for a network's packets (few: one per network or block alert), tried on each packet.
  std::vector<std::size_t> by_network;
  std::int64_t from_ns = INT64_MAX, to_ns = INT64_MIN;
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const RecorderQuery& q = queries[i];
    if (q.to_ns < q.from_ns || (q.host.family != 4 && q.host.family != 6)) continue;
    if (q.prefix != 0) {
      by_network.push_back(i);
    } else {
      by_host[key_of(q.host.bytes.data(), q.host.family == 6)].push_back(i);
    }
    from_ns = std::min(from_ns, q.from_ns);
    to_ns = std::max(to_ns, q.to_ns);
  }
  std::vector<bool> stopped(queries.size(), false);
  std::size_t open = queries.size();
  std::size_t visited = 0;
  // The packet's visit for query q, when its peer (if any) is among the packet's addresses: false
  // once every query is done.
  const auto offer = [&](const EntryHeader& h, const std::uint8_t* addrs, std::size_t size,
                         const RecordedPacket& packet, std::size_t q) {
    const RecorderQuery& query = queries[q];
    if (stopped[q] || packet.ts_ns < query.from_ns || packet.ts_ns > query.to_ns) return true;
    bool peer = !query.peer.has_value();
    for (std::size_t j = 0; j < h.naddr && !peer; ++j) {
      peer = same_address(addrs + size * j, (h.ipv6_mask >> j) & 1u, *query.peer);
    }
    if (!peer) return true;
    ++visited;
    if (!visit(q, packet)) {
      stopped[q] = true;
      if (--open == 0) return false;
    }
    return true;
  };
  scan(from_ns, to_ns,
       [&](const EntryHeader& h, const std::uint8_t* addrs, const RecordedPacket& packet) {
         const std::size_t size = slot_bytes(h.flags);
         for (const std::size_t q : by_network) {
           bool in = false;
           for (std::size_t i = 0; i < h.naddr && !in; ++i) {
             in = matches_host(addrs + size * i, (h.ipv6_mask >> i) & 1u, queries[q]);
           }
           if (in && !offer(h, addrs, size, packet, q)) return false;
         }
         for (std::size_t i = 0; i < h.naddr; ++i) {
           const bool v6 = (h.ipv6_mask >> i) & 1u;
           // An address the packet holds twice (a tunnel's) matches its queries once.
           bool seen = false;
           for (std::size_t j = 0; j < i && !seen; ++j) {
             seen = ((h.ipv6_mask >> j) & 1u) == v6 &&
                    std::memcmp(addrs + size * j, addrs + size * i, v6 ? 16 : 4) == 0;
           }
           if (seen) continue;
           const auto it = by_host.find(key_of(addrs + size * i, v6));
           if (it == by_host.end()) continue;
           for (const std::size_t q : it->second) {
             if (!offer(h, addrs, size, packet, q)) return false;
           }
         }
         return true;
       });
  return visited;
}

void PacketRecorder::let_go(std::shared_ptr<Segment>& segment) const {
  std::lock_guard lock(mutex_);
  // Its last holder (nothing else can take it: it is in none of the lists): a segment that left
  // the ring while this reader held it goes to the pool, as an unheld one would have.
  if (segment.use_count() == 1 && pool_.size() < kPoolSegments) pool_.push_back(std::move(segment));
  segment.reset();  // under the lock, so another reader's count above is exact
}

RecorderStats PacketRecorder::stats() const {
  RecorderStats s;
  s.packets = packets_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  s.evicted_packets = evicted_packets_;
  s.too_large = too_large_.load(std::memory_order_relaxed);
  s.no_room = no_room_.load(std::memory_order_relaxed);
  s.unreadable = unreadable_.load(std::memory_order_relaxed);
  s.queries = queries_;
  if (read_back_) {
    // Lazily mapped segments (packets kept by reference): the pages their entries reached.
    for (const auto& seg : segments_)
      s.memory_bytes += seg->touched.load(std::memory_order_relaxed);
    for (const auto& seg : pool_) s.memory_bytes += seg->touched.load(std::memory_order_relaxed);
  } else {
    s.memory_bytes = (segments_.size() + pool_.size() + ready_.size()) * options_.segment_bytes;
  }
  for (const auto& seg : segments_) {
    if (seg->packets.load(std::memory_order_relaxed) == 0) continue;
    const auto first = seg->first_ns.load(std::memory_order_relaxed);
    if (s.oldest_ns == 0 || first < s.oldest_ns) s.oldest_ns = first;
    s.newest_ns = std::max(s.newest_ns, seg->last_ns.load(std::memory_order_relaxed));
  }
  return s;
}

}  // namespace netsentry::capture
