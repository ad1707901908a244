// CUDA data movement: transpose, concat, split, slice, expand. Elements move as raw bytes (every
// dtype). Every op is reduced to one of three copies:
//  * a batch of 2-D row copies (concat, split): rows of contiguous bytes at a pitch, 16-byte
//    vectorized when sizes and addresses allow, several inputs/outputs per launch;
//  * a strided copy (slice, expand, transposes that keep the innermost dim): the destination is
//    contiguous, the source is read through per-dim strides (0 or negative allowed). Dims are
//    collapsed first (size-1 dims dropped, dims contiguous in the source merged), so most views
//    become a memcpy or a copy of contiguous rows done with 16-byte units;
//  * a tiled transpose through shared memory (32x32 tiles) when the innermost output dim is strided
//    in the source but another dim is contiguous there (2-D transposes, [.., S, D] -> [.., D, S]);
//    when one side has at most 8 elements (NCHW images with 3 channels going channels-last) a
//    thread moves a whole row or column instead.
// Index math uses 32-bit multiply-high division when the element count allows, 64-bit otherwise.
#include <algorithm>
#include <string>
#include <vector>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/kernels/device_utils.cuh"
#include "ir/infer_fns.h"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kTile = 32;
constexpr int64_t kMax32 = (int64_t{1} << 31) - 1;

// ---- helpers ----

/// Storage type of a copy unit of `bytes` bytes.
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

/// Calls f(std::integral_constant<int, bytes>) for bytes in {1, 2, 4, 8, 16}.
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

bool aligned(const void* p, int64_t w) {
  return reinterpret_cast<uintptr_t>(p) % static_cast<uint64_t>(w) == 0;
}

Status shape_mismatch(const LaunchArgs& a, const Dims& got, const Dims& want) {
  return layer_error(a.layer, StatusCode::kShapeError,
                     "output dims " + got.to_string() + " != expected " + want.to_string());
}

Status normalized_axis(const LaunchArgs& a, int64_t axis, int rank, int& out) {
  int64_t ax = axis < 0 ? axis + rank : axis;
  if (ax < 0 || ax >= rank)
    return layer_error(a.layer, StatusCode::kInvalidArgument,
                       "axis " + std::to_string(axis) + " out of range");
  out = static_cast<int>(ax);
  return {};
}

// ---- batched row copies (concat, split) ----

/// rows x row_units units of `vec` bytes: dst[r * dst_pitch + c] = src[r * src_pitch + c] (in
/// units).
struct CopyJob {
  const uint8_t* src;
  uint8_t* dst;
  int64_t rows, row_units, src_pitch, dst_pitch;
  FastDiv row_div;  // row_units (32-bit path)
  int vec;
};
constexpr int kMaxJobs = 16;
struct CopyJobs {
  CopyJob j[kMaxJobs];
};

template <class U>
__device__ __forceinline__ void copy_job_rows(const CopyJob& job) {
  const U* __restrict__ src = reinterpret_cast<const U*>(job.src);
  U* __restrict__ dst = reinterpret_cast<U*>(job.dst);
  const int64_t n = job.rows * job.row_units;
  if (n <= kMax32) {
    for (uint32_t u = blockIdx.x * blockDim.x + threadIdx.x; u < static_cast<uint32_t>(n);
         u += blockDim.x * gridDim.x) {
      uint32_t r = fdiv(u, job.row_div);
      uint32_t c = u - r * job.row_div.d;
      dst[static_cast<int64_t>(r) * job.dst_pitch + c] =
          src[static_cast<int64_t>(r) * job.src_pitch + c];
    }
  } else {
    for (int64_t u = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; u < n;
         u += static_cast<int64_t>(blockDim.x) * gridDim.x) {
      int64_t r = u / job.row_units, c = u - r * job.row_units;
      dst[r * job.dst_pitch + c] = src[r * job.src_pitch + c];
    }
  }
}

// blockIdx.y selects the job.
__global__ void copy_jobs_kernel(CopyJobs jobs) {
  const CopyJob job = jobs.j[blockIdx.y];
  switch (job.vec) {
    case 16:
      copy_job_rows<uint4>(job);
      break;
    case 8:
      copy_job_rows<uint64_t>(job);
      break;
    case 4:
      copy_job_rows<uint32_t>(job);
      break;
    case 2:
      copy_job_rows<uint16_t>(job);
      break;
    default:
      copy_job_rows<uint8_t>(job);
      break;
  }
}

