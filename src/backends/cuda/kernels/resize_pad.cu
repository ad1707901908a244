// CUDA resize (nearest, nearest-exact, linear 1-3d, bicubic 2-d) and pad (constant, reflect,
// replicate, circular). Resize follows the CPU reference (torch's CPU upsample kernels) exactly:
// the per-axis coordinate scale is computed on the host with the reference's code, and the source
// coordinates in the kernels use non-contracted float operations (__fmul_rn, __fadd_rn), so the
// chosen input indices are bit-identical to the reference; 2-d nearest keeps the reference's size
// shortcuts (copy when sizes agree, halve when the output is exactly twice the input). Spatial
// ranks below 3 are padded with identity axes. One thread per output element; nearest modes copy
// raw elements (every dtype), linear/cubic accumulate in float32. Pad copies raw elements; the
// constant is encoded on the host with the reference's conversion.
#include <cmath>
#include <cstring>
#include <optional>
#include <string>

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

template <class F>
void visit_unit(size_t bytes, F&& f) {
  switch (bytes) {
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

/// Calls f(TypeTag<Index>) with uint32_t when n fits, else int64_t.
template <class F>
void visit_index_width(int64_t n, F&& f) {
  if (n <= kMax32) {
    f(TypeTag<uint32_t>{});
  } else {
    f(TypeTag<int64_t>{});
  }
}

// ---- resize ----

struct ResizeAxis {
  int64_t in = 1, out = 1;
  float scale = 1.0f;      // coordinate scale (area scale for linear/cubic)
  bool identity = true;    // a padding axis: one tap at 0
  bool shortcuts = false;  // 2-d nearest size shortcuts
};

struct ResizeArg {
  ResizeAxis ax[3];
  ResizeMode mode;
  bool align_corners;
};

struct Taps {
  int n;
  int64_t idx[4];
  float w[4];
};

__device__ __forceinline__ int64_t floor_index(float v) { return static_cast<int64_t>(floorf(v)); }
__device__ __forceinline__ int64_t clamp_index(int64_t i, int64_t in) {
  return i < 0 ? 0 : (i > in - 1 ? in - 1 : i);
}

/// torch area_pixel_compute_source_index, without contraction.
__device__ __forceinline__ float source_index(float scale, int64_t dst, bool align_corners,
                                              bool cubic) {
  if (align_corners) return __fmul_rn(scale, static_cast<float>(dst));
  float src = __fsub_rn(__fmul_rn(scale, __fadd_rn(static_cast<float>(dst), 0.5f)), 0.5f);
  return (!cubic && src < 0.0f) ? 0.0f : src;
}

__device__ __forceinline__ Taps axis_taps(const ResizeAxis& a, ResizeMode mode, bool align_corners,
                                          int64_t o) {
  Taps t;
  if (a.identity) {
    t.n = 1;
    t.idx[0] = 0;
    t.w[0] = 1.0f;
    return t;
  }
  switch (mode) {
    case ResizeMode::kNearest: {
      int64_t i;
      if (a.shortcuts && a.out == a.in) {
        i = o;
      } else if (a.shortcuts && a.out == 2 * a.in) {
        i = o >> 1;
      } else {
        i = min(floor_index(__fmul_rn(a.scale, static_cast<float>(o))), a.in - 1);
      }
      t.n = 1;
      t.idx[0] = clamp_index(i, a.in);
      t.w[0] = 1.0f;
      return t;
    }
    case ResizeMode::kNearestExact: {
      float real = source_index(a.scale, o, false, false);
      float r = __double2float_rn(__dadd_rn(static_cast<double>(real), 0.5));
      t.n = 1;
      t.idx[0] = clamp_index(min(floor_index(r), a.in - 1), a.in);
      t.w[0] = 1.0f;
      return t;
    }
    case ResizeMode::kLinear: {
      t.n = 2;
      if (a.in == a.out) {  // torch copies when sizes agree, whatever the scale factor
        t.idx[0] = t.idx[1] = clamp_index(o, a.in);
        t.w[0] = 1.0f;
        t.w[1] = 0.0f;
        return t;
      }
      float real = source_index(a.scale, o, align_corners, false);
      int64_t i0 = min(floor_index(real), a.in - 1);
      float l1 = fminf(fmaxf(__fsub_rn(real, static_cast<float>(i0)), 0.0f), 1.0f);
      t.idx[0] = clamp_index(i0, a.in);
      t.idx[1] = clamp_index(i0 + (i0 < a.in - 1 ? 1 : 0), a.in);
      t.w[0] = __fsub_rn(1.0f, l1);
      t.w[1] = l1;
      return t;
    }
    case ResizeMode::kCubic: {
      float real = source_index(a.scale, o, align_corners, true);
      int64_t i = floor_index(real);
      float x = __fsub_rn(real, static_cast<float>(i));
      constexpr float A = -0.75f;
      auto conv1 = [](float v) { return ((A + 2) * v - (A + 3)) * v * v + 1; };
      auto conv2 = [](float v) { return ((A * v - 5 * A) * v + 8 * A) * v - 4 * A; };
      t.n = 4;
      t.w[0] = conv2(x + 1.0f);
      t.w[1] = conv1(x);
      t.w[2] = conv1(1.0f - x);
      t.w[3] = conv2(2.0f - x);
#pragma unroll
      for (int j = 0; j < 4; ++j) t.idx[j] = clamp_index(i - 1 + j, a.in);
      return t;
    }
  }
  t.n = 1;
  t.idx[0] = 0;
  t.w[0] = 0.0f;
  return t;
}

/// Output coordinates of element i: plane and (oz, oy, ox).
template <class Index>
__device__ __forceinline__ void resize_coords(Index i, const ResizeArg& r, int64_t& plane,
                                              int64_t& oz, int64_t& oy, int64_t& ox) {
  Index q = i / static_cast<Index>(r.ax[2].out);
  ox = static_cast<int64_t>(i - q * static_cast<Index>(r.ax[2].out));
  Index q2 = q / static_cast<Index>(r.ax[1].out);
  oy = static_cast<int64_t>(q - q2 * static_cast<Index>(r.ax[1].out));
  Index q3 = q2 / static_cast<Index>(r.ax[0].out);
  oz = static_cast<int64_t>(q2 - q3 * static_cast<Index>(r.ax[0].out));
  plane = static_cast<int64_t>(q3);
}

template <class U, class Index>
__global__ void resize_nearest_kernel(const U* __restrict__ x, U* __restrict__ y, Index n,
                                      ResizeArg r) {
  const int64_t in_plane = r.ax[0].in * r.ax[1].in * r.ax[2].in;
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += static_cast<Index>(blockDim.x) * gridDim.x) {
    int64_t plane, oz, oy, ox;
    resize_coords(i, r, plane, oz, oy, ox);
    const int64_t iz = axis_taps(r.ax[0], r.mode, false, oz).idx[0];
    const int64_t iy = axis_taps(r.ax[1], r.mode, false, oy).idx[0];
    const int64_t ix = axis_taps(r.ax[2], r.mode, false, ox).idx[0];
    y[i] = x[plane * in_plane + (iz * r.ax[1].in + iy) * r.ax[2].in + ix];
  }
}

template <class T, class Index>
__global__ void resize_interp_kernel(const T* __restrict__ x, T* __restrict__ y, Index n,
                                     ResizeArg r) {
  const int64_t in_plane = r.ax[0].in * r.ax[1].in * r.ax[2].in;
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += static_cast<Index>(blockDim.x) * gridDim.x) {
    int64_t plane, oz, oy, ox;
    resize_coords(i, r, plane, oz, oy, ox);
    const Taps tz = axis_taps(r.ax[0], r.mode, r.align_corners, oz);
    const Taps ty = axis_taps(r.ax[1], r.mode, r.align_corners, oy);
    const Taps tx = axis_taps(r.ax[2], r.mode, r.align_corners, ox);
    const T* xc = x + plane * in_plane;
    float sum = 0.0f;
    // Fully unrolled with static indices so the taps stay in registers.
#pragma unroll
    for (int a = 0; a < 4; ++a) {
      if (a >= tz.n) break;
#pragma unroll
      for (int b = 0; b < 4; ++b) {
        if (b >= ty.n) break;
        const float wzy = tz.w[a] * ty.w[b];
        const T* row = xc + (tz.idx[a] * r.ax[1].in + ty.idx[b]) * r.ax[2].in;
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          if (c >= tx.n) break;
          sum += wzy * tx.w[c] * to_f32(row[tx.idx[c]]);
        }
      }
    }
    y[i] = from_f32<T>(sum);
  }
}

