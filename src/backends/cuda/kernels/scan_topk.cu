// CUDA kernels: cumsum (float64 scan for floats, wrapping int64 for integers, exclusive / reverse)
// and top-k (order-preserving keys: NaN largest, ties to the lower index). Semantics follow the CPU
// reference (src/backends/cpu/reduce.cpp, topk.cpp).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/kernels/device_utils.cuh"

namespace kiln::cuda {
namespace {

constexpr unsigned kFullMask = 0xffffffffu;

// ---- cumsum ----

/// Scan domain: float64 for floats (matches the sequential float64 reference on long axes),
/// wrapping uint64 for integers.
template <class T>
using CDom = std::conditional_t<kIsFloat<T>, double, uint64_t>;

template <class T>
__device__ __forceinline__ CDom<T> c_load(T v) {
  if constexpr (kIsFloat<T>) {
    return static_cast<double>(to_f32(v));
  } else {
    return static_cast<uint64_t>(static_cast<int64_t>(v));
  }
}

template <class T>
__device__ __forceinline__ T c_store(CDom<T> v) {
  if constexpr (kIsFloat<T>) {
    return from_f32<T>(static_cast<float>(v));
  } else {
    return static_cast<T>(static_cast<int64_t>(v));
  }
}

/// [rows, n] scanned along n: a warp per row, chunks of 128 (4 consecutive elements per lane).
template <class T>
__global__ void cumsum_rows_kernel(const T* x, T* y, int64_t rows, int64_t n, bool exclusive,
                                   bool reverse) {
  using C = CDom<T>;
  constexpr int kItems = 4;
  const int lane = threadIdx.x & 31;
  const int64_t per = blockDim.x >> 5;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * per + (threadIdx.x >> 5); row < rows;
       row += static_cast<int64_t>(gridDim.x) * per) {
    const T* px = x + row * n;
    T* py = y + row * n;
    C carry = 0;
    for (int64_t c0 = 0; c0 < n; c0 += 32 * kItems) {
      C v[kItems];
      C tot = 0;
#pragma unroll
      for (int e = 0; e < kItems; ++e) {
        int64_t t = c0 + lane * kItems + e;
        v[e] = t < n ? c_load<T>(px[reverse ? n - 1 - t : t]) : C(0);
        tot += v[e];
      }
      C incl = tot;
#pragma unroll
      for (int off = 1; off < 32; off <<= 1) {
        C u = __shfl_up_sync(kFullMask, incl, off);
        if (lane >= off) incl += u;
      }
      C excl = __shfl_up_sync(kFullMask, incl, 1);
      C run = carry + (lane == 0 ? C(0) : excl);
#pragma unroll
      for (int e = 0; e < kItems; ++e) {
        int64_t t = c0 + lane * kItems + e;
        if (t < n) {
          C next = run + v[e];
          py[reverse ? n - 1 - t : t] = c_store<T>(exclusive ? run : next);
          run = next;
        }
      }
      carry += __shfl_sync(kFullMask, incl, 31);
    }
  }
}

/// [outer, n, inner] with inner > 1: a thread per (o, i), sequential along n (coalesced over i).
template <class T>
__global__ void cumsum_cols_kernel(const T* x, T* y, int64_t outer, int64_t n, int64_t inner,
                                   bool exclusive, bool reverse) {
  using C = CDom<T>;
  KILN_GRID_STRIDE_LOOP(q, outer * inner) {
    const int64_t base = (q / inner) * n * inner + q % inner;
    C acc = 0;
    for (int64_t t = 0; t < n; ++t) {
      const int64_t off = base + (reverse ? n - 1 - t : t) * inner;
      C next = acc + c_load<T>(x[off]);
      y[off] = c_store<T>(exclusive ? acc : next);
      acc = next;
    }
  }
}

// ---- top-k ----

/// Order-preserving unsigned key: larger key = earlier in the output. NaN is larger than
/// everything (first when largest, last when smallest); -0 equals +0.
template <class T>
using TKey = std::conditional_t<std::is_same_v<T, int64_t>, uint64_t, uint32_t>;

template <class T>
__device__ __forceinline__ TKey<T> topk_key(T v, bool largest) {
  TKey<T> u;
  if constexpr (kIsFloat<T>) {
    float f = to_f32(v);
    if (isnan(f)) {
      u = 0xffffffffu;
    } else {
      if (f == 0.0f) f = 0.0f;
      uint32_t b = __float_as_uint(f);
      u = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
    }
  } else if constexpr (std::is_same_v<T, int64_t>) {
    u = static_cast<uint64_t>(v) ^ 0x8000000000000000ull;
  } else {
    u = static_cast<uint32_t>(static_cast<int32_t>(v)) ^ 0x80000000u;
  }
  return largest ? u : static_cast<TKey<T>>(~u);
}

template <class K>
struct TEntry {
  K key;
  int64_t idx;
};

template <class K>
__device__ __forceinline__ bool entry_before(const TEntry<K>& a, const TEntry<K>& b) {
  return a.key > b.key || (a.key == b.key && a.idx < b.idx);
}

/// Sorts buf[0, m) (m a power of two) best first; the whole block takes part.
template <class K>
__device__ void block_bitonic_sort(TEntry<K>* buf, int64_t m) {
  for (int64_t size = 2; size <= m; size <<= 1) {
    for (int64_t stride = size >> 1; stride > 0; stride >>= 1) {
      for (int64_t t = threadIdx.x; t < (m >> 1); t += blockDim.x) {
        const int64_t lo = 2 * stride * (t / stride) + (t % stride), hi = lo + stride;
        const bool up = (lo & size) == 0;
        TEntry<K> x = buf[lo], y = buf[hi];
        if (up ? entry_before(y, x) : entry_before(x, y)) {
          buf[lo] = y;
          buf[hi] = x;
        }
      }
      __syncthreads();
    }
  }
}

constexpr int64_t kTopKSharedEntries = 2048;  // 32 KiB of dynamic shared memory
constexpr int64_t kTopKWorkspaceBlocks = 64;  // blocks when the entries live in the workspace

int64_t pow2_ceil(int64_t v) {
  int64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

/// One block per lane (o, i) of [outer, n, inner]: radix select (8 bits per pass) of the k-th best
/// key, gather the k best (ties on the threshold key by lowest index), bitonic sort them.
/// `ws`: per-block buffers of kp2 entries when they do not fit shared memory (else nullptr).
template <class T>
__global__ void topk_kernel(const T* __restrict__ x, T* __restrict__ ov, int64_t* __restrict__ oi,
                            int64_t outer, int64_t n, int64_t inner, int64_t k, int64_t kp2,
                            bool largest, TEntry<TKey<T>>* ws) {
  using K = TKey<T>;
  constexpr int kBits = 8 * sizeof(K);
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ unsigned hist[256];
  __shared__ unsigned warp_cnt[32];
  __shared__ unsigned sh_digit, sh_need, sh_gt;
  TEntry<K>* buf =
      ws ? ws + static_cast<int64_t>(blockIdx.x) * kp2 : reinterpret_cast<TEntry<K>*>(smem_raw);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
  for (int64_t lane_id = blockIdx.x; lane_id < outer * inner; lane_id += gridDim.x) {
    const int64_t o = lane_id / inner, i = lane_id % inner;
    const T* px = x + o * n * inner + i;
    K prefix = 0, mask = 0;
    unsigned need = static_cast<unsigned>(k);  // how many of the keys matching prefix/mask to take
    for (int shift = kBits - 8; shift >= 0; shift -= 8) {
      for (int t = tid; t < 256; t += blockDim.x) hist[t] = 0;
      if (tid == 0) {
        sh_digit = 0;
        sh_need = need;
      }
      __syncthreads();
      for (int64_t j = tid; j < n; j += blockDim.x) {
        K key = topk_key<T>(px[j * inner], largest);
        if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 0xff], 1u);
      }
      __syncthreads();
      if (warp == 0) {  // the digit holding the need-th best key: lane l owns bins [8l, 8l + 8)
        unsigned c[8], sum = 0;
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          c[e] = hist[lane * 8 + e];
          sum += c[e];
        }
        unsigned incl = sum;  // keys in this lane's bins and above
#pragma unroll
        for (int off = 1; off < 32; off <<= 1) {
          unsigned u = __shfl_down_sync(kFullMask, incl, off);
          if (lane + off < 32) incl += u;
        }
        const unsigned above = incl - sum;
        if (above < need && need <= incl) {
          unsigned cum = above;
          for (int e = 7; e >= 0; --e) {
            if (cum + c[e] >= need) {
              sh_digit = static_cast<unsigned>(lane * 8 + e);
              sh_need = need - cum;
              break;
            }
            cum += c[e];
          }
        }
      }
      __syncthreads();
      prefix |= static_cast<K>(sh_digit) << shift;
      mask |= static_cast<K>(0xff) << shift;
      need = sh_need;
      __syncthreads();
    }
    // prefix is the k-th best key: take every key above it and the first `need` keys equal to it.
    const int64_t n_gt = k - need;
    for (int64_t t = tid; t < kp2; t += blockDim.x)
      buf[t] = {K(0), std::numeric_limits<int64_t>::max()};
    if (tid == 0) sh_gt = 0;
    __syncthreads();
    int64_t eq_seen = 0;
    for (int64_t b0 = 0; b0 < n; b0 += blockDim.x) {
      const int64_t j = b0 + tid;
      const K key = j < n ? topk_key<T>(px[j * inner], largest) : K(0);
      const bool gt = j < n && key > prefix, eq = j < n && key == prefix;
      if (gt) {
        unsigned pos = atomicAdd(&sh_gt, 1u);
        if (pos < n_gt) buf[pos] = {key, j};
      }
      const unsigned ballot = __ballot_sync(kFullMask, eq);
      if (lane == 0) warp_cnt[warp] = __popc(ballot);
      __syncthreads();
      unsigned before = 0, total = 0;
      for (int w = 0; w < nw; ++w) {
        before += w < warp ? warp_cnt[w] : 0u;
        total += warp_cnt[w];
      }
      const int64_t rank = eq_seen + before + __popc(ballot & ((1u << lane) - 1u));
      if (eq && rank < need) buf[n_gt + rank] = {key, j};
      eq_seen += total;
      __syncthreads();
    }
    block_bitonic_sort<K>(buf,
                          kp2);  // (the loop above ended with a barrier; so does every sort stage)
    for (int64_t t = tid; t < k; t += blockDim.x) {
      const int64_t src = buf[t].idx, dst = (o * k + t) * inner + i;
      if (src >= 0 && src < n) {  // always, unless the selection above is broken
        ov[dst] = px[src * inner];
        oi[dst] = src;
      }
    }
    __syncthreads();  // buf is reused by the next lane
  }
}

