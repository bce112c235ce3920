#include "app/capture_pipeline.h"

#include <spdlog/spdlog.h>

#include <array>
#include <chrono>

#include "net/decoder.h"

namespace netsentry::app {
namespace {

constexpr std::size_t kBatchSize = 256;
constexpr std::size_t kQueueBatches = 256;

std::int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void CapturePipeline::BatchingSink::on_flow(flow::FlowRecord&& record) {
  batch_.push_back(std::move(record));
  if (batch_.size() >= kBatchSize) flush_batch();
}

void CapturePipeline::BatchingSink::flush_batch() {
  if (batch_.empty()) return;
  // Blocking push: a finished flow is never dropped; if the writer falls behind, the flow thread
  // waits and the capture ring (which never blocks) absorbs or counts the excess.
  owner_.batches_.push(std::move(batch_));
  batch_ = Batch{};
  batch_.reserve(kBatchSize);
}

CapturePipeline::CapturePipeline(std::unique_ptr<capture::PacketSource> source,
                                 const flow::FlowConfig& config, const std::string& flows_path,
                                 bool lossless)
    : source_(std::move(source)),
      ring_(1 << 16),
      batching_(*this),
      table_(config, batching_),
      batches_(kQueueBatches),
      writer_(flows_path, FlowFormat::kCsv, /*append=*/true),
      lossless_(lossless) {}

CapturePipeline::~CapturePipeline() { stop(); }

void CapturePipeline::start() {
  writer_thread_ = std::jthread([this] { writer_loop(); });
  flow_thread_ = std::jthread([this](std::stop_token st) { flow_loop(st); });
  capture_thread_ = std::jthread([this](std::stop_token st) { capture_loop(st); });
}

void CapturePipeline::capture_loop(std::stop_token stop) {
  capture::RawPacket raw;
  std::uint64_t n = 0;
  while (!stop.stop_requested()) {
    const auto status = source_->next(raw);
    if (status == capture::ReadStatus::kPacket) {
      if (lossless_) {
        while (ring_.size() >= ring_.capacity() && !stop.stop_requested()) {
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
      }
      ring_.try_push(raw);
      if ((++n & 0x3FF) == 0) {
        std::lock_guard lock(stats_mutex_);
        capture_snapshot_ = source_->stats();
      }
    } else if (status == capture::ReadStatus::kEnd) {
      if (!source_->error().empty() && !stop.stop_requested()) spdlog::warn("{}", source_->error());
      break;
    }
  }
  std::lock_guard lock(stats_mutex_);
  capture_snapshot_ = source_->stats();
  input_ended_.store(true, std::memory_order_release);
}

void CapturePipeline::flow_loop(std::stop_token stop) {
  const net::LinkType link = source_->link_type();
  constexpr std::size_t kBatch = 64;
  std::array<net::Packet, kBatch> batch;
  net::DecodeStats decode;
  auto last_tick = std::chrono::steady_clock::now();
  std::int64_t last_packet_ns = 0;
  for (;;) {
    // Decode up to kBatch packets straight from the ring slots, then hand them to the flow table
    // in one call (it prefetches flow state ahead); the slots are released afterwards.
    std::size_t filled = 0;
    while (filled < kBatch) {
      const auto* slot = ring_.peek(filled);
      if (!slot) break;
      (void)net::decode(link, {slot->data, slot->stored_len}, slot->wire_len, slot->ts_ns,
                        batch[filled], decode);
      last_packet_ns = slot->ts_ns;
      ++filled;
    }
    if (filled) {
      table_.add_batch(std::span<const net::Packet>(batch.data(), filled));
      ring_.pop(filled);
    } else {
      // Stop only once the capture thread is done and the ring is empty: nothing accepted is lost.
      if (stop.stop_requested() && input_ended()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_tick >= std::chrono::seconds(1)) {
      last_tick = now;
      // Live traffic: packet time follows the wall clock, so quiet flows still time out.
      if (!input_ended() && !filled) table_.advance(std::max(last_packet_ns, wall_ns()));
      batching_.flush_batch();
      std::lock_guard lock(stats_mutex_);
      decode_snapshot_ = decode;
      flow_snapshot_ = table_.stats();
    }
  }
  table_.flush();
  batching_.flush_batch();
  {
    std::lock_guard lock(stats_mutex_);
    decode_snapshot_ = decode;
    flow_snapshot_ = table_.stats();
  }
  batches_.close();
}

void CapturePipeline::writer_loop() {
  auto last_flush = std::chrono::steady_clock::now();
  while (auto batch = batches_.pop()) {
    for (auto& record : *batch) writer_.on_flow(std::move(record));
    written_.fetch_add(batch->size(), std::memory_order_relaxed);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_flush >= std::chrono::seconds(1)) {
      last_flush = now;
      try {
        writer_.flush();
      } catch (const core::Error& e) {
        spdlog::error("{}", e.what());
      }
    }
  }
  try {
    writer_.flush();
  } catch (const core::Error& e) {
    spdlog::error("{}", e.what());
  }
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
}

PipelineStats CapturePipeline::stats() const {
  PipelineStats s;
  {
    std::lock_guard lock(stats_mutex_);
    s.capture = capture_snapshot_;
    s.decode = decode_snapshot_;
    s.flows = flow_snapshot_;
  }
  s.capture.queue_dropped = ring_.dropped();
  s.ring_depth = ring_.size();
  s.queue_depth = batches_.size();
  s.queue_dropped = batches_.dropped();
  s.flows_written = written_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace netsentry::app
