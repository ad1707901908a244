// CPU convolution and transposed convolution against a direct nested-loop float64 reference (no
// im2col), plus hand-computed cases, every float dtype, dynamic batch and a resnet-like timing run.
#include <chrono>
#include <cmath>
#include <cstdio>
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

/// One convolution test case; empty parameter vectors mean the defaults.
struct ConvCase {
  Dims x{}, w{};
  std::vector<int64_t> strides{}, pads_begin{}, pads_end{}, dilations{}, output_padding{};
  int64_t groups = 1;
  bool transposed = false;
  bool bias = true;
};

std::vector<int64_t> or_fill(const std::vector<int64_t>& v, size_t n, int64_t fill) {
  return v.empty() ? std::vector<int64_t>(n, fill) : v;
}

/// Parameters with every field filled (as the reference needs them).
ConvolutionParams full_params(const ConvCase& c) {
  auto n = static_cast<size_t>(c.x.rank() - 2);
  ConvolutionParams p;
  p.strides = or_fill(c.strides, n, 1);
  p.dilations = or_fill(c.dilations, n, 1);
  p.pads_begin = or_fill(c.pads_begin, n, 0);
  p.pads_end = c.pads_end.empty() ? p.pads_begin : c.pads_end;
  p.output_padding = c.transposed ? or_fill(c.output_padding, n, 0) : std::vector<int64_t>{};
  p.groups = c.groups;
  p.transposed = c.transposed;
  return p;
}

/// Output dims by the PyTorch formulas.
Dims expected_dims(const ConvCase& c, const ConvolutionParams& p) {
  Dims o{c.x[0], c.transposed ? c.w[1] * c.groups : c.w[0]};
  for (int i = 0; i < c.x.rank() - 2; ++i) {
    auto u = static_cast<size_t>(i);
    int64_t eff = p.dilations[u] * (c.w[i + 2] - 1) + 1;
    int64_t in = c.x[i + 2];
    o.push_back(c.transposed ? (in - 1) * p.strides[u] - p.pads_begin[u] - p.pads_end[u] + eff +
                                   p.output_padding[u]
                             : (in + p.pads_begin[u] + p.pads_end[u] - eff) / p.strides[u] + 1);
  }
  return o;
}

/// Spatial extents padded at the front to 3 dims, plus per-axis parameters.
struct Spatial3 {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1};
  int64_t s[3] = {1, 1, 1}, pad[3] = {0, 0, 0}, dil[3] = {1, 1, 1};
};

Spatial3 spatial3(const Dims& x, const Dims& w, const Dims& y, const ConvolutionParams& p) {
  Spatial3 g;
  int n = x.rank() - 2;
  for (int i = 0; i < n; ++i) {
    int d = 3 - n + i;
    auto u = static_cast<size_t>(i);
    g.in[d] = x[i + 2];
    g.out[d] = y[i + 2];
    g.k[d] = w[i + 2];
    g.s[d] = p.strides[u];
    g.pad[d] = p.pads_begin[u];
    g.dil[d] = p.dilations[u];
  }
  return g;
}

