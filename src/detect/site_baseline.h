// Provides detect::SiteBaseline, this network's own normal: an unsupervised model of the flows seen
// here, learned from the first learn_s of packet time (Kitsune's grace period), saved in `dir` and
// loaded from it on the next start, and refit every refresh_s on the flows of the last two periods
// (a bounded reservoir sample per period). The caller decides which flows it may learn from: never
// those of hosts with engaged alerts, so an attacker cannot teach it that the attack is normal.
// The model is an Isolation Forest (plus, with `autoencoder` and LibTorch, an autoencoder; both
// must agree) with each model's threshold at `percentile` of its own training scores. A flow the
// generic model flags that this baseline calls typical (every model scores it at or below
// `typical_percentile` of its training scores, the median by default) gives no ML evidence (see
// MlFlowDetector);
// with --learn-baseline and no generic model, it is the only model. Fitting runs on a thread of its
// own. Live, the new model is adopted whenever it is ready. With `synchronous` (replays),
// take_ready() waits for a running fit, so the model changes at the same flow every time: the
// caller asks for it where it next needs the model, and the fit runs beside the packets in between;
// its save then runs on a thread of its own, so not even that waits for the disk (the destructor
// waits for it). Thread rules: observe(), take_ready(), scorer() from one thread (the detection
// stage); the fit hands its bundle over through a mutex.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "detect/flow_scorer.h"
#include "flow/flow_record.h"
#include "ml/bundle.h"

namespace netsentry::detect {

struct SiteBaselineOptions {
  double learn_s = 600;            // packet time of flows before the first fit
  double refresh_s = 600;          // refit this often afterwards (0 = never)
  std::size_t max_flows = 20'000;  // reservoir per period
  std::size_t min_flows = 200;     // fewer at the end of a period: keep collecting
  double percentile = 99;          // each model's threshold on its own training scores
  // Beside a generic model: a flow it flags is typical of this network (so no evidence) when
  // every site model scores it at or below this percentile of its own training scores, i.e. at
  // least as ordinary as that share of this network's flows. 50: the median flow here. (Not
  // `percentile`: on the lab runs most attack flows the generic model flags score below the
  // 99th, docs/models.md "The site baseline's check".)
  double typical_percentile = 50;
  bool autoencoder = false;   // also an autoencoder, when LibTorch is available
  std::filesystem::path dir;  // saved here, loaded from here at start (empty: neither)
  int threads = 1;
  std::uint64_t seed = 42;
  bool synchronous = false;
  // With `synchronous`: a fit is adopted at the first take_ready(now_ns) this much packet time
  // after it started, so it runs beside the packets in between (a replay reads a minute of a lab
  // capture in ~20 ms, about what a fit of a few thousand flows takes).
  double adopt_after_s = 0;
};

class SiteBaseline final {
 public:
  // Loads a baseline saved in options.dir when there is one (then ready at once, and refreshed
  // from the first full period). Throws core::Error on unusable options; a saved baseline that
  // does not load is reported (spdlog) and learned again.
  explicit SiteBaseline(SiteBaselineOptions options);
  ~SiteBaseline();
  SiteBaseline(const SiteBaseline&) = delete;
  SiteBaseline& operator=(const SiteBaseline&) = delete;

  // One flow this network may learn from (the caller leaves out hosts with engaged alerts).
  void observe(const flow::FlowRecord& flow);
  // Adopts a newly fitted model when one is ready; true when it did (scorer() changed). With
  // `synchronous`, `now_ns` (packet time) decides: a fit is adopted once now_ns is adopt_after_s
  // past its start, waiting for it if it still runs (the default: at once).
  bool take_ready(std::int64_t now_ns = INT64_MAX);
  // The current model (nullptr before the first fit or load).
  [[nodiscard]] const FlowScorer* scorer() const { return scorer_.get(); }
  [[nodiscard]] const ml::Bundle* bundle() const { return bundle_.get(); }
  // Of `flows` (flagged by the generic model), which are typical of this network (see
  // typical_percentile); `typical` gets one entry per flow. A baseline saved before the typical
  // scores were kept falls back to its models' thresholds (not anomalous = typical) until its next
  // fit. Needs ready(). Throws core::Error when scoring fails.
  void typical(std::span<const flow::FlowRecord> flows, std::vector<char>& typical) const;
  [[nodiscard]] bool ready() const { return scorer_ != nullptr; }
  // "learned from 1,234 flows of this network" / "loaded from DIR".
  [[nodiscard]] const std::string& description() const { return description_; }
  [[nodiscard]] std::uint64_t fits() const { return fits_; }
  // Returns once a fit and its save still running have ended (the destructor waits for them too).
  void wait_saved() {
    if (worker_.joinable()) worker_.join();
    if (saver_.joinable()) saver_.join();
  }

  // The feature columns a baseline reads from flows: CICFlowMeter's features and the protocol.
  struct Row {
    std::array<float, flow::kCicFeatureCount> cic{};
    std::uint8_t ip_proto = 0;
  };
  [[nodiscard]] static data::Dataset to_dataset(const std::vector<Row>& rows);
  // The rows of `older`, then those of `newer`.
  [[nodiscard]] static data::Dataset to_dataset(std::span<const Row> older,
                                                std::span<const Row> newer);

 private:
  void start_fit(std::int64_t now_ns);
  // On the worker: fits the rows of both periods' samples (read in place; see start_fit()).
  void fit(std::span<const Row> older, std::span<const Row> newer);
  // Writes `bundle` into options_.dir (a failure is reported, not thrown).
  void save(const ml::Bundle& bundle, std::size_t rows) const;
  // Reads the typical scores of bundle_ (its manifest's training.typical_scores).
  void read_typical();

  SiteBaselineOptions options_;
  // Shared with a save still running (synchronous fits).
  std::shared_ptr<const ml::Bundle> bundle_;
  std::unique_ptr<FlowScorer> scorer_;
  // Each model's typical score (typical_percentile of its training scores, from the table of
  // percentiles the fit keeps in the manifest); empty: a baseline saved without the table.
  std::vector<std::pair<std::string, float>> typical_scores_;
  std::string description_;
  std::uint64_t fits_ = 0;
  // The current period's reservoir and the previous period's sample.
  std::vector<Row> sample_;
  std::vector<Row> previous_;
  std::vector<Row> spare_;  // the older period a running fit reads, then the next sample's buffer
  std::uint64_t seen_ = 0;
  std::int64_t period_start_ns_ = 0;  // 0: no flow yet
  bool first_fit_done_ = false;       // a model exists or a fit was started
  std::mt19937_64 rng_;
  std::mutex ready_mutex_;  // guards ready_, failed_, description_rows_
  std::shared_ptr<const ml::Bundle> ready_;
  bool failed_ = false;
  std::size_t description_rows_ = 0;
  bool fitting_ = false;             // stage thread: a fit was started and not taken yet
  std::int64_t fit_started_ns_ = 0;  // packet time the running fit started at
  std::jthread saver_;               // a synchronous fit's save (the next one waits for it)
  std::jthread worker_;              // last: joins before the members the fit uses go away
};

}  // namespace netsentry::detect