int norm_axis(int64_t axis, int rank) {
  int r = std::max(rank, 1);
  int64_t v = axis < 0 ? axis + r : axis;
  return static_cast<int>(std::clamp<int64_t>(v, 0, r - 1));
}

/// [outer, n, inner] around `axis`.
void slabs_around(const Dims& d, int axis, int64_t& outer, int64_t& n, int64_t& inner) {
  outer = n = inner = 1;
  if (d.rank() == 0) return;
  for (int i = 0; i < axis; ++i) outer *= d[i];
  n = d[axis];
  for (int i = axis + 1; i < d.rank(); ++i) inner *= d[i];
}

struct TopKShape {
  int64_t outer = 1, n = 1, inner = 1, k = 0, kp2 = 1;
  bool in_workspace = false;
  int64_t blocks = 1;
  size_t ws_bytes = 0;
};

TopKShape topk_shape(const TopKParams& p, const Dims& d) {
  TopKShape s;
  slabs_around(d, norm_axis(p.axis, d.rank()), s.outer, s.n, s.inner);
  s.k = p.k < 0 ? s.n : p.k;  // -1: the whole axis (a sort)
  s.kp2 = pow2_ceil(std::max<int64_t>(s.k, 1));
  const int64_t lanes = s.outer * s.inner;
  s.in_workspace = s.kp2 > kTopKSharedEntries;
  s.blocks = std::max<int64_t>(
      1, std::min<int64_t>(lanes, s.in_workspace ? kTopKWorkspaceBlocks : 65535LL * 16));
  if (s.in_workspace)
    s.ws_bytes = static_cast<size_t>(s.blocks * s.kp2) * 16;  // sizeof(TEntry<K>) == 16
  return s;
}

}  // namespace

