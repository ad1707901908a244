// CPU max/average pooling and adaptive pooling against direct float64 loops written from torch's
// formulas, plus hand-computed cases (ceil_mode windows past the padded end, divisor rules).
#include <cmath>
#include <limits>
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

PoolingParams pool(PoolingType type, std::vector<int64_t> kernel, std::vector<int64_t> strides = {},
                   std::vector<int64_t> pads_begin = {}, std::vector<int64_t> pads_end = {},
                   std::vector<int64_t> dilations = {}) {
  PoolingParams p;
  p.type = type;
  p.kernel = std::move(kernel);
  auto n = p.kernel.size();
  p.strides = strides.empty() ? p.kernel : strides;  // torch: stride defaults to the kernel
  p.pads_begin = pads_begin.empty() ? std::vector<int64_t>(n, 0) : pads_begin;
  p.pads_end = pads_end.empty() ? p.pads_begin : pads_end;
  p.dilations = dilations.empty() ? std::vector<int64_t>(n, 1) : dilations;
  return p;
}

/// torch pooling_output_shape_pad_lr.
int64_t pooled_size(int64_t in, int64_t k, int64_t s, int64_t pb, int64_t pe, int64_t dil,
                    bool ceil_mode) {
  int64_t num = in + pb + pe - dil * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
  int64_t out = num / s + 1;
  if (ceil_mode && (out - 1) * s >= in + pb) --out;
  return out;
}

Dims pooled_dims(const Dims& x, const PoolingParams& p) {
  Dims o{x[0], x[1]};
  for (int i = 0; i < x.rank() - 2; ++i) {
    auto u = static_cast<size_t>(i);
    o.push_back(pooled_size(x[i + 2], p.kernel[u], p.strides[u], p.pads_begin[u], p.pads_end[u],
                            p.dilations[u], p.ceil_mode));
  }
  return o;
}

/// Per-axis description padded at the front to 3 spatial dims.
struct Axes3 {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1};
  int64_t pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0}, dil[3] = {1, 1, 1};
};

Axes3 axes3(const Dims& x, const Dims& y, const PoolingParams* p) {
  Axes3 a;
  int n = x.rank() - 2;
  for (int i = 0; i < n; ++i) {
    int d = 3 - n + i;
    a.in[d] = x[i + 2];
    a.out[d] = y[i + 2];
    if (p == nullptr) continue;
    auto u = static_cast<size_t>(i);
    a.k[d] = p->kernel[u];
    a.s[d] = p->strides[u];
    a.pb[d] = p->pads_begin[u];
    a.pe[d] = p->pads_end[u];
    a.dil[d] = p->dilations[u];
  }
  return a;
}

/// Max pooling: max over the taps o*s - pad + j*dil that fall inside the input (padding is -inf);
/// NaN wins.
std::vector<double> reference_max_pool(const std::vector<double>& x, const Dims& xd,
                                       const PoolingParams& p, const Dims& yd) {
  Axes3 a = axes3(xd, yd, &p);
  std::vector<double> y;
  int64_t planes = xd[0] * xd[1];
  for (int64_t c = 0; c < planes; ++c)
    for (int64_t oz = 0; oz < a.out[0]; ++oz)
      for (int64_t oy = 0; oy < a.out[1]; ++oy)
        for (int64_t ox = 0; ox < a.out[2]; ++ox) {
          double m = -std::numeric_limits<double>::infinity();
          for (int64_t kz = 0; kz < a.k[0]; ++kz)
            for (int64_t ky = 0; ky < a.k[1]; ++ky)
              for (int64_t kx = 0; kx < a.k[2]; ++kx) {
                int64_t iz = oz * a.s[0] - a.pb[0] + kz * a.dil[0];
                int64_t iy = oy * a.s[1] - a.pb[1] + ky * a.dil[1];
                int64_t ix = ox * a.s[2] - a.pb[2] + kx * a.dil[2];
                if (iz < 0 || iz >= a.in[0] || iy < 0 || iy >= a.in[1] || ix < 0 || ix >= a.in[2])
                  continue;
                double v =
                    x[static_cast<size_t>(((c * a.in[0] + iz) * a.in[1] + iy) * a.in[2] + ix)];
                if (std::isnan(v) || v > m) m = std::isnan(m) ? m : v;
              }
          y.push_back(m);
        }
  return y;
}

