// CPU reference kernels: softmax / log-softmax, layer norm, group norm, batch norm (inference) and
// RMS norm, through the public API, against naive double-loop references written here and a few
// hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "test_util.h"

namespace kiln {
namespace {

using testing::add_constant;
using testing::all_close;
using testing::build_and_run;
using testing::default_tolerance;
using testing::has_type;
using testing::kFloatTypes;
using testing::make_tensor;
using testing::random_tensor;
using testing::rng_seed;
using testing::to_doubles;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string name_of(DataType dt) { return std::string(dtype_name(dt)); }
std::string trace(const std::string& what) { return what + " seed=" + std::to_string(rng_seed()); }

int norm_axis(int64_t axis, int rank) { return static_cast<int>(axis < 0 ? axis + rank : axis); }

int64_t prod(const Dims& d, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= d[i];
  return p;
}

/// Marker for an omitted optional input.
HostTensor none() { return HostTensor{}; }
bool is_none(const HostTensor& t) { return t.bytes.empty() && t.type.dims.rank() == 0; }

/// Runs a one-layer network. `make` adds the layer given the network and its input tensors (in
/// order of `inputs`; none() gives an invalid Tensor). Input i is a network input unless
/// as_constant[i], then a constant.
template <class Make>
HostTensor run_one(const std::vector<HostTensor>& inputs, const std::vector<bool>& as_constant,
                   Make make) {
  Network net;
  std::vector<Tensor> ts;
  std::vector<HostTensor> fed;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (is_none(inputs[i])) {
      ts.emplace_back();  // omitted optional input
      continue;
    }
    if (i < as_constant.size() && as_constant[i]) {
      ts.push_back(add_constant(net, inputs[i]));
      continue;
    }
    auto t = net.add_input("in" + std::to_string(i), inputs[i].type.dtype, inputs[i].type.dims);
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    if (!t.ok()) return {};
    ts.push_back(*t);
    fed.push_back(inputs[i]);
  }
  Expected<Tensor> y = make(net, ts);
  EXPECT_TRUE(y.ok()) << y.status().to_string();
  if (!y.ok()) return {};
  EXPECT_TRUE(net.mark_output(*y, "y").ok());
  auto outs = build_and_run(net, fed);
  if (outs.size() != 1) {
    ADD_FAILURE() << "expected one output, got " << outs.size();
    return {};
  }
  return outs[0];
}

// ---- softmax ----

std::vector<double> ref_softmax(const HostTensor& x, int64_t axis_param, bool log) {
  const Dims& d = x.type.dims;
  int r = d.rank();
  std::vector<double> xv = to_doubles(x), out(xv.size());
  if (r == 0) {
    if (!xv.empty()) out[0] = log ? 0.0 : 1.0;
    return out;
  }
  int axis = norm_axis(axis_param, r);
  int64_t outer = prod(d, 0, axis), n = d[axis], inner = prod(d, axis + 1, r);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t j) { return static_cast<size_t>((o * n + j) * inner + i); };
      double m = -kInf;
      for (int64_t j = 0; j < n; ++j) m = std::max(m, xv[at(j)]);
      long double s = 0;
      for (int64_t j = 0; j < n; ++j) s += std::exp(static_cast<long double>(xv[at(j)] - m));
      for (int64_t j = 0; j < n; ++j) {
        out[at(j)] =
            log ? static_cast<double>(xv[at(j)] - m - std::log(s))
                : static_cast<double>(std::exp(static_cast<long double>(xv[at(j)] - m)) / s);
      }
    }
  }
  return out;
}

HostTensor run_softmax(const HostTensor& x, int64_t axis, bool log) {
  return run_one({x}, {}, [&](Network& net, const std::vector<Tensor>& t) {
    return net.add_softmax(t[0], axis, log);
  });
}

TEST(CpuSoftmax, FloatTypesAxesLog) {
  Dims dims{2, 3, 5};
  for (DataType dt : kFloatTypes) {
    for (int64_t axis : {0, 1, 2, -1, -2, -3}) {
      for (bool log : {false, true}) {
        SCOPED_TRACE(
            trace(name_of(dt) + " axis=" + std::to_string(axis) + " log=" + std::to_string(log)));
        HostTensor x = random_tensor(dt, dims, -3.0, 3.0);
        HostTensor got = run_softmax(x, axis, log);
        EXPECT_TRUE(has_type(got, dt, dims));
        EXPECT_TRUE(all_close(got, ref_softmax(x, axis, log), default_tolerance(dt),
                              default_tolerance(dt)));
      }
    }
  }
}

