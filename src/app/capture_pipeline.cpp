#include "app/capture_pipeline.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <utility>

#include "capture/idle_backoff.h"
#include "core/error.h"
#include "detect/alert_format.h"
#include "net/decoder.h"

namespace netsentry::app {
namespace {

constexpr std::size_t kBatchSize = 256;
constexpr std::size_t kBatchEvents = 4096;
constexpr std::size_t kQueueBatches = 256;
// A replay's flow thread waits for the stage instead of dropping, so a few batches in flight keep
// both busy; 256 full ones were ~50 MB of fresh memory, a tenth of a 1 M packet replay's CPU in
// page faults on this project's VMs.
constexpr std::size_t kReplayQueueBatches = 8;
// Batches waiting for the file thread: enough to ride out a slow write, and no second deep queue
// of records (a disk that stalls makes the stage wait, as when the stage wrote the file itself).
constexpr std::size_t kFileQueueBatches = 16;
constexpr std::size_t kSpareBatches = 4;
// A replay hands the stage its batches in parcels: a batch per packet-time second (a tick) held a
// few flows of a lab capture, and each hand-over woke the stage and then the file thread: ~2,000
// wake-ups each for a 32-minute capture, and both cores idle a fifth of the replay while the
// threads waited on each other. A parcel goes when it holds kParcelRows rows (finished flows,
// progress reports, 16 flow events each) or kParcelBatches batches, and when the flow thread
// runs out of packets with a parcel kParcelAge old (a slow replay still hands over promptly).
// The stage processes the batches one by one, in order, as before.
constexpr std::size_t kParcelRows = 256;
constexpr std::size_t kParcelBatches = 32;
constexpr auto kParcelAge = std::chrono::milliseconds(5);
constexpr std::size_t kReplaySpareBatches = 2 * kParcelBatches + 8;
// Packets between the capture and flow threads. A live capture's ring rides out bursts while the
// flow thread is busy (64 Ki packets, 20 MiB of slot bytes). A replay waits for room instead of
// dropping, so a deep ring only adds memory to fault in on its first lap (a page fault per 4 KiB,
// ~0.05 s of the capture thread for the 20 MiB) and a working set larger than the cache.
constexpr std::size_t kLiveRingPackets = std::size_t{1} << 16;
constexpr std::size_t kReplayRingPackets = std::size_t{1} << 13;

std::int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Private, loopback, link-local and unique-local sources count as "sent" in the capture series:
// a capture has no notion of "this host", and these are the addresses a site owns.
bool is_local_address(const net::IpAddress& ip) {
  const auto& b = ip.bytes;
  if (ip.family == 4) {
    return b[0] == 10 || b[0] == 127 || (b[0] == 172 && (b[1] & 0xF0) == 16) ||
           (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254) ||
           (b[0] == 100 && (b[1] & 0xC0) == 64);
  }
  if (ip.family == 6) {
    bool loopback = b[15] == 1;
    for (int i = 0; i < 15 && loopback; ++i) loopback = b[i] == 0;
    return loopback || (b[0] & 0xFE) == 0xFC || (b[0] == 0xFE && (b[1] & 0xC0) == 0x80);
  }
  return false;
}

constexpr std::int64_t kSecondNs = 1'000'000'000;

}  // namespace

void CapturePipeline::BatchingSink::on_flow(flow::FlowRecord&& record) {
  batch_.flows.push_back(std::move(record));
  if (batch_.flows.size() >= kBatchSize) flush_batch();
}

void CapturePipeline::BatchingSink::on_flow_event(const flow::FlowEvent& event) {
  batch_.events.push_back(event);
  if (batch_.events.size() >= kBatchEvents) flush_batch();
}

void CapturePipeline::BatchingSink::on_flow_progress(flow::FlowRecord&& record) {
  batch_.progress.push_back(std::move(record));
  if (batch_.progress.size() >= kBatchSize) flush_batch();
}

void CapturePipeline::BatchingSink::on_flood_summary(const flow::FloodSummary& s) {
  // The flow thread logs a flood's start and its end, once each (a pulsing flood: at most about
  // two lines a second per destination).
  const bool tcp = s.ip_proto == 6;
  const bool udp = s.ip_proto == 17;
  const auto target = [&] {
    const std::string vlan = s.vlan != 0 ? fmt::format(" (VLAN {})", s.vlan) : std::string();
    if (tcp && s.strays && s.prefix == 0) return fmt::format("{}/tcp{}", s.dst.to_string(), vlan);
    if (s.prefix != 0) {
      return fmt::format("every host of {}/{} ({}){}", s.dst.to_string(), s.prefix,
                         tcp   ? "tcp"
                         : udp ? "udp"
                               : "icmp",
                         vlan);
    }
    if ((tcp || udp) && s.all_ports) {
      return fmt::format("every port of {}/{}{}", s.dst.to_string(), tcp ? "tcp" : "udp", vlan);
    }
    if (tcp || udp) {
      return fmt::format("{}/{}{}", detect::format_endpoint(s.dst, s.dst_port), tcp ? "tcp" : "udp",
                         vlan);
    }
    return fmt::format("{}{}", s.dst.to_string(), vlan);
  };
  const std::string_view attempts = s.strays ? "packets"
                                    : tcp    ? "SYNs"
                                    : udp    ? "datagrams"
                                             : "echo requests";
  if (s.started) {
    spdlog::warn(
        "flow meter: {} is flooded with {}; its further {} and its replies to them are counted in "
        "a flood summary, not as one flow each (--flood-summary-rate)",
        target(),
        s.strays ? "TCP packets outside any connection (an ACK flood)"
        : tcp    ? "TCP connection attempts that do not complete"
        : udp    ? "UDP datagrams from new flows that go unanswered"
                 : "echo requests from new sources",
        attempts);
  }
  if (s.ended) {
    spdlog::info("flow meter: the flood of {} is over: {} {} and {} replies{} summarised", target(),
                 s.total_attempts, attempts, s.total_replies, tcp ? " and resets" : "");
  }
  batch_.floods.push_back(s);
}

void CapturePipeline::BatchingSink::on_sighting(const net::Sighting& sighting) {
  batch_.sightings.push_back(sighting);
  if (batch_.sightings.size() >= kBatchEvents) flush_batch();
}

void CapturePipeline::BatchingSink::flush_batch(std::int64_t now_ns) {
  if (batch_.flows.empty() && batch_.events.empty() && batch_.progress.empty() &&
      batch_.floods.empty() && batch_.sightings.empty() && now_ns == 0) {
    return;
  }
  Batch b = std::move(batch_);
  b.ongoing = ongoing_;
  b.now_ns = now_ns;
  if (!ongoing_) b.seconds = std::exchange(owner_.finished_seconds_, {});
  owner_.flow_events_.fetch_add(b.events.size(), std::memory_order_relaxed);
  owner_.progress_reports_.fetch_add(b.progress.size(), std::memory_order_relaxed);
  owner_.sightings_.fetch_add(b.sightings.size(), std::memory_order_relaxed);
  // Blocking push: a finished flow is never dropped; if the stage falls behind, the flow thread
  // waits and the capture ring (which never blocks a live capture) absorbs or counts the excess.
  owner_.hand_over(std::move(b));
  batch_ = owner_.take_spare();
  batch_.flows.reserve(kBatchSize);
}

void CapturePipeline::Batch::clear() {
  flows.clear();
  ongoing = false;
  events.clear();
  progress.clear();
  floods.clear();
  sightings.clear();
  now_ns = 0;
  seconds.clear();
}

void CapturePipeline::hand_over(Batch&& batch) {
  if (!options_.lossless) {
    batches_.push(std::move(batch));
    return;
  }
  if (parcel_.empty()) parcel_since_ = std::chrono::steady_clock::now();
  parcel_rows_ += batch.flows.size() + batch.progress.size() + batch.events.size() / 16 + 1;
  parcel_.push_back(std::move(batch));
  if (parcel_rows_ >= kParcelRows || parcel_.size() >= kParcelBatches) send_parcel();
}

void CapturePipeline::send_parcel() {
  if (parcel_.empty()) return;
  batches_.push_all(parcel_);
  parcel_.clear();
  parcel_rows_ = 0;
}

CapturePipeline::Batch CapturePipeline::take_spare() {
  std::lock_guard lock(spare_mutex_);
  if (spare_.empty()) return Batch{};
  Batch b = std::move(spare_.back());
  spare_.pop_back();
  return b;
}

void CapturePipeline::give_back(Batch&& batch) {
  batch.clear();
  std::lock_guard lock(spare_mutex_);
  if (spare_.size() < (options_.lossless ? kReplaySpareBatches : kSpareBatches)) {
    spare_.push_back(std::move(batch));
  }
}

CapturePipeline::CapturePipeline(std::unique_ptr<capture::PacketSource> source,
                                 const flow::FlowConfig& config, const std::string& flows_path,
                                 PipelineOptions options, PipelineHooks hooks)
    : source_(std::move(source)),
      options_(options),
      hooks_(std::move(hooks)),
      ring_(options.lossless ? kReplayRingPackets : kLiveRingPackets,
            with_read_back(options.recorder, *source_)),
      batching_(*this, false),
      ongoing_(*this, true),
      meter_(config, options.meter, batching_),
      batches_(options.lossless ? kReplayQueueBatches : kQueueBatches),
      to_file_(kFileQueueBatches),
      writer_(flows_path, FlowFormat::kCsv, /*append=*/true) {
  writer_.keep_going();  // a full disk is reported (flows_health()), not the end of monitoring
  if (hooks_.events || hooks_.progress) meter_.table().set_observer(&batching_);
}

capture::PacketRecorder* CapturePipeline::with_read_back(capture::PacketRecorder* recorder,
                                                         const capture::PacketSource& source) {
  // A file our own reader reads: the recorder keeps each packet's place in it, not a copy of its
  // bytes (a replay of a large capture copied every byte once more only to keep it in memory).
  if (recorder != nullptr && recorder->enabled()) recorder->read_back_from(source.read_back());
  return recorder;
}

CapturePipeline::~CapturePipeline() { stop(); }

void CapturePipeline::start() {
  file_thread_ = std::jthread([this] { file_loop(); });
  writer_thread_ = std::jthread([this] { writer_loop(); });
  flow_thread_ = std::jthread([this](std::stop_token st) { flow_loop(st); });
  capture_thread_ = std::jthread([this](std::stop_token st) { capture_loop(st); });
}

void CapturePipeline::capture_loop(std::stop_token stop) {
  capture::RawPacket raw;
  std::uint64_t n = 0;
  std::int64_t first_ts = 0;
  auto first_wall = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    const auto status = source_->next(raw);
    if (status == capture::ReadStatus::kPacket) {
      if (options_.speed > 0) {
        // Replay in packet time: packet t is due speed-times faster than it was captured.
        if (n == 0) {
          first_ts = raw.ts_ns;
          first_wall = std::chrono::steady_clock::now();
        }
        const auto due =
            first_wall + std::chrono::nanoseconds(static_cast<std::int64_t>(
                             static_cast<double>(raw.ts_ns - first_ts) / options_.speed));
        while (!stop.stop_requested() && std::chrono::steady_clock::now() < due) {
          std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
              due - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
        }
      }
      if (options_.lossless) {
        // A full ring waits until the flow thread has taken half of it (a few ms of its work),
        // then refills it in one go: waking every 50 us to push the few packets taken meanwhile
        // cost a replay's capture thread ~a fifth of its CPU in sleeps and wake-ups.
        if (ring_.size() >= ring_.capacity()) {
          while (ring_.size() > ring_.capacity() / 2 && !stop.stop_requested()) {
            std::this_thread::sleep_for(std::chrono::microseconds(250));
          }
        }
        while (!ring_.has_room(raw.bytes.size()) && !stop.stop_requested()) {
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
      }
      ring_.try_push(raw);
      // A plain store on x86: the dashboard's packet count stays live between stats snapshots.
      captured_.store(n + 1, std::memory_order_relaxed);
      if ((++n & 0x3FF) == 0) {
        std::lock_guard lock(stats_mutex_);
        capture_snapshot_ = source_->stats();
      }
    } else if (status == capture::ReadStatus::kEnd) {
      if (!source_->error().empty() && !stop.stop_requested()) {
        spdlog::warn("{}", source_->error());
        input_error_ = source_->error();
      }
      break;
    } else {
      // A read timeout on a quiet link: refresh the counters the dashboard shows.
      std::lock_guard lock(stats_mutex_);
      capture_snapshot_ = source_->stats();
    }
  }
  std::lock_guard lock(stats_mutex_);
  capture_snapshot_ = source_->stats();
  input_ended_.store(true, std::memory_order_release);
}

void CapturePipeline::count_second(const net::Packet& packet) {
  const std::int64_t sec = packet.ts_ns >= 0 ? packet.ts_ns / kSecondNs : -1;
  if (sec != second_.second) {
    if (second_.second != INT64_MIN && sec < second_.second)
      return;  // out of order: keep the later
    close_second(finished_seconds_);
    second_ = SecondCounter{};
    second_.second = sec;
  }
  const bool sent = is_local_address(packet.src);
  (sent ? second_.bytes_sent : second_.bytes_recv) += packet.wire_len;
  (sent ? second_.packets_sent : second_.packets_recv) += 1;
}

void CapturePipeline::close_second(std::vector<host::TrafficSample>& out) {
  if (second_.second == INT64_MIN) return;
  host::TrafficSample s;
  s.timestamp = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(second_.second)));
  s.interval_seconds = 1.0;
  s.total.name = "capture";
  s.total.bytes_sent = second_.bytes_sent;
  s.total.bytes_recv = second_.bytes_recv;
  s.total.packets_sent = second_.packets_sent;
  s.total.packets_recv = second_.packets_recv;
  s.interfaces.push_back(s.total);
  // A bounded backlog: the stage takes them with the next batch at least once a second.
  if (out.size() < 4096) out.push_back(std::move(s));
  second_.second = INT64_MIN;
}

