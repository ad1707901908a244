// CUDA indexing: gather (take along one axis: embedding lookups, index_select), gather_elements
// (torch.gather) and scatter (torch.scatter / scatter_reduce with include_self=True), with the CPU
// reference's semantics: int32/int64 indices, a negative index wraps once (i + dim), elements move
// as raw bytes (every dtype).
//
// Out-of-range indices: the CPU backend validates every index before writing and reports the first
// bad one as an InvalidArgument error. Kernels here cannot report without a synchronization (and no
// error buffer can be allocated), so they never access memory out of bounds instead: gather and
// gather_elements write zeros for such an element, scatter skips such an update.
//
// Scatter is deterministic by default: one thread per index line (the index elements that share
// every coordinate but the axis, which are the only ones that can hit the same output element)
// applies its updates in index order, so plain scatter keeps the last update (as the CPU) and
// reductions combine in the CPU's order. Differences from the CPU: 16-bit float reductions round
// after every update (the CPU rounds once at the end). When there are few lines but long ones (few
// threads, long serial loops), add/max/min on f32/i32/i64 use atomics instead (float add then sums
// in an unspecified order).
#include <string>
#include <vector>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/kernels/device_utils.cuh"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMax32 = (int64_t{1} << 31) - 1;

template <int kBytes>
struct Unit;
template <>
struct Unit<1> {
  using type = uint8_t;
};
template <>
struct Unit<2> {
  using type = uint16_t;
};
template <>
struct Unit<4> {
  using type = uint32_t;
};
template <>
struct Unit<8> {
  using type = uint64_t;
};
template <>
struct Unit<16> {
  using type = uint4;
};

template <class F>
void visit_unit(int bytes, F&& f) {
  switch (bytes) {
    case 16:
      f(std::integral_constant<int, 16>{});
      break;
    case 8:
      f(std::integral_constant<int, 8>{});
      break;
    case 4:
      f(std::integral_constant<int, 4>{});
      break;
    case 2:
      f(std::integral_constant<int, 2>{});
      break;
    default:
      f(std::integral_constant<int, 1>{});
      break;
  }
}

/// Calls f(TypeTag<TI>) for the index dtype (int32/int64).
template <class F>
void visit_index(DataType dt, F&& f) {
  if (dt == DataType::kInt32) {
    f(TypeTag<int32_t>{});
  } else {
    f(TypeTag<int64_t>{});
  }
}

bool aligned(const void* p, int64_t w) {
  return reinterpret_cast<uintptr_t>(p) % static_cast<uint64_t>(w) == 0;
}

Status normalized_axis(const LaunchArgs& a, int64_t axis, int rank, int& out) {
  int r = rank < 1 ? 1 : rank;
  int64_t ax = axis < 0 ? axis + r : axis;
  if (ax < 0 || ax >= r)
    return layer_error(a.layer, StatusCode::kInvalidArgument,
                       "axis " + std::to_string(axis) + " out of range");
  out = static_cast<int>(ax);
  return {};
}

Status check_index_dtype(const LaunchArgs& a, const TensorView& t) {
  if (t.dtype != DataType::kInt32 && t.dtype != DataType::kInt64)
    return layer_error(a.layer, StatusCode::kTypeError, "indices must be int32/int64");
  return {};
}

/// Wrapped index in [0, dim), or -1 when out of range.
template <class TI>
__device__ __forceinline__ int64_t wrap_index(TI raw, int64_t dim) {
  int64_t v = static_cast<int64_t>(raw);
  if (v < 0) v += dim;
  return (v >= 0 && v < dim) ? v : -1;
}

// ---- gather ----

/// out [outer, ni, inner] = data [outer, dim, inner] at indices; `inner` counted in copy units.
struct GatherArg {
  int64_t ni, dim, inner;
  FastDiv inner_div, ni_div;
};

template <class U, class TI>
__global__ void gather32_kernel(const U* __restrict__ data, const TI* __restrict__ idx,
                                U* __restrict__ out, uint32_t n, GatherArg a) {
  for (uint32_t u = blockIdx.x * blockDim.x + threadIdx.x; u < n; u += blockDim.x * gridDim.x) {
    uint32_t row = fdiv(u, a.inner_div);
    uint32_t c = u - row * a.inner_div.d;
    uint32_t o = fdiv(row, a.ni_div);
    uint32_t j = row - o * a.ni_div.d;
    int64_t v = wrap_index(idx[j], a.dim);
    out[u] = v >= 0 ? data[(static_cast<int64_t>(o) * a.dim + v) * a.inner + c] : U{};
  }
}

