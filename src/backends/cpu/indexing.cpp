// CPU kernels: gather (take along one axis), gather_elements (torch.gather), scatter
// (torch.scatter / scatter_reduce with include_self=True), kv_cache_write (rows of an update
// written in place into a cache input at positions along one axis) and nonzero (coordinates of the
// non-zero elements in row-major order, and their count). Indices are int32/int64; a negative
// index wraps once (i + dim); every index is validated before anything is written, and an index out
// of range is an InvalidArgument error. Element data moves as raw bytes, so every dtype works.
// Differences from torch: torch.gather/scatter reject negative indices (here they wrap, like
// index_select/ONNX); plain scatter with duplicate targets keeps the last update in index order
// (torch: unspecified); float reductions accumulate in float32 and round to 16-bit types once at
// the end; max/min propagate NaN; integer add/mul wrap.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/dtype_dispatch.h"

namespace kiln::cpu {
namespace {

// Reads every index as int64 and wraps negatives; reports the first one outside [-dim, dim).
Status load_indices(const CpuArgs& a, const TensorView& t, int64_t dim, std::vector<int64_t>& out) {
  if (t.dtype != DataType::kInt32 && t.dtype != DataType::kInt64)
    return cpu_error(a, StatusCode::kTypeError, "indices must be int32/int64");
  auto n = static_cast<size_t>(t.numel());
  out.resize(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t v;
    if (t.dtype == DataType::kInt32) {
      v = static_cast<const int32_t*>(t.data)[i];
    } else {
      v = static_cast<const int64_t*>(t.data)[i];
    }
    int64_t w = v < 0 ? v + dim : v;  // v >= INT64_MIN and dim >= 0: no overflow
    if (w < 0 || w >= dim) {
      return cpu_error(a, StatusCode::kInvalidArgument,
                       "index " + std::to_string(v) + " is out of range for dim of size " +
                           std::to_string(dim) + " (indices element " + std::to_string(i) + ")");
    }
    out[i] = w;
  }
  return {};
}

Status normalized_axis(const CpuArgs& a, int64_t axis, int rank, int& out) {
  int r = std::max(rank, 1);
  int64_t ax = axis < 0 ? axis + r : axis;
  if (ax < 0 || ax >= r)
    return cpu_error(a, StatusCode::kInvalidArgument,
                     "axis " + std::to_string(axis) + " out of range");
  out = static_cast<int>(ax);
  return {};
}

void copy_elem(uint8_t* dst, const uint8_t* src, size_t es) {
  switch (es) {
    case 1:
      *dst = *src;
      break;
    case 2:
      std::memcpy(dst, src, 2);
      break;
    case 4:
      std::memcpy(dst, src, 4);
      break;
    case 8:
      std::memcpy(dst, src, 8);
      break;
    default:
      std::memcpy(dst, src, es);
      break;
  }
}

template <class T>
T wrap_combine(ScatterReduce op, T cur, T upd) {
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

template <class F>
F float_combine(ScatterReduce op, F cur, F upd) {
  switch (op) {
    case ScatterReduce::kNone:
      return upd;
    case ScatterReduce::kAdd:
      return cur + upd;
    case ScatterReduce::kMul:
      return cur * upd;
    case ScatterReduce::kMax:
      return (std::isnan(cur) || std::isnan(upd)) ? NAN : std::max(cur, upd);
    case ScatterReduce::kMin:
      return (std::isnan(cur) || std::isnan(upd)) ? NAN : std::min(cur, upd);
  }
  return upd;
}

}  // namespace

Status run_gather(const CpuArgs& a) {
  const TensorView& data = a.in[0];
  const TensorView& idx = a.in[1];
  int r = data.dims.rank();
  if (r < 1) return cpu_error(a, StatusCode::kShapeError, "data must have rank >= 1");
  int ax = 0;
  KILN_RETURN_IF_ERROR(normalized_axis(a, std::get<GatherParams>(a.layer.params).axis, r, ax));
  Dims expect;
  for (int i = 0; i < ax; ++i) expect.push_back(data.dims[i]);
  for (int64_t d : idx.dims) expect.push_back(d);
  for (int i = ax + 1; i < r; ++i) expect.push_back(data.dims[i]);
  if (expect != a.out[0].dims || a.out[0].dtype != data.dtype)
    return cpu_error(
        a, StatusCode::kShapeError,
        "output dims " + a.out[0].dims.to_string() + " != expected " + expect.to_string());
  const int64_t dim = data.dims[ax];
  std::vector<int64_t> ind;
  KILN_RETURN_IF_ERROR(load_indices(a, idx, dim, ind));
  if (a.out[0].numel() == 0) return {};
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < ax; ++i) outer *= data.dims[i];
  for (int i = ax + 1; i < r; ++i) inner *= data.dims[i];
  const size_t es = dtype_size(data.dtype);
  const size_t block = static_cast<size_t>(inner) * es;
  const auto* src = static_cast<const uint8_t*>(data.data);
  auto* dst = static_cast<uint8_t*>(a.out[0].data);
  const auto ni = static_cast<int64_t>(ind.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < ni; ++j) {
      std::memcpy(dst + static_cast<size_t>(o * ni + j) * block,
                  src + static_cast<size_t>(o * dim + ind[static_cast<size_t>(j)]) * block, block);
    }
  }
  return {};
}

