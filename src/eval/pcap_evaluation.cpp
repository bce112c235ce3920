#include "eval/pcap_evaluation.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <utility>

#include "core/error.h"
#include "eval/evaluation.h"
#include "flow/flow_format.h"
#include "ml/metrics.h"

namespace netsentry::eval {
namespace {

// When an alert of the episode's source covers part of the episode: the first packet time of
// the alert's span [time_ns, last_ns] inside the episode's window [start - lead, end + slack].
// An alert that folds repeats spans them all, so it also covers a later episode of the same
// source (a second scan 4 s after the first), which its first time alone would miss.
std::optional<std::int64_t> first_overlap(const Episode& e, const detect::Alert& a) {
  const auto has = [](const net::IpAddress& ip) { return ip.family != 0; };
  const bool by_address =
      (has(a.src_ip) && e.src.contains(a.src_ip)) || (has(a.dst_ip) && e.src.contains(a.dst_ip)) ||
      (!has(a.src_ip) && has(a.dst_ip) && e.src_is_prefix() && (!e.dst || *e.dst == a.dst_ip));
  if (!by_address) return std::nullopt;
  const auto ns = [](double s) { return static_cast<std::int64_t>(s * 1e9); };
  const std::int64_t from = e.start_ns - ns(kAlertLeadSeconds);
  const std::int64_t to = e.end_ns + ns(kFlowSlackSeconds);
  const std::int64_t last = std::max(a.time_ns, a.last_ns);
  if (last < from || a.time_ns > to) return std::nullopt;
  return std::max(a.time_ns, e.start_ns);
}

std::string utc(std::int64_t ns) {
  std::string out;
  flow::append_timestamp_utc(ns, out);
  return out;
}

std::string kinds_text(const std::map<std::string, std::uint64_t>& kinds) {
  std::string out;
  for (const auto& [kind, n] : kinds) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {}", kind, n);
  }
  return out.empty() ? "-" : out;
}

std::optional<double> quantile(std::vector<double> values, double q) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(pos);
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (pos - static_cast<double>(lo));
}

// The flagged flows this network's baseline called typical: benign ones, and attack ones (every
// other label).
std::pair<std::uint64_t, std::uint64_t> typical_here(const FlowLevelResult& f) {
  std::uint64_t benign = 0;
  std::uint64_t attack = 0;
  for (const auto& [label, n] : f.typical_here_by_label) {
    (label == kBenignLabel ? benign : attack) += n;
  }
  return {benign, attack};
}

}  // namespace

double PcapEvaluation::false_alerts_per_hour() const {
  const double hours = duration_s() / 3600.0;
  return hours > 0 ? static_cast<double>(false_alerts) / hours : 0.0;
}

double PcapEvaluation::false_alerts_above_low_per_hour() const {
  const double hours = duration_s() / 3600.0;
  return hours > 0 ? static_cast<double>(false_alerts_above_low) / hours : 0.0;
}

std::optional<double> PcapEvaluation::time_to_first_alert_quantile(double q) const {
  std::vector<double> values;
  for (std::size_t i = 0; i < episodes.size() && i < outcomes.size(); ++i) {
    if (outcomes[i].first_alert_ns) {
      values.push_back(static_cast<double>(*outcomes[i].first_alert_ns - episodes[i].start_ns) /
                       1e9);
    }
  }
  return quantile(std::move(values), q);
}

std::optional<double> PcapEvaluation::time_after_threshold_quantile(double q) const {
  std::vector<double> values;
  for (const EpisodeOutcome& o : outcomes) {
    if (o.first_alert_ns && o.threshold_ns) {
      values.push_back(
          std::max(0.0, static_cast<double>(*o.first_alert_ns - *o.threshold_ns) / 1e9));
    }
  }
  return quantile(std::move(values), q);
}

std::uint64_t PcapEvaluation::detected_episodes() const {
  return static_cast<std::uint64_t>(std::count_if(
      outcomes.begin(), outcomes.end(), [](const EpisodeOutcome& o) { return o.detected(); }));
}

