// CPU kernels: transpose, concat, split, slice and expand. Pure data movement: elements are copied
// as raw bytes (every dtype), rows with unit source stride as one memcpy. Output dims arrive
// resolved; each kernel re-checks them against its inputs so a mismatch is an error, never a stray
// access.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/dtype_dispatch.h"
#include "ir/infer_fns.h"

namespace kiln::cpu {
namespace {

template <size_t N>
void copy_row_fixed(uint8_t* dst, const uint8_t* src, int64_t count, int64_t stride) {
  for (int64_t j = 0; j < count; ++j)
    std::memcpy(dst + static_cast<size_t>(j) * N, src + j * stride * static_cast<int64_t>(N), N);
}

// dst (contiguous, `dims`) = src viewed with per-dim element strides `ss` (may be 0 or negative);
// `src` points at the element of index (0, ..., 0).
void strided_copy(uint8_t* dst, const uint8_t* src, const Dims& dims,
                  const std::vector<int64_t>& ss, size_t es) {
  int64_t n = dims.volume();
  if (n <= 0) return;
  int r = dims.rank();
  if (r == 0) {
    std::memcpy(dst, src, es);
    return;
  }
  const int64_t inner = dims[r - 1];
  const int64_t is = ss[static_cast<size_t>(r - 1)];
  const size_t row_bytes = static_cast<size_t>(inner) * es;
  std::vector<int64_t> idx(static_cast<size_t>(r), 0);
  int64_t off = 0;
  for (int64_t row = 0, rows = n / inner; row < rows; ++row) {
    const uint8_t* s = src + off * static_cast<int64_t>(es);
    uint8_t* d = dst + static_cast<size_t>(row) * row_bytes;
    if (is == 1) {
      std::memcpy(d, s, row_bytes);
    } else {
      switch (es) {
        case 1:
          copy_row_fixed<1>(d, s, inner, is);
          break;
        case 2:
          copy_row_fixed<2>(d, s, inner, is);
          break;
        case 4:
          copy_row_fixed<4>(d, s, inner, is);
          break;
        case 8:
          copy_row_fixed<8>(d, s, inner, is);
          break;
        default:
          for (int64_t j = 0; j < inner; ++j)
            std::memcpy(d + static_cast<size_t>(j) * es, s + j * is * static_cast<int64_t>(es), es);
      }
    }
    for (int dd = r - 2; dd >= 0; --dd) {
      auto ud = static_cast<size_t>(dd);
      ++idx[ud];
      off += ss[ud];
      if (idx[ud] < dims[dd]) break;
      off -= ss[ud] * dims[dd];
      idx[ud] = 0;
    }
  }
}

Status normalized_axis(const CpuArgs& a, int64_t axis, int rank, int& out) {
  int64_t ax = axis < 0 ? axis + rank : axis;
  if (ax < 0 || ax >= rank)
    return cpu_error(a, StatusCode::kInvalidArgument,
                     "axis " + std::to_string(axis) + " out of range");
  out = static_cast<int>(ax);
  return {};
}

// Reads a 1-D (or rank-0) integer tensor of starts/ends.
Status read_int_vector(const CpuArgs& a, const TensorView& t, const char* what,
                       std::vector<int64_t>& out) {
  if (!is_integer(t.dtype) || t.dims.rank() > 1)
    return cpu_error(a, StatusCode::kTypeError,
                     std::string(what) + " must be a 1-D integer tensor");
  auto n = static_cast<size_t>(t.numel());
  out.resize(n);
  visit_dtype(t.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(t.data);
    for (size_t i = 0; i < n; ++i) out[i] = to_int64(p[i]);
  });
  return {};
}

Status shape_mismatch(const CpuArgs& a, const Dims& got, const Dims& want) {
  return cpu_error(a, StatusCode::kShapeError,
                   "output dims " + got.to_string() + " != expected " + want.to_string());
}

}  // namespace