Status launch_cumsum(const LaunchArgs& a) {
  const auto& p = std::get<CumSumParams>(a.layer.params);
  const TensorView &x = a.in[0], &o = a.out[0];
  if (o.numel() != x.numel() || o.dtype != x.dtype)
    return layer_error(a.layer, StatusCode::kInternal,
                       "output differs from input in size or dtype");
  if (x.numel() == 0) return {};
  int64_t outer, n, inner;
  slabs_around(x.dims, norm_axis(p.axis, x.dims.rank()), outer, n, inner);
  Status st;
  visit_dtype(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool>) {
      st = layer_error(a.layer, StatusCode::kUnsupported, "cumsum of bool");
    } else {
      const T* px = static_cast<const T*>(x.data);
      T* py = static_cast<T*>(o.data);
      if (inner == 1) {
        cumsum_rows_kernel<T>
            <<<grid_for(outer, 8), 256, 0, a.stream>>>(px, py, outer, n, p.exclusive, p.reverse);
      } else {
        cumsum_cols_kernel<T><<<grid_for(outer * inner, 256), 256, 0, a.stream>>>(
            px, py, outer, n, inner, p.exclusive, p.reverse);
      }
    }
  });
  KILN_RETURN_IF_ERROR(st);
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_topk(const LaunchArgs& a) {
  const auto& p = std::get<TopKParams>(a.layer.params);
  const TensorView &x = a.in[0], &ov = a.out[0], &oi = a.out[1];
  if (x.dims.rank() < 1)
    return layer_error(a.layer, StatusCode::kInvalidArgument, "topk needs rank >= 1");
  const TopKShape s = topk_shape(p, x.dims);
  if (s.k < 0 || s.k > s.n)
    return layer_error(a.layer, StatusCode::kInvalidArgument, "k out of range");
  if (ov.numel() != s.outer * s.k * s.inner || oi.numel() != ov.numel() || ov.dtype != x.dtype ||
      oi.dtype != DataType::kInt64)
    return layer_error(a.layer, StatusCode::kInternal, "unexpected output size or dtype");
  if (ov.numel() == 0) return {};
  if (s.n > std::numeric_limits<int32_t>::max())
    return layer_error(a.layer, StatusCode::kUnsupported, "topk axis longer than 2^31 - 1");
  if (s.in_workspace && (a.workspace == nullptr || a.workspace_bytes < s.ws_bytes))
    return layer_error(a.layer, StatusCode::kInternal, "topk workspace too small");
  const unsigned threads = s.n > 8192 ? 512 : 256;
  Status st;
  visit_dtype(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool>) {
      st = layer_error(a.layer, StatusCode::kUnsupported, "topk of bool");
    } else {
      using E = TEntry<TKey<T>>;
      static_assert(sizeof(E) == 16, "workspace_topk assumes 16-byte entries");
      E* ws = s.in_workspace ? static_cast<E*>(a.workspace) : nullptr;
      size_t smem = s.in_workspace ? 0 : static_cast<size_t>(s.kp2) * sizeof(E);
      topk_kernel<T><<<static_cast<unsigned>(s.blocks), threads, smem, a.stream>>>(
          static_cast<const T*>(x.data), static_cast<T*>(ov.data), static_cast<int64_t*>(oi.data),
          s.outer, s.n, s.inner, s.k, s.kp2, p.largest, ws);
    }
  });
  KILN_RETURN_IF_ERROR(st);
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

size_t workspace_topk(const ir::Layer& layer, std::span<const TensorView> in,
                      std::span<const TensorView>) {
  if (in.empty() || in[0].dims.rank() < 1) return 0;
  const TopKShape s = topk_shape(std::get<TopKParams>(layer.params), in[0].dims);
  if (s.k <= 0 || s.k > s.n || s.outer * s.inner == 0) return 0;
  return s.ws_bytes;
}

}  // namespace kiln::cuda
