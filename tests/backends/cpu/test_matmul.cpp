// CPU reference kernels: matmul (torch.matmul semantics) and linear, through the public API,
// against naive double-loop references written here and a few hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "test_util.h"

namespace kiln {
namespace {

using testing::kIntTypes;
using testing::unflatten;

using testing::all_close;
using testing::build_and_run;
using testing::default_tolerance;
using testing::has_type;
using testing::kFloatTypes;
using testing::make_tensor;
using testing::random_tensor;
using testing::rng_seed;
using testing::to_doubles;

std::string trace(const std::string& what) { return what + " seed=" + std::to_string(rng_seed()); }

// Flat index into `in` of the (right-aligned) broadcast multi-index `oidx`.
int64_t bcast_index(const std::vector<int64_t>& oidx, const Dims& in) {
  int lead = static_cast<int>(oidx.size()) - in.rank();
  int64_t f = 0;
  for (int k = 0; k < in.rank(); ++k)
    f = f * in[k] + (in[k] == 1 ? 0 : oidx[static_cast<size_t>(k + lead)]);
  return f;
}

Dims sub_dims(const Dims& d, int from, int to) {
  Dims o;
  for (int i = from; i < to; ++i) o.push_back(d[i]);
  return o;
}

Dims bcast_dims(const Dims& a, const Dims& b) {
  int r = std::max(a.rank(), b.rank());
  Dims o;
  for (int i = 0; i < r; ++i) {
    int ia = i - (r - a.rank()), ib = i - (r - b.rank());
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    o.push_back(da == 1 ? db : da);
  }
  return o;
}

struct Ref {
  Dims dims;
  std::vector<double> values;
};

// torch.matmul in double, straight from the definition.
Ref matmul_ref(const HostTensor& A, const HostTensor& B, bool ta, bool tb) {
  std::vector<double> a = to_doubles(A), b = to_doubles(B);
  const Dims& ad = A.type.dims;
  const Dims& bd = B.type.dims;
  bool av = ad.rank() == 1, bv = bd.rank() == 1;
  ta = ta && !av;
  tb = tb && !bv;
  int ra = ad.rank(), rb = bd.rank();
  int64_t m = av ? 1 : (ta ? ad[ra - 1] : ad[ra - 2]);
  int64_t k = av ? ad[0] : (ta ? ad[ra - 2] : ad[ra - 1]);
  int64_t n = bv ? 1 : (tb ? bd[rb - 2] : bd[rb - 1]);
  Dims ba = av ? Dims{} : sub_dims(ad, 0, ra - 2), bb = bv ? Dims{} : sub_dims(bd, 0, rb - 2);
  Dims batch = bcast_dims(ba, bb);
  Ref r;
  r.dims = batch;
  if (!av) r.dims.push_back(m);
  if (!bv) r.dims.push_back(n);
  for (int64_t bi = 0; bi < batch.volume(); ++bi) {
    std::vector<int64_t> bidx = unflatten(bi, batch);
    int64_t abase = bcast_index(bidx, ba) * m * k, bbase = bcast_index(bidx, bb) * k * n;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < k; ++q) {
          double x = a[static_cast<size_t>(abase + (ta ? q * m + i : i * k + q))];
          double y = b[static_cast<size_t>(bbase + (tb ? j * k + q : q * n + j))];
          acc += x * y;
        }
        r.values.push_back(acc);
      }
    }
  }
  return r;
}

// Builds a one-layer network over inputs in0, in1, ... and runs it.
template <class F>
HostTensor run_one(const std::vector<HostTensor>& ins, F&& make, BuilderConfig cfg = {}) {
  Network net;
  std::vector<Tensor> ts;
  for (size_t i = 0; i < ins.size(); ++i) {
    auto t = net.add_input("in" + std::to_string(i), ins[i].type.dtype, ins[i].type.dims);
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    if (!t.ok()) return {};
    ts.push_back(*t);
  }
  Expected<Tensor> y = make(net, ts);
  EXPECT_TRUE(y.ok()) << y.status().to_string();
  if (!y.ok()) return {};
  EXPECT_TRUE(net.mark_output(*y, "y").ok());
  auto outs = build_and_run(net, ins, cfg);
  if (outs.size() != 1) {
    ADD_FAILURE() << "expected one output";
    return {};
  }
  return outs[0];
}

