// CPU grid sample (torch's grid_sampler_2d): bilinear, nearest and bicubic interpolation with
// zeros, border and reflection padding, align_corners either way. Coordinates are computed in float
// exactly as torch's scalar reference does (GridSampler.h: unnormalize, clip, reflect, then floor
// or round half to even); the taps are accumulated in double.
#include <array>
#include <cmath>
#include <limits>
#include <string>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/dtype_dispatch.h"

namespace kiln::cpu {
namespace {

/// [-1, 1] -> pixel coordinates (grid_sampler_unnormalize).
float unnormalize(float coord, int64_t size, bool align_corners) {
  auto s = static_cast<float>(size);
  if (align_corners) return ((coord + 1.0f) / 2.0f) * (s - 1.0f);
  return ((coord + 1.0f) * s - 1.0f) / 2.0f;
}

float clip(float v, int64_t size) {
  return std::min(static_cast<float>(size - 1), std::max(v, 0.0f));
}

/// Reflects v into [twice_low / 2, twice_high / 2] (reflect_coordinates).
float reflect(float v, int64_t twice_low, int64_t twice_high) {
  if (twice_low == twice_high) return 0.0f;
  float lo = static_cast<float>(twice_low) / 2.0f;
  float span = static_cast<float>(twice_high - twice_low) / 2.0f;
  v = std::fabs(v - lo);
  float extra = std::fmod(v, span);
  auto flips = static_cast<int64_t>(std::floor(v / span));
  return flips % 2 == 0 ? extra + lo : span - extra + lo;
}

/// Padding applied to a pixel coordinate (compute_coordinates), then kept in int range.
float pad_coordinate(float v, int64_t size, GridSamplePadding padding, bool align_corners) {
  if (padding == GridSamplePadding::kBorder) {
    v = clip(v, size);
  } else if (padding == GridSamplePadding::kReflection) {
    v = align_corners ? reflect(v, 0, 2 * (size - 1)) : reflect(v, -1, 2 * size - 1);
    v = clip(v, size);
  }
  // torch's safe_downgrade_to_int_range: anything not an int reads as out of bounds.
  if (!std::isfinite(v) || v > static_cast<float>(std::numeric_limits<int32_t>::max()) ||
      v < static_cast<float>(std::numeric_limits<int32_t>::min()))
    return -100.0f;
  return v;
}

void cubic_coefficients(float t, std::array<float, 4>& c) {
  constexpr float A = -0.75f;
  auto conv1 = [&](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
  auto conv2 = [&](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
  c = {conv2(t + 1.0f), conv1(t), conv1(1.0f - t), conv2(2.0f - t)};
}

template <class T>
struct Plane {
  const T* data;
  int64_t h, w;
  /// The value at (y, x), or 0 outside the plane.
  double at(int64_t y, int64_t x) const {
    if (y < 0 || y >= h || x < 0 || x >= w) return 0.0;
    return to_double(data[y * w + x]);
  }
};

template <class T>
void grid_sample(const GridSampleParams& p, const Dims& xd, const Dims& gd, const T* x, const T* g,
                 T* y) {
  const int64_t n = xd[0], c = xd[1], h = xd[2], w = xd[3], ho = gd[1], wo = gd[2];
  const bool ac = p.align_corners;
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t oy = 0; oy < ho; ++oy) {
      for (int64_t ox = 0; ox < wo; ++ox) {
        const T* gp = g + ((b * ho + oy) * wo + ox) * 2;
        float ix = unnormalize(to_float(gp[0]), w, ac);
        float iy = unnormalize(to_float(gp[1]), h, ac);
        for (int64_t ch = 0; ch < c; ++ch) {
          Plane<T> pl{x + (b * c + ch) * h * w, h, w};
          double v = 0.0;
          if (p.mode == GridSampleMode::kBicubic) {
            float fx = std::floor(ix), fy = std::floor(iy);
            std::array<float, 4> cx{}, cy{};
            cubic_coefficients(ix - fx, cx);
            cubic_coefficients(iy - fy, cy);
            for (int i = 0; i < 4; ++i) {
              double row = 0.0;
              for (int j = 0; j < 4; ++j) {
                float sx = pad_coordinate(fx - 1.0f + static_cast<float>(j), w, p.padding, ac);
                float sy = pad_coordinate(fy - 1.0f + static_cast<float>(i), h, p.padding, ac);
                row += static_cast<double>(cx[static_cast<size_t>(j)]) *
                       pl.at(static_cast<int64_t>(sy), static_cast<int64_t>(sx));
              }
              v += static_cast<double>(cy[static_cast<size_t>(i)]) * row;
            }
          } else {
            float sx = pad_coordinate(ix, w, p.padding, ac);
            float sy = pad_coordinate(iy, h, p.padding, ac);
            if (p.mode == GridSampleMode::kNearest) {
              v = pl.at(static_cast<int64_t>(std::nearbyint(sy)),
                        static_cast<int64_t>(std::nearbyint(sx)));
            } else {
              float x0 = std::floor(sx), y0 = std::floor(sy);
              float x1 = x0 + 1.0f, y1 = y0 + 1.0f;
              auto X0 = static_cast<int64_t>(x0), Y0 = static_cast<int64_t>(y0);
              v = static_cast<double>((x1 - sx) * (y1 - sy)) * pl.at(Y0, X0) +
                  static_cast<double>((sx - x0) * (y1 - sy)) * pl.at(Y0, X0 + 1) +
                  static_cast<double>((x1 - sx) * (sy - y0)) * pl.at(Y0 + 1, X0) +
                  static_cast<double>((sx - x0) * (sy - y0)) * pl.at(Y0 + 1, X0 + 1);
            }
          }
          y[((b * c + ch) * ho + oy) * wo + ox] = from_double<T>(v);
        }
      }
    }
  }
}

}  // namespace

Status run_grid_sample(const CpuArgs& a) {
  const auto& p = std::get<GridSampleParams>(a.layer.params);
  const TensorView &x = a.in[0], &g = a.in[1], &y = a.out[0];
  if (x.dims.rank() != 4 || g.dims.rank() != 4 || g.dims[3] != 2 || g.dims[0] != x.dims[0] ||
      y.dims.rank() != 4)
    return cpu_error(a, StatusCode::kInvalidArgument,
                     "grid sample needs x [N, C, H, W] and grid [N, Ho, Wo, 2]");
  if (!is_floating(x.dtype) || g.dtype != x.dtype || y.dtype != x.dtype)
    return cpu_error(a, StatusCode::kTypeError,
                     "unsupported grid sample dtype " + std::string(dtype_name(x.dtype)));
  if (y.numel() == 0) return {};
  visit_dtype(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (kIsFloat<T>) {
      grid_sample(p, x.dims, g.dims, static_cast<const T*>(x.data), static_cast<const T*>(g.data),
                  static_cast<T*>(y.data));
    }
  });
  return {};
}

}  // namespace kiln::cpu