void CapturePipeline::tick(std::int64_t now_ns) {
  // Interim reports of long-lived flows, then the finished flows and the packet-time tick.
  if (options_.ongoing_after_s > 0 && last_tick_ns_ != 0) {
    const auto every = static_cast<std::int64_t>(options_.ongoing_after_s * 1e9);
    ongoing_reported_.fetch_add(
        meter_.table().report_ongoing(last_tick_ns_, now_ns, every, every, ongoing_),
        std::memory_order_relaxed);
    ongoing_.flush_batch();
  }
  last_tick_ns_ = now_ns;
  batching_.flush_batch(now_ns);
}

void CapturePipeline::flow_loop(std::stop_token stop) {
  constexpr std::size_t kBatch = 64;
  auto last_wall_tick = std::chrono::steady_clock::now();
  std::int64_t last_packet_ns = 0;
  capture::PacketRecorder* recorder =
      options_.recorder != nullptr && options_.recorder->enabled() ? options_.recorder : nullptr;
  // An empty ring waits 1 ms, then longer while the link stays quiet (at most 8 ms): a fixed 1 ms
  // kept an idle monitor waking a thousand times a second.
  capture::IdleBackoff backoff;
  for (;;) {
    // Meter up to kBatch packets straight from the ring slots (the meter decodes them, holds
    // fragments and opens tunnels, and gives the flow table its packets in batches); the slots
    // are released afterwards.
    std::size_t taken = 0;
    while (taken < kBatch) {
      const auto* slot = ring_.peek(taken);
      if (!slot) break;
      ring_.prefetch(taken + 4);
      // Packet-time seconds drive the ticks, so a replay closes windows at the same packets: the
      // packets of the finished second reach the table before the tick.
      const std::int64_t sec = slot->ts_ns / kSecondNs;
      if (sec > last_tick_second_) {
        if (last_tick_second_ != INT64_MIN) {
          meter_.sync();
          if (options_.capture_series) close_second(finished_seconds_);
          tick(sec * kSecondNs);
        }
        last_tick_second_ = sec;
      }
      const auto frame = capture::PacketRing::frame(*slot);
      const net::Packet& packet = meter_.add_frame(slot->link, frame, slot->wire_len, slot->ts_ns);
      if (options_.capture_series) count_second(packet);
      // Evidence: the capture thread put the whole packet in the recorder (a replayed file's
      // packet: its place in the file is recorded here); it is found later by the addresses of
      // its outermost IP header (a packet without any is never found).
      if (recorder != nullptr) {
        const net::IpAddress pair[2] = {packet.src, packet.dst};
        const std::span<const net::IpAddress> addresses(pair, packet.src.family != 0 ? 2 : 0);
        if (slot->recorded) {
          recorder->commit(slot->recorded, addresses);
        } else if (slot->file_offset >= 0 && recorder->by_reference()) {
          recorder->record_reference(slot->ts_ns, slot->wire_len, static_cast<int>(slot->link),
                                     slot->cap_len, slot->file_offset, addresses);
        }
      }
      if (hooks_.sightings && net::sight(slot->link, frame, packet, sighting_)) {
        batching_.on_sighting(sighting_);
      }
      last_packet_ns = std::max(last_packet_ns, slot->ts_ns);
      ++taken;
    }
    if (taken) {
      meter_.sync();
      ring_.pop(taken);
      backoff.busy();
    } else {
      // Stop only once the capture thread is done and the ring is empty: nothing accepted is lost.
      if (stop.stop_requested() && input_ended()) break;
      // Nothing to read: a replay's parcel waiting that long goes to the stage now.
      if (!parcel_.empty() && std::chrono::steady_clock::now() - parcel_since_ >= kParcelAge) {
        send_parcel();
      }
      std::this_thread::sleep_for(backoff.idle());
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_wall_tick >= std::chrono::seconds(1)) {
      last_wall_tick = now;
      // Live traffic: packet time follows the wall clock, so quiet flows still time out and
      // windows still close when nothing arrives.
      if (!input_ended() && !taken && options_.speed <= 0 && !options_.lossless) {
        const std::int64_t t = std::max(last_packet_ns, wall_ns());
        meter_.advance(t);
        tick(t);
      } else if (!options_.lossless) {
        batching_.flush_batch();
      }
      snapshot();
    }
  }
  meter_.flush();
  if (options_.capture_series) close_second(finished_seconds_);
  batching_.flush_batch(last_packet_ns == 0 ? 1 : last_packet_ns);
  send_parcel();
  snapshot();
  batches_.close();
}

