// CUDA grid sample (torch's grid_sampler_2d): bilinear, nearest and bicubic interpolation with
// zeros, border and reflection padding, align_corners either way. Follows the CPU reference
// (src/backends/cpu/grid_sample.cpp): coordinates use non-contracted float operations (__fmul_rn,
// __fadd_rn, ...) so the chosen input pixels are those of the reference; taps accumulate in
// float32. One thread per output element.
#include <string>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/kernels/device_utils.cuh"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;

struct GridArg {
  int64_t c, h, w, ho, wo;
  GridSampleMode mode;
  GridSamplePadding padding;
  bool align_corners;
};

__device__ __forceinline__ float unnormalize(float coord, int64_t size, bool align_corners) {
  const auto s = static_cast<float>(size);
  if (align_corners) return __fmul_rn(__fdiv_rn(__fadd_rn(coord, 1.0f), 2.0f), __fsub_rn(s, 1.0f));
  return __fdiv_rn(__fsub_rn(__fmul_rn(__fadd_rn(coord, 1.0f), s), 1.0f), 2.0f);
}

__device__ __forceinline__ float clip(float v, int64_t size) {
  // std::min(limit, std::max(v, 0)) with the reference's operand order (NaN goes to the limit).
  float m = v < 0.0f ? 0.0f : v;
  const auto limit = static_cast<float>(size - 1);
  return m < limit ? m : limit;
}

__device__ __forceinline__ float reflect(float v, int64_t twice_low, int64_t twice_high) {
  if (twice_low == twice_high) return 0.0f;
  const float lo = __fdiv_rn(static_cast<float>(twice_low), 2.0f);
  const float span = __fdiv_rn(static_cast<float>(twice_high - twice_low), 2.0f);
  v = fabsf(__fsub_rn(v, lo));
  const float extra = fmodf(v, span);
  const auto flips = static_cast<int64_t>(floorf(__fdiv_rn(v, span)));
  return flips % 2 == 0 ? __fadd_rn(extra, lo) : __fadd_rn(__fsub_rn(span, extra), lo);
}

__device__ __forceinline__ float pad_coordinate(float v, int64_t size, GridSamplePadding padding,
                                                bool align_corners) {
  if (padding == GridSamplePadding::kBorder) {
    v = clip(v, size);
  } else if (padding == GridSamplePadding::kReflection) {
    v = align_corners ? reflect(v, 0, 2 * (size - 1)) : reflect(v, -1, 2 * size - 1);
    v = clip(v, size);
  }
  if (!isfinite(v) || v > 2147483647.0f || v < -2147483648.0f) return -100.0f;
  return v;
}

