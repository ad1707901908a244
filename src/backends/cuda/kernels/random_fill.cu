// Random device data for tactic timing (never zeros: zeros can run faster than real data).
#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/tactics.h"

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

}  // namespace kiln::cuda
