// CUDA kernels: reductions (every ReduceOp over any axes); cumsum and top-k are in scan_topk.cu.
// Semantics follow the CPU reference (src/backends/cpu/reduce.cpp): floats accumulate in float32,
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

// ---- reducers ----

/// Reducer kinds; `flip` selects the second op of a pair at run time.
enum class RK {
  kSum /* sum, mean; flip: prod */,
  kMax /* flip: min */,
  kArg /* flip: argmin */,
  kVar /* var, std */,
  kLogical /* any; flip: all */
};

struct RSpec {
  bool flip = false;
  bool mean = false;      ///< kSum: divide by n
  bool sqrt_out = false;  ///< kVar: std
  float var_div = 0.f;    ///< kVar: max(0, n - correction)
  int64_t n = 0;          ///< reduced elements per output
};

/// Compute domain: float for float storage, int64 for integers and bool, int for any/all.
template <class T, RK K>
using Dom =
    std::conditional_t<K == RK::kLogical, int, std::conditional_t<kIsFloat<T>, float, int64_t>>;

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
      return {flip ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::lowest(),
              0};
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

// ---- reduce kernels ----

/// Thread `tid` of `nt` reduces its share of the contiguous row p[0, n); 16-byte loads when p
/// allows.
template <class T, RK K, class D>
__device__ __forceinline__ Acc<D> row_partial(const T* p, int64_t n, int tid, int nt, bool flip,
                                              float mean, bool dev) {
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
      for (int e = 0; e < V; ++e)
        acc = r_combine<K, D>(acc, r_elem<K, T, D>(r[e], v * V + e, mean, dev), flip);
    }
    start = nv * V;
  }
  for (int64_t j = start + tid; j < n; j += nt)
    acc = r_combine<K, D>(acc, r_elem<K, T, D>(p[j], j, mean, dev), flip);
  return acc;
}

