// CUDA pointwise kernels: binary (broadcasting; 16-byte vectorized when shapes match), unary,
// where, cast, copies, fill, arange, shape. Floats compute in float32; integers in int64 with the
// CPU reference's rules (wrap-around, division by zero gives 0).
#include <array>
#include <cmath>
#include <vector>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/unary_ops.cuh"

namespace kiln::cuda {
namespace {

__device__ __forceinline__ int64_t wrap_add(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a + (uint64_t)b);
}
__device__ __forceinline__ int64_t wrap_sub(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a - (uint64_t)b);
}
__device__ __forceinline__ int64_t wrap_mul(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a * (uint64_t)b);
}
__device__ __forceinline__ int64_t trunc_div_i(int64_t a, int64_t b) {
  if (b == 0) return 0;
  if (b == -1) return wrap_sub(0, a);
  return a / b;
}
__device__ __forceinline__ int64_t floor_div_i(int64_t a, int64_t b) {
  if (b == 0) return 0;
  int64_t q = trunc_div_i(a, b);
  if (b != -1 && (a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

__device__ __forceinline__ float binary_f(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::kAdd:
      return a + b;
    case BinaryOp::kSub:
      return a - b;
    case BinaryOp::kMul:
      return a * b;
    case BinaryOp::kDiv:
      return a / b;
    case BinaryOp::kPow:
      return powf(a, b);
    case BinaryOp::kMax:
      return (isnan(a) || isnan(b)) ? NAN : fmaxf(a, b);
    case BinaryOp::kMin:
      return (isnan(a) || isnan(b)) ? NAN : fminf(a, b);
    case BinaryOp::kFloorDiv:
      return floorf(a / b);
    case BinaryOp::kTruncDiv:
      return truncf(a / b);
    case BinaryOp::kMod: {
      float m = fmodf(a, b);
      if (m != 0 && ((m < 0) != (b < 0))) m += b;
      return m;
    }
    case BinaryOp::kFmod:
      return fmodf(a, b);
    case BinaryOp::kEqual:
      return a == b;
    case BinaryOp::kNotEqual:
      return a != b;
    case BinaryOp::kLess:
      return a < b;
    case BinaryOp::kLessEqual:
      return a <= b;
    case BinaryOp::kGreater:
      return a > b;
    case BinaryOp::kGreaterEqual:
      return a >= b;
    case BinaryOp::kAnd:
      return (a != 0) && (b != 0);
    case BinaryOp::kOr:
      return (a != 0) || (b != 0);
    case BinaryOp::kXor:
      return (a != 0) != (b != 0);
    case BinaryOp::kBitAnd:  // integer-only (shape inference refuses floats)
    case BinaryOp::kBitOr:
    case BinaryOp::kBitXor:
      return NAN;
  }
  return 0;
}

__device__ __forceinline__ int64_t binary_i(BinaryOp op, int64_t a, int64_t b) {
  switch (op) {
    case BinaryOp::kAdd:
      return wrap_add(a, b);
    case BinaryOp::kSub:
      return wrap_sub(a, b);
    case BinaryOp::kMul:
      return wrap_mul(a, b);
    case BinaryOp::kDiv:
    case BinaryOp::kTruncDiv:
      return trunc_div_i(a, b);
    case BinaryOp::kFloorDiv:
      return floor_div_i(a, b);
    case BinaryOp::kMod:
      return b == 0 ? 0 : wrap_sub(a, wrap_mul(floor_div_i(a, b), b));
    case BinaryOp::kFmod:
      return (b == 0 || b == -1) ? 0 : a % b;
    case BinaryOp::kPow: {
      if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0);
      int64_t r = 1, base = a;
      for (int64_t e = b; e > 0; e >>= 1) {
        if (e & 1) r = wrap_mul(r, base);
        base = wrap_mul(base, base);
      }
      return r;
    }
    case BinaryOp::kMax:
      return a > b ? a : b;
    case BinaryOp::kMin:
      return a < b ? a : b;
    case BinaryOp::kEqual:
      return a == b;
    case BinaryOp::kNotEqual:
      return a != b;
    case BinaryOp::kLess:
      return a < b;
    case BinaryOp::kLessEqual:
      return a <= b;
    case BinaryOp::kGreater:
      return a > b;
    case BinaryOp::kGreaterEqual:
      return a >= b;
    case BinaryOp::kAnd:
      return (a != 0) && (b != 0);
    case BinaryOp::kOr:
      return (a != 0) || (b != 0);
    case BinaryOp::kXor:
      return (a != 0) != (b != 0);
    case BinaryOp::kBitAnd:
      return a & b;
    case BinaryOp::kBitOr:
      return a | b;
    case BinaryOp::kBitXor:
      return a ^ b;
  }
  return 0;
}

__device__ __forceinline__ int64_t unary_i(UnaryOp op, int64_t v, float alpha, float beta) {
  switch (op) {
    case UnaryOp::kAbs:
      return v < 0 ? wrap_sub(0, v) : v;
    case UnaryOp::kNeg:
      return wrap_sub(0, v);
    case UnaryOp::kSign:
      return (v > 0) - (v < 0);
    case UnaryOp::kNot:
      return v == 0;
    case UnaryOp::kRelu:
      return v > 0 ? v : 0;
    case UnaryOp::kClamp:
      if (!isnan(alpha) && (float)v < alpha) v = (int64_t)ceilf(alpha);
      if (!isnan(beta) && (float)v > beta) v = (int64_t)floorf(beta);
      return v;
    case UnaryOp::kIsNan:
      return 0;
    default:
      return v;
  }
}

template <class TI, class TO>
__device__ __forceinline__ TO apply_binary(BinaryOp op, TI a, TI b) {
  if constexpr (kIsFloat<TI>) {
    return from_f32<TO>(binary_f(op, to_f32(a), to_f32(b)));
  } else {
    int64_t r = binary_i(op, (int64_t)a, (int64_t)b);
    if constexpr (kIsFloat<TO>)
      return from_f32<TO>((float)r);
    else
      return (TO)r;
  }
}

// ---- coalesced broadcasting (32-bit index math)
// --------------------------------------------------- The output dims are coalesced with every
// input's broadcast strides (size-1 dims dropped; a dim merged into its outer neighbour when that
// is contiguous after it for every input), which turns the usual cases into 1-3 dims: [N,C,1,1] x
// [N,C,H,W] -> [N*C, H*W] with strides (1,0) and (H*W,1). Offsets use multiply-high division. When
// the innermost merged dim is a multiple of the vector width and every input either runs along it
// (stride 1) or is constant along it (stride 0), each thread handles one 16-byte vector of output.
constexpr int kMaxInputs = 3;
struct BcastArg {
  int rank = 0;
  uint32_t size[kMaxRank] = {};
  FastDiv div[kMaxRank];
  uint32_t st[kMaxInputs][kMaxRank] = {};
  bool vec_in[kMaxInputs] = {};  // input k is contiguous along the innermost dim (vector loads)
};

template <int NIN>
__device__ __forceinline__ void bcast_offsets(uint32_t u, const BcastArg& g, uint32_t (&off)[NIN]) {
#pragma unroll
  for (int k = 0; k < NIN; ++k) off[k] = 0;
#pragma unroll
  for (int d = kMaxRank - 1; d >= 0; --d) {
    if (d >= g.rank) continue;
    uint32_t q = fdiv(u, g.div[d]);
    uint32_t c = u - q * g.size[d];
#pragma unroll
    for (int k = 0; k < NIN; ++k) off[k] += c * g.st[k][d];
    u = q;
  }
}

template <class T, int V>
__device__ __forceinline__ void load_vec(const T* p, bool contiguous, T (&r)[V]) {
  if constexpr (V == 1) {
    r[0] = *p;
  } else {
    if (contiguous) {
      *reinterpret_cast<uint4*>(r) = *reinterpret_cast<const uint4*>(p);
    } else {
      T v = *p;
#pragma unroll
      for (int k = 0; k < V; ++k) r[k] = v;
    }
  }
}

template <class T, int V>
__device__ __forceinline__ void store_vec(T* p, const T (&r)[V]) {
  if constexpr (V > 1 && sizeof(T) * V == 16) {
    *reinterpret_cast<uint4*>(p) = *reinterpret_cast<const uint4*>(r);
  } else {
#pragma unroll
    for (int k = 0; k < V; ++k) p[k] = r[k];
  }
}

template <class TI, class TO, int V>
__global__ void binary_bcast32_kernel(const TI* __restrict__ a, const TI* __restrict__ b,
                                      TO* __restrict__ o, uint32_t units, BcastArg g, BinaryOp op) {
  for (uint32_t u = blockIdx.x * blockDim.x + threadIdx.x; u < units; u += blockDim.x * gridDim.x) {
    uint32_t off[2];
    bcast_offsets<2>(u, g, off);
    alignas(16) TI ra[V];
    alignas(16) TI rb[V];
    alignas(16) TO ro[V];
    load_vec<TI, V>(a + (g.vec_in[0] ? off[0] * V : off[0]), g.vec_in[0], ra);
    load_vec<TI, V>(b + (g.vec_in[1] ? off[1] * V : off[1]), g.vec_in[1], rb);
#pragma unroll
    for (int k = 0; k < V; ++k) ro[k] = apply_binary<TI, TO>(op, ra[k], rb[k]);
    store_vec<TO, V>(o + static_cast<size_t>(u) * V, ro);
  }
}

template <int kBytes>
__global__ void where32_kernel(const bool* __restrict__ c, const uint8_t* __restrict__ a,
                               const uint8_t* __restrict__ b, uint8_t* __restrict__ o, uint32_t n,
                               BcastArg g) {
  using U =
      std::conditional_t<kBytes == 1, uint8_t,
                         std::conditional_t<kBytes == 2, uint16_t,
                                            std::conditional_t<kBytes == 4, uint32_t, uint64_t>>>;
  for (uint32_t u = blockIdx.x * blockDim.x + threadIdx.x; u < n; u += blockDim.x * gridDim.x) {
    uint32_t off[3];
    bcast_offsets<3>(u, g, off);
    reinterpret_cast<U*>(o)[u] =
        c[off[0]] ? reinterpret_cast<const U*>(a)[off[1]] : reinterpret_cast<const U*>(b)[off[2]];
  }
}

template <class TI, class TO>
__global__ void binary_bcast_kernel(const TI* a, const TI* b, TO* o, int64_t n, DimsArg od,
                                    StridesArg sa, StridesArg sb, BinaryOp op) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    o[i] = apply_binary<TI, TO>(op, a[broadcast_offset(i, od, sa)], b[broadcast_offset(i, od, sb)]);
  }
}