PcapEvaluator::PcapEvaluator(const EpisodeLabels& labels)
    : labels_(labels),
      episode_flows_(labels.size(), 0),
      episode_packets_(labels.size(), 0),
      first_seen_(labels.size()) {
  flows_.label_names.emplace_back(kBenignLabel);
  label_index_.emplace(std::string(kBenignLabel), 0);
}

void PcapEvaluator::observe_flows(std::span<const flow::FlowRecord> flows) {
  std::lock_guard lock(mutex_);
  for (const auto& f : flows) {
    first_ns_ = std::min(first_ns_, f.start_ns);
    last_ns_ = std::max(last_ns_, f.end_ns);
    now_ns_ = std::max(now_ns_, f.end_ns);
  }
}

void PcapEvaluator::observe_time(std::int64_t now_ns) {
  std::lock_guard lock(mutex_);
  now_ns_ = std::max(now_ns_, now_ns);
}

void PcapEvaluator::observe_flood(const flow::FloodSummary& s) {
  const std::uint64_t packets = s.attempts + s.replies + s.resets;
  if (packets == 0) return;
  std::lock_guard lock(mutex_);
  first_ns_ = std::min(first_ns_, s.first_ns);
  last_ns_ = std::max(last_ns_, s.last_ns);
  now_ns_ = std::max(now_ns_, s.last_ns);
  if (const auto episode = labels_.match_flow(s.source, s.dst, s.first_ns, s.last_ns)) {
    episode_packets_[*episode] += packets;
  }
}

void PcapEvaluator::on_flows(std::span<const flow::FlowRecord> flows,
                             std::span<const detect::FlowVerdict> verdicts, float threshold) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < flows.size(); ++i) {
    const auto& f = flows[i];
    if (f.end_reason == flow::EndReason::kOngoing) continue;
    first_ns_ = std::min(first_ns_, f.start_ns);
    last_ns_ = std::max(last_ns_, f.end_ns);
    ++flows_.flows;
    const auto episode = labels_.match_flow(f);
    const std::string_view label =
        episode ? std::string_view(labels_.episodes()[*episode].kind) : kBenignLabel;
    ++flows_.by_label[std::string(label)];
    if (episode) {
      ++episode_flows_[*episode];
      episode_packets_[*episode] += f.packet_count;
    }
    if (i < verdicts.size() && verdicts[i].evidence) {
      ++flows_.with_evidence;
      if (!episode) ++flows_.benign_with_evidence;
    }
    if (i >= verdicts.size() || !verdicts[i].scored) {
      ++flows_.unscored;
      continue;
    }
    if (verdicts[i].anomalous) ++(episode ? flows_.flagged_attack : flows_.flagged_benign);
    if (verdicts[i].note == detect::kTypicalHereNote) {
      ++flows_.typical_here_by_label[std::string(label)];
    }
    auto [it, added] = label_index_.try_emplace(
        std::string(label), static_cast<std::int32_t>(flows_.label_names.size()));
    if (added) flows_.label_names.emplace_back(label);
    flows_.threshold = threshold;
    flows_.y.push_back(episode ? 1 : 0);
    flows_.scores.push_back(verdicts[i].score);
    flows_.label_code.push_back(it->second);
  }
}