/// Direct convolution: y[n, oc, o] = b[oc] + sum_{ic in group, k} x[n, ic, o*s - pad + k*dil] w[oc,
/// ic, k].
std::vector<double> reference_conv(const std::vector<double>& x, const Dims& xd,
                                   const std::vector<double>& w, const Dims& wd,
                                   const std::vector<double>& b, const ConvolutionParams& p,
                                   const Dims& yd) {
  Spatial3 g = spatial3(xd, wd, yd, p);
  int64_t cin = xd[1], cout = yd[1], cin_g = cin / p.groups, cout_g = cout / p.groups;
  std::vector<double> y(static_cast<size_t>(yd.volume()));
  size_t yi = 0;
  for (int64_t n = 0; n < xd[0]; ++n)
    for (int64_t oc = 0; oc < cout; ++oc)
      for (int64_t oz = 0; oz < g.out[0]; ++oz)
        for (int64_t oy = 0; oy < g.out[1]; ++oy)
          for (int64_t ox = 0; ox < g.out[2]; ++ox) {
            double acc = b.empty() ? 0.0 : b[static_cast<size_t>(oc)];
            int64_t grp = oc / cout_g;
            for (int64_t icg = 0; icg < cin_g; ++icg)
              for (int64_t kz = 0; kz < g.k[0]; ++kz)
                for (int64_t ky = 0; ky < g.k[1]; ++ky)
                  for (int64_t kx = 0; kx < g.k[2]; ++kx) {
                    int64_t iz = oz * g.s[0] - g.pad[0] + kz * g.dil[0];
                    int64_t iy = oy * g.s[1] - g.pad[1] + ky * g.dil[1];
                    int64_t ix = ox * g.s[2] - g.pad[2] + kx * g.dil[2];
                    if (iz < 0 || iz >= g.in[0] || iy < 0 || iy >= g.in[1] || ix < 0 ||
                        ix >= g.in[2])
                      continue;
                    int64_t ic = grp * cin_g + icg;
                    int64_t xo = (((n * cin + ic) * g.in[0] + iz) * g.in[1] + iy) * g.in[2] + ix;
                    int64_t wo = (((oc * cin_g + icg) * g.k[0] + kz) * g.k[1] + ky) * g.k[2] + kx;
                    acc += x[static_cast<size_t>(xo)] * w[static_cast<size_t>(wo)];
                  }
            y[yi++] = acc;
          }
  return y;
}

/// Direct transposed convolution: every x[n, ic, i] adds x * w[ic, oc, k] at o = i*s - pad + k*dil.
std::vector<double> reference_conv_transposed(const std::vector<double>& x, const Dims& xd,
                                              const std::vector<double>& w, const Dims& wd,
                                              const std::vector<double>& b,
                                              const ConvolutionParams& p, const Dims& yd) {
  Spatial3 g = spatial3(xd, wd, yd, p);
  int64_t cin = xd[1], cout = yd[1], cin_g = cin / p.groups, cout_g = cout / p.groups;
  int64_t out_vol = g.out[0] * g.out[1] * g.out[2];
  std::vector<double> y(static_cast<size_t>(yd.volume()), 0.0);
  for (int64_t n = 0; n < xd[0]; ++n)
    for (int64_t oc = 0; oc < cout; ++oc)
      for (int64_t i = 0; i < out_vol; ++i)
        y[static_cast<size_t>((n * cout + oc) * out_vol + i)] =
            b.empty() ? 0.0 : b[static_cast<size_t>(oc)];
  for (int64_t n = 0; n < xd[0]; ++n)
    for (int64_t ic = 0; ic < cin; ++ic)
      for (int64_t iz = 0; iz < g.in[0]; ++iz)
        for (int64_t iy = 0; iy < g.in[1]; ++iy)
          for (int64_t ix = 0; ix < g.in[2]; ++ix) {
            double xv = x[static_cast<size_t>(
                (((n * cin + ic) * g.in[0] + iz) * g.in[1] + iy) * g.in[2] + ix)];
            int64_t grp = ic / cin_g;
            for (int64_t ocg = 0; ocg < cout_g; ++ocg)
              for (int64_t kz = 0; kz < g.k[0]; ++kz)
                for (int64_t ky = 0; ky < g.k[1]; ++ky)
                  for (int64_t kx = 0; kx < g.k[2]; ++kx) {
                    int64_t oz = iz * g.s[0] - g.pad[0] + kz * g.dil[0];
                    int64_t oy = iy * g.s[1] - g.pad[1] + ky * g.dil[1];
                    int64_t ox = ix * g.s[2] - g.pad[2] + kx * g.dil[2];
                    if (oz < 0 || oz >= g.out[0] || oy < 0 || oy >= g.out[1] || ox < 0 ||
                        ox >= g.out[2])
                      continue;
                    int64_t oc = grp * cout_g + ocg;
                    int64_t wo = (((ic * cout_g + ocg) * g.k[0] + kz) * g.k[1] + ky) * g.k[2] + kx;
                    int64_t yo =
                        (((n * cout + oc) * g.out[0] + oz) * g.out[1] + oy) * g.out[2] + ox;
                    y[static_cast<size_t>(yo)] += xv * w[static_cast<size_t>(wo)];
                  }
          }
  return y;
}

