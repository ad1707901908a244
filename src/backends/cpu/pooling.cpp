// CPU pooling: max/average pooling over 1-3 spatial dims (PyTorch max_pool / avg_pool semantics,
// including ceil_mode windows that run past the padded end) and adaptive pooling. Each spatial axis
// is reduced to a table of windows (first valid input index, number of valid taps, taps inside the
// padded extent); the kernels walk the product of those windows. Max compares in double (NaN
// propagates as in torch) or int64 and can return each maximum's index; average accumulates in
// double.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/dtype_dispatch.h"

namespace kiln::cpu {
namespace {

/// Windows along one axis, per output index.
struct AxisWindows {
  int64_t in = 1;               ///< input extent
  int64_t step = 1;             ///< distance between taps (dilation)
  std::vector<int64_t> first;   ///< first valid input index
  std::vector<int64_t> count;   ///< taps inside [0, in)
  std::vector<int64_t> padded;  ///< taps inside [-pad_begin, in + pad_end) (avg count_include_pad)
  int64_t out() const { return static_cast<int64_t>(first.size()); }
};

int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/// An axis that is not spatial (padding the rank to 3): one window holding the single element.
AxisWindows unit_axis() {
  AxisWindows w;
  w.first = {0};
  w.count = {1};
  w.padded = {1};
  return w;
}

/// Strided/dilated windows: output o covers input o * stride - pad_begin + j * dilation, j <
/// kernel.
AxisWindows sliding_axis(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t pad_begin,
                         int64_t pad_end, int64_t dilation) {
  AxisWindows w;
  w.in = in;
  w.step = dilation;
  for (int64_t o = 0; o < out; ++o) {
    int64_t start = o * stride - pad_begin;
    int64_t j0 = start >= 0 ? 0 : std::min(kernel, ceil_div(-start, dilation));
    int64_t j1 = std::clamp<int64_t>(ceil_div(in - start, dilation), j0, kernel);
    int64_t jp = std::clamp<int64_t>(ceil_div(in + pad_end - start, dilation), 0, kernel);
    w.first.push_back(start + j0 * dilation);
    w.count.push_back(j1 - j0);
    w.padded.push_back(jp);
  }
  return w;
}

/// torch adaptive windows: [floor(o * in / out), ceil((o + 1) * in / out)).
AxisWindows adaptive_axis(int64_t in, int64_t out) {
  AxisWindows w;
  w.in = in;
  for (int64_t o = 0; o < out; ++o) {
    int64_t start = (o * in) / out;
    int64_t end = ((o + 1) * in + out - 1) / out;
    w.first.push_back(start);
    w.count.push_back(end - start);
    w.padded.push_back(end - start);
  }
  return w;
}

enum class Divisor { kValid, kPadded, kFixed };

struct PoolPlan {
  bool is_max = true;
  Divisor divisor = Divisor::kValid;
  int64_t fixed_divisor = 1;
  int64_t planes = 0;  ///< batch * channels
  std::array<AxisWindows, 3> axes{unit_axis(), unit_axis(), unit_axis()};
};

/// Max over one window and its index in the plane (torch: the first maximum, or the last NaN;
/// the window's first tap when every value is -inf). -inf (lowest for integers) when it holds no
/// element.
template <class T>
std::pair<T, int64_t> window_max(const T* x, const std::array<AxisWindows, 3>& ax,
                                 const std::array<int64_t, 3>& o) {
  const AxisWindows &az = ax[0], &ay = ax[1], &axx = ax[2];
  int64_t z0 = az.first[static_cast<size_t>(o[0])], nz = az.count[static_cast<size_t>(o[0])];
  int64_t y0 = ay.first[static_cast<size_t>(o[1])], ny = ay.count[static_cast<size_t>(o[1])];
  int64_t x0 = axx.first[static_cast<size_t>(o[2])], nx = axx.count[static_cast<size_t>(o[2])];
  int64_t best = (z0 * ay.in + y0) * axx.in + x0;
  if constexpr (kIsFloat<T>) {
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < nz; ++i)
      for (int64_t j = 0; j < ny; ++j) {
        int64_t row = ((z0 + i * az.step) * ay.in + y0 + j * ay.step) * axx.in + x0;
        for (int64_t k = 0; k < nx; ++k) {
          double v = to_double(x[row + k * axx.step]);
          if (v > m || std::isnan(v)) {
            m = v;
            best = row + k * axx.step;
          }
        }
      }
    return {from_double<T>(m), best};
  } else {
    int64_t m = to_int64(std::numeric_limits<T>::lowest());
    bool first = true;
    for (int64_t i = 0; i < nz; ++i)
      for (int64_t j = 0; j < ny; ++j) {
        int64_t row = ((z0 + i * az.step) * ay.in + y0 + j * ay.step) * axx.in + x0;
        for (int64_t k = 0; k < nx; ++k) {
          int64_t v = to_int64(x[row + k * axx.step]);
          if (first || v > m) {
            m = v;
            best = row + k * axx.step;
            first = false;
          }
        }
      }
    return {from_int64<T>(m), best};
  }
}

/// Average over one window with the plan's divisor rule; 0 when it holds no element (as torch).
template <class T>
T window_mean(const T* x, const PoolPlan& p, const std::array<int64_t, 3>& o) {
  const AxisWindows &az = p.axes[0], &ay = p.axes[1], &axx = p.axes[2];
  auto oz = static_cast<size_t>(o[0]), oy = static_cast<size_t>(o[1]),
       ox = static_cast<size_t>(o[2]);
  int64_t nz = az.count[oz], ny = ay.count[oy], nx = axx.count[ox];
  if (nz == 0 || ny == 0 || nx == 0) return from_double<T>(0.0);
  double sum = 0.0;
  for (int64_t i = 0; i < nz; ++i)
    for (int64_t j = 0; j < ny; ++j) {
      const T* row = x +
                     ((az.first[oz] + i * az.step) * ay.in + ay.first[oy] + j * ay.step) * axx.in +
                     axx.first[ox];
      for (int64_t k = 0; k < nx; ++k) sum += to_double(row[k * axx.step]);
    }
  double div = 1.0;
  switch (p.divisor) {
    case Divisor::kValid:
      div = static_cast<double>(nz * ny * nx);
      break;
    case Divisor::kPadded:
      div = static_cast<double>(az.padded[oz] * ay.padded[oy] * axx.padded[ox]);
      break;
    case Divisor::kFixed:
      div = static_cast<double>(p.fixed_divisor);
      break;
  }
  return from_double<T>(sum / div);
}

/// Pools every plane; `indices` (max only, may be null) receives each maximum's index in its plane.
template <class T>
void run_plan(const PoolPlan& p, const T* x, T* y, int64_t* indices) {
  int64_t in_plane = p.axes[0].in * p.axes[1].in * p.axes[2].in;
  std::array<int64_t, 3> o{};
  for (int64_t c = 0; c < p.planes; ++c) {
    const T* xc = x + c * in_plane;
    for (o[0] = 0; o[0] < p.axes[0].out(); ++o[0])
      for (o[1] = 0; o[1] < p.axes[1].out(); ++o[1])
        for (o[2] = 0; o[2] < p.axes[2].out(); ++o[2]) {
          if (!p.is_max) {
            *y++ = window_mean(xc, p, o);
            continue;
          }
          auto [v, at] = window_max(xc, p.axes, o);
          *y++ = v;
          if (indices != nullptr) *indices++ = at;
        }
  }
}

Status execute(const CpuArgs& a, const PoolPlan& p) {
  const TensorView &x = a.in[0], &y = a.out[0];
  if (x.dtype != y.dtype || (!p.is_max && !is_floating(x.dtype)))
    return cpu_error(a, StatusCode::kTypeError,
                     "unsupported pooling dtype " + std::string(dtype_name(x.dtype)));
  int64_t* indices = nullptr;
  if (a.out.size() > 1) {
    if (!p.is_max || a.out[1].dtype != DataType::kInt64 || a.out[1].dims != y.dims)
      return cpu_error(a, StatusCode::kTypeError, "indices must be int64 shaped like the output");
    indices = static_cast<int64_t*>(a.out[1].data);
  }
  if (y.numel() == 0) return {};
  visit_dtype(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    run_plan(p, static_cast<const T*>(x.data), static_cast<T*>(y.data), indices);
  });
  return {};
}