TEST(CpuSoftmax, RowsSumToOneAndShapes) {
  for (Dims dims : {Dims{7}, Dims{2, 7, 3, 5}, Dims{12, 16, 16}, Dims{1, 1}, Dims{4, 1}}) {
    for (int64_t axis : {int64_t(-1), int64_t(0), int64_t(dims.rank() > 1 ? 1 : 0)}) {
      SCOPED_TRACE(trace(dims.to_string() + " axis=" + std::to_string(axis)));
      HostTensor x = random_tensor(DataType::kFloat32, dims, -5.0, 5.0);
      HostTensor got = run_softmax(x, axis, false);
      std::vector<double> want = ref_softmax(x, axis, false);
      EXPECT_TRUE(all_close(got, want, 1e-5, 1e-6));
      // Independent check: every lane sums to 1.
      std::vector<double> g = to_doubles(got);
      int r = dims.rank(), ax = norm_axis(axis, r);
      int64_t outer = prod(dims, 0, ax), n = dims[ax], inner = prod(dims, ax + 1, r);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          double s = 0;
          for (int64_t j = 0; j < n; ++j) s += g[static_cast<size_t>((o * n + j) * inner + i)];
          EXPECT_NEAR(s, 1.0, 1e-5);
        }
    }
  }
}

TEST(CpuSoftmax, HandComputedAndStability) {
  // Huge logits: exp would overflow without subtracting the max.
  HostTensor x = make_tensor(DataType::kFloat32, Dims{2, 2}, {1000, 1000, -1000, -999});
  const double e = std::exp(1.0), p0 = 1 / (1 + e), p1 = e / (1 + e);
  EXPECT_TRUE(all_close(run_softmax(x, -1, false), {0.5, 0.5, p0, p1}, 1e-6, 1e-7));
  EXPECT_TRUE(all_close(run_softmax(x, -1, true),
                        {std::log(0.5), std::log(0.5), std::log(p0), std::log(p1)}, 1e-6, 1e-7));
  // Along axis 0: columns {1000, -1000} and {1000, -999}.
  EXPECT_TRUE(all_close(run_softmax(x, 0, false), {1, 1, 0, 0}, 1e-6, 1e-7));
  EXPECT_TRUE(all_close(run_softmax(x, 0, true), {0, 0, -2000, -1999}, 1e-6, 1e-7));
  // Masked (-inf) entries get probability 0, log-probability -inf.
  HostTensor m = make_tensor(DataType::kFloat32, Dims{3}, {0, -kInf, std::log(3.0)});
  EXPECT_TRUE(all_close(run_softmax(m, 0, false), {0.25, 0, 0.75}, 1e-6, 1e-7));
  EXPECT_TRUE(
      all_close(run_softmax(m, 0, true), {std::log(0.25), -kInf, std::log(0.75)}, 1e-5, 1e-6));
  // NaN poisons its row only.
  HostTensor n = make_tensor(DataType::kFloat32, Dims{2, 2}, {kNaN, 1, 2, 2});
  EXPECT_TRUE(all_close(run_softmax(n, 1, false), {kNaN, kNaN, 0.5, 0.5}, 1e-6, 1e-7));
  // Rank 0: softmax of a scalar is 1, log-softmax 0.
  HostTensor s = make_tensor(DataType::kFloat32, Dims{}, {4.0});
  EXPECT_TRUE(has_type(run_softmax(s, 0, false), DataType::kFloat32, Dims{}));
  EXPECT_TRUE(all_close(run_softmax(s, -1, false), {1.0}, 0, 0));
  EXPECT_TRUE(all_close(run_softmax(s, 0, true), {0.0}, 0, 0));
  // bf16 large range keeps working.
  HostTensor b = make_tensor(DataType::kBFloat16, Dims{2}, {300, 300});
  EXPECT_TRUE(all_close(run_softmax(b, 0, false), {0.5, 0.5}, 0, 0));
}

