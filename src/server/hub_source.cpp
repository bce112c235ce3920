#include "server/hub_source.h"

#include "server/api_json.h"
#include "store/sqlite_store.h"

namespace netsentry::server {

HubSource::HubSource(std::filesystem::path path, StoreSourceOptions options,
                     std::size_t max_sensors)
    : path_(std::move(path)), options_(std::move(options)), max_sensors_(max_sensors) {
  StoreSourceOptions whole = options_;
  whole.sensor.clear();
  whole.multi_sensor = true;
  all_ = std::make_unique<StoreSource>(path_, whole);
  reader_ = std::make_unique<store::StoreReader>(path_, options_.busy_timeout);
}

HubSource::~HubSource() = default;

std::vector<SensorInfo> HubSource::sensors() const {
  std::vector<SensorInfo> out;
  for (store::SensorRow& row : reader_->sensors()) {
    out.push_back({std::move(row.name), ns_to_ms(row.first_ns), ns_to_ms(row.last_ns),
                   std::move(row.health)});
  }
  return out;
}

DashboardSource* HubSource::sensor_view(std::string_view name) {
  {
    std::lock_guard lock(mutex_);
    if (const auto it = views_.find(name); it != views_.end()) return it->second.get();
  }
  bool known = false;
  for (const store::SensorRow& row : reader_->sensors()) known = known || row.name == name;
  if (!known) return nullptr;
  StoreSourceOptions one = options_;
  one.sensor = std::string(name);
  one.multi_sensor = false;
  auto view = std::make_unique<StoreSource>(path_, one);  // reads outside the lock
  std::lock_guard lock(mutex_);
  if (const auto it = views_.find(name); it != views_.end()) return it->second.get();
  if (views_.size() >= max_sensors_) return nullptr;
  return views_.emplace(std::string(name), std::move(view)).first->second.get();
}

}  // namespace netsentry::server
