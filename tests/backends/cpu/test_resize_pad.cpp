// CPU resize (nearest, nearest-exact, linear 1-3d, bicubic) and pad (constant, reflect, replicate,
// circular) against direct float64 formulas (torch's interpolate / F.pad definitions), plus
// hand-computed cases.
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "test_util.h"

namespace kiln {
namespace {

using testing::all_close;
using testing::build_and_run;
using testing::default_tolerance;
using testing::has_type;
using testing::kFloatTypes;
using testing::make_tensor;
using testing::random_tensor;
using testing::to_doubles;

template <class T>
T must(Expected<T> e) {
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return e.ok() ? std::move(*e) : T{};
}

// ---- resize reference ----

/// Taps of one output coordinate along one axis.
struct Tap {
  int64_t index;
  double weight;
};

/// torch's (float) ratio between input and output coordinates: 1/scale_factor when given, else
/// in/out; (in-1)/(out-1) with align_corners for linear and cubic.
float ratio(int64_t in, int64_t out, bool align_corners, std::optional<double> scale) {
  if (align_corners) return out > 1 ? float(in - 1) / float(out - 1) : 0.0f;
  if (scale) return static_cast<float>(1.0 / *scale);
  return float(in) / float(out);
}

double keys_cubic(double x) {  // Keys kernel, A = -0.75
  const double a = -0.75;
  x = std::fabs(x);
  if (x <= 1) return (a + 2) * x * x * x - (a + 3) * x * x + 1;
  if (x < 2) return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a;
  return 0;
}

/// `rank2`: torch's CPU 2-d nearest copies when out == in and takes o / 2 when out == 2 * in (what
/// torch 2.11 does; 1-d and 3-d do not special-case these sizes).
std::vector<Tap> axis_taps(ResizeMode mode, bool align, int64_t in, int64_t out,
                           std::optional<double> scale, int64_t o, bool rank2) {
  auto clampi = [&](int64_t i) { return std::min(std::max<int64_t>(i, 0), in - 1); };
  switch (mode) {
    case ResizeMode::kNearest: {
      if (rank2 && out == in) return {{o, 1.0}};
      if (rank2 && out == 2 * in) return {{o / 2, 1.0}};
      float s = ratio(in, out, false, scale);
      return {{clampi(static_cast<int64_t>(std::floor(float(o) * s))), 1.0}};
    }
    case ResizeMode::kNearestExact: {
      float s = ratio(in, out, false, scale);
      return {{clampi(static_cast<int64_t>(std::floor((float(o) + 0.5f) * s))), 1.0}};
    }
    case ResizeMode::kLinear: {
      if (in == out) return {{o, 1.0}};
      double s = ratio(in, out, align, scale);
      double src = align ? o * s : std::max((o + 0.5) * s - 0.5, 0.0);
      int64_t i0 = clampi(static_cast<int64_t>(std::floor(src)));
      double l = std::min(std::max(src - double(i0), 0.0), 1.0);
      return {{i0, 1 - l}, {clampi(i0 + 1), l}};
    }
    case ResizeMode::kCubic: {
      double s = ratio(in, out, align, scale);
      double src = align ? o * s : (o + 0.5) * s - 0.5;
      auto i = static_cast<int64_t>(std::floor(src));
      double t = src - double(i);
      return {{clampi(i - 1), keys_cubic(t + 1)},
              {clampi(i), keys_cubic(t)},
              {clampi(i + 1), keys_cubic(1 - t)},
              {clampi(i + 2), keys_cubic(2 - t)}};
    }
  }
  return {};
}

std::vector<double> reference_resize(const std::vector<double>& x, const Dims& xd, const Dims& yd,
                                     const ResizeParams& p) {
  int n = xd.rank() - 2;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
  std::optional<double> sc[3];
  for (int i = 0; i < n; ++i) {
    in[3 - n + i] = xd[i + 2];
    out[3 - n + i] = yd[i + 2];
    if (!p.scales.empty()) sc[3 - n + i] = p.scales[static_cast<size_t>(i)];
  }
  auto taps = [&](int d, int64_t o) {
    if (d < 3 - n) return std::vector<Tap>{{0, 1.0}};
    return axis_taps(p.mode, p.align_corners, in[d], out[d], sc[d], o, n == 2);
  };
  std::vector<double> y;
  for (int64_t c = 0; c < xd[0] * xd[1]; ++c)
    for (int64_t oz = 0; oz < out[0]; ++oz)
      for (int64_t oy = 0; oy < out[1]; ++oy)
        for (int64_t ox = 0; ox < out[2]; ++ox) {
          double acc = 0;
          for (Tap tz : taps(0, oz))
            for (Tap ty : taps(1, oy))
              for (Tap tx : taps(2, ox))
                acc += tz.weight * ty.weight * tx.weight *
                       x[static_cast<size_t>(((c * in[0] + tz.index) * in[1] + ty.index) * in[2] +
                                             tx.index)];
          y.push_back(acc);
        }
  return y;
}

ResizeParams resize_params(ResizeMode mode, bool align, std::vector<int64_t> sizes,
                           std::vector<double> scales = {}) {
  ResizeParams p;
  p.mode = mode;
  p.align_corners = align;
  p.sizes = std::move(sizes);
  p.scales = std::move(scales);
  return p;
}

Dims resized_dims(const Dims& xd, const ResizeParams& p) {
  Dims o{xd[0], xd[1]};
  for (int i = 0; i < xd.rank() - 2; ++i) {
    auto u = static_cast<size_t>(i);
    o.push_back(p.sizes.empty() ? static_cast<int64_t>(std::floor(double(xd[i + 2]) * p.scales[u]))
                                : p.sizes[u]);
  }
  return o;
}

HostTensor run_resize(const HostTensor& x, const ResizeParams& p) {
  Network net;
  Tensor t = must(net.add_input("x", x.type.dtype, x.type.dims));
  EXPECT_TRUE(net.mark_output(must(net.add_resize(t, p)), "y").ok());
  auto out = build_and_run(net, {x});
  return out.size() == 1 ? out[0] : HostTensor{};
}

void check_resize(DataType dt, const Dims& xd, const ResizeParams& p) {
  SCOPED_TRACE(std::string(dtype_name(dt)) + " x " + xd.to_string() + " mode " +
               std::to_string(int(p.mode)) + (p.align_corners ? " align_corners" : "") +
               (p.scales.empty() ? " sizes" : " scales"));
  HostTensor x = is_floating(dt) ? random_tensor(dt, xd) : random_tensor(dt, xd, 0, 100);
  HostTensor y = run_resize(x, p);
  Dims yd = resized_dims(xd, p);
  ASSERT_TRUE(has_type(y, dt, yd));
  double tol = default_tolerance(dt);
  EXPECT_TRUE(all_close(y, reference_resize(to_doubles(x), xd, yd, p), tol, tol));
}

// ---- resize tests ----

TEST(CpuResize, HandComputedBilinear) {
  HostTensor x = make_tensor(DataType::kFloat32, Dims{1, 1, 2, 2}, {0, 1, 2, 3});
  HostTensor y = run_resize(x, resize_params(ResizeMode::kLinear, false, {4, 4}));
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 1, 4, 4}));
  // torch.nn.functional.interpolate(x, size=4, mode="bilinear"): 2 * a_row + a_col, a = [0 .25 .75
  // 1]
  EXPECT_TRUE(all_close(
      y, {0, .25, .75, 1, .5, .75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3}, 0, 1e-6));
  y = run_resize(x, resize_params(ResizeMode::kLinear, true, {3, 3}));
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 1, 3, 3}));
  EXPECT_TRUE(all_close(y, {0, .5, 1, 1, 1.5, 2, 2, 2.5, 3}, 0, 1e-6));
}