/// [rows, n] contiguous. kWarp: a warp per row (blockDim.x / 32 rows per block); else a block per
/// row.
template <class T, RK K, bool kWarp>
__global__ void reduce_rows_kernel(const T* __restrict__ x, void* __restrict__ out, int64_t rows,
                                   int64_t n, RSpec s) {
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
__device__ __forceinline__ Acc<D> col_partial(const T* p, int64_t n, int64_t inner, int j0,
                                              int step, bool valid, bool flip, float mean,
                                              bool dev) {
  Acc<D> acc = r_identity<K, D>(flip);
  if (valid)
    for (int64_t j = j0; j < n; j += step)
      acc = r_combine<K, D>(acc, r_elem<K, T, D>(p[j * inner], j, mean, dev), flip);
  return acc;
}

/// Combines the blockDim.y partials of each column tx in shared memory; every thread gets its
/// column's.
template <RK K, class D>
__device__ __forceinline__ Acc<D> col_combine(Acc<D> acc, Acc<D>* sm, bool flip) {
  const int tx = threadIdx.x, ty = threadIdx.y, TX = blockDim.x;
  if (blockDim.y == 1) return acc;
  sm[ty * TX + tx] = acc;
  __syncthreads();
  for (int st = blockDim.y >> 1; st > 0; st >>= 1) {
    if (ty < st)
      sm[ty * TX + tx] = r_combine<K, D>(sm[ty * TX + tx], sm[(ty + st) * TX + tx], flip);
    __syncthreads();
  }
  Acc<D> r = sm[tx];
  __syncthreads();
  return r;
}

/// [outer, n, inner]: output q = o * inner + i; blockDim.x consecutive outputs per tile, blockDim.y
/// (a power of two) threads split n. Dynamic shared memory: blockDim.x * blockDim.y Acc (when y >
/// 1).
template <class T, RK K>
__global__ void reduce_cols_kernel(const T* __restrict__ x, void* __restrict__ out, int64_t outer,
                                   int64_t n, int64_t inner, RSpec s) {
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
    Acc<D> acc =
        col_partial<T, K, D>(p, n, inner, threadIdx.y, blockDim.y, valid, s.flip, 0.f, false);
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
__global__ void reduce_generic_kernel(const T* __restrict__ x, void* __restrict__ out,
                                      int64_t outputs, IndexMap kept, IndexMap red, RSpec s) {
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

// ---- reduce host side ----

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
    reduce_generic_kernel<T, K>
        <<<grid_for(outputs, 8), 256, 0, a.stream>>>(x, out, outputs, L.kept, L.red, s);
  } else if (L.kind == ReduceLayout::kRows && L.n > 16) {
    if (L.n <= 4096 || L.outer >= sms * 64) {
      reduce_rows_kernel<T, K, true>
          <<<grid_for(L.outer, 8), 256, 0, a.stream>>>(x, out, L.outer, L.n, s);
    } else {
      reduce_rows_kernel<T, K, false>
          <<<grid_for(L.outer, 1), 512, 0, a.stream>>>(x, out, L.outer, L.n, s);
    }
  } else {  // cols (rows with a short n: a thread per row)
    const int64_t outputs = L.outer * L.inner;
    unsigned tx = 256, ty = 1;
    if (L.n > 16 && outputs < sms * 512) {
      tx = 32;
      ty = outputs <= sms * 32 ? 32 : 8;
    }
    size_t smem = ty > 1 ? static_cast<size_t>(tx) * ty * sizeof(Acc<D>) : 0;
    reduce_cols_kernel<T, K>
        <<<grid_for(outputs, static_cast<int>(tx)), dim3(tx, ty), smem, a.stream>>>(
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
    case RK::kMax:
      return run_reduce_t<T, RK::kMax>(a, L, s);
    case RK::kArg:
      return run_reduce_t<T, RK::kArg>(a, L, s);
    case RK::kVar:
      if constexpr (kIsFloat<T>) return run_reduce_t<T, RK::kVar>(a, L, s);
      break;
    case RK::kLogical:
      return run_reduce_t<T, RK::kLogical>(a, L, s);
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
      return layer_error(a.layer, StatusCode::kInvalidArgument,
                         "axis " + std::to_string(ax) + " out of range");
    reduced[ax < 0 ? ax + r : ax] = true;
  }
  int64_t n = 1, outputs = 1;
  for (int i = 0; i < r; ++i) (reduced[i] ? n : outputs) *= x.dims[i];
  if (o.numel() != outputs)
    return layer_error(a.layer, StatusCode::kInternal,
                       "output has " + std::to_string(o.numel()) + " elements, expected " +
                           std::to_string(outputs));
  if (outputs == 0) return {};

  RK kind = RK::kSum;
  RSpec s;
  s.n = n;
  s.var_div =
      static_cast<float>(std::max(0.0, static_cast<double>(n) - static_cast<double>(p.correction)));
  switch (p.op) {
    case ReduceOp::kSum:
      kind = RK::kSum;
      break;
    case ReduceOp::kMean:
      kind = RK::kSum;
      s.mean = true;
      break;
    case ReduceOp::kProd:
      kind = RK::kSum;
      s.flip = true;
      break;
    case ReduceOp::kMax:
      kind = RK::kMax;
      break;
    case ReduceOp::kMin:
      kind = RK::kMax;
      s.flip = true;
      break;
    case ReduceOp::kArgMax:
      kind = RK::kArg;
      break;
    case ReduceOp::kArgMin:
      kind = RK::kArg;
      s.flip = true;
      break;
    case ReduceOp::kVar:
      kind = RK::kVar;
      break;
    case ReduceOp::kStd:
      kind = RK::kVar;
      s.sqrt_out = true;
      break;
    case ReduceOp::kAny:
      kind = RK::kLogical;
      break;
    case ReduceOp::kAll:
      kind = RK::kLogical;
      s.flip = true;
      break;
  }
  if ((s.mean || kind == RK::kVar) && !is_floating(x.dtype))
    return layer_error(a.layer, StatusCode::kUnsupported, "mean/var/std need a float input");
  DataType want = kind == RK::kArg       ? DataType::kInt64
                  : kind == RK::kLogical ? DataType::kBool
                                         : x.dtype;
  if (o.dtype != want)
    return layer_error(a.layer, StatusCode::kInternal, "unexpected output dtype");

  const ReduceLayout L = plan_reduce(x.dims, reduced, outputs);
  return visit_dtype(x.dtype, [&](auto tag) -> Status {
    using T = typename decltype(tag)::type;
    return dispatch_reduce<T>(a, kind, L, s);
  });
}

}  // namespace kiln::cuda
