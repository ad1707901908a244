// CUDA kernels: softmax / log-softmax, layer norm, RMS norm, group norm and batch norm (inference).
// Semantics follow the CPU reference (src/backends/cpu/softmax_norm.cpp); all math is float32, the
// variance is two-pass and biased (divide by N).
//
// Row ops (softmax over the last axis, layer/RMS norm over trailing dims):
//   n <= 1024: a warp per row, the row in registers (up to 32 per lane), warp-shuffle reductions,
//              16-byte loads/stores when the row length and pointers allow;
//   n >  1024: a 512-thread block per row, the row cached in shared memory (as float) when
//              n <= kCacheFloats, else re-read from global memory for each pass.
// Softmax over another axis: a thread per (outer, inner) column, coalesced over inner.
// Group norm: a block per (n, group). Batch norm: elementwise, one channel per 16-byte pack.
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/kernels/device_utils.cuh"

namespace kiln::cuda {
namespace {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int64_t kWarpRowMax = 1024;  // longest row kept in one warp's registers
constexpr int kBlockThreads = 512;     // block kernels
constexpr int64_t kCacheFloats =
    11264;  // 44 KiB: rows/groups up to this long stay in shared memory

enum class RowOp { kSoftmax, kLayerNorm, kRmsNorm };

// ---- helpers ----

/// PACK consecutive elements (PACK == 1, or one 16-byte vector) as floats.
template <class T, int PACK>
__device__ __forceinline__ void load_pack(const T* p, float* f) {
  if constexpr (PACK == 1) {
    f[0] = to_f32(p[0]);
  } else {
    static_assert(PACK * sizeof(T) == 16, "a pack is one 16-byte vector");
    alignas(16) T r[PACK];
    *reinterpret_cast<uint4*>(r) = *reinterpret_cast<const uint4*>(p);
#pragma unroll
    for (int e = 0; e < PACK; ++e) f[e] = to_f32(r[e]);
  }
}

template <class T, int PACK>
__device__ __forceinline__ void store_pack(T* p, const float* f) {
  if constexpr (PACK == 1) {
    p[0] = from_f32<T>(f[0]);
  } else {
    alignas(16) T r[PACK];
#pragma unroll
    for (int e = 0; e < PACK; ++e) r[e] = from_f32<T>(f[e]);
    *reinterpret_cast<uint4*>(p) = *reinterpret_cast<const uint4*>(r);
  }
}

/// Optional per-element parameter pack (gamma: 1, beta: 0 when absent).
template <class T, int PACK>
__device__ __forceinline__ void param_pack(const T* p, int64_t j, float dflt, float* f) {
  if (p != nullptr) {
    load_pack<T, PACK>(p + j, f);
  } else {
#pragma unroll
    for (int e = 0; e < PACK; ++e) f[e] = dflt;
  }
}

/// NaN-propagating max (as the reference: once NaN, stays NaN).
__device__ __forceinline__ float nan_max(float a, float b) {
  return isnan(a) ? a : (isnan(b) ? b : fmaxf(a, b));
}

template <bool kMax>
__device__ __forceinline__ float warp_all(float v) {
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) {
    float o = __shfl_xor_sync(kFullMask, v, m);
    v = kMax ? nan_max(v, o) : v + o;
  }
  return v;
}

/// Every thread gets the block's result (blockDim.x a multiple of 32); `sh` holds 32 floats.
template <bool kMax>
__device__ __forceinline__ float block_all(float v, float* sh) {
  v = warp_all<kMax>(v);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  float r = sh[0];
  for (int w = 1; w < nw; ++w) r = kMax ? nan_max(r, sh[w]) : r + sh[w];
  __syncthreads();  // sh may be reused
  return r;
}

/// The reference shifts by the max, except that a max of -inf shifts by 0 (exp(-inf) = 0, sum 0 ->
/// nan).
__device__ __forceinline__ float softmax_shift(float m) { return (isinf(m) && m < 0) ? 0.f : m; }

// ---- row kernels: a warp per row ----

/// Lane l holds packs l, l + 32, ... of the row: element (l + 32 k) * PACK + e is v[k * PACK + e].
/// n <= 32 * ITEMS; with PACK > 1, n % PACK == 0 and all pointers are 16-byte aligned.
template <class T, RowOp OP, int ITEMS, int PACK>
__global__ void row_warp_kernel(const T* x, T* y, const T* gamma, const T* beta, int64_t rows,
                                int n, float eps, bool log) {
  static_assert(ITEMS % PACK == 0, "ITEMS must be a multiple of PACK");
  constexpr int NP = ITEMS / PACK;
  const int lane = threadIdx.x & 31;
  const int64_t per = blockDim.x >> 5;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * per + (threadIdx.x >> 5); row < rows;
       row += static_cast<int64_t>(gridDim.x) * per) {
    const T* px = x + row * n;
    T* py = y + row * n;
    float v[ITEMS];
#pragma unroll
    for (int k = 0; k < NP; ++k) {
      const int j = (lane + 32 * k) * PACK;
      if (j < n) {
        load_pack<T, PACK>(px + j, v + k * PACK);
      } else {
#pragma unroll
        for (int e = 0; e < PACK; ++e) v[k * PACK + e] = 0.f;
      }
    }
    if constexpr (OP == RowOp::kSoftmax) {
      float m = -INFINITY;
#pragma unroll
      for (int k = 0; k < NP; ++k)
        if ((lane + 32 * k) * PACK < n)
#pragma unroll
          for (int e = 0; e < PACK; ++e) m = nan_max(m, v[k * PACK + e]);
      m = softmax_shift(warp_all<true>(m));
      float s = 0.f;
#pragma unroll
      for (int k = 0; k < NP; ++k)
        if ((lane + 32 * k) * PACK < n)
#pragma unroll
          for (int e = 0; e < PACK; ++e) {
            float& t = v[k * PACK + e];
            if (log) {
              t -= m;
              s += expf(t);
            } else {
              t = expf(t - m);
              s += t;
            }
          }
      s = warp_all<false>(s);
      const float ls = log ? logf(s) : 0.f, inv = log ? 0.f : 1.0f / s;
#pragma unroll
      for (int k = 0; k < NP; ++k) {
        const int j = (lane + 32 * k) * PACK;
        if (j < n) {
#pragma unroll
          for (int e = 0; e < PACK; ++e)
            v[k * PACK + e] = log ? v[k * PACK + e] - ls : v[k * PACK + e] * inv;
          store_pack<T, PACK>(py + j, v + k * PACK);
        }
      }
    } else {
      // Layer norm: deviations from mean = pivot + dmean (pivot: the row's first element), so a
      // large common offset does not cost precision. RMS norm: pivot = dmean = 0.
      float pivot = 0.f, dmean = 0.f;
      if constexpr (OP == RowOp::kLayerNorm) {
        pivot = __shfl_sync(kFullMask, v[0], 0);
        float s = 0.f;
#pragma unroll
        for (int k = 0; k < NP; ++k)
          if ((lane + 32 * k) * PACK < n)
#pragma unroll
            for (int e = 0; e < PACK; ++e) s += v[k * PACK + e] - pivot;
        dmean = warp_all<false>(s) / static_cast<float>(n);
      }
      float ss = 0.f;
#pragma unroll
      for (int k = 0; k < NP; ++k)
        if ((lane + 32 * k) * PACK < n)
#pragma unroll
          for (int e = 0; e < PACK; ++e) {
            float d = (v[k * PACK + e] - pivot) - dmean;
            ss += d * d;
          }
      const float rstd = 1.0f / sqrtf(warp_all<false>(ss) / static_cast<float>(n) + eps);
#pragma unroll
      for (int k = 0; k < NP; ++k) {
        const int j = (lane + 32 * k) * PACK;
        if (j < n) {
          float g[PACK], b[PACK];
          param_pack<T, PACK>(gamma, j, 1.f, g);
          param_pack<T, PACK>(beta, j, 0.f, b);
#pragma unroll
          for (int e = 0; e < PACK; ++e)
            v[k * PACK + e] = ((v[k * PACK + e] - pivot) - dmean) * rstd * g[e] + b[e];
          store_pack<T, PACK>(py + j, v + k * PACK);
        }
      }
    }
  }
}