Status run_gather_elements(const CpuArgs& a) {
  const TensorView& data = a.in[0];
  const TensorView& idx = a.in[1];
  int r = data.dims.rank();
  int ax = 0;
  KILN_RETURN_IF_ERROR(
      normalized_axis(a, std::get<GatherElementsParams>(a.layer.params).axis, r, ax));
  if (idx.dims.rank() != r || a.out[0].dims != idx.dims)
    return cpu_error(a, StatusCode::kShapeError, "indices, data and output ranks/dims do not fit");
  for (int i = 0; i < r; ++i) {
    if (i != ax && idx.dims[i] > data.dims[i]) {
      return cpu_error(a, StatusCode::kShapeError,
                       "indices " + idx.dims.to_string() + " exceed data " + data.dims.to_string() +
                           " outside the axis");
    }
  }
  const int64_t dim = r > 0 ? data.dims[ax] : 1;
  std::vector<int64_t> ind;
  KILN_RETURN_IF_ERROR(load_indices(a, idx, dim, ind));
  if (ind.empty()) return {};
  std::vector<int64_t> ds = contiguous_strides(data.dims);
  const int64_t axis_stride = r > 0 ? ds[static_cast<size_t>(ax)] : 0;
  if (r > 0) ds[static_cast<size_t>(ax)] = 0;
  const size_t es = dtype_size(data.dtype);
  const auto* src = static_cast<const uint8_t*>(data.data);
  auto* dst = static_cast<uint8_t*>(a.out[0].data);
  std::vector<std::vector<int64_t>> strides = {ds};
  for_each_broadcast(idx.dims, strides, [&](int64_t i, const std::vector<int64_t>& off) {
    int64_t s = off[0] + ind[static_cast<size_t>(i)] * axis_stride;
    copy_elem(dst + static_cast<size_t>(i) * es, src + static_cast<size_t>(s) * es, es);
  });
  return {};
}

Status run_scatter(const CpuArgs& a) {
  const auto& p = std::get<ScatterParams>(a.layer.params);
  const TensorView& data = a.in[0];
  const TensorView& idx = a.in[1];
  const TensorView& upd = a.in[2];
  const TensorView& out = a.out[0];
  int r = data.dims.rank();
  int ax = 0;
  KILN_RETURN_IF_ERROR(normalized_axis(a, p.axis, r, ax));
  if (idx.dims.rank() != r || upd.dims.rank() != r || out.dims != data.dims ||
      upd.dtype != data.dtype || out.dtype != data.dtype)
    return cpu_error(a, StatusCode::kShapeError, "data, indices, updates and output do not fit");
  for (int i = 0; i < r; ++i) {
    if (idx.dims[i] > upd.dims[i] || (i != ax && idx.dims[i] > data.dims[i])) {
      return cpu_error(a, StatusCode::kShapeError,
                       "indices " + idx.dims.to_string() + " exceed updates " +
                           upd.dims.to_string() + " or data " + data.dims.to_string());
    }
  }
  if (data.dtype == DataType::kBool && p.reduce != ScatterReduce::kNone)
    return cpu_error(a, StatusCode::kTypeError, "scatter reduce on bool");
  const int64_t dim = r > 0 ? data.dims[ax] : 1;
  std::vector<int64_t> ind;
  KILN_RETURN_IF_ERROR(load_indices(a, idx, dim, ind));
  const size_t es = dtype_size(data.dtype);
  if (out.data != data.data && out.numel() > 0) std::memcpy(out.data, data.data, out.bytes());
  if (ind.empty()) return {};
  std::vector<int64_t> os = contiguous_strides(data.dims);
  const int64_t axis_stride = r > 0 ? os[static_cast<size_t>(ax)] : 0;
  if (r > 0) os[static_cast<size_t>(ax)] = 0;
  std::vector<std::vector<int64_t>> strides = {os, contiguous_strides(upd.dims)};
  // Calls f(output element, updates element) for every index element, in order.
  auto each = [&](auto&& f) {
    for_each_broadcast(idx.dims, strides, [&](int64_t i, const std::vector<int64_t>& off) {
      f(off[0] + ind[static_cast<size_t>(i)] * axis_stride, off[1]);
    });
  };
  if (p.reduce == ScatterReduce::kNone) {
    auto* dst = static_cast<uint8_t*>(out.data);
    const auto* src = static_cast<const uint8_t*>(upd.data);
    each([&](int64_t o, int64_t u) {
      copy_elem(dst + static_cast<size_t>(o) * es, src + static_cast<size_t>(u) * es, es);
    });
    return {};
  }
  if (data.dtype == DataType::kFloat64) {  // float64 reduces in float64
    auto* dst = static_cast<double*>(out.data);
    const auto* src = static_cast<const double*>(upd.data);
    each([&](int64_t o, int64_t i) { dst[o] = float_combine(p.reduce, dst[o], src[i]); });
    return {};
  }
  if (is_floating(data.dtype)) {
    // Reduce in float32, round to the output dtype once.
    std::vector<float> acc = to_float_vector(out);
    std::vector<float> u = to_float_vector(upd);
    each([&](int64_t o, int64_t i) {
      acc[static_cast<size_t>(o)] =
          float_combine(p.reduce, acc[static_cast<size_t>(o)], u[static_cast<size_t>(i)]);
    });
    from_float_vector(acc, out);
    return {};
  }
  return visit_dtype(data.dtype, [&](auto tag) -> Status {
    using T = typename decltype(tag)::type;
    if constexpr (kIsFloat<T> || std::is_same_v<T, bool>) {
      return cpu_error(a, StatusCode::kInternal, "unreachable dtype");
    } else {
      T* dst = static_cast<T*>(out.data);
      const T* src = static_cast<const T*>(upd.data);
      each([&](int64_t o, int64_t i) { dst[o] = wrap_combine<T>(p.reduce, dst[o], src[i]); });
      return {};
    }
  });
}