HostTensor run_matmul(const HostTensor& a, const HostTensor& b, bool ta = false, bool tb = false) {
  return run_one({a, b}, [&](Network& net, const std::vector<Tensor>& t) {
    return net.add_matmul(t[0], t[1], MatMulParams{ta, tb});
  });
}

struct MatmulCase {
  Dims a, b;
  bool ta, tb;
};

const std::vector<MatmulCase> kCases = {
    {{5}, {5}, false, false},        // 1-D x 1-D -> scalar
    {{4}, {4, 3}, false, false},     // 1-D x 2-D
    {{3, 4}, {4}, false, false},     // 2-D x 1-D
    {{3}, {2, 3, 4}, false, false},  // 1-D x batched
    {{2, 3, 4}, {4}, false, false},  // batched x 1-D
    {{3, 4}, {4, 5}, false, false},
    {{2, 1, 3, 4}, {5, 4, 6}, false, false},  // broadcast batch dims
    {{3, 5, 4}, {4, 6}, false, false},        // shared b (one folded gemm)
    {{5, 4}, {3, 4, 6}, false, false},        // shared a
    {{2, 4, 3}, {4, 5}, true, false},         // transpose_a
    {{3, 4}, {6, 4}, false, true},            // transpose_b
    {{2, 1, 4, 3}, {3, 6, 4}, true, true},    // both, with broadcast
    {{3, 5, 4}, {6, 4}, false, true},         // shared b transposed
    {{4}, {6, 4}, true, true},                // transposes ignored for 1-D a
    {{2, 0}, {0, 3}, false, false},           // K = 0: zeros
    {{0, 4}, {4, 3}, false, false},           // M = 0
    {{2, 0, 3, 4}, {4, 2}, false, false},     // empty batch
};

TEST(CpuMatMul, FloatCasesAgainstReference) {
  for (DataType dt : kFloatTypes) {
    for (const MatmulCase& c : kCases) {
      SCOPED_TRACE(trace(std::string(dtype_name(dt)) + " a" + c.a.to_string() + " b" +
                         c.b.to_string() + " ta=" + std::to_string(c.ta) +
                         " tb=" + std::to_string(c.tb)));
      HostTensor a = random_tensor(dt, c.a), b = random_tensor(dt, c.b);
      Ref ref = matmul_ref(a, b, c.ta, c.tb);
      HostTensor got = run_matmul(a, b, c.ta, c.tb);
      ASSERT_TRUE(has_type(got, dt, ref.dims));
      double tol = default_tolerance(dt);
      EXPECT_TRUE(all_close(got, ref.values, tol, tol));
    }
  }
}

TEST(CpuMatMul, HandComputed) {
  HostTensor a = make_tensor(DataType::kFloat32, {2, 2}, {1, 2, 3, 4});
  HostTensor b = make_tensor(DataType::kFloat32, {2, 2}, {5, 6, 7, 8});
  EXPECT_TRUE(all_close(run_matmul(a, b), {19, 22, 43, 50}, 0, 0));
  EXPECT_TRUE(all_close(run_matmul(a, b, true, false), {26, 30, 38, 44}, 0, 0));
  EXPECT_TRUE(all_close(run_matmul(a, b, false, true), {17, 23, 39, 53}, 0, 0));
  HostTensor v = make_tensor(DataType::kFloat32, {2}, {1, -1});
  HostTensor vv = run_matmul(v, v);
  EXPECT_TRUE(has_type(vv, DataType::kFloat32, Dims{}));
  EXPECT_TRUE(all_close(vv, {2}, 0, 0));
  EXPECT_TRUE(all_close(run_matmul(v, a), {-2, -2}, 0, 0));
  EXPECT_TRUE(all_close(run_matmul(a, v), {-1, -1}, 0, 0));
}