// ---- row kernels: a block per row ----

/// Pack p of the row: from the shared-memory cache when there is one, else from global memory.
template <class T, int PACK>
__device__ __forceinline__ void get_pack(const T* px, const float* cache, int64_t p, float* f) {
  if (cache != nullptr) {
#pragma unroll
    for (int e = 0; e < PACK; ++e) f[e] = cache[p * PACK + e];
  } else {
    load_pack<T, PACK>(px + p * PACK, f);
  }
}

/// Thread t handles packs t, t + blockDim.x, ... in every pass (so the cache needs no barriers).
/// Dynamic shared memory: n floats when `use_cache`.
template <class T, RowOp OP, int PACK>
__global__ void row_block_kernel(const T* x, T* y, const T* gamma, const T* beta, int64_t rows,
                                 int64_t n, float eps, bool log, bool use_cache) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ float red[32];
  float* cache = use_cache ? reinterpret_cast<float*>(smem_raw) : nullptr;
  const int64_t np = n / PACK;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* px = x + row * n;
    T* py = y + row * n;
    const float pivot = OP == RowOp::kLayerNorm ? to_f32(px[0]) : 0.f;  // see row_warp_kernel
    float a = OP == RowOp::kSoftmax ? -INFINITY : 0.f;
    for (int64_t p = threadIdx.x; p < np; p += blockDim.x) {
      float f[PACK];
      load_pack<T, PACK>(px + p * PACK, f);
#pragma unroll
      for (int e = 0; e < PACK; ++e) {
        if (cache) cache[p * PACK + e] = f[e];
        a = OP == RowOp::kSoftmax     ? nan_max(a, f[e])
            : OP == RowOp::kLayerNorm ? a + (f[e] - pivot)
                                      : a + f[e] * f[e];
      }
    }
    if constexpr (OP == RowOp::kSoftmax) {
      const float m = softmax_shift(block_all<true>(a, red));
      float s = 0.f;
      for (int64_t p = threadIdx.x; p < np; p += blockDim.x) {
        float f[PACK];
        get_pack<T, PACK>(px, cache, p, f);
#pragma unroll
        for (int e = 0; e < PACK; ++e) s += expf(f[e] - m);
      }
      s = block_all<false>(s, red);
      const float ls = log ? logf(s) : 0.f, inv = log ? 0.f : 1.0f / s;
      for (int64_t p = threadIdx.x; p < np; p += blockDim.x) {
        float f[PACK];
        get_pack<T, PACK>(px, cache, p, f);
#pragma unroll
        for (int e = 0; e < PACK; ++e) f[e] = log ? (f[e] - m) - ls : expf(f[e] - m) * inv;
        store_pack<T, PACK>(py + p * PACK, f);
      }
    } else {
      float dmean = 0.f, rstd;
      if constexpr (OP == RowOp::kLayerNorm) {
        dmean = block_all<false>(a, red) / static_cast<float>(n);
        float ss = 0.f;
        for (int64_t p = threadIdx.x; p < np; p += blockDim.x) {
          float f[PACK];
          get_pack<T, PACK>(px, cache, p, f);
#pragma unroll
          for (int e = 0; e < PACK; ++e) {
            const float d = (f[e] - pivot) - dmean;
            ss += d * d;
          }
        }
        rstd = 1.0f / sqrtf(block_all<false>(ss, red) / static_cast<float>(n) + eps);
      } else {
        rstd = 1.0f / sqrtf(block_all<false>(a, red) / static_cast<float>(n) + eps);
      }
      for (int64_t p = threadIdx.x; p < np; p += blockDim.x) {
        float f[PACK], g[PACK], b[PACK];
        get_pack<T, PACK>(px, cache, p, f);
        param_pack<T, PACK>(gamma, p * PACK, 1.f, g);
        param_pack<T, PACK>(beta, p * PACK, 0.f, b);
#pragma unroll
        for (int e = 0; e < PACK; ++e) f[e] = ((f[e] - pivot) - dmean) * rstd * g[e] + b[e];
        store_pack<T, PACK>(py + p * PACK, f);
      }
    }
  }
}