Status run_kv_cache_write(const CpuArgs& a) {
  const auto& p = std::get<KvCacheWriteParams>(a.layer.params);
  const TensorView& cache = a.in[0];
  const TensorView& pos = a.in[1];
  const TensorView& upd = a.in[2];
  const TensorView& out = a.out[0];
  const int r = cache.dims.rank();
  int ax = 0;
  KILN_RETURN_IF_ERROR(normalized_axis(a, p.axis, r, ax));
  if (out.data != cache.data)
    return cpu_error(a, StatusCode::kInternal, "the output does not alias the cache");
  if (upd.dims.rank() != r || upd.dtype != cache.dtype || pos.numel() != upd.dims[ax])
    return cpu_error(a, StatusCode::kShapeError,
                     "cache " + cache.dims.to_string() + ", positions " + pos.dims.to_string() +
                         " and update " + upd.dims.to_string() + " do not fit");
  std::vector<int64_t> rows;
  KILN_RETURN_IF_ERROR(load_indices(a, pos, cache.dims[ax], rows));
  // [outer, rows, inner] blocks: outer = dims before the axis, inner = bytes of one row.
  int64_t outer = 1, inner = static_cast<int64_t>(dtype_size(cache.dtype));
  for (int i = 0; i < ax; ++i) outer *= cache.dims[i];
  for (int i = ax + 1; i < r; ++i) inner *= cache.dims[i];
  const auto n = static_cast<int64_t>(rows.size());
  auto* dst = static_cast<uint8_t*>(cache.data);
  const auto* src = static_cast<const uint8_t*>(upd.data);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < n; ++j) {
      std::memcpy(
          dst + static_cast<size_t>((o * cache.dims[ax] + rows[static_cast<size_t>(j)]) * inner),
          src + static_cast<size_t>((o * n + j) * inner), static_cast<size_t>(inner));
    }
  }
  return {};
}

Status run_nonzero(const CpuArgs& a) {
  const TensorView &x = a.in[0], &idx = a.out[0], &count = a.out[1];
  const int r = x.dims.rank();
  if (idx.dtype != DataType::kInt64 || count.dtype != DataType::kInt64 || idx.dims.rank() != 2 ||
      idx.dims[0] != x.numel() || idx.dims[1] != r)
    return cpu_error(a, StatusCode::kShapeError, "nonzero outputs must be int64 [numel, rank], []");
  auto* out = static_cast<int64_t*>(idx.data);
  std::vector<int64_t> coord(static_cast<size_t>(r), 0);
  int64_t n = 0;
  visit_dtype(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(x.data);
    for (int64_t i = 0; i < x.numel(); ++i) {
      bool nz = false;
      if constexpr (kIsFloat<T>) {
        nz = to_double(p[i]) != 0.0;  // NaN counts as non-zero, as in torch
      } else {
        nz = to_int64(p[i]) != 0;
      }
      if (nz) {
        std::copy(coord.begin(), coord.end(), out + n * r);
        ++n;
      }
      for (int k = r - 1; k >= 0; --k) {
        if (++coord[static_cast<size_t>(k)] < x.dims[k]) break;
        coord[static_cast<size_t>(k)] = 0;
      }
    }
  });
  *static_cast<int64_t*>(count.data) = n;
  return {};
}

}  // namespace kiln::cpu