// Same shapes: each thread handles 16 bytes of output.
template <class TI, class TO, int V>
__global__ void binary_same_kernel(const TI* __restrict__ a, const TI* __restrict__ b,
                                   TO* __restrict__ o, int64_t n, BinaryOp op) {
  int64_t nv = n / V;
  KILN_GRID_STRIDE_LOOP(v, nv) {
    alignas(16) TI ra[V];
    alignas(16) TI rb[V];
    alignas(16) TO ro[V];
    *reinterpret_cast<uint4*>(ra) = reinterpret_cast<const uint4*>(a)[v];
    *reinterpret_cast<uint4*>(rb) = reinterpret_cast<const uint4*>(b)[v];
#pragma unroll
    for (int k = 0; k < V; ++k) ro[k] = apply_binary<TI, TO>(op, ra[k], rb[k]);
    store_vec<TO, V>(o + v * V, ro);
  }
  // tail
  int64_t t = nv * V + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t < n) o[t] = apply_binary<TI, TO>(op, a[t], b[t]);
}

// Unary over 16-byte vectors (aligned input and output); the tail (< V elements) by the first
// threads.
template <class TI, class TO, int V>
__global__ void unary_vec_kernel(const TI* __restrict__ x, TO* __restrict__ o, int64_t n,
                                 UnaryOp op, float alpha, float beta) {
  const int64_t nv = n / V;
  KILN_GRID_STRIDE_LOOP(v, nv) {
    alignas(16) TI rx[V];
    alignas(16) TO ro[V];
    *reinterpret_cast<uint4*>(rx) = reinterpret_cast<const uint4*>(x)[v];
#pragma unroll
    for (int k = 0; k < V; ++k) ro[k] = from_f32<TO>(unary_f(op, to_f32(rx[k]), alpha, beta));
    store_vec<TO, V>(o + v * V, ro);
  }
  int64_t t = nv * V + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t < n) o[t] = from_f32<TO>(unary_f(op, to_f32(x[t]), alpha, beta));
}