// ---- softmax over a non-last axis ----

template <class T>
__global__ void softmax_cols_kernel(const T* x, T* y, int64_t outer, int64_t n, int64_t inner,
                                    bool log) {
  KILN_GRID_STRIDE_LOOP(q, outer * inner) {
    const int64_t base = (q / inner) * n * inner + q % inner;
    float m = -INFINITY;
    for (int64_t j = 0; j < n; ++j) m = nan_max(m, to_f32(x[base + j * inner]));
    m = softmax_shift(m);
    float s = 0.f;
    for (int64_t j = 0; j < n; ++j) s += expf(to_f32(x[base + j * inner]) - m);
    const float ls = log ? logf(s) : 0.f, inv = log ? 0.f : 1.0f / s;
    for (int64_t j = 0; j < n; ++j) {
      const float t = to_f32(x[base + j * inner]) - m;
      y[base + j * inner] = from_f32<T>(log ? t - ls : expf(t) * inv);
    }
  }
}

// ---- group norm / batch norm ----

/// A block per (n, g): the group's cpg * spatial contiguous elements. With PACK > 1, spatial % PACK
/// == 0 (a pack never straddles channels) and x, y are 16-byte aligned. Dynamic shared memory: the
/// group as floats when `use_cache`.
template <class T, int PACK>
__global__ void group_norm_kernel(const T* x, T* y, const T* gamma, const T* beta,
                                  int64_t groups_total, int64_t num_groups, int64_t cpg,
                                  int64_t spatial, float eps, bool use_cache) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ float red[32];
  float* cache = use_cache ? reinterpret_cast<float*>(smem_raw) : nullptr;
  const int64_t chunk = cpg * spatial, np = chunk / PACK;
  for (int64_t b = blockIdx.x; b < groups_total; b += gridDim.x) {
    const T* px = x + b * chunk;
    T* py = y + b * chunk;
    const int64_t c0 = (b % num_groups) * cpg;
    const float pivot = to_f32(px[0]);  // deviations from pivot + dmean, as in row_warp_kernel
    float s = 0.f;
    for (int64_t p = threadIdx.x; p < np; p += blockDim.x) {
      float f[PACK];
      load_pack<T, PACK>(px + p * PACK, f);
#pragma unroll
      for (int e = 0; e < PACK; ++e) {
        if (cache) cache[p * PACK + e] = f[e];
        s += f[e] - pivot;
      }
    }
    const float dmean = block_all<false>(s, red) / static_cast<float>(chunk);
    float ss = 0.f;
    for (int64_t p = threadIdx.x; p < np; p += blockDim.x) {
      float f[PACK];
      get_pack<T, PACK>(px, cache, p, f);
#pragma unroll
      for (int e = 0; e < PACK; ++e) {
        const float d = (f[e] - pivot) - dmean;
        ss += d * d;
      }
    }
    const float rstd = 1.0f / sqrtf(block_all<false>(ss, red) / static_cast<float>(chunk) + eps);
    for (int64_t p = threadIdx.x; p < np; p += blockDim.x) {
      float f[PACK];
      get_pack<T, PACK>(px, cache, p, f);
      const int64_t c = c0 + (p * PACK) / spatial;
      const float g = gamma ? to_f32(gamma[c]) : 1.f, bt = beta ? to_f32(beta[c]) : 0.f;
#pragma unroll
      for (int e = 0; e < PACK; ++e) f[e] = ((f[e] - pivot) - dmean) * rstd * g + bt;
      store_pack<T, PACK>(py + p * PACK, f);
    }
  }
}

