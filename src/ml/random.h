// Provides ml::Rng, the seeded generator our models use: std::mt19937_64 (whose output the standard
// fixes) plus our own conversions, so a seed gives the same model on every standard library.
// Thread rules: one Rng per thread; derive per-task streams with Rng(seed, stream).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>

namespace netsentry::ml {

class Rng {
 public:
  explicit Rng(std::uint64_t seed, std::uint64_t stream = 0) : engine_(mix(seed, stream)) {}

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  // Uniform in [0, n), n > 0, without modulo bias.
  std::size_t below(std::size_t n) {
    const std::uint64_t bound = n;
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    std::uint64_t r = engine_();
    while (r >= limit) r = engine_();
    return static_cast<std::size_t>(r % bound);
  }

  // Standard normal (Box-Muller), for synthetic data and initialisation.
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  // splitmix64 of (seed, stream): nearby seeds and streams give unrelated generator states.
  static std::uint64_t mix(std::uint64_t seed, std::uint64_t stream) {
    std::uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  std::mt19937_64 engine_;
};

}  // namespace netsentry::ml