TEST(CpuResize, HandComputedNearest) {
  HostTensor x = make_tensor(DataType::kFloat32, Dims{1, 1, 2}, {10, 20});
  HostTensor y = run_resize(x, resize_params(ResizeMode::kNearest, false, {5}));
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 1, 5}));
  EXPECT_TRUE(all_close(y, {10, 10, 10, 20, 20}, 0, 0));  // floor(o * 0.4)
  y = run_resize(x, resize_params(ResizeMode::kNearestExact, false, {5}));
  EXPECT_TRUE(all_close(y, {10, 10, 20, 20, 20}, 0, 0));  // floor((o + 0.5) * 0.4)
  HostTensor x5 = make_tensor(DataType::kFloat32, Dims{1, 1, 5}, {1, 2, 3, 4, 5});
  y = run_resize(x5, resize_params(ResizeMode::kNearest, false, {2}));
  EXPECT_TRUE(all_close(y, {1, 3}, 0, 0));  // floor(o * 2.5)
  y = run_resize(x5, resize_params(ResizeMode::kNearestExact, false, {2}));
  EXPECT_TRUE(all_close(y, {2, 4}, 0, 0));  // floor((o + 0.5) * 2.5)
}

TEST(CpuResize, HandComputedNearestScaleFactorSizeShortcuts) {
  // Values read from torch 2.11 (CPU) F.interpolate(mode="nearest", scale_factor=...).
  HostTensor x = make_tensor(DataType::kFloat32, Dims{1, 1, 5}, {0, 1, 2, 3, 4});
  HostTensor y = run_resize(x, resize_params(ResizeMode::kNearest, false, {}, {2.1}));
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 1, 10}));
  EXPECT_TRUE(all_close(y, {0, 0, 0, 1, 1, 2, 2, 3, 3, 4}, 0, 0));  // 1-d: floor(o / 2.1)
  HostTensor x2 = make_tensor(DataType::kFloat32, Dims{1, 1, 1, 5}, {0, 1, 2, 3, 4});
  y = run_resize(x2, resize_params(ResizeMode::kNearest, false, {}, {1.0, 2.1}));
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 1, 1, 10}));
  EXPECT_TRUE(all_close(y, {0, 0, 1, 1, 2, 2, 3, 3, 4, 4}, 0, 0));  // 2-d: out == 2 * in -> o / 2
  HostTensor x3 = make_tensor(DataType::kFloat32, Dims{1, 1, 3}, {0, 1, 2});
  y = run_resize(x3, resize_params(ResizeMode::kNearest, false, {}, {1.2}));
  EXPECT_TRUE(all_close(y, {0, 0, 1}, 0, 0));  // 1-d: floor(o / 1.2)
  HostTensor x4 = make_tensor(DataType::kFloat32, Dims{1, 1, 3, 1}, {0, 1, 2});
  y = run_resize(x4, resize_params(ResizeMode::kNearest, false, {}, {1.2, 1.0}));
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 1, 3, 1}));
  EXPECT_TRUE(all_close(y, {0, 1, 2}, 0, 0));  // 2-d: out == in -> copy
}