template <class TI, class TO>
__global__ void unary_kernel(const TI* __restrict__ x, TO* __restrict__ o, int64_t n, UnaryOp op,
                             float alpha, float beta) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    if constexpr (kIsFloat<TI>) {
      o[i] = from_f32<TO>(unary_f(op, to_f32(x[i]), alpha, beta));
    } else {
      int64_t r = unary_i(op, (int64_t)x[i], alpha, beta);
      if constexpr (kIsFloat<TO>)
        o[i] = from_f32<TO>((float)r);
      else
        o[i] = (TO)r;
    }
  }
}

template <int kBytes>
__global__ void where_kernel(const bool* c, const uint8_t* a, const uint8_t* b, uint8_t* o,
                             int64_t n, DimsArg od, StridesArg sc, StridesArg sa, StridesArg sb) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const uint8_t* src = c[broadcast_offset(i, od, sc)] ? a + broadcast_offset(i, od, sa) * kBytes
                                                        : b + broadcast_offset(i, od, sb) * kBytes;
#pragma unroll
    for (int k = 0; k < kBytes; ++k) o[i * kBytes + k] = src[k];
  }
}

template <class TI, class TO>
__global__ void cast_kernel(const TI* __restrict__ x, TO* __restrict__ o, int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    if constexpr (kIsFloat<TI> || kIsFloat<TO>) {
      o[i] = from_f32<TO>(to_f32(x[i]));
    } else if constexpr (std::is_same_v<TO, bool>) {
      o[i] = x[i] != 0;
    } else {
      o[i] = (TO)(int64_t)x[i];
    }
  }
}