/// A job copying `rows` rows of `row_bytes` bytes; picks the widest unit sizes and addresses allow.
CopyJob make_job(const void* src, void* dst, int64_t rows, int64_t row_bytes,
                 int64_t src_pitch_bytes, int64_t dst_pitch_bytes) {
  int w = 16;
  while (w > 1 && !(aligned(src, w) && aligned(dst, w) && row_bytes % w == 0 &&
                    src_pitch_bytes % w == 0 && dst_pitch_bytes % w == 0))
    w /= 2;
  CopyJob j{};
  j.src = static_cast<const uint8_t*>(src);
  j.dst = static_cast<uint8_t*>(dst);
  j.rows = rows;
  j.row_units = row_bytes / w;
  j.src_pitch = src_pitch_bytes / w;
  j.dst_pitch = dst_pitch_bytes / w;
  j.row_div = make_fastdiv(j.row_units <= kMax32 ? j.row_units : 1);
  j.vec = w;
  return j;
}

Status run_jobs(const LaunchArgs& a, const std::vector<CopyJob>& jobs) {
  for (size_t first = 0; first < jobs.size(); first += kMaxJobs) {
    CopyJobs batch{};
    size_t count = std::min<size_t>(kMaxJobs, jobs.size() - first);
    int64_t most = 1;
    for (size_t k = 0; k < count; ++k) {
      batch.j[k] = jobs[first + k];
      most = std::max(most, batch.j[k].rows * batch.j[k].row_units);
    }
    dim3 grid(grid_for(most, kThreads, 4096), static_cast<unsigned>(count));
    copy_jobs_kernel<<<grid, kThreads, 0, a.stream>>>(batch);
    KILN_CUDA_LAUNCH_CHECK();
  }
  return {};
}

// ---- strided copy ----

/// Destination contiguous in units; source unit of (outer index, col) at sum(idx[d] * stride[d]) +
/// col * inner_stride.
struct StridedArg {
  int nd;  // outer dims
  int64_t inner, inner_stride;
  int64_t size[kMaxRank], stride[kMaxRank];
  FastDiv div[kMaxRank];
  FastDiv inner_div;
};

template <class U>
__global__ void strided_copy32_kernel(const U* __restrict__ src, U* __restrict__ dst, uint32_t n,
                                      StridedArg a) {
  for (uint32_t u = blockIdx.x * blockDim.x + threadIdx.x; u < n; u += blockDim.x * gridDim.x) {
    uint32_t row = fdiv(u, a.inner_div);
    int64_t off = static_cast<int64_t>(u - row * a.inner_div.d) * a.inner_stride;
#pragma unroll
    for (int d = kMaxRank - 1; d >= 0; --d) {
      if (d >= a.nd) continue;
      uint32_t q = fdiv(row, a.div[d]);
      off += static_cast<int64_t>(row - q * a.div[d].d) * a.stride[d];
      row = q;
    }
    dst[u] = src[off];
  }
}

template <class U>
__global__ void strided_copy64_kernel(const U* __restrict__ src, U* __restrict__ dst, int64_t n,
                                      StridedArg a) {
  KILN_GRID_STRIDE_LOOP(u, n) {
    int64_t row = u / a.inner;
    int64_t off = (u - row * a.inner) * a.inner_stride;
#pragma unroll
    for (int d = kMaxRank - 1; d >= 0; --d) {
      if (d >= a.nd) continue;
      int64_t q = row / a.size[d];
      off += (row - q * a.size[d]) * a.stride[d];
      row = q;
    }
    dst[u] = src[off];
  }
}

/// Batched 2-D transpose: output dims (batch..., rows, ..., cols) where `rows` is contiguous in the
/// source and `cols` contiguous in the destination.
struct TileArg {
  int64_t rows, cols, col_src_stride, row_dst_stride, tiles_c, tiles_r;
  int nb;
  int64_t bsize[kMaxRank], bsrc[kMaxRank], bdst[kMaxRank];
};

/// Source and destination offsets of batch index b (row-major over a.bsize).
__device__ __forceinline__ void batch_offsets(const TileArg& a, int64_t b, int64_t& so,
                                              int64_t& dof) {
#pragma unroll
  for (int d = kMaxRank - 1; d >= 0; --d) {
    if (d >= a.nb) continue;
    int64_t q = b / a.bsize[d];
    int64_t c = b - q * a.bsize[d];
    so += c * a.bsrc[d];
    dof += c * a.bdst[d];
    b = q;
  }
}