TEST(CpuResize, HandComputedLinearScaleFactor) {
  // scale_factor 2.5 on 2 elements: 5 outputs, coordinates (o + 0.5) / 2.5 - 0.5 clamped at 0.
  HostTensor x = make_tensor(DataType::kFloat32, Dims{1, 1, 2}, {0, 10});
  HostTensor y = run_resize(x, resize_params(ResizeMode::kLinear, false, {}, {2.5}));
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 1, 5}));
  EXPECT_TRUE(all_close(y, {0, 1, 5, 9, 10}, 0, 1e-5));
  // scale_factor 1.6 on 3 elements: floor(4.8) = 4 outputs, but coordinates use 1/1.6, not 3/4.
  HostTensor x3 = make_tensor(DataType::kFloat32, Dims{1, 1, 3}, {0, 10, 20});
  y = run_resize(x3, resize_params(ResizeMode::kLinear, false, {}, {1.6}));
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 1, 4}));
  EXPECT_TRUE(all_close(y, {0, 4.375, 10.625, 16.875}, 0, 1e-4));
}

TEST(CpuResize, BicubicPreservesConstants) {
  HostTensor x = make_tensor(DataType::kFloat32, Dims{1, 2, 3, 4}, std::vector<double>(24, 1.75));
  for (bool align : {false, true}) {
    HostTensor y = run_resize(x, resize_params(ResizeMode::kCubic, align, {7, 3}));
    ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 2, 7, 3}));
    EXPECT_TRUE(all_close(y, std::vector<double>(42, 1.75), 0, 1e-5));
  }
}