void CapturePipeline::snapshot() {
  std::lock_guard lock(stats_mutex_);
  decode_snapshot_ = meter_.decode_stats();
  flow_snapshot_ = meter_.table().stats();
  tunnel_snapshot_ = meter_.tunnel_stats();
  reassembly_snapshot_ = meter_.reassembly_stats();
}

void CapturePipeline::writer_loop() {
  // Every batch waiting is taken at once (a replay's parcel), and a replay's batches bound for
  // the file thread go to it together: a wake-up per hand-over, not per batch.
  std::vector<Batch> taken;
  std::vector<Batch> for_file;
  while (batches_.pop_all(taken)) {
    for (Batch& batch : taken) {
      if (hooks_.traffic) {
        for (const auto& s : batch.seconds) hooks_.traffic(s);
      }
      if (hooks_.sightings && !batch.sightings.empty()) hooks_.sightings(batch.sightings);
      if (hooks_.events && !batch.events.empty()) hooks_.events(batch.events);
      if (hooks_.progress && !batch.progress.empty()) hooks_.progress(batch.progress);
      if (hooks_.floods && !batch.floods.empty()) hooks_.floods(batch.floods);
      if (hooks_.flows && !batch.flows.empty()) hooks_.flows(batch.flows, batch.ongoing);
      if (hooks_.advance && batch.now_ns != 0) hooks_.advance(batch.now_ns);
      // flows.csv is the file thread's: the stage goes on with the next batch meanwhile. Live,
      // each batch goes at once (the file queue's bound holds: a stalled disk makes the stage
      // wait); a replay's go together after its parcel.
      if (!batch.ongoing && !batch.flows.empty()) {
        if (options_.lossless) {
          for_file.push_back(std::move(batch));
        } else {
          to_file_.push(std::move(batch));
        }
      } else {
        give_back(std::move(batch));
      }
    }
    taken.clear();
    to_file_.push_all(for_file);
    for_file.clear();
  }
  to_file_.close();
}