template <class T>
__global__ void transpose_tiled_kernel(const T* __restrict__ src, T* __restrict__ dst,
                                       int64_t total_tiles, TileArg a) {
  __shared__ T tile[kTile][kTile + 1];
  for (int64_t t = blockIdx.x; t < total_tiles; t += gridDim.x) {  // uniform per block
    int64_t rest = t / a.tiles_c;
    const int64_t c0 = (t - rest * a.tiles_c) * kTile;
    int64_t b = rest / a.tiles_r;
    const int64_t r0 = (rest - b * a.tiles_r) * kTile;
    int64_t so = 0, dof = 0;
    batch_offsets(a, b, so, dof);
    for (int k = threadIdx.y; k < kTile; k += blockDim.y) {  // coalesced along the source rows
      int64_t c = c0 + k, r = r0 + threadIdx.x;
      if (c < a.cols && r < a.rows) tile[k][threadIdx.x] = src[so + c * a.col_src_stride + r];
    }
    __syncthreads();
    for (int k = threadIdx.y; k < kTile; k += blockDim.y) {  // coalesced along the destination cols
      int64_t r = r0 + k, c = c0 + threadIdx.x;
      if (r < a.rows && c < a.cols) dst[dof + r * a.row_dst_stride + c] = tile[threadIdx.x][k];
    }
    __syncthreads();
  }
}

/// The same transpose when one side is narrow (cols or rows <= kNarrow, e.g. an NCHW image with 3
/// channels going channels-last): a 32x32 tile would leave most threads idle, so each thread moves
/// one whole row (cols narrow: reads coalesced along the source rows, a warp writes 32 * cols
/// consecutive elements) or one whole column (rows narrow).
constexpr int64_t kNarrow = 8;

template <class T>
__global__ void transpose_narrow_kernel(const T* __restrict__ src, T* __restrict__ dst,
                                        int64_t total, TileArg a, bool by_rows) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t lines = by_rows ? a.rows : a.cols;
    int64_t b = i / lines;
    const int64_t line = i - b * lines;
    int64_t so = 0, dof = 0;
    batch_offsets(a, b, so, dof);
    if (by_rows) {
      for (int64_t c = 0; c < a.cols; ++c)
        dst[dof + line * a.row_dst_stride + c] = src[so + c * a.col_src_stride + line];
    } else {
      for (int64_t r = 0; r < a.rows; ++r)
        dst[dof + r * a.row_dst_stride + line] = src[so + line * a.col_src_stride + r];
    }
  }
}