TEST(CpuSoftmax, EmptyTensor) {
  HostTensor x(TensorType{DataType::kFloat32, Dims{0, 4}});
  EXPECT_TRUE(has_type(run_softmax(x, -1, false), DataType::kFloat32, Dims{0, 4}));
  HostTensor y(TensorType{DataType::kFloat32, Dims{3, 0}});
  EXPECT_TRUE(has_type(run_softmax(y, -1, true), DataType::kFloat32, Dims{3, 0}));
}

TEST(CpuSoftmax, DynamicShapes) {
  Network net;
  auto in = net.add_input("x", DataType::kFloat32, Dims{-1, 4, -1});
  ASSERT_TRUE(in.ok()) << in.status().to_string();
  auto y = net.add_softmax(*in, -1, false);
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  auto z = net.add_softmax(*in, 1, true);
  ASSERT_TRUE(z.ok()) << z.status().to_string();
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  ASSERT_TRUE(net.mark_output(*z, "z").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.profiles = {OptimizationProfile().set("x", Dims{1, 4, 1}, Dims{2, 4, 16}, Dims{4, 4, 64})};
  auto plan = Builder::build(net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  for (Dims dims : {Dims{2, 4, 9}, Dims{4, 4, 64}, Dims{1, 4, 1}}) {
    SCOPED_TRACE(trace(dims.to_string()));
    HostTensor x = random_tensor(DataType::kFloat32, dims, -4.0, 4.0);
    auto outs = testing::run_engine(**engine, {x});
    ASSERT_TRUE(outs.ok()) << outs.status().to_string();
    ASSERT_EQ(outs->size(), 2u);
    EXPECT_TRUE(has_type((*outs)[0], DataType::kFloat32, dims));
    EXPECT_TRUE(all_close((*outs)[0], ref_softmax(x, -1, false), 1e-5, 1e-6));
    EXPECT_TRUE(all_close((*outs)[1], ref_softmax(x, 1, true), 1e-5, 1e-5));
  }
}

// ---- layer norm ----

std::vector<double> ref_layer_norm(const HostTensor& x, const HostTensor& g, const HostTensor& b,
                                   int64_t axis_p, double eps) {
  const Dims& d = x.type.dims;
  int axis = norm_axis(axis_p, d.rank());
  int64_t m = prod(d, axis, d.rank()), outer = prod(d, 0, axis);
  std::vector<double> xv = to_doubles(x), gv = is_none(g) ? std::vector<double>{} : to_doubles(g),
                      bv = is_none(b) ? std::vector<double>{} : to_doubles(b), out(xv.size());
  for (int64_t o = 0; o < outer; ++o) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < m; ++i) mean += xv[static_cast<size_t>(o * m + i)];
    mean /= static_cast<double>(m);
    for (int64_t i = 0; i < m; ++i) var += std::pow(xv[static_cast<size_t>(o * m + i)] - mean, 2);
    var /= static_cast<double>(m);
    for (int64_t i = 0; i < m; ++i) {
      double y = (xv[static_cast<size_t>(o * m + i)] - mean) / std::sqrt(var + eps);
      if (!gv.empty()) y *= gv[static_cast<size_t>(i)];
      if (!bv.empty()) y += bv[static_cast<size_t>(i)];
      out[static_cast<size_t>(o * m + i)] = y;
    }
  }
  return out;
}

HostTensor run_layer_norm(const HostTensor& x, const HostTensor& g, const HostTensor& b,
                          const LayerNormParams& p, std::vector<bool> as_constant = {}) {
  std::vector<HostTensor> ins = {x, g, b};
  return run_one(ins, as_constant, [&](Network& net, const std::vector<Tensor>& t) {
    return net.add_layer_norm(t[0], t[1], t[2], p);
  });
}

Dims tail(const Dims& d, int from) {
  Dims t;
  for (int i = from; i < d.rank(); ++i) t.push_back(d[i]);
  return t;
}