/// Builds the one-layer network for `c` (x an input, weight and bias constants); returns the
/// output.
Tensor add_conv_network(Network& net, const ConvCase& c, DataType dt, const HostTensor& w,
                        const HostTensor* b, const Dims& input_dims) {
  Tensor x = must(net.add_input("x", dt, input_dims));
  Tensor wt = testing::add_constant(net, w);
  Tensor bt = b ? testing::add_constant(net, *b) : Tensor{};
  ConvolutionParams p;  // leave defaults to Network::add_convolution where the case does
  p.strides = c.strides;
  p.pads_begin = c.pads_begin;
  p.pads_end = c.pads_end;
  p.dilations = c.dilations;
  p.output_padding = c.output_padding;
  p.groups = c.groups;
  p.transposed = c.transposed;
  Tensor y = must(net.add_convolution(x, wt, bt, p));
  EXPECT_TRUE(net.mark_output(y, "y").ok());
  return y;
}

/// Runs case `c` in dtype `dt` on random data and compares with the reference.
void check_conv(const ConvCase& c, DataType dt) {
  SCOPED_TRACE(std::string("dtype ") + std::string(dtype_name(dt)) + " x " + c.x.to_string() +
               " w " + c.w.to_string() + (c.transposed ? " transposed" : "") + " groups " +
               std::to_string(c.groups));
  ConvolutionParams p = full_params(c);
  int64_t cout = c.transposed ? c.w[1] * c.groups : c.w[0];
  HostTensor x = random_tensor(dt, c.x);
  HostTensor w = random_tensor(dt, c.w);
  HostTensor b = random_tensor(dt, Dims{cout});
  Network net;
  add_conv_network(net, c, dt, w, c.bias ? &b : nullptr, c.x);
  auto out = build_and_run(net, {x});
  ASSERT_EQ(out.size(), 1u);
  Dims yd = expected_dims(c, p);
  ASSERT_TRUE(has_type(out[0], dt, yd));
  std::vector<double> bias = c.bias ? to_doubles(b) : std::vector<double>{};
  std::vector<double> want =
      c.transposed ? reference_conv_transposed(to_doubles(x), c.x, to_doubles(w), c.w, bias, p, yd)
                   : reference_conv(to_doubles(x), c.x, to_doubles(w), c.w, bias, p, yd);
  double tol = default_tolerance(dt);
  EXPECT_TRUE(all_close(out[0], want, tol, tol));
}

// ---- hand-computed ----

TEST(CpuConvolution, HandComputed2x2Kernel) {
  Network net;
  Tensor x = must(net.add_input("x", DataType::kFloat32, Dims{1, 1, 3, 3}));
  Tensor w =
      testing::add_constant(net, make_tensor(DataType::kFloat32, Dims{1, 1, 2, 2}, {1, 2, 3, 4}));
  Tensor b = testing::add_constant(net, make_tensor(DataType::kFloat32, Dims{1}, {0.5}));
  Tensor y = must(net.add_convolution(x, w, b, {}));
  ASSERT_TRUE(net.mark_output(y, "y").ok());
  auto out = build_and_run(
      net, {make_tensor(DataType::kFloat32, Dims{1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9})});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(has_type(out[0], DataType::kFloat32, Dims{1, 1, 2, 2}));
  // [1 2; 4 5].[1 2; 3 4] = 1+4+12+20 = 37, and so on, plus 0.5.
  EXPECT_TRUE(all_close(out[0], {37.5, 47.5, 67.5, 77.5}, 0, 1e-6));
}