/// y = (x - mean[c]) * gamma[c] / sqrt(var[c] + eps) + beta[c]; with PACK > 1, spatial % PACK == 0.
template <class T, int PACK>
__global__ void batch_norm_kernel(const T* x, T* y, const T* mean, const T* var, const T* gamma,
                                  const T* beta, int64_t npacks, int64_t channels, int64_t spatial,
                                  float eps) {
  KILN_GRID_STRIDE_LOOP(p, npacks) {
    const int64_t c = ((p * PACK) / spatial) % channels;
    const float scale = (gamma ? to_f32(gamma[c]) : 1.f) / sqrtf(to_f32(var[c]) + eps);
    const float mu = to_f32(mean[c]), shift = beta ? to_f32(beta[c]) : 0.f;
    float f[PACK];
    load_pack<T, PACK>(x + p * PACK, f);
#pragma unroll
    for (int e = 0; e < PACK; ++e) f[e] = (f[e] - mu) * scale + shift;
    store_pack<T, PACK>(y + p * PACK, f);
  }
}

// ---- host side ----

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

bool present(const LaunchArgs& a, size_t i) { return a.in.size() > i && a.in[i].data != nullptr; }

int norm_axis(int64_t axis, int rank) {
  int r = std::max(rank, 1);
  int64_t v = axis < 0 ? axis + r : axis;
  return static_cast<int>(std::clamp<int64_t>(v, 0, r - 1));
}