void PcapEvaluator::on_alert(const detect::Alert& alert, detect::AlertChange change) {
  std::lock_guard lock(mutex_);
  auto [it, added] = alerts_.try_emplace(alert.id);
  it->second.alert = alert;
  // The first delivery is when the monitor told the user; later ones add evidence.
  if (added) it->second.raised_ns = std::max(now_ns_, alert.time_ns);
  (void)change;
  // An episode is seen at the first delivery naming its host that holds evidence from its time.
  const auto ns = [](double s) { return static_cast<std::int64_t>(s * 1e9); };
  const auto& episodes = labels_.episodes();
  for (std::size_t i = 0; i < episodes.size(); ++i) {
    if (first_seen_[i]) continue;
    const Episode& e = episodes[i];
    const auto has = [](const net::IpAddress& ip) { return ip.family != 0; };
    // The alert names the episode's source when its host is it, or when a piece of its evidence
    // about this time names it (a victim's alert naming the flood's source); a spoofed flood's
    // victim stands for its prefix of sources.
    const auto names = [&](const net::IpAddress& host, const net::IpAddress& peer) {
      return (has(host) && e.src.contains(host)) || (has(peer) && e.src.contains(peer)) ||
             (has(host) && e.src_is_prefix() && e.dst && *e.dst == host);
    };
    const bool whole = names(alert.host, alert.src_ip);
    const std::int64_t from = e.start_ns - ns(kAlertLeadSeconds);
    const std::int64_t to = e.end_ns + ns(kFlowSlackSeconds);
    // `seen`: the earliest episode evidence in the delivery (the episode is in an alert from then
    // on); `crossed`: when the evidence of the alert's own kind concluded, i.e. the detector the
    // alert is named for crossed its threshold. Weaker evidence of another kind that came first
    // (an early ML verdict that alone stayed below the alert threshold) does not start the
    // detector's clock; when no evidence of the alert's kind is about the episode, the earliest
    // evidence does.
    std::optional<std::int64_t> seen, crossed;
    for (const detect::Evidence& ev : alert.evidence) {
      if (!whole && !names(ev.host, ev.peer)) continue;
      const std::int64_t first = ev.first_ns != 0 ? ev.first_ns : ev.time_ns;
      if (ev.time_ns < from || first > to) continue;
      // Evidence that concluded before the episode began (an earlier episode's summary) says
      // nothing about this one's speed.
      const std::int64_t at = std::max(ev.time_ns, e.start_ns);
      if (!seen || at < *seen) seen = at;
      if (ev.kind == alert.kind && (!crossed || at < *crossed)) crossed = at;
    }
    if (!seen) continue;
    first_seen_[i] = FirstSeen{std::max(now_ns_, *seen), crossed.value_or(*seen)};
  }
}

PcapEvaluation PcapEvaluator::result() const {
  std::lock_guard lock(mutex_);
  PcapEvaluation r;
  r.episodes = labels_.episodes();
  r.outcomes.resize(r.episodes.size());
  for (std::size_t i = 0; i < r.episodes.size(); ++i) {
    r.outcomes[i].flows = episode_flows_[i];
    r.outcomes[i].packets = episode_packets_[i];
  }
  if (first_ns_ <= last_ns_) {
    r.first_ns = first_ns_;
    r.last_ns = last_ns_;
  }
  r.flows = flows_;
  for (const auto& [id, seen] : alerts_) {
    const detect::Alert& a = seen.alert;
    ++r.alerts;
    r.alert_events += a.count;
    const auto attributed = labels_.attribute_alert(a);
    // Every episode the alert covers counts it: the one it is attributed to (first raised at
    // raised_ns), and the others of its source that its folded span overlaps.
    for (std::size_t i = 0; i < r.episodes.size(); ++i) {
      std::optional<std::int64_t> at;
      if (attributed && *attributed == i) {
        at = seen.raised_ns;
      } else {
        at = first_overlap(r.episodes[i], a);
      }
      if (!at) continue;
      EpisodeOutcome& o = r.outcomes[i];
      ++o.alerts;
      o.alert_events += a.count;
      ++o.alert_kinds[a.kind];
      for (const detect::Evidence& ev : a.evidence) {
        if (ev.kind != a.kind) ++o.alert_kinds[ev.kind];
      }
      if (!o.first_alert_ns || *at < *o.first_alert_ns) o.first_alert_ns = *at;
    }
    if (attributed) {
      ++r.attributed_alerts;
      continue;
    }
    bool coinciding = false;
    for (std::size_t i = 0; i < r.episodes.size(); ++i) {
      if (match_alert(r.episodes[i], a) == AlertMatch::kCoinciding) {
        ++r.outcomes[i].coinciding_alerts;
        coinciding = true;
      }
    }
    if (coinciding) {
      ++r.coinciding_alerts;
    } else {
      ++r.false_alerts;
      ++r.false_alerts_by_kind[a.kind];
      if (a.severity > detect::Severity::kLow) ++r.false_alerts_above_low;
      if (r.false_alert_reasons.size() < 20) {
        r.false_alert_reasons.push_back(fmt::format(
            "#{} {} {}: {}", a.id, detect::severity_name(a.severity), a.kind, a.reason));
      }
    }
  }
  // The first delivery holding an episode's evidence is when the user learnt of it.
  for (std::size_t i = 0; i < r.episodes.size(); ++i) {
    EpisodeOutcome& o = r.outcomes[i];
    if (!o.detected() || !first_seen_[i]) continue;
    if (!o.first_alert_ns || first_seen_[i]->delivered_ns < *o.first_alert_ns) {
      o.first_alert_ns = first_seen_[i]->delivered_ns;
    }
    o.threshold_ns = first_seen_[i]->threshold_ns;
  }
  return r;
}