TEST(CpuResize, NearestModes) {
  for (ResizeMode mode : {ResizeMode::kNearest, ResizeMode::kNearestExact}) {
    check_resize(DataType::kFloat32, Dims{2, 3, 7}, resize_params(mode, false, {12}));
    check_resize(DataType::kFloat32, Dims{2, 3, 7}, resize_params(mode, false, {3}));
    check_resize(DataType::kFloat32, Dims{1, 2, 5, 6}, resize_params(mode, false, {9, 4}));
    check_resize(DataType::kFloat32, Dims{1, 2, 5, 6}, resize_params(mode, false, {}, {2.0, 0.5}));
    check_resize(DataType::kFloat32, Dims{1, 2, 5, 6}, resize_params(mode, false, {}, {1.7, 2.3}));
    check_resize(DataType::kFloat32, Dims{1, 2, 5, 4}, resize_params(mode, false, {}, {2.1, 1.2}));
    check_resize(DataType::kFloat32, Dims{1, 2, 3, 4, 5}, resize_params(mode, false, {5, 2, 8}));
    check_resize(DataType::kFloat32, Dims{1, 2, 3, 4, 5},
                 resize_params(mode, false, {}, {2.0, 1.5, 0.6}));
  }
}

TEST(CpuResize, NearestIntegerDtypes) {
  for (DataType dt :
       {DataType::kUInt8, DataType::kInt32, DataType::kInt64, DataType::kInt8, DataType::kBool})
    check_resize(dt, Dims{1, 2, 4, 5}, resize_params(ResizeMode::kNearest, false, {7, 3}));
  check_resize(DataType::kUInt8, Dims{1, 2, 4, 5},
               resize_params(ResizeMode::kNearestExact, false, {}, {1.5, 2.0}));
}

TEST(CpuResize, Linear1d2d3d) {
  for (bool align : {false, true}) {
    check_resize(DataType::kFloat32, Dims{2, 3, 7},
                 resize_params(ResizeMode::kLinear, align, {13}));
    check_resize(DataType::kFloat32, Dims{2, 3, 7}, resize_params(ResizeMode::kLinear, align, {4}));
    check_resize(DataType::kFloat32, Dims{2, 3, 7},
                 resize_params(ResizeMode::kLinear, align, {}, {2.5}));
    check_resize(DataType::kFloat32, Dims{1, 2, 5, 6},
                 resize_params(ResizeMode::kLinear, align, {9, 4}));
    check_resize(DataType::kFloat32, Dims{1, 2, 5, 6},
                 resize_params(ResizeMode::kLinear, align, {}, {2.0, 0.5}));
    check_resize(DataType::kFloat32, Dims{1, 2, 5, 6},
                 resize_params(ResizeMode::kLinear, align, {5, 1}));
    check_resize(DataType::kFloat32, Dims{1, 2, 3, 4, 5},
                 resize_params(ResizeMode::kLinear, align, {5, 2, 8}));
    check_resize(DataType::kFloat32, Dims{1, 2, 3, 4, 5},
                 resize_params(ResizeMode::kLinear, align, {}, {1.5, 0.75, 2.0}));
  }
}