TEST(CpuConvolution, HandComputedPaddedStrided1d) {
  Network net;
  Tensor x = must(net.add_input("x", DataType::kFloat32, Dims{1, 1, 4}));
  Tensor w =
      testing::add_constant(net, make_tensor(DataType::kFloat32, Dims{1, 1, 3}, {1, 10, 100}));
  ConvolutionParams p;
  p.strides = {2};
  p.pads_begin = {1};
  p.pads_end = {2};
  Tensor y = must(net.add_convolution(x, w, Tensor{}, p));
  ASSERT_TRUE(net.mark_output(y, "y").ok());
  auto out = build_and_run(net, {make_tensor(DataType::kFloat32, Dims{1, 1, 4}, {1, 2, 3, 4})});
  ASSERT_EQ(out.size(), 1u);
  // padded: [0 1 2 3 4 0 0]; windows at 0, 2, 4: [0 1 2] [2 3 4] [4 0 0]
  ASSERT_TRUE(has_type(out[0], DataType::kFloat32, Dims{1, 1, 3}));
  EXPECT_TRUE(all_close(out[0], {210, 432, 4}, 0, 1e-5));
}

TEST(CpuConvolution, HandComputedTransposedStride2) {
  Network net;
  Tensor x = must(net.add_input("x", DataType::kFloat32, Dims{1, 1, 2, 2}));
  Tensor w =
      testing::add_constant(net, make_tensor(DataType::kFloat32, Dims{1, 1, 2, 2}, {1, 2, 3, 4}));
  ConvolutionParams p;
  p.transposed = true;
  p.strides = {2, 2};
  Tensor y = must(net.add_convolution(x, w, Tensor{}, p));
  ASSERT_TRUE(net.mark_output(y, "y").ok());
  auto out =
      build_and_run(net, {make_tensor(DataType::kFloat32, Dims{1, 1, 2, 2}, {1, 10, 100, 1000})});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(has_type(out[0], DataType::kFloat32, Dims{1, 1, 4, 4}));
  // Each input value stamps value * kernel into its own 2x2 block.
  EXPECT_TRUE(all_close(
      out[0], {1, 2, 10, 20, 3, 4, 30, 40, 100, 200, 1000, 2000, 300, 400, 3000, 4000}, 0, 1e-3));
}

TEST(CpuConvolution, HandComputedTransposedOverlap1d) {
  Network net;
  Tensor x = must(net.add_input("x", DataType::kFloat32, Dims{1, 1, 3}));
  Tensor w = testing::add_constant(net, make_tensor(DataType::kFloat32, Dims{1, 1, 3}, {1, 2, 3}));
  Tensor b = testing::add_constant(net, make_tensor(DataType::kFloat32, Dims{1}, {100}));
  ConvolutionParams p;
  p.transposed = true;
  p.pads_begin = {1};
  Tensor y = must(net.add_convolution(x, w, b, p));
  ASSERT_TRUE(net.mark_output(y, "y").ok());
  auto out = build_and_run(net, {make_tensor(DataType::kFloat32, Dims{1, 1, 3}, {1, 2, 3})});
  ASSERT_EQ(out.size(), 1u);
  // full: [1, 4, 10, 12, 9]; pad 1 each side crops to [4, 10, 12]
  ASSERT_TRUE(has_type(out[0], DataType::kFloat32, Dims{1, 1, 3}));
  EXPECT_TRUE(all_close(out[0], {104, 110, 112}, 0, 1e-4));
}

// ---- random cases against the reference ----

TEST(CpuConvolution, Conv1d) {
  check_conv({.x = Dims{2, 3, 11}, .w = Dims{4, 3, 3}}, DataType::kFloat32);
  check_conv({.x = Dims{1, 2, 13},
              .w = Dims{3, 2, 4},
              .strides = {3},
              .pads_begin = {2},
              .pads_end = {1},
              .dilations = {2}},
             DataType::kFloat32);
  check_conv(
      {.x = Dims{2, 4, 9}, .w = Dims{6, 2, 3}, .pads_begin = {1}, .groups = 2, .bias = false},
      DataType::kFloat32);
}

