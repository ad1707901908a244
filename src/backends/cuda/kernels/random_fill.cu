// Random device data: for tactic timing (never zeros: zeros can run faster than real data), and
// the seeded random fill layers (torch.rand / randn) with the CPU reference's counter-based numbers
// (common/counter_rng.h: the same (seed, index) -> value function).
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/tactics.h"
#include "common/counter_rng.h"

namespace kiln::cuda {
namespace {

__device__ __forceinline__ float hash_uniform(int64_t i, uint64_t seed) {
  uint64_t x = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull +
               seed * 0xD1B54A32D192ED03ull;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  return static_cast<float>(x >> 40) / static_cast<float>(1ull << 24) * 2.0f - 1.0f;
}

template <class T>
__global__ void random_kernel(T* p, int64_t n, uint64_t seed) {
  KILN_GRID_STRIDE_LOOP(i, n) { p[i] = from_f32<T>(hash_uniform(i, seed)); }
}

template <class T>
__global__ void random_fill_kernel(T* p, int64_t n, int mode, uint64_t seed, double low,
                                   double high) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    constexpr int kBits =
        rng::uniform_bits(static_cast<int>(sizeof(T)), std::is_same_v<T, __nv_bfloat16>);
    const double v = rng::draw(mode, seed, static_cast<uint64_t>(i), kBits, low, high);
    if constexpr (kIsFloat<T>) {
      p[i] = from_f32<T>(static_cast<float>(v));
    } else {
      p[i] = static_cast<T>(v);  // an integer in the dtype's range (the converter checks it)
    }
  }
}

}  // namespace

Status fill_random(void* data, DataType dt, int64_t n, cudaStream_t stream, uint64_t seed) {
  if (n <= 0) return {};
  visit_dtype(dt, [&](auto t) {
    using T = typename decltype(t)::type;
    random_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(static_cast<T*>(data), n, seed);
  });
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_random_fill(const LaunchArgs& a) {
  const auto& p = std::get<FillParams>(a.layer.params);
  const TensorView& o = a.out[0];
  const int64_t n = o.numel();
  if (n == 0) return {};
  const bool integer_out = p.mode == FillMode::kInteger && !is_floating(o.dtype);
  if (integer_out && o.dtype != DataType::kBool) {
    visit_dtype(o.dtype, [&](auto t) {
      using T = typename decltype(t)::type;
      random_fill_kernel<T><<<grid_for(n, 256), 256, 0, a.stream>>>(
          static_cast<T*>(o.data), n, static_cast<int>(p.mode), static_cast<uint64_t>(p.seed),
          p.value, p.high);
    });
    KILN_CUDA_LAUNCH_CHECK();
    return {};
  }
  const bool ok = visit_float_dtype(o.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    random_fill_kernel<T><<<grid_for(n, 256), 256, 0, a.stream>>>(
        static_cast<T*>(o.data), n, static_cast<int>(p.mode), static_cast<uint64_t>(p.seed),
        p.value, p.high);
  });
  if (!ok)
    return layer_error(a.layer, StatusCode::kTypeError,
                       "random fill of " + std::string(dtype_name(o.dtype)));
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

}  // namespace kiln::cuda
