// CUDA kernels: reductions (every ReduceOp over any axes), cumsum and top-k. Semantics follow the
// CPU reference (src/backends/cpu/reduce.cpp): floats accumulate in float32 (cumsum in float64),
// integers and bool in int64 with wrap-around; NaN wins in max/min, the first NaN wins in
// argmax/argmin, ties take the lower index; var/std divide by max(0, N - correction).
//
// Reduce views the input, after dropping extent-1 dims and merging neighbours, as
//   [outer, n] (rows: a warp, or a 512-thread block, per output; 16-byte loads when aligned),
//   [outer, n, inner] (cols: threads walk `inner` contiguously, blockDim.y splits n), or
//   anything else (generic: a warp per output, index math over the reduced dims).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/kernels/device_utils.cuh"

namespace kiln::cuda {
namespace {

constexpr unsigned kFullMask = 0xffffffffu;

// ---- reducers -----------------------------------------------------------------------------------------

/// Reducer kinds; `flip` selects the second op of a pair at run time.
enum class RK { kSum /* sum, mean; flip: prod */, kMax /* flip: min */, kArg /* flip: argmin */,
                kVar /* var, std */, kLogical /* any; flip: all */ };

struct RSpec {
  bool flip = false;
  bool mean = false;      ///< kSum: divide by n
  bool sqrt_out = false;  ///< kVar: std
  float var_div = 0.f;    ///< kVar: max(0, n - correction)
  int64_t n = 0;          ///< reduced elements per output
};

/// Compute domain: float for float storage, int64 for integers and bool, int for any/all.
template <class T, RK K>
using Dom = std::conditional_t<K == RK::kLogical, int, std::conditional_t<kIsFloat<T>, float, int64_t>>;

/// Partial result; `i` is the index (arg ops only, -1 = nothing seen).
template <class D>
struct Acc {
  D v;
  int64_t i;
};

template <class D>
__device__ __forceinline__ bool nan_of(D v) {
  if constexpr (std::is_same_v<D, float>) {
    return isnan(v);
  } else {
    return false;
  }
}

template <RK K, class D>
__device__ __forceinline__ Acc<D> r_identity(bool flip) {
  if constexpr (K == RK::kMax) {
    if constexpr (std::is_same_v<D, float>) {
      return {flip ? INFINITY : -INFINITY, 0};
    } else {
      return {flip ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::lowest(), 0};
    }
  } else if constexpr (K == RK::kArg) {
    return {D(0), -1};
  } else {
    return {(flip && K != RK::kVar) ? D(1) : D(0), 0};
  }
}

template <RK K, class D>
__device__ __forceinline__ Acc<D> r_combine(Acc<D> a, Acc<D> b, bool flip) {
  if constexpr (K == RK::kSum || K == RK::kVar) {
    if constexpr (std::is_same_v<D, float>) {
      return {(flip && K == RK::kSum) ? a.v * b.v : a.v + b.v, 0};
    } else {
      uint64_t x = static_cast<uint64_t>(a.v), y = static_cast<uint64_t>(b.v);
      return {static_cast<int64_t>(flip ? x * y : x + y), 0};
    }
  } else if constexpr (K == RK::kMax) {
    if (nan_of(a.v)) return a;
    if (nan_of(b.v)) return b;
    return (flip ? b.v < a.v : b.v > a.v) ? b : a;
  } else if constexpr (K == RK::kArg) {
    if (b.i < 0) return a;
    if (a.i < 0) return b;
    bool an = nan_of(a.v), bn = nan_of(b.v);
    if (an || bn) {
      if (an && bn) return a.i < b.i ? a : b;
      return an ? a : b;
    }
    if (a.v == b.v) return a.i < b.i ? a : b;
    return (flip ? b.v < a.v : b.v > a.v) ? b : a;
  } else {
    return {flip ? (a.v & b.v) : (a.v | b.v), 0};
  }
}

/// Element j as a partial result; for var's second pass (`dev`), its squared deviation from mean.
template <RK K, class T, class D>
__device__ __forceinline__ Acc<D> r_elem(T x, int64_t j, float mean, bool dev) {
  if constexpr (K == RK::kLogical) {
    if constexpr (kIsFloat<T>) {
      return {to_f32(x) != 0.0f ? 1 : 0, 0};  // NaN counts as true
    } else {
      return {x != T(0) ? 1 : 0, 0};
    }
  } else if constexpr (std::is_same_v<D, float>) {
    float v = to_f32(x);
    if constexpr (K == RK::kVar) {
      if (dev) v = (v - mean) * (v - mean);
    }
    return {v, j};
  } else {
    return {static_cast<int64_t>(x), j};
  }
}

template <RK K, class D>
__device__ __forceinline__ Acc<D> warp_allreduce(Acc<D> a, bool flip) {
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) {
    Acc<D> o;
    o.v = __shfl_xor_sync(kFullMask, a.v, m);
    if constexpr (K == RK::kArg) {
      o.i = __shfl_xor_sync(kFullMask, a.i, m);
    } else {
      o.i = 0;
    }
    a = r_combine<K, D>(a, o, flip);
  }
  return a;
}

/// Every thread of the block gets the result (blockDim.x a multiple of 32). `sh` holds 32 entries.
template <RK K, class D>
__device__ __forceinline__ Acc<D> block_allreduce(Acc<D> a, bool flip, Acc<D>* sh) {
  a = warp_allreduce<K, D>(a, flip);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
  if (lane == 0) sh[warp] = a;
  __syncthreads();
  Acc<D> r = sh[0];
  for (int w = 1; w < nw; ++w) r = r_combine<K, D>(r, sh[w], flip);
  __syncthreads();  // sh may be reused
  return r;
}

template <class T, RK K, class D>
__device__ __forceinline__ void r_store(void* out, int64_t o, Acc<D> a, const RSpec& s) {
  if constexpr (K == RK::kArg) {
    static_cast<int64_t*>(out)[o] = a.i < 0 ? 0 : a.i;
  } else if constexpr (K == RK::kLogical) {
    static_cast<bool*>(out)[o] = a.v != 0;
  } else if constexpr (K == RK::kVar) {
    float r = s.n == 0 ? NAN : a.v / s.var_div;
    if (s.sqrt_out) r = sqrtf(r);
    static_cast<T*>(out)[o] = from_f32<T>(r);
  } else if constexpr (std::is_same_v<D, float>) {
    float v = a.v;
    if (K == RK::kSum && s.mean) v = v / static_cast<float>(s.n);  // n == 0: nan
    if (K == RK::kMax && s.n == 0) v = NAN;
    static_cast<T*>(out)[o] = from_f32<T>(v);
  } else {
    int64_t v = (K == RK::kMax && s.n == 0) ? 0 : a.v;
    if constexpr (std::is_same_v<T, bool>) {
      static_cast<bool*>(out)[o] = v != 0;
    } else {
      static_cast<T*>(out)[o] = static_cast<T>(v);
    }
  }
}

// ---- reduce kernels -------------------------------------------------------------------------------------

/// Thread `tid` of `nt` reduces its share of the contiguous row p[0, n); 16-byte loads when p allows.
template <class T, RK K, class D>
__device__ __forceinline__ Acc<D> row_partial(const T* p, int64_t n, int tid, int nt, bool flip, float mean,
                                              bool dev) {
  constexpr int V = 16 / sizeof(T);
  Acc<D> acc = r_identity<K, D>(flip);
  int64_t start = 0;
  if ((reinterpret_cast<uintptr_t>(p) & 15) == 0) {
    const int64_t nv = n / V;
    const uint4* pv = reinterpret_cast<const uint4*>(p);
    for (int64_t v = tid; v < nv; v += nt) {
      alignas(16) T r[V];
      *reinterpret_cast<uint4*>(r) = pv[v];
#pragma unroll
      for (int e = 0; e < V; ++e) acc = r_combine<K, D>(acc, r_elem<K, T, D>(r[e], v * V + e, mean, dev), flip);
    }
    start = nv * V;
  }
  for (int64_t j = start + tid; j < n; j += nt) acc = r_combine<K, D>(acc, r_elem<K, T, D>(p[j], j, mean, dev), flip);
  return acc;
}

/// [rows, n] contiguous. kWarp: a warp per row (blockDim.x / 32 rows per block); else a block per row.
template <class T, RK K, bool kWarp>
__global__ void reduce_rows_kernel(const T* __restrict__ x, void* __restrict__ out, int64_t rows, int64_t n, RSpec s) {
  using D = Dom<T, K>;
  __shared__ Acc<D> sh[32];
  const int tid = kWarp ? static_cast<int>(threadIdx.x & 31) : static_cast<int>(threadIdx.x);
  const int nt = kWarp ? 32 : static_cast<int>(blockDim.x);
  const int64_t per = kWarp ? (blockDim.x >> 5) : 1;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * per + (kWarp ? (threadIdx.x >> 5) : 0);
  for (int64_t row = first; row < rows; row += static_cast<int64_t>(gridDim.x) * per) {
    const T* p = x + row * n;
    Acc<D> acc = row_partial<T, K, D>(p, n, tid, nt, s.flip, 0.f, false);
    if constexpr (kWarp) {
      acc = warp_allreduce<K, D>(acc, s.flip);
    } else {
      acc = block_allreduce<K, D>(acc, s.flip, sh);
    }
    if constexpr (K == RK::kVar) {  // second pass: squared deviations from the mean
      float mean = acc.v / static_cast<float>(n);
      acc = row_partial<T, K, D>(p, n, tid, nt, false, mean, true);
      if constexpr (kWarp) {
        acc = warp_allreduce<K, D>(acc, false);
      } else {
        acc = block_allreduce<K, D>(acc, false, sh);
      }
    }
    if (tid == 0) r_store<T, K, D>(out, row, acc, s);
  }
}

/// Partial over x[(o * n + j) * inner + i] for j = j0, j0 + step, ... (p points at j = 0).
template <class T, RK K, class D>
__device__ __forceinline__ Acc<D> col_partial(const T* p, int64_t n, int64_t inner, int j0, int step, bool valid,
                                              bool flip, float mean, bool dev) {
  Acc<D> acc = r_identity<K, D>(flip);
  if (valid)
    for (int64_t j = j0; j < n; j += step)
      acc = r_combine<K, D>(acc, r_elem<K, T, D>(p[j * inner], j, mean, dev), flip);
  return acc;
}

/// Combines the blockDim.y partials of each column tx in shared memory; every thread gets its column's.
template <RK K, class D>
__device__ __forceinline__ Acc<D> col_combine(Acc<D> acc, Acc<D>* sm, bool flip) {
  const int tx = threadIdx.x, ty = threadIdx.y, TX = blockDim.x;
  if (blockDim.y == 1) return acc;
  sm[ty * TX + tx] = acc;
  __syncthreads();
  for (int st = blockDim.y >> 1; st > 0; st >>= 1) {
    if (ty < st) sm[ty * TX + tx] = r_combine<K, D>(sm[ty * TX + tx], sm[(ty + st) * TX + tx], flip);
    __syncthreads();
  }
  Acc<D> r = sm[tx];
  __syncthreads();
  return r;
}

/// [outer, n, inner]: output q = o * inner + i; blockDim.x consecutive outputs per tile, blockDim.y
/// (a power of two) threads split n. Dynamic shared memory: blockDim.x * blockDim.y Acc (when y > 1).
template <class T, RK K>
__global__ void reduce_cols_kernel(const T* __restrict__ x, void* __restrict__ out, int64_t outer, int64_t n,
                                   int64_t inner, RSpec s) {
  using D = Dom<T, K>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  Acc<D>* sm = reinterpret_cast<Acc<D>*>(smem_raw);
  const int64_t total = outer * inner;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.x; base < total;
       base += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t q = base + threadIdx.x;
    const bool valid = q < total;
    const int64_t o = valid ? q / inner : 0, i = valid ? q % inner : 0;
    const T* p = x + o * n * inner + i;
    Acc<D> acc = col_partial<T, K, D>(p, n, inner, threadIdx.y, blockDim.y, valid, s.flip, 0.f, false);
    acc = col_combine<K, D>(acc, sm, s.flip);
    if constexpr (K == RK::kVar) {
      float mean = acc.v / static_cast<float>(n);
      acc = col_partial<T, K, D>(p, n, inner, threadIdx.y, blockDim.y, valid, false, mean, true);
      acc = col_combine<K, D>(acc, sm, false);
    }
    if (valid && threadIdx.y == 0) r_store<T, K, D>(out, q, acc, s);
  }
}

