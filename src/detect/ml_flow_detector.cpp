#include "detect/ml_flow_detector.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/error.h"
#include "detect/alert.h"

namespace netsentry::detect {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kRemembered = 65'536;
constexpr std::string_view kOnePacket = "one packet (left to the host detectors)";
constexpr std::string_view kNoModel = "no model";
constexpr std::string_view kBelowMargin = "anomalous by a small margin only";
// An early verdict whose flow's end waits in the same batch: the final verdict comes at the same
// moment, so the early one would tell nothing sooner.
constexpr std::string_view kSuperseded = "ended in the same batch";
// An early verdict of the generic model while the site baseline learns (see score()).
constexpr std::string_view kEarlyWhileLearning = "early verdict while the site baseline learns";

void remember(std::unordered_set<std::uint64_t>& set, std::deque<std::uint64_t>& order,
              std::uint64_t id) {
  if (!set.insert(id).second) return;
  order.push_back(id);
  if (order.size() > kRemembered) {
    set.erase(order.front());
    order.pop_front();
  }
}

double margin_of(const FlowVerdict& v, float threshold) {
  const double room = std::max(1e-6, 1.0 - static_cast<double>(threshold));
  return std::clamp((static_cast<double>(v.score) - threshold) / room, 0.0, 1.0);
}

}  // namespace

MlFlowDetector::MlFlowDetector(MlDetectorOptions options, FlowVerdictSink* verdicts,
                               SiteBaseline* site,
                               std::function<bool(const net::IpAddress&)> may_learn)
    : options_(options),
      verdicts_(verdicts),
      site_(site),
      may_learn_(std::move(may_learn)),
      ordinary_(options.ordinary) {
  if (options_.batch == 0) throw core::Error("ML detector: the batch size must be positive");
  if (!(options_.min_margin >= 0 && options_.min_margin < 1)) {
    throw core::Error("ML detector: the minimum margin must be in [0, 1)");
  }
}

MlFlowDetector::~MlFlowDetector() = default;

void MlFlowDetector::set_model(std::unique_ptr<ml::Bundle> bundle, std::string what) {
  scorer_.reset();
  bundle_ = std::move(bundle);
  if (bundle_) scorer_ = std::make_unique<FlowScorer>(*bundle_);
  what_ = std::move(what);
  waiting_ = false;
}

float MlFlowDetector::threshold() const {
  if (scorer_) return scorer_->threshold();
  if (site_ != nullptr && site_->scorer() != nullptr) return site_->scorer()->threshold();
  return 0.0f;
}

void MlFlowDetector::on_flow_event(const flow::FlowEvent& event, std::vector<Evidence>& /*out*/) {
  ordinary_.on_flow_event(event);
}

void MlFlowDetector::on_flow_progress(const flow::FlowRecord& record, std::vector<Evidence>& out) {
  if (!options_.early) return;
  const std::uint64_t id = FlowRef::of(record).hash();
  if (early_done_.contains(id)) return;
  remember(early_done_, early_order_, id);
  enqueue(record, false, out);
}

void MlFlowDetector::on_flow_interim(const flow::FlowRecord& record, std::vector<Evidence>& out) {
  enqueue(record, false, out);
}

void MlFlowDetector::on_flow_finished(const flow::FlowRecord& record, std::vector<Evidence>& out) {
  ordinary_.on_flow_started(record.src_ip, record.start_ns);
  enqueue(record, true, out);
}

void MlFlowDetector::enqueue(const flow::FlowRecord& record, bool finished,
                             std::vector<Evidence>& out) {
  Item item;
  item.finished = finished;
  if (record.packet_count < options_.min_packets) {
    item.note = kOnePacket;
    if (finished) ++stats_.one_packet;
  } else if (const std::string_view why = ordinary_.reason(record); !why.empty()) {
    item.note = why;
    if (finished) ++stats_.ordinary;
  }
  if (finished) ++stats_.finished;
  // Unscorable interim reports have nothing to give; finished ones still go to the sink in order.
  if (!finished && !item.note.empty()) return;
  if (!finished && !judge() && !waiting_) return;
  item.record = record;
  const std::int64_t time_ns = std::max(record.end_ns, record.start_ns);
  latest_ns_ = std::max(latest_ns_, time_ns);
  if (pending_.empty()) {
    pending_first_ns_ = time_ns;
    pending_since_ = Clock::now();
  }
  pending_.push_back(std::move(item));
  const bool full = pending_.size() >= options_.batch || spans(time_ns);
  if (waiting_) {
    if (!full || !await_) return;
    await_();
  }
  if (!judge() || full) score(out);
}

bool MlFlowDetector::judge() {
  if (scorer_) return true;
  if (site_ == nullptr) return false;
  adopt_site();
  return site_->ready();
}