/// dst (contiguous, `dims`) = the elements of src (pointing at index (0, ..., 0)) read with per-dim
/// element strides `ss`.
Status strided_copy(const LaunchArgs& a, void* dst, const void* src, const Dims& dims,
                    const std::vector<int64_t>& ss, size_t es) {
  const int64_t n = dims.volume();
  if (n <= 0) return {};
  // Collapse: drop size-1 dims, merge a dim into its outer neighbour when contiguous in the source.
  std::vector<int64_t> size, stride;
  for (int d = 0; d < dims.rank(); ++d) {
    if (dims[d] == 1) continue;
    int64_t s = ss[static_cast<size_t>(d)];
    if (!size.empty() && stride.back() == s * dims[d]) {
      size.back() *= dims[d];
      stride.back() = s;
    } else {
      size.push_back(dims[d]);
      stride.push_back(s);
    }
  }
  const int r = static_cast<int>(size.size());
  const auto ies = static_cast<int64_t>(es);
  if (r == 0 || (r == 1 && stride[0] == 1)) {
    KILN_CUDA_RETURN(
        cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * es, cudaMemcpyDeviceToDevice, a.stream));
    return {};
  }
  if (stride[static_cast<size_t>(r - 1)] != 1) {
    int j = -1;
    for (int d = r - 2; d >= 0 && j < 0; --d)
      if (stride[static_cast<size_t>(d)] == 1) j = d;
    if (j >= 0) {
      std::vector<int64_t> os(static_cast<size_t>(r), 1);  // destination strides
      for (int d = r - 2; d >= 0; --d)
        os[static_cast<size_t>(d)] =
            os[static_cast<size_t>(d + 1)] * size[static_cast<size_t>(d + 1)];
      TileArg t{};
      t.rows = size[static_cast<size_t>(j)];
      t.cols = size[static_cast<size_t>(r - 1)];
      t.col_src_stride = stride[static_cast<size_t>(r - 1)];
      t.row_dst_stride = os[static_cast<size_t>(j)];
      t.tiles_r = (t.rows + kTile - 1) / kTile;
      t.tiles_c = (t.cols + kTile - 1) / kTile;
      int64_t batch = 1;
      for (int d = 0; d < r - 1; ++d) {
        if (d == j) continue;
        auto ud = static_cast<size_t>(d);
        t.bsize[t.nb] = size[ud];
        t.bsrc[t.nb] = stride[ud];
        t.bdst[t.nb] = os[ud];
        ++t.nb;
        batch *= size[ud];
      }
      if (t.cols <= kNarrow || t.rows <= kNarrow) {
        const bool by_rows = t.cols <= kNarrow && t.rows > t.cols;
        const int64_t lines = batch * (by_rows ? t.rows : t.cols);
        visit_unit(static_cast<int>(es), [&](auto w) {
          using T = typename Unit<decltype(w)::value>::type;
          transpose_narrow_kernel<T><<<grid_for(lines, kThreads), kThreads, 0, a.stream>>>(
              static_cast<const T*>(src), static_cast<T*>(dst), lines, t, by_rows);
        });
        KILN_CUDA_LAUNCH_CHECK();
        return {};
      }
      const int64_t total = t.tiles_r * t.tiles_c * batch;
      const unsigned grid = static_cast<unsigned>(std::min<int64_t>(total, int64_t{1} << 20));
      const dim3 block(kTile, 8);
      visit_unit(static_cast<int>(es), [&](auto w) {
        using T = typename Unit<decltype(w)::value>::type;
        transpose_tiled_kernel<T><<<grid, block, 0, a.stream>>>(static_cast<const T*>(src),
                                                                static_cast<T*>(dst), total, t);
      });
      KILN_CUDA_LAUNCH_CHECK();
      return {};
    }
  }
  // Contiguous innermost rows copy in the widest unit that divides every byte stride and address.
  int64_t w = ies;
  if (stride[static_cast<size_t>(r - 1)] == 1) {
    for (int64_t cand = 16; cand > ies; cand /= 2) {
      bool ok = aligned(src, cand) && aligned(dst, cand) &&
                (size[static_cast<size_t>(r - 1)] * ies) % cand == 0;
      for (int d = 0; d < r - 1 && ok; ++d) ok = (stride[static_cast<size_t>(d)] * ies) % cand == 0;
      if (ok) {
        w = cand;
        break;
      }
    }
  }
  StridedArg s{};
  s.nd = r - 1;
  s.inner = size[static_cast<size_t>(r - 1)] * ies / w;
  s.inner_stride = w == ies ? stride[static_cast<size_t>(r - 1)] : 1;
  for (int d = 0; d < r - 1; ++d) {
    auto ud = static_cast<size_t>(d);
    s.size[d] = size[ud];
    s.stride[d] = stride[ud] * ies / w;
  }
  const int64_t units = n * ies / w;
  const bool small = units <= kMax32;
  if (small) {
    s.inner_div = make_fastdiv(s.inner);
    for (int d = 0; d < r - 1; ++d) s.div[d] = make_fastdiv(s.size[d]);
  }
  visit_unit(static_cast<int>(w), [&](auto wc) {
    using U = typename Unit<decltype(wc)::value>::type;
    const U* sp = static_cast<const U*>(src);
    U* dp = static_cast<U*>(dst);
    if (small) {
      strided_copy32_kernel<U><<<grid_for(units, kThreads), kThreads, 0, a.stream>>>(
          sp, dp, static_cast<uint32_t>(units), s);
    } else {
      strided_copy64_kernel<U>
          <<<grid_for(units, kThreads), kThreads, 0, a.stream>>>(sp, dp, units, s);
    }
  });
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

std::vector<int64_t> contiguous_strides(const Dims& d) {
  std::vector<int64_t> s(static_cast<size_t>(d.rank()), 1);
  for (int i = d.rank() - 2; i >= 0; --i)
    s[static_cast<size_t>(i)] = s[static_cast<size_t>(i + 1)] * d[i + 1];
  return s;
}

}  // namespace

