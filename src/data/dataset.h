// Provides data::Dataset, a loaded table of labelled (or unlabelled) network records: raw feature
// columns (numeric or categorical), the binary label, the multi-class label names, and per-row
// context (timestamp, source-host group, file/line of origin) that is not a model feature.
// Thread rules: a plain value; const access is safe from many threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace netsentry::data {

enum class ColumnKind : std::uint8_t { kNumeric, kCategorical };

[[nodiscard]] std::string_view to_string(ColumnKind kind);

// One feature column. Numeric cells that were empty, NaN or +/-Infinity in the file are stored as
// NaN here (and counted in LoadReport); the Preprocessor imputes them with the training median.
// Categorical cells are dictionary-encoded: `codes[row]` indexes `levels`; an empty cell is -1.
struct Column {
  std::string name;
  ColumnKind kind = ColumnKind::kNumeric;
  std::vector<float> values;        // kNumeric: one per row
  std::vector<std::int32_t> codes;  // kCategorical: one per row, -1 = empty cell
  std::vector<std::string> levels;  // kCategorical: distinct texts, in first-seen order

  // The cell as text for categorical columns ("" for an empty cell); not for numeric columns.
  [[nodiscard]] std::string_view text(std::size_t row) const {
    const auto c = codes[row];
    return c < 0 ? std::string_view{} : std::string_view{levels[static_cast<std::size_t>(c)]};
  }
};

// One of a flow's first packets (our flows CSV's "packets" column, `size:direction:gap:flags`), the
// input of sequence models.
struct PacketStep {
  std::uint32_t size = 0;      // L4 payload bytes
  std::uint32_t iat_us = 0;    // microseconds since the flow's previous packet (0 for the first)
  std::int8_t direction = 0;   // +1 from the flow's initiator, -1 towards it
  std::uint8_t tcp_flags = 0;  // FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20

  friend bool operator==(const PacketStep&, const PacketStep&) = default;
};

// A non-owning view of per-row packet sequences: row r's packets are
// packets[offset[r] .. offset[r + 1]). Empty (no offsets) when the rows carry none.
struct PacketSequences {
  std::span<const PacketStep> packets;
  std::span<const std::size_t> offset;  // rows + 1 entries, or none

  [[nodiscard]] bool empty() const { return offset.empty(); }
  [[nodiscard]] std::size_t rows() const { return offset.empty() ? 0 : offset.size() - 1; }
  [[nodiscard]] std::span<const PacketStep> of(std::size_t r) const {
    return packets.subspan(offset[r], offset[r + 1] - offset[r]);
  }
};

// Where a row came from: `file` indexes Dataset::files, `line` is the 1-based physical line on
// which the record starts.
struct RowOrigin {
  std::uint32_t file = 0;
  std::uint32_t line = 0;
};

struct Dataset {
  std::vector<Column> columns;  // features only (label, identifiers and context are not here)

  // Binary label per row: 0 = normal, 1 = attack. Empty when the data is unlabelled.
  std::vector<int> y;
  // Multi-class label per row (index into class_names, e.g. "neptune", "DoS Hulk"); empty when
  // unlabelled. Kept for per-class reports.
  std::vector<std::int32_t> class_code;
  std::vector<std::string> class_names;

  // Seconds since the Unix epoch (UTC assumed when the file has no zone) per row; empty when the
  // format has no timestamp. Unparseable timestamps are NaN.
  std::vector<double> timestamp;
  // Source host per row (index into group_names), e.g. "Src IP"; empty when the format has none.
  // Matches ml::TrainSet::group.
  std::vector<std::int32_t> group;
  std::vector<std::string> group_names;

  // Per-row packet sequences, when the format carries them (our flows CSV): row r's packets are
  // packets[packet_offset[r] .. packet_offset[r + 1]). Both empty when the data has none.
  std::vector<PacketStep> packets;
  std::vector<std::size_t> packet_offset;

  std::vector<std::string> files;  // as given/expanded, in load order
  std::vector<RowOrigin> origin;   // one per row
  std::string format;              // detected dialect name, e.g. "nsl-kdd"

  [[nodiscard]] std::size_t rows() const { return origin.size(); }
  [[nodiscard]] bool labelled() const { return !y.empty(); }
  [[nodiscard]] bool has_packets() const { return !packet_offset.empty(); }
  // Row r's packets (empty when the data has none).
  [[nodiscard]] std::span<const PacketStep> packets_of(std::size_t r) const {
    if (packet_offset.empty()) return {};
    return {packets.data() + packet_offset[r], packet_offset[r + 1] - packet_offset[r]};
  }
  [[nodiscard]] PacketSequences sequences() const { return {packets, packet_offset}; }
  [[nodiscard]] const Column* find(std::string_view name) const;
  [[nodiscard]] std::vector<std::string> column_names() const;
  [[nodiscard]] std::string_view class_name(std::size_t row) const {
    return class_names[static_cast<std::size_t>(class_code[row])];
  }
  // "file:line" of a row, for messages.
  [[nodiscard]] std::string where(std::size_t row) const;

  // Rows picked by index, in the given order (categorical levels are kept as they are).
  [[nodiscard]] Dataset select_rows(std::span<const std::size_t> index) const;
  // Row indices sorted by timestamp (stable; NaN last); 0..n-1 when there is no timestamp.
  [[nodiscard]] std::vector<std::size_t> time_order() const;
  // Number of rows per class_names entry.
  [[nodiscard]] std::vector<std::size_t> class_counts() const;
};

}  // namespace netsentry::data