Status run_transpose(const CpuArgs& a) {
  const auto& perm = std::get<TransposeParams>(a.layer.params).perm;
  const TensorView& x = a.in[0];
  int r = x.dims.rank();
  if (perm.size() != static_cast<size_t>(r))
    return cpu_error(a, StatusCode::kShapeError, "perm length != rank");
  std::vector<int64_t> cs = contiguous_strides(x.dims);
  std::vector<int64_t> ss(static_cast<size_t>(r));
  std::vector<bool> seen(static_cast<size_t>(r), false);
  Dims expect;
  for (int i = 0; i < r; ++i) {
    int64_t p = perm[static_cast<size_t>(i)];
    if (p < 0 || p >= r || seen[static_cast<size_t>(p)])
      return cpu_error(a, StatusCode::kInvalidArgument, "perm is not a permutation");
    seen[static_cast<size_t>(p)] = true;
    expect.push_back(x.dims[static_cast<int>(p)]);
    ss[static_cast<size_t>(i)] = cs[static_cast<size_t>(p)];
  }
  if (expect != a.out[0].dims) return shape_mismatch(a, a.out[0].dims, expect);
  strided_copy(static_cast<uint8_t*>(a.out[0].data), static_cast<const uint8_t*>(x.data), expect,
               ss, dtype_size(x.dtype));
  return {};
}

Status run_concat(const CpuArgs& a) {
  const TensorView& out = a.out[0];
  int r = out.dims.rank();
  int ax = 0;
  KILN_RETURN_IF_ERROR(normalized_axis(a, std::get<ConcatParams>(a.layer.params).axis, r, ax));
  int64_t total = 0;
  for (const TensorView& t : a.in) {
    if (t.data == nullptr && t.numel() != 0)
      return cpu_error(a, StatusCode::kInvalidArgument, "missing input");
    if (t.dims.rank() != r || t.dtype != out.dtype)
      return cpu_error(a, StatusCode::kShapeError, "input rank/dtype differs");
    for (int d = 0; d < r; ++d) {
      if (d != ax && t.dims[d] != out.dims[d])
        return cpu_error(
            a, StatusCode::kShapeError,
            "input " + t.dims.to_string() + " does not fit output " + out.dims.to_string());
    }
    total += t.dims[ax];
  }
  if (total != out.dims[ax])
    return cpu_error(a, StatusCode::kShapeError,
                     "inputs sum to " + std::to_string(total) + " along the axis");
  if (out.numel() == 0) return {};
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < ax; ++d) outer *= out.dims[d];
  for (int d = ax + 1; d < r; ++d) inner *= out.dims[d];
  const size_t es = dtype_size(out.dtype);
  const auto out_row = static_cast<size_t>(out.dims[ax] * inner) * es;
  auto* dst = static_cast<uint8_t*>(out.data);
  size_t pos = 0;
  for (const TensorView& t : a.in) {
    const auto row = static_cast<size_t>(t.dims[ax] * inner) * es;
    if (row == 0) continue;
    const auto* src = static_cast<const uint8_t*>(t.data);
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + static_cast<size_t>(o) * out_row + pos, src + static_cast<size_t>(o) * row,
                  row);
    pos += row;
  }
  return {};
}

Status run_split(const CpuArgs& a) {
  const TensorView& x = a.in[0];
  int r = x.dims.rank();
  int ax = 0;
  KILN_RETURN_IF_ERROR(normalized_axis(a, std::get<SplitParams>(a.layer.params).axis, r, ax));
  int64_t total = 0;
  for (const TensorView& t : a.out) {
    if (t.dims.rank() != r || t.dtype != x.dtype)
      return cpu_error(a, StatusCode::kShapeError, "output rank/dtype differs");
    for (int d = 0; d < r; ++d) {
      if (d != ax && t.dims[d] != x.dims[d])
        return cpu_error(
            a, StatusCode::kShapeError,
            "output " + t.dims.to_string() + " does not fit input " + x.dims.to_string());
    }
    total += t.dims[ax];
  }
  if (total != x.dims[ax])
    return cpu_error(a, StatusCode::kShapeError,
                     "split sizes sum to " + std::to_string(total) + " but the axis has " +
                         std::to_string(x.dims[ax]));
  if (x.numel() == 0) return {};
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < ax; ++d) outer *= x.dims[d];
  for (int d = ax + 1; d < r; ++d) inner *= x.dims[d];
  const size_t es = dtype_size(x.dtype);
  const auto in_row = static_cast<size_t>(x.dims[ax] * inner) * es;
  const auto* src = static_cast<const uint8_t*>(x.data);
  size_t pos = 0;
  for (const TensorView& t : a.out) {
    const auto row = static_cast<size_t>(t.dims[ax] * inner) * es;
    if (row == 0) continue;
    auto* dst = static_cast<uint8_t*>(t.data);
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + static_cast<size_t>(o) * row, src + static_cast<size_t>(o) * in_row + pos,
                  row);
    pos += row;
  }
  return {};
}