Status check_same(const LaunchArgs& a) {
  if (a.out[0].numel() != a.in[0].numel() || a.out[0].dtype != a.in[0].dtype)
    return layer_error(a.layer, StatusCode::kInternal,
                       "output differs from input in size or dtype");
  if (!is_floating(a.in[0].dtype))
    return layer_error(a.layer, StatusCode::kUnsupported, "needs a float input");
  return {};
}

/// Optional (or required) parameter input i: absent, or `want` elements of x's dtype.
Status check_param(const LaunchArgs& a, size_t i, int64_t want, const char* what, bool required) {
  if (!present(a, i)) {
    if (required)
      return layer_error(a.layer, StatusCode::kInvalidArgument, std::string(what) + " is required");
    return {};
  }
  if (a.in[i].numel() != want || a.in[i].dtype != a.in[0].dtype)
    return layer_error(a.layer, StatusCode::kShapeError,
                       std::string(what) + " has " + std::to_string(a.in[i].numel()) +
                           " elements, expected " + std::to_string(want));
  return {};
}

template <class T>
const T* param_ptr(const LaunchArgs& a, size_t i) {
  return present(a, i) ? static_cast<const T*>(a.in[i].data) : nullptr;
}

/// Softmax / layer norm / RMS norm over contiguous rows of n.
template <class T, RowOp OP>
void launch_rows(const LaunchArgs& a, int64_t rows, int64_t n, const T* gamma, const T* beta,
                 float eps, bool log) {
  constexpr int V = 16 / sizeof(T);
  const T* x = static_cast<const T*>(a.in[0].data);
  T* y = static_cast<T*>(a.out[0].data);
  const bool vec = n % V == 0 && aligned16(x) && aligned16(y) && (!gamma || aligned16(gamma)) &&
                   (!beta || aligned16(beta));
  if (n <= kWarpRowMax) {
    const unsigned grid = grid_for(rows, 8);
    const int ni = static_cast<int>(n);
    auto go = [&](auto items, auto pack) {
      row_warp_kernel<T, OP, decltype(items)::value, decltype(pack)::value>
          <<<grid, 256, 0, a.stream>>>(x, y, gamma, beta, rows, ni, eps, log);
    };
    using I8 = std::integral_constant<int, 8>;
    using I16 = std::integral_constant<int, 16>;
    using I24 = std::integral_constant<int, 24>;
    using I32 = std::integral_constant<int, 32>;
    using PV = std::integral_constant<int, V>;
    using P1 = std::integral_constant<int, 1>;
    if (n <= 256) {
      vec ? go(I8{}, PV{}) : go(I8{}, P1{});
    } else if (n <= 512) {
      vec ? go(I16{}, PV{}) : go(I16{}, P1{});
    } else if (n <= 768) {
      vec ? go(I24{}, PV{}) : go(I24{}, P1{});
    } else {
      vec ? go(I32{}, PV{}) : go(I32{}, P1{});
    }
  } else {
    const bool cache = n <= kCacheFloats;
    const size_t smem = cache ? static_cast<size_t>(n) * sizeof(float) : 0;
    const unsigned grid = grid_for(rows, 1);
    if (vec) {
      row_block_kernel<T, OP, V>
          <<<grid, kBlockThreads, smem, a.stream>>>(x, y, gamma, beta, rows, n, eps, log, cache);
    } else {
      row_block_kernel<T, OP, 1>
          <<<grid, kBlockThreads, smem, a.stream>>>(x, y, gamma, beta, rows, n, eps, log, cache);
    }
  }
}