__device__ __forceinline__ void cubic_coefficients(float t, float c[4]) {
  constexpr float A = -0.75f;
  auto conv1 = [](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
  auto conv2 = [](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
  c[0] = conv2(t + 1.0f);
  c[1] = conv1(t);
  c[2] = conv1(1.0f - t);
  c[3] = conv2(2.0f - t);
}

template <class T>
__device__ __forceinline__ float at(const T* plane, int64_t h, int64_t w, int64_t y, int64_t x) {
  if (y < 0 || y >= h || x < 0 || x >= w) return 0.0f;
  return to_f32(plane[y * w + x]);
}

template <class T>
__global__ void grid_sample_kernel(const T* __restrict__ x, const T* __restrict__ grid,
                                   T* __restrict__ y, int64_t n, GridArg r) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t ox = i % r.wo;
    const int64_t oy = (i / r.wo) % r.ho;
    const int64_t plane = i / (r.wo * r.ho);  // b * c + ch
    const int64_t b = plane / r.c;
    const T* gp = grid + ((b * r.ho + oy) * r.wo + ox) * 2;
    const T* xp = x + plane * r.h * r.w;
    const float ix = unnormalize(to_f32(gp[0]), r.w, r.align_corners);
    const float iy = unnormalize(to_f32(gp[1]), r.h, r.align_corners);
    float v = 0.0f;
    if (r.mode == GridSampleMode::kBicubic) {
      const float fx = floorf(ix), fy = floorf(iy);
      float cx[4], cy[4];
      cubic_coefficients(__fsub_rn(ix, fx), cx);
      cubic_coefficients(__fsub_rn(iy, fy), cy);
#pragma unroll
      for (int a = 0; a < 4; ++a) {
        float row = 0.0f;
        const float sy = pad_coordinate(__fadd_rn(fy, static_cast<float>(a - 1)), r.h, r.padding,
                                        r.align_corners);
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const float sx = pad_coordinate(__fadd_rn(fx, static_cast<float>(c - 1)), r.w, r.padding,
                                          r.align_corners);
          row += cx[c] * at(xp, r.h, r.w, static_cast<int64_t>(sy), static_cast<int64_t>(sx));
        }
        v += cy[a] * row;
      }
    } else {
      const float sx = pad_coordinate(ix, r.w, r.padding, r.align_corners);
      const float sy = pad_coordinate(iy, r.h, r.padding, r.align_corners);
      if (r.mode == GridSampleMode::kNearest) {
        v = at(xp, r.h, r.w, static_cast<int64_t>(nearbyintf(sy)),
               static_cast<int64_t>(nearbyintf(sx)));
      } else {
        const float x0 = floorf(sx), y0 = floorf(sy);
        const float x1 = __fadd_rn(x0, 1.0f), y1 = __fadd_rn(y0, 1.0f);
        const auto X0 = static_cast<int64_t>(x0), Y0 = static_cast<int64_t>(y0);
        const float wx0 = __fsub_rn(x1, sx), wx1 = __fsub_rn(sx, x0);
        const float wy0 = __fsub_rn(y1, sy), wy1 = __fsub_rn(sy, y0);
        v = __fmul_rn(wx0, wy0) * at(xp, r.h, r.w, Y0, X0) +
            __fmul_rn(wx1, wy0) * at(xp, r.h, r.w, Y0, X0 + 1) +
            __fmul_rn(wx0, wy1) * at(xp, r.h, r.w, Y0 + 1, X0) +
            __fmul_rn(wx1, wy1) * at(xp, r.h, r.w, Y0 + 1, X0 + 1);
      }
    }
    y[i] = from_f32<T>(v);
  }
}

}  // namespace

Status launch_grid_sample(const LaunchArgs& a) {
  const auto& p = std::get<GridSampleParams>(a.layer.params);
  const TensorView &x = a.in[0], &g = a.in[1], &y = a.out[0];
  if (x.dims.rank() != 4 || g.dims.rank() != 4 || g.dims[3] != 2 || g.dims[0] != x.dims[0] ||
      y.dims.rank() != 4)
    return layer_error(a.layer, StatusCode::kInvalidArgument,
                       "grid sample needs x [N, C, H, W] and grid [N, Ho, Wo, 2]");
  if (g.dtype != x.dtype || y.dtype != x.dtype)
    return layer_error(a.layer, StatusCode::kTypeError, "grid sample dtypes disagree");
  const int64_t n = y.numel();
  if (n == 0) return {};
  GridArg r{x.dims[1], x.dims[2], x.dims[3], g.dims[1],
            g.dims[2], p.mode,    p.padding, p.align_corners};
  const unsigned blocks = grid_for(n, kThreads);
  const bool ok = visit_float_dtype(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    grid_sample_kernel<T><<<blocks, kThreads, 0, a.stream>>>(static_cast<const T*>(x.data),
                                                             static_cast<const T*>(g.data),
                                                             static_cast<T*>(y.data), n, r);
  });
  if (!ok)
    return layer_error(a.layer, StatusCode::kTypeError,
                       "unsupported grid sample dtype " + std::string(dtype_name(x.dtype)));
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

}  // namespace kiln::cuda