void CapturePipeline::file_loop() {
  auto last_flush = std::chrono::steady_clock::now();
  const auto flush = [this] {
    try {
      writer_.flush();
      write_errors_ = 0;
    } catch (const core::Error& e) {
      if (write_errors_++ == 0) spdlog::error("{}", e.what());
    }
  };
  std::vector<Batch> more;
  for (;;) {
    // Wakes at least once a second, so rows written are on disk within about a second.
    auto batch = to_file_.pop_for(std::chrono::seconds(1));
    if (batch) {
      // The rest of what waits comes along (the stage hands over several batches at once).
      more.clear();
      more.push_back(std::move(*batch));
      to_file_.drain(more, SIZE_MAX);
      for (Batch& b : more) {
        try {
          for (auto& record : b.flows) writer_.on_flow(std::move(record));
          written_.fetch_add(b.flows.size(), std::memory_order_relaxed);
        } catch (const core::Error& e) {
          // Disk full or unwritable: say so (once per failure streak) and keep detecting.
          if (write_errors_++ == 0)
            spdlog::error("{} (flows.csv loses records; monitoring goes on)", e.what());
        }
        give_back(std::move(b));
      }
    } else if (to_file_.done()) {
      break;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_flush >= std::chrono::seconds(1)) {
      last_flush = now;
      flush();
    }
  }
  flush();
}