TEST(CpuConvolution, Conv2dBasic) {
  check_conv({.x = Dims{2, 3, 8, 7}, .w = Dims{5, 3, 3, 3}}, DataType::kFloat32);
  check_conv({.x = Dims{1, 3, 8, 7}, .w = Dims{5, 3, 3, 3}, .pads_begin = {1, 1}, .bias = false},
             DataType::kFloat32);
}

TEST(CpuConvolution, Conv2dStrideDilationAsymmetricPads) {
  check_conv({.x = Dims{2, 3, 10, 9},
              .w = Dims{4, 3, 3, 2},
              .strides = {2, 3},
              .pads_begin = {0, 2},
              .pads_end = {3, 1},
              .dilations = {2, 1}},
             DataType::kFloat32);
  check_conv({.x = Dims{1, 2, 12, 12},
              .w = Dims{3, 2, 3, 3},
              .strides = {1, 2},
              .pads_begin = {2, 0},
              .pads_end = {0, 2},
              .dilations = {3, 2}},
             DataType::kFloat32);
  // Kernel as large as the padded input: one output element.
  check_conv(
      {.x = Dims{1, 2, 3, 4}, .w = Dims{2, 2, 5, 5}, .pads_begin = {1, 0}, .pads_end = {1, 1}},
      DataType::kFloat32);
}

TEST(CpuConvolution, Conv2dPointwiseAndStridedOneByOne) {
  check_conv({.x = Dims{2, 8, 5, 6}, .w = Dims{4, 8, 1, 1}}, DataType::kFloat32);
  check_conv({.x = Dims{2, 8, 5, 6}, .w = Dims{4, 8, 1, 1}, .strides = {2, 2}}, DataType::kFloat32);
  check_conv({.x = Dims{1, 4, 5, 6}, .w = Dims{4, 4, 1, 1}, .pads_begin = {1, 1}},
             DataType::kFloat32);
}

TEST(CpuConvolution, Conv2dGroups) {
  check_conv({.x = Dims{2, 4, 7, 6}, .w = Dims{6, 2, 3, 3}, .pads_begin = {1, 1}, .groups = 2},
             DataType::kFloat32);
  check_conv(
      {.x = Dims{1, 6, 7, 6}, .w = Dims{9, 2, 2, 3}, .strides = {2, 1}, .groups = 3, .bias = false},
      DataType::kFloat32);
}

TEST(CpuConvolution, Conv2dDepthwise) {
  check_conv({.x = Dims{2, 5, 9, 8},
              .w = Dims{5, 1, 3, 3},
              .strides = {2, 2},
              .pads_begin = {1, 1},
              .groups = 5},
             DataType::kFloat32);
  // Channel multiplier 2.
  check_conv({.x = Dims{1, 3, 6, 6},
              .w = Dims{6, 1, 3, 3},
              .pads_begin = {1, 1},
              .dilations = {2, 2},
              .groups = 3},
             DataType::kFloat32);
}

TEST(CpuConvolution, Conv3d) {
  check_conv({.x = Dims{2, 2, 5, 6, 4}, .w = Dims{3, 2, 3, 3, 2}}, DataType::kFloat32);
  check_conv({.x = Dims{1, 4, 6, 5, 7},
              .w = Dims{4, 2, 2, 3, 3},
              .strides = {2, 1, 2},
              .pads_begin = {1, 0, 1},
              .pads_end = {0, 2, 1},
              .dilations = {1, 2, 1},
              .groups = 2},
             DataType::kFloat32);
}

