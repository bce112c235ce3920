// Fragment reassembly with fixed pools: datagram slots, fragment records, 512-byte data chunks and
// source counters, all sized in the constructor; lookups through chained hash buckets.
#include "net/fragment_reassembler.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "net/decoder.h"
#include "net/flow_key.h"

namespace netsentry::net {
namespace {

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  return detail::mum(h ^ v, 0x9E3779B97F4A7C15ULL);
}

std::uint64_t address_hash(std::uint64_t h, const std::array<std::uint8_t, 16>& a) {
  std::uint64_t w[2];
  std::memcpy(w, a.data(), sizeof(w));
  return mix(mix(h, w[0]), w[1]);
}

std::uint64_t datagram_hash(const Packet& p) {
  std::uint64_t h = address_hash(0x243F6A8885A308D3ULL, p.src.bytes);
  h = address_hash(h, p.dst.bytes);
  return mix(h, static_cast<std::uint64_t>(p.frag_id) << 24 | std::uint64_t{p.ip_proto} << 16 |
                    std::uint64_t{p.src.family} << 8 | p.tunnel_depth);
}

std::uint64_t source_hash(const IpAddress& a) {
  return mix(address_hash(0x13198A2E03707344ULL, a.bytes), a.family);
}

std::size_t pow2_at_least(std::size_t n) { return std::bit_ceil(std::max<std::size_t>(n, 16)); }

}  // namespace

FragmentReassembler::FragmentReassembler(const ReassemblyConfig& config) : config_(config) {
  config_.max_datagrams = std::max<std::size_t>(config_.max_datagrams, 1);
  config_.max_fragments = std::max<std::size_t>(config_.max_fragments, 1);
  config_.max_fragments_per_datagram = std::clamp<std::size_t>(
      config_.max_fragments_per_datagram, 1, std::min<std::size_t>(config_.max_fragments, 256));
  config_.max_bytes = std::max<std::size_t>(config_.max_bytes, kChunkBytes);
  config_.max_per_source = std::max<std::size_t>(config_.max_per_source, 1);

  datagrams_.resize(config_.max_datagrams);
  free_datagrams_.reserve(config_.max_datagrams);
  for (std::size_t i = config_.max_datagrams; i-- > 0;) {
    free_datagrams_.push_back(static_cast<std::uint32_t>(i));
  }
  buckets_.assign(pow2_at_least(config_.max_datagrams * 2), kNil);
  bucket_mask_ = buckets_.size() - 1;

  fragments_.resize(config_.max_fragments);
  for (std::size_t i = 0; i < fragments_.size(); ++i) {
    fragments_[i].next = i + 1 < fragments_.size() ? static_cast<std::uint32_t>(i + 1) : kNil;
  }
  free_fragment_ = 0;

  const std::size_t chunks = config_.max_bytes / kChunkBytes;
  // Not value-initialised: pages are committed only as chunks are first used.
  chunk_bytes_.reset(new std::uint8_t[chunks * kChunkBytes]);
  chunk_next_.resize(chunks);
  for (std::size_t i = 0; i < chunks; ++i) {
    chunk_next_[i] = i + 1 < chunks ? static_cast<std::uint32_t>(i + 1) : kNil;
  }
  free_chunk_ = 0;
  free_chunks_ = chunks;

  sources_.resize(config_.max_datagrams);
  free_sources_.reserve(config_.max_datagrams);
  for (std::size_t i = config_.max_datagrams; i-- > 0;) {
    free_sources_.push_back(static_cast<std::uint32_t>(i));
  }
  source_buckets_.assign(buckets_.size(), kNil);

  scratch_.reset(new std::uint8_t[kMaxDatagramBytes]);
  order_.reserve(config_.max_fragments_per_datagram);
}

FragmentReassembler::~FragmentReassembler() = default;

std::uint32_t FragmentReassembler::find(const Packet& p, std::uint64_t hash) const {
  for (std::uint32_t d = buckets_[hash & bucket_mask_]; d != kNil; d = datagrams_[d].hash_next) {
    const Datagram& g = datagrams_[d];
    if (g.hash == hash && g.id == p.frag_id && g.proto == p.ip_proto && g.family == p.src.family &&
        g.depth == p.tunnel_depth && g.src == p.src.bytes && g.dst == p.dst.bytes) {
      return d;
    }
  }
  return kNil;
}

