// Counter-based pseudo-random numbers for random fill layers, the same code on the host (CPU
// reference) and the device (CUDA kernel): element i of a fill is a pure function of (seed, i), so
// a plan gives the same numbers on every run and on both backends (up to float rounding of log/cos).
// splitmix64 finalizer over the counter; uniform draws take the top 24 (float32) or 53 bits; normal
// draws are Box-Muller over two uniforms.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define KILN_HOST_DEVICE __host__ __device__
#else
#define KILN_HOST_DEVICE
#endif

namespace kiln::rng {

KILN_HOST_DEVICE inline uint64_t mix(uint64_t seed, uint64_t counter) {
  uint64_t x = seed + 0x9E3779B97F4A7C15ull * (counter + 1);
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// Uniform in [0, 1) with 53 random bits (`narrow`: 24 bits, so rounding to float32 stays below 1).
KILN_HOST_DEVICE inline double uniform(uint64_t seed, uint64_t counter, bool narrow = false) {
  uint64_t x = mix(seed, counter);
  return narrow ? static_cast<double>(x >> 40) * (1.0 / 16777216.0)
                : static_cast<double>(x >> 11) * (1.0 / 9007199254740992.0);
}

/// Standard normal draw for element i (Box-Muller over counters 2i and 2i + 1).
KILN_HOST_DEVICE inline double normal(uint64_t seed, uint64_t i) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  double u1 = 1.0 - uniform(seed, 2 * i);  // (0, 1]: log is finite
  double u2 = uniform(seed, 2 * i + 1);
  return sqrt(-2.0 * log(u1)) * cos(kTwoPi * u2);
}

/// An integer uniform in [low, high) (as a double; exact below 2^53).
KILN_HOST_DEVICE inline double integer(uint64_t seed, uint64_t i, double low, double high) {
  double r = floor(low + uniform(seed, i) * (high - low));
  return r < high ? r : high - 1;  // rounding of the product must not reach `high`
}

/// Element i of a fill of `mode` (FillMode's values: 1 uniform, 2 normal, 3 integer in [low,
/// high)); `narrow` for float outputs narrower than float64.
KILN_HOST_DEVICE inline double draw(int mode, uint64_t seed, uint64_t i, bool narrow, double low,
                                    double high) {
  if (mode == 3) return integer(seed, i, low, high);
  return mode == 2 ? normal(seed, i) : uniform(seed, i, narrow);
}

}  // namespace kiln::rng