/// Checks ranks and the number of spatial parameters; returns the spatial rank (or 0 on error).
int spatial_rank(const CpuArgs& a, size_t n_params) {
  const Dims &x = a.in[0].dims, &y = a.out[0].dims;
  int spatial = x.rank() - 2;
  if (spatial < 1 || spatial > 3 || y.rank() != x.rank() ||
      n_params != static_cast<size_t>(spatial) || y[0] != x[0] || y[1] != x[1])
    return 0;
  return spatial;
}

}  // namespace

Status run_pooling(const CpuArgs& a) {
  if (std::get<PoolingParams>(a.layer.params).channels_last)
    return run_channels_last_via_first(a, 1, run_pooling);
  const auto& p = std::get<PoolingParams>(a.layer.params);
  size_t n = p.kernel.size();
  int spatial = spatial_rank(a, n);
  if (spatial == 0 || p.strides.size() != n || p.pads_begin.size() != n || p.pads_end.size() != n ||
      p.dilations.size() != n)
    return cpu_error(a, StatusCode::kInvalidArgument,
                     "pooling parameters do not match the input rank");
  const Dims &x = a.in[0].dims, &y = a.out[0].dims;
  PoolPlan plan;
  plan.is_max = p.type == PoolingType::kMax;
  plan.planes = x[0] * x[1];
  if (p.divisor_override > 0) {
    plan.divisor = Divisor::kFixed;
    plan.fixed_divisor = p.divisor_override;
  } else {
    plan.divisor = p.count_include_pad ? Divisor::kPadded : Divisor::kValid;
  }
  for (int i = 0; i < spatial; ++i) {
    auto pi = static_cast<size_t>(i);
    if (p.kernel[pi] < 1 || p.strides[pi] < 1 || p.dilations[pi] < 1 || p.pads_begin[pi] < 0 ||
        p.pads_end[pi] < 0)
      return cpu_error(a, StatusCode::kInvalidArgument,
                       "kernel/strides/dilations must be >= 1 and pads >= 0");
    plan.axes[static_cast<size_t>(3 - spatial + i)] =
        sliding_axis(x[i + 2], y[i + 2], p.kernel[pi], p.strides[pi], p.pads_begin[pi],
                     p.pads_end[pi], p.dilations[pi]);
  }
  return execute(a, plan);
}

Status run_adaptive_pooling(const CpuArgs& a) {
  if (std::get<AdaptivePoolingParams>(a.layer.params).channels_last)
    return run_channels_last_via_first(a, 1, run_adaptive_pooling);
  const auto& p = std::get<AdaptivePoolingParams>(a.layer.params);
  int spatial = spatial_rank(a, p.output_size.size());
  if (spatial == 0)
    return cpu_error(a, StatusCode::kInvalidArgument,
                     "adaptive pooling output_size does not match the input rank");
  const Dims &x = a.in[0].dims, &y = a.out[0].dims;
  PoolPlan plan;
  plan.is_max = p.type == PoolingType::kMax;
  plan.planes = x[0] * x[1];
  plan.divisor = Divisor::kValid;
  for (int i = 0; i < spatial; ++i)
    plan.axes[static_cast<size_t>(3 - spatial + i)] = adaptive_axis(x[i + 2], y[i + 2]);
  return execute(a, plan);
}

}  // namespace kiln::cpu
