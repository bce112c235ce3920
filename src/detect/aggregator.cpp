#include "detect/aggregator.h"

#include <algorithm>
#include <iterator>
#include <string>

#include <fmt/format.h>

#include "core/error.h"

namespace netsentry::detect {

namespace {

struct SubjectKey {
  std::string kind;
  net::IpAddress src;
  net::IpAddress dst;
  std::uint16_t dst_port = 0;
  std::string protocol;
  std::string interface;
  friend bool operator==(const SubjectKey&, const SubjectKey&) = default;
};

SubjectKey key_of(const Alert& alert) {
  return {alert.kind, alert.src_ip, alert.dst_ip, alert.dst_port, alert.protocol, alert.interface};
}

std::size_t combine(std::size_t seed, std::size_t value) {
  return seed ^ (value + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

std::size_t hash_address(const net::IpAddress& ip) {
  return std::hash<std::string_view>{}(
             std::string_view(reinterpret_cast<const char*>(ip.bytes.data()), ip.bytes.size())) ^
         ip.family;
}

struct SubjectKeyHash {
  std::size_t operator()(const SubjectKey& key) const {
    std::size_t h = std::hash<std::string>{}(key.kind);
    h = combine(h, hash_address(key.src));
    h = combine(h, hash_address(key.dst));
    h = combine(h, key.dst_port);
    h = combine(h, std::hash<std::string>{}(key.protocol));
    return combine(h, std::hash<std::string>{}(key.interface));
  }
};

}  // namespace

struct AlertAggregator::Open {
  SubjectKey key;
  Alert merged;  // the window's running total
  std::int64_t window_start = 0;
  Severity emitted_severity = Severity::kLow;
  std::uint64_t pending = 0;  // alerts folded since the last emission
};

struct AlertAggregator::Index {
  std::unordered_map<SubjectKey, std::list<Open>::iterator, SubjectKeyHash> map;
};

AlertAggregator::AlertAggregator(AggregatorOptions options)
    : options_(options), index_(std::make_unique<Index>()) {
  if (options_.window_ns <= 0) throw core::Error("alert aggregation: window must be positive");
  if (options_.max_open == 0) throw core::Error("alert aggregation: max_open must be positive");
}

AlertAggregator::~AlertAggregator() = default;

void AlertAggregator::close(Open& open, std::vector<Alert>& out) {
  if (open.pending == 0) return;
  out.push_back(open.merged);
  ++stats_.emitted;
  open.pending = 0;
}

void AlertAggregator::add(const Alert& input, std::vector<Alert>& out) {
  ++stats_.received;
  SubjectKey key = key_of(input);
  if (std::find(options_.kinds_without_port.begin(), options_.kinds_without_port.end(),
                input.kind) != options_.kinds_without_port.end()) {
    key.dst_port = 0;
  }
  auto found = index_->map.find(key);
  Alert overflow;
  const Alert* use = &input;
  if (found == index_->map.end() && options_.max_subjects_per_kind > 0) {
    KindBudget& budget = budgets_[input.kind];
    if (budget.subjects == 0 || input.time_ns >= budget.window_start + options_.window_ns) {
      budget.window_start = input.time_ns;
      budget.subjects = 0;
    }
    if (budget.subjects >= options_.max_subjects_per_kind) {
      // Too many subjects of this kind at once: count the rest in one subject-less alert.
      ++stats_.overflowed;
      overflow = input;
      overflow.src_ip = {};
      overflow.src_port = 0;
      overflow.dst_ip = {};
      overflow.dst_port = 0;
      overflow.protocol.clear();
      overflow.interface.clear();
      overflow.reason = fmt::format(
          "Alert flood: more than {} {} alerts for different subjects within {} s; the rest are "
          "counted here (latest: {})",
          options_.max_subjects_per_kind, input.kind, options_.window_ns / 1'000'000'000,
          input.reason);
      use = &overflow;
      key = key_of(overflow);
      found = index_->map.find(key);
    } else {
      ++budget.subjects;
    }
  }
  const Alert& alert = *use;
  if (found != index_->map.end()) {
    Open& open = *found->second;
    if (alert.time_ns < open.window_start + options_.window_ns) {
      Alert& merged = open.merged;
      const Severity before = merged.severity;
      merged.count += std::max<std::uint64_t>(1, alert.count);
      // time_ns stays the first report's: it is part of the alert's identity downstream (the
      // engine matches updates to their stored row by it), and flows finish out of start order.
      merged.last_ns = std::max({merged.last_ns, alert.last_ns, alert.time_ns});
      merged.severity = std::max(merged.severity, alert.severity);
      merged.score = std::max(merged.score, alert.score);
      merged.votes = std::max(merged.votes, alert.votes);
      merged.voters = std::max(merged.voters, alert.voters);
      // The newest numbers describe the subject best.
      merged.reason = alert.reason;
      if (!alert.evidence.empty()) merged.evidence = alert.evidence;
      if (!alert.models.empty()) merged.models = alert.models;
      ++stats_.folded;
      ++open.pending;
      if (merged.severity > before && merged.severity > open.emitted_severity) {
        open.emitted_severity = merged.severity;
        close(open, out);
      }
      return;
    }
    // The window is over: report it and start a new one with this alert.
    close(open, out);
    open_.erase(found->second);
    index_->map.erase(found);
  } else if (index_->map.size() >= options_.max_open) {
    Open& oldest = open_.front();
    close(oldest, out);
    index_->map.erase(oldest.key);
    open_.pop_front();
    ++stats_.closed_early;
  }

  Open open;
  open.key = key;
  open.merged = alert;
  open.merged.count = std::max<std::uint64_t>(1, alert.count);
  open.merged.last_ns = std::max(alert.last_ns, alert.time_ns);
  open.window_start = alert.time_ns;
  open.emitted_severity = alert.severity;
  out.push_back(open.merged);
  ++stats_.emitted;
  // Alerts arrive roughly in time order; keep the list ordered by window start regardless.
  auto pos = open_.end();
  while (pos != open_.begin() && std::prev(pos)->window_start > open.window_start) --pos;
  auto it = open_.insert(pos, std::move(open));
  index_->map.emplace(std::move(key), it);
}

void AlertAggregator::advance(std::int64_t now_ns, std::vector<Alert>& out) {
  while (!open_.empty() && now_ns >= open_.front().window_start + options_.window_ns) {
    Open& oldest = open_.front();
    close(oldest, out);
    index_->map.erase(oldest.key);
    open_.pop_front();
  }
}

void AlertAggregator::flush(std::vector<Alert>& out) {
  for (Open& open : open_) close(open, out);
  open_.clear();
  index_->map.clear();
}

AggregatorStats AlertAggregator::stats() const {
  AggregatorStats stats = stats_;
  stats.open = open_.size();
  return stats;
}

}  // namespace netsentry::detect
