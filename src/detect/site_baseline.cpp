#include "detect/site_baseline.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "core/error.h"
#include "data/text.h"
#include "detect/alert_format.h"
#include "ml/isolation_forest.h"
#include "ml/torch_module.h"

namespace netsentry::detect {

SiteBaseline::SiteBaseline(SiteBaselineOptions options)
    : options_(std::move(options)), rng_(options_.seed) {
  if (!(options_.percentile > 50 && options_.percentile < 100)) {
    throw core::Error(
        fmt::format("site baseline: percentile must be in (50, 100), got {}", options_.percentile));
  }
  if (!(options_.typical_percentile > 0 && options_.typical_percentile < 100)) {
    throw core::Error(
        fmt::format("site baseline: the typical percentile must be in (0, 100), got {}",
                    options_.typical_percentile));
  }
  if (!(options_.learn_s > 0) || !(options_.refresh_s >= 0)) {
    throw core::Error("site baseline: the learning time must be positive");
  }
  std::error_code ec;
  if (!options_.dir.empty() && std::filesystem::exists(options_.dir / "manifest.json", ec)) {
    try {
      auto bundle = std::make_unique<ml::Bundle>(ml::Bundle::load(options_.dir, options_.threads));
      scorer_ = std::make_unique<FlowScorer>(*bundle);
      bundle_ = std::move(bundle);
      read_typical();
      first_fit_done_ = true;
      description_ = fmt::format("this network's baseline, loaded from {}", options_.dir.string());
    } catch (const core::Error& e) {
      scorer_.reset();
      spdlog::warn("site baseline: {} does not load ({}); learning it again", options_.dir.string(),
                   e.what());
    }
  }
  // The whole reservoir at once (6.5 MB of address space at the default 20,000 flows, committed
  // only as rows are written): grown by doubling, its copies touched ~3x as many fresh pages, and
  // their page faults were ~2 % of a replay's stage thread.
  sample_.reserve(options_.max_flows);
}

SiteBaseline::~SiteBaseline() {
  // The fit first: it may start a save.
  if (worker_.joinable()) worker_.join();
}

data::Dataset SiteBaseline::to_dataset(const std::vector<Row>& rows) {
  return to_dataset(std::span<const Row>(rows), {});
}

data::Dataset SiteBaseline::to_dataset(std::span<const Row> older, std::span<const Row> newer) {
  const std::size_t n = older.size() + newer.size();
  const auto row = [&](std::size_t i) -> const Row& {
    return i < older.size() ? older[i] : newer[i - older.size()];
  };
  data::Dataset d;
  const auto names = flow::cic_feature_names();
  d.columns.reserve(names.size() + 1);
  for (std::size_t k = 0; k < names.size(); ++k) {
    data::Column c;
    c.name = std::string(names[k]);
    c.kind = data::ColumnKind::kNumeric;
    c.values.reserve(n);
    for (const auto& r : older) c.values.push_back(r.cic[k]);
    for (const auto& r : newer) c.values.push_back(r.cic[k]);
    d.columns.push_back(std::move(c));
  }
  data::Column proto;
  proto.name = "Protocol";
  proto.kind = data::ColumnKind::kCategorical;
  std::array<std::int32_t, 256> code;
  code.fill(-1);
  for (std::size_t i = 0; i < n; ++i) {
    const Row& r = row(i);
    if (code[r.ip_proto] < 0) {
      code[r.ip_proto] = static_cast<std::int32_t>(proto.levels.size());
      std::array<char, 32> buf{};
      const std::string number = std::to_string(r.ip_proto);
      proto.levels.emplace_back(data::text::canonical_protocol(number, buf));
    }
    proto.codes.push_back(code[r.ip_proto]);
  }
  d.columns.push_back(std::move(proto));
  d.files = {"site flows"};
  d.format = "flows";
  d.origin.resize(n);
  for (std::size_t i = 0; i < n; ++i) d.origin[i] = {0, static_cast<std::uint32_t>(i)};
  return d;
}

void SiteBaseline::observe(const flow::FlowRecord& flow) {
  if (first_fit_done_ && options_.refresh_s <= 0) return;
  const std::int64_t now = std::max(flow.end_ns, flow.start_ns);
  if (period_start_ns_ == 0) period_start_ns_ = now;
  ++seen_;
  // Reservoir sampling keeps a uniform sample of the period's flows. Once it is full most flows
  // are not kept, so the row is filled only where one is.
  Row* row = nullptr;
  if (sample_.size() < options_.max_flows) {
    row = &sample_.emplace_back();
  } else {
    std::uniform_int_distribution<std::uint64_t> pick(0, seen_ - 1);
    const auto j = pick(rng_);
    if (j < sample_.size()) row = &sample_[j];
  }
  if (row != nullptr) {
    for (std::size_t k = 0; k < flow::kCicFeatureCount; ++k) {
      row->cic[k] = static_cast<float>(flow.cic[k]);
    }
    row->ip_proto = flow.ip_proto;
  }
  const double period = first_fit_done_ ? options_.refresh_s : options_.learn_s;
  const double elapsed = static_cast<double>(now - period_start_ns_) / 1e9;
  if (elapsed >= period && sample_.size() >= options_.min_flows && !fitting_) start_fit(now);
}

void SiteBaseline::start_fit(std::int64_t now_ns) {
  // The fit reads the last two periods' samples where they are (copying them was ~10 ms of the
  // stage thread per fit on a lab capture); the three buffers rotate, so the new period's sample
  // is written into the one no fit reads any more (the fit before this one, joined here), and
  // their memory is reused instead of faulted in afresh every period.
  if (worker_.joinable()) worker_.join();
  const std::span<const Row> older(previous_);
  const std::span<const Row> newer(sample_);
  std::swap(previous_, sample_);  // previous_: the period just ended (this fit reads it)
  std::swap(sample_, spare_);     // spare_: the older period (this fit reads it)
  sample_.clear();                // the buffer the last fit read
  if (sample_.capacity() < options_.max_flows) sample_.reserve(options_.max_flows);
  seen_ = 0;
  period_start_ns_ = now_ns;
  first_fit_done_ = true;
  fitting_ = true;
  fit_started_ns_ = now_ns;
  spdlog::info("site baseline: learning this network's normal from {} flows",
               older.size() + newer.size());
  // A replay's fit too (~20 ms each on a lab capture: on the stage thread, the packets waited);
  // take_ready() adopts it at the same packet every time.
  worker_ = std::jthread([this, older, newer] { fit(older, newer); });
}

void SiteBaseline::fit(std::span<const Row> older, std::span<const Row> newer) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t rows = older.size() + newer.size();
  try {
    auto bundle = std::make_unique<ml::Bundle>();
    const data::Dataset ds = to_dataset(older, newer);
    bundle->preprocessor.fit(ds);
    const data::Matrix x = bundle->preprocessor.transform(ds);
    ml::TrainSet set;
    set.x = &x;
    ml::TrainContext ctx;
    ctx.threads = options_.threads;
    ctx.seed = options_.seed;
    ml::IsolationForestOptions io;
    io.contamination = 1.0 - options_.percentile / 100.0;
    bundle->models.push_back(std::make_unique<ml::IsolationForest>(io));
    if (options_.autoencoder && ml::torch_module::available()) {
      ml::torch::AutoencoderOptions ao;
      ao.threshold_percentile = static_cast<float>(options_.percentile);
      bundle->models.push_back(ml::torch_module::make_autoencoder(ao));
    }
    nlohmann::json quantiles = nlohmann::json::object();
    for (auto& m : bundle->models) {
      m->fit(set, ctx);
      bundle->ensemble.set_model_threshold(std::string(m->name()), m->threshold());
      ml::set_model_threads(*m, bundle->models.size() > 1 ? 1 : options_.threads);
      // Its training scores at every percentile 0..100, so the typical score can be read at any
      // --site-typical, for a loaded baseline too.
      std::vector<float> own = m->score(ml::ScoreInput{x});
      if (own.empty()) throw core::Error("no training scores");
      std::sort(own.begin(), own.end());
      nlohmann::json table = nlohmann::json::array();
      for (int q = 0; q <= 100; ++q) {
        table.push_back(own[static_cast<std::size_t>(
            std::lround(q / 100.0 * static_cast<double>(own.size() - 1)))]);
      }
      quantiles[std::string(m->name())] = std::move(table);
    }
    // Without labels there is nothing to fit the ensemble on: the original's vote, where every
    // model must agree, keeps the rate of untypical verdicts near the percentile or below.
    bundle->ensemble.set_mode(ml::EnsembleMode::kVote);
    bundle->score_threads = options_.threads;
    bundle->training = {{"source", "this network's flows (unlabelled)"},
                        {"rows", rows},
                        {"percentile", options_.percentile},
                        {"score_percentiles", std::move(quantiles)}};
    spdlog::info("site baseline: {} model{} fitted on {} flows in {:.1f} s", bundle->models.size(),
                 bundle->models.size() == 1 ? "" : "s", rows,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::shared_ptr<const ml::Bundle> fitted = std::move(bundle);
    if (!options_.dir.empty()) {
      if (options_.synchronous) {
        // The stage waits for this fit: the disk is left to a thread of its own (one at a time).
        if (saver_.joinable()) saver_.join();
        saver_ = std::jthread([this, fitted, rows] { save(*fitted, rows); });
      } else {
        save(*fitted, rows);
      }
    }
    std::lock_guard lock(ready_mutex_);
    ready_ = std::move(fitted);
    description_rows_ = rows;
  } catch (const std::exception& e) {
    spdlog::error("site baseline: fitting failed: {}", e.what());
    std::lock_guard lock(ready_mutex_);
    failed_ = true;
  }
}

void SiteBaseline::save(const ml::Bundle& bundle, std::size_t rows) const {
  try {
    bundle.save(options_.dir);
    spdlog::info("site baseline: the baseline of {} flows saved in {}", rows,
                 options_.dir.string());
  } catch (const std::exception& e) {
    spdlog::warn("site baseline: {}", e.what());
  }
}

bool SiteBaseline::take_ready(std::int64_t now_ns) {
  if (!fitting_) return false;
  if (options_.synchronous) {
    const auto after = static_cast<std::int64_t>(options_.adopt_after_s * 1e9);
    if (now_ns != INT64_MAX && now_ns - fit_started_ns_ < after) return false;
    if (worker_.joinable()) worker_.join();
  }
  std::shared_ptr<const ml::Bundle> ready;
  std::size_t rows = 0;
  {
    std::lock_guard lock(ready_mutex_);
    if (failed_) {
      failed_ = false;
      fitting_ = false;
      return false;
    }
    if (!ready_) return false;
    ready = std::move(ready_);
    rows = description_rows_;
  }
  fitting_ = false;
  try {
    auto scorer = std::make_unique<FlowScorer>(*ready);
    scorer_.reset();
    bundle_ = std::move(ready);
    scorer_ = std::move(scorer);
    read_typical();
  } catch (const core::Error& e) {
    spdlog::error("site baseline: {}", e.what());
    return false;
  }
  ++fits_;
  description_ = fmt::format("this network's baseline, learned from {} flows", format_count(rows));
  return true;
}

void SiteBaseline::read_typical() {
  typical_scores_.clear();
  const auto it = bundle_->training.find("score_percentiles");
  if (it == bundle_->training.end() || !it->is_object()) {
    spdlog::info(
        "site baseline: saved without its score percentiles; its models' thresholds say what is "
        "typical until its next fit");
    return;
  }
  const double pos = options_.typical_percentile;  // into the table of percentiles 0..100
  const auto lo = static_cast<std::size_t>(pos);
  const double frac = pos - static_cast<double>(lo);
  for (const auto& m : bundle_->models) {
    const auto t = it->find(std::string(m->name()));
    if (t == it->end() || !t->is_array() || t->size() != 101 ||
        !std::all_of(t->begin(), t->end(), [](const auto& v) { return v.is_number(); })) {
      spdlog::warn("site baseline: no score percentiles for its {}; its threshold decides",
                   m->name());
      typical_scores_.clear();
      return;
    }
    const double a = (*t)[lo].template get<double>();
    const double b = (*t)[std::min<std::size_t>(lo + 1, 100)].template get<double>();
    typical_scores_.emplace_back(std::string(m->name()), static_cast<float>(a + frac * (b - a)));
  }
}

void SiteBaseline::typical(std::span<const flow::FlowRecord> flows,
                           std::vector<char>& typical) const {
  typical.assign(flows.size(), 0);
  if (!scorer_ || flows.empty()) return;
  std::vector<FlowVerdict> verdicts;
  ScoredBatch batch;
  scorer_->score(flows, verdicts, &batch);
  if (typical_scores_.empty()) {
    for (std::size_t i = 0; i < flows.size(); ++i) typical[i] = !verdicts[i].anomalous;
    return;
  }
  for (std::size_t i = 0; i < flows.size(); ++i) typical[i] = 1;
  for (const auto& [name, score] : typical_scores_) {
    const auto s = batch.scores.find(name);
    if (s == batch.scores.end()) {
      throw core::Error("site baseline: no " + name + " score for a flow");
    }
    for (std::size_t i = 0; i < flows.size(); ++i) {
      if (!(s->second[i] <= score)) typical[i] = 0;
    }
  }
}

}  // namespace netsentry::detect
