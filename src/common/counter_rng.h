// Counter-based pseudo-random numbers for random fill layers, the same code on the host (CPU
// reference) and the device (CUDA kernel): element i of a fill is a pure function of (seed, i), so
// a plan gives the same numbers on every run and on both backends (up to float rounding of
// log/cos). splitmix64 finalizer over the counter; uniform draws take as many top bits as the
// output type has mantissa digits; normal draws are Box-Muller over two 53-bit uniforms.
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

/// Uniform in [0, 1) on a grid of 2^-bits (bits <= 53: the output type's mantissa digits, so
/// rounding to that type never reaches 1).
KILN_HOST_DEVICE inline double uniform(uint64_t seed, uint64_t counter, int bits = 53) {
  return ldexp(static_cast<double>(mix(seed, counter) >> (64 - bits)), -bits);
}

/// Mantissa digits of a float output (53 float64, 24 float32, 11 float16, 8 bfloat16).
KILN_HOST_DEVICE constexpr int uniform_bits(int dtype_bytes, bool bfloat16) {
  return dtype_bytes == 8 ? 53 : dtype_bytes == 4 ? 24 : bfloat16 ? 8 : 11;
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
/// high)); `bits`: uniform_bits of the output.
KILN_HOST_DEVICE inline double draw(int mode, uint64_t seed, uint64_t i, int bits, double low,
                                    double high) {
  if (mode == 3) return integer(seed, i, low, high);
  return mode == 2 ? normal(seed, i) : uniform(seed, i, bits);
}

}  // namespace kiln::rng
