// CUDA backend: reductions, cumsum, top-k, softmax and the normalizations against the CPU reference
// on random nonzero inputs: every dtype, odd and long axes (every kernel path: warp / block per
// row, strided columns, generic multi-axis), keep_dims, dynamic shapes, NaN and infinity rules.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gpu_test_util.h"

namespace kiln {
namespace {

using testing::add_constant;
using testing::expect_cuda_matches_cpu;
using testing::make_tensor;
using testing::random_tensor;
using testing::to_doubles;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

const std::vector<DataType> kAllTypes = {
    DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt32,
    DataType::kInt64,   DataType::kInt8,    DataType::kUInt8,    DataType::kBool};

std::string name_of(DataType dt) { return std::string(dtype_name(dt)); }
std::string name_of(ReduceOp op) { return std::string(enum_names(op)[static_cast<size_t>(op)]); }

std::string axes_str(const std::vector<int64_t>& axes) {
  std::string s = "{";
  for (size_t i = 0; i < axes.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(axes[i]);
  }
  return s + "}";
}

std::string trace(const std::string& what) {
  return what + " seed=" + std::to_string(testing::rng_seed());
}

/// Random values in [lo, hi) with exact zeros replaced by 1 (bool: a fair coin).
HostTensor nonzero(DataType dt, const Dims& dims, double lo, double hi) {
  HostTensor t = random_tensor(dt, dims, lo, hi);
  if (dt == DataType::kBool) return t;
  std::vector<double> v = to_doubles(t);
  bool changed = false;
  for (double& e : v) {
    if (e == 0.0) {
      e = 1.0;
      changed = true;
    }
  }
  return changed ? make_tensor(dt, dims, v) : t;
}

/// Default input: floats in [-2, 2), signed ints in [-8, 8), uint8 in [1, 8), all nonzero.
HostTensor input_for(DataType dt, const Dims& dims) {
  if (is_floating(dt)) return nonzero(dt, dims, -2, 2);
  if (dt == DataType::kUInt8) return nonzero(dt, dims, 1, 8);
  return nonzero(dt, dims, -8, 8);
}

/// Marks `t` as the next output; false (and a test failure) when t is an error.
bool mark(Network& net, const Expected<Tensor>& t, int& count) {
  if (!t.ok()) {
    ADD_FAILURE() << t.status().to_string();
    return false;
  }
  std::string name = "o";  // (appending avoids a GCC 12 -Wrestrict false positive)
  name += std::to_string(count++);
  Status s = net.mark_output(*t, name);
  if (!s.ok()) ADD_FAILURE() << s.to_string();
  return s.ok();
}

// ---- reduce ----

/// The ops that accept dt (and the given axes; `nonempty`: no reduced dim of extent 0).
std::vector<ReduceOp> reduce_ops(DataType dt, size_t naxes, bool nonempty) {
  std::vector<ReduceOp> ops;
  if (dt != DataType::kBool) ops.insert(ops.end(), {ReduceOp::kSum, ReduceOp::kProd});
  if (is_floating(dt)) ops.insert(ops.end(), {ReduceOp::kMean, ReduceOp::kVar, ReduceOp::kStd});
  ops.insert(ops.end(), {ReduceOp::kAny, ReduceOp::kAll});
  if (nonempty) {
    ops.insert(ops.end(), {ReduceOp::kMax, ReduceOp::kMin});
    if (naxes == 1) ops.insert(ops.end(), {ReduceOp::kArgMax, ReduceOp::kArgMin});
  }
  return ops;
}

/// One network: every op valid for x's dtype reduces x over `axes`; compared on cuda vs cpu.
void check_reduce(const HostTensor& x, const std::vector<int64_t>& axes, bool keep,
                  int64_t correction = 1, bool nonempty = true) {
  DataType dt = x.type.dtype;
  Network net;
  auto in = net.add_input("x", dt, x.type.dims);
  ASSERT_TRUE(in.ok()) << in.status().to_string();
  int count = 0;
  for (ReduceOp op : reduce_ops(dt, axes.size(), nonempty)) {
    SCOPED_TRACE(name_of(op));
    ASSERT_TRUE(mark(net, net.add_reduce(*in, ReduceParams{op, axes, keep, correction}), count));
  }
  expect_cuda_matches_cpu(net, {x});
}

TEST(CudaReduce, EveryOpDtypeAndKernelPath) {
  KILN_REQUIRE_GPU();
  struct Case {
    Dims dims;
    std::vector<int64_t> axes;
  };
  const Case cases[] = {
      {{}, {}},                 // rank 0
      {{7}, {}},                // every axis, short: a thread per output
      {{1}, {0}},               // one element
      {{33, 65}, {1}},          // rows: a warp per row
      {{33, 65}, {0}},          // columns, n split over blockDim.y
      {{4, 1000}, {-1}},        // rows, vectorized
      {{3, 4097}, {1}},         // rows: a block per row
      {{2, 1000, 7}, {1}},      // columns, split
      {{6, 3, 2}, {-2}},        // columns, a thread per output
      {{4, 1, 5}, {1}},         // only an extent-1 dim reduced
      {{5, 6, 7, 8}, {0, 2}},   // generic
      {{5, 6, 7, 8}, {1, -1}},  // generic
      {{5, 6, 7, 8}, {2, 3}},   // trailing block: rows
      {{5, 6, 7, 8}, {1, 2}},   // middle block: columns
      {{2, 5000, 3}, {0, 1}},   // columns, 3 outputs, n = 10000
      {{100003}, {}},           // one long row
  };
  int i = 0;
  for (DataType dt : kAllTypes) {
    for (const Case& c : cases) {
      const bool keep = (i++ % 2) == 1;
      SCOPED_TRACE(trace(name_of(dt) + " " + c.dims.to_string() + " axes=" + axes_str(c.axes) +
                         " keep=" + std::to_string(keep)));
      check_reduce(input_for(dt, c.dims), c.axes, keep);
    }
  }
}

TEST(CudaReduce, VarStdCorrection) {
  KILN_REQUIRE_GPU();
  for (DataType dt : testing::kFloatTypes) {
    for (int64_t corr : {0, 1, 2}) {
      for (auto [dims, axes] : std::vector<std::pair<Dims, std::vector<int64_t>>>{
               {{4, 33}, {1}}, {{40, 3}, {0}}, {{3, 6000}, {-1}}, {{5, 6, 7}, {0, 2}}}) {
        SCOPED_TRACE(trace(name_of(dt) + " corr=" + std::to_string(corr) + " " + dims.to_string()));
        Network net;
        auto in = net.add_input("x", dt, dims);
        ASSERT_TRUE(in.ok());
        int count = 0;
        for (ReduceOp op : {ReduceOp::kVar, ReduceOp::kStd})
          ASSERT_TRUE(mark(net, net.add_reduce(*in, ReduceParams{op, axes, false, corr}), count));
        expect_cuda_matches_cpu(net, {nonzero(dt, dims, -3, 5)});
      }
    }
  }
  // A large common offset: the two-pass variance keeps its precision.
  Network net;
  auto in = net.add_input("x", DataType::kFloat32, {8, 768});
  ASSERT_TRUE(in.ok());
  int count = 0;
  ASSERT_TRUE(mark(net, net.add_reduce(*in, ReduceParams{ReduceOp::kVar, {1}, false, 1}), count));
  expect_cuda_matches_cpu(net, {nonzero(DataType::kFloat32, {8, 768}, 999, 1001)});
}

TEST(CudaReduce, NanRules) {
  KILN_REQUIRE_GPU();
  // Per row: NaN in the middle; none; NaN first and last; NaN last (and a second one earlier).
  auto make = [](DataType dt, int64_t n, bool transposed) {
    std::vector<double> v(static_cast<size_t>(4 * n));
    for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<double>(i) * 0.7) * 3 + 0.01;
    auto set = [&](int64_t row, int64_t j) {
      v[static_cast<size_t>(transposed ? j * 4 + row : row * n + j)] = kNaN;
    };
    set(0, n / 2);
    set(2, 0);
    set(2, n - 1);
    set(3, n - 1);
    set(3, n / 3);
    return make_tensor(dt, transposed ? Dims{n, 4} : Dims{4, n}, v);
  };
  for (DataType dt : testing::kFloatTypes) {
    for (int64_t n : {5, 37, 1000, 5001}) {
      for (bool transposed : {false, true}) {
        SCOPED_TRACE(trace(name_of(dt) + " n=" + std::to_string(n) +
                           " transposed=" + std::to_string(transposed)));
        check_reduce(make(dt, n, transposed), {transposed ? 0 : 1}, false);
      }
    }
  }
  // Infinities: max/min/argmax with +-inf present; sum of +inf and -inf is NaN.
  HostTensor x = make_tensor(DataType::kFloat32, {3, 20}, [] {
    std::vector<double> v(60, 0.5);
    v[3] = kInf;
    v[25] = -kInf;
    v[45] = kInf;
    v[50] = -kInf;
    return v;
  }());
  check_reduce(x, {1}, true);
}

TEST(CudaReduce, AnyAllWithZerosAndBool) {
  KILN_REQUIRE_GPU();
  for (DataType dt : kAllTypes) {
    for (Dims dims : {Dims{6, 5}, Dims{6, 40}, Dims{3, 2000}, Dims{40, 6}}) {
      SCOPED_TRACE(trace(name_of(dt) + " " + dims.to_string()));
      // Mostly ones with a few zeros, plus an all-zero row and an all-one row.
      std::vector<double> v = to_doubles(random_tensor(DataType::kFloat32, dims, 0, 1));
      for (double& e : v) e = e < 0.1 ? 0.0 : 1.0;
      for (int64_t j = 0; j < dims[1]; ++j) {
        v[static_cast<size_t>(j)] = 0.0;
        v[static_cast<size_t>(dims[1] + j)] = 1.0;
      }
      HostTensor x = make_tensor(dt, dims, v);
      Network net;
      auto in = net.add_input("x", dt, dims);
      ASSERT_TRUE(in.ok());
      int count = 0;
      for (ReduceOp op :
           {ReduceOp::kAny, ReduceOp::kAll, ReduceOp::kArgMax, ReduceOp::kArgMin, ReduceOp::kMax}) {
        for (int64_t axis : {1, 0})
          ASSERT_TRUE(mark(net, net.add_reduce(*in, ReduceParams{op, {axis}, false, 1}), count));
      }
      expect_cuda_matches_cpu(net, {x});
    }
  }
}

TEST(CudaReduce, IntegerWrapAround) {
  KILN_REQUIRE_GPU();
  check_reduce(nonzero(DataType::kInt8, {4, 300}, 100, 127), {1}, false);
  check_reduce(nonzero(DataType::kUInt8, {300, 4}, 200, 255), {0}, false);
  check_reduce(nonzero(DataType::kInt32, {3, 64}, 3, 100), {1}, false);
  check_reduce(nonzero(DataType::kInt64, {3, 100}, 1000, 100000), {-1}, false);
  check_reduce(nonzero(DataType::kInt64, {2, 5, 70}, -100000, 100000), {0, 2}, true);
}

TEST(CudaReduce, ZeroSizeReducedDim) {
  KILN_REQUIRE_GPU();
  for (DataType dt : {DataType::kFloat32, DataType::kFloat16, DataType::kInt32}) {
    SCOPED_TRACE(name_of(dt));
    HostTensor x(TensorType{dt, Dims{3, 0, 4}});
    check_reduce(x, {1}, false, 1, /*nonempty=*/false);
    check_reduce(x, {1, 2}, true, 1, /*nonempty=*/false);
  }
}

TEST(CudaReduce, DynamicShapes) {
  KILN_REQUIRE_GPU();
  {  // x [-1, 33]: sum / argmax over axis 1 at two batch sizes
    Network net;
    auto in = net.add_input("x", DataType::kFloat16, {-1, 33});
    ASSERT_TRUE(in.ok());
    int count = 0;
    ASSERT_TRUE(mark(net, net.add_reduce(*in, ReduceParams{ReduceOp::kSum, {1}, false, 1}), count));
    ASSERT_TRUE(
        mark(net, net.add_reduce(*in, ReduceParams{ReduceOp::kArgMax, {-1}, true, 1}), count));
    ASSERT_TRUE(mark(net, net.add_reduce(*in, ReduceParams{ReduceOp::kMax, {0}, false, 1}), count));
    BuilderConfig cfg;
    cfg.profiles = {OptimizationProfile().set("x", {1, 33}, {8, 33}, {64, 33})};
    for (int64_t b : {5, 64}) {
      SCOPED_TRACE(trace("b=" + std::to_string(b)));
      expect_cuda_matches_cpu(net, {input_for(DataType::kFloat16, {b, 33})}, cfg);
    }
  }
  {  // x [4, -1]: variance over the dynamic axis (a thread per row at 7, a block per row at 4097)
    Network net;
    auto in = net.add_input("x", DataType::kFloat32, {4, -1});
    ASSERT_TRUE(in.ok());
    int count = 0;
    ASSERT_TRUE(mark(net, net.add_reduce(*in, ReduceParams{ReduceOp::kVar, {-1}, true, 1}), count));
    ASSERT_TRUE(mark(net, net.add_reduce(*in, ReduceParams{ReduceOp::kMean, {}, false, 1}), count));
    BuilderConfig cfg;
    cfg.profiles = {OptimizationProfile().set("x", {4, 1}, {4, 64}, {4, 5000})};
    for (int64_t n : {7, 4097}) {
      SCOPED_TRACE(trace("n=" + std::to_string(n)));
      expect_cuda_matches_cpu(net, {input_for(DataType::kFloat32, {4, n})}, cfg);
    }
  }
}

// ---- cumsum ----

TEST(CudaCumSum, DtypesAxesAndFlags) {
  KILN_REQUIRE_GPU();
  struct Case {
    Dims dims;
    int64_t axis;
  };
  const Case cases[] = {{{}, 0},        {{7}, 0},       {{3, 33}, 1},    {{2, 4097}, -1},
                        {{4097, 3}, 0}, {{5, 6, 7}, 1}, {{5, 6, 7}, -3}, {{1, 1000}, 1}};
  for (DataType dt : kAllTypes) {
    if (dt == DataType::kBool) continue;
    for (const Case& c : cases) {
      SCOPED_TRACE(
          trace(name_of(dt) + " " + c.dims.to_string() + " axis=" + std::to_string(c.axis)));
      Network net;
      auto in = net.add_input("x", dt, c.dims);
      ASSERT_TRUE(in.ok());
      int count = 0;
      for (bool exclusive : {false, true})
        for (bool reverse : {false, true})
          ASSERT_TRUE(
              mark(net, net.add_cumsum(*in, CumSumParams{c.axis, exclusive, reverse}), count));
      expect_cuda_matches_cpu(net, {input_for(dt, c.dims)});
    }
  }
}

TEST(CudaCumSum, DynamicShapes) {
  KILN_REQUIRE_GPU();
  Network net;
  auto in = net.add_input("x", DataType::kInt64, {-1, -1});
  ASSERT_TRUE(in.ok());
  int count = 0;
  ASSERT_TRUE(mark(net, net.add_cumsum(*in, CumSumParams{1, false, false}), count));
  ASSERT_TRUE(mark(net, net.add_cumsum(*in, CumSumParams{0, true, true}), count));
  BuilderConfig cfg;
  cfg.profiles = {OptimizationProfile().set("x", {1, 1}, {2, 16}, {8, 512})};
  for (Dims d : {Dims{2, 9}, Dims{8, 512}}) {
    SCOPED_TRACE(trace(d.to_string()));
    expect_cuda_matches_cpu(net, {input_for(DataType::kInt64, d)}, cfg);
  }
}

// ---- top-k ----

/// One network with largest and smallest top-k of x (values and indices of each).
void check_topk(const HostTensor& x, int64_t k, int64_t axis, bool sorted, BuilderConfig cfg = {},
                const Dims* declared = nullptr) {
  Network net;
  auto in = net.add_input("x", x.type.dtype, declared ? *declared : x.type.dims);
  ASSERT_TRUE(in.ok());
  int count = 0;
  for (bool largest : {true, false}) {
    auto r = net.add_topk(*in, TopKParams{k, axis, largest, sorted});
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ(r->size(), 2u);
    ASSERT_TRUE(mark(net, (*r)[0], count));
    ASSERT_TRUE(mark(net, (*r)[1], count));
  }
  expect_cuda_matches_cpu(net, {x}, cfg);
}

TEST(CudaTopK, DtypesShapesAndTies) {
  KILN_REQUIRE_GPU();
  struct Case {
    Dims dims;
    int64_t axis, k;
  };
  const Case cases[] = {
      {{5, 33}, -1, 1},      {{5, 33}, -1, 5},  {{5, 33}, 1, 33},  {{4, 1000}, -1, 100},
      {{2, 4097}, 1, 64},    {{7, 6, 5}, 1, 3}, {{7, 6, 5}, 0, 7}, {{3, 50257}, -1, 50},
      {{2, 3000}, -1, 2048},  // entries fill the shared-memory buffer
      {{2, 3000}, -1, 2500},  // entries in the workspace
      {{1}, 0, 1},
  };
  int i = 0;
  for (DataType dt : kAllTypes) {
    if (dt == DataType::kBool) continue;
    for (const Case& c : cases) {
      const bool sorted = (i++ % 3) != 2;
      SCOPED_TRACE(trace(name_of(dt) + " " + c.dims.to_string() +
                         " axis=" + std::to_string(c.axis) + " k=" + std::to_string(c.k)));
      // bf16, int8 and uint8 have few distinct values here: many ties, lower index first.
      check_topk(input_for(dt, c.dims), c.k, c.axis, sorted);
    }
  }
}

TEST(CudaTopK, NanInfAndSignedZero) {
  KILN_REQUIRE_GPU();
  for (DataType dt : testing::kFloatTypes) {
    for (int64_t n : {40, 3000}) {
      SCOPED_TRACE(trace(name_of(dt) + " n=" + std::to_string(n)));
      std::vector<double> v = to_doubles(random_tensor(DataType::kFloat32, {3, n}, -2, 2));
      v[1] = kNaN;
      v[static_cast<size_t>(n / 2)] = kNaN;
      v[static_cast<size_t>(n + 3)] = kInf;
      v[static_cast<size_t>(n + 4)] = -kInf;
      v[static_cast<size_t>(2 * n)] = -0.0;
      v[static_cast<size_t>(2 * n + 1)] = 0.0;
      v[static_cast<size_t>(2 * n + 2)] = -0.0;
      HostTensor x = make_tensor(dt, {3, n}, v);
      check_topk(x, 5, -1, true);
      check_topk(x, n, -1, true);
    }
  }
}

TEST(CudaTopK, DynamicShapes) {
  KILN_REQUIRE_GPU();
  BuilderConfig cfg;
  cfg.profiles = {OptimizationProfile().set("x", {1, 300}, {4, 300}, {32, 300})};
  Dims declared{-1, 300};
  for (int64_t b : {3, 17}) {
    SCOPED_TRACE(trace("b=" + std::to_string(b)));
    check_topk(input_for(DataType::kFloat32, {b, 300}), 7, 1, true, cfg, &declared);
  }
}

// ---- softmax ----

void check_softmax(const HostTensor& x, int64_t axis, BuilderConfig cfg = {},
                   const Dims* declared = nullptr) {
  Network net;
  auto in = net.add_input("x", x.type.dtype, declared ? *declared : x.type.dims);
  ASSERT_TRUE(in.ok());
  int count = 0;
  ASSERT_TRUE(mark(net, net.add_softmax(*in, axis, false), count));
  ASSERT_TRUE(mark(net, net.add_softmax(*in, axis, true), count));
  expect_cuda_matches_cpu(net, {x}, cfg);
}

TEST(CudaSoftmax, DtypesShapesAxes) {
  KILN_REQUIRE_GPU();
  struct Case {
    Dims dims;
    int64_t axis;
  };
  const Case cases[] = {
      {{}, -1},         {{7}, 0},        {{3, 33}, -1},   {{4, 1000}, -1},  // warp per row
      {{5, 768}, 1},    {{2, 1025}, -1}, {{2, 4097}, -1}, {{2, 8192}, -1},  // block per row, cached
      {{2, 20000}, -1},  // block per row, uncached
      {{4, 5, 6}, 1},   {{4, 5, 6}, 0},  {{4, 5, 6}, -3}, {{3, 1000, 2}, 1},  // columns
  };
  for (DataType dt : testing::kFloatTypes) {
    for (const Case& c : cases) {
      SCOPED_TRACE(
          trace(name_of(dt) + " " + c.dims.to_string() + " axis=" + std::to_string(c.axis)));
      check_softmax(nonzero(dt, c.dims, -4, 4), c.axis);
    }
  }
}

TEST(CudaSoftmax, BertAttentionScoresFp16) {
  KILN_REQUIRE_GPU();
  for (DataType dt : testing::kFloatTypes) {
    SCOPED_TRACE(trace(name_of(dt)));
    check_softmax(nonzero(dt, {8, 12, 128, 128}, -6, 6), -1);
  }
}

TEST(CudaSoftmax, NanAndInfinityRows) {
  KILN_REQUIRE_GPU();
  // Row 0: a NaN; row 1: all -inf (nan); row 2: a +inf (nan); row 3: some -inf; row 4: plain.
  for (DataType dt : testing::kFloatTypes) {
    for (int64_t n : {40, 2000}) {
      for (bool transposed : {false, true}) {
        SCOPED_TRACE(trace(name_of(dt) + " n=" + std::to_string(n) +
                           " transposed=" + std::to_string(transposed)));
        std::vector<double> v = to_doubles(random_tensor(DataType::kFloat32, {5, n}, -3, 3));
        auto at = [&](int64_t row, int64_t j) -> double& {
          return v[static_cast<size_t>(transposed ? j * 5 + row : row * n + j)];
        };
        at(0, n / 2) = kNaN;
        for (int64_t j = 0; j < n; ++j) at(1, j) = -kInf;
        at(2, 3) = kInf;
        at(3, 0) = -kInf;
        at(3, n - 1) = -kInf;
        HostTensor x = make_tensor(dt, transposed ? Dims{n, 5} : Dims{5, n}, v);
        check_softmax(x, transposed ? 0 : 1);
      }
    }
  }
}

TEST(CudaSoftmax, DynamicShapes) {
  KILN_REQUIRE_GPU();
  BuilderConfig cfg;
  cfg.profiles = {OptimizationProfile().set("x", {1, 12, 1}, {2, 12, 64}, {4, 12, 2048})};
  Dims declared{-1, 12, -1};
  for (Dims d : {Dims{2, 12, 9}, Dims{3, 12, 1030}}) {
    SCOPED_TRACE(trace(d.to_string()));
    check_softmax(nonzero(DataType::kFloat16, d, -4, 4), -1, cfg, &declared);
  }
}

// ---- layer norm / RMS norm ----

/// Layer norm (no affine, gamma only, gamma and beta) and RMS norm (with and without gamma) of x
/// over [axis, rank), in one network.
void check_trailing_norms(const HostTensor& x, int64_t axis, BuilderConfig cfg = {},
                          const Dims* declared = nullptr, bool rms = true) {
  const DataType dt = x.type.dtype;
  const Dims& d = x.type.dims;
  const int a = static_cast<int>(axis < 0 ? axis + d.rank() : axis);
  Dims tail(std::span<const int64_t>(d.begin() + a, static_cast<size_t>(d.rank() - a)));
  Network net;
  auto in = net.add_input("x", dt, declared ? *declared : d);
  ASSERT_TRUE(in.ok());
  Tensor gamma = add_constant(net, nonzero(dt, tail, 0.5, 1.5));
  Tensor beta = add_constant(net, nonzero(dt, tail, -1, 1));
  int count = 0;
  LayerNormParams lp;
  lp.axis = axis;
  ASSERT_TRUE(mark(net, net.add_layer_norm(*in, Tensor{}, Tensor{}, lp), count));
  ASSERT_TRUE(mark(net, net.add_layer_norm(*in, gamma, Tensor{}, lp), count));
  ASSERT_TRUE(mark(net, net.add_layer_norm(*in, gamma, beta, lp), count));
  if (rms) {
    RmsNormParams rp;
    rp.axis = axis;
    ASSERT_TRUE(mark(net, net.add_rms_norm(*in, Tensor{}, rp), count));
    ASSERT_TRUE(mark(net, net.add_rms_norm(*in, gamma, rp), count));
  }
  expect_cuda_matches_cpu(net, {x}, cfg);
}

TEST(CudaLayerRmsNorm, DtypesShapesAxes) {
  KILN_REQUIRE_GPU();
  struct Case {
    Dims dims;
    int64_t axis;
  };
  const Case cases[] = {
      {{3, 7}, -1},     {{2, 5, 33}, 1},   {{4, 1024}, -1},
      {{6, 768}, -1},   {{2, 3, 4, 5}, 2}, {{1}, 0},          // warp
      {{2, 1025}, -1},  {{2, 4096}, -1},   {{3, 8, 640}, 1},  // block, cached
      {{2, 16384}, -1},                                       // uncached
  };
  for (DataType dt : testing::kFloatTypes) {
    for (const Case& c : cases) {
      SCOPED_TRACE(
          trace(name_of(dt) + " " + c.dims.to_string() + " axis=" + std::to_string(c.axis)));
      check_trailing_norms(nonzero(dt, c.dims, -3, 3), c.axis);
    }
  }
}

TEST(CudaLayerRmsNorm, BertSizeFp16AndLargeOffset) {
  KILN_REQUIRE_GPU();
  for (DataType dt : testing::kFloatTypes) {
    SCOPED_TRACE(trace(name_of(dt)));
    check_trailing_norms(nonzero(dt, {8, 128, 768}, -3, 3), -1);
  }
  // A large common offset (mean 1000, spread 1): the variance must not cancel catastrophically.
  for (Dims d : {Dims{16, 768}, Dims{4, 4096}, Dims{2, 20000}}) {
    SCOPED_TRACE(trace("offset " + d.to_string()));
    check_trailing_norms(nonzero(DataType::kFloat32, d, 999, 1001), -1, {}, nullptr, /*rms=*/false);
  }
}

TEST(CudaLayerRmsNorm, NanRowsAndDynamicShapes) {
  KILN_REQUIRE_GPU();
  for (int64_t n : {40, 3000}) {
    std::vector<double> v = to_doubles(random_tensor(DataType::kFloat32, {3, n}, -2, 2));
    v[static_cast<size_t>(n + 5)] = kNaN;
    v[static_cast<size_t>(2 * n + 1)] = kInf;
    check_trailing_norms(make_tensor(DataType::kFloat32, {3, n}, v), -1);
  }
  BuilderConfig cfg;
  cfg.profiles = {OptimizationProfile().set("x", {1, 1, 64}, {2, 8, 64}, {4, 512, 64})};
  Dims declared{-1, -1, 64};
  for (Dims d : {Dims{2, 5, 64}, Dims{1, 300, 64}}) {
    SCOPED_TRACE(trace(d.to_string()));
    check_trailing_norms(nonzero(DataType::kFloat16, d, -2, 2), -1, cfg, &declared);
  }
}

// ---- group norm / batch norm ----

TEST(CudaGroupNorm, ShapesGroupsAffine) {
  KILN_REQUIRE_GPU();
  struct Case {
    Dims dims;
    int64_t groups;
  };
  const Case cases[] = {
      {{2, 6, 5, 5}, 3},    {{2, 32, 8, 8}, 8},     {{1, 4, 7}, 2},
      {{2, 8}, 4},          {{2, 320, 16, 16}, 32},  // 2560 per group: cached
      {{1, 64, 32, 32}, 4},                          // 16384 per group: uncached
      {{3, 6, 1, 1}, 6},                             // one element per group
  };
  for (DataType dt : testing::kFloatTypes) {
    for (const Case& c : cases) {
      SCOPED_TRACE(
          trace(name_of(dt) + " " + c.dims.to_string() + " groups=" + std::to_string(c.groups)));
      Network net;
      auto in = net.add_input("x", dt, c.dims);
      ASSERT_TRUE(in.ok());
      Dims ch{c.dims[1]};
      Tensor gamma = add_constant(net, nonzero(dt, ch, 0.5, 1.5));
      Tensor beta = add_constant(net, nonzero(dt, ch, -1, 1));
      GroupNormParams p;
      p.num_groups = c.groups;
      int count = 0;
      ASSERT_TRUE(mark(net, net.add_group_norm(*in, Tensor{}, Tensor{}, p), count));
      ASSERT_TRUE(mark(net, net.add_group_norm(*in, gamma, beta, p), count));
      expect_cuda_matches_cpu(net, {nonzero(dt, c.dims, -3, 3)});
    }
  }
  // Large common offset.
  Network net;
  auto in = net.add_input("x", DataType::kFloat32, {2, 8, 30, 30});
  ASSERT_TRUE(in.ok());
  GroupNormParams p;
  p.num_groups = 2;
  int count = 0;
  ASSERT_TRUE(mark(net, net.add_group_norm(*in, Tensor{}, Tensor{}, p), count));
  expect_cuda_matches_cpu(net, {nonzero(DataType::kFloat32, {2, 8, 30, 30}, 999, 1001)});
}

TEST(CudaBatchNorm, ShapesTypesAffine) {
  KILN_REQUIRE_GPU();
  for (DataType dt : testing::kFloatTypes) {
    for (Dims dims : {Dims{2, 3, 5, 5}, Dims{4, 64, 8, 8}, Dims{5, 7}, Dims{2, 3, 4, 4, 4},
                      Dims{2, 64, 56, 56}}) {
      SCOPED_TRACE(trace(name_of(dt) + " " + dims.to_string()));
      Network net;
      auto in = net.add_input("x", dt, dims);
      ASSERT_TRUE(in.ok());
      Dims ch{dims[1]};
      Tensor mean = add_constant(net, nonzero(dt, ch, -1, 1));
      Tensor var = add_constant(net, nonzero(dt, ch, 0.5, 2));
      Tensor gamma = add_constant(net, nonzero(dt, ch, 0.5, 1.5));
      Tensor beta = add_constant(net, nonzero(dt, ch, -1, 1));
      BatchNormParams p;
      int count = 0;
      ASSERT_TRUE(mark(net, net.add_batch_norm(*in, mean, var, Tensor{}, Tensor{}, p), count));
      ASSERT_TRUE(mark(net, net.add_batch_norm(*in, mean, var, gamma, beta, p), count));
      expect_cuda_matches_cpu(net, {nonzero(dt, dims, -3, 3)});
    }
  }
}

}  // namespace
}  // namespace kiln