/// The reference's coordinate_scale: 1/scale when a scale factor is given, else in/out.
float coordinate_scale(int64_t in, int64_t out, std::optional<double> scale) {
  if (scale && *scale > 0) return static_cast<float>(1.0 / *scale);
  return static_cast<float>(in) / static_cast<float>(out);
}

/// The reference's area_scale (torch area_pixel_compute_scale).
float area_scale(int64_t in, int64_t out, bool align_corners, std::optional<double> scale) {
  if (align_corners)
    return out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
  return coordinate_scale(in, out, scale);
}

// ---- pad ----

struct PadArg {
  int rank;
  PadMode mode;
  int64_t out[kMaxRank], in[kMaxRank], begin[kMaxRank], in_stride[kMaxRank];
};

/// Source index along one axis, or -1 for the constant (the reference's pad_source).
__device__ __forceinline__ int64_t pad_source(PadMode mode, int64_t o, int64_t begin, int64_t in) {
  int64_t i = o - begin;
  if (i >= 0 && i < in) return i;
  if (in <= 0) return -1;
  switch (mode) {
    case PadMode::kConstant:
      return -1;
    case PadMode::kReplicate:
      return i < 0 ? 0 : in - 1;
    case PadMode::kCircular:
      return ((i % in) + in) % in;
    case PadMode::kReflect: {
      if (in == 1) return 0;
      int64_t period = 2 * (in - 1);
      int64_t m = ((i % period) + period) % period;
      return m < in ? m : period - m;
    }
  }
  return -1;
}