std::uint32_t FragmentReassembler::source_of(const Packet& p) {
  const std::uint64_t hash = source_hash(p.src);
  std::uint32_t& head = source_buckets_[hash & bucket_mask_];
  for (std::uint32_t s = head; s != kNil; s = sources_[s].hash_next) {
    if (sources_[s].hash == hash && sources_[s].family == p.src.family &&
        sources_[s].addr == p.src.bytes) {
      return s;
    }
  }
  // Sources never outnumber datagrams in progress, so a slot is always free here.
  const std::uint32_t s = free_sources_.back();
  free_sources_.pop_back();
  Source& src = sources_[s];
  src.addr = p.src.bytes;
  src.family = p.src.family;
  src.count = 0;
  src.hash = hash;
  src.hash_next = head;
  head = s;
  return s;
}

void FragmentReassembler::source_release(std::uint32_t s) {
  Source& src = sources_[s];
  if (--src.count > 0) return;
  std::uint32_t* link = &source_buckets_[src.hash & bucket_mask_];
  while (*link != s) link = &sources_[*link].hash_next;
  *link = src.hash_next;
  free_sources_.push_back(s);
}

void FragmentReassembler::unlink_age(std::uint32_t d) {
  Datagram& g = datagrams_[d];
  if (g.older != kNil) {
    datagrams_[g.older].newer = g.newer;
  } else {
    oldest_ = g.newer;
  }
  if (g.newer != kNil) {
    datagrams_[g.newer].older = g.older;
  } else {
    newest_ = g.older;
  }
  g.older = g.newer = kNil;
}

void FragmentReassembler::release(std::uint32_t d) {
  Datagram& g = datagrams_[d];
  for (std::uint32_t f = g.first_fragment; f != kNil;) {
    Fragment& frag = fragments_[f];
    for (std::uint32_t c = frag.first_chunk; c != kNil;) {
      const std::uint32_t next = chunk_next_[c];
      chunk_next_[c] = free_chunk_;
      free_chunk_ = c;
      ++free_chunks_;
      c = next;
    }
    const std::uint32_t next = frag.next;
    frag.next = free_fragment_;
    free_fragment_ = f;
    --fragments_in_use_;
    f = next;
  }
  bytes_held_ -= g.bytes;
  std::uint32_t* link = &buckets_[g.hash & bucket_mask_];
  while (*link != d) link = &datagrams_[*link].hash_next;
  *link = g.hash_next;
  unlink_age(d);
  source_release(g.source);
  g.in_use = false;
  g.first_fragment = g.last_fragment = kNil;
  free_datagrams_.push_back(d);
  --datagrams_in_use_;
}

void FragmentReassembler::emit_fragment(const Datagram& dg, const Fragment& f,
                                        const Packet& flow_packet, FragmentSink& sink) const {
  // The fragment as a packet of the datagram's flow: the flow's addresses and ports, this wire
  // packet's own lengths and time, its share of the L4 payload (the L4 header only on offset 0).
  Packet p = flow_packet;
  p.ts_ns = f.ts_ns;
  p.wire_len = f.wire_len;
  p.cap_len = f.cap_len;
  p.ip_total_len = f.ip_total_len;
  p.ip_header_len = static_cast<std::uint16_t>(
      f.ip_total_len >= f.length ? std::min<std::uint32_t>(f.ip_total_len - f.length, 0xFFFF)
                                 : dg.head.ip_header_len);
  p.fragment = true;
  p.first_fragment = f.offset == 0;
  p.more_fragments = f.more;
  p.frag_id = dg.id;
  p.frag_offset = f.offset;
  p.encap = Encap::kNone;
  p.payload = {};
  p.ip_bytes = {};
  const std::uint32_t header = flow_packet.l4_header_len;
  if (f.offset == 0) {
    p.payload_len = f.length > header ? f.length - header : 0;
  } else {
    p.payload_len = f.length;
    p.tcp_flags = 0;
    p.l4_header_len = 0;
    // The sequence number of this fragment's first data byte, so TCP state sees one segment cut
    // in pieces, not retransmissions.
    if (p.ip_proto == 6 && f.offset >= header)
      p.tcp_seq = flow_packet.tcp_seq + (f.offset - header);
  }
  sink.on_fragment(p);
}