TEST(CpuResize, Bicubic) {
  for (bool align : {false, true}) {
    check_resize(DataType::kFloat32, Dims{2, 3, 5, 6},
                 resize_params(ResizeMode::kCubic, align, {11, 9}));
    check_resize(DataType::kFloat32, Dims{2, 3, 9, 8},
                 resize_params(ResizeMode::kCubic, align, {4, 3}));
    check_resize(DataType::kFloat32, Dims{1, 2, 5, 6},
                 resize_params(ResizeMode::kCubic, align, {}, {2.0, 0.7}));
    check_resize(DataType::kFloat32, Dims{1, 2, 5, 6},
                 resize_params(ResizeMode::kCubic, align, {}, {1.3, 3.0}));
  }
}

TEST(CpuResize, EveryFloatDtype) {
  for (DataType dt : kFloatTypes) {
    check_resize(dt, Dims{1, 2, 5, 6}, resize_params(ResizeMode::kNearest, false, {8, 3}));
    check_resize(dt, Dims{1, 2, 5, 6}, resize_params(ResizeMode::kLinear, false, {8, 3}));
    check_resize(dt, Dims{1, 2, 5, 6}, resize_params(ResizeMode::kLinear, true, {}, {1.5, 2.0}));
    check_resize(dt, Dims{1, 2, 5, 6}, resize_params(ResizeMode::kCubic, false, {8, 3}));
  }
}

TEST(CpuResize, SizesTensorInput) {
  Network net;
  Tensor t = must(net.add_input("x", DataType::kFloat32, Dims{1, 2, 4, 5}));
  Tensor sizes = must(net.add_int_vector({7, 3}));
  ResizeParams p = resize_params(ResizeMode::kLinear, false, {});
  ASSERT_TRUE(net.mark_output(must(net.add_resize(t, p, sizes)), "y").ok());
  HostTensor x = random_tensor(DataType::kFloat32, Dims{1, 2, 4, 5});
  auto out = build_and_run(net, {x});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(has_type(out[0], DataType::kFloat32, Dims{1, 2, 7, 3}));
  p.sizes = {7, 3};
  EXPECT_TRUE(all_close(
      out[0], reference_resize(to_doubles(x), Dims{1, 2, 4, 5}, Dims{1, 2, 7, 3}, p), 1e-5, 1e-5));
}

// ---- pad reference ----

/// Source index along one axis, or -1 for the constant.
int64_t pad_src(PadMode mode, int64_t o, int64_t begin, int64_t in) {
  int64_t i = o - begin;
  if (i >= 0 && i < in) return i;
  switch (mode) {
    case PadMode::kConstant:
      return -1;
    case PadMode::kReplicate:
      return i < 0 ? 0 : in - 1;
    case PadMode::kReflect:
      return i < 0 ? -i : 2 * (in - 1) - i;
    case PadMode::kCircular:
      return i < 0 ? i + in : i - in;
  }
  return -1;
}

std::vector<double> reference_pad(const std::vector<double>& x, const Dims& xd,
                                  const PadParams& p) {
  int r = xd.rank();
  Dims yd = xd;
  for (int d = 0; d < r; ++d)
    yd[d] += p.pads_begin[static_cast<size_t>(d)] + p.pads_end[static_cast<size_t>(d)];
  std::vector<double> y;
  for (int64_t e = 0; e < yd.volume(); ++e) {
    int64_t rem = e, off = 0, stride = 1;
    bool constant = false;
    for (int d = r - 1; d >= 0; --d) {
      int64_t o = rem % yd[d];
      rem /= yd[d];
      int64_t s = pad_src(p.mode, o, p.pads_begin[static_cast<size_t>(d)], xd[d]);
      constant |= s < 0;
      off += s * stride;
      stride *= xd[d];
    }
    y.push_back(constant ? p.value : x[static_cast<size_t>(off)]);
  }
  return y;
}