/// torch avg_pool (dilation 1): window [o*s - pb, min(o*s - pb + k, in + pe)), pool_size counted
/// there, clipped to the input for the sum; empty -> 0.
std::vector<double> reference_avg_pool(const std::vector<double>& x, const Dims& xd,
                                       const PoolingParams& p, const Dims& yd) {
  Axes3 a = axes3(xd, yd, &p);
  std::vector<double> y;
  int64_t planes = xd[0] * xd[1];
  for (int64_t c = 0; c < planes; ++c)
    for (int64_t oz = 0; oz < a.out[0]; ++oz)
      for (int64_t oy = 0; oy < a.out[1]; ++oy)
        for (int64_t ox = 0; ox < a.out[2]; ++ox) {
          int64_t o[3] = {oz, oy, ox}, lo[3], hi[3];
          int64_t pool_size = 1, valid = 1;
          for (int d = 0; d < 3; ++d) {
            lo[d] = o[d] * a.s[d] - a.pb[d];
            hi[d] = std::min(lo[d] + a.k[d], a.in[d] + a.pe[d]);
            pool_size *= hi[d] - lo[d];
            lo[d] = std::max<int64_t>(lo[d], 0);
            hi[d] = std::min(hi[d], a.in[d]);
            valid *= std::max<int64_t>(hi[d] - lo[d], 0);
          }
          if (valid == 0) {
            y.push_back(0.0);
            continue;
          }
          double sum = 0;
          for (int64_t iz = lo[0]; iz < hi[0]; ++iz)
            for (int64_t iy = lo[1]; iy < hi[1]; ++iy)
              for (int64_t ix = lo[2]; ix < hi[2]; ++ix)
                sum += x[static_cast<size_t>(((c * a.in[0] + iz) * a.in[1] + iy) * a.in[2] + ix)];
          int64_t div = p.divisor_override > 0 ? p.divisor_override
                                               : (p.count_include_pad ? pool_size : valid);
          y.push_back(sum / static_cast<double>(div));
        }
  return y;
}

/// Adaptive pooling with windows [floor(o*in/out), ceil((o+1)*in/out)).
std::vector<double> reference_adaptive(const std::vector<double>& x, const Dims& xd, const Dims& yd,
                                       bool is_max) {
  Axes3 a = axes3(xd, yd, nullptr);
  auto lo = [&](int d, int64_t o) {
    return static_cast<int64_t>(std::floor(double(o) * double(a.in[d]) / double(a.out[d])));
  };
  auto hi = [&](int d, int64_t o) {
    return static_cast<int64_t>(std::ceil(double(o + 1) * double(a.in[d]) / double(a.out[d])));
  };
  std::vector<double> y;
  for (int64_t c = 0; c < xd[0] * xd[1]; ++c)
    for (int64_t oz = 0; oz < a.out[0]; ++oz)
      for (int64_t oy = 0; oy < a.out[1]; ++oy)
        for (int64_t ox = 0; ox < a.out[2]; ++ox) {
          double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
          int64_t n = 0;
          for (int64_t iz = lo(0, oz); iz < hi(0, oz); ++iz)
            for (int64_t iy = lo(1, oy); iy < hi(1, oy); ++iy)
              for (int64_t ix = lo(2, ox); ix < hi(2, ox); ++ix, ++n) {
                double v =
                    x[static_cast<size_t>(((c * a.in[0] + iz) * a.in[1] + iy) * a.in[2] + ix)];
                acc = is_max ? std::max(acc, v) : acc + v;
              }
          y.push_back(is_max ? acc : acc / static_cast<double>(n));
        }
  return y;
}

/// Runs one pooling layer on x (a network input).
HostTensor run_pool(const HostTensor& x, const PoolingParams& p) {
  Network net;
  Tensor t = must(net.add_input("x", x.type.dtype, x.type.dims));
  EXPECT_TRUE(net.mark_output(must(net.add_pooling(t, p)), "y").ok());
  auto out = build_and_run(net, {x});
  return out.size() == 1 ? out[0] : HostTensor{};
}

HostTensor run_adaptive(const HostTensor& x, PoolingType type, std::vector<int64_t> output_size) {
  Network net;
  Tensor t = must(net.add_input("x", x.type.dtype, x.type.dims));
  EXPECT_TRUE(
      net.mark_output(must(net.add_adaptive_pooling(t, {type, std::move(output_size)})), "y").ok());
  auto out = build_and_run(net, {x});
  return out.size() == 1 ? out[0] : HostTensor{};
}

