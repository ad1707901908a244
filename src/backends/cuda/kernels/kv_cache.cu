// CUDA kv_cache_write: rows of `update` written in place into the cache input at `positions` along
// one axis (the KV cache of language-model decoding, docs/llm.md). One thread moves 16, 8, 4, 2 or
// 1 bytes (the widest unit that divides a row and both row starts); rows whose position is outside
// [0, cache rows) are skipped (a kernel cannot report without a synchronization; the CPU backend
// reports them). Captured in the decode step's CUDA graph like any launcher: no allocation, no
// sync.
#include <cstdint>

#include "backends/cuda/cuda_kernels.h"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;

template <class Unit, class Pos>
__global__ void kv_cache_write_kernel(Unit* __restrict__ cache, const Pos* __restrict__ pos,
                                      const Unit* __restrict__ upd, int64_t outer, int64_t n_rows,
                                      int64_t cache_rows, int64_t row_units) {
  const int64_t total = outer * n_rows * row_units;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t u = i % row_units;
    const int64_t j = (i / row_units) % n_rows;
    const int64_t o = i / (row_units * n_rows);
    int64_t p = static_cast<int64_t>(pos[j]);
    if (p < 0) p += cache_rows;
    if (p < 0 || p >= cache_rows) continue;
    cache[(o * cache_rows + p) * row_units + u] = upd[i];
  }
}

template <class Pos>
void launch_units(const LaunchArgs& a, int64_t unit, int64_t outer, int64_t n_rows,
                  int64_t cache_rows, int64_t row_bytes) {
  const int64_t row_units = row_bytes / unit;
  const unsigned grid = grid_for(outer * n_rows * row_units, kThreads);
  auto go = [&](auto tag) {
    using U = decltype(tag);
    kv_cache_write_kernel<U, Pos><<<grid, kThreads, 0, a.stream>>>(
        static_cast<U*>(a.out[0].data), static_cast<const Pos*>(a.in[1].data),
        static_cast<const U*>(a.in[2].data), outer, n_rows, cache_rows, row_units);
  };
  if (unit == 16)
    go(int4{});
  else if (unit == 8)
    go(int64_t{});
  else if (unit == 4)
    go(int32_t{});
  else if (unit == 2)
    go(int16_t{});
  else
    go(int8_t{});
}

}  // namespace

Status launch_kv_cache_write(const LaunchArgs& a) {
  const auto& p = std::get<KvCacheWriteParams>(a.layer.params);
  const TensorView &cache = a.in[0], &pos = a.in[1], &upd = a.in[2], &out = a.out[0];
  const int r = cache.dims.rank();
  int64_t ax = p.axis < 0 ? p.axis + r : p.axis;
  if (ax < 0 || ax >= r)
    return layer_error(a.layer, StatusCode::kInvalidArgument, "axis out of range");
  if (out.data != cache.data)
    return layer_error(a.layer, StatusCode::kInternal, "the output does not alias the cache");
  if (pos.dtype != DataType::kInt32 && pos.dtype != DataType::kInt64)
    return layer_error(a.layer, StatusCode::kTypeError, "positions must be int32/int64");
  if (upd.dims.rank() != r || upd.dtype != cache.dtype || pos.numel() != upd.dims[ax])
    return layer_error(a.layer, StatusCode::kShapeError,
                       "cache " + cache.dims.to_string() + ", positions " + pos.dims.to_string() +
                           " and update " + upd.dims.to_string() + " do not fit");
  int64_t outer = 1, row_bytes = static_cast<int64_t>(dtype_size(cache.dtype));
  for (int64_t i = 0; i < ax; ++i) outer *= cache.dims[static_cast<int>(i)];
  for (int64_t i = ax + 1; i < r; ++i) row_bytes *= cache.dims[static_cast<int>(i)];
  const int64_t n_rows = upd.dims[static_cast<int>(ax)];
  if (outer * n_rows * row_bytes == 0) return {};
  const auto addr = reinterpret_cast<uintptr_t>(cache.data) | reinterpret_cast<uintptr_t>(upd.data);
  int64_t unit = 16;
  while (unit > 1 && (row_bytes % unit != 0 || addr % static_cast<uintptr_t>(unit) != 0)) unit /= 2;
  const int64_t cache_rows = cache.dims[static_cast<int>(ax)];
  if (pos.dtype == DataType::kInt64)
    launch_units<int64_t>(a, unit, outer, n_rows, cache_rows, row_bytes);
  else
    launch_units<int32_t>(a, unit, outer, n_rows, cache_rows, row_bytes);
  KILN_CUDA_RETURN(cudaGetLastError());
  return {};
}

}  // namespace kiln::cuda