template <class T>
__global__ void fill_kernel(T* o, int64_t n, T v) {
  KILN_GRID_STRIDE_LOOP(i, n) { o[i] = v; }
}

// Arange: start/step resolved on the host (TensorView::values) and passed by value.
template <class T>
__global__ void arange_kernel(T* o, int64_t n, double start, double step) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    double v = start + (double)i * step;
    if constexpr (kIsFloat<T>)
      o[i] = from_f32<T>((float)v);
    else
      o[i] = (T)(int64_t)v;
  }
}

__global__ void shape_kernel(int64_t* o, DimsArg d) {
  if (static_cast<int>(threadIdx.x) < d.rank) o[threadIdx.x] = d.d[threadIdx.x];
}

constexpr int kThreads = 256;
constexpr int64_t kMax32 = (int64_t{1} << 31) - 1;

/// Fills `g` for an output of dims `out` read from `ins` (broadcast to it). `v` is the vector width
/// wanted (1: none); it comes back as the width used. False when the output is too large for 32-bit
/// offsets (the caller uses the 64-bit kernels).
bool make_bcast(const Dims& out, const std::vector<const TensorView*>& ins, const void* out_data,
                int& v, BcastArg& g) {
  if (out.volume() > kMax32 || ins.size() > static_cast<size_t>(kMaxInputs)) return false;
  const size_t nin = ins.size();
  std::vector<StridesArg> sk;
  for (const TensorView* t : ins) sk.push_back(broadcast_strides_arg(t->dims, out));
  std::vector<int64_t> size;
  std::vector<std::array<int64_t, kMaxInputs>> st;
  for (int d = 0; d < out.rank(); ++d) {
    if (out[d] == 1) continue;
    bool merge = !size.empty();
    for (size_t k = 0; k < nin && merge; ++k) merge = st.back()[k] == sk[k].s[d] * out[d];
    if (merge) {
      size.back() *= out[d];
      for (size_t k = 0; k < nin; ++k) st.back()[k] = sk[k].s[d];
    } else {
      size.push_back(out[d]);
      std::array<int64_t, kMaxInputs> row{};
      for (size_t k = 0; k < nin; ++k) row[k] = sk[k].s[d];
      st.push_back(row);
    }
  }
  if (size.empty()) {
    size.push_back(1);
    st.push_back({});
  }
  const size_t inner = size.size() - 1;
  bool vec = v > 1 && size[inner] % v == 0 && reinterpret_cast<uintptr_t>(out_data) % 16 == 0;
  for (size_t k = 0; k < nin && vec; ++k) {
    const int64_t si = st[inner][k];
    if (si == 0) continue;
    vec = si == 1 && reinterpret_cast<uintptr_t>(ins[k]->data) % 16 == 0;
    for (size_t d = 0; d < inner && vec; ++d) vec = st[d][k] % v == 0;
  }
  if (!vec) v = 1;
  g = BcastArg{};
  g.rank = static_cast<int>(size.size());
  for (size_t k = 0; k < nin; ++k) g.vec_in[k] = v > 1 && st[inner][k] == 1;
  for (size_t d = 0; d < size.size(); ++d) {
    const int64_t sz = d == inner ? size[d] / v : size[d];
    g.size[d] = static_cast<uint32_t>(sz);
    g.div[d] = make_fastdiv(sz);
    // A vector-loaded input's offsets count vectors: its innermost stride (1 element) is 1 vector.
    for (size_t k = 0; k < nin; ++k) {
      const int64_t s = !g.vec_in[k] ? st[d][k] : d == inner ? 1 : st[d][k] / v;
      g.st[k][d] = static_cast<uint32_t>(s);
    }
  }
  return true;
}