template <class U, class Index>
__global__ void pad_kernel(const U* __restrict__ x, U* __restrict__ y, Index n, PadArg p, U value) {
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += static_cast<Index>(blockDim.x) * gridDim.x) {
    Index rest = i;
    int64_t off = 0;
    bool constant = false;
#pragma unroll
    for (int d = kMaxRank - 1; d >= 0; --d) {
      if (d >= p.rank) continue;
      Index q = rest / static_cast<Index>(p.out[d]);
      int64_t s = pad_source(p.mode, static_cast<int64_t>(rest - q * static_cast<Index>(p.out[d])),
                             p.begin[d], p.in[d]);
      rest = q;
      if (s < 0) constant = true;
      off += s * p.in_stride[d];
    }
    y[i] = constant ? value : x[off];
  }
}

/// The pad constant in dtype's bytes, converted as the reference's from_double.
uint64_t encode_value(DataType dt, double v) {
  uint64_t bits = 0;
  auto saturate = [&](auto tag) {
    using T = typename decltype(tag)::type;
    T r;
    if (v != v) {
      r = T(0);
    } else if (v >= static_cast<double>(std::numeric_limits<T>::max())) {
      r = std::numeric_limits<T>::max();
    } else if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) {
      r = std::numeric_limits<T>::lowest();
    } else {
      r = static_cast<T>(v);
    }
    std::memcpy(&bits, &r, sizeof(T));
  };
  switch (dt) {
    case DataType::kFloat32: {
      auto f = static_cast<float>(v);
      std::memcpy(&bits, &f, 4);
      break;
    }
    case DataType::kFloat16:
      bits = float_to_half(static_cast<float>(v));
      break;
    case DataType::kBFloat16:
      bits = float_to_bfloat16(static_cast<float>(v));
      break;
    case DataType::kInt32:
      saturate(TypeTag<int32_t>{});
      break;
    case DataType::kInt64:
      saturate(TypeTag<int64_t>{});
      break;
    case DataType::kInt8:
      saturate(TypeTag<int8_t>{});
      break;
    case DataType::kUInt8:
      saturate(TypeTag<uint8_t>{});
      break;
    case DataType::kBool:
      bits = v != 0.0 ? 1 : 0;
      break;
    case DataType::kFloat8E4M3:
      bits = float_to_fp8e4m3(static_cast<float>(v));
      break;
    case DataType::kFloat64:  // CPU backend only (CudaBackend::supports refuses it)
      std::memcpy(&bits, &v, 8);
      break;
    case DataType::kInt16:
      saturate(TypeTag<int16_t>{});
      break;
  }
  return bits;
}

}  // namespace