template <class U, class TI>
__global__ void gather64_kernel(const U* __restrict__ data, const TI* __restrict__ idx,
                                U* __restrict__ out, int64_t n, GatherArg a) {
  KILN_GRID_STRIDE_LOOP(u, n) {
    int64_t row = u / a.inner, c = u - row * a.inner;
    int64_t o = row / a.ni, j = row - o * a.ni;
    int64_t v = wrap_index(idx[j], a.dim);
    out[u] = v >= 0 ? data[(o * a.dim + v) * a.inner + c] : U{};
  }
}

// ---- gather_elements / scatter: per-element coordinates ----

/// Index tensor geometry: dims, and per dim the strides of the tensors addressed with its
/// coordinates (0 along the axis for the data/output, whose axis coordinate comes from the index
/// value).
struct ElemArg {
  int rank, axis;
  int64_t dim;          // data extent along the axis
  int64_t axis_stride;  // data stride along the axis
  int64_t len, iaxis_stride,
      uaxis_stride;  // scatter lines: index extent and index/updates strides along the axis
  int64_t size[kMaxRank];
  int64_t dstride[kMaxRank];  // data/output strides (0 at the axis)
  int64_t istride[kMaxRank];  // index strides
  int64_t ustride[kMaxRank];  // updates strides (scatter)
};

template <class U, class TI, class Index>
__global__ void gather_elements_kernel(const U* __restrict__ data, const TI* __restrict__ idx,
                                       U* __restrict__ out, Index n, ElemArg a) {
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += static_cast<Index>(blockDim.x) * gridDim.x) {
    Index rest = i;
    int64_t off = 0;
#pragma unroll
    for (int d = kMaxRank - 1; d >= 0; --d) {
      if (d >= a.rank) continue;
      Index q = rest / static_cast<Index>(a.size[d]);
      off += static_cast<int64_t>(rest - q * static_cast<Index>(a.size[d])) * a.dstride[d];
      rest = q;
    }
    int64_t v = wrap_index(idx[i], a.dim);
    out[i] = v >= 0 ? data[off + v * a.axis_stride] : U{};
  }
}

template <class T>
__device__ __forceinline__ T combine(ScatterReduce op, T cur, T upd) {
  if constexpr (kIsFloat<T>) {
    float x = to_f32(cur), y = to_f32(upd), r = y;
    switch (op) {
      case ScatterReduce::kNone:
        return upd;
      case ScatterReduce::kAdd:
        r = x + y;
        break;
      case ScatterReduce::kMul:
        r = x * y;
        break;
      case ScatterReduce::kMax:
        r = (isnan(x) || isnan(y)) ? NAN : (x < y ? y : x);
        break;
      case ScatterReduce::kMin:
        r = (isnan(x) || isnan(y)) ? NAN : (y < x ? y : x);
        break;
    }
    return from_f32<T>(r);
  } else {
    auto x = static_cast<int64_t>(cur), y = static_cast<int64_t>(upd);
    switch (op) {
      case ScatterReduce::kNone:
        return upd;
      case ScatterReduce::kAdd:
        return static_cast<T>(
            static_cast<int64_t>(static_cast<uint64_t>(x) + static_cast<uint64_t>(y)));
      case ScatterReduce::kMul:
        return static_cast<T>(
            static_cast<int64_t>(static_cast<uint64_t>(x) * static_cast<uint64_t>(y)));
      case ScatterReduce::kMax:
        return x >= y ? cur : upd;
      case ScatterReduce::kMin:
        return x <= y ? cur : upd;
    }
    return upd;
  }
}

/// One thread per index line (all coordinates but the axis); applies the line's updates in order.
template <class T, class TI, class Index>
__global__ void scatter_lines_kernel(T* __restrict__ out, const TI* __restrict__ idx,
                                     const T* __restrict__ upd, Index lines, ElemArg a,
                                     ScatterReduce op) {
  for (Index l = blockIdx.x * blockDim.x + threadIdx.x; l < lines;
       l += static_cast<Index>(blockDim.x) * gridDim.x) {
    Index rest = l;
    int64_t oo = 0, io = 0, uo = 0;
#pragma unroll
    for (int d = kMaxRank - 1; d >= 0; --d) {
      if (d >= a.rank || d == a.axis) continue;
      Index q = rest / static_cast<Index>(a.size[d]);
      auto c = static_cast<int64_t>(rest - q * static_cast<Index>(a.size[d]));
      oo += c * a.dstride[d];
      io += c * a.istride[d];
      uo += c * a.ustride[d];
      rest = q;
    }
    for (int64_t k = 0; k < a.len; ++k) {
      int64_t v = wrap_index(idx[io + k * a.iaxis_stride], a.dim);
      if (v < 0) continue;
      T* p = out + oo + v * a.axis_stride;
      *p = combine<T>(op, *p, upd[uo + k * a.uaxis_stride]);
    }
  }
}