// Output types of pointwise ops: the input type, or bool (comparisons, logical ops, not, isnan).
template <class TI, class F>
void visit_same_or_bool(DataType out, F&& f) {
  if (out == DataType::kBool) {
    f(TypeTag<bool>{});
  } else {
    f(TypeTag<TI>{});
  }
}

}  // namespace

Status launch_binary(const LaunchArgs& a) {
  BinaryOp op = std::get<BinaryParams>(a.layer.params).op;
  const TensorView &x = a.in[0], &y = a.in[1], &o = a.out[0];
  int64_t n = o.numel();
  if (n == 0) return {};
  bool same = x.dims == o.dims && y.dims == o.dims;
  visit_dtype(x.dtype, [&](auto ti) {
    using TI = typename decltype(ti)::type;
    visit_same_or_bool<TI>(o.dtype, [&](auto to) {
      using TO = typename decltype(to)::type;
      constexpr int V = 16 / sizeof(TI);
      int vw = 1;
      bool aligned = (reinterpret_cast<uintptr_t>(x.data) % 16 == 0) &&
                     (reinterpret_cast<uintptr_t>(y.data) % 16 == 0) &&
                     (reinterpret_cast<uintptr_t>(o.data) % 16 == 0);
      if (same && aligned && sizeof(TI) <= 8 && V >= 1) {
        int64_t nv = n / V;
        unsigned grid = grid_for(std::max<int64_t>(nv, n % V), kThreads);
        binary_same_kernel<TI, TO, V><<<grid, kThreads, 0, a.stream>>>(
            static_cast<const TI*>(x.data), static_cast<const TI*>(y.data),
            static_cast<TO*>(o.data), n, op);
      } else if (BcastArg g; [&] {
                   int v = V;
                   bool ok = make_bcast(o.dims, {&x, &y}, o.data, v, g);
                   vw = v;
                   return ok;
                 }()) {
        const uint32_t units = static_cast<uint32_t>(n / vw);
        if (vw == V && V > 1) {
          binary_bcast32_kernel<TI, TO, V><<<grid_for(units, kThreads), kThreads, 0, a.stream>>>(
              static_cast<const TI*>(x.data), static_cast<const TI*>(y.data),
              static_cast<TO*>(o.data), units, g, op);
        } else {
          binary_bcast32_kernel<TI, TO, 1><<<grid_for(units, kThreads), kThreads, 0, a.stream>>>(
              static_cast<const TI*>(x.data), static_cast<const TI*>(y.data),
              static_cast<TO*>(o.data), units, g, op);
        }
      } else {
        binary_bcast_kernel<TI, TO><<<grid_for(n, kThreads), kThreads, 0, a.stream>>>(
            static_cast<const TI*>(x.data), static_cast<const TI*>(y.data),
            static_cast<TO*>(o.data), n, dims_arg(o.dims), broadcast_strides_arg(x.dims, o.dims),
            broadcast_strides_arg(y.dims, o.dims), op);
      }
    });
  });
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_unary(const LaunchArgs& a) {
  const auto& p = std::get<UnaryParams>(a.layer.params);
  const TensorView &x = a.in[0], &o = a.out[0];
  int64_t n = o.numel();
  if (n == 0) return {};
  visit_dtype(x.dtype, [&](auto ti) {
    using TI = typename decltype(ti)::type;
    visit_same_or_bool<TI>(o.dtype, [&](auto to) {
      using TO = typename decltype(to)::type;
      constexpr int V = 16 / sizeof(TI);
      if constexpr (kIsFloat<TI> && V > 1) {
        if (reinterpret_cast<uintptr_t>(x.data) % 16 == 0 &&
            reinterpret_cast<uintptr_t>(o.data) % 16 == 0) {
          unary_vec_kernel<TI, TO, V>
              <<<grid_for(std::max<int64_t>(n / V, n % V), kThreads), kThreads, 0, a.stream>>>(
                  static_cast<const TI*>(x.data), static_cast<TO*>(o.data), n, p.op,
                  static_cast<float>(p.alpha), static_cast<float>(p.beta));
          return;
        }
      }
      unary_kernel<TI, TO><<<grid_for(n, kThreads), kThreads, 0, a.stream>>>(
          static_cast<const TI*>(x.data), static_cast<TO*>(o.data), n, p.op,
          static_cast<float>(p.alpha), static_cast<float>(p.beta));
    });
  });
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_where(const LaunchArgs& a) {
  const TensorView &c = a.in[0], &x = a.in[1], &y = a.in[2], &o = a.out[0];
  int64_t n = o.numel();
  if (n == 0) return {};
  DimsArg od = dims_arg(o.dims);
  StridesArg sc = broadcast_strides_arg(c.dims, o.dims), sa = broadcast_strides_arg(x.dims, o.dims),
             sb = broadcast_strides_arg(y.dims, o.dims);
  auto* pc = static_cast<const bool*>(c.data);
  auto* px = static_cast<const uint8_t*>(x.data);
  auto* py = static_cast<const uint8_t*>(y.data);
  auto* po = static_cast<uint8_t*>(o.data);
  unsigned g = grid_for(n, kThreads);
  int v = 1;
  if (BcastArg bg; make_bcast(o.dims, {&c, &x, &y}, o.data, v, bg)) {
    const auto un = static_cast<uint32_t>(n);
    switch (dtype_size(o.dtype)) {
      case 1:
        where32_kernel<1><<<g, kThreads, 0, a.stream>>>(pc, px, py, po, un, bg);
        break;
      case 2:
        where32_kernel<2><<<g, kThreads, 0, a.stream>>>(pc, px, py, po, un, bg);
        break;
      case 4:
        where32_kernel<4><<<g, kThreads, 0, a.stream>>>(pc, px, py, po, un, bg);
        break;
      default:
        where32_kernel<8><<<g, kThreads, 0, a.stream>>>(pc, px, py, po, un, bg);
        break;
    }
    KILN_CUDA_LAUNCH_CHECK();
    return {};
  }
  switch (dtype_size(o.dtype)) {
    case 1:
      where_kernel<1><<<g, kThreads, 0, a.stream>>>(pc, px, py, po, n, od, sc, sa, sb);
      break;
    case 2:
      where_kernel<2><<<g, kThreads, 0, a.stream>>>(pc, px, py, po, n, od, sc, sa, sb);
      break;
    case 4:
      where_kernel<4><<<g, kThreads, 0, a.stream>>>(pc, px, py, po, n, od, sc, sa, sb);
      break;
    default:
      where_kernel<8><<<g, kThreads, 0, a.stream>>>(pc, px, py, po, n, od, sc, sa, sb);
      break;
  }
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_cast(const LaunchArgs& a) {
  const TensorView &x = a.in[0], &o = a.out[0];
  if (x.dtype == DataType::kFloat8E4M3 || o.dtype == DataType::kFloat8E4M3)
    return launch_cast_float8(a);
  int64_t n = o.numel();
  if (n == 0) return {};
  visit_dtype(x.dtype, [&](auto ti) {
    using TI = typename decltype(ti)::type;
    visit_dtype(o.dtype, [&](auto to) {
      using TO = typename decltype(to)::type;
      cast_kernel<TI, TO><<<grid_for(n, kThreads), kThreads, 0, a.stream>>>(
          static_cast<const TI*>(x.data), static_cast<TO*>(o.data), n);
    });
  });
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_copy(const LaunchArgs& a) {
  const TensorView &x = a.in[0], &o = a.out[0];
  if (o.data == x.data || o.bytes() == 0) return {};
  KILN_CUDA_RETURN(cudaMemcpyAsync(o.data, x.data, o.bytes(), cudaMemcpyDeviceToDevice, a.stream));
  return {};
}

Status launch_fill(const LaunchArgs& a) {
  const auto& p = std::get<FillParams>(a.layer.params);
  if (p.mode != FillMode::kConstant) return launch_random_fill(a);
  const TensorView& o = a.out[0];
  int64_t n = o.numel();
  if (n == 0) return {};
  visit_dtype(o.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    T v;
    if constexpr (std::is_same_v<T, __half>) {
      v = __float2half_rn(static_cast<float>(p.value));
    } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
      v = __float2bfloat16_rn(static_cast<float>(p.value));
    } else if constexpr (std::is_same_v<T, bool>) {
      v = p.value != 0.0;
    } else {
      v = static_cast<T>(p.value);
    }
    fill_kernel<T><<<grid_for(n, kThreads), kThreads, 0, a.stream>>>(static_cast<T*>(o.data), n, v);
  });
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_arange(const LaunchArgs& a) {
  const auto& p = std::get<ArangeParams>(a.layer.params);
  const TensorView& o = a.out[0];
  int64_t n = o.numel();
  if (n == 0) return {};
  double bounds[3] = {p.start, p.end, p.step};
  for (size_t i = 0; i < 3 && i < a.in.size(); ++i) {
    if (i >= a.layer.inputs.size() || a.layer.inputs[i] < 0) continue;
    if (a.in[i].values == nullptr)
      return layer_error(a.layer, StatusCode::kInternal, "arange bound has no host value");
    bounds[i] = static_cast<double>(a.in[i].values[0]);
  }
  visit_dtype(o.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (!std::is_same_v<T, bool>) {
      arange_kernel<T><<<grid_for(n, kThreads), kThreads, 0, a.stream>>>(static_cast<T*>(o.data), n,
                                                                         bounds[0], bounds[2]);
    }
  });
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_shape(const LaunchArgs& a) {
  // The dims are known on the host; a tiny kernel writes them so this stays graph-capturable.
  const Dims& d = a.in[0].dims;
  if (d.rank() == 0) return {};
  shape_kernel<<<1, 32, 0, a.stream>>>(static_cast<int64_t*>(a.out[0].data), dims_arg(d));
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

}  // namespace kiln::cuda
