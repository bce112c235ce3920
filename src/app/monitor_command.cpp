// `netsentry monitor`: live capture into flows.csv plus the host recorder, until SIGINT/SIGTERM.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>
#include <thread>

#include "app/capture_pipeline.h"
#include "app/commands.h"
#include "app/host_recorder.h"
#include "app/summary.h"
#include "core/logging.h"
#include "core/signals.h"

namespace netsentry::app {
namespace {

void log_pipeline(const PipelineStats& s) {
  spdlog::info(
      "capture: {} packets, {} kernel drops, {} queue drops; flows: {} live (peak {}), {} written, "
      "{} evicted; malformed {}",
      s.capture.received, s.capture.kernel_dropped, s.capture.queue_dropped, s.flows.current,
      s.flows.peak, s.flows_written, s.flows.evicted, s.decode.malformed);
}

}  // namespace

int run_monitor(const MonitorOptions& options) {
  std::filesystem::create_directories(options.watch.out_dir);
  std::unique_ptr<CapturePipeline> pipeline;
  // The signal thread wakes the capture thread so Ctrl-C is handled within one read timeout.
  std::atomic<CapturePipeline*> wake_target{nullptr};
  core::StopSignals signals([&wake_target] {
    if (auto* p = wake_target.load()) p->break_capture();
  });

  if (options.no_capture) {
    spdlog::info("monitor: packet capture off (--no-capture): recording counters and connections");
  } else {
    capture::LiveOptions live;
    live.interface = options.interface;
    live.filter = options.filter;
    live.snaplen = options.snaplen;
    live.promisc = options.promisc;
    try {
      auto source = capture::open_live(live);
      pipeline =
          std::make_unique<CapturePipeline>(std::move(source), make_flow_config(options.flow),
                                            (options.watch.out_dir / "flows.csv").string());
    } catch (const capture::PermissionError& e) {
      spdlog::warn("{}", e.what());
      spdlog::warn("monitor: continuing with counters and connections only (no flows)");
    }
  }
  if (pipeline) {
    pipeline->start();
    wake_target.store(pipeline.get());
    spdlog::info("monitor: capturing on {}, writing {}", pipeline->description(),
                 (options.watch.out_dir / "flows.csv").string());
  }

  HostRecorder recorder(options.watch);
  std::jthread stats_thread;
  if (pipeline) {
    stats_thread = std::jthread([&pipeline](std::stop_token st) {
      std::mutex m;
      std::condition_variable_any cv;
      while (!st.stop_requested()) {
        std::unique_lock lock(m);
        if (cv.wait_for(lock, st, std::chrono::seconds(10), [] { return false; })) break;
        if (!st.stop_requested()) log_pipeline(pipeline->stats());
      }
    });
  }
  spdlog::info("monitor: recording counters and connections into {}; Ctrl-C stops",
               options.watch.out_dir.string());
  core::flush_logging();  // the start-up lines reach the log file now, not at the next flush
  recorder.run(signals.token());  // returns on a signal or after --duration

  if (stats_thread.joinable()) {
    stats_thread.request_stop();
    stats_thread.join();
  }
  if (pipeline) {
    wake_target.store(nullptr);
    pipeline->stop();
    const auto s = pipeline->stats();
    log_pipeline(s);
  }
  spdlog::info("monitor: stopped; {} samples, {} connection events; every file flushed",
               recorder.samples(), recorder.connection_events());
  return 0;
}

}  // namespace netsentry::app