void FragmentReassembler::give_up(std::uint32_t d, std::uint64_t& reason, FragmentSink& sink) {
  Datagram& g = datagrams_[d];
  ++reason;
  ++stats_.incomplete;
  // Without the datagram's L4 header (first fragment missing), its fragments carry no ports.
  Packet flow_packet = g.head;
  const Packet parent = g.parent;
  flow_packet.outer = g.has_parent ? &parent : nullptr;
  if (!g.have_first) {
    flow_packet.has_l4 = false;
    flow_packet.src_port = flow_packet.dst_port = 0;
    flow_packet.tcp_flags = 0;
    flow_packet.l4_header_len = 0;
    flow_packet.icmp_type = flow_packet.icmp_code = 0;
  }
  for (std::uint32_t f = g.first_fragment; f != kNil; f = fragments_[f].next) {
    emit_fragment(g, fragments_[f], flow_packet, sink);
  }
  release(d);
}

bool FragmentReassembler::reserve_chunks(std::size_t count, std::uint32_t keep,
                                         FragmentSink& sink) {
  while (free_chunks_ < count) {
    std::uint32_t victim = oldest_;
    if (victim == keep) victim = datagrams_[victim].newer;
    if (victim == kNil) return false;
    give_up(victim, stats_.evicted, sink);
  }
  return true;
}

std::uint32_t FragmentReassembler::store(std::span<const std::uint8_t> data) {
  std::uint32_t first = kNil;
  std::uint32_t* link = &first;
  for (std::size_t off = 0; off < data.size(); off += kChunkBytes) {
    const std::uint32_t c = free_chunk_;
    free_chunk_ = chunk_next_[c];
    --free_chunks_;
    const std::size_t n = std::min(kChunkBytes, data.size() - off);
    std::memcpy(&chunk_bytes_[std::size_t{c} * kChunkBytes], data.data() + off, n);
    chunk_next_[c] = kNil;
    *link = c;
    link = &chunk_next_[c];
  }
  return first;
}

std::uint32_t FragmentReassembler::create(const Packet& p, std::uint64_t hash, FragmentSink& sink) {
  if (free_datagrams_.empty()) give_up(oldest_, stats_.evicted, sink);
  // A source with too many datagrams in progress loses its oldest one.
  const std::uint32_t s = source_of(p);
  if (sources_[s].count >= config_.max_per_source) {
    for (std::uint32_t d = oldest_; d != kNil; d = datagrams_[d].newer) {
      if (datagrams_[d].source == s) {
        give_up(d, stats_.evicted_per_source, sink);
        break;
      }
    }
  }
  ++sources_[s].count;
  const std::uint32_t d = free_datagrams_.back();
  free_datagrams_.pop_back();
  Datagram& g = datagrams_[d];
  g.src = p.src.bytes;
  g.dst = p.dst.bytes;
  g.id = p.frag_id;
  g.family = p.src.family;
  g.proto = p.ip_proto;
  g.depth = p.tunnel_depth;
  g.in_use = true;
  g.have_first = false;
  g.have_last = false;
  g.total = 0;
  g.declared_sum = 0;
  g.first_fragment = g.last_fragment = kNil;
  g.fragments = 0;
  g.bytes = 0;
  g.source = s;
  g.hash = hash;
  g.hash_next = buckets_[hash & bucket_mask_];
  buckets_[hash & bucket_mask_] = d;
  g.first_ts = p.ts_ns;
  g.older = newest_;
  g.newer = kNil;
  if (newest_ != kNil) {
    datagrams_[newest_].newer = d;
  } else {
    oldest_ = d;
  }
  newest_ = d;
  ++datagrams_in_use_;
  stats_.peak_datagrams = std::max(stats_.peak_datagrams, datagrams_in_use_);
  return d;
}

