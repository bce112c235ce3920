#include "detect/flow_scorer.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "detect/alert_format.h"
#include "ml/torch/torch_models.h"

namespace netsentry::detect {
namespace {

bool is_protocol_name(std::string_view name) {
  return name == "Protocol" || name == "protocol" || name == "ip_proto" || name == "proto" ||
         name == "protocol_type";
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

FlowScorer::FlowScorer(const ml::Bundle& bundle, FlowScorerOptions options)
    : bundle_(bundle), options_(options) {
  if (bundle_.models.empty()) throw core::Error("the model bundle holds no model");
  const auto& pre = bundle_.preprocessor;
  std::vector<std::string> missing;
  for (const auto& name : pre.numeric_inputs()) {
    Binding b;
    if (const auto cic = flow::cic_feature_index(name)) {
      b = {Source::kCic, *cic};
    } else if (name == "Duration" || name == "duration") {
      b.source = Source::kDuration;
    } else if (name == "PacketCount") {
      b.source = Source::kPacketCount;
    } else if (name == "ByteCount") {
      b.source = Source::kByteCount;
    } else if (name == "SourcePort" || name == "src_port" || name == "Src Port") {
      b.source = Source::kSourcePort;
    } else if (name == "DestinationPort" || name == "dst_port" || name == "Dst Port") {
      b.source = Source::kDestinationPort;
    } else if (is_protocol_name(name)) {
      b.source = Source::kIpProto;
    } else if (name == "vlan") {
      b.source = Source::kVlan;
    } else {
      missing.push_back('"' + name + '"');
      continue;
    }
    numeric_.push_back(b);
    input_names_.push_back(name);
  }
  for (const auto& name : pre.categorical_inputs()) {
    if (!is_protocol_name(name)) {
      missing.push_back('"' + name + '"');
      continue;
    }
    ++categorical_count_;
    input_names_.push_back(name);
  }
  if (!missing.empty()) {
    throw core::Error(fmt::format(
        "the model bundle needs inputs that live flows do not have: {} (train it on flow "
        "features: CIC-IDS2017 CSVs, the original's columns, or `netsentry flows` output)",
        join(missing)));
  }
  for (const auto& m : bundle_.models) {
    voting_.push_back(bundle_.ensemble.weight_of(std::string(m->name())) > 0);
  }
}

double FlowScorer::numeric_value(const flow::FlowRecord& r, const Binding& b) const {
  switch (b.source) {
    case Source::kCic:
      return r.cic[b.index];
    case Source::kDuration:
      return r.duration_s;
    case Source::kPacketCount:
      return static_cast<double>(r.packet_count);
    case Source::kByteCount:
      return static_cast<double>(r.byte_count);
    case Source::kSourcePort:
      return r.src_port;
    case Source::kDestinationPort:
      return r.dst_port;
    case Source::kIpProto:
      return r.ip_proto;
    case Source::kVlan:
      return r.vlan;
  }
  return 0.0;
}

void FlowScorer::score(std::span<const flow::FlowRecord> flows, std::vector<FlowVerdict>& verdicts,
                       ScoredBatch* batch) const {
  verdicts.assign(flows.size(), {});
  if (flows.empty()) return;
  const auto& pre = bundle_.preprocessor;
  data::Matrix x(flows.size(), pre.output_size());
  std::vector<double> numeric(numeric_.size());
  std::array<char, 8> proto_text{};
  std::vector<std::string_view> categorical(categorical_count_);
  for (std::size_t i = 0; i < flows.size(); ++i) {
    const auto& r = flows[i];
    for (std::size_t k = 0; k < numeric_.size(); ++k) numeric[k] = numeric_value(r, numeric_[k]);
    if (categorical_count_ > 0) {
      // The protocol as its number ("6"); the preprocessor canonicalises it like a CSV cell.
      const auto res = fmt::format_to_n(proto_text.data(), proto_text.size(), "{}", r.ip_proto);
      const std::string_view text(proto_text.data(), res.size);
      std::fill(categorical.begin(), categorical.end(), text);
    }
    pre.transform_record(numeric, categorical, x.row(i));
  }
  // Sequence models see each source host's flows as one sequence, as in training.
  std::vector<std::int32_t> group(flows.size());
  {
    struct IpHash {
      std::size_t operator()(const net::IpAddress& ip) const {
        std::uint64_t h = 1469598103934665603ull;  // FNV-1a
        for (const auto b : ip.bytes) h = (h ^ b) * 1099511628211ull;
        return static_cast<std::size_t>(h ^ ip.family);
      }
    };
    std::unordered_map<net::IpAddress, std::int32_t, IpHash> hosts;
    hosts.reserve(flows.size());
    for (std::size_t i = 0; i < flows.size(); ++i) {
      group[i] =
          hosts.try_emplace(flows[i].src_ip, static_cast<std::int32_t>(hosts.size())).first->second;
    }
  }
  // A packet-sequence model (the LSTM) reads each flow's first packets as the flow meter kept them.
  std::vector<data::PacketStep> packets;
  std::vector<std::size_t> packet_offset;
  if (bundle_.reads_packets()) {
    packet_offset.reserve(flows.size() + 1);
    packet_offset.push_back(0);
    for (const auto& r : flows) {
      for (const auto& p : r.first_packets) {
        packets.push_back({p.size, p.iat_us, p.direction, p.tcp_flags});
      }
      packet_offset.push_back(packets.size());
    }
  }
  // A vote bundle cascades: the LibTorch models score only rows the forests leave undecided.
  ml::ModelScores scores = bundle_.score_cascade({x, group, {packets, packet_offset}});
  const auto& ensemble = scores.at("ensemble");
  const float threshold = bundle_.ensemble.threshold();
  // The voting models' scores and thresholds, looked up once per batch. A model of weight 0 is
  // scored for the evidence only: it has no vote to count.
  std::vector<std::pair<const std::vector<float>*, float>> voters;
  for (std::size_t k = 0; k < bundle_.models.size(); ++k) {
    if (!voting_[k]) continue;
    const auto& m = bundle_.models[k];
    voters.emplace_back(&scores.at(std::string(m->name())), m->threshold());
  }
  for (std::size_t i = 0; i < flows.size(); ++i) {
    FlowVerdict& v = verdicts[i];
    v.scored = true;
    v.score = ensemble[i];
    v.anomalous = ensemble[i] > threshold;
    for (const auto& [s, model_threshold] : voters) {
      if (std::isnan((*s)[i])) continue;  // not scored: the cascade had decided the row
      ++v.voters;
      if ((*s)[i] > model_threshold) ++v.votes;
    }
  }
  if (batch != nullptr) {
    batch->x = std::move(x);
    batch->scores = std::move(scores);
  }
}

void FlowScorer::describe(std::span<const flow::FlowRecord> flows, const ScoredBatch& batch,
                          std::span<const FlowVerdict> verdicts, std::span<const std::size_t> rows,
                          std::vector<Evidence>& out) const {
  // Full descriptions for the first row of each host pair, up to described_per_batch; the rest
  // carry their scores and votes with a short sentence.
  std::vector<std::size_t> full;
  std::vector<bool> is_full(rows.size(), false);
  {
    std::unordered_map<std::uint64_t, std::size_t> first_of_pair;
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const auto& f = flows[rows[k]];
      std::uint64_t h = 1469598103934665603ull;
      for (const auto b : f.src_ip.bytes) h = (h ^ b) * 1099511628211ull;
      for (const auto b : f.dst_ip.bytes) h = (h ^ b) * 1099511628211ull;
      h = (h ^ f.ip_proto) * 1099511628211ull;
      if (first_of_pair.try_emplace(h, k).second && full.size() < options_.described_per_batch) {
        full.push_back(rows[k]);
        is_full[k] = true;
      }
    }
  }
  // The autoencoder's per-feature error explains rows it flagged; computed for those rows only.
  data::Matrix ae_errors;
  std::vector<std::size_t> ae_row(flows.size(), SIZE_MAX);
  if (const ml::Model* ae = bundle_.find("autoencoder")) {
    if (const auto* explainer = dynamic_cast<const ml::torch::ReconstructionExplainer*>(ae)) {
      const auto& s = batch.scores.at("autoencoder");
      std::vector<std::size_t> flagged;
      for (const auto i : full) {
        if (s[i] > ae->threshold()) {
          ae_row[i] = flagged.size();
          flagged.push_back(i);
        }
      }
      if (!flagged.empty()) ae_errors = explainer->feature_errors(batch.x, flagged);
    }
  }
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const std::size_t i = rows[k];
    std::vector<float> errors;
    if (ae_row[i] != SIZE_MAX) {
      const auto row = ae_errors.row(ae_row[i]);
      errors.assign(row.begin(), row.end());
    }
    out.emplace_back();
    describe_one(flows[i], batch, i, verdicts[i], errors.empty() ? nullptr : &errors, out.back(),
                 is_full[k]);
  }
}

void FlowScorer::describe_one(const flow::FlowRecord& r, const ScoredBatch& batch, std::size_t row,
                              const FlowVerdict& v, const std::vector<float>* ae_errors,
                              Evidence& e, bool full) const {
  const auto& pre = bundle_.preprocessor;
  const float threshold = bundle_.ensemble.threshold();
  e.score = v.score;
  e.votes = v.votes;
  e.voters = v.voters;
  e.flows.push_back(FlowRef::of(r));
  const std::string_view proto = flow::protocol_name(r.ip_proto);
  // Models of weight 0 are named apart in the full description: their verdicts are evidence, not
  // votes.
  std::string unvoted;
  for (std::size_t k = 0; k < bundle_.models.size(); ++k) {
    const auto& m = bundle_.models[k];
    const float s = batch.scores.at(std::string(m->name()))[row];
    e.models.push_back({std::string(m->name()), s, m->threshold(), s > m->threshold()});
    const ModelVote& mv = e.models.back();
    if (full && !voting_[k] && !std::isnan(s)) {
      unvoted += fmt::format("{}{} {}", unvoted.empty() ? "" : ", ", mv.model,
                             mv.vote ? "flags it" : "does not");
    }
  }
  if (!full) {
    e.description = fmt::format("Unusual {} flow {} → {}: ensemble score {:.2f}", proto,
                                format_endpoint(r.src_ip, r.src_port),
                                format_endpoint(r.dst_ip, r.dst_port), v.score);
    return;
  }
  // Evidence: numeric features ranked by the autoencoder's error when it flagged the row, else by
  // |z| against the training data.
  const std::size_t numeric = pre.numeric_output_count();
  const auto& names = pre.feature_names();
  std::vector<std::size_t> order(numeric);
  std::iota(order.begin(), order.end(), 0);
  const auto weight = [&](std::size_t j) -> double {
    return ae_errors ? (*ae_errors)[j] : std::abs(static_cast<double>(batch.x.at(row, j)));
  };
  const std::size_t k = std::min(options_.evidence_features, numeric);
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](std::size_t p, std::size_t q) { return weight(p) > weight(q); });
  for (std::size_t n = 0; n < k; ++n) {
    const std::size_t j = order[n];
    e.deviations.push_back({names[j], pre.raw_value(j, batch.x.at(row, j)), pre.typical_value(j),
                            ae_errors ? (*ae_errors)[j] : static_cast<double>(batch.x.at(row, j))});
  }
  std::string text = fmt::format(
      "Unusual {} flow {} → {}: ensemble score {:.2f} over its threshold {:.2f}, {} of {} "
      "{}models agree{}; {} packets, {} bytes in {}",
      proto.empty() ? "IP" : proto, format_endpoint(r.src_ip, r.src_port),
      format_endpoint(r.dst_ip, r.dst_port), v.score, threshold, v.votes, v.voters,
      unvoted.empty() ? "" : "voting ",
      unvoted.empty() ? "" : " (scored without a vote: " + unvoted + ")",
      format_count(r.packet_count), format_count(r.byte_count), format_duration(r.duration_s));
  if (!e.deviations.empty()) {
    const auto& top = e.deviations.front();
    text += fmt::format("; most unusual: {} = {} (typical {})", top.feature,
                        format_number(top.value), format_number(top.expected));
  }
  e.description = std::move(text);
}

}  // namespace netsentry::detect