Status launch_resize(const LaunchArgs& a) {
  const auto& p = std::get<ResizeParams>(a.layer.params);
  const TensorView &x = a.in[0], &y = a.out[0];
  const int spatial = x.dims.rank() - 2;
  const auto ns = static_cast<size_t>(spatial);
  if (spatial < 1 || spatial > 3 || y.dims.rank() != x.dims.rank() || y.dims[0] != x.dims[0] ||
      y.dims[1] != x.dims[1] || (!p.scales.empty() && p.scales.size() != ns))
    return layer_error(a.layer, StatusCode::kInvalidArgument,
                       "resize input/output ranks or scales disagree");
  const bool nearest = p.mode == ResizeMode::kNearest || p.mode == ResizeMode::kNearestExact;
  if (x.dtype != y.dtype || (!is_floating(x.dtype) && !nearest))
    return layer_error(a.layer, StatusCode::kTypeError,
                       "unsupported resize dtype " + std::string(dtype_name(x.dtype)));
  if (p.mode == ResizeMode::kCubic && spatial != 2)
    return layer_error(a.layer, StatusCode::kInvalidArgument, "cubic resize needs 2 spatial dims");
  const int64_t n = y.numel();
  if (n == 0) return {};
  ResizeArg r{};
  r.mode = p.mode;
  r.align_corners = p.align_corners;
  for (int i = 0; i < spatial; ++i) {
    const int64_t in = x.dims[i + 2], out = y.dims[i + 2];
    if (in <= 0)
      return layer_error(a.layer, StatusCode::kShapeError,
                         "cannot resize an empty spatial dim to a non-empty one");
    std::optional<double> scale;
    if (!p.scales.empty()) scale = p.scales[static_cast<size_t>(i)];
    ResizeAxis& ax = r.ax[3 - spatial + i];
    ax.in = in;
    ax.out = out;
    ax.identity = false;
    ax.shortcuts = spatial == 2;
    ax.scale =
        nearest ? coordinate_scale(in, out, scale) : area_scale(in, out, p.align_corners, scale);
  }
  const unsigned grid = grid_for(n, kThreads);
  if (nearest) {
    visit_unit(dtype_size(x.dtype), [&](auto wc) {
      using U = typename Unit<decltype(wc)::value>::type;
      visit_index_width(n, [&](auto iw) {
        using Index = typename decltype(iw)::type;
        resize_nearest_kernel<U, Index><<<grid, kThreads, 0, a.stream>>>(
            static_cast<const U*>(x.data), static_cast<U*>(y.data), static_cast<Index>(n), r);
      });
    });
  } else {
    visit_float_dtype(x.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      visit_index_width(n, [&](auto iw) {
        using Index = typename decltype(iw)::type;
        resize_interp_kernel<T, Index><<<grid, kThreads, 0, a.stream>>>(
            static_cast<const T*>(x.data), static_cast<T*>(y.data), static_cast<Index>(n), r);
      });
    });
  }
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_pad(const LaunchArgs& a) {
  const auto& p = std::get<PadParams>(a.layer.params);
  const TensorView &x = a.in[0], &y = a.out[0];
  const int r = x.dims.rank();
  const auto ur = static_cast<size_t>(r);
  if (y.dims.rank() != r || p.pads_begin.size() != ur || p.pads_end.size() != ur ||
      x.dtype != y.dtype)
    return layer_error(a.layer, StatusCode::kInvalidArgument,
                       "pad parameters do not match the input");
  PadArg arg{};
  arg.rank = r;
  arg.mode = p.mode;
  int64_t stride = 1;
  for (int d = r - 1; d >= 0; --d) {
    auto ud = static_cast<size_t>(d);
    const int64_t in = x.dims[d];
    if (y.dims[d] != in + p.pads_begin[ud] + p.pads_end[ud])
      return layer_error(a.layer, StatusCode::kShapeError,
                         "pad output dim " + std::to_string(d) + " is inconsistent");
    if (p.mode != PadMode::kConstant && (p.pads_begin[ud] < 0 || p.pads_end[ud] < 0))
      return layer_error(a.layer, StatusCode::kInvalidArgument, "negative pads need constant mode");
    arg.out[d] = y.dims[d];
    arg.in[d] = in;
    arg.begin[d] = p.pads_begin[ud];
    arg.in_stride[d] = stride;
    stride *= in;
  }
  const int64_t n = y.numel();
  if (n == 0) return {};
  const uint64_t bits = encode_value(x.dtype, p.value);
  visit_unit(dtype_size(x.dtype), [&](auto wc) {
    using U = typename Unit<decltype(wc)::value>::type;
    U value;
    std::memcpy(&value, &bits, sizeof(U));  // little-endian: the low bytes hold the value
    visit_index_width(n, [&](auto iw) {
      using Index = typename decltype(iw)::type;
      pad_kernel<U, Index><<<grid_for(n, kThreads), kThreads, 0, a.stream>>>(
          static_cast<const U*>(x.data), static_cast<U*>(y.data), static_cast<Index>(n), arg,
          value);
    });
  });
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

}  // namespace kiln::cuda