/// Extents and input strides of a set of dims (row-major order).
struct IndexMap {
  int rank = 0;
  int64_t ext[kMaxRank] = {};
  int64_t stride[kMaxRank] = {};
};

__device__ __forceinline__ int64_t map_offset(int64_t i, const IndexMap& m) {
  int64_t off = 0;
  for (int d = m.rank - 1; d >= 0; --d) {
    off += (i % m.ext[d]) * m.stride[d];
    i /= m.ext[d];
  }
  return off;
}

/// Any reduced dims: a warp per output, lanes split the reduced index space.
template <class T, RK K>
__global__ void reduce_generic_kernel(const T* __restrict__ x, void* __restrict__ out, int64_t outputs, IndexMap kept,
                                      IndexMap red, RSpec s) {
  using D = Dom<T, K>;
  const int lane = threadIdx.x & 31;
  const int64_t per = blockDim.x >> 5;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * per + (threadIdx.x >> 5); o < outputs;
       o += static_cast<int64_t>(gridDim.x) * per) {
    const T* p = x + map_offset(o, kept);
    Acc<D> acc = r_identity<K, D>(s.flip);
    for (int64_t r = lane; r < s.n; r += 32)
      acc = r_combine<K, D>(acc, r_elem<K, T, D>(p[map_offset(r, red)], r, 0.f, false), s.flip);
    acc = warp_allreduce<K, D>(acc, s.flip);
    if constexpr (K == RK::kVar) {
      float mean = acc.v / static_cast<float>(s.n);
      acc = r_identity<K, D>(false);
      for (int64_t r = lane; r < s.n; r += 32)
        acc = r_combine<K, D>(acc, r_elem<K, T, D>(p[map_offset(r, red)], r, mean, true), false);
      acc = warp_allreduce<K, D>(acc, false);
    }
    if (lane == 0) r_store<T, K, D>(out, o, acc, s);
  }
}