void MlFlowDetector::adopt_site() {
  if (site_ != nullptr && site_->take_ready(latest_ns_)) {
    spdlog::info("site baseline: scoring with {}", site_->description());
  }
}

bool MlFlowDetector::spans(std::int64_t now_ns) const {
  return now_ns - pending_first_ns_ >= static_cast<std::int64_t>(options_.span_s * 1e9);
}

bool MlFlowDetector::due(std::int64_t now_ns) const {
  if (pending_.empty() || waiting_) return false;
  if (spans(now_ns)) return true;
  return options_.live &&
         std::chrono::duration<double>(Clock::now() - pending_since_).count() >= options_.latency_s;
}

void MlFlowDetector::advance(std::int64_t now_ns, std::vector<Evidence>& out) {
  latest_ns_ = std::max(latest_ns_, now_ns);
  if (waiting_ && await_ && !pending_.empty() && spans(now_ns)) await_();
  if (due(now_ns)) score(out);
}

void MlFlowDetector::flush(std::vector<Evidence>& out) {
  waiting_ = false;
  score(out);
  if (verdicts_ != nullptr) verdicts_->flush();
}

void MlFlowDetector::give_evidence(const flow::FlowRecord& r, Evidence ev, const FlowVerdict& v,
                                   bool early, std::vector<Evidence>& out) {
  const float threshold = this->threshold();
  const double margin = margin_of(v, threshold);
  const double agreement = v.voters > 0 ? double(v.votes) / double(v.voters) : 1.0;
  ev.time_ns = std::max(r.end_ns, r.start_ns);
  ev.first_ns = r.start_ns;
  ev.host = r.src_ip;
  ev.role = Role::kAttacker;
  ev.peer = r.dst_ip;
  ev.port = r.dst_port;
  ev.ip_proto = r.ip_proto;
  ev.kind = std::string(kind::kFlowAnomaly);
  ev.detector = std::string(name());
  ev.threat = options_.threat;
  ev.confidence = std::clamp((0.2 + 0.8 * margin) * (0.5 + 0.5 * agreement), 0.0, 1.0);
  ev.subject = FlowRef::of(r).hash();
  if (early) {
    ev.description = fmt::format("(after {} packets) {}", r.packet_count, ev.description);
  }
  out.push_back(std::move(ev));
}