HostTensor run_pad(const HostTensor& x, const PadParams& p) {
  Network net;
  Tensor t = must(net.add_input("x", x.type.dtype, x.type.dims));
  EXPECT_TRUE(net.mark_output(must(net.add_pad(t, p)), "y").ok());
  auto out = build_and_run(net, {x});
  return out.size() == 1 ? out[0] : HostTensor{};
}

void check_pad(DataType dt, const Dims& xd, PadMode mode, std::vector<int64_t> begin,
               std::vector<int64_t> end, double value = 0.0) {
  PadParams p{std::move(begin), std::move(end), mode, value};
  SCOPED_TRACE(std::string(dtype_name(dt)) + " x " + xd.to_string() + " mode " +
               std::to_string(int(mode)));
  HostTensor x = is_floating(dt) ? random_tensor(dt, xd) : random_tensor(dt, xd, 0, 100);
  HostTensor y = run_pad(x, p);
  Dims yd = xd;
  for (int d = 0; d < xd.rank(); ++d)
    yd[d] += p.pads_begin[static_cast<size_t>(d)] + p.pads_end[static_cast<size_t>(d)];
  ASSERT_TRUE(has_type(y, dt, yd));
  EXPECT_TRUE(all_close(y, reference_pad(to_doubles(x), xd, p), 0, 0));
}

// ---- pad tests ----

TEST(CpuPad, HandComputedModes) {
  HostTensor x = make_tensor(DataType::kFloat32, Dims{1, 3}, {1, 2, 3});
  auto pad = [&](PadMode mode) { return run_pad(x, PadParams{{0, 2}, {0, 2}, mode, 9.0}); };
  HostTensor y = pad(PadMode::kConstant);
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 7}));
  EXPECT_TRUE(all_close(y, {9, 9, 1, 2, 3, 9, 9}, 0, 0));
  EXPECT_TRUE(all_close(pad(PadMode::kReflect), {3, 2, 1, 2, 3, 2, 1}, 0, 0));
  EXPECT_TRUE(all_close(pad(PadMode::kReplicate), {1, 1, 1, 2, 3, 3, 3}, 0, 0));
  EXPECT_TRUE(all_close(pad(PadMode::kCircular), {2, 3, 1, 2, 3, 1, 2}, 0, 0));
}

TEST(CpuPad, NegativePadsCrop) {
  HostTensor x = make_tensor(DataType::kFloat32, Dims{5}, {1, 2, 3, 4, 5});
  HostTensor y = run_pad(x, PadParams{{-1}, {2}, PadMode::kConstant, 0.0});
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{6}));
  EXPECT_TRUE(all_close(y, {2, 3, 4, 5, 0, 0}, 0, 0));
  y = run_pad(x, PadParams{{-2}, {-1}, PadMode::kConstant, 0.0});
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{2}));
  EXPECT_TRUE(all_close(y, {3, 4}, 0, 0));
  check_pad(DataType::kFloat32, Dims{3, 6, 7}, PadMode::kConstant, {0, -2, 1}, {-1, 1, -3}, -4.5);
}

TEST(CpuPad, EveryModeRandom) {
  for (PadMode mode :
       {PadMode::kConstant, PadMode::kReflect, PadMode::kReplicate, PadMode::kCircular}) {
    check_pad(DataType::kFloat32, Dims{2, 3, 9}, mode, {0, 0, 3}, {0, 0, 2}, 1.5);
    check_pad(DataType::kFloat32, Dims{2, 3, 5, 6}, mode, {0, 0, 2, 1}, {0, 0, 4, 5});
    check_pad(DataType::kFloat32, Dims{1, 2, 4, 5, 6}, mode, {0, 1, 3, 0, 2}, {0, 1, 1, 4, 5});
  }
}

