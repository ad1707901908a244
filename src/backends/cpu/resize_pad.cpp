// CPU resize (nearest, nearest-exact, linear 1-3d, bicubic) and pad (constant, reflect, replicate,
// circular). Resize follows torch's CPU upsample kernels: per axis, source coordinates are computed
// in float exactly as torch does (area_pixel_compute_scale / area_pixel_compute_source_index) and
// turned into taps (input index, weight); the output is the separable product of the axes' taps,
// accumulated in double. Nearest modes copy elements (any dtype, no rounding); 2-d nearest keeps
// torch's CPU size shortcuts (see nearest_index).
#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <string>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/dtype_dispatch.h"

namespace kiln::cpu {
namespace {

// ---- resize ----

/// Interpolation taps along one axis: for output o, taps [o * n, (o + 1) * n) of index/weight.
struct AxisTaps {
  int64_t in = 1;
  int n = 1;
  std::vector<int64_t> index;
  std::vector<double> weight;
};

AxisTaps identity_axis() { return AxisTaps{1, 1, {0}, {1.0}}; }

/// torch compute_scales_value: 1/scale when a scale factor is given, else in/out.
float coordinate_scale(int64_t in, int64_t out, std::optional<double> scale) {
  if (scale && *scale > 0) return static_cast<float>(1.0 / *scale);
  return static_cast<float>(in) / static_cast<float>(out);
}

/// torch area_pixel_compute_scale.
float area_scale(int64_t in, int64_t out, bool align_corners, std::optional<double> scale) {
  if (align_corners)
    return out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
  return coordinate_scale(in, out, scale);
}

/// torch area_pixel_compute_source_index.
float source_index(float scale, int64_t dst, bool align_corners, bool cubic) {
  if (align_corners) return scale * static_cast<float>(dst);
  float src = scale * (static_cast<float>(dst) + 0.5f) - 0.5f;
  return (!cubic && src < 0.0f) ? 0.0f : src;
}

int64_t floor_index(float v) { return static_cast<int64_t>(std::floor(v)); }

void cubic_coefficients(float t, std::array<float, 4>& c) {
  constexpr float A = -0.75f;
  auto conv1 = [&](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
  auto conv2 = [&](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
  c = {conv2(t + 1.0f), conv1(t), conv1(1.0f - t), conv2(2.0f - t)};
}

/// torch's CPU 2-d nearest (nearest_idx) copies when sizes agree and halves indices when the output
/// is exactly twice the input, whatever the scale factor; 1-d and 3-d always use floor(o * scale).
int64_t nearest_index(int64_t o, int64_t in, int64_t out, std::optional<double> scale,
                      bool shortcuts) {
  if (shortcuts && out == in) return o;
  if (shortcuts && out == 2 * in) return o >> 1;
  return std::min(floor_index(coordinate_scale(in, out, scale) * static_cast<float>(o)), in - 1);
}

AxisTaps resize_axis(ResizeMode mode, bool align_corners, int64_t in, int64_t out,
                     std::optional<double> scale, bool nearest_shortcuts) {
  AxisTaps t;
  t.in = in;
  t.n = mode == ResizeMode::kLinear ? 2 : (mode == ResizeMode::kCubic ? 4 : 1);
  auto add = [&](int64_t i, double w) {
    t.index.push_back(std::clamp<int64_t>(i, 0, in - 1));
    t.weight.push_back(w);
  };
  for (int64_t o = 0; o < out; ++o) {
    switch (mode) {
      case ResizeMode::kNearest:
        add(nearest_index(o, in, out, scale, nearest_shortcuts), 1.0);
        break;
      case ResizeMode::kNearestExact: {
        float real = source_index(coordinate_scale(in, out, scale), o, false, false);
        add(std::min(floor_index(static_cast<float>(static_cast<double>(real) + 0.5)), in - 1),
            1.0);
        break;
      }
      case ResizeMode::kLinear: {
        if (in == out) {  // torch copies when sizes agree, whatever the scale factor
          add(o, 1.0);
          add(o, 0.0);
          break;
        }
        float real =
            source_index(area_scale(in, out, align_corners, scale), o, align_corners, false);
        int64_t i0 = std::min(floor_index(real), in - 1);
        float l1 = std::clamp(real - static_cast<float>(i0), 0.0f, 1.0f);
        add(i0, 1.0f - l1);
        add(i0 + (i0 < in - 1 ? 1 : 0), l1);
        break;
      }
      case ResizeMode::kCubic: {
        float real =
            source_index(area_scale(in, out, align_corners, scale), o, align_corners, true);
        int64_t i = floor_index(real);
        std::array<float, 4> c{};
        cubic_coefficients(real - static_cast<float>(i), c);
        for (int j = 0; j < 4; ++j) add(i - 1 + j, c[static_cast<size_t>(j)]);
        break;
      }
    }
  }
  return t;
}

template <class T>
void resize_planes(const std::array<AxisTaps, 3>& ax, int64_t planes, const T* x, T* y) {
  int64_t in_plane = ax[0].in * ax[1].in * ax[2].in;
  auto outs = [&](size_t d) { return static_cast<int64_t>(ax[d].index.size()) / ax[d].n; };
  bool nearest = ax[0].n == 1 && ax[1].n == 1 && ax[2].n == 1;
  for (int64_t c = 0; c < planes; ++c) {
    const T* xc = x + c * in_plane;
    for (int64_t oz = 0; oz < outs(0); ++oz)
      for (int64_t oy = 0; oy < outs(1); ++oy)
        for (int64_t ox = 0; ox < outs(2); ++ox) {
          if (nearest) {
            auto iz = ax[0].index[static_cast<size_t>(oz)],
                 iy = ax[1].index[static_cast<size_t>(oy)];
            *y++ = xc[(iz * ax[1].in + iy) * ax[2].in + ax[2].index[static_cast<size_t>(ox)]];
            continue;
          }
          double sum = 0.0;
          for (int a = 0; a < ax[0].n; ++a) {
            auto tz = static_cast<size_t>(oz * ax[0].n + a);
            for (int b = 0; b < ax[1].n; ++b) {
              auto ty = static_cast<size_t>(oy * ax[1].n + b);
              double wzy = ax[0].weight[tz] * ax[1].weight[ty];
              const T* row = xc + (ax[0].index[tz] * ax[1].in + ax[1].index[ty]) * ax[2].in;
              for (int k = 0; k < ax[2].n; ++k) {
                auto tx = static_cast<size_t>(ox * ax[2].n + k);
                sum += wzy * ax[2].weight[tx] * to_double(row[ax[2].index[tx]]);
              }
            }
          }
          *y++ = from_double<T>(sum);
        }
  }
}

// ---- pad ----

/// Source index of output index o along an axis of extent `in` padded by `begin` in front, or -1
/// when it reads the constant.
int64_t pad_source(PadMode mode, int64_t o, int64_t begin, int64_t in) {
  int64_t i = o - begin;
  if (i >= 0 && i < in) return i;
  if (in <= 0) return -1;
  switch (mode) {
    case PadMode::kConstant:
      return -1;
    case PadMode::kReplicate:
      return std::clamp<int64_t>(i, 0, in - 1);
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

template <class T>
void pad_tensor(const std::vector<std::vector<int64_t>>& src,
                const std::vector<int64_t>& in_strides, const Dims& out, T value, const T* x,
                T* y) {
  int r = out.rank();
  int64_t n = out.volume();
  std::vector<int64_t> idx(static_cast<size_t>(r), 0);
  for (int64_t e = 0; e < n; ++e) {
    int64_t off = 0;
    bool constant = false;
    for (size_t d = 0; d < static_cast<size_t>(r); ++d) {
      int64_t s = src[d][static_cast<size_t>(idx[d])];
      if (s < 0) {
        constant = true;
        break;
      }
      off += s * in_strides[d];
    }
    y[e] = constant ? value : x[off];
    for (int d = r - 1; d >= 0; --d) {
      auto ud = static_cast<size_t>(d);
      if (++idx[ud] < out[d]) break;
      idx[ud] = 0;
    }
  }
}

}  // namespace

Status run_resize(const CpuArgs& a) {
  const auto& p = std::get<ResizeParams>(a.layer.params);
  const TensorView &x = a.in[0], &y = a.out[0];
  int spatial = x.dims.rank() - 2;
  auto ns = static_cast<size_t>(spatial);
  if (spatial < 1 || spatial > 3 || y.dims.rank() != x.dims.rank() || y.dims[0] != x.dims[0] ||
      y.dims[1] != x.dims[1] || (!p.scales.empty() && p.scales.size() != ns))
    return cpu_error(a, StatusCode::kInvalidArgument,
                     "resize input/output ranks or scales disagree");
  if (x.dtype != y.dtype || (!is_floating(x.dtype) && p.mode != ResizeMode::kNearest &&
                             p.mode != ResizeMode::kNearestExact))
    return cpu_error(a, StatusCode::kTypeError,
                     "unsupported resize dtype " + std::string(dtype_name(x.dtype)));
  if (p.mode == ResizeMode::kCubic && spatial != 2)
    return cpu_error(a, StatusCode::kInvalidArgument, "cubic resize needs 2 spatial dims");
  if (y.numel() == 0) return {};
  std::array<AxisTaps, 3> axes{identity_axis(), identity_axis(), identity_axis()};
  for (int i = 0; i < spatial; ++i) {
    int64_t in = x.dims[i + 2], out = y.dims[i + 2];
    if (in <= 0)
      return cpu_error(a, StatusCode::kShapeError,
                       "cannot resize an empty spatial dim to a non-empty one");
    std::optional<double> scale;
    if (!p.scales.empty()) scale = p.scales[static_cast<size_t>(i)];
    axes[static_cast<size_t>(3 - spatial + i)] =
        resize_axis(p.mode, p.align_corners, in, out, scale, spatial == 2);
  }
  int64_t planes = x.dims[0] * x.dims[1];
  visit_dtype(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    resize_planes(axes, planes, static_cast<const T*>(x.data), static_cast<T*>(y.data));
  });
  return {};
}

Status run_pad(const CpuArgs& a) {
  const auto& p = std::get<PadParams>(a.layer.params);
  const TensorView &x = a.in[0], &y = a.out[0];
  int r = x.dims.rank();
  auto ur = static_cast<size_t>(r);
  if (y.dims.rank() != r || p.pads_begin.size() != ur || p.pads_end.size() != ur ||
      x.dtype != y.dtype)
    return cpu_error(a, StatusCode::kInvalidArgument, "pad parameters do not match the input");
  std::vector<std::vector<int64_t>> src(ur);
  for (int d = 0; d < r; ++d) {
    auto ud = static_cast<size_t>(d);
    int64_t in = x.dims[d];
    if (y.dims[d] != in + p.pads_begin[ud] + p.pads_end[ud])
      return cpu_error(a, StatusCode::kShapeError,
                       "pad output dim " + std::to_string(d) + " is inconsistent");
    if (p.mode != PadMode::kConstant && (p.pads_begin[ud] < 0 || p.pads_end[ud] < 0))
      return cpu_error(a, StatusCode::kInvalidArgument, "negative pads need constant mode");
    for (int64_t o = 0; o < y.dims[d]; ++o)
      src[ud].push_back(pad_source(p.mode, o, p.pads_begin[ud], in));
  }
  if (y.numel() == 0) return {};
  std::vector<int64_t> strides = contiguous_strides(x.dims);
  visit_dtype(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    pad_tensor(src, strides, y.dims, from_double<T>(p.value), static_cast<const T*>(x.data),
               static_cast<T*>(y.data));
  });
  return {};
}

}  // namespace kiln::cpu