TEST(CpuLayerNorm, FloatTypesAxesAffine) {
  Dims dims{3, 4, 6};
  for (DataType dt : kFloatTypes) {
    for (int64_t axis : {-1, -2, 2, 1, 0}) {
      for (int affine = 0; affine < 4; ++affine) {  // bit 0: gamma, bit 1: beta
        SCOPED_TRACE(trace(name_of(dt) + " axis=" + std::to_string(axis) +
                           " affine=" + std::to_string(affine)));
        LayerNormParams p;
        p.axis = axis;
        p.epsilon = 1e-5;
        Dims pd = tail(dims, norm_axis(axis, dims.rank()));
        HostTensor x = random_tensor(dt, dims, -2.0, 3.0);
        HostTensor g = (affine & 1) ? random_tensor(dt, pd, 0.5, 1.5) : none();
        HostTensor b = (affine & 2) ? random_tensor(dt, pd, -1.0, 1.0) : none();
        HostTensor got = run_layer_norm(x, g, b, p);
        EXPECT_TRUE(has_type(got, dt, dims));
        EXPECT_TRUE(all_close(got, ref_layer_norm(x, g, b, axis, p.epsilon), default_tolerance(dt),
                              default_tolerance(dt)));
      }
    }
  }
}

TEST(CpuLayerNorm, ConstantAffineBertSize) {
  // BERT-base hidden size, weights as constants, large epsilon visible in the result.
  Dims dims{128, 768};
  for (double eps : {1e-12, 0.5}) {
    SCOPED_TRACE(trace("eps=" + std::to_string(eps)));
    LayerNormParams p;
    p.epsilon = eps;
    HostTensor x = random_tensor(DataType::kFloat32, dims, -1.0, 1.0);
    HostTensor g = random_tensor(DataType::kFloat32, Dims{768}, 0.5, 1.5);
    HostTensor b = random_tensor(DataType::kFloat32, Dims{768}, -0.5, 0.5);
    HostTensor got = run_layer_norm(x, g, b, p, {false, true, true});
    EXPECT_TRUE(all_close(got, ref_layer_norm(x, g, b, -1, eps), 1e-5, 1e-5));
  }
}

TEST(CpuLayerNorm, HandComputed) {
  // [1, 2, 3]: mean 2, biased var 2/3.
  HostTensor x = make_tensor(DataType::kFloat32, Dims{2, 3}, {1, 2, 3, 5, 5, 5});
  LayerNormParams p;
  p.epsilon = 0.0;
  double k = 1.0 / std::sqrt(2.0 / 3.0);
  HostTensor got = run_layer_norm(x, none(), none(), p);
  // A constant row normalizes to 0/sqrt(0 + eps): with eps = 0 that is nan, as torch.
  EXPECT_TRUE(all_close(got, {-k, 0, k, kNaN, kNaN, kNaN}, 1e-6, 1e-6));
  p.epsilon = 1e-5;
  HostTensor g = make_tensor(DataType::kFloat32, Dims{3}, {2, 1, -1});
  HostTensor b = make_tensor(DataType::kFloat32, Dims{3}, {0.5, 0.25, 0});
  double k2 = 1.0 / std::sqrt(2.0 / 3.0 + 1e-5);
  got = run_layer_norm(x, g, b, p);
  EXPECT_TRUE(all_close(got, {-2 * k2 + 0.5, 0.25, -k2, 0.5, 0.25, 0}, 1e-6, 1e-6));
  // Over both dims (axis 0): mean 3.5, var = (6.25+2.25+0.25+2.25*3)/6 = 15.5/6.
  p.axis = 0;
  p.epsilon = 0;
  double s = std::sqrt(15.5 / 6.0);
  got = run_layer_norm(x, none(), none(), p);
  EXPECT_TRUE(
      all_close(got, {-2.5 / s, -1.5 / s, -0.5 / s, 1.5 / s, 1.5 / s, 1.5 / s}, 1e-6, 1e-6));
}