std::string format_pcap_evaluation(const PcapEvaluation& r) {
  std::string out;
  auto it = std::back_inserter(out);
  fmt::format_to(it, "evaluation of {} against {} ({} episodes), {}\n", r.capture, r.labels,
                 r.episodes.size(),
                 r.model.empty() ? "rules and detectors only (no model)" : "model " + r.model);
  fmt::format_to(it, "capture: {} packets, {} flows, {:.1f} s of packet time ({} .. {})\n",
                 r.packets, r.flows.flows, r.duration_s(), utc(r.first_ns), utc(r.last_ns));
  fmt::format_to(it, "flows by label: {}\n", kinds_text(r.flows.by_label));
  {
    std::uint64_t benign = 0;
    if (const auto b = r.flows.by_label.find(std::string(kBenignLabel));
        b != r.flows.by_label.end()) {
      benign = b->second;
    }
    fmt::format_to(
        it,
        "flows with ML evidence: {} of {} ({:.2f}%); benign flows with ML evidence: {} "
        "of {} ({:.2f}%)\n",
        r.flows.with_evidence, r.flows.flows,
        r.flows.flows ? 100.0 * double(r.flows.with_evidence) / double(r.flows.flows) : 0.0,
        r.flows.benign_with_evidence, benign,
        benign ? 100.0 * double(r.flows.benign_with_evidence) / double(benign) : 0.0);
  }

  if (!r.site_baseline.empty()) {
    const auto [typical_benign, typical_attack] = typical_here(r.flows);
    fmt::format_to(it,
                   "site baseline: {}; of the flows the model flagged ({} benign, {} attack) it "
                   "called {} benign and {} attack flows typical of this network (no evidence)\n",
                   r.site_baseline, r.flows.flagged_benign, r.flows.flagged_attack, typical_benign,
                   typical_attack);
    if (!r.flows.typical_here_by_label.empty()) {
      fmt::format_to(it, "  typical of this network by label: {}\n",
                     kinds_text(r.flows.typical_here_by_label));
    }
  }

  out += "\n--- flow level: every finished flow's ensemble verdict against its label\n";
  if (!r.flows.scored()) {
    out += "not scored: no model (the rules and detectors judge hosts, not single flows)\n";
  } else {
    if (r.flows.unscored > 0) {
      fmt::format_to(it, "({} flows without a verdict are left out)\n", r.flows.unscored);
    }
    ScoredModel m;
    m.name = "ensemble";
    m.scores = r.flows.scores;
    m.result = ml::evaluate_binary(r.flows.y, m.scores, r.flows.threshold);
    m.predicted.resize(m.scores.size());
    for (std::size_t i = 0; i < m.scores.size(); ++i) {
      m.predicted[i] = m.scores[i] > r.flows.threshold ? 1 : 0;
    }
    data::Dataset labels;
    labels.y = r.flows.y;
    labels.class_code = r.flows.label_code;
    labels.class_names = r.flows.label_names;
    std::vector<std::size_t> rows(r.flows.y.size());
    std::iota(rows.begin(), rows.end(), std::size_t{0});
    out += format_evaluation({m}, labels, rows);
  }

  fmt::format_to(it, "\n--- attack level: {} of {} episodes detected\n", r.detected_episodes(),
                 r.episodes.size());
  fmt::format_to(it, "{:<13} {:<15} {:<11} {:>8} {:>6} {:>7} {:>8} {:<8} {:>11} {:>9} {:>6}  {}\n",
                 "kind", "src", "dst", "start_s", "dur_s", "flows", "packets", "detected",
                 "1st_alert_s", "after_thr", "alerts", "alert kinds");
  for (std::size_t i = 0; i < r.episodes.size(); ++i) {
    const Episode& e = r.episodes[i];
    const EpisodeOutcome& o = r.outcomes[i];
    const double offset = static_cast<double>(e.start_ns - r.first_ns) / 1e9;
    const std::string first =
        o.first_alert_ns
            ? fmt::format("{:+.1f}", static_cast<double>(*o.first_alert_ns - e.start_ns) / 1e9)
            : std::string("-");
    const std::string after =
        o.first_alert_ns && o.threshold_ns
            ? fmt::format("{:.1f}",
                          std::max(0.0, double(*o.first_alert_ns - *o.threshold_ns) / 1e9))
            : std::string("-");
    fmt::format_to(
        it, "{:<13} {:<15} {:<11} {:>8.1f} {:>6.1f} {:>7} {:>8} {:<8} {:>11} {:>9} {:>6}  {}{}\n",
        e.kind, e.src_text, e.dst_text.empty() ? "(many)" : e.dst_text, offset, e.end_s - e.start_s,
        o.flows, o.packets, o.detected() ? "yes" : "NO", first, after, o.alerts,
        kinds_text(o.alert_kinds),
        o.coinciding_alerts
            ? fmt::format("  (+{} address-less alerts in its window)", o.coinciding_alerts)
            : std::string());
  }
  out +=
      "(start_s: from the capture's first packet; 1st_alert_s: packet time of the first alert "
      "delivery holding evidence from the episode, from the episode's start; after_thr: from the "
      "time the evidence of the alert's kind concluded, i.e. its detector crossed its "
      "threshold)\n";
  const auto show = [](std::optional<double> v) {
    return v ? fmt::format("{:.1f} s", *v) : std::string("-");
  };
  fmt::format_to(
      it,
      "time to first alert over detected episodes: p50 {}, p95 {} from the episode's "
      "start; p50 {}, p95 {} after the threshold\n",
      show(r.time_to_first_alert_quantile(0.5)), show(r.time_to_first_alert_quantile(0.95)),
      show(r.time_after_threshold_quantile(0.5)), show(r.time_after_threshold_quantile(0.95)));

  fmt::format_to(it,
                 "\n--- alerts: {} distinct ({} events), {} attributed to episodes, {} "
                 "address-less inside an episode's window\n",
                 r.alerts, r.alert_events, r.attributed_alerts, r.coinciding_alerts);
  fmt::format_to(it, "false alerts: {} ({:.1f} per hour of capture){}{}\n", r.false_alerts,
                 r.false_alerts_per_hour(), r.false_alerts ? ": " : "",
                 r.false_alerts ? kinds_text(r.false_alerts_by_kind) : std::string());
  fmt::format_to(it, "false alerts above LOW: {} ({:.1f} per hour of capture)\n",
                 r.false_alerts_above_low, r.false_alerts_above_low_per_hour());
  for (const std::string& reason : r.false_alert_reasons) fmt::format_to(it, "  {}\n", reason);
  return out;
}

