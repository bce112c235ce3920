#include "data/dataset.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace netsentry::data {

std::string_view to_string(ColumnKind kind) {
  return kind == ColumnKind::kNumeric ? "numeric" : "categorical";
}

const Column* Dataset::find(std::string_view name) const {
  for (const auto& c : columns) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::vector<std::string> Dataset::column_names() const {
  std::vector<std::string> out;
  out.reserve(columns.size());
  for (const auto& c : columns) out.push_back(c.name);
  return out;
}

std::string Dataset::where(std::size_t row) const {
  const RowOrigin& o = origin[row];
  const std::string& file = o.file < files.size() ? files[o.file] : std::string{};
  return file + ":" + std::to_string(o.line);
}

namespace {
template <typename T>
std::vector<T> pick(const std::vector<T>& v, std::span<const std::size_t> index) {
  if (v.empty()) return {};
  std::vector<T> out;
  out.reserve(index.size());
  for (std::size_t i : index) out.push_back(v[i]);
  return out;
}
}  // namespace

Dataset Dataset::select_rows(std::span<const std::size_t> index) const {
  Dataset out;
  out.columns.reserve(columns.size());
  for (const auto& c : columns) {
    Column nc;
    nc.name = c.name;
    nc.kind = c.kind;
    nc.levels = c.levels;
    nc.values = pick(c.values, index);
    nc.codes = pick(c.codes, index);
    out.columns.push_back(std::move(nc));
  }
  out.y = pick(y, index);
  out.class_code = pick(class_code, index);
  out.class_names = class_names;
  out.timestamp = pick(timestamp, index);
  out.group = pick(group, index);
  out.group_names = group_names;
  if (has_packets()) {
    out.packet_offset.reserve(index.size() + 1);
    out.packet_offset.push_back(0);
    for (const std::size_t r : index) {
      const auto steps = packets_of(r);
      out.packets.insert(out.packets.end(), steps.begin(), steps.end());
      out.packet_offset.push_back(out.packets.size());
    }
  }
  out.files = files;
  out.origin = pick(origin, index);
  out.format = format;
  return out;
}

std::vector<std::size_t> Dataset::time_order() const {
  std::vector<std::size_t> order(rows());
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (timestamp.empty()) return order;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const double ta = timestamp[a];
    const double tb = timestamp[b];
    if (std::isnan(ta)) return false;
    if (std::isnan(tb)) return true;
    return ta < tb;
  });
  return order;
}

std::vector<std::size_t> Dataset::class_counts() const {
  std::vector<std::size_t> counts(class_names.size(), 0);
  for (auto c : class_code) ++counts[static_cast<std::size_t>(c)];
  return counts;
}

}  // namespace netsentry::data