Status run_slice(const CpuArgs& a) {
  const auto& p = std::get<SliceParams>(a.layer.params);
  const TensorView& x = a.in[0];
  const size_t n = p.axes.size();
  std::vector<int64_t> starts = p.starts, ends = p.ends;
  std::vector<int64_t> steps = p.steps.empty() ? std::vector<int64_t>(n, 1) : p.steps;
  for (size_t i = 1; i < 3 && i < a.in.size(); ++i) {
    if (i >= a.layer.inputs.size() || a.layer.inputs[i] < 0) continue;
    std::vector<int64_t>& dst = i == 1 ? starts : ends;
    const TensorView& t = a.in[i];
    if (t.values != nullptr) {  // resolved on the host with the shapes
      dst.assign(t.values, t.values + t.numel());
    } else if (t.data != nullptr) {
      KILN_RETURN_IF_ERROR(read_int_vector(a, t, i == 1 ? "starts" : "ends", dst));
    } else {
      // A connected starts/ends input without values would silently fall back to the params.
      return cpu_error(a, StatusCode::kInternal,
                       std::string(i == 1 ? "starts" : "ends") + " input has no values");
    }
  }
  if (starts.size() != n || ends.size() != n || steps.size() != n)
    return cpu_error(a, StatusCode::kInvalidArgument,
                     "axes, starts, ends and steps must have the same length");
  const int r = x.dims.rank();
  std::vector<int64_t> cs = contiguous_strides(x.dims);
  std::vector<int64_t> ss = cs;
  std::vector<bool> seen(static_cast<size_t>(r), false);
  Dims expect = x.dims;
  int64_t base = 0;
  for (size_t i = 0; i < n; ++i) {
    int ax = 0;
    KILN_RETURN_IF_ERROR(normalized_axis(a, p.axes[i], r, ax));
    auto uax = static_cast<size_t>(ax);
    if (seen[uax]) return cpu_error(a, StatusCode::kInvalidArgument, "axis sliced twice");
    seen[uax] = true;
    if (steps[i] == 0)
      return cpu_error(a, StatusCode::kInvalidArgument, "slice step must not be 0");
    // A step beyond the extent takes at most one element; clamping it keeps the range arithmetic
    // (and the stride below) free of overflow without changing the result.
    const int64_t lim = std::max<int64_t>(x.dims[ax], 1);
    const int64_t step = std::clamp<int64_t>(steps[i], -lim, lim);
    ir::SliceRange sr = ir::slice_range(x.dims[ax], starts[i], ends[i], step);
    expect[ax] = sr.count;
    if (sr.count > 0) base += sr.start * cs[uax];
    ss[uax] = cs[uax] * step;
  }
  if (expect != a.out[0].dims) return shape_mismatch(a, a.out[0].dims, expect);
  if (a.out[0].numel() == 0) return {};
  const size_t es = dtype_size(x.dtype);
  const auto* src = static_cast<const uint8_t*>(x.data) + static_cast<size_t>(base) * es;
  if (a.out[0].data == src)
    return {};  // an offset view (ir::is_offset_view): the output is that block
  strided_copy(static_cast<uint8_t*>(a.out[0].data), src, expect, ss, es);
  return {};
}

Status run_expand(const CpuArgs& a) {
  const TensorView& x = a.in[0];
  const Dims& od = a.out[0].dims;
  if (x.dims.rank() > od.rank())
    return cpu_error(a, StatusCode::kShapeError, "output rank is smaller than input rank");
  int lead = od.rank() - x.dims.rank();
  for (int i = 0; i < x.dims.rank(); ++i) {
    if (x.dims[i] != 1 && x.dims[i] != od[i + lead]) {
      return cpu_error(a, StatusCode::kShapeError,
                       "cannot expand " + x.dims.to_string() + " to " + od.to_string());
    }
  }
  if (a.out[0].numel() == 0) return {};
  strided_copy(static_cast<uint8_t*>(a.out[0].data), static_cast<const uint8_t*>(x.data), od,
               broadcast_strides(x.dims, od), dtype_size(x.dtype));
  return {};
}

}  // namespace kiln::cpu
