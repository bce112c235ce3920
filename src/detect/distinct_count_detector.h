// Provides detect::DistinctCountDetector<Rule>, what the scan rules share: probes (attempts that
// got no service, see detect::Attempt) counted per subject within a packet-time window as the
// number of distinct values they reached (ports, hosts); a subject's first probe waits outside
// the table (one probe is no scan); evidence when the count crosses the rule's threshold and
// critical_factor times it, and a summary when an alerted subject's window closes with more.
// A Rule is a struct of static members:
//   kName, kKind, kDeviation     the detector's name, its evidence kind and the name of the
//                                count among the evidence's deviations;
//   kIdentity                    values index DistinctCounter's bitmap directly (exact) or are
//                                hashes (DistinctCounter::add);
//   threshold(options)           the distinct count that makes a scan (0 disables the rule);
//   counts(probe), key(probe)    whether the rule counts a probe, and the subject it counts for;
//   value(probe)                 the distinct value a probe adds;
//   FirstProbe, first_probe(probe), restore(attempt, first)
//                                what a waiting first probe keeps besides its key, and putting it
//                                back into an Attempt;
//   describe(evidence, key, at_least, count, seconds)
//                                the evidence's description and rule-specific fields.
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/host_detectors.h"
#include "detect/windowed_table.h"

namespace netsentry::detect {

template <class Rule>
class DistinctCountDetector : public Detector {
 public:
  explicit DistinctCountDetector(const HostDetectorOptions& options)
      : options_(options),
        table_(options.window_ns, options.max_tracked),
        waiting_(16'384, options.window_ns) {
    validate(options_);
    budget_.limit = options_.max_sketches;
  }

  [[nodiscard]] std::string_view name() const override { return Rule::kName; }

  void on_attempt(const Attempt& p, std::vector<Evidence>& out) override {
    if (!p.probe()) return;
    if (threshold() == 0 || !Rule::counts(p)) return;
    const SubjectKey key = Rule::key(p);
    typename Table::Entry* e = table_.find(key);
    if (e == nullptr) {
      // A subject's first probe waits outside the table: one probe is no scan.
      const std::optional<FirstProbe> first = waiting_.admit(key, p.time_ns, Rule::first_probe(p));
      if (!first) return;
      Attempt earlier = p;
      Rule::restore(earlier, *first);
      e = &table_.touch(key, earlier.time_ns, closer(out));
      count(*e, earlier, out);
    }
    e = &table_.touch(key, p.time_ns, closer(out));
    count(*e, p, out);
  }

  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override {
    table_.expire(now_ns, closer(out));
  }

  void flush(std::vector<Evidence>& out) override { table_.close_all(closer(out)); }

  [[nodiscard]] DetectorStats stats() const override {
    return {evidence_, table_.evictions(), table_.size()};
  }

 private:
  static constexpr std::size_t kRecent = 3;  // probes kept as the evidence's flows

  struct State : Track {
    DistinctCounter distinct;
    std::uint64_t probes = 0;
    std::vector<FlowRef> recent;  // the last few probes
  };
  using Table = SubjectTable<State>;
  using FirstProbe = typename Rule::FirstProbe;

  [[nodiscard]] std::size_t threshold() const { return Rule::threshold(options_); }

  [[nodiscard]] auto closer(std::vector<Evidence>& out) {
    return [this, &out](const typename Table::Entry& e) {
      if (e.state.grew(e.state.distinct.count(Rule::kIdentity))) {
        out.push_back(make(e, e.state.level));
        ++evidence_;
      }
    };
  }

  [[nodiscard]] Evidence make(const typename Table::Entry& e, int level) const {
    const State& s = e.state;
    const std::uint64_t distinct = s.distinct.count(Rule::kIdentity);
    const double threshold = double(this->threshold());
    Evidence ev =
        rule_evidence(Rule::kKind, name(), e.key, s, level,
                      rule_confidence(double(distinct), threshold, options_.critical_factor));
    ev.host = e.key.src;
    ev.role = Role::kAttacker;
    ev.count = s.probes;
    ev.score = static_cast<float>(double(distinct) / threshold);
    ev.flows = s.recent;
    Rule::describe(ev, e.key, s.distinct.saturated() ? "at least " : "", distinct,
                   s.elapsed_seconds());
    ev.deviations.push_back({std::string(Rule::kDeviation), double(distinct), threshold, ev.score});
    ev.deviations.push_back({"probes", double(s.probes), 0, 0});
    return ev;
  }

  void count(typename Table::Entry& e, const Attempt& p, std::vector<Evidence>& out) {
    State& s = e.state;
    s.see(p.start_ns, p.time_ns);
    ++s.probes;
    if (s.recent.size() >= kRecent) s.recent.erase(s.recent.begin());
    s.recent.push_back({p.start_ns, p.src, p.dst, p.src_port, p.dst_port, p.ip_proto});
    s.distinct.add(Rule::value(p), Rule::kIdentity, threshold(), budget_);
    const std::uint64_t distinct = s.distinct.count(Rule::kIdentity);
    const int level = level_for(double(distinct), double(threshold()), options_.critical_factor);
    if (level > s.level) {
      s.level = level;
      s.reported = distinct;
      out.push_back(make(e, level));
      ++evidence_;
    }
  }

  HostDetectorOptions options_;
  SketchBudget budget_;
  Table table_;
  SecondSight<FirstProbe> waiting_;  // subjects with one probe so far
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
