#include "detect/flow_scorer.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <string_view>
#include <unordered_map>

#include "core/error.h"
#include "detect/alert_format.h"
#include "ml/torch/torch_models.h"

namespace netsentry::detect {
namespace {

constexpr std::size_t kExplainedPerBatch = 64;

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
                       std::vector<Alert>& alerts) const {
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
      group[i] = hosts.try_emplace(flows[i].src_ip, static_cast<std::int32_t>(hosts.size()))
                     .first->second;
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
  const ml::ModelScores scores = bundle_.score({x, group, {packets, packet_offset}});
  const auto& ensemble = scores.at("ensemble");
  const float threshold = bundle_.ensemble.threshold();
  std::vector<std::size_t> anomalous;
  for (std::size_t i = 0; i < flows.size(); ++i) {
    FlowVerdict& v = verdicts[i];
    v.score = ensemble[i];
    v.anomalous = ensemble[i] > threshold;
    for (const auto& m : bundle_.models) {
      const auto& s = scores.at(std::string(m->name()));
      ++v.voters;
      if (s[i] > m->threshold()) ++v.votes;
    }
    if (v.anomalous) anomalous.push_back(i);
  }
  if (anomalous.empty()) return;
  // One full alert (reason, evidence) per host pair and batch: the aggregator folds the others
  // into it anyway, so they only carry their subject, scores and votes. On an attack-heavy link
  // this keeps alert building from costing more than the scoring.
  std::vector<std::size_t> explained;
  std::vector<std::size_t> brief;
  // Repeats of an explained pair (same source, destination and protocol) are folded into its
  // alert as a count right here: the aggregator would fold them anyway, and an attack-heavy link
  // otherwise builds (and aggregates) one alert object per flow.
  std::vector<std::size_t> repeat_of(flows.size(), SIZE_MAX);
  {
    std::unordered_map<std::uint64_t, std::size_t> first_of_pair;
    for (const auto i : anomalous) {
      std::uint64_t h = 1469598103934665603ull;
      for (const auto b : flows[i].src_ip.bytes) h = (h ^ b) * 1099511628211ull;
      for (const auto b : flows[i].dst_ip.bytes) h = (h ^ b) * 1099511628211ull;
      h = (h ^ flows[i].ip_proto) * 1099511628211ull;
      const auto [it, first] = first_of_pair.try_emplace(h, i);
      if (first) {
        // A spoofed flood makes every pair new: past a few dozen, the rest are brief.
        (explained.size() < kExplainedPerBatch ? explained : brief).push_back(i);
      } else {
        repeat_of[i] = it->second;
      }
    }
  }
  // The autoencoder's per-feature error explains rows it flagged; computed for those rows only.
  data::Matrix ae_errors;
  std::vector<std::size_t> ae_row(flows.size(), SIZE_MAX);
  if (const ml::Model* ae = bundle_.find("autoencoder")) {
    if (const auto* explainer = dynamic_cast<const ml::torch::ReconstructionExplainer*>(ae)) {
      const auto& s = scores.at("autoencoder");
      std::vector<std::size_t> rows;
      for (const auto i : explained) {
        if (s[i] > ae->threshold()) {
          ae_row[i] = rows.size();
          rows.push_back(i);
        }
      }
      if (!rows.empty()) ae_errors = explainer->feature_errors(x, rows);
    }
  }
  std::vector<std::size_t> alert_of(flows.size(), SIZE_MAX);
  for (const auto i : explained) {
    std::vector<float> errors;
    if (ae_row[i] != SIZE_MAX) {
      const auto row = ae_errors.row(ae_row[i]);
      errors.assign(row.begin(), row.end());
    }
    alert_of[i] = alerts.size();
    alerts.emplace_back();
    build_alert(flows[i], x, i, scores, verdicts[i], errors.empty() ? nullptr : &errors,
                alerts.back(), true);
  }
  for (const auto i : brief) {
    alert_of[i] = alerts.size();
    alerts.emplace_back();
    build_alert(flows[i], x, i, scores, verdicts[i], nullptr, alerts.back(), false);
  }
  for (const auto i : anomalous) {
    if (repeat_of[i] == SIZE_MAX) continue;
    Alert& a = alerts[alert_of[repeat_of[i]]];
    ++a.count;
    a.time_ns = std::min(a.time_ns, flows[i].start_ns);
    a.last_ns = std::max(a.last_ns, flows[i].end_ns);
    a.score = std::max(a.score, verdicts[i].score);
    a.votes = std::max(a.votes, verdicts[i].votes);
  }
}

void FlowScorer::build_alert(const flow::FlowRecord& r, const data::Matrix& x, std::size_t row,
                             const ml::ModelScores& scores, const FlowVerdict& v,
                             const std::vector<float>* ae_errors, Alert& a, bool explain) const {
  const auto& pre = bundle_.preprocessor;
  const float threshold = bundle_.ensemble.threshold();
  a.time_ns = r.start_ns;
  a.last_ns = r.end_ns;
  a.kind = std::string(kind::kFlowAnomaly);
  a.src_ip = r.src_ip;
  a.src_port = r.src_port;
  a.dst_ip = r.dst_ip;
  a.dst_port = r.dst_port;
  a.protocol = std::string(flow::protocol_name(r.ip_proto));
  a.score = v.score;
  a.votes = v.votes;
  a.voters = v.voters;
  for (const auto& m : bundle_.models) {
    const float s = scores.at(std::string(m->name()))[row];
    a.models.push_back({std::string(m->name()), s, m->threshold(), s > m->threshold()});
  }
  const double room = std::max(1e-6, 1.0 - static_cast<double>(threshold));
  const double margin = (static_cast<double>(v.score) - threshold) / room;
  if (margin >= options_.critical_margin && v.votes == v.voters) {
    a.severity = Severity::kCritical;
  } else if (margin >= options_.high_margin || v.votes >= std::max(1, v.voters - 1)) {
    a.severity = Severity::kHigh;
  } else if (2 * v.votes >= v.voters) {
    a.severity = Severity::kMedium;
  } else {
    a.severity = Severity::kLow;
  }

  if (!explain) {
    a.reason = fmt::format("Unusual {} flow {} → {}: ensemble score {:.2f}", a.protocol,
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
    return ae_errors ? (*ae_errors)[j] : std::abs(static_cast<double>(x.at(row, j)));
  };
  const std::size_t k = std::min(options_.evidence_features, numeric);
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](std::size_t p, std::size_t q) { return weight(p) > weight(q); });
  for (std::size_t e = 0; e < k; ++e) {
    const std::size_t j = order[e];
    a.evidence.push_back({names[j], pre.raw_value(j, x.at(row, j)), pre.typical_value(j),
                          ae_errors ? (*ae_errors)[j] : static_cast<double>(x.at(row, j))});
  }

  std::string reason = fmt::format(
      "Unusual {} flow {} → {}: ensemble score {:.2f} over its threshold {:.2f}, {} of {} "
      "models agree; {} packets, {} bytes in {}",
      a.protocol.empty() ? "IP" : a.protocol, format_endpoint(r.src_ip, r.src_port),
      format_endpoint(r.dst_ip, r.dst_port), v.score, threshold, v.votes, v.voters,
      format_count(r.packet_count), format_count(r.byte_count), format_duration(r.duration_s));
  if (!a.evidence.empty()) {
    const auto& top = a.evidence.front();
    reason += fmt::format("; most unusual: {} = {} (typical {})", top.feature,
                          format_number(top.value), format_number(top.expected));
  }
  a.reason = std::move(reason);
}

}  // namespace netsentry::detect
