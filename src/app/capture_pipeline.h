// Provides CapturePipeline, the packet side of `monitor`: a capture thread (reads packets, nothing
// else; paces a replayed file in packet time) → PacketRing (drops counted, never blocks a live
// capture) → flow thread (decode, flow table and its observer's flow events and progress reports,
// per-second capture counters, interim reports of long-lived flows) → bounded batch queue → stage
// thread (the detection hooks) → file thread (flows.csv, so the stage never waits for the file).
// A batch carries the flow events, progress reports and finished flows of one stretch of packet
// time together, so the stage sees a flow's start before its end. A replay (lossless) keeps a
// short queue: its flow thread waits for the stage anyway, and a deep queue of full batches only
// made ~50 MB of fresh memory to fault in. A replay hands its batches over in parcels of several
// (one wake-up each for the stage and the file thread, not one per packet-time second).
// Stopping drains every stage in order, so every packet that entered the ring ends up in a
// written flow. Every packet-time second the flow thread hands the stage a tick, so detector
// windows close in packet time and a replay gives the same results every time.
// Thread rules: construct, start, stop and stats from the owning (main) thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "app/commands.h"
#include "app/flow_output.h"
#include "capture/packet_recorder.h"
#include "capture/packet_ring.h"
#include "capture/packet_source.h"
#include "core/bounded_queue.h"
#include "flow/flow_meter.h"
#include "flow/flow_observer.h"
#include "flow/flow_table.h"
#include "host/monitor.h"
#include "net/packet.h"
#include "net/sighting.h"

namespace netsentry::app {

struct PipelineStats {
  capture::CaptureStats capture;
  net::DecodeStats decode;
  flow::FlowStats flows;
  flow::TunnelStats tunnels;
  net::ReassemblyStats reassembly;
  std::size_t ring_depth = 0;
  std::size_t queue_depth = 0;
  std::uint64_t queue_dropped = 0;
  std::uint64_t flows_written = 0;
  std::uint64_t ongoing_reported = 0;
  std::uint64_t flow_events = 0;       // observer events handed to the stage
  std::uint64_t progress_reports = 0;  // observer progress reports handed to the stage
  capture::RecorderStats recorder;     // the packet recorder (all zero when it is off)
  std::uint64_t sightings = 0;         // bindings, DNS questions, failed logins handed to the stage
};

// What the stage thread calls (each may be empty), per batch in this order: traffic, sightings,
// events, progress, flows, advance.
struct PipelineHooks {
  // What packets say that flows do not keep (net/sighting.h): ARP and neighbour-discovery
  // bindings, DNS questions, servers' failed-login replies, in packet order. Setting it turns
  // the per-packet inspection on.
  std::function<void(std::span<const net::Sighting>)> sightings;
  // Flow events (first packet, first reply, the initiator's answer) as they happened. Setting
  // `events` or `progress` turns the flow table's observer on.
  std::function<void(std::span<const flow::FlowEvent>)> events;
  // Progress reports of open flows (after their first packets, at milestones, after a second).
  std::function<void(std::span<const flow::FlowRecord>)> progress;
  // Flooded destinations' summaries (flow/flood_guard.h): SYNs that started no flow. Needs the
  // observer (`events` or `progress`).
  std::function<void(std::span<const flow::FloodSummary>)> floods;
  // A batch of finished flows (ongoing = false) or interim reports of open ones (true), before
  // the finished ones are written to flows.csv.
  std::function<void(std::span<const flow::FlowRecord>, bool ongoing)> flows;
  // Packet time reached now_ns (about once per packet-time second, and at the end).
  std::function<void(std::int64_t now_ns)> advance;
  // The capture's own per-second counters (interface "capture"): bytes and packets whose source
  // is a private/local address count as sent, the rest as received. Only when capture_series.
  std::function<void(const host::TrafficSample&)> traffic;
};

struct PipelineOptions {
  // The capture thread waits for room in the ring instead of dropping (for capture files, which
  // can be read faster than flows are built; a live interface must never wait).
  bool lossless = false;
  // Replay pacing: 0 = as fast as possible, else packet time runs `speed` times the wall clock.
  double speed = 0;
  bool capture_series = false;
  // Interim reports of flows open longer than this, repeated every as long (0 = never).
  double ongoing_after_s = 60;
  // Tunnel decapsulation and fragment reassembly (flow::FlowMeter).
  flow::MeterConfig meter;
  // Keeps every IP packet (whole, as captured) for alert evidence, from the flow thread; null or
  // disabled = off. Borrowed: it must outlive the pipeline.
  capture::PacketRecorder* recorder = nullptr;
};

class CapturePipeline final {
 public:
  CapturePipeline(std::unique_ptr<capture::PacketSource> source, const flow::FlowConfig& config,
                  const std::string& flows_path, PipelineOptions options = {},
                  PipelineHooks hooks = {});
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
  // flows.csv's state (any thread): failing while the disk is full.
  [[nodiscard]] store::WriterHealth flows_health() const { return writer_.health(); }
  [[nodiscard]] const std::string& description() const { return source_->description(); }
  // Why a file source ended early (read error, damaged file), once input_ended(); empty when it
  // was read to its end.
  [[nodiscard]] std::string input_error() const;

