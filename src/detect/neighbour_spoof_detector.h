// Provides detect::NeighbourSpoofDetector: ARP spoofing (IPv4) and neighbour-discovery spoofing
// (IPv6), from the bindings that ARP requests and replies and neighbour solicitations and
// advertisements announce (net::Sighting). An address is bound to the first MAC seen claiming
// it; a MAC's own IPv4 address is the first it claimed. A claim of a bound address by another
// MAC is a conflict: evidence (threat HIGH) whose confidence grows with what marks a liar rather
// than a device that moved — the claiming MAC already owns another IPv4 address (IPv6 hosts have
// several addresses, so not for ND), the claim comes from another address (an advertisement for a
// target that is not its sender), the claims repeat (spoof_claims in a window). The profile is
// the claimer's sender or own address when known (attacker), else the impersonated address
// (victim). A binding whose MAC stayed silent for a window moves to the new MAC after one claim
// (a lease handed to another device), as ARP caches do; when the old MAC comes back within a
// window, the one that took the address over is the suspect, not the owner returning.
// Memory is bounded: at most max_tracked bindings, owners and conflict windows each (oldest
// dropped, counted).
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include <cstdint>
#include <list>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/host_detectors.h"

namespace netsentry::detect {

class NeighbourSpoofDetector final : public Detector {
 public:
  explicit NeighbourSpoofDetector(const HostDetectorOptions& options);

  [[nodiscard]] std::string_view name() const override { return "neighbour_spoof"; }
  void on_sighting(const net::Sighting& sighting, std::vector<Evidence>& out) override;
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;
  [[nodiscard]] DetectorStats stats() const override;

 private:
  struct Binding {
    net::MacAddress mac{};
    std::int64_t first_ns = 0;
    std::int64_t last_ns = 0;  // the bound MAC's latest claim
    net::IpAddress sender;     // who sent the bound MAC's latest claim (ND: may differ)
    // The MAC before the last move and when it moved: its return within a window is the owner
    // taking its address back, and the MAC that took it over is the suspect.
    net::MacAddress previous{};
    std::int64_t moved_ns = 0;
    bool moved = false;
  };
  struct Owner {
    net::IpAddress ip;  // the first IPv4 address the MAC claimed (hosts have one per interface)
  };
  // A small LRU map: at most `capacity` entries, the least recently used dropped first.
  template <class Key, class Value, class Hash>
  class Lru {
   public:
    explicit Lru(std::size_t capacity) : capacity_(std::max<std::size_t>(1, capacity)) {}
    Value* find(const Key& key) {
      const auto it = index_.find(key);
      if (it == index_.end()) return nullptr;
      order_.splice(order_.end(), order_, it->second);
      return &it->second->second;
    }
    Value& insert(const Key& key, Value value) {
      if (index_.size() >= capacity_) {
        index_.erase(order_.front().first);
        order_.pop_front();
        ++evictions_;
      }
      order_.emplace_back(key, std::move(value));
      index_.emplace(key, std::prev(order_.end()));
      return order_.back().second;
    }
    [[nodiscard]] std::size_t size() const { return index_.size(); }
    [[nodiscard]] std::uint64_t evictions() const { return evictions_; }

   private:
    std::size_t capacity_;
    std::list<std::pair<Key, Value>> order_;
    std::unordered_map<Key, typename std::list<std::pair<Key, Value>>::iterator, Hash> index_;
    std::uint64_t evictions_ = 0;
  };
  struct MacHash {
    std::size_t operator()(const net::MacAddress& mac) const {
      std::uint64_t v = 0;
      for (const auto b : mac) v = (v << 8) | b;
      return static_cast<std::size_t>(mix64(v));
    }
  };
  struct State : Track {
    std::uint64_t claims = 0;
    net::MacAddress claimer{};
    net::MacAddress bound{};
    net::IpAddress claimer_ip;  // the claimer's own address, when known
    net::IpAddress sender;      // an advertisement's sender, when it is not the target
    bool ipv6 = false;
  };
  using Table = SubjectTable<State>;

  // `suspect` claims the address of `sg` that belongs to `rightful`.
  void conflict(const net::Sighting& sg, const net::MacAddress& suspect,
                const net::IpAddress& suspect_sender, const net::MacAddress& rightful,
                std::vector<Evidence>& out);
  [[nodiscard]] Evidence make(const Table::Entry& e) const;
  [[nodiscard]] auto closer(std::vector<Evidence>& out);

  HostDetectorOptions options_;
  Lru<SubjectKey, Binding, SubjectKeyHash> bindings_;  // (address, VLAN in port)
  Lru<net::MacAddress, Owner, MacHash> owners_;
  Table conflicts_;
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
