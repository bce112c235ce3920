#include "bus/correlator.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace netsentry::bus {
namespace {

// Kinds whose source address is the one acting (a scanner, a flooder, a brute forcer).
bool has_attacker(const detect::Alert& a) {
  if (a.src_ip.family == 0) return false;
  return a.kind != detect::kind::kVolume && a.kind != detect::kind::kVolumeForecast &&
         a.kind != detect::kind::kSystem && a.kind != kMultiSensorKind;
}

}  // namespace

SensorCorrelator::SensorCorrelator(CorrelatorOptions options)
    : options_(options), next_id_(std::max<std::int64_t>(options.first_id, 1)) {
  options_.max_attackers = std::max<std::size_t>(options_.max_attackers, 1);
}

void SensorCorrelator::evict(std::int64_t now_ns, std::size_t keep) {
  const std::int64_t horizon = now_ns - options_.window.count();
  std::erase_if(attackers_, [&](const auto& entry) { return entry.second.last_ns < horizon; });
  while (attackers_.size() > keep) {
    auto oldest = attackers_.begin();
    for (auto it = attackers_.begin(); it != attackers_.end(); ++it) {
      if (it->second.last_ns < oldest->second.last_ns) oldest = it;
    }
    attackers_.erase(oldest);
  }
}

std::optional<SensorCorrelator::Result> SensorCorrelator::observe(std::string_view sensor,
                                                                  const detect::Alert& alert) {
  if (!has_attacker(alert)) return std::nullopt;
  const std::int64_t first = alert.time_ns;
  const std::int64_t last = std::max(alert.last_ns, alert.time_ns);
  newest_ns_ = std::max(newest_ns_, last);
  // Eviction walks the table: once per 4096 alerts, and when it is full.
  if (++observed_ % 4096 == 0) evict(newest_ns_, options_.max_attackers);
  const std::string key = alert.src_ip.to_string();
  auto it = attackers_.find(key);
  if (it != attackers_.end() && first > it->second.last_ns + options_.window.count()) {
    attackers_.erase(it);  // seen again long after: a new episode
    it = attackers_.end();
  }
  if (it == attackers_.end()) {
    // Room for one more: the silent ones first, then the longest silent.
    if (attackers_.size() >= options_.max_attackers) evict(newest_ns_, options_.max_attackers - 1);
    it = attackers_.emplace(key, Attacker{first, last, {}, 0, 0}).first;
  }
  Attacker& a = it->second;
  a.first_ns = std::min(a.first_ns, first);
  a.last_ns = std::max(a.last_ns, last);
  SensorSeen& seen = a.sensors[std::string(sensor)];
  seen.alerts[alert.id] = {alert.kind, alert.count};
  seen.worst = std::max(seen.worst, alert.severity);
  if (a.sensors.size() < 2) return std::nullopt;

  Result result;
  result.update = a.hub_id != 0;
  if (a.hub_id == 0) a.hub_id = next_id_++;
  ++a.updates;
  detect::Alert& out = result.alert;
  out.id = a.hub_id;
  out.time_ns = a.first_ns;
  out.last_ns = a.last_ns;
  out.kind = std::string(kMultiSensorKind);
  out.src_ip = alert.src_ip;
  out.severity = detect::Severity::kLow;
  std::string parts;
  std::uint64_t total = 0;
  for (const auto& [name, s] : a.sensors) {
    out.sensors.push_back(name);
    out.severity = std::max(out.severity, s.worst);
    std::set<std::string> kinds;
    std::uint64_t n = 0;
    for (const auto& [id, kind_count] : s.alerts) {
      kinds.insert(kind_count.first);
      n += std::max<std::uint64_t>(kind_count.second, 1);
    }
    total += n;
    std::string kind_list;
    for (const std::string& k : kinds) kind_list += (kind_list.empty() ? "" : ", ") + k;
    parts += fmt::format("{}{} ({}{})", parts.empty() ? "" : "; ", name, kind_list,
                         n > 1 ? fmt::format(" x{}", n) : "");
    out.features.push_back({"sensor " + name, static_cast<double>(n), 0, 0});
  }
  out.count = total;
  out.score = 1.0F;
  out.reason = fmt::format("{} was seen by {} sensors within {:.0f} s: {}", key, a.sensors.size(),
                           static_cast<double>(a.last_ns - a.first_ns) / 1e9, parts);
  return result;
}

}  // namespace netsentry::bus