Status launch_transpose(const LaunchArgs& a) {
  const auto& perm = std::get<TransposeParams>(a.layer.params).perm;
  const TensorView &x = a.in[0], &o = a.out[0];
  const int r = x.dims.rank();
  if (perm.size() != static_cast<size_t>(r))
    return layer_error(a.layer, StatusCode::kShapeError, "perm length != rank");
  std::vector<int64_t> cs = contiguous_strides(x.dims), ss(static_cast<size_t>(r));
  std::vector<bool> seen(static_cast<size_t>(r), false);
  Dims expect;
  for (int i = 0; i < r; ++i) {
    int64_t p = perm[static_cast<size_t>(i)];
    if (p < 0 || p >= r || seen[static_cast<size_t>(p)])
      return layer_error(a.layer, StatusCode::kInvalidArgument, "perm is not a permutation");
    seen[static_cast<size_t>(p)] = true;
    expect.push_back(x.dims[static_cast<int>(p)]);
    ss[static_cast<size_t>(i)] = cs[static_cast<size_t>(p)];
  }
  if (expect != o.dims || o.dtype != x.dtype) return shape_mismatch(a, o.dims, expect);
  return strided_copy(a, o.data, x.data, expect, ss, dtype_size(x.dtype));
}

Status launch_concat(const LaunchArgs& a) {
  const TensorView& out = a.out[0];
  const int r = out.dims.rank();
  int ax = 0;
  KILN_RETURN_IF_ERROR(normalized_axis(a, std::get<ConcatParams>(a.layer.params).axis, r, ax));
  int64_t total = 0;
  for (const TensorView& t : a.in) {
    if (t.data == nullptr && t.numel() != 0)
      return layer_error(a.layer, StatusCode::kInvalidArgument, "missing input");
    if (t.dims.rank() != r || t.dtype != out.dtype)
      return layer_error(a.layer, StatusCode::kShapeError, "input rank/dtype differs");
    for (int d = 0; d < r; ++d) {
      if (d != ax && t.dims[d] != out.dims[d])
        return layer_error(
            a.layer, StatusCode::kShapeError,
            "input " + t.dims.to_string() + " does not fit output " + out.dims.to_string());
    }
    total += t.dims[ax];
  }
  if (total != out.dims[ax])
    return layer_error(a.layer, StatusCode::kShapeError,
                       "inputs sum to " + std::to_string(total) + " along the axis");
  if (out.numel() == 0) return {};
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < ax; ++d) outer *= out.dims[d];
  for (int d = ax + 1; d < r; ++d) inner *= out.dims[d];
  const auto es = static_cast<int64_t>(dtype_size(out.dtype));
  const int64_t out_row = out.dims[ax] * inner * es;
  std::vector<CopyJob> jobs;
  int64_t pos = 0;
  for (const TensorView& t : a.in) {
    const int64_t row = t.dims[ax] * inner * es;
    if (row == 0) continue;
    jobs.push_back(
        make_job(t.data, static_cast<uint8_t*>(out.data) + pos, outer, row, row, out_row));
    pos += row;
  }
  return run_jobs(a, jobs);
}

Status launch_split(const LaunchArgs& a) {
  const TensorView& x = a.in[0];
  const int r = x.dims.rank();
  int ax = 0;
  KILN_RETURN_IF_ERROR(normalized_axis(a, std::get<SplitParams>(a.layer.params).axis, r, ax));
  int64_t total = 0;
  for (const TensorView& t : a.out) {
    if (t.dims.rank() != r || t.dtype != x.dtype)
      return layer_error(a.layer, StatusCode::kShapeError, "output rank/dtype differs");
    for (int d = 0; d < r; ++d) {
      if (d != ax && t.dims[d] != x.dims[d])
        return layer_error(
            a.layer, StatusCode::kShapeError,
            "output " + t.dims.to_string() + " does not fit input " + x.dims.to_string());
    }
    total += t.dims[ax];
  }
  if (total != x.dims[ax])
    return layer_error(a.layer, StatusCode::kShapeError,
                       "split sizes sum to " + std::to_string(total) + " but the axis has " +
                           std::to_string(x.dims[ax]));
  if (x.numel() == 0) return {};
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < ax; ++d) outer *= x.dims[d];
  for (int d = ax + 1; d < r; ++d) inner *= x.dims[d];
  const auto es = static_cast<int64_t>(dtype_size(x.dtype));
  const int64_t in_row = x.dims[ax] * inner * es;
  std::vector<CopyJob> jobs;
  int64_t pos = 0;
  for (const TensorView& t : a.out) {
    const int64_t row = t.dims[ax] * inner * es;
    if (row == 0) continue;
    if (t.data == nullptr)
      return layer_error(a.layer, StatusCode::kInvalidArgument, "missing output");
    jobs.push_back(
        make_job(static_cast<const uint8_t*>(x.data) + pos, t.data, outer, row, in_row, row));
    pos += row;
  }
  return run_jobs(a, jobs);
}