TEST(CpuConvolution, EveryFloatDtype) {
  for (DataType dt : kFloatTypes) {
    check_conv({.x = Dims{2, 4, 6, 7},
                .w = Dims{6, 2, 3, 3},
                .strides = {2, 1},
                .pads_begin = {1, 1},
                .groups = 2},
               dt);
    check_conv({.x = Dims{1, 3, 9}, .w = Dims{2, 3, 2}, .dilations = {3}}, dt);
    check_conv({.x = Dims{1, 4, 5, 4},
                .w = Dims{4, 2, 3, 3},
                .strides = {2, 2},
                .pads_begin = {1, 1},
                .output_padding = {1, 0},
                .groups = 2,
                .transposed = true},
               dt);
  }
}

TEST(CpuConvolution, Transposed2dStride2OutputPadding) {
  check_conv({.x = Dims{2, 3, 4, 5},
              .w = Dims{3, 4, 3, 3},
              .strides = {2, 2},
              .pads_begin = {1, 1},
              .output_padding = {1, 1},
              .transposed = true},
             DataType::kFloat32);
  check_conv({.x = Dims{1, 2, 3, 3},
              .w = Dims{2, 3, 4, 4},
              .strides = {2, 2},
              .pads_begin = {1, 1},
              .transposed = true,
              .bias = false},
             DataType::kFloat32);
}

TEST(CpuConvolution, TransposedGroupsDilationAsymmetricPads) {
  check_conv({.x = Dims{2, 4, 5, 4},
              .w = Dims{4, 3, 3, 2},
              .strides = {2, 3},
              .pads_begin = {0, 1},
              .pads_end = {2, 0},
              .dilations = {2, 1},
              .output_padding = {1, 2},
              .groups = 2,
              .transposed = true},
             DataType::kFloat32);
  // Depthwise transposed.
  check_conv({.x = Dims{1, 3, 4, 4},
              .w = Dims{3, 1, 3, 3},
              .strides = {2, 2},
              .pads_begin = {1, 1},
              .output_padding = {1, 1},
              .groups = 3,
              .transposed = true},
             DataType::kFloat32);
}

TEST(CpuConvolution, Transposed1dAnd3d) {
  check_conv({.x = Dims{2, 3, 7},
              .w = Dims{3, 2, 4},
              .strides = {3},
              .pads_begin = {2},
              .output_padding = {1},
              .transposed = true},
             DataType::kFloat32);
  check_conv({.x = Dims{1, 2, 3, 4, 3},
              .w = Dims{2, 2, 3, 2, 3},
              .strides = {2, 1, 2},
              .pads_begin = {1, 0, 1},
              .output_padding = {1, 0, 0},
              .transposed = true},
             DataType::kFloat32);
}

TEST(CpuConvolution, DynamicBatch) {
  DataType dt = DataType::kFloat32;
  ConvCase c{
      .x = Dims{-1, 3, 6, 5}, .w = Dims{4, 3, 3, 3}, .strides = {2, 1}, .pads_begin = {1, 1}};
  HostTensor w = random_tensor(dt, c.w);
  HostTensor b = random_tensor(dt, Dims{4});
  Network net;
  add_conv_network(net, c, dt, w, &b, c.x);
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.profiles.push_back(
      OptimizationProfile{}.set("x", Dims{1, 3, 6, 5}, Dims{2, 3, 6, 5}, Dims{4, 3, 6, 5}));
  auto plan = Builder::build(net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  for (int64_t batch : {3, 1, 4}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    ConvCase cb = c;
    cb.x[0] = batch;
    ConvolutionParams p = full_params(cb);
    HostTensor x = random_tensor(dt, cb.x);
    auto out = testing::run_engine(**engine, {x});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    Dims yd = expected_dims(cb, p);
    ASSERT_TRUE(has_type((*out)[0], dt, yd));
    EXPECT_TRUE(all_close(
        (*out)[0], reference_conv(to_doubles(x), cb.x, to_doubles(w), cb.w, to_doubles(b), p, yd),
        1e-4, 1e-4));
  }
}

TEST(CpuConvolution, ZeroBatch) {
  for (bool transposed : {false, true}) {
    SCOPED_TRACE(transposed ? "transposed" : "forward");
    DataType dt = DataType::kFloat32;
    ConvCase c{
        .x = Dims{-1, 2, 5, 5}, .w = Dims{2, 2, 3, 3}, .strides = {2, 2}, .transposed = transposed};
    Network net;
    add_conv_network(net, c, dt, random_tensor(dt, c.w), nullptr, c.x);
    BuilderConfig cfg;
    cfg.profiles.push_back(
        OptimizationProfile{}.set("x", Dims{0, 2, 5, 5}, Dims{1, 2, 5, 5}, Dims{2, 2, 5, 5}));
    auto out = build_and_run(net, {random_tensor(dt, Dims{0, 2, 5, 5})}, cfg);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].type.dims[0], 0);
    EXPECT_EQ(out[0].numel(), 0);
  }
}