/// Layer norm and RMS norm: rows over dims [axis, rank).
template <RowOp OP>
Status launch_trailing_norm(const LaunchArgs& a, int64_t axis_param, double epsilon,
                            bool has_beta) {
  KILN_RETURN_IF_ERROR(check_same(a));
  const TensorView& x = a.in[0];
  const int r = x.dims.rank();
  if (r == 0) return layer_error(a.layer, StatusCode::kShapeError, "needs rank >= 1");
  const int axis = norm_axis(axis_param, r);
  int64_t rows = 1, m = 1;
  for (int i = 0; i < axis; ++i) rows *= x.dims[i];
  for (int i = axis; i < r; ++i) m *= x.dims[i];
  KILN_RETURN_IF_ERROR(check_param(a, 1, m, "gamma", false));
  if (has_beta) KILN_RETURN_IF_ERROR(check_param(a, 2, m, "beta", false));
  if (x.numel() == 0) return {};
  visit_float_dtype(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_rows<T, OP>(a, rows, m, param_ptr<T>(a, 1), has_beta ? param_ptr<T>(a, 2) : nullptr,
                       static_cast<float>(epsilon), false);
  });
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

}  // namespace

Status launch_softmax(const LaunchArgs& a) {
  const auto& p = std::get<SoftmaxParams>(a.layer.params);
  KILN_RETURN_IF_ERROR(check_same(a));
  const TensorView& x = a.in[0];
  if (x.numel() == 0) return {};
  const int r = x.dims.rank();
  const int axis = norm_axis(p.axis, r);
  int64_t outer = 1, n = 1, inner = 1;
  if (r > 0) {
    for (int i = 0; i < axis; ++i) outer *= x.dims[i];
    n = x.dims[axis];
    for (int i = axis + 1; i < r; ++i) inner *= x.dims[i];
  }
  visit_float_dtype(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (inner == 1) {
      launch_rows<T, RowOp::kSoftmax>(a, outer, n, nullptr, nullptr, 0.f, p.log);
    } else {
      softmax_cols_kernel<T><<<grid_for(outer * inner, 256), 256, 0, a.stream>>>(
          static_cast<const T*>(x.data), static_cast<T*>(a.out[0].data), outer, n, inner, p.log);
    }
  });
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_layer_norm(const LaunchArgs& a) {
  const auto& p = std::get<LayerNormParams>(a.layer.params);
  return launch_trailing_norm<RowOp::kLayerNorm>(a, p.axis, p.epsilon, true);
}

Status launch_rms_norm(const LaunchArgs& a) {
  const auto& p = std::get<RmsNormParams>(a.layer.params);
  return launch_trailing_norm<RowOp::kRmsNorm>(a, p.axis, p.epsilon, false);
}