void FragmentReassembler::advance(std::int64_t now_ns, FragmentSink& sink) {
  now_ = std::max(now_, now_ns);
  const std::int64_t timeout = config_.timeout.count();
  while (oldest_ != kNil && now_ - datagrams_[oldest_].first_ts > timeout) {
    give_up(oldest_, stats_.timed_out, sink);
  }
}

void FragmentReassembler::flush(FragmentSink& sink) {
  while (oldest_ != kNil) give_up(oldest_, stats_.flushed, sink);
}

void FragmentReassembler::add(const Packet& p, FragmentSink& sink) {
  ++stats_.fragments;
  advance(p.ts_ns, sink);

  // The fragment's data: what follows its IP headers (for a later IPv6 fragment, the fragment
  // header is the last of them).
  const std::uint32_t length =
      p.ip_total_len > p.ip_header_len ? p.ip_total_len - p.ip_header_len : 0;
  std::span<const std::uint8_t> data;
  if (p.ip_bytes.size() > p.ip_header_len) data = p.ip_bytes.subspan(p.ip_header_len);
  if (data.size() > length) data = data.first(length);

  const std::uint64_t hash = datagram_hash(p);
  std::uint32_t d = find(p, hash);
  if (std::size_t{p.frag_offset} + length > kMaxDatagramBytes - p.ip_header_len) {
    // No datagram can hold it: count the fragment in its flow as it is.
    ++stats_.oversized;
    Packet alone = p;
    alone.payload = {};
    alone.ip_bytes = {};
    alone.encap = Encap::kNone;
    sink.on_fragment(alone);
    return;
  }
  if (d != kNil && datagrams_[d].fragments >= config_.max_fragments_per_datagram) {
    ++stats_.too_many_fragments;
    give_up(d, stats_.evicted, sink);
    d = kNil;
  }
  if (d == kNil) d = create(p, hash, sink);
  if (fragments_in_use_ == config_.max_fragments) {
    std::uint32_t victim = oldest_ == d ? datagrams_[oldest_].newer : oldest_;
    if (victim == kNil) {
      // This datagram alone holds every fragment record.
      give_up(d, stats_.evicted, sink);
      d = create(p, hash, sink);
    } else {
      give_up(victim, stats_.evicted, sink);
    }
  }
  const std::size_t chunks = (data.size() + kChunkBytes - 1) / kChunkBytes;
  if (!reserve_chunks(chunks, d, sink)) {
    // The datagram in progress holds the whole byte budget: give it up, then make room again.
    give_up(d, stats_.evicted, sink);
    d = create(p, hash, sink);
    if (!reserve_chunks(chunks, d, sink)) data = {};
  }
  const std::size_t used_chunks = (data.size() + kChunkBytes - 1) / kChunkBytes;

  Datagram& g = datagrams_[d];
  // Count an overlap with any fragment already held (retransmitted fragments included).
  const std::uint32_t begin = p.frag_offset;
  const std::uint32_t end = p.frag_offset + length;
  for (std::uint32_t f = g.first_fragment; f != kNil; f = fragments_[f].next) {
    const Fragment& o = fragments_[f];
    if (begin < o.offset + o.length && o.offset < end) {
      ++stats_.overlaps;
      break;
    }
  }
  const std::uint32_t id = free_fragment_;
  Fragment& frag = fragments_[id];
  free_fragment_ = frag.next;
  ++fragments_in_use_;
  frag.ts_ns = p.ts_ns;
  frag.wire_len = p.wire_len;
  frag.cap_len = p.cap_len;
  frag.ip_total_len = p.ip_total_len;
  frag.offset = begin;
  frag.length = length;
  frag.captured = static_cast<std::uint32_t>(data.size());
  frag.more = p.more_fragments;
  frag.first_chunk = store(data);
  frag.next = kNil;
  if (g.last_fragment != kNil) {
    fragments_[g.last_fragment].next = id;
  } else {
    g.first_fragment = id;
  }
  g.last_fragment = id;
  ++g.fragments;
  g.bytes += static_cast<std::uint32_t>(used_chunks * kChunkBytes);
  bytes_held_ += used_chunks * kChunkBytes;
  stats_.peak_bytes = std::max(stats_.peak_bytes, bytes_held_);
  g.declared_sum += length;

  if (begin == 0 || g.fragments == 1) {
    if (begin == 0) g.have_first = true;
    g.head = p;
    g.head.payload = {};
    g.head.ip_bytes = {};
    g.head.encap = Encap::kNone;
    g.head.outer = nullptr;
  }
  if (g.fragments == 1) {
    g.has_parent = p.outer != nullptr;
    if (g.has_parent) {
      g.parent = *p.outer;
      g.parent.payload = {};
      g.parent.ip_bytes = {};
      g.parent.outer = nullptr;
    }
  }
  if (!p.more_fragments) {
    g.have_last = true;
    g.total = end;
  }
  if (!g.have_first || !g.have_last || g.declared_sum < g.total) return;

  // Coverage of [0, total) by the declared fragment ranges.
  order_.clear();
  for (std::uint32_t f = g.first_fragment; f != kNil; f = fragments_[f].next) order_.push_back(f);
  std::sort(order_.begin(), order_.end(), [this](std::uint32_t a, std::uint32_t b) {
    return fragments_[a].offset < fragments_[b].offset;
  });
  std::uint32_t covered = 0;
  for (const std::uint32_t f : order_) {
    if (fragments_[f].offset > covered) return;  // a hole: wait for more
    covered = std::max(covered, fragments_[f].offset + fragments_[f].length);
  }
  if (covered < g.total) return;
  complete(d, sink);
}

