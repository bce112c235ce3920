// Provides app::BaselineTrainer, how `monitor` works from the first minute without labels: with no
// model bundle, it keeps the flows of the first N minutes (packet time; a bounded reservoir
// sample), then fits the unsupervised models on them in the background — an Isolation Forest and,
// when LibTorch is available, an autoencoder — with thresholds at a high percentile of their own
// training scores, combined by the original's vote (both must agree), and saves that bundle so a
// restart reuses it instead of learning again.
// Thread rules: observe()/take_ready() from the stage thread only; training runs on the trainer's
// own thread and hands the bundle over through a mutex.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "flow/flow_record.h"
#include "ml/bundle.h"

namespace netsentry::app {

struct WarmupOptions {
  double warmup_s = 600;                // packet time collected before fitting
  std::size_t max_flows = 100000;       // reservoir size
  std::size_t min_flows = 200;          // fewer than this at the end of warm-up: keep collecting
  double alert_percentile = 99;         // each model's threshold on its own training scores
  bool autoencoder = true;              // also fit the autoencoder when LibTorch is available
  std::filesystem::path dir;            // where the bundle is saved (and reused from)
  int threads = 1;
  std::uint64_t seed = 42;
  // Fit on the calling thread (replays: the model then starts at the same packet every time).
  bool synchronous = false;
};

class BaselineTrainer final {
 public:
  explicit BaselineTrainer(WarmupOptions options);
  ~BaselineTrainer();
  BaselineTrainer(const BaselineTrainer&) = delete;
  BaselineTrainer& operator=(const BaselineTrainer&) = delete;

  // The feature columns a baseline reads from a flow: CICFlowMeter's features and the protocol.
  [[nodiscard]] static data::Dataset to_dataset(const std::vector<flow::FlowRecord>& flows);

  // Stage thread: one finished flow. Starts the background fit once warm-up is over.
  void observe(const flow::FlowRecord& flow);
  // Stage thread: the fitted bundle once, when ready (then nullptr again).
  [[nodiscard]] std::unique_ptr<ml::Bundle> take_ready();
  [[nodiscard]] bool training() const { return started_ && !finished_; }
  [[nodiscard]] std::size_t collected() const { return sample_.size(); }

 private:
  void fit(std::vector<flow::FlowRecord> flows);

  WarmupOptions options_;
  std::vector<flow::FlowRecord> sample_;
  std::uint64_t seen_ = 0;
  std::int64_t first_ns_ = 0;
  std::mt19937_64 rng_;
  bool started_ = false;
  bool finished_ = false;  // set on the stage thread when the bundle was taken or failed
  std::jthread worker_;
  std::mutex ready_mutex_;  // guards ready_ and failed_
  std::unique_ptr<ml::Bundle> ready_;
  bool failed_ = false;
};

}  // namespace netsentry::app