// ---- reduce host side --------------------------------------------------------------------------------

struct ReduceLayout {
  enum Kind { kRows, kCols, kGeneric } kind = kCols;
  int64_t outer = 1, n = 1, inner = 1;
  IndexMap kept, red;
};

int sm_count(const LaunchArgs& a) { return a.state.num_sms > 0 ? a.state.num_sms : 132; }

template <class T, RK K>
Status run_reduce_t(const LaunchArgs& a, const ReduceLayout& L, const RSpec& s) {
  using D = Dom<T, K>;
  const T* x = static_cast<const T*>(a.in[0].data);
  void* out = a.out[0].data;
  const int64_t sms = sm_count(a);
  if (L.kind == ReduceLayout::kGeneric) {
    const int64_t outputs = a.out[0].numel();
    reduce_generic_kernel<T, K><<<grid_for(outputs, 8), 256, 0, a.stream>>>(x, out, outputs, L.kept, L.red, s);
  } else if (L.kind == ReduceLayout::kRows && L.n > 16) {
    if (L.n <= 4096 || L.outer >= sms * 64) {
      reduce_rows_kernel<T, K, true><<<grid_for(L.outer, 8), 256, 0, a.stream>>>(x, out, L.outer, L.n, s);
    } else {
      reduce_rows_kernel<T, K, false><<<grid_for(L.outer, 1), 512, 0, a.stream>>>(x, out, L.outer, L.n, s);
    }
  } else {  // cols (rows with a short n: a thread per row)
    const int64_t outputs = L.outer * L.inner;
    unsigned tx = 256, ty = 1;
    if (L.n > 16 && outputs < sms * 512) {
      tx = 32;
      ty = outputs <= sms * 32 ? 32 : 8;
    }
    size_t smem = ty > 1 ? static_cast<size_t>(tx) * ty * sizeof(Acc<D>) : 0;
    reduce_cols_kernel<T, K><<<grid_for(outputs, static_cast<int>(tx)), dim3(tx, ty), smem, a.stream>>>(
        x, out, L.outer, L.n, L.inner, s);
  }
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

template <class T>
Status dispatch_reduce(const LaunchArgs& a, RK kind, const ReduceLayout& L, const RSpec& s) {
  switch (kind) {
    case RK::kSum:
      if constexpr (!std::is_same_v<T, bool>) return run_reduce_t<T, RK::kSum>(a, L, s);
      break;
    case RK::kMax: return run_reduce_t<T, RK::kMax>(a, L, s);
    case RK::kArg: return run_reduce_t<T, RK::kArg>(a, L, s);
    case RK::kVar:
      if constexpr (kIsFloat<T>) return run_reduce_t<T, RK::kVar>(a, L, s);
      break;
    case RK::kLogical: return run_reduce_t<T, RK::kLogical>(a, L, s);
  }
  return layer_error(a.layer, StatusCode::kUnsupported, "reduction not supported for this dtype");
}

/// Segments of equal kind after dropping extent-1 dims and merging neighbours; picks the kernel.
ReduceLayout plan_reduce(const Dims& d, const bool* reduced, int64_t outputs) {
  struct Seg {
    int64_t ext;
    bool red;
  };
  std::vector<Seg> segs;
  for (int i = 0; i < d.rank(); ++i) {
    if (d[i] == 1) continue;
    if (!segs.empty() && segs.back().red == reduced[i]) {
      segs.back().ext *= d[i];
    } else {
      segs.push_back({d[i], reduced[i]});
    }
  }
  ReduceLayout L;
  int nred = 0;
  for (const Seg& s : segs) nred += s.red ? 1 : 0;
  if (nred == 0) {  // nothing (of extent != 1) reduced: a thread per output
    L.kind = ReduceLayout::kCols;
    L.outer = outputs;
    return L;
  }
  if (nred == 1) {
    bool after = false;
    for (const Seg& s : segs) {
      if (s.red) {
        L.n = s.ext;
        after = true;
      } else {
        (after ? L.inner : L.outer) *= s.ext;
      }
    }
    L.kind = L.inner == 1 ? ReduceLayout::kRows : ReduceLayout::kCols;
    return L;
  }
  L.kind = ReduceLayout::kGeneric;
  int64_t stride = 1;
  std::vector<int64_t> strides(segs.size());
  for (size_t i = segs.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= segs[i].ext;
  }
  for (size_t i = 0; i < segs.size(); ++i) {
    IndexMap& m = segs[i].red ? L.red : L.kept;
    m.ext[m.rank] = segs[i].ext;
    m.stride[m.rank] = strides[i];
    ++m.rank;
  }
  return L;
}

// ---- cumsum -------------------------------------------------------------------------------------------

/// Scan domain: float64 for floats (matches the sequential float64 reference on long axes), wrapping
/// uint64 for integers.
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
__global__ void cumsum_rows_kernel(const T* x, T* y, int64_t rows, int64_t n, bool exclusive, bool reverse) {
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
__global__ void cumsum_cols_kernel(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool exclusive,
                                   bool reverse) {
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

// ---- top-k --------------------------------------------------------------------------------------------

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
__global__ void topk_kernel(const T* __restrict__ x, T* __restrict__ ov, int64_t* __restrict__ oi, int64_t outer,
                            int64_t n, int64_t inner, int64_t k, int64_t kp2, bool largest, TEntry<TKey<T>>* ws) {
  using K = TKey<T>;
  constexpr int kBits = 8 * sizeof(K);
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ unsigned hist[256];
  __shared__ unsigned warp_cnt[32];
  __shared__ unsigned sh_digit, sh_need, sh_gt;
  TEntry<K>* buf = ws ? ws + static_cast<int64_t>(blockIdx.x) * kp2 : reinterpret_cast<TEntry<K>*>(smem_raw);
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
    for (int64_t t = tid; t < kp2; t += blockDim.x) buf[t] = {K(0), std::numeric_limits<int64_t>::max()};
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
    block_bitonic_sort<K>(buf, kp2);  // (the loop above ended with a barrier; so does every sort stage)
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
  s.k = p.k;
  s.kp2 = pow2_ceil(std::max<int64_t>(p.k, 1));
  const int64_t lanes = s.outer * s.inner;
  s.in_workspace = s.kp2 > kTopKSharedEntries;
  s.blocks = std::max<int64_t>(1, std::min<int64_t>(lanes, s.in_workspace ? kTopKWorkspaceBlocks : 65535LL * 16));
  if (s.in_workspace) s.ws_bytes = static_cast<size_t>(s.blocks * s.kp2) * 16;  // sizeof(TEntry<K>) == 16
  return s;
}

}  // namespace

Status launch_reduce(const LaunchArgs& a) {
  const auto& p = std::get<ReduceParams>(a.layer.params);
  const TensorView &x = a.in[0], &o = a.out[0];
  const int r = x.dims.rank();
  bool reduced[kMaxRank] = {};
  for (int i = 0; i < r; ++i) reduced[i] = p.axes.empty();
  for (int64_t ax : p.axes) {
    if (r == 0) break;
    if (ax < -r || ax >= r)
      return layer_error(a.layer, StatusCode::kInvalidArgument, "axis " + std::to_string(ax) + " out of range");
    reduced[ax < 0 ? ax + r : ax] = true;
  }
  int64_t n = 1, outputs = 1;
  for (int i = 0; i < r; ++i) (reduced[i] ? n : outputs) *= x.dims[i];
  if (o.numel() != outputs)
    return layer_error(a.layer, StatusCode::kInternal,
                       "output has " + std::to_string(o.numel()) + " elements, expected " + std::to_string(outputs));
  if (outputs == 0) return {};

  RK kind = RK::kSum;
  RSpec s;
  s.n = n;
  s.var_div = static_cast<float>(std::max(0.0, static_cast<double>(n) - static_cast<double>(p.correction)));
  switch (p.op) {
    case ReduceOp::kSum: kind = RK::kSum; break;
    case ReduceOp::kMean: kind = RK::kSum; s.mean = true; break;
    case ReduceOp::kProd: kind = RK::kSum; s.flip = true; break;
    case ReduceOp::kMax: kind = RK::kMax; break;
    case ReduceOp::kMin: kind = RK::kMax; s.flip = true; break;
    case ReduceOp::kArgMax: kind = RK::kArg; break;
    case ReduceOp::kArgMin: kind = RK::kArg; s.flip = true; break;
    case ReduceOp::kVar: kind = RK::kVar; break;
    case ReduceOp::kStd: kind = RK::kVar; s.sqrt_out = true; break;
    case ReduceOp::kAny: kind = RK::kLogical; break;
    case ReduceOp::kAll: kind = RK::kLogical; s.flip = true; break;
  }
  if ((s.mean || kind == RK::kVar) && !is_floating(x.dtype))
    return layer_error(a.layer, StatusCode::kUnsupported, "mean/var/std need a float input");
  DataType want = kind == RK::kArg ? DataType::kInt64 : kind == RK::kLogical ? DataType::kBool : x.dtype;
  if (o.dtype != want) return layer_error(a.layer, StatusCode::kInternal, "unexpected output dtype");

  const ReduceLayout L = plan_reduce(x.dims, reduced, outputs);
  return visit_dtype(x.dtype, [&](auto tag) -> Status {
    using T = typename decltype(tag)::type;
    return dispatch_reduce<T>(a, kind, L, s);
  });
}

Status launch_cumsum(const LaunchArgs& a) {
  const auto& p = std::get<CumSumParams>(a.layer.params);
  const TensorView &x = a.in[0], &o = a.out[0];
  if (o.numel() != x.numel() || o.dtype != x.dtype)
    return layer_error(a.layer, StatusCode::kInternal, "output differs from input in size or dtype");
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
        cumsum_rows_kernel<T><<<grid_for(outer, 8), 256, 0, a.stream>>>(px, py, outer, n, p.exclusive, p.reverse);
      } else {
        cumsum_cols_kernel<T><<<grid_for(outer * inner, 256), 256, 0, a.stream>>>(px, py, outer, n, inner,
                                                                                  p.exclusive, p.reverse);
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
  if (x.dims.rank() < 1) return layer_error(a.layer, StatusCode::kInvalidArgument, "topk needs rank >= 1");
  const TopKShape s = topk_shape(p, x.dims);
  if (s.k < 0 || s.k > s.n) return layer_error(a.layer, StatusCode::kInvalidArgument, "k out of range");
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
          static_cast<const T*>(x.data), static_cast<T*>(ov.data), static_cast<int64_t*>(oi.data), s.outer, s.n,
          s.inner, s.k, s.kp2, p.largest, ws);
    }
  });
  KILN_RETURN_IF_ERROR(st);
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

size_t workspace_topk(const ir::Layer& layer, std::span<const TensorView> in, std::span<const TensorView>) {
  if (in.empty() || in[0].dims.rank() < 1) return 0;
  const TopKShape s = topk_shape(std::get<TopKParams>(layer.params), in[0].dims);
  if (s.k <= 0 || s.k > s.n || s.outer * s.inner == 0) return 0;
  return s.ws_bytes;
}

}  // namespace kiln::cuda
