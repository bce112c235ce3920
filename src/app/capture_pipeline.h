// Provides CapturePipeline, the packet side of `monitor`: a capture thread (reads packets, nothing
// else) → PacketRing (drops counted, never blocks capture) → flow thread (decode, flow table) →
// bounded batch queue → writer thread (flows.csv). Stopping drains every stage in order, so every
// packet that entered the ring ends up in a written flow.
// Thread rules: construct, start, stop and stats from the owning (main) thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "app/commands.h"
#include "app/flow_output.h"
#include "capture/packet_ring.h"
#include "capture/packet_source.h"
#include "core/bounded_queue.h"
#include "flow/flow_table.h"
#include "net/packet.h"

namespace netsentry::app {

struct PipelineStats {
  capture::CaptureStats capture;
  net::DecodeStats decode;
  flow::FlowStats flows;
  std::size_t ring_depth = 0;
  std::size_t queue_depth = 0;
  std::uint64_t queue_dropped = 0;
  std::uint64_t flows_written = 0;
};

class CapturePipeline final {
 public:
  // `lossless`: the capture thread waits for room in the ring instead of dropping (for capture
  // files, which can be read faster than flows are built; a live interface must never wait).
  CapturePipeline(std::unique_ptr<capture::PacketSource> source, const flow::FlowConfig& config,
                  const std::string& flows_path, bool lossless = false);
  ~CapturePipeline();
  CapturePipeline(const CapturePipeline&) = delete;
  CapturePipeline& operator=(const CapturePipeline&) = delete;

  void start();
  // Wakes the capture thread from any thread (signal handler thread).
  void break_capture() { source_->break_loop(); }
  // Stops capture, drains the ring into the flow table, ends every flow, writes and flushes.
  void stop();
  // True once a file source reached its end (live sources never end by themselves).
  [[nodiscard]] bool input_ended() const { return input_ended_.load(std::memory_order_acquire); }
  [[nodiscard]] PipelineStats stats() const;
  [[nodiscard]] const std::string& description() const { return source_->description(); }

 private:
  using Batch = std::vector<flow::FlowRecord>;

  class BatchingSink final : public flow::FlowSink {
   public:
    explicit BatchingSink(CapturePipeline& owner) : owner_(owner) {}
    void on_flow(flow::FlowRecord&& record) override;
    void flush_batch();

   private:
    CapturePipeline& owner_;
    Batch batch_;
  };

  void capture_loop(std::stop_token stop);
  void flow_loop(std::stop_token stop);
  void writer_loop();

  std::unique_ptr<capture::PacketSource> source_;
  capture::PacketRing ring_;
  BatchingSink batching_;
  flow::FlowTable table_;
  core::BoundedQueue<Batch> batches_;
  FlowFileSink writer_;
  const bool lossless_;
  std::atomic<bool> input_ended_{false};

  mutable std::mutex stats_mutex_;  // guards the snapshots below (written by the flow thread)
  net::DecodeStats decode_snapshot_;
  flow::FlowStats flow_snapshot_;
  capture::CaptureStats capture_snapshot_;  // written by the capture thread
  std::atomic<std::uint64_t> written_{0};

  std::jthread writer_thread_;
  std::jthread flow_thread_;
  std::jthread capture_thread_;
  bool stopped_ = false;
};

}  // namespace netsentry::app