void FragmentReassembler::complete(std::uint32_t d, FragmentSink& sink) {
  Datagram& g = datagrams_[d];
  // Write fragments newest first so the bytes that arrived first win where fragments overlap.
  // The reassembled view ends at the first byte no fragment captured (order_ is sorted by offset).
  std::uint32_t captured = 0;
  for (const std::uint32_t f : order_) {
    const Fragment& frag = fragments_[f];
    if (frag.offset > captured) break;
    captured = std::max(captured, frag.offset + frag.captured);
  }
  captured = std::min(captured, g.total);
  std::uint32_t arrival[256];
  std::uint32_t n = 0;
  for (std::uint32_t f = g.first_fragment; f != kNil && n < 256; f = fragments_[f].next) {
    arrival[n++] = f;
  }
  while (n-- > 0) {
    const Fragment& frag = fragments_[arrival[n]];
    std::uint32_t off = 0;
    for (std::uint32_t c = frag.first_chunk; c != kNil && off < frag.captured; c = chunk_next_[c]) {
      const std::uint32_t len = std::min<std::uint32_t>(kChunkBytes, frag.captured - off);
      const std::uint32_t at = frag.offset + off;
      if (at < captured) {
        std::memcpy(&scratch_[at], &chunk_bytes_[std::size_t{c} * kChunkBytes],
                    std::min(len, captured - at));
      }
      off += len;
    }
  }

  Packet datagram;
  const DecodeError error =
      decode_reassembled(g.head, {scratch_.get(), captured}, g.total, datagram, scratch_stats_);
  const Packet parent = g.parent;
  datagram.outer = g.has_parent ? &parent : nullptr;
  if (error != DecodeError::kNone) ++stats_.malformed;
  ++stats_.reassembled;
  stats_.reassembled_fragments += g.fragments;
  std::uint32_t wire = 0;
  std::int64_t last_ts = g.head.ts_ns;
  for (std::uint32_t f = g.first_fragment; f != kNil; f = fragments_[f].next) {
    emit_fragment(g, fragments_[f], datagram, sink);
    wire += fragments_[f].wire_len;
    last_ts = std::max(last_ts, fragments_[f].ts_ns);
  }
  datagram.wire_len = wire;
  datagram.ts_ns = last_ts;
  release(d);
  sink.on_datagram(datagram);
}

}  // namespace netsentry::net