TEST(CpuMatMul, IntegerTypesExact) {
  for (DataType dt : kIntTypes) {
    for (const MatmulCase& c : kCases) {
      SCOPED_TRACE(
          trace(std::string(dtype_name(dt)) + " a" + c.a.to_string() + " b" + c.b.to_string()));
      double lo = dt == DataType::kUInt8 ? 0 : -6, hi = 7;
      HostTensor a = random_tensor(dt, c.a, lo, hi), b = random_tensor(dt, c.b, lo, hi);
      Ref ref = matmul_ref(a, b, c.ta, c.tb);
      // Small values: the double reference is exact; wrap it to the storage type as the kernel
      // does.
      for (double& x : ref.values) {
        auto v = static_cast<int64_t>(x);
        if (dt == DataType::kInt8)
          x = static_cast<int8_t>(static_cast<uint8_t>(static_cast<uint64_t>(v) & 0xffu));
        if (dt == DataType::kUInt8) x = static_cast<uint8_t>(static_cast<uint64_t>(v) & 0xffu);
      }
      HostTensor got = run_matmul(a, b, c.ta, c.tb);
      ASSERT_TRUE(has_type(got, dt, ref.dims));
      EXPECT_TRUE(all_close(got, ref.values, 0, 0));
    }
  }
}

TEST(CpuMatMul, IntegerOverflowWraps) {
  HostTensor a = make_tensor(DataType::kInt8, {1, 2}, {100, 100});
  HostTensor b = make_tensor(DataType::kInt8, {2, 1}, {2, 1});
  EXPECT_TRUE(all_close(run_matmul(a, b), {44}, 0, 0));  // 300 mod 256
  HostTensor c = make_tensor(DataType::kInt32, {1, 2}, {2147483647.0, 1});
  HostTensor d = make_tensor(DataType::kInt32, {2, 1}, {1, 1});
  EXPECT_TRUE(all_close(run_matmul(c, d), {-2147483648.0}, 0, 0));
  HostTensor e = make_tensor(DataType::kInt64, {1, 1}, {4611686018427387904.0});  // 2^62
  HostTensor f = make_tensor(DataType::kInt64, {1, 1}, {4});
  EXPECT_TRUE(all_close(run_matmul(e, f), {0}, 0, 0));  // 2^64 wraps to 0
}

TEST(CpuMatMul, LargerShapesAgainstReference) {
  HostTensor a = random_tensor(DataType::kFloat32, {2, 3, 37, 65});
  HostTensor b = random_tensor(DataType::kFloat32, {3, 65, 29});
  SCOPED_TRACE(trace("large"));
  Ref ref = matmul_ref(a, b, false, false);
  HostTensor got = run_matmul(a, b);
  ASSERT_TRUE(has_type(got, DataType::kFloat32, ref.dims));
  EXPECT_TRUE(all_close(got, ref.values, 1e-5, 1e-5));
}

// y = x W^T + b in double.
std::vector<double> linear_ref(const HostTensor& x, const HostTensor& w, const HostTensor* bias) {
  std::vector<double> xv = to_doubles(x), wv = to_doubles(w), bv;
  if (bias) bv = to_doubles(*bias);
  int64_t k = x.type.dims[x.type.dims.rank() - 1], n = w.type.dims[0];
  int64_t m = k == 0 ? 0 : x.numel() / k;
  if (k == 0) {
    m = 1;
    for (int i = 0; i + 1 < x.type.dims.rank(); ++i) m *= x.type.dims[i];
  }
  std::vector<double> y;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = bias ? bv[static_cast<size_t>(j)] : 0.0;
      for (int64_t q = 0; q < k; ++q)
        acc += xv[static_cast<size_t>(i * k + q)] * wv[static_cast<size_t>(j * k + q)];
      y.push_back(acc);
    }
  }
  return y;
}