void check_pool(DataType dt, const Dims& xd, const PoolingParams& p) {
  SCOPED_TRACE(std::string(dtype_name(dt)) + " x " + xd.to_string() +
               (p.type == PoolingType::kMax ? " max" : " avg") + (p.ceil_mode ? " ceil" : "") +
               (p.count_include_pad ? " include_pad" : "") + " divisor " +
               std::to_string(p.divisor_override));
  HostTensor x = is_floating(dt) ? random_tensor(dt, xd) : random_tensor(dt, xd, -100, 100);
  if (dt == DataType::kUInt8) x = random_tensor(dt, xd, 0, 256);
  HostTensor y = run_pool(x, p);
  Dims yd = pooled_dims(xd, p);
  ASSERT_TRUE(has_type(y, dt, yd));
  auto want = p.type == PoolingType::kMax ? reference_max_pool(to_doubles(x), xd, p, yd)
                                          : reference_avg_pool(to_doubles(x), xd, p, yd);
  double tol = default_tolerance(dt);
  EXPECT_TRUE(all_close(y, want, tol, tol));
}

void check_adaptive(DataType dt, const Dims& xd, PoolingType type,
                    const std::vector<int64_t>& out_size) {
  SCOPED_TRACE(std::string(dtype_name(dt)) + " x " + xd.to_string() +
               (type == PoolingType::kMax ? " max" : " avg"));
  HostTensor x = is_floating(dt) ? random_tensor(dt, xd) : random_tensor(dt, xd, -100, 100);
  HostTensor y = run_adaptive(x, type, out_size);
  Dims yd{xd[0], xd[1]};
  for (size_t i = 0; i < out_size.size(); ++i)
    yd.push_back(out_size[i] < 0 ? xd[static_cast<int>(i) + 2] : out_size[i]);
  ASSERT_TRUE(has_type(y, dt, yd));
  double tol = default_tolerance(dt);
  EXPECT_TRUE(
      all_close(y, reference_adaptive(to_doubles(x), xd, yd, type == PoolingType::kMax), tol, tol));
}

// ---- hand-computed ----

TEST(CpuPooling, HandComputedMax2x2) {
  std::vector<double> v;
  for (int i = 0; i < 16; ++i)
    v.push_back((i * 7) % 16);  // 0 7 14 5 | 12 3 10 1 | 8 15 6 13 | 4 11 2 9
  HostTensor y = run_pool(make_tensor(DataType::kFloat32, Dims{1, 1, 4, 4}, v),
                          pool(PoolingType::kMax, {2, 2}));
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 1, 2, 2}));
  EXPECT_TRUE(all_close(y, {12, 14, 15, 13}, 0, 0));
}

TEST(CpuPooling, HandComputedAvgCeilModePastPaddedEnd) {
  // x = [1 2 3 4], k 3, s 2, pad 1, ceil_mode: windows [-1,2) [1,4) [3,5) (the last runs past the
  // input into the right padding and is cut at in + pad = 5).
  HostTensor x = make_tensor(DataType::kFloat32, Dims{1, 1, 4}, {1, 2, 3, 4});
  PoolingParams p = pool(PoolingType::kAverage, {3}, {2}, {1});
  p.ceil_mode = true;
  p.count_include_pad = true;
  HostTensor y = run_pool(x, p);
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 1, 3}));
  EXPECT_TRUE(all_close(y, {3.0 / 3, 9.0 / 3, 4.0 / 2}, 0, 1e-6));
  p.count_include_pad = false;
  y = run_pool(x, p);
  EXPECT_TRUE(all_close(y, {3.0 / 2, 9.0 / 3, 4.0 / 1}, 0, 1e-6));
  p.divisor_override = 5;
  y = run_pool(x, p);
  EXPECT_TRUE(all_close(y, {3.0 / 5, 9.0 / 5, 4.0 / 5}, 0, 1e-6));
  // Without padding: [1 2 3 4 5], k 2, s 2 -> last window holds only 5.
  p = pool(PoolingType::kAverage, {2});
  p.ceil_mode = true;
  y = run_pool(make_tensor(DataType::kFloat32, Dims{1, 1, 5}, {1, 2, 3, 4, 5}), p);
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 1, 3}));
  EXPECT_TRUE(all_close(y, {1.5, 3.5, 5}, 0, 1e-6));
}