__device__ __forceinline__ void atomic_combine(float* p, float v, ScatterReduce op) {
  if (op == ScatterReduce::kAdd) {
    atomicAdd(p, v);
    return;
  }
  auto* ap = reinterpret_cast<unsigned int*>(p);
  unsigned int old = *ap, assumed;
  do {
    assumed = old;
    unsigned int want = __float_as_uint(combine<float>(op, __uint_as_float(assumed), v));
    if (want == assumed) return;
    old = atomicCAS(ap, assumed, want);
  } while (old != assumed);
}

__device__ __forceinline__ void atomic_combine(int32_t* p, int32_t v, ScatterReduce op) {
  if (op == ScatterReduce::kAdd)
    atomicAdd(reinterpret_cast<unsigned int*>(p), static_cast<unsigned int>(v));
  if (op == ScatterReduce::kMax) atomicMax(p, v);
  if (op == ScatterReduce::kMin) atomicMin(p, v);
}

__device__ __forceinline__ void atomic_combine(int64_t* p, int64_t v, ScatterReduce op) {
  if (op == ScatterReduce::kAdd)
    atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
  if (op == ScatterReduce::kMax)
    atomicMax(reinterpret_cast<long long*>(p), static_cast<long long>(v));
  if (op == ScatterReduce::kMin)
    atomicMin(reinterpret_cast<long long*>(p), static_cast<long long>(v));
}

/// One thread per index element, combining through atomics (add/max/min on f32/i32/i64).
template <class T, class TI, class Index>
__global__ void scatter_atomic_kernel(T* __restrict__ out, const TI* __restrict__ idx,
                                      const T* __restrict__ upd, Index n, ElemArg a,
                                      ScatterReduce op) {
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += static_cast<Index>(blockDim.x) * gridDim.x) {
    Index rest = i;
    int64_t oo = 0, uo = 0;
#pragma unroll
    for (int d = kMaxRank - 1; d >= 0; --d) {
      if (d >= a.rank) continue;
      Index q = rest / static_cast<Index>(a.size[d]);
      auto c = static_cast<int64_t>(rest - q * static_cast<Index>(a.size[d]));
      oo += c * a.dstride[d];
      uo += c * a.ustride[d];
      rest = q;
    }
    int64_t v = wrap_index(idx[i], a.dim);
    if (v >= 0) atomic_combine(out + oo + v * a.axis_stride, upd[uo], op);
  }
}

std::vector<int64_t> contiguous_strides(const Dims& d) {
  std::vector<int64_t> s(static_cast<size_t>(d.rank()), 1);
  for (int i = d.rank() - 2; i >= 0; --i)
    s[static_cast<size_t>(i)] = s[static_cast<size_t>(i + 1)] * d[i + 1];
  return s;
}

/// Calls f(TypeTag<Index>) with uint32_t when n fits, else int64_t.
template <class F>
void visit_index_width(int64_t n, F&& f) {
  if (n <= kMax32) {
    f(TypeTag<uint32_t>{});
  } else {
    f(TypeTag<int64_t>{});
  }
}

}  // namespace