TEST(CpuPad, Dtypes) {
  for (DataType dt : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt32,
                      DataType::kInt64, DataType::kInt8, DataType::kUInt8}) {
    check_pad(dt, Dims{2, 4, 5}, PadMode::kConstant, {1, 0, 2}, {0, 3, 1}, 7.0);
    check_pad(dt, Dims{2, 4, 5}, PadMode::kReflect, {0, 2, 3}, {0, 1, 4});
  }
  HostTensor b = make_tensor(DataType::kBool, Dims{3}, {1, 0, 1});
  HostTensor y = run_pad(b, PadParams{{2}, {1}, PadMode::kConstant, 1.0});
  ASSERT_TRUE(has_type(y, DataType::kBool, Dims{6}));
  EXPECT_TRUE(all_close(y, {1, 1, 1, 0, 1, 1}, 0, 0));
  y = run_pad(b, PadParams{{1}, {2}, PadMode::kCircular, 0.0});
  EXPECT_TRUE(all_close(y, {1, 1, 0, 1, 1, 0}, 0, 0));
}

// ---- dynamic batch ----

TEST(CpuResizePad, DynamicBatch) {
  Network net;
  Tensor t = must(net.add_input("x", DataType::kFloat32, Dims{-1, 2, 5, 4}));
  ResizeParams rp = resize_params(ResizeMode::kLinear, false, {}, {2.0, 1.5});
  PadParams pp{{0, 0, 1, 2}, {0, 0, 2, 1}, PadMode::kReflect, 0.0};
  Tensor r = must(net.add_resize(t, rp));
  Tensor q = must(net.add_pad(t, pp));
  ASSERT_TRUE(net.mark_output(r, "r").ok());
  ASSERT_TRUE(net.mark_output(q, "q").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.profiles.push_back(
      OptimizationProfile{}.set("x", Dims{1, 2, 5, 4}, Dims{2, 2, 5, 4}, Dims{4, 2, 5, 4}));
  auto plan = Builder::build(net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  for (int64_t batch : {3, 1}) {
    Dims xd{batch, 2, 5, 4};
    HostTensor x = random_tensor(DataType::kFloat32, xd);
    auto out = testing::run_engine(**engine, {x});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    ASSERT_EQ(out->size(), 2u);
    ASSERT_TRUE(has_type((*out)[0], DataType::kFloat32, Dims{batch, 2, 10, 6}));
    EXPECT_TRUE(all_close((*out)[0], reference_resize(to_doubles(x), xd, Dims{batch, 2, 10, 6}, rp),
                          1e-5, 1e-5));
    ASSERT_TRUE(has_type((*out)[1], DataType::kFloat32, Dims{batch, 2, 8, 7}));
    EXPECT_TRUE(all_close((*out)[1], reference_pad(to_doubles(x), xd, pp), 0, 0));
  }
}

TEST(CpuResizePad, ZeroBatch) {
  Network net;
  Tensor t = must(net.add_input("x", DataType::kFloat32, Dims{-1, 2, 5, 4}));
  ASSERT_TRUE(net.mark_output(
                     must(net.add_resize(t, resize_params(ResizeMode::kCubic, false, {7, 7}))), "r")
                  .ok());
  ASSERT_TRUE(net.mark_output(must(net.add_pad(
                                  t, PadParams{{0, 0, 1, 1}, {0, 0, 1, 1}, PadMode::kCircular, 0})),
                              "q")
                  .ok());
  BuilderConfig cfg;
  cfg.profiles.push_back(
      OptimizationProfile{}.set("x", Dims{0, 2, 5, 4}, Dims{1, 2, 5, 4}, Dims{2, 2, 5, 4}));
  auto out = build_and_run(net, {random_tensor(DataType::kFloat32, Dims{0, 2, 5, 4})}, cfg);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(has_type(out[0], DataType::kFloat32, Dims{0, 2, 7, 7}));
  EXPECT_TRUE(has_type(out[1], DataType::kFloat32, Dims{0, 2, 7, 6}));
}

}  // namespace
}  // namespace kiln