Status launch_slice(const LaunchArgs& a) {
  const auto& p = std::get<SliceParams>(a.layer.params);
  const TensorView& x = a.in[0];
  const size_t n = p.axes.size();
  std::vector<int64_t> starts = p.starts, ends = p.ends;
  std::vector<int64_t> steps = p.steps.empty() ? std::vector<int64_t>(n, 1) : p.steps;
  for (size_t i = 1; i < 3 && i < a.in.size(); ++i) {
    if (i >= a.layer.inputs.size() || a.layer.inputs[i] < 0) continue;
    const TensorView& t = a.in[i];
    // Device data is never read (that would need a synchronization): the values resolved with the
    // shapes are the only source.
    if (t.values == nullptr)
      return layer_error(a.layer, StatusCode::kInternal,
                         std::string(i == 1 ? "starts" : "ends") + " input has no host values");
    (i == 1 ? starts : ends).assign(t.values, t.values + t.numel());
  }
  if (starts.size() != n || ends.size() != n || steps.size() != n)
    return layer_error(a.layer, StatusCode::kInvalidArgument,
                       "axes, starts, ends and steps must have the same length");
  const int r = x.dims.rank();
  std::vector<int64_t> cs = contiguous_strides(x.dims), ss = cs;
  std::vector<bool> seen(static_cast<size_t>(r), false);
  Dims expect = x.dims;
  int64_t base = 0;
  for (size_t i = 0; i < n; ++i) {
    int ax = 0;
    KILN_RETURN_IF_ERROR(normalized_axis(a, p.axes[i], r, ax));
    auto uax = static_cast<size_t>(ax);
    if (seen[uax]) return layer_error(a.layer, StatusCode::kInvalidArgument, "axis sliced twice");
    seen[uax] = true;
    if (steps[i] == 0)
      return layer_error(a.layer, StatusCode::kInvalidArgument, "slice step must not be 0");
    const int64_t lim = std::max<int64_t>(x.dims[ax], 1);
    const int64_t step = std::clamp<int64_t>(steps[i], -lim, lim);
    ir::SliceRange sr = ir::slice_range(x.dims[ax], starts[i], ends[i], step);
    expect[ax] = sr.count;
    if (sr.count > 0) base += sr.start * cs[uax];
    ss[uax] = cs[uax] * step;
  }
  if (expect != a.out[0].dims || a.out[0].dtype != x.dtype)
    return shape_mismatch(a, a.out[0].dims, expect);
  if (a.out[0].numel() == 0) return {};
  const size_t es = dtype_size(x.dtype);
  const auto* src = static_cast<const uint8_t*>(x.data) + static_cast<size_t>(base) * es;
  if (a.out[0].data == src)
    return {};  // an offset view (ir::is_offset_view): the output is that block
  return strided_copy(a, a.out[0].data, src, expect, ss, es);
}

Status launch_expand(const LaunchArgs& a) {
  const TensorView &x = a.in[0], &o = a.out[0];
  const Dims& od = o.dims;
  if (x.dims.rank() > od.rank() || o.dtype != x.dtype)
    return layer_error(a.layer, StatusCode::kShapeError, "output rank is smaller than input rank");
  const int lead = od.rank() - x.dims.rank();
  for (int i = 0; i < x.dims.rank(); ++i) {
    if (x.dims[i] != 1 && x.dims[i] != od[i + lead])
      return layer_error(a.layer, StatusCode::kShapeError,
                         "cannot expand " + x.dims.to_string() + " to " + od.to_string());
  }
  if (o.numel() == 0) return {};
  std::vector<int64_t> ss(static_cast<size_t>(od.rank()), 0);
  int64_t stride = 1;
  for (int i = x.dims.rank() - 1; i >= 0; --i) {
    ss[static_cast<size_t>(i + lead)] = (x.dims[i] == 1 && od[i + lead] != 1) ? 0 : stride;
    stride *= x.dims[i];
  }
  return strided_copy(a, o.data, x.data, od, ss, dtype_size(x.dtype));
}

}  // namespace kiln::cuda
