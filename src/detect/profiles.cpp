#include "detect/profiles.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <unordered_map>

#include "core/error.h"
#include "detect/detector_support.h"

namespace netsentry::detect {

namespace {

// When a piece of evidence began: its first time, or its time when it has none.
std::int64_t first_of(const Evidence& e) { return e.first_ns != 0 ? e.first_ns : e.time_ns; }

struct Key {
  net::IpAddress ip;
  std::string interface;
  friend bool operator==(const Key&, const Key&) = default;
};

struct KeyHash {
  std::size_t operator()(const Key& k) const {
    return static_cast<std::size_t>(hash_address(k.ip, std::hash<std::string>{}(k.interface)));
  }
};

std::uint64_t item_key(const Evidence& ev) {
  if (ev.subject == 0) return 0;
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a over the detector's name
  for (const char c : ev.detector) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  const std::uint64_t key = mix64(h ^ ev.subject);
  return key == 0 ? 1 : key;
}

}  // namespace

struct Profiles::Host {
  struct Item {
    Evidence ev;
    double w = 0;
    std::uint64_t key = 0;  // 0: matches nothing
  };
  Key key;
  std::vector<Item> items;
  std::int64_t last_ns = 0;        // newest evidence
  std::int64_t hold_until_ns = 0;  // evidence said more is expected until then
  // The engaged alert (alert_id 0: none) and the latest one gone past (0: none).
  std::int64_t alert_id = 0;
  std::int64_t past_alert_id = 0;
  std::int64_t alert_first_ns = 0;
  std::uint64_t alert_count = 0;
  std::uint32_t revision = 0;
  Severity delivered_severity = Severity::kLow;
  bool dirty = false;
  std::int64_t delivered_ns = 0;
  // The last evidence time of the host's previous alert: evidence from before it (late verdicts
  // on the same flows) folds in but does not raise a new alert.
  std::int64_t past_last_ns = INT64_MIN;
};

struct Profiles::Index {
  std::unordered_map<Key, std::list<Host>::iterator, KeyHash> map;
  std::map<std::int64_t, std::list<Host>::iterator> engaged;  // by alert id
};

Profiles::Profiles(ProfileOptions options, std::int64_t first_alert_id)
    : options_(options),
      next_id_(std::max<std::int64_t>(1, first_alert_id)),
      index_(std::make_unique<Index>()) {
  if (options_.window_ns <= 0 || options_.quiet_ns <= 0) {
    throw core::Error("profiles: window and quiet time must be positive");
  }
  if (!(options_.alert_threshold > 0))
    throw core::Error("profiles: alert threshold must be positive");
  if (options_.max_hosts == 0 || options_.max_items == 0) {
    throw core::Error("profiles: max_hosts and max_items must be positive");
  }
  for (const double w : options_.threat_weight) {
    if (!(w >= 0 && w <= 1)) throw core::Error("profiles: threat weights must be in [0, 1]");
  }
}

Profiles::~Profiles() = default;

double Profiles::raw_score(const Host& host) const {
  // Kinds are few per host; items at most max_items.
  const std::int64_t from = now_ns_ - options_.window_ns;
  std::vector<std::pair<std::string_view, double>> survive;  // kind -> prod(1 - w)
  for (const Host::Item& item : host.items) {
    if (item.ev.time_ns < from) continue;
    auto it = std::find_if(survive.begin(), survive.end(),
                           [&](const auto& p) { return p.first == item.ev.kind; });
    if (it == survive.end()) {
      survive.emplace_back(item.ev.kind, 1.0 - item.w);
    } else {
      it->second *= 1.0 - item.w;
    }
  }
  double score = 0;
  for (const auto& [kind, s] : survive) score += 1.0 - s;
  return score;
}

Severity Profiles::severity(const Host& host) const {
  Severity s = Severity::kLow;
  for (const Host::Item& item : host.items) s = std::max(s, item.ev.threat);
  return s;
}

void Profiles::expire_items(Host& host) const {
  const std::int64_t from = now_ns_ - options_.window_ns;
  std::erase_if(host.items, [from](const Host::Item& item) { return item.ev.time_ns < from; });
}

Alert Profiles::build(const Host& host) const {
  std::vector<const Host::Item*> order;
  order.reserve(host.items.size());
  for (const Host::Item& item : host.items) order.push_back(&item);
  // The most severe evidence leads (a scan over the unusual flows it caused), then the weightiest.
  std::stable_sort(order.begin(), order.end(), [](const Host::Item* a, const Host::Item* b) {
    if (a->ev.threat != b->ev.threat) return a->ev.threat > b->ev.threat;
    if (a->w != b->w) return a->w > b->w;
    return a->ev.time_ns < b->ev.time_ns;
  });
  Alert a;
  a.id = host.alert_id;
  a.time_ns = host.alert_first_ns;
  a.last_ns = host.last_ns;
  a.severity = severity(host);
  a.host = host.key.ip;
  a.interface = host.key.interface;
  a.count = host.alert_count;
  a.score = static_cast<float>(raw_score(host) / options_.alert_threshold);
  if (!order.empty()) {
    const Evidence& top = order.front()->ev;
    a.kind = top.kind;
    a.role = top.role;
    if (top.role == Role::kVictim) {
      a.src_ip = top.peer;
      a.dst_ip = host.key.ip;
    } else {
      a.src_ip = host.key.ip;
      a.dst_ip = top.peer;
    }
    a.dst_port = top.port;
    if (top.ip_proto != 0) a.protocol = std::string(flow::protocol_name(top.ip_proto));
    if (a.interface.empty()) a.interface = top.interface;
    a.votes = top.votes;
    a.voters = top.voters;
    a.models = top.models;
    a.features = top.deviations;
    a.reason = top.description;
    // The rest of the story in a few words: other kinds and how much of each.
    std::vector<std::pair<std::string, std::uint64_t>> others;
    for (std::size_t i = 1; i < order.size(); ++i) {
      const Evidence& ev = order[i]->ev;
      auto it = std::find_if(others.begin(), others.end(),
                             [&](const auto& p) { return p.first == ev.kind; });
      if (it == others.end()) {
        others.emplace_back(ev.kind, 1);
      } else {
        ++it->second;
      }
    }
    if (!others.empty()) {
      std::string more;
      for (const auto& [kind, n] : others) {
        if (!more.empty()) more += ", ";
        more += fmt::format("{} {}", n, kind);
      }
      a.reason += fmt::format(" (also: {})", more);
    }
  }
  a.evidence.reserve(order.size());
  for (const Host::Item* item : order) a.evidence.push_back(item->ev);
  return a;
}

void Profiles::deliver(Host& host, AlertChange change, std::vector<AlertDelivery>& out) {
  AlertDelivery d;
  d.alert = build(host);
  d.alert.revision = host.revision++;
  d.alert.state = change == AlertChange::kPast ? AlertState::kPast : AlertState::kEngaged;
  d.change = change;
  host.dirty = false;
  host.delivered_ns = now_ns_;
  host.delivered_severity = d.alert.severity;
  ++stats_.deliveries;
  out.push_back(std::move(d));
}

void Profiles::drop(std::list<Host>::iterator it, std::vector<AlertDelivery>& out) {
  if (it->alert_id != 0) {
    deliver(*it, AlertChange::kPast, out);
    index_->engaged.erase(it->alert_id);
  }
  index_->map.erase(it->key);
  hosts_.erase(it);
}

void Profiles::add(const Evidence& ev, std::vector<AlertDelivery>& out) {
  ++stats_.evidence;
  now_ns_ = std::max(now_ns_, ev.time_ns);
  Key key{ev.host, ev.host.family == 0 ? ev.interface : std::string()};
  auto found = index_->map.find(key);
  std::list<Host>::iterator it;
  if (found == index_->map.end()) {
    if (hosts_.size() >= options_.max_hosts) {
      // The least recent profile without an engaged alert makes room (among the oldest
      // kEvictionScan): a flood of spoofed sources must not push out the victim whose alert
      // is still engaged. When those are all engaged, the oldest goes (its alert goes past).
      constexpr int kEvictionScan = 64;
      auto victim = hosts_.begin();
      int steps = 0;
      for (auto c = hosts_.begin(); c != hosts_.end() && steps < kEvictionScan; ++c, ++steps) {
        if (c->alert_id == 0) {
          victim = c;
          break;
        }
      }
      drop(victim, out);
      ++stats_.evictions;
    }
    hosts_.emplace_back();
    it = std::prev(hosts_.end());
    it->key = key;
    index_->map.emplace(std::move(key), it);
  } else {
    it = found->second;
    hosts_.splice(hosts_.end(), hosts_, it);
  }
  Host& host = *it;
  expire_items(host);

  const double threat = options_.threat_weight[static_cast<std::size_t>(ev.threat) & 3];
  const double w = std::clamp(ev.confidence, 0.0, 1.0) * threat * 0.999;
  const std::uint64_t k = item_key(ev);
  auto same = k == 0 ? host.items.end()
                     : std::find_if(host.items.begin(), host.items.end(),
                                    [k](const Host::Item& item) { return item.key == k; });
  // Evidence an alert that went past was made of does not date the next one: an item whose
  // evidence so far all came before the past alert's end starts its first time anew.
  const auto first_after_past = [&](const Evidence& held) {
    return held.time_ns <= host.past_last_ns && host.alert_id == 0
               ? first_of(ev)
               : std::min(first_of(held), first_of(ev));
  };
  if (same != host.items.end()) {
    const std::int64_t first = first_after_past(same->ev);
    same->w = std::max(same->w, w);
    same->ev = ev;
    same->ev.first_ns = first;
  } else if (host.items.size() < options_.max_items) {
    host.items.push_back({ev, w, k});
  } else {
    ++stats_.merged;
    auto oldest_kind = host.items.end();
    for (auto i = host.items.begin(); i != host.items.end(); ++i) {
      if (i->ev.kind == ev.kind &&
          (oldest_kind == host.items.end() || i->ev.time_ns < oldest_kind->ev.time_ns)) {
        oldest_kind = i;
      }
    }
    if (oldest_kind != host.items.end()) {
      const std::uint64_t count = oldest_kind->ev.count + ev.count;
      const std::int64_t first = first_after_past(oldest_kind->ev);
      oldest_kind->w = 1.0 - (1.0 - oldest_kind->w) * (1.0 - w);
      oldest_kind->ev = ev;
      oldest_kind->ev.count = count;
      oldest_kind->ev.first_ns = first;
      oldest_kind->key = k;
    } else {
      auto oldest = std::min_element(
          host.items.begin(), host.items.end(),
          [](const Host::Item& a, const Host::Item& b) { return a.ev.time_ns < b.ev.time_ns; });
      *oldest = {ev, w, k};
    }
  }
  host.last_ns = std::max(host.last_ns, ev.time_ns);
  if (ev.hold_ns > 0) {
    host.hold_until_ns =
        std::max(host.hold_until_ns, ev.time_ns + std::min(ev.hold_ns, options_.window_ns));
  }

  if (host.alert_id == 0) {
    if (ev.time_ns <= host.past_last_ns) return;
    if (!ev.decisive && raw_score(host) < options_.alert_threshold) return;
    host.alert_id = next_id_++;
    host.revision = 0;
    host.alert_count = 0;
    host.alert_first_ns = first_of(ev);
    for (const Host::Item& item : host.items) {
      host.alert_count += 1;
      // Not what a past alert was made of (a late verdict about its time folds in quietly).
      if (item.ev.time_ns > host.past_last_ns) {
        host.alert_first_ns = std::min(host.alert_first_ns, first_of(item.ev));
      }
    }
    index_->engaged.emplace(host.alert_id, it);
    ++stats_.raised;
    deliver(host, AlertChange::kRaised, out);
    return;
  }
  ++host.alert_count;
  host.dirty = true;
  if (severity(host) > host.delivered_severity) deliver(host, AlertChange::kEscalated, out);
}

void Profiles::advance(std::int64_t now_ns, std::vector<AlertDelivery>& out) {
  now_ns_ = std::max(now_ns_, now_ns);
  std::vector<std::int64_t> gone;
  for (auto& [id, it] : index_->engaged) {
    Host& host = *it;
    if (now_ns_ - host.last_ns >= options_.quiet_ns && now_ns_ >= host.hold_until_ns) {
      expire_items(host);
      deliver(host, AlertChange::kPast, out);
      host.past_alert_id = host.alert_id;
      host.alert_id = 0;
      host.past_last_ns = host.last_ns;
      gone.push_back(id);
    } else if (host.dirty && now_ns_ - host.delivered_ns >= options_.update_interval_ns) {
      expire_items(host);
      deliver(host, AlertChange::kUpdated, out);
    }
  }
  for (const std::int64_t id : gone) index_->engaged.erase(id);
  // Profiles whose newest evidence left the window and that hold no alert are forgotten.
  const std::int64_t from = now_ns_ - options_.window_ns;
  for (auto it = hosts_.begin(); it != hosts_.end() && it->last_ns < from;) {
    if (it->alert_id != 0) {
      ++it;
      continue;
    }
    index_->map.erase(it->key);
    it = hosts_.erase(it);
  }
}

void Profiles::flush(std::vector<AlertDelivery>& out) {
  for (auto& [id, it] : index_->engaged) {
    if (it->dirty) deliver(*it, AlertChange::kUpdated, out);
  }
}

bool Profiles::engaged(const net::IpAddress& host) const {
  const auto it = index_->map.find(Key{host, {}});
  return it != index_->map.end() && it->second->alert_id != 0;
}

std::vector<HostRisk> Profiles::riskiest(std::size_t n) const {
  std::vector<std::pair<double, const Host*>> scored;
  scored.reserve(hosts_.size());
  for (const Host& host : hosts_) {
    const double s = raw_score(host);
    if (s > 0) scored.emplace_back(s, &host);
  }
  const std::size_t k = std::min(n, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(k), scored.end(),
                    [](const auto& a, const auto& b) {
                      if (a.first != b.first) return a.first > b.first;
                      return a.second->last_ns > b.second->last_ns;
                    });
  std::vector<HostRisk> out;
  out.reserve(k);
  const std::int64_t from = now_ns_ - options_.window_ns;
  for (std::size_t i = 0; i < k; ++i) {
    const Host& host = *scored[i].second;
    HostRisk r;
    r.host = host.key.ip;
    r.interface = host.key.interface;
    r.score = scored[i].first / options_.alert_threshold;
    r.last_ns = host.last_ns;
    r.alert_id = host.alert_id;
    r.past_alert_id = host.alert_id == 0 ? host.past_alert_id : 0;
    std::vector<const Host::Item*> items;
    for (const Host::Item& item : host.items) {
      if (item.ev.time_ns >= from) items.push_back(&item);
    }
    std::stable_sort(items.begin(), items.end(), [](const Host::Item* a, const Host::Item* b) {
      if (a->ev.threat != b->ev.threat) return a->ev.threat > b->ev.threat;
      return a->w > b->w;
    });
    for (const Host::Item* item : items) {
      r.severity = std::max(r.severity, item->ev.threat);
      r.evidence.push_back(item->ev);
    }
    out.push_back(std::move(r));
  }
  return out;
}

ProfilesStats Profiles::stats() const {
  ProfilesStats s = stats_;
  s.hosts = hosts_.size();
  s.engaged = index_->engaged.size();
  return s;
}

}  // namespace netsentry::detect