TEST(CpuPooling, HandComputedDilatedMax) {
  // x = [5 1 4 2 3 0 6], k 2, dilation 3 (extent 4), stride 2: windows {0,3} {2,5}
  HostTensor x = make_tensor(DataType::kFloat32, Dims{1, 1, 7}, {5, 1, 4, 2, 3, 0, 6});
  HostTensor y = run_pool(x, pool(PoolingType::kMax, {2}, {2}, {}, {}, {3}));
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 1, 2}));
  EXPECT_TRUE(all_close(y, {5, 4}, 0, 0));
}

TEST(CpuPooling, MaxPropagatesNaNAndIgnoresPadding) {
  HostTensor x = make_tensor(DataType::kFloat32, Dims{1, 1, 4}, {-3, std::nan(""), -1, -2});
  HostTensor y = run_pool(x, pool(PoolingType::kMax, {2}, {2}, {1}));
  // windows [-1,1) [1,3) [3,5): {-3} {nan,-1} {-2}: padding never wins even though all are
  // negative.
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 1, 3}));
  EXPECT_TRUE(all_close(y, {-3, std::nan(""), -2}, 0, 0));
}

// ---- random cases against the reference ----

TEST(CpuPooling, Max1d2d3d) {
  check_pool(DataType::kFloat32, Dims{2, 3, 11}, pool(PoolingType::kMax, {3}, {2}, {1}));
  check_pool(DataType::kFloat32, Dims{2, 3, 9, 8},
             pool(PoolingType::kMax, {3, 2}, {2, 1}, {1, 0}, {0, 1}));
  check_pool(DataType::kFloat32, Dims{1, 2, 5, 6, 7},
             pool(PoolingType::kMax, {2, 3, 3}, {2, 2, 1}, {1, 1, 0}));
}

TEST(CpuPooling, MaxDilationAndCeilMode) {
  PoolingParams p = pool(PoolingType::kMax, {3, 2}, {2, 3}, {1, 1}, {2, 0}, {2, 3});
  check_pool(DataType::kFloat32, Dims{2, 2, 12, 11}, p);
  p.ceil_mode = true;
  check_pool(DataType::kFloat32, Dims{2, 2, 12, 11}, p);
  check_pool(DataType::kFloat32, Dims{1, 3, 10, 9}, [] {
    PoolingParams q = pool(PoolingType::kMax, {3, 3}, {2, 2});
    q.ceil_mode = true;
    return q;
  }());
}

TEST(CpuPooling, MaxIntegerDtypes) {
  for (DataType dt : {DataType::kInt32, DataType::kInt64, DataType::kInt8, DataType::kUInt8})
    check_pool(dt, Dims{2, 2, 7, 6}, pool(PoolingType::kMax, {3, 3}, {2, 2}, {1, 1}));
  // int64 beyond 2^53: must be exact.
  int64_t big = (int64_t{1} << 60) + 1;
  HostTensor x(TensorType{DataType::kInt64, Dims{1, 1, 3}});
  x.as<int64_t>()[0] = big;
  x.as<int64_t>()[1] = big + 2;
  x.as<int64_t>()[2] = big + 1;
  HostTensor y = run_pool(x, pool(PoolingType::kMax, {2}, {1}));
  ASSERT_TRUE(has_type(y, DataType::kInt64, Dims{1, 1, 2}));
  EXPECT_EQ(y.as<int64_t>()[0], big + 2);
  EXPECT_EQ(y.as<int64_t>()[1], big + 2);
}

TEST(CpuPooling, Avg1d2d3d) {
  check_pool(DataType::kFloat32, Dims{2, 3, 11}, pool(PoolingType::kAverage, {3}, {2}, {1}));
  check_pool(DataType::kFloat32, Dims{2, 3, 9, 8},
             pool(PoolingType::kAverage, {3, 2}, {2, 1}, {1, 0}, {0, 1}));
  check_pool(DataType::kFloat32, Dims{1, 2, 5, 6, 7},
             pool(PoolingType::kAverage, {2, 3, 3}, {2, 2, 1}, {1, 1, 0}));
}

TEST(CpuPooling, AvgCeilModeCountIncludePadDivisorOverride) {
  for (bool ceil_mode : {false, true})
    for (bool include_pad : {false, true})
      for (int64_t divisor : {0, 7}) {
        PoolingParams p = pool(PoolingType::kAverage, {3, 3}, {2, 2}, {1, 1});
        p.ceil_mode = ceil_mode;
        p.count_include_pad = include_pad;
        p.divisor_override = divisor;
        check_pool(DataType::kFloat32, Dims{2, 2, 8, 7}, p);
        PoolingParams q = pool(PoolingType::kAverage, {2, 3, 2}, {2, 2, 3}, {1, 0, 1}, {0, 1, 1});
        q.ceil_mode = ceil_mode;
        q.count_include_pad = include_pad;
        q.divisor_override = divisor;
        check_pool(DataType::kFloat32, Dims{1, 2, 5, 6, 8}, q);
      }
}