// torchvision resnet18's convolutions (batch 1, 224x224, basic blocks with residual adds and relu;
// no batch norm): checks it runs well within budget.
class ResnetLike {
 public:
  explicit ResnetLike(Network& net) : net_(net) {}
  double flops = 0;

  Tensor conv(Tensor x, int64_t cout, int64_t k, int64_t stride) {
    auto type = must(net_.tensor_type(x));
    int64_t cin = type.dims[1];
    double bound = std::sqrt(6.0 / static_cast<double>(cin * k * k));
    HostTensor w = random_tensor(DataType::kFloat32, Dims{cout, cin, k, k}, -bound, bound);
    ConvolutionParams p;
    p.strides = {stride, stride};
    p.pads_begin = {k / 2, k / 2};
    Tensor y = must(net_.add_convolution(x, testing::add_constant(net_, w), Tensor{}, p));
    flops += 2.0 * static_cast<double>(must(net_.tensor_type(y)).dims.volume() * cin * k * k);
    return y;
  }
  Tensor relu(Tensor x) { return must(net_.add_unary(x, UnaryOp::kRelu)); }
  Tensor block(Tensor x, int64_t cout, int64_t stride) {
    Tensor y = conv(relu(conv(x, cout, 3, stride)), cout, 3, 1);
    Tensor shortcut =
        (stride != 1 || must(net_.tensor_type(x)).dims[1] != cout) ? conv(x, cout, 1, stride) : x;
    return relu(must(net_.add_elementwise(y, shortcut, BinaryOp::kAdd)));
  }

 private:
  Network& net_;
};

TEST(CpuConvolution, ResnetLikeStackTiming) {
  DataType dt = DataType::kFloat32;
  Network net;
  ResnetLike r(net);
  Tensor t = must(net.add_input("x", dt, Dims{1, 3, 224, 224}));
  t = r.relu(r.conv(t, 64, 7, 2));
  PoolingParams mp;
  mp.kernel = {3, 3};
  mp.strides = {2, 2};
  mp.pads_begin = {1, 1};
  t = must(net.add_pooling(t, mp));
  for (int64_t c : {64, 128, 256, 512}) {
    t = r.block(t, c, c == 64 ? 1 : 2);
    t = r.block(t, c, 1);
  }
  t = must(net.add_adaptive_pooling(t, AdaptivePoolingParams{PoolingType::kAverage, {1, 1}}));
  ASSERT_TRUE(net.mark_output(t, "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  auto plan = Builder::build(net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  HostTensor x = random_tensor(dt, Dims{1, 3, 224, 224});
  ASSERT_TRUE(testing::run_engine(**engine, {x}).ok());  // warm-up
  auto t0 = std::chrono::steady_clock::now();
  auto out = testing::run_engine(**engine, {x});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_TRUE(has_type((*out)[0], dt, Dims{1, 512, 1, 1}));
  std::printf("[timing] resnet18-like network: %.2f GFLOP in %.3f s (%.1f GFLOP/s)\n",
              r.flops * 1e-9, seconds, r.flops * 1e-9 / seconds);
  for (double v : to_doubles((*out)[0])) ASSERT_TRUE(std::isfinite(v));
  EXPECT_LT(seconds, 5.0);
}

}  // namespace
}  // namespace kiln