void MlFlowDetector::score(std::vector<Evidence>& out) {
  if (pending_.empty()) return;
  // A replay's refit is adopted here, once it has had its time beside the packets.
  adopt_site();
  const FlowScorer* site = site_ != nullptr ? site_->scorer() : nullptr;
  const FlowScorer* primary = scorer_ ? scorer_.get() : site;
  const auto t0 = Clock::now();
  // Scratch vectors keep their capacity from batch to batch: allocated afresh, a batch of 4,096
  // records (~3 MB) was new memory, and its page faults were a tenth of a flood's stage thread.
  std::vector<FlowVerdict>& verdicts = batch_verdicts_;
  verdicts.assign(pending_.size(), FlowVerdict{});
  // Early and interim reports of flows that end in this batch are not scored twice (only
  // scorable reports can be: a batch without any, such as a flood's one-packet flows, needs no
  // set of finished flows).
  const bool any_report = std::any_of(pending_.begin(), pending_.end(), [](const Item& item) {
    return !item.finished && item.note.empty();
  });
  if (pending_.size() > 1 && any_report) {
    finished_ids_.clear();
    for (const Item& item : pending_) {
      if (item.finished) finished_ids_.insert(FlowRef::of(item.record).hash());
    }
    if (!finished_ids_.empty()) {
      for (Item& item : pending_) {
        if (!item.finished && item.note.empty() &&
            finished_ids_.contains(FlowRef::of(item.record).hash())) {
          item.note = kSuperseded;
          ++stats_.early_superseded;
        }
      }
    }
  }
  // Gather the scorable records (moved out and back: records are large).
  std::vector<std::size_t>& index = index_scratch_;
  index.clear();
  if (primary != nullptr) {
    rows_.clear();
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      if (!pending_[i].note.empty()) continue;
      index.push_back(i);
      rows_.push_back(std::move(pending_[i].record));
    }
  }
  std::vector<std::size_t> evidence_rows;  // into rows_
  ScoredBatch batch;
  if (!index.empty()) {
    bool ok = true;
    try {
      primary->score(rows_, verdicts_scratch_, &batch);
    } catch (const core::Error& e) {
      // A scoring failure must not stop monitoring; the flows are still stored, unscored.
      spdlog::error("scoring {} flows failed: {}", rows_.size(), e.what());
      ok = false;
    }
    if (ok) {
      // The site baseline looks at what the generic model flagged: typical here means no evidence.
      std::vector<std::size_t> flagged;
      for (std::size_t k = 0; k < rows_.size(); ++k) {
        const FlowVerdict& v = verdicts_scratch_[k];
        if (!v.anomalous) continue;
        if (primary == scorer_.get() && margin_of(v, primary->threshold()) < options_.min_margin) {
          verdicts_scratch_[k].note = kBelowMargin;
          continue;
        }
        flagged.push_back(k);
      }
      if (site != nullptr && primary != site && !flagged.empty()) {
        std::vector<flow::FlowRecord> subset;
        subset.reserve(flagged.size());
        for (const std::size_t k : flagged) subset.push_back(rows_[k]);
        std::vector<char> typical;
        try {
          site_->typical(subset, typical);
          std::vector<std::size_t> kept;
          for (std::size_t j = 0; j < flagged.size(); ++j) {
            if (!typical[j]) {
              kept.push_back(flagged[j]);
            } else {
              verdicts_scratch_[flagged[j]].note = kTypicalHereNote;
            }
          }
          flagged = std::move(kept);
        } catch (const core::Error& e) {
          spdlog::error("site baseline scoring failed: {}", e.what());
        }
      }
      if (site_ != nullptr && site == nullptr) {
        // An early verdict is the generic model's judgement of part of a flow (it learned whole
        // flows): while this network's baseline is still learning, nothing checks it against
        // this network's normal, so it gives no evidence; the flow's final verdict still can.
        // (attacks-seed23: the first 8 packets of a keep-alive HTTP download, "FIN Flag Count
        // = 0", made a MEDIUM alert 37 s into the capture.)
        std::erase_if(flagged, [&](std::size_t k) {
          if (pending_[index[k]].finished) return false;
          verdicts_scratch_[k].note = kEarlyWhileLearning;
          ++stats_.early_held;
          return true;
        });
      }
      evidence_rows = std::move(flagged);
      for (std::size_t k = 0; k < index.size(); ++k) verdicts[index[k]] = verdicts_scratch_[k];
    }
    std::vector<Evidence> described;
    if (!evidence_rows.empty()) {
      primary->describe(rows_, batch, verdicts_scratch_, evidence_rows, described);
    }
    for (std::size_t j = 0; j < evidence_rows.size(); ++j) {
      const std::size_t k = evidence_rows[j];
      FlowVerdict& v = verdicts[index[k]];
      v.evidence = true;
      const bool finished = pending_[index[k]].finished;
      give_evidence(rows_[k], std::move(described[j]), v, !finished, out);
      if (!finished) remember(early_evidence_, evidence_order_, FlowRef::of(rows_[k]).hash());
    }
    for (std::size_t k = 0; k < index.size(); ++k) pending_[index[k]].record = std::move(rows_[k]);
    rows_.clear();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  stats_.seconds += seconds;
  // Finished flows go to the sink in order with their verdicts; the site baseline learns from them.
  std::vector<flow::FlowRecord>& finished = finished_scratch_;
  std::vector<FlowVerdict>& finished_verdicts = finished_verdicts_scratch_;
  finished.clear();
  finished_verdicts.clear();
  std::size_t early_rows = 0;
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    Item& item = pending_[i];
    FlowVerdict& v = verdicts[i];
    if (!item.note.empty()) v.note = item.note;
    if (!item.finished) {
      if (v.scored) ++early_rows;
      continue;
    }
    if (v.scored) {
      ++stats_.scored;
      if (v.anomalous) ++stats_.anomalous;
      if (v.note == kTypicalHereNote) ++stats_.typical_here;
    } else if (v.note.empty()) {
      v.note = kNoModel;
    }
    // Hashing the flow only matters when some flow gave evidence early.
    if (!early_evidence_.empty()) {
      const std::uint64_t id = FlowRef::of(item.record).hash();
      if (early_evidence_.erase(id) > 0) v.evidence = true;
    }
    if (v.evidence) ++stats_.with_evidence;
    if (site_ != nullptr && item.note.empty() &&
        (!may_learn_ || (may_learn_(item.record.src_ip) && may_learn_(item.record.dst_ip)))) {
      site_->observe(item.record);
    }
    finished.push_back(std::move(item.record));
    finished_verdicts.push_back(v);
  }
  stats_.early_scored += early_rows;
  if (!pending_.empty() && early_rows > 0) {
    stats_.early_seconds += seconds * double(early_rows) / double(index.empty() ? 1 : index.size());
  }
  pending_.clear();
  if (verdicts_ != nullptr && !finished.empty()) {
    verdicts_->on_flows(finished, finished_verdicts, threshold());
  }
  finished.clear();
  // Live, a model fitted meanwhile is taken at once; a replay takes it in a later batch (taking
  // it here would wait for the fit these flows may just have started).
  if (options_.live) adopt_site();
}

}  // namespace netsentry::detect