TEST(CpuLinear, WithAndWithoutBias) {
  for (DataType dt : kFloatTypes) {
    for (const Dims& xd : {Dims{2, 3, 8}, Dims{8}, Dims{5, 8}, Dims{0, 8}}) {
      for (bool with_bias : {true, false}) {
        SCOPED_TRACE(trace(std::string(dtype_name(dt)) + " x" + xd.to_string() +
                           " bias=" + std::to_string(with_bias)));
        HostTensor x = random_tensor(dt, xd), w = random_tensor(dt, {6, 8}),
                   b = random_tensor(dt, {6});
        std::vector<HostTensor> ins = {x, w};
        if (with_bias) ins.push_back(b);
        HostTensor got = run_one(ins, [&](Network& net, const std::vector<Tensor>& t) {
          return net.add_linear(t[0], t[1], with_bias ? t[2] : Tensor{});
        });
        Dims od = xd;
        od[od.rank() - 1] = 6;
        ASSERT_TRUE(has_type(got, dt, od));
        double tol = default_tolerance(dt);
        EXPECT_TRUE(all_close(got, linear_ref(x, w, with_bias ? &b : nullptr), tol, tol));
      }
    }
  }
}

TEST(CpuLinear, HandComputed) {
  HostTensor x = make_tensor(DataType::kFloat32, {1, 2}, {1, 2});
  HostTensor w = make_tensor(DataType::kFloat32, {3, 2}, {1, 0, 0, 1, 1, 1});
  HostTensor b = make_tensor(DataType::kFloat32, {3}, {10, 20, 30});
  HostTensor got = run_one({x, w, b}, [](Network& net, const std::vector<Tensor>& t) {
    return net.add_linear(t[0], t[1], t[2]);
  });
  EXPECT_TRUE(has_type(got, DataType::kFloat32, Dims{1, 3}));
  EXPECT_TRUE(all_close(got, {11, 22, 33}, 0, 0));
}

TEST(CpuLinear, WeightAsConstant) {
  HostTensor x = random_tensor(DataType::kFloat32, {4, 7});
  HostTensor w = random_tensor(DataType::kFloat32, {3, 7});
  HostTensor b = random_tensor(DataType::kFloat32, {3});
  SCOPED_TRACE(trace("constant weight"));
  Network net;
  auto in = net.add_input("x", DataType::kFloat32, x.type.dims);
  ASSERT_TRUE(in.ok());
  auto y = net.add_linear(*in, testing::add_constant(net, w), testing::add_constant(net, b));
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  auto outs = build_and_run(net, {x});
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_TRUE(all_close(outs[0], linear_ref(x, w, &b), 1e-5, 1e-5));
}

TEST(CpuMatMul, DynamicDimsTwoShapes) {
  Network net;
  auto a = net.add_input("a", DataType::kFloat32, Dims{-1, 3, 4});
  auto b = net.add_input("b", DataType::kFloat32, Dims{4, -1});
  ASSERT_TRUE(a.ok() && b.ok());
  auto y = net.add_matmul(*a, *b);
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  OptimizationProfile prof;
  prof.set("a", {1, 3, 4}, {2, 3, 4}, {6, 3, 4}).set("b", {4, 1}, {4, 5}, {4, 9});
  cfg.profiles.push_back(prof);
  auto plan = Builder::build(net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  for (auto [batch, n] : {std::pair<int64_t, int64_t>{2, 5}, {5, 9}, {1, 1}}) {
    SCOPED_TRACE(trace("batch=" + std::to_string(batch) + " n=" + std::to_string(n)));
    HostTensor av = random_tensor(DataType::kFloat32, {batch, 3, 4});
    HostTensor bv = random_tensor(DataType::kFloat32, {4, n});
    auto outs = testing::run_engine(**engine, {av, bv});
    ASSERT_TRUE(outs.ok()) << outs.status().to_string();
    ASSERT_EQ(outs->size(), 1u);
    Ref ref = matmul_ref(av, bv, false, false);
    EXPECT_TRUE(has_type((*outs)[0], DataType::kFloat32, ref.dims));
    EXPECT_TRUE(all_close((*outs)[0], ref.values, 1e-5, 1e-5));
  }
}

}  // namespace
}  // namespace kiln