 private:
  struct Batch {
    std::vector<flow::FlowRecord> flows;
    bool ongoing = false;
    std::vector<flow::FlowEvent> events;
    std::vector<flow::FlowRecord> progress;
    std::vector<flow::FloodSummary> floods;
    std::vector<net::Sighting> sightings;
    std::int64_t now_ns = 0;  // packet time when the batch left the flow thread (0 = unknown)
    std::vector<host::TrafficSample> seconds;  // finished capture-series seconds

    // Empties every part, keeping the vectors' capacity.
    void clear();
  };

  // Collects the flow table's output (finished flows, and as its observer events and progress
  // reports) into one batch, handed to the stage when full and at every tick.
  class BatchingSink final : public flow::FlowSink, public flow::FlowObserver {
   public:
    BatchingSink(CapturePipeline& owner, bool ongoing) : owner_(owner), ongoing_(ongoing) {}
    void on_flow(flow::FlowRecord&& record) override;
    void on_flow_event(const flow::FlowEvent& event) override;
    void on_flow_progress(flow::FlowRecord&& record) override;
    void on_flood_summary(const flow::FloodSummary& summary) override;
    void on_sighting(const net::Sighting& sighting);
    void flush_batch(std::int64_t now_ns = 0);

   private:
    CapturePipeline& owner_;
    bool ongoing_;
    Batch batch_;
  };

  // Per packet-time second counters of the capture series.
  struct SecondCounter {
    std::int64_t second = INT64_MIN;
    double bytes_sent = 0, bytes_recv = 0, packets_sent = 0, packets_recv = 0;
  };
  void count_second(const net::Packet& packet);
  void close_second(std::vector<host::TrafficSample>& out);
  void tick(std::int64_t now_ns);
  void snapshot();  // flow thread: publishes the meter's counters for stats()

  // Gives `recorder` the source's read-back (before the ring is made with it); returns it.
  static capture::PacketRecorder* with_read_back(capture::PacketRecorder* recorder,
                                                 const capture::PacketSource& source);
  void capture_loop(std::stop_token stop);
  void flow_loop(std::stop_token stop);
  // The stage thread: hands each batch to the hooks (the detection stage), then finished flows
  // to the file thread.
  void writer_loop();
  // The file thread: writes finished flows to flows.csv (flushed about once a second) and gives
  // their batches back.
  void file_loop();
  // Flow thread: gives the stage a finished batch (a replay's goes into the parcel, see
  // kParcelRows), and sends the parcel.
  void hand_over(Batch&& batch);
  void send_parcel();
  // A batch for the flow thread to fill: a spare one the stage thread gave back, else a new one.
  Batch take_spare();
  void give_back(Batch&& batch);

  std::unique_ptr<capture::PacketSource> source_;
  PipelineOptions options_;
  PipelineHooks hooks_;
  capture::PacketRing ring_;
  BatchingSink batching_;
  BatchingSink ongoing_;
  flow::FlowMeter meter_;
  core::BoundedQueue<Batch> batches_;
  // Batches the stage thread has emptied, returned to the flow thread with their vectors'
  // capacity (a few): a new batch's vectors were fresh memory every 256 flows, and their page
  // faults and allocations were ~5 % of the flow thread under a spoofed flood.
  std::mutex spare_mutex_;  // guards spare_
  std::vector<Batch> spare_;
  // Batches whose finished flows go to flows.csv next (stage thread -> file thread).
  core::BoundedQueue<Batch> to_file_;
  FlowFileSink writer_;
  std::uint64_t write_errors_ = 0;  // file thread: consecutive flows.csv write failures
  // Flow-thread state.
  std::vector<Batch> parcel_;  // a replay's batches not handed over yet
  std::size_t parcel_rows_ = 0;
  std::chrono::steady_clock::time_point parcel_since_;
  SecondCounter second_;
  std::vector<host::TrafficSample> finished_seconds_;
  std::int64_t last_tick_second_ = INT64_MIN;
  std::int64_t last_tick_ns_ = 0;
  std::atomic<bool> input_ended_{false};
  std::string input_error_;  // written by the capture thread before input_ended_

  mutable std::mutex stats_mutex_;  // guards the snapshots below (written by the flow thread)
  net::DecodeStats decode_snapshot_;
  flow::FlowStats flow_snapshot_;
  flow::TunnelStats tunnel_snapshot_;
  net::ReassemblyStats reassembly_snapshot_;
  capture::CaptureStats capture_snapshot_;  // written by the capture thread
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> captured_{0};  // packets read (capture thread writes)
  std::atomic<std::uint64_t> ongoing_reported_{0};
  std::atomic<std::uint64_t> flow_events_{0};
  std::atomic<std::uint64_t> progress_reports_{0};
  std::atomic<std::uint64_t> sightings_{0};
  net::Sighting sighting_;  // flow thread: the packet being inspected

  std::jthread file_thread_;
  std::jthread writer_thread_;
  std::jthread flow_thread_;
  std::jthread capture_thread_;
  bool stopped_ = false;
};

}  // namespace netsentry::app