TEST(CpuPooling, EveryFloatDtype) {
  for (DataType dt : kFloatTypes) {
    check_pool(dt, Dims{2, 3, 7, 8}, pool(PoolingType::kMax, {3, 3}, {2, 2}, {1, 1}));
    PoolingParams p = pool(PoolingType::kAverage, {3, 2}, {2, 2}, {1, 1});
    p.ceil_mode = true;
    p.count_include_pad = false;
    check_pool(dt, Dims{2, 3, 7, 8}, p);
    check_adaptive(dt, Dims{1, 2, 7, 5}, PoolingType::kAverage, {3, 2});
  }
}

TEST(CpuPooling, AdaptiveNonDivisible) {
  check_adaptive(DataType::kFloat32, Dims{2, 3, 7, 7}, PoolingType::kAverage, {3, 3});
  check_adaptive(DataType::kFloat32, Dims{2, 3, 7, 10}, PoolingType::kMax, {3, 4});
  check_adaptive(DataType::kFloat32, Dims{2, 3, 10}, PoolingType::kAverage, {4});
  check_adaptive(DataType::kFloat32, Dims{1, 2, 5, 7, 6}, PoolingType::kMax, {2, 3, 4});
  check_adaptive(DataType::kFloat32, Dims{1, 2, 5, 7, 6}, PoolingType::kAverage, {3, -1, 4});
  // Output larger than input: overlapping single-element windows.
  check_adaptive(DataType::kFloat32, Dims{1, 2, 3, 2}, PoolingType::kAverage, {5, 3});
  check_adaptive(DataType::kInt32, Dims{1, 2, 7, 9}, PoolingType::kMax, {3, 4});
  check_adaptive(DataType::kBool, Dims{1, 2, 7, 9}, PoolingType::kMax, {3, 4});
  check_adaptive(DataType::kFloat32, Dims{1, 4, 6, 6}, PoolingType::kAverage, {1, 1});  // global
}

TEST(CpuPooling, AdaptiveHandComputed) {
  // 7 -> 3: windows [0,3) [2,5) [4,7)
  HostTensor y = run_adaptive(make_tensor(DataType::kFloat32, Dims{1, 1, 7}, {1, 2, 3, 4, 5, 6, 7}),
                              PoolingType::kAverage, {3});
  ASSERT_TRUE(has_type(y, DataType::kFloat32, Dims{1, 1, 3}));
  EXPECT_TRUE(all_close(y, {2, 4, 6}, 0, 1e-6));
  y = run_adaptive(make_tensor(DataType::kFloat32, Dims{1, 1, 7}, {7, 1, 2, 6, 3, 4, 5}),
                   PoolingType::kMax, {3});
  EXPECT_TRUE(all_close(y, {7, 6, 5}, 0, 0));
}

