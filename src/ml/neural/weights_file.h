// Provides the plain weights file of the neural models (`<name>.weights`, written beside the
// LibTorch `<name>.pt` whenever a model is saved), which the torch-free scorers read so that
// scoring never loads LibTorch. Layout (every integer little-endian):
//
//   magic     8 bytes  "NSWEIGHT"
//   version   u32      1
//   count     u32      number of tensors, 1..kMaxTensors
//   count times, the tensor table:
//     name    u16 length (1..kMaxName), then that many bytes (LibTorch's parameter name,
//             e.g. "layers.0.weight", "lstm.weight_ih_l0")
//     dtype   u8       1 = float32 (the only one)
//     rank    u8       1..kMaxRank
//     dims    rank x u32, each >= 1
//   data      every tensor's values in table order, float32 little-endian, row-major (LibTorch's
//             contiguous layout)
//   checksum  u64      FNV-1a 64 of every byte before it
//
// The file must end exactly after the checksum. read_weights() checks all of it and throws
// core::Error naming the file and what does not match (magic, version, a truncated table or data,
// a size that disagrees with the shapes, the checksum, a value that is not finite). Thread rules:
// free functions without shared state; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace netsentry::ml::neural {

inline constexpr int kWeightsFormatVersion = 1;
inline constexpr std::size_t kMaxTensors = 256;
inline constexpr std::size_t kMaxName = 256;
inline constexpr std::size_t kMaxRank = 4;

struct Tensor {
  std::string name;
  std::vector<std::size_t> shape;
  std::vector<float> values;  // row-major, shape's product of them

  [[nodiscard]] std::string shape_text() const;
};

// What a model's architecture needs, in the file's order.
struct TensorSpec {
  std::string name;
  std::vector<std::size_t> shape;
};

// The weights file of a model file: <dir>/<stem of file>.weights.
[[nodiscard]] std::filesystem::path weights_path(const std::filesystem::path& dir,
                                                 const std::string& file);

// Writes the tensors (names, shapes and float32 values) to `path`; throws core::Error naming the
// file when it cannot be written or a tensor's values do not match its shape.
void write_weights(const std::filesystem::path& path, std::span<const Tensor> tensors);

// Reads and checks a weights file (see the layout above).
[[nodiscard]] std::vector<Tensor> read_weights(const std::filesystem::path& path);

// Reads `path` and checks that it holds exactly the tensors of `expected` (names, order, shapes);
// `architecture` names where the expectation comes from (the JSON sidecar) for the error message.
[[nodiscard]] std::vector<Tensor> read_weights(const std::filesystem::path& path,
                                               std::span<const TensorSpec> expected,
                                               const std::filesystem::path& architecture);

}  // namespace netsentry::ml::neural
