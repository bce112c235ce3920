#include "app/baseline_trainer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <utility>

#include "core/error.h"
#include "data/text.h"
#include "ml/isolation_forest.h"
#include "ml/torch_module.h"

namespace netsentry::app {

BaselineTrainer::BaselineTrainer(WarmupOptions options)
    : options_(std::move(options)), rng_(options_.seed) {
  if (!(options_.alert_percentile > 50 && options_.alert_percentile < 100)) {
    throw core::Error(fmt::format("baseline alert percentile must be in (50, 100), got {}",
                                  options_.alert_percentile));
  }
  sample_.reserve(std::min<std::size_t>(options_.max_flows, 4096));
}

BaselineTrainer::~BaselineTrainer() = default;  // joins a running fit

data::Dataset BaselineTrainer::to_dataset(const std::vector<flow::FlowRecord>& flows) {
  data::Dataset d;
  const auto names = flow::cic_feature_names();
  d.columns.reserve(names.size() + 1);
  for (std::size_t k = 0; k < names.size(); ++k) {
    data::Column c;
    c.name = std::string(names[k]);
    c.kind = data::ColumnKind::kNumeric;
    c.values.reserve(flows.size());
    for (const auto& f : flows) c.values.push_back(static_cast<float>(f.cic[k]));
    d.columns.push_back(std::move(c));
  }
  data::Column proto;
  proto.name = "Protocol";
  proto.kind = data::ColumnKind::kCategorical;
  std::array<std::int32_t, 256> code;
  code.fill(-1);
  for (const auto& f : flows) {
    if (code[f.ip_proto] < 0) {
      code[f.ip_proto] = static_cast<std::int32_t>(proto.levels.size());
      std::array<char, 32> buf{};
      const std::string number = std::to_string(f.ip_proto);
      proto.levels.emplace_back(data::text::canonical_protocol(number, buf));
    }
    proto.codes.push_back(code[f.ip_proto]);
  }
  d.columns.push_back(std::move(proto));
  d.files = {"live flows"};
  d.format = "flows";
  d.origin.resize(flows.size());
  for (std::size_t i = 0; i < flows.size(); ++i) d.origin[i] = {0, static_cast<std::uint32_t>(i)};
  return d;
}

void BaselineTrainer::observe(const flow::FlowRecord& flow) {
  if (started_) return;
  if (seen_ == 0) first_ns_ = flow.start_ns;
  ++seen_;
  // Reservoir sampling keeps a uniform sample of everything seen in the warm-up.
  if (sample_.size() < options_.max_flows) {
    sample_.push_back(flow);
  } else {
    std::uniform_int_distribution<std::uint64_t> pick(0, seen_ - 1);
    const auto j = pick(rng_);
    if (j < sample_.size()) sample_[j] = flow;
  }
  const double elapsed = static_cast<double>(flow.end_ns - first_ns_) / 1e9;
  if (elapsed >= options_.warmup_s && sample_.size() >= options_.min_flows) {
    started_ = true;
    spdlog::info("baseline: learning normal traffic from {} flows ({} seen in {:.0f} s)",
                 sample_.size(), seen_, elapsed);
    if (options_.synchronous) {
      fit(std::exchange(sample_, {}));
    } else {
      worker_ =
          std::jthread([this, flows = std::move(sample_)]() mutable { fit(std::move(flows)); });
      sample_ = {};
    }
  }
}

void BaselineTrainer::fit(std::vector<flow::FlowRecord> flows) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    auto bundle = std::make_unique<ml::Bundle>();
    const data::Dataset ds = to_dataset(flows);
    bundle->preprocessor.fit(ds);
    const data::Matrix x = bundle->preprocessor.transform(ds);
    ml::TrainSet set;
    set.x = &x;
    ml::TrainContext ctx;
    ctx.threads = options_.threads;
    ctx.seed = options_.seed;
    ml::IsolationForestOptions io;
    io.contamination = 1.0 - options_.alert_percentile / 100.0;
    bundle->models.push_back(std::make_unique<ml::IsolationForest>(io));
    if (options_.autoencoder && ml::torch_module::available()) {
      ml::torch::AutoencoderOptions ao;
      ao.threshold_percentile = static_cast<float>(options_.alert_percentile);
      bundle->models.push_back(ml::torch_module::make_autoencoder(ao));
    }
    for (auto& m : bundle->models) {
      m->fit(set, ctx);
      bundle->ensemble.set_model_threshold(std::string(m->name()), m->threshold());
      ml::set_model_threads(*m, bundle->models.size() > 1 ? 1 : options_.threads);
    }
    // Without labels there is nothing to fit the ensemble on: the original's vote, where every
    // model must agree, keeps the false-alert rate near the per-model percentile or below.
    bundle->ensemble.set_mode(ml::EnsembleMode::kVote);
    bundle->score_threads = options_.threads;
    bundle->training = {{"source", "live flows (unlabelled warm-up)"},
                        {"rows", flows.size()},
                        {"warmup_s", options_.warmup_s},
                        {"alert_percentile", options_.alert_percentile}};
    if (!options_.dir.empty()) {
      try {
        bundle->save(options_.dir);
        spdlog::info("baseline: saved to {} (reused on restart)", options_.dir.string());
      } catch (const core::Error& e) {
        spdlog::warn("baseline: {}", e.what());
      }
    }
    spdlog::info("baseline: {} models fitted on {} flows in {:.1f} s; scoring flows from now on",
                 bundle->models.size(), flows.size(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::lock_guard lock(ready_mutex_);
    ready_ = std::move(bundle);
  } catch (const std::exception& e) {
    spdlog::error("baseline: fitting failed: {}", e.what());
    std::lock_guard lock(ready_mutex_);
    failed_ = true;
  }
}

std::unique_ptr<ml::Bundle> BaselineTrainer::take_ready() {
  if (!started_ || finished_) return nullptr;
  std::lock_guard lock(ready_mutex_);
  if (ready_ || failed_) finished_ = true;
  return std::move(ready_);
}

}  // namespace netsentry::app