Status launch_gather(const LaunchArgs& a) {
  const TensorView &data = a.in[0], &idx = a.in[1], &out = a.out[0];
  const int r = data.dims.rank();
  if (r < 1) return layer_error(a.layer, StatusCode::kShapeError, "data must have rank >= 1");
  KILN_RETURN_IF_ERROR(check_index_dtype(a, idx));
  int ax = 0;
  KILN_RETURN_IF_ERROR(normalized_axis(a, std::get<GatherParams>(a.layer.params).axis, r, ax));
  Dims expect;
  for (int i = 0; i < ax; ++i) expect.push_back(data.dims[i]);
  for (int64_t d : idx.dims) expect.push_back(d);
  for (int i = ax + 1; i < r; ++i) expect.push_back(data.dims[i]);
  if (expect != out.dims || out.dtype != data.dtype)
    return layer_error(
        a.layer, StatusCode::kShapeError,
        "output dims " + out.dims.to_string() + " != expected " + expect.to_string());
  if (out.numel() == 0) return {};
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < ax; ++i) outer *= data.dims[i];
  for (int i = ax + 1; i < r; ++i) inner *= data.dims[i];
  const auto es = static_cast<int64_t>(dtype_size(data.dtype));
  int64_t w = es;
  for (int64_t cand = 16; cand > es; cand /= 2) {
    if ((inner * es) % cand == 0 && aligned(data.data, cand) && aligned(out.data, cand)) {
      w = cand;
      break;
    }
  }
  GatherArg g{};
  g.ni = idx.numel();
  g.dim = data.dims[ax];
  g.inner = inner * es / w;
  const int64_t n = outer * g.ni * g.inner;
  const bool small = n <= kMax32;
  if (small) {
    g.inner_div = make_fastdiv(g.inner);
    g.ni_div = make_fastdiv(g.ni);
  }
  visit_unit(static_cast<int>(w), [&](auto wc) {
    using U = typename Unit<decltype(wc)::value>::type;
    visit_index(idx.dtype, [&](auto ti) {
      using TI = typename decltype(ti)::type;
      const U* dp = static_cast<const U*>(data.data);
      const TI* ip = static_cast<const TI*>(idx.data);
      U* op = static_cast<U*>(out.data);
      if (small) {
        gather32_kernel<U, TI><<<grid_for(n, kThreads), kThreads, 0, a.stream>>>(
            dp, ip, op, static_cast<uint32_t>(n), g);
      } else {
        gather64_kernel<U, TI><<<grid_for(n, kThreads), kThreads, 0, a.stream>>>(dp, ip, op, n, g);
      }
    });
  });
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_gather_elements(const LaunchArgs& a) {
  const TensorView &data = a.in[0], &idx = a.in[1], &out = a.out[0];
  const int r = data.dims.rank();
  KILN_RETURN_IF_ERROR(check_index_dtype(a, idx));
  int ax = 0;
  KILN_RETURN_IF_ERROR(
      normalized_axis(a, std::get<GatherElementsParams>(a.layer.params).axis, r, ax));
  if (idx.dims.rank() != r || out.dims != idx.dims || out.dtype != data.dtype)
    return layer_error(a.layer, StatusCode::kShapeError,
                       "indices, data and output ranks/dims do not fit");
  for (int i = 0; i < r; ++i) {
    if (i != ax && idx.dims[i] > data.dims[i])
      return layer_error(a.layer, StatusCode::kShapeError,
                         "indices " + idx.dims.to_string() + " exceed data " +
                             data.dims.to_string() + " outside the axis");
  }
  const int64_t n = idx.numel();
  if (n == 0) return {};
  std::vector<int64_t> ds = contiguous_strides(data.dims);
  ElemArg e{};
  e.rank = r;
  e.axis = ax;
  e.dim = r > 0 ? data.dims[ax] : 1;
  e.axis_stride = r > 0 ? ds[static_cast<size_t>(ax)] : 0;
  for (int d = 0; d < r; ++d) {
    e.size[d] = idx.dims[d];
    e.dstride[d] = d == ax ? 0 : ds[static_cast<size_t>(d)];
  }
  visit_unit(static_cast<int>(dtype_size(data.dtype)), [&](auto wc) {
    using U = typename Unit<decltype(wc)::value>::type;
    visit_index(idx.dtype, [&](auto ti) {
      using TI = typename decltype(ti)::type;
      visit_index_width(n, [&](auto iw) {
        using Index = typename decltype(iw)::type;
        gather_elements_kernel<U, TI, Index><<<grid_for(n, kThreads), kThreads, 0, a.stream>>>(
            static_cast<const U*>(data.data), static_cast<const TI*>(idx.data),
            static_cast<U*>(out.data), static_cast<Index>(n), e);
      });
    });
  });
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_scatter(const LaunchArgs& a) {
  const auto& p = std::get<ScatterParams>(a.layer.params);
  const TensorView &data = a.in[0], &idx = a.in[1], &upd = a.in[2], &out = a.out[0];
  const int r = data.dims.rank();
  KILN_RETURN_IF_ERROR(check_index_dtype(a, idx));
  int ax = 0;
  KILN_RETURN_IF_ERROR(normalized_axis(a, p.axis, r, ax));
  if (idx.dims.rank() != r || upd.dims.rank() != r || out.dims != data.dims ||
      upd.dtype != data.dtype || out.dtype != data.dtype)
    return layer_error(a.layer, StatusCode::kShapeError,
                       "data, indices, updates and output do not fit");
  for (int i = 0; i < r; ++i) {
    if (idx.dims[i] > upd.dims[i] || (i != ax && idx.dims[i] > data.dims[i]))
      return layer_error(a.layer, StatusCode::kShapeError,
                         "indices " + idx.dims.to_string() + " exceed updates " +
                             upd.dims.to_string() + " or data " + data.dims.to_string());
  }
  if (data.dtype == DataType::kBool && p.reduce != ScatterReduce::kNone)
    return layer_error(a.layer, StatusCode::kTypeError, "scatter reduce on bool");
  if (out.data != data.data && out.numel() > 0)
    KILN_CUDA_RETURN(
        cudaMemcpyAsync(out.data, data.data, out.bytes(), cudaMemcpyDeviceToDevice, a.stream));
  const int64_t n = idx.numel();
  if (n == 0) return {};
  std::vector<int64_t> ds = contiguous_strides(data.dims), is = contiguous_strides(idx.dims),
                       us = contiguous_strides(upd.dims);
  ElemArg e{};
  e.rank = r;
  e.axis = ax;
  e.dim = r > 0 ? data.dims[ax] : 1;
  e.axis_stride = r > 0 ? ds[static_cast<size_t>(ax)] : 0;
  for (int d = 0; d < r; ++d) {
    auto ud = static_cast<size_t>(d);
    e.size[d] = idx.dims[d];
    e.dstride[d] = d == ax ? 0 : ds[ud];
    e.istride[d] = is[ud];
    e.ustride[d] = us[ud];
  }
  const int64_t len = r > 0 ? idx.dims[ax] : 1;  // rank 0: one line of one element
  const int64_t lines = n / len;
  e.len = len;
  e.iaxis_stride = r > 0 ? is[static_cast<size_t>(ax)] : 0;
  e.uaxis_stride = r > 0 ? us[static_cast<size_t>(ax)] : 0;
  const bool atomic_type = data.dtype == DataType::kFloat32 || data.dtype == DataType::kInt32 ||
                           data.dtype == DataType::kInt64;
  const bool atomic_op = p.reduce == ScatterReduce::kAdd || p.reduce == ScatterReduce::kMax ||
                         p.reduce == ScatterReduce::kMin;
  if (atomic_type && atomic_op && lines < 8192 && len >= 32) {
    visit_index(idx.dtype, [&](auto ti) {
      using TI = typename decltype(ti)::type;
      visit_index_width(n, [&](auto iw) {
        using Index = typename decltype(iw)::type;
        auto go = [&](auto tag) {
          using T = typename decltype(tag)::type;
          scatter_atomic_kernel<T, TI, Index><<<grid_for(n, kThreads), kThreads, 0, a.stream>>>(
              static_cast<T*>(out.data), static_cast<const TI*>(idx.data),
              static_cast<const T*>(upd.data), static_cast<Index>(n), e, p.reduce);
        };
        if (data.dtype == DataType::kFloat32) go(TypeTag<float>{});
        if (data.dtype == DataType::kInt32) go(TypeTag<int32_t>{});
        if (data.dtype == DataType::kInt64) go(TypeTag<int64_t>{});
      });
    });
    KILN_CUDA_LAUNCH_CHECK();
    return {};
  }
  auto run_lines = [&](auto tag) {
    using T = typename decltype(tag)::type;
    visit_index(idx.dtype, [&](auto ti) {
      using TI = typename decltype(ti)::type;
      visit_index_width(lines, [&](auto iw) {
        using Index = typename decltype(iw)::type;
        scatter_lines_kernel<T, TI, Index><<<grid_for(lines, kThreads), kThreads, 0, a.stream>>>(
            static_cast<T*>(out.data), static_cast<const TI*>(idx.data),
            static_cast<const T*>(upd.data), static_cast<Index>(lines), e, p.reduce);
      });
    });
  };
  if (p.reduce == ScatterReduce::kNone) {
    visit_unit(static_cast<int>(dtype_size(data.dtype)), [&](auto wc) {
      using U = typename Unit<decltype(wc)::value>::type;
      if constexpr (!std::is_same_v<U, uint4>) run_lines(TypeTag<U>{});
    });
  } else {
    visit_dtype(data.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (!std::is_same_v<T, bool>) run_lines(tag);
    });
  }
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

}  // namespace kiln::cuda