nlohmann::json pcap_evaluation_json(const PcapEvaluation& r) {
  using nlohmann::json;
  json j;
  j["capture"] = r.capture;
  j["labels"] = r.labels;
  j["model"] = r.model.empty() ? json(nullptr) : json(r.model);
  j["packets"] = r.packets;
  j["start"] = utc(r.first_ns);
  j["end"] = utc(r.last_ns);
  j["duration_s"] = r.duration_s();

  json flows;
  flows["flows"] = r.flows.flows;
  flows["by_label"] = r.flows.by_label;
  flows["scored"] = r.flows.scored();
  flows["unscored"] = r.flows.unscored;
  flows["with_ml_evidence"] = r.flows.with_evidence;
  flows["benign_with_ml_evidence"] = r.flows.benign_with_evidence;
  if (r.flows.scored()) {
    flows["ensemble"] =
        ml::to_json(ml::evaluate_binary(r.flows.y, r.flows.scores, r.flows.threshold));
  } else {
    flows["ensemble"] = nullptr;
  }
  json site;
  site["state"] = r.site_baseline.empty() ? json(nullptr) : json(r.site_baseline);
  site["flagged"] = {{"benign", r.flows.flagged_benign}, {"attack", r.flows.flagged_attack}};
  const auto [typical_benign, typical_attack] = typical_here(r.flows);
  site["typical_here"] = {{"benign", typical_benign},
                          {"attack", typical_attack},
                          {"by_label", r.flows.typical_here_by_label}};
  flows["site_baseline"] = std::move(site);
  j["flow_level"] = std::move(flows);

  json episodes = json::array();
  for (std::size_t i = 0; i < r.episodes.size(); ++i) {
    const Episode& e = r.episodes[i];
    const EpisodeOutcome& o = r.outcomes[i];
    json x;
    x["kind"] = e.kind;
    x["src"] = e.src_text;
    x["dst"] = e.dst_text;
    x["start"] = e.start_s;
    x["end"] = e.end_s;
    x["tool"] = e.tool;
    x["flows"] = o.flows;
    x["packets"] = o.packets;
    x["detected"] = o.detected();
    x["alerts"] = o.alerts;
    x["alert_events"] = o.alert_events;
    x["alert_kinds"] = o.alert_kinds;
    x["time_to_first_alert_s"] =
        o.first_alert_ns ? json(static_cast<double>(*o.first_alert_ns - e.start_ns) / 1e9)
                         : json(nullptr);
    x["time_after_threshold_s"] =
        o.first_alert_ns && o.threshold_ns
            ? json(std::max(0.0, static_cast<double>(*o.first_alert_ns - *o.threshold_ns) / 1e9))
            : json(nullptr);
    x["coinciding_alerts"] = o.coinciding_alerts;
    episodes.push_back(std::move(x));
  }
  j["episodes"] = std::move(episodes);
  const auto opt = [](std::optional<double> v) { return v ? json(*v) : json(nullptr); };
  j["attacks"] = {{"episodes", r.episodes.size()},
                  {"detected", r.detected_episodes()},
                  {"time_to_first_alert_s",
                   {{"p50", opt(r.time_to_first_alert_quantile(0.5))},
                    {"p95", opt(r.time_to_first_alert_quantile(0.95))}}},
                  {"time_after_threshold_s",
                   {{"p50", opt(r.time_after_threshold_quantile(0.5))},
                    {"p95", opt(r.time_after_threshold_quantile(0.95))}}}};
  j["alerts"] = {{"distinct", r.alerts},
                 {"events", r.alert_events},
                 {"attributed", r.attributed_alerts},
                 {"coinciding", r.coinciding_alerts}};
  j["false_alerts"] = {{"total", r.false_alerts},
                       {"by_kind", r.false_alerts_by_kind},
                       {"per_hour", r.false_alerts_per_hour()},
                       {"above_low", r.false_alerts_above_low},
                       {"above_low_per_hour", r.false_alerts_above_low_per_hour()},
                       {"reasons", r.false_alert_reasons}};
  return j;
}

}  // namespace netsentry::eval
