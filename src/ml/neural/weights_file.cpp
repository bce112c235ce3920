#include "ml/neural/weights_file.h"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "core/utf8.h"

namespace netsentry::ml::neural {
namespace {

constexpr char kMagic[8] = {'N', 'S', 'W', 'E', 'I', 'G', 'H', 'T'};
constexpr std::uint8_t kFloat32 = 1;

std::uint64_t fnv1a(const unsigned char* p, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

template <typename T>
void put(std::vector<unsigned char>& out, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out.push_back(static_cast<unsigned char>(static_cast<std::uint64_t>(value) >> (8 * i)));
  }
}

std::string shape_text(std::span<const std::size_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += fmt::format("{}{}", i ? ", " : "", shape[i]);
  return s + "]";
}

// Reads little-endian fields from the file's bytes; every read names what it wanted when the file
// ends first.
class Reader {
 public:
  Reader(const std::vector<unsigned char>& bytes, std::size_t end, const std::string& where)
      : bytes_(bytes), end_(end), where_(where) {}

  template <typename T>
  T get(std::string_view what) {
    need(sizeof(T), what);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v |= std::uint64_t{bytes_[pos_ + i]} << (8 * i);
    pos_ += sizeof(T);
    return static_cast<T>(v);
  }
  const unsigned char* take(std::size_t n, std::string_view what) {
    need(n, what);
    const unsigned char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  [[nodiscard]] std::size_t pos() const { return pos_; }
  [[nodiscard]] std::size_t left() const { return end_ - pos_; }

 private:
  void need(std::size_t n, std::string_view what) const {
    if (n > end_ - pos_) {
      throw core::Error(fmt::format(
          "{}: truncated: {} needs {} bytes at offset {}, the file has {} bytes before its "
          "checksum",
          where_, what, n, pos_, end_));
    }
  }
  const std::vector<unsigned char>& bytes_;
  std::size_t end_;
  std::size_t pos_ = 0;
  const std::string& where_;
};

// The tensor table (names and shapes; values are read after the checksum is checked), checked
// against the bytes of data that follow it.
std::vector<Tensor> read_table(Reader& r, const std::string& where, std::size_t file_size) {
  const auto count = r.get<std::uint32_t>("the tensor count");
  if (count == 0 || count > kMaxTensors) {
    throw core::Error(
        fmt::format("{}: holds {} tensors, expected 1 to {}", where, count, kMaxTensors));
  }
  std::vector<Tensor> tensors(count);
  std::size_t values = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    Tensor& t = tensors[i];
    const std::string what = fmt::format("tensor {}'s entry", i);
    const auto length = r.get<std::uint16_t>(what);
    if (length == 0 || length > kMaxName) {
      throw core::Error(fmt::format("{}: tensor {} has a name of {} bytes (1 to {})", where, i,
                                    length, kMaxName));
    }
    const unsigned char* name = r.take(length, what);
    t.name.assign(reinterpret_cast<const char*>(name), length);
    const auto dtype = r.get<std::uint8_t>(what);
    if (dtype != kFloat32) {
      throw core::Error(fmt::format("{}: tensor '{}' has dtype code {}, only 1 (float32) is read",
                                    where, core::printable(t.name), dtype));
    }
    const auto rank = r.get<std::uint8_t>(what);
    if (rank == 0 || rank > kMaxRank) {
      throw core::Error(fmt::format("{}: tensor '{}' has rank {} (1 to {})", where,
                                    core::printable(t.name), rank, kMaxRank));
    }
    std::size_t n = 1;
    for (std::uint8_t d = 0; d < rank; ++d) {
      const auto dim = r.get<std::uint32_t>(what);
      if (dim == 0) {
        throw core::Error(
            fmt::format("{}: tensor '{}' has a 0 dimension", where, core::printable(t.name)));
      }
      t.shape.push_back(dim);
      // Bounded by the file's size, so an absurd shape is refused before anything is allocated.
      if (dim > file_size || n > file_size / dim) {
        throw core::Error(
            fmt::format("{}: tensor '{}' of shape {}... needs more values than the "
                        "file's {} bytes hold",
                        where, core::printable(t.name), shape_text(t.shape), file_size));
      }
      n *= dim;
    }
    values += n;
    if (values > file_size) {
      throw core::Error(
          fmt::format("{}: the tensors up to '{}' need {} values, more than the "
                      "file's {} bytes hold",
                      where, core::printable(t.name), values, file_size));
    }
  }
  if (values * 4 != r.left()) {
    throw core::Error(fmt::format(
        "{}: {}: the table's shapes need {} float32 values ({} bytes), the file holds {} bytes of "
        "values",
        where, values * 4 < r.left() ? "trailing bytes" : "truncated", values, values * 4,
        r.left()));
  }
  return tensors;
}

}  // namespace

std::string Tensor::shape_text() const { return neural::shape_text(shape); }

std::filesystem::path weights_path(const std::filesystem::path& dir, const std::string& file) {
  return dir / std::filesystem::path(file).replace_extension(".weights");
}

void write_weights(const std::filesystem::path& path, std::span<const Tensor> tensors) {
  const std::string where = path.string();
  if (tensors.empty() || tensors.size() > kMaxTensors) {
    throw core::Error(
        fmt::format("{}: cannot write {} tensors (1 to {})", where, tensors.size(), kMaxTensors));
  }
  std::vector<unsigned char> out(std::begin(kMagic), std::end(kMagic));
  put<std::uint32_t>(out, kWeightsFormatVersion);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(tensors.size()));
  for (const Tensor& t : tensors) {
    std::size_t count = 1;
    for (const std::size_t d : t.shape) count *= d;
    if (t.name.empty() || t.name.size() > kMaxName || t.shape.empty() ||
        t.shape.size() > kMaxRank || count != t.values.size() || count == 0) {
      throw core::Error(fmt::format("{}: tensor '{}' of shape {} with {} values cannot be written",
                                    where, t.name, t.shape_text(), t.values.size()));
    }
    put<std::uint16_t>(out, static_cast<std::uint16_t>(t.name.size()));
    out.insert(out.end(), t.name.begin(), t.name.end());
    put<std::uint8_t>(out, kFloat32);
    put<std::uint8_t>(out, static_cast<std::uint8_t>(t.shape.size()));
    for (const std::size_t d : t.shape) put<std::uint32_t>(out, static_cast<std::uint32_t>(d));
  }
  for (const Tensor& t : tensors) {
    for (const float v : t.values) put<std::uint32_t>(out, std::bit_cast<std::uint32_t>(v));
  }
  put<std::uint64_t>(out, fnv1a(out.data(), out.size()));
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
  file.close();
  if (!file) throw core::Error(fmt::format("{}: cannot write the weights file", where));
}