TEST(CpuPooling, DynamicBatch) {
  Network net;
  Tensor t = must(net.add_input("x", DataType::kFloat32, Dims{-1, 3, 9, 9}));
  PoolingParams p = pool(PoolingType::kAverage, {3, 3}, {2, 2}, {1, 1});
  p.count_include_pad = false;
  ASSERT_TRUE(net.mark_output(must(net.add_pooling(t, p)), "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.profiles.push_back(
      OptimizationProfile{}.set("x", Dims{1, 3, 9, 9}, Dims{2, 3, 9, 9}, Dims{4, 3, 9, 9}));
  auto plan = Builder::build(net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  for (int64_t batch : {3, 1}) {
    Dims xd{batch, 3, 9, 9};
    HostTensor x = random_tensor(DataType::kFloat32, xd);
    auto out = testing::run_engine(**engine, {x});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    Dims yd = pooled_dims(xd, p);
    ASSERT_TRUE(has_type((*out)[0], DataType::kFloat32, yd));
    EXPECT_TRUE(all_close((*out)[0], reference_avg_pool(to_doubles(x), xd, p, yd), 1e-5, 1e-5));
  }
}

TEST(CpuPooling, ZeroBatch) {
  Network net;
  Tensor t = must(net.add_input("x", DataType::kFloat32, Dims{-1, 2, 6, 6}));
  Tensor a = must(net.add_pooling(t, pool(PoolingType::kMax, {2, 2})));
  Tensor b = must(net.add_adaptive_pooling(t, {PoolingType::kAverage, {2, 2}}));
  ASSERT_TRUE(net.mark_output(a, "a").ok());
  ASSERT_TRUE(net.mark_output(b, "b").ok());
  BuilderConfig cfg;
  cfg.profiles.push_back(
      OptimizationProfile{}.set("x", Dims{0, 2, 6, 6}, Dims{1, 2, 6, 6}, Dims{2, 2, 6, 6}));
  auto out = build_and_run(net, {random_tensor(DataType::kFloat32, Dims{0, 2, 6, 6})}, cfg);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(has_type(out[0], DataType::kFloat32, Dims{0, 2, 3, 3}));
  EXPECT_TRUE(has_type(out[1], DataType::kFloat32, Dims{0, 2, 2, 2}));
}

// Indices by hand: torch keeps the first maximum of a window, a NaN wins (the last one met), an
// all -inf window points at its first valid tap; indices count in the input plane.
TEST(CpuPooling, MaxIndicesHandComputed) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  Network net;
  Tensor t = must(net.add_input("x", DataType::kFloat32, Dims{1, 2, 3, 4}));
  PoolingParams p = pool(PoolingType::kMax, {2, 2}, {2, 2}, {1, 1});
  auto r = must(net.add_max_pooling_with_indices(t, p));
  ASSERT_EQ(r.size(), 2u);
  ASSERT_TRUE(net.mark_output(r[0], "y").ok());
  ASSERT_TRUE(net.mark_output(r[1], "i").ok());
  // plane 0: ties; plane 1: NaNs and -infs
  HostTensor x = make_tensor(DataType::kFloat32, Dims{1, 2, 3, 4}, {1,    2,    2,   0,    //
                                                                    2,    2,    1,   2,    //
                                                                    0,    0,    3,   3,    //
                                                                    -inf, -inf, nan, 1,    //
                                                                    -inf, -inf, 5,   nan,  //
                                                                    7,    7,    7,   7});
  auto out = build_and_run(net, {x});
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(has_type(out[1], DataType::kInt64, Dims{1, 2, 2, 3}));
  // windows (rows x cols) of plane 0: {0}x{0}, {0}x{1,2}, {0}x{3}, {1,2}x{0}, {1,2}x{1,2}, ...
  EXPECT_TRUE(all_close(out[1], {0, 1, 3, 4, 10, 11, /**/ 0, 2, 3, 8, 9, 7}, 0, 0));
  EXPECT_TRUE(all_close(out[0], {1, 2, 0, 2, 3, 3, /**/ -inf, nan, 1, 7, 7, nan}, 0, 0));
}

TEST(CpuPooling, MaxIndicesAgainstReferenceAndStaysChannelsFirst) {
  Network net;
  Tensor t = must(net.add_input("x", DataType::kFloat32, Dims{16, 3, 9, 8}));
  PoolingParams p = pool(PoolingType::kMax, {3, 3}, {2, 2}, {1, 1});
  p.ceil_mode = true;
  auto r = must(net.add_max_pooling_with_indices(t, p));
  ASSERT_TRUE(net.mark_output(r[1], "i").ok());
  ASSERT_TRUE(net.mark_output(r[0], "y").ok());
  HostTensor x = random_tensor(DataType::kFloat32, Dims{16, 3, 9, 8});
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.switches.layout = LayoutChoice::kNHWC;  // the layout pass must leave the indices layer alone
  cfg.switches.layout_any_backend = true;
  auto out = build_and_run(net, {x}, cfg);
  ASSERT_EQ(out.size(), 2u);
  Dims yd = pooled_dims(x.type.dims, p);
  std::vector<double> xs = to_doubles(x), want = reference_max_pool(xs, x.type.dims, p, yd);
  // Each index points at the maximum of its plane.
  const int64_t plane = 9 * 8, out_plane = yd[2] * yd[3];
  for (int64_t i = 0; i < out[0].numel(); ++i) {  // indices: the first output marked
    int64_t c = i / out_plane;
    auto idx = static_cast<int64_t>(testing::at(out[0], i));
    ASSERT_GE(idx, 0);
    ASSERT_LT(idx, plane);
    EXPECT_EQ(xs[static_cast<size_t>(c * plane + idx)], want[static_cast<size_t>(i)]) << i;
  }
  EXPECT_TRUE(all_close(out[1], want, 0, 0));
}

}  // namespace
}  // namespace kiln