Status launch_group_norm(const LaunchArgs& a) {
  const auto& p = std::get<GroupNormParams>(a.layer.params);
  KILN_RETURN_IF_ERROR(check_same(a));
  const TensorView& x = a.in[0];
  if (x.dims.rank() < 2)
    return layer_error(a.layer, StatusCode::kShapeError, "input must be [N, C, ...]");
  const int64_t n = x.dims[0], c = x.dims[1], g = p.num_groups;
  if (g < 1 || c % g != 0)
    return layer_error(
        a.layer, StatusCode::kShapeError,
        "channels " + std::to_string(c) + " not divisible by num_groups " + std::to_string(g));
  int64_t spatial = 1;
  for (int i = 2; i < x.dims.rank(); ++i) spatial *= x.dims[i];
  KILN_RETURN_IF_ERROR(check_param(a, 1, c, "gamma", false));
  KILN_RETURN_IF_ERROR(check_param(a, 2, c, "beta", false));
  if (x.numel() == 0) return {};
  const int64_t cpg = c / g, chunk = cpg * spatial, groups_total = n * g;
  const bool cache = chunk <= kCacheFloats;
  const size_t smem = cache ? static_cast<size_t>(chunk) * sizeof(float) : 0;
  const unsigned grid = grid_for(groups_total, 1);
  const float eps = static_cast<float>(p.epsilon);
  visit_float_dtype(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int V = 16 / sizeof(T);
    const T* px = static_cast<const T*>(x.data);
    T* py = static_cast<T*>(a.out[0].data);
    const T *gm = param_ptr<T>(a, 1), *bt = param_ptr<T>(a, 2);
    if (spatial % V == 0 && aligned16(px) && aligned16(py)) {
      group_norm_kernel<T, V><<<grid, kBlockThreads, smem, a.stream>>>(px, py, gm, bt, groups_total,
                                                                       g, cpg, spatial, eps, cache);
    } else {
      group_norm_kernel<T, 1><<<grid, kBlockThreads, smem, a.stream>>>(px, py, gm, bt, groups_total,
                                                                       g, cpg, spatial, eps, cache);
    }
  });
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_batch_norm(const LaunchArgs& a) {
  const auto& p = std::get<BatchNormParams>(a.layer.params);
  KILN_RETURN_IF_ERROR(check_same(a));
  const TensorView& x = a.in[0];
  if (x.dims.rank() < 2)
    return layer_error(a.layer, StatusCode::kShapeError, "input must be [N, C, ...]");
  const int64_t c = x.dims[1];
  int64_t spatial = 1;
  for (int i = 2; i < x.dims.rank(); ++i) spatial *= x.dims[i];
  KILN_RETURN_IF_ERROR(check_param(a, 1, c, "mean", c > 0));
  KILN_RETURN_IF_ERROR(check_param(a, 2, c, "var", c > 0));
  KILN_RETURN_IF_ERROR(check_param(a, 3, c, "gamma", false));
  KILN_RETURN_IF_ERROR(check_param(a, 4, c, "beta", false));
  const int64_t total = x.numel();
  if (total == 0) return {};
  const float eps = static_cast<float>(p.epsilon);
  visit_float_dtype(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int V = 16 / sizeof(T);
    const T* px = static_cast<const T*>(x.data);
    T* py = static_cast<T*>(a.out[0].data);
    const T *mu = param_ptr<T>(a, 1), *var = param_ptr<T>(a, 2), *gm = param_ptr<T>(a, 3),
            *bt = param_ptr<T>(a, 4);
    if (spatial % V == 0 && aligned16(px) && aligned16(py)) {
      const int64_t np = total / V;
      batch_norm_kernel<T, V>
          <<<grid_for(np, 256), 256, 0, a.stream>>>(px, py, mu, var, gm, bt, np, c, spatial, eps);
    } else {
      batch_norm_kernel<T, 1><<<grid_for(total, 256), 256, 0, a.stream>>>(px, py, mu, var, gm, bt,
                                                                          total, c, spatial, eps);
    }
  });
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

}  // namespace kiln::cuda
