// Provides data::Matrix, a dense row-major float matrix: the one currency between preprocessing and
// the models (XGBoost DMatrix, torch tensors and our forest all read it without copying rows).
// Thread rules: a plain value; const access is safe from many threads.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace netsentry::data {

struct Matrix {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<float> values;  // rows * cols, row-major

  Matrix() = default;
  Matrix(std::size_t r, std::size_t c, float fill = 0.0f) : rows(r), cols(c), values(r * c, fill) {}

  [[nodiscard]] float& at(std::size_t r, std::size_t c) { return values[r * cols + c]; }
  [[nodiscard]] float at(std::size_t r, std::size_t c) const { return values[r * cols + c]; }
  [[nodiscard]] std::span<float> row(std::size_t r) { return {values.data() + r * cols, cols}; }
  [[nodiscard]] std::span<const float> row(std::size_t r) const {
    return {values.data() + r * cols, cols};
  }
  [[nodiscard]] const float* data() const { return values.data(); }
  [[nodiscard]] float* data() { return values.data(); }
  [[nodiscard]] bool empty() const { return rows == 0; }

  // Rows picked by index, in the given order.
  [[nodiscard]] Matrix select_rows(std::span<const std::size_t> index) const {
    Matrix out(index.size(), cols);
    for (std::size_t i = 0; i < index.size(); ++i) {
      auto src = row(index[i]);
      std::copy(src.begin(), src.end(), out.row(i).begin());
    }
    return out;
  }
};

}  // namespace netsentry::data