TEST(CpuLayerNorm, DynamicShapes) {
  Network net;
  auto in = net.add_input("x", DataType::kFloat32, Dims{-1, -1, 8});
  ASSERT_TRUE(in.ok()) << in.status().to_string();
  HostTensor g = random_tensor(DataType::kFloat32, Dims{8}, 0.5, 1.5);
  HostTensor b = random_tensor(DataType::kFloat32, Dims{8}, -0.5, 0.5);
  LayerNormParams p;
  auto y = net.add_layer_norm(*in, add_constant(net, g), add_constant(net, b), p);
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.profiles = {OptimizationProfile().set("x", Dims{1, 1, 8}, Dims{2, 16, 8}, Dims{4, 32, 8})};
  auto plan = Builder::build(net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  for (Dims dims : {Dims{2, 5, 8}, Dims{4, 32, 8}, Dims{1, 1, 8}}) {
    SCOPED_TRACE(trace(dims.to_string()));
    HostTensor x = random_tensor(DataType::kFloat32, dims, -2.0, 2.0);
    auto outs = testing::run_engine(**engine, {x});
    ASSERT_TRUE(outs.ok()) << outs.status().to_string();
    ASSERT_EQ(outs->size(), 1u);
    EXPECT_TRUE(has_type((*outs)[0], DataType::kFloat32, dims));
    EXPECT_TRUE(all_close((*outs)[0], ref_layer_norm(x, g, b, -1, p.epsilon), 1e-5, 1e-5));
  }
}

// ---- group norm ----

std::vector<double> ref_group_norm(const HostTensor& x, const HostTensor& g, const HostTensor& b,
                                   int64_t groups, double eps) {
  const Dims& d = x.type.dims;
  int64_t n = d[0], c = d[1], s = prod(d, 2, d.rank()), cpg = c / groups;
  std::vector<double> xv = to_doubles(x), gv = is_none(g) ? std::vector<double>{} : to_doubles(g),
                      bv = is_none(b) ? std::vector<double>{} : to_doubles(b), out(xv.size());
  auto at = [&](int64_t ni, int64_t ci, int64_t si) {
    return static_cast<size_t>((ni * c + ci) * s + si);
  };
  for (int64_t ni = 0; ni < n; ++ni) {
    for (int64_t gi = 0; gi < groups; ++gi) {
      double sum = 0, sq = 0, cnt = static_cast<double>(cpg * s);
      for (int64_t ci = gi * cpg; ci < (gi + 1) * cpg; ++ci)
        for (int64_t si = 0; si < s; ++si) sum += xv[at(ni, ci, si)];
      double mean = sum / cnt;
      for (int64_t ci = gi * cpg; ci < (gi + 1) * cpg; ++ci)
        for (int64_t si = 0; si < s; ++si)
          sq += (xv[at(ni, ci, si)] - mean) * (xv[at(ni, ci, si)] - mean);
      double var = sq / cnt;
      for (int64_t ci = gi * cpg; ci < (gi + 1) * cpg; ++ci)
        for (int64_t si = 0; si < s; ++si) {
          double y = (xv[at(ni, ci, si)] - mean) / std::sqrt(var + eps);
          if (!gv.empty()) y *= gv[static_cast<size_t>(ci)];
          if (!bv.empty()) y += bv[static_cast<size_t>(ci)];
          out[at(ni, ci, si)] = y;
        }
    }
  }
  return out;
}

HostTensor run_group_norm(const HostTensor& x, const HostTensor& g, const HostTensor& b,
                          const GroupNormParams& p) {
  return run_one({x, g, b}, {}, [&](Network& net, const std::vector<Tensor>& t) {
    return net.add_group_norm(t[0], t[1], t[2], p);
  });
}

TEST(CpuGroupNorm, GroupsAndAffine) {
  for (Dims dims : {Dims{2, 6, 3, 4}, Dims{3, 6}, Dims{2, 6, 5}}) {
    for (DataType dt : kFloatTypes) {
      for (int64_t groups : {1, 2, 3, 6}) {
        for (int affine = 0; affine < 4; ++affine) {
          if (affine == 1 || affine == 2) {
            if (groups != 2) continue;  // gamma-only / beta-only once per shape and type
          }
          SCOPED_TRACE(trace(dims.to_string() + " " + name_of(dt) + " groups=" +
                             std::to_string(groups) + " affine=" + std::to_string(affine)));
          GroupNormParams p;
          p.num_groups = groups;
          p.epsilon = 1e-5;
          HostTensor x = random_tensor(dt, dims, -2.0, 3.0);
          HostTensor g = (affine & 1) ? random_tensor(dt, Dims{6}, 0.5, 1.5) : none();
          HostTensor b = (affine & 2) ? random_tensor(dt, Dims{6}, -1.0, 1.0) : none();
          HostTensor got = run_group_norm(x, g, b, p);
          EXPECT_TRUE(has_type(got, dt, dims));
          EXPECT_TRUE(all_close(got, ref_group_norm(x, g, b, groups, p.epsilon),
                                default_tolerance(dt), default_tolerance(dt)));
        }
      }
    }
  }
}

TEST(CpuGroupNorm, HandComputed) {
  // N=1, C=2, S=2, groups=1: all four values {0, 2, 4, 6}: mean 3, var 5.
  HostTensor x = make_tensor(DataType::kFloat32, Dims{1, 2, 2}, {0, 2, 4, 6});
  GroupNormParams p;
  p.num_groups = 1;
  p.epsilon = 0;
  double s = std::sqrt(5.0);
  EXPECT_TRUE(
      all_close(run_group_norm(x, none(), none(), p), {-3 / s, -1 / s, 1 / s, 3 / s}, 1e-6, 1e-6));
  // groups = C = 2: per channel {0,2} and {4,6}: each normalizes to {-1, 1}; then gamma/beta.
  p.num_groups = 2;
  HostTensor g = make_tensor(DataType::kFloat32, Dims{2}, {2, 3});
  HostTensor b = make_tensor(DataType::kFloat32, Dims{2}, {1, -1});
  EXPECT_TRUE(all_close(run_group_norm(x, g, b, p), {-1, 3, -4, 2}, 1e-6, 1e-6));
}

// ---- batch norm ----

std::vector<double> ref_batch_norm(const HostTensor& x, const HostTensor& mean,
                                   const HostTensor& var, const HostTensor& g, const HostTensor& b,
                                   double eps) {
  const Dims& d = x.type.dims;
  int64_t c = d[1], s = prod(d, 2, d.rank());
  std::vector<double> xv = to_doubles(x), mv = to_doubles(mean), vv = to_doubles(var),
                      gv = is_none(g) ? std::vector<double>{} : to_doubles(g),
                      bv = is_none(b) ? std::vector<double>{} : to_doubles(b), out(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) {
    auto ci = static_cast<size_t>((static_cast<int64_t>(i) / s) % c);
    double y = (xv[i] - mv[ci]) / std::sqrt(vv[ci] + eps);
    if (!gv.empty()) y *= gv[ci];
    if (!bv.empty()) y += bv[ci];
    out[i] = y;
  }
  return out;
}

HostTensor run_batch_norm(const std::vector<HostTensor>& ins, const BatchNormParams& p,
                          std::vector<bool> as_constant = {}) {
  return run_one(ins, as_constant, [&](Network& net, const std::vector<Tensor>& t) {
    return net.add_batch_norm(t[0], t[1], t[2], t[3], t[4], p);
  });
}

TEST(CpuBatchNorm, ShapesTypesAffine) {
  for (Dims dims : {Dims{2, 3, 4, 5}, Dims{4, 3}, Dims{2, 3, 7}, Dims{1, 3, 2, 2, 2}}) {
    for (DataType dt : kFloatTypes) {
      for (int affine = 0; affine < 4; ++affine) {
        SCOPED_TRACE(
            trace(dims.to_string() + " " + name_of(dt) + " affine=" + std::to_string(affine)));
        BatchNormParams p;
        p.epsilon = 1e-3;
        HostTensor x = random_tensor(dt, dims, -2.0, 3.0);
        HostTensor mean = random_tensor(dt, Dims{3}, -1.0, 1.0);
        HostTensor var = random_tensor(dt, Dims{3}, 0.25, 2.0);
        HostTensor g = (affine & 1) ? random_tensor(dt, Dims{3}, 0.5, 1.5) : none();
        HostTensor b = (affine & 2) ? random_tensor(dt, Dims{3}, -1.0, 1.0) : none();
        HostTensor got = run_batch_norm({x, mean, var, g, b}, p);
        EXPECT_TRUE(has_type(got, dt, dims));
        EXPECT_TRUE(all_close(got, ref_batch_norm(x, mean, var, g, b, p.epsilon),
                              default_tolerance(dt), default_tolerance(dt)));
      }
    }
  }
}

TEST(CpuBatchNorm, HandComputedConstantStats) {
  // x = 3 in channel 0: (3 - 1) / sqrt(4) * 2 + 0.5 = 2.5; channel 1: (3 - (-1)) / sqrt(1) * 1 + 0
  // = 4.
  HostTensor x = make_tensor(DataType::kFloat32, Dims{1, 2, 2}, {3, 1, 3, -1});
  HostTensor mean = make_tensor(DataType::kFloat32, Dims{2}, {1, -1});
  HostTensor var = make_tensor(DataType::kFloat32, Dims{2}, {4, 1});
  HostTensor g = make_tensor(DataType::kFloat32, Dims{2}, {2, 1});
  HostTensor b = make_tensor(DataType::kFloat32, Dims{2}, {0.5, 0});
  BatchNormParams p;
  p.epsilon = 0;
  HostTensor got = run_batch_norm({x, mean, var, g, b}, p, {false, true, true, true, true});
  EXPECT_TRUE(all_close(got, {2.5, 0.5, 4, 0}, 1e-6, 1e-6));
}

// ---- rms norm ----

std::vector<double> ref_rms_norm(const HostTensor& x, const HostTensor& g, int64_t axis_p,
                                 double eps) {
  const Dims& d = x.type.dims;
  int axis = norm_axis(axis_p, d.rank());
  int64_t m = prod(d, axis, d.rank()), outer = prod(d, 0, axis);
  std::vector<double> xv = to_doubles(x), gv = is_none(g) ? std::vector<double>{} : to_doubles(g),
                      out(xv.size());
  for (int64_t o = 0; o < outer; ++o) {
    double ss = 0;
    for (int64_t i = 0; i < m; ++i)
      ss += xv[static_cast<size_t>(o * m + i)] * xv[static_cast<size_t>(o * m + i)];
    double rms = std::sqrt(ss / static_cast<double>(m) + eps);
    for (int64_t i = 0; i < m; ++i) {
      double y = xv[static_cast<size_t>(o * m + i)] / rms;
      if (!gv.empty()) y *= gv[static_cast<size_t>(i)];
      out[static_cast<size_t>(o * m + i)] = y;
    }
  }
  return out;
}

HostTensor run_rms_norm(const HostTensor& x, const HostTensor& g, const RmsNormParams& p) {
  return run_one({x, g}, {}, [&](Network& net, const std::vector<Tensor>& t) {
    return net.add_rms_norm(t[0], t[1], p);
  });
}

TEST(CpuRmsNorm, FloatTypesAxesGamma) {
  Dims dims{3, 4, 8};
  for (DataType dt : kFloatTypes) {
    for (int64_t axis : {-1, -2, 0, 2}) {
      for (bool gamma : {false, true}) {
        SCOPED_TRACE(trace(name_of(dt) + " axis=" + std::to_string(axis) +
                           " gamma=" + std::to_string(gamma)));
        RmsNormParams p;
        p.axis = axis;
        p.epsilon = 1e-6;
        HostTensor x = random_tensor(dt, dims, -2.0, 2.0);
        HostTensor g = gamma ? random_tensor(dt, tail(dims, norm_axis(axis, 3)), 0.5, 1.5) : none();
        HostTensor got = run_rms_norm(x, g, p);
        EXPECT_TRUE(has_type(got, dt, dims));
        EXPECT_TRUE(all_close(got, ref_rms_norm(x, g, axis, p.epsilon), default_tolerance(dt),
                              default_tolerance(dt)));
      }
    }
  }
}

TEST(CpuRmsNorm, HandComputed) {
  // [3, 4]: mean of squares 12.5.
  HostTensor x = make_tensor(DataType::kFloat32, Dims{2, 2}, {3, 4, 0, 0});
  RmsNormParams p;
  p.epsilon = 0.0;
  double r = std::sqrt(12.5);
  // An all-zero row with eps = 0 is 0/0 = nan.
  EXPECT_TRUE(all_close(run_rms_norm(x, none(), p), {3 / r, 4 / r, kNaN, kNaN}, 1e-6, 1e-6));
  p.epsilon = 1.0;
  HostTensor g = make_tensor(DataType::kFloat32, Dims{2}, {2, -1});
  double r1 = std::sqrt(13.5);
  EXPECT_TRUE(all_close(run_rms_norm(x, g, p), {6 / r1, -4 / r1, 0, 0}, 1e-6, 1e-6));
}

}  // namespace
}  // namespace kiln
