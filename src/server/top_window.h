// Provides server::TopWindow: the top lists (sources, ports, protocols by bytes) over the last
// hours of a store's flows, kept added up per hour in memory. A request reads only the flows
// stored since the previous one and merges the hours' counts, instead of adding up a day of flows
// (480,000 rows) every time; the window's first, partial hour (and an hour the store no longer
// holds whole) is read from the flows themselves, so the lists equal StoreReader::top_all's.
// Thread rules: every method from any thread; calls are serialised (one at a time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

#include "store/sqlite_store.h"

namespace netsentry::server {

class TopWindow final {
 public:
  static constexpr std::int64_t kHourNs = 3'600'000'000'000;

  // `reader` (its own connection: the first call adds up the whole window) must outlive this.
  explicit TopWindow(store::StoreReader& reader) : reader_(reader) {}

  // The flows that ended at or after since_ns, `limit` heaviest of each list. Throws what the
  // reader throws.
  [[nodiscard]] store::StoreReader::TopAll lists(std::int64_t since_ns, std::size_t limit);

  // Flows added up so far (for tests: the first call adds the window, later ones what is new).
  [[nodiscard]] std::uint64_t flows_counted() const;

 private:
  store::StoreReader& reader_;
  mutable std::mutex mutex_;                        // guards the members below
  std::map<std::int64_t, store::TopCounts> hours_;  // hour (end_ns / kHourNs) -> its flows
  std::int64_t first_hour_ = 0;                     // hours before it are not held
  std::int64_t cursor_ = 0;                         // flows with an id up to this are counted
  bool built_ = false;
  // The sum of the hours from summed_from_ on (those the store holds whole), kept as flows come
  // and hours leave, so a request does not merge a day of hours.
  store::TopCounts sum_;
  std::int64_t summed_from_ = 0;
  bool summed_ = false;
  std::uint64_t flows_counted_ = 0;
};

}  // namespace netsentry::server