void CapturePipeline::stop() {
  if (stopped_ || !capture_thread_.joinable()) return;
  stopped_ = true;
  capture_thread_.request_stop();
  source_->break_loop();
  capture_thread_.join();
  flow_thread_.request_stop();
  flow_thread_.join();
  writer_thread_.join();
  file_thread_.join();
}

std::string CapturePipeline::input_error() const {
  return input_ended() ? input_error_ : std::string();
}

PipelineStats CapturePipeline::stats() const {
  PipelineStats s;
  {
    std::lock_guard lock(stats_mutex_);
    s.capture = capture_snapshot_;
    s.decode = decode_snapshot_;
    s.flows = flow_snapshot_;
    s.tunnels = tunnel_snapshot_;
    s.reassembly = reassembly_snapshot_;
  }
  s.capture.received =
      std::max<std::uint64_t>(s.capture.received, captured_.load(std::memory_order_relaxed));
  s.capture.queue_dropped = ring_.dropped();
  s.ring_depth = ring_.size();
  s.queue_depth = batches_.size();
  s.queue_dropped = batches_.dropped();
  s.flows_written = written_.load(std::memory_order_relaxed);
  s.ongoing_reported = ongoing_reported_.load(std::memory_order_relaxed);
  s.flow_events = flow_events_.load(std::memory_order_relaxed);
  s.progress_reports = progress_reports_.load(std::memory_order_relaxed);
  if (options_.recorder != nullptr && options_.recorder->enabled()) {
    s.recorder = options_.recorder->stats();
  }
  s.sightings = sightings_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace netsentry::app