std::vector<Tensor> read_weights(const std::filesystem::path& path) {
  const std::string where = path.string();
  std::ifstream file(path, std::ios::binary);
  if (!file) throw core::Error(fmt::format("{}: cannot open the weights file", where));
  const std::vector<unsigned char> bytes{std::istreambuf_iterator<char>(file),
                                         std::istreambuf_iterator<char>()};
  if (file.bad()) throw core::Error(fmt::format("{}: read error", where));
  constexpr std::size_t kHeader = sizeof kMagic + 8;
  if (bytes.size() < kHeader + 8) {
    throw core::Error(
        fmt::format("{}: truncated: {} bytes, a weights file has at least {} (header and checksum)",
                    where, bytes.size(), kHeader + 8));
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    throw core::Error(fmt::format("{}: not a netsentry weights file (no NSWEIGHT magic)", where));
  }
  const std::size_t end = bytes.size() - 8;
  Reader r(bytes, end, where);
  (void)r.take(sizeof kMagic, "the magic");
  const auto version = r.get<std::uint32_t>("the format version");
  if (version != kWeightsFormatVersion) {
    throw core::Error(fmt::format("{}: weights format version {}, this build reads {}", where,
                                  version, kWeightsFormatVersion));
  }
  std::uint64_t stored = 0;
  for (std::size_t i = 0; i < 8; ++i) stored |= std::uint64_t{bytes[end + i]} << (8 * i);
  const std::uint64_t actual = fnv1a(bytes.data(), end);
  std::vector<Tensor> tensors;
  std::string table_error;
  try {
    tensors = read_table(r, where, bytes.size());
  } catch (const core::Error& e) {
    table_error = e.what();
  }
  // The checksum first: damage anywhere (a size field included) is reported as damage, with what
  // the table says when it could be read (a truncated file's last bytes are no checksum either).
  if (stored != actual) {
    throw core::Error(fmt::format(
        "{}: damaged or truncated: the checksum in its last 8 bytes is {:016x}, the {} bytes "
        "before give {:016x}{}",
        where, stored, end, actual, table_error.empty() ? "" : " (" + table_error + ")"));
  }
  if (!table_error.empty()) throw core::Error(table_error);
  for (Tensor& t : tensors) {
    std::size_t n = 1;
    for (const std::size_t d : t.shape) n *= d;
    t.values.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      const float v = std::bit_cast<float>(r.get<std::uint32_t>("a value"));
      if (!std::isfinite(v)) {
        throw core::Error(fmt::format("{}: tensor '{}' value {} is not finite ({})", where,
                                      core::printable(t.name), k, v));
      }
      t.values[k] = v;
    }
  }
  return tensors;
}

std::vector<Tensor> read_weights(const std::filesystem::path& path,
                                 std::span<const TensorSpec> expected,
                                 const std::filesystem::path& architecture) {
  std::vector<Tensor> tensors = read_weights(path);
  const std::string where = path.string();
  if (tensors.size() != expected.size()) {
    throw core::Error(fmt::format("{}: holds {} tensors, the architecture in {} needs {}", where,
                                  tensors.size(), architecture.string(), expected.size()));
  }
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (tensors[i].name != expected[i].name) {
      throw core::Error(fmt::format("{}: tensor {} is '{}', the architecture in {} needs '{}'",
                                    where, i, core::printable(tensors[i].name),
                                    architecture.string(), expected[i].name));
    }
    if (tensors[i].shape != expected[i].shape) {
      throw core::Error(fmt::format("{}: tensor '{}' has shape {}, the architecture in {} needs {}",
                                    where, core::printable(tensors[i].name),
                                    tensors[i].shape_text(), architecture.string(),
                                    neural::shape_text(expected[i].shape)));
    }
  }
  return tensors;
}

}  // namespace netsentry::ml::neural
