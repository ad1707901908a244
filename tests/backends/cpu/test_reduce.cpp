// CPU reference kernels: reduce (every op) and cumsum, through the public API, against naive
// double-loop references written here and a few hand-computed cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "test_util.h"

namespace kiln {
namespace {

using testing::flatten;
using testing::kIntTypes;
using testing::unflatten;

using testing::all_close;
using testing::build_and_run;
using testing::default_tolerance;
using testing::has_type;
using testing::kFloatTypes;
using testing::make_tensor;
using testing::random_tensor;
using testing::rng;
using testing::rng_seed;
using testing::to_doubles;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string name_of(ReduceOp op) { return std::string(enum_names(op)[static_cast<size_t>(op)]); }
std::string name_of(DataType dt) { return std::string(dtype_name(dt)); }

std::string axes_str(const std::vector<int64_t>& axes) {
  std::string s = "{";
  for (size_t i = 0; i < axes.size(); ++i) s += (i ? "," : "") + std::to_string(axes[i]);
  return s + "}";
}

std::string trace(const std::string& what) { return what + " seed=" + std::to_string(rng_seed()); }

/// Wraps an exact integer to the value range of dt (two's complement), as the kernel's storage
/// does.
double wrap_to(DataType dt, int64_t v) {
  switch (dt) {
    case DataType::kInt8:
      return static_cast<int8_t>(static_cast<uint8_t>(static_cast<uint64_t>(v) & 0xffu));
    case DataType::kUInt8:
      return static_cast<uint8_t>(static_cast<uint64_t>(v) & 0xffu);
    case DataType::kInt32:
      return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(v) & 0xffffffffu));
    case DataType::kBool:
      return v != 0;
    default:
      return static_cast<double>(v);
  }
}

bool is_arg(ReduceOp op) { return op == ReduceOp::kArgMax || op == ReduceOp::kArgMin; }
bool is_logical(ReduceOp op) { return op == ReduceOp::kAny || op == ReduceOp::kAll; }

DataType out_dtype(ReduceOp op, DataType in) {
  return is_arg(op) ? DataType::kInt64 : is_logical(op) ? DataType::kBool : in;
}

/// Reduces one group of values (in order along the reduced dims) the way torch does.
double reduce_group(const std::vector<double>& v, ReduceOp op, int64_t correction, DataType dt) {
  bool integer = !is_floating(dt);
  auto n = static_cast<int64_t>(v.size());
  switch (op) {
    case ReduceOp::kSum: {
      if (integer) {
        uint64_t s = 0;
        for (double e : v) s += static_cast<uint64_t>(static_cast<int64_t>(e));
        return wrap_to(dt, static_cast<int64_t>(s));
      }
      double s = 0;
      for (double e : v) s += e;
      return s;
    }
    case ReduceOp::kMean: {
      double s = 0;
      for (double e : v) s += e;
      return s / static_cast<double>(n);
    }
    case ReduceOp::kProd: {
      if (integer) {
        uint64_t s = 1;
        for (double e : v) s *= static_cast<uint64_t>(static_cast<int64_t>(e));
        return wrap_to(dt, static_cast<int64_t>(s));
      }
      double s = 1;
      for (double e : v) s *= e;
      return s;
    }
    case ReduceOp::kMax:
    case ReduceOp::kMin: {
      double best = v.at(0);
      for (double e : v) {
        if (std::isnan(e)) return e;
        if (op == ReduceOp::kMax ? e > best : e < best) best = e;
      }
      return best;
    }
    case ReduceOp::kArgMax:
    case ReduceOp::kArgMin: {
      size_t best = 0;
      for (size_t i = 0; i < v.size(); ++i) {
        if (std::isnan(v[i])) return static_cast<double>(i);
        if (op == ReduceOp::kArgMax ? v[i] > v[best] : v[i] < v[best]) best = i;
      }
      return static_cast<double>(best);
    }
    case ReduceOp::kVar:
    case ReduceOp::kStd: {
      if (n == 0) return kNaN;
      double m = 0;
      for (double e : v) m += e;
      m /= static_cast<double>(n);
      double ss = 0;
      for (double e : v) ss += (e - m) * (e - m);
      double var = ss / std::max(0.0, static_cast<double>(n - correction));
      return op == ReduceOp::kStd ? std::sqrt(var) : var;
    }
    case ReduceOp::kAny: {
      for (double e : v)
        if (e != 0) return 1;
      return 0;
    }
    case ReduceOp::kAll: {
      for (double e : v)
        if (e == 0) return 0;
      return 1;
    }
  }
  return kNaN;
}

struct Ref {
  Dims dims;
  std::vector<double> values;
};

/// Naive reduction: every input element is appended to the group of its output element.
Ref ref_reduce(const HostTensor& x, const ReduceParams& p) {
  const Dims& d = x.type.dims;
  int r = d.rank();
  std::vector<bool> red(static_cast<size_t>(r), p.axes.empty());
  for (int64_t a : p.axes)
    if (r > 0) red[static_cast<size_t>(a < 0 ? a + r : a)] = true;
  Dims od, gd;  // output dims; group-index dims (reduced dims dropped)
  for (int i = 0; i < r; ++i) {
    if (!red[static_cast<size_t>(i)]) {
      od.push_back(d[i]);
      gd.push_back(d[i]);
    } else if (p.keep_dims) {
      od.push_back(1);
    }
  }
  std::vector<std::vector<double>> groups(static_cast<size_t>(gd.volume()));
  std::vector<double> xv = to_doubles(x);
  for (int64_t i = 0; i < x.numel(); ++i) {
    std::vector<int64_t> idx = unflatten(i, d), gi;
    for (int k = 0; k < r; ++k)
      if (!red[static_cast<size_t>(k)]) gi.push_back(idx[static_cast<size_t>(k)]);
    groups[static_cast<size_t>(flatten(gi, gd))].push_back(xv[static_cast<size_t>(i)]);
  }
  Ref ref{od, {}};
  for (auto& g : groups) ref.values.push_back(reduce_group(g, p.op, p.correction, x.type.dtype));
  return ref;
}

/// Builds x -> reduce -> y and runs it on the cpu backend.
HostTensor run_reduce(const HostTensor& x, const ReduceParams& p) {
  Network net;
  auto in = net.add_input("x", x.type.dtype, x.type.dims);
  EXPECT_TRUE(in.ok()) << in.status().to_string();
  if (!in.ok()) return {};
  auto y = net.add_reduce(*in, p);
  EXPECT_TRUE(y.ok()) << y.status().to_string();
  if (!y.ok()) return {};
  EXPECT_TRUE(net.mark_output(*y, "y").ok());
  auto outs = build_and_run(net, {x});
  if (outs.size() != 1) {
    ADD_FAILURE() << "expected one output, got " << outs.size();
    return {};
  }
  return outs[0];
}

/// Runs `p` on `x` and checks dtype, dims and values against the naive reference.
void check_reduce(const HostTensor& x, const ReduceParams& p, double tol) {
  Ref ref = ref_reduce(x, p);
  HostTensor got = run_reduce(x, p);
  DataType odt = out_dtype(p.op, x.type.dtype);
  EXPECT_TRUE(has_type(got, odt, ref.dims));
  bool exact = is_arg(p.op) || is_logical(p.op) || !is_floating(x.type.dtype) ||
               p.op == ReduceOp::kMax || p.op == ReduceOp::kMin;
  EXPECT_TRUE(all_close(got, ref.values, exact ? 0.0 : tol, exact ? 0.0 : tol));
}

/// Random values with about `p_zero` of them set to exactly zero (so any/all see both outcomes).
HostTensor with_zeros(DataType dt, const Dims& dims, double lo, double hi, double p_zero) {
  std::vector<double> v = to_doubles(random_tensor(dt, dims, lo, hi));
  std::bernoulli_distribution zero(p_zero);
  for (double& e : v)
    if (zero(rng())) e = 0;
  return make_tensor(dt, dims, v);
}

const std::vector<ReduceOp> kAllOps = {ReduceOp::kSum,    ReduceOp::kMean, ReduceOp::kMax,
                                       ReduceOp::kMin,    ReduceOp::kProd, ReduceOp::kArgMax,
                                       ReduceOp::kArgMin, ReduceOp::kVar,  ReduceOp::kStd,
                                       ReduceOp::kAny,    ReduceOp::kAll};
const std::vector<ReduceOp> kIntOps = {ReduceOp::kSum,  ReduceOp::kMax,    ReduceOp::kMin,
                                       ReduceOp::kProd, ReduceOp::kArgMax, ReduceOp::kArgMin,
                                       ReduceOp::kAny,  ReduceOp::kAll};

HostTensor input_for(ReduceOp op, DataType dt, const Dims& dims) {
  if (is_logical(op)) return with_zeros(dt, dims, -1.0, 1.0, 0.2);
  if (op == ReduceOp::kProd) return random_tensor(dt, dims, 0.5, 1.5);  // keeps products O(1)
  return random_tensor(dt, dims, -1.0, 1.0);
}

// ---- reduce: every op, float types, single axis ----

TEST(CpuReduce, EveryOpSingleAxisFloatTypes) {
  Dims dims{3, 4, 5};
  for (DataType dt : kFloatTypes) {
    for (ReduceOp op : kAllOps) {
      for (int64_t axis : {0, 1, 2, -1, -2}) {
        for (bool keep : {false, true}) {
          SCOPED_TRACE(trace(name_of(op) + " " + name_of(dt) + " axis=" + std::to_string(axis) +
                             " keep=" + std::to_string(keep)));
          ReduceParams p;
          p.op = op;
          p.axes = {axis};
          p.keep_dims = keep;
          check_reduce(input_for(op, dt, dims), p, default_tolerance(dt));
        }
      }
    }
  }
}

TEST(CpuReduce, MultiAxisAndAllAxes) {
  Dims dims{2, 3, 4, 5};
  const std::vector<std::vector<int64_t>> axes_list = {
      {0, 2}, {1, 3}, {0, 3}, {1, 2}, {-3, -1}, {3, 0}, {0, 1, 2}, {1, 2, 3}, {0, 1, 2, 3}, {}};
  for (DataType dt : kFloatTypes) {
    for (ReduceOp op : kAllOps) {
      if (is_arg(op)) continue;  // one axis only
      for (const auto& axes : axes_list) {
        for (bool keep : {false, true}) {
          SCOPED_TRACE(trace(name_of(op) + " " + name_of(dt) + " axes=" + axes_str(axes) +
                             " keep=" + std::to_string(keep)));
          ReduceParams p;
          p.op = op;
          p.axes = axes;
          p.keep_dims = keep;
          if (op == ReduceOp::kProd) {
            check_reduce(random_tensor(dt, dims, 0.8, 1.25), p, default_tolerance(dt));
          } else {
            check_reduce(input_for(op, dt, dims), p, default_tolerance(dt));
          }
        }
      }
    }
  }
}

// Extent-1 dims between and around the reduced ones, and reductions over only extent-1 dims.
TEST(CpuReduce, UnitDimsAroundReducedAxes) {
  Dims dims{3, 1, 4, 1, 5};
  const std::vector<std::vector<int64_t>> axes_list = {{0, 2, 4}, {0, 2},    {2, 4}, {1, 3},  {1},
                                                       {0, 1},    {2, 3, 4}, {0, 4}, {-1, -3}};
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kVar, ReduceOp::kAll}) {
    for (const auto& axes : axes_list) {
      for (bool keep : {false, true}) {
        SCOPED_TRACE(
            trace(name_of(op) + " axes=" + axes_str(axes) + " keep=" + std::to_string(keep)));
        ReduceParams p;
        p.op = op;
        p.axes = axes;
        p.keep_dims = keep;
        check_reduce(input_for(op, DataType::kFloat32, dims), p,
                     default_tolerance(DataType::kFloat32));
      }
    }
  }
}

TEST(CpuReduce, LargerShapesInnerAndOuter) {
  // Long rows (BERT-like hidden size) and a reduction with a large inner extent.
  for (auto [dims, axes] :
       std::vector<std::pair<Dims, std::vector<int64_t>>>{{Dims{128, 768}, {-1}},
                                                          {Dims{16, 33, 70}, {1}},
                                                          {Dims{9, 64, 65}, {0}},
                                                          {Dims{6, 7, 8, 9}, {0, 2}}}) {
    for (ReduceOp op :
         {ReduceOp::kSum, ReduceOp::kMean, ReduceOp::kVar, ReduceOp::kMax, ReduceOp::kMin}) {
      SCOPED_TRACE(trace(name_of(op) + " dims=" + dims.to_string() + " axes=" + axes_str(axes)));
      ReduceParams p;
      p.op = op;
      p.axes = axes;
      check_reduce(random_tensor(DataType::kFloat32, dims, -2.0, 2.0), p,
                   default_tolerance(DataType::kFloat32));
    }
  }
}

TEST(CpuReduce, VarStdCorrection) {
  Dims dims{4, 6};
  for (DataType dt : kFloatTypes) {
    for (ReduceOp op : {ReduceOp::kVar, ReduceOp::kStd}) {
      for (int64_t corr : {0, 1, 2}) {
        for (std::vector<int64_t> axes :
             {std::vector<int64_t>{1}, std::vector<int64_t>{0}, std::vector<int64_t>{}}) {
          SCOPED_TRACE(trace(name_of(op) + " " + name_of(dt) +
                             " correction=" + std::to_string(corr) + " axes=" + axes_str(axes)));
          ReduceParams p;
          p.op = op;
          p.axes = axes;
          p.correction = corr;
          check_reduce(random_tensor(dt, dims, -3.0, 3.0), p, default_tolerance(dt));
        }
      }
    }
  }
}

TEST(CpuReduce, HandComputed) {
  HostTensor x = make_tensor(DataType::kFloat32, Dims{2, 3}, {1, 2, 3, 4, 5, 9});
  auto run = [&](ReduceOp op, std::vector<int64_t> axes, bool keep = false, int64_t corr = 1) {
    ReduceParams p;
    p.op = op;
    p.axes = std::move(axes);
    p.keep_dims = keep;
    p.correction = corr;
    return run_reduce(x, p);
  };
  EXPECT_TRUE(all_close(run(ReduceOp::kSum, {1}), {6, 18}, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kSum, {0}), {5, 7, 12}, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kSum, {}), {24}, 0, 0));
  EXPECT_TRUE(has_type(run(ReduceOp::kSum, {}), DataType::kFloat32, Dims{}));
  EXPECT_TRUE(has_type(run(ReduceOp::kSum, {}, true), DataType::kFloat32, Dims{1, 1}));
  EXPECT_TRUE(has_type(run(ReduceOp::kMean, {-1}, true), DataType::kFloat32, Dims{2, 1}));
  EXPECT_TRUE(all_close(run(ReduceOp::kMean, {-1}, true), {2, 6}, 1e-6, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kProd, {1}), {6, 180}, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kMax, {0}), {4, 5, 9}, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kMin, {1}), {1, 4}, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kArgMax, {1}), {2, 2}, 0, 0));
  EXPECT_TRUE(has_type(run(ReduceOp::kArgMax, {1}), DataType::kInt64, Dims{2}));
  EXPECT_TRUE(all_close(run(ReduceOp::kArgMin, {0}), {0, 0, 0}, 0, 0));
  // row 1: mean 2, squared deviations 1+0+1 = 2; row 2: mean 6, 4+1+9 = 14.
  EXPECT_TRUE(all_close(run(ReduceOp::kVar, {1}), {1.0, 7.0}, 1e-6, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kVar, {1}, false, 0), {2.0 / 3.0, 14.0 / 3.0}, 1e-6, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kStd, {1}), {1.0, std::sqrt(7.0)}, 1e-6, 0));
  // N - correction <= 0: torch gives inf (nonzero sum of squares) and nan (zero).
  EXPECT_TRUE(all_close(run(ReduceOp::kVar, {1}, false, 3), {kInf, kInf}, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kStd, {1}, false, 5), {kInf, kInf}, 0, 0));
  HostTensor c = make_tensor(DataType::kFloat32, Dims{2, 1}, {3, 4});
  ReduceParams pv;
  pv.op = ReduceOp::kVar;
  pv.axes = {1};
  EXPECT_TRUE(all_close(run_reduce(c, pv), {kNaN, kNaN}, 0, 0));
  HostTensor b = make_tensor(DataType::kFloat32, Dims{2, 3}, {0, 0, 2, 1, 1, 1});
  EXPECT_TRUE(all_close(run_reduce(b, ReduceParams{ReduceOp::kAny, {1}, false, 1}), {1, 1}, 0, 0));
  EXPECT_TRUE(all_close(run_reduce(b, ReduceParams{ReduceOp::kAll, {1}, false, 1}), {0, 1}, 0, 0));
  EXPECT_TRUE(
      all_close(run_reduce(b, ReduceParams{ReduceOp::kAll, {0}, false, 1}), {0, 0, 1}, 0, 0));
  EXPECT_TRUE(has_type(run_reduce(b, ReduceParams{ReduceOp::kAll, {0}, false, 1}), DataType::kBool,
                       Dims{3}));
}

TEST(CpuReduce, ArgTiesTakeFirstIndex) {
  HostTensor x = make_tensor(DataType::kFloat32, Dims{2, 5}, {1, 3, 0, 3, 0, 2, 2, 2, 2, 2});
  EXPECT_TRUE(
      all_close(run_reduce(x, ReduceParams{ReduceOp::kArgMax, {1}, false, 1}), {1, 0}, 0, 0));
  EXPECT_TRUE(
      all_close(run_reduce(x, ReduceParams{ReduceOp::kArgMin, {1}, false, 1}), {2, 0}, 0, 0));
  EXPECT_TRUE(
      all_close(run_reduce(x, ReduceParams{ReduceOp::kArgMin, {-1}, true, 1}), {2, 0}, 0, 0));
  EXPECT_TRUE(has_type(run_reduce(x, ReduceParams{ReduceOp::kArgMin, {-1}, true, 1}),
                       DataType::kInt64, Dims{2, 1}));
}

TEST(CpuReduce, NanPropagation) {
  // Row 0: NaN in the middle; row 1: no NaN; row 2: NaN first and last; row 3: NaN last.
  HostTensor x = make_tensor(DataType::kFloat32, Dims{4, 4},
                             {1, kNaN, 5, -2, 0.5, 7, -3, 2, kNaN, 9, -9, kNaN, 4, 8, -1, kNaN});
  auto run = [&](ReduceOp op, int64_t axis) {
    return run_reduce(x, ReduceParams{op, {axis}, false, 1});
  };
  EXPECT_TRUE(all_close(run(ReduceOp::kMax, 1), {kNaN, 7, kNaN, kNaN}, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kMin, 1), {kNaN, -3, kNaN, kNaN}, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kArgMax, 1), {1, 1, 0, 3}, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kArgMin, 1), {1, 2, 0, 3}, 0, 0));
  // Along axis 0 columns: {1,.5,nan,4} {nan,7,9,8} {5,-3,-9,-1} {-2,2,nan,nan}
  EXPECT_TRUE(all_close(run(ReduceOp::kMax, 0), {kNaN, kNaN, 5, kNaN}, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kArgMax, 0), {2, 0, 0, 2}, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kArgMin, 0), {2, 0, 2, 2}, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kSum, 1), {kNaN, 6.5, kNaN, kNaN}, 0, 0));
  // NaN is "true" for any/all (torch: nan != 0).
  HostTensor y = make_tensor(DataType::kFloat32, Dims{2, 2}, {kNaN, 0, kNaN, 1});
  EXPECT_TRUE(all_close(run_reduce(y, ReduceParams{ReduceOp::kAny, {1}, false, 1}), {1, 1}, 0, 0));
  EXPECT_TRUE(all_close(run_reduce(y, ReduceParams{ReduceOp::kAll, {1}, false, 1}), {0, 1}, 0, 0));
  // Half types too.
  for (DataType dt : {DataType::kFloat16, DataType::kBFloat16}) {
    SCOPED_TRACE(name_of(dt));
    HostTensor h = make_tensor(dt, Dims{2, 3}, {1, kNaN, 2, 3, 2, 1});
    EXPECT_TRUE(
        all_close(run_reduce(h, ReduceParams{ReduceOp::kMax, {1}, false, 1}), {kNaN, 3}, 0, 0));
    EXPECT_TRUE(
        all_close(run_reduce(h, ReduceParams{ReduceOp::kArgMax, {1}, false, 1}), {1, 0}, 0, 0));
  }
}

TEST(CpuReduce, IntegerTypes) {
  Dims dims{3, 4, 5};
  for (DataType dt : kIntTypes) {
    double lo = dt == DataType::kUInt8 ? 0 : -6, hi = 7;
    for (ReduceOp op : kIntOps) {
      for (std::vector<int64_t> axes :
           {std::vector<int64_t>{0}, std::vector<int64_t>{-1}, std::vector<int64_t>{1},
            std::vector<int64_t>{0, 2}, std::vector<int64_t>{}}) {
        if (is_arg(op) && axes.size() != 1) continue;
        for (bool keep : {false, true}) {
          SCOPED_TRACE(trace(name_of(op) + " " + name_of(dt) + " axes=" + axes_str(axes) +
                             " keep=" + std::to_string(keep)));
          ReduceParams p;
          p.op = op;
          p.axes = axes;
          p.keep_dims = keep;
          HostTensor x = is_logical(op) ? with_zeros(dt, dims, lo + 1, hi, 0.2)
                                        : random_tensor(dt, dims, lo, hi);
          check_reduce(x, p, 0.0);
        }
      }
    }
  }
}

TEST(CpuReduce, IntegerWrapAround) {
  HostTensor a = make_tensor(DataType::kInt32, Dims{2}, {2147483647.0, 1.0});
  EXPECT_TRUE(
      all_close(run_reduce(a, ReduceParams{ReduceOp::kSum, {}, false, 1}), {-2147483648.0}, 0, 0));
  HostTensor b = make_tensor(DataType::kUInt8, Dims{3}, {200, 100, 3});
  EXPECT_TRUE(all_close(run_reduce(b, ReduceParams{ReduceOp::kSum, {0}, false, 1}), {47}, 0, 0));
  EXPECT_TRUE(all_close(run_reduce(b, ReduceParams{ReduceOp::kProd, {0}, false, 1}),
                        {(200 * 100 * 3) % 256}, 0, 0));
  HostTensor c = make_tensor(DataType::kInt8, Dims{2}, {-128, -1});
  EXPECT_TRUE(all_close(run_reduce(c, ReduceParams{ReduceOp::kProd, {0}, false, 1}), {-128}, 0, 0));
  EXPECT_TRUE(all_close(run_reduce(c, ReduceParams{ReduceOp::kSum, {0}, false, 1}), {127}, 0, 0));
  // int64: 2^62 * 4 wraps to 0; large values stay exact (no detour through double).
  HostTensor d(TensorType{DataType::kInt64, Dims{3}});
  d.as<int64_t>()[0] = int64_t(1) << 62;
  d.as<int64_t>()[1] = 4;
  d.as<int64_t>()[2] = 1;
  HostTensor got = run_reduce(d, ReduceParams{ReduceOp::kProd, {0}, false, 1});
  ASSERT_EQ(got.numel(), 1);
  EXPECT_EQ(got.as<int64_t>()[0], 0);
  d.as<int64_t>()[0] = (int64_t(1) << 62) + 1;
  d.as<int64_t>()[1] = (int64_t(1) << 62) + 3;
  d.as<int64_t>()[2] = -5;
  got = run_reduce(d, ReduceParams{ReduceOp::kMax, {0}, false, 1});
  ASSERT_EQ(got.numel(), 1);
  EXPECT_EQ(got.as<int64_t>()[0], (int64_t(1) << 62) + 3);
  got = run_reduce(d, ReduceParams{ReduceOp::kSum, {0}, false, 1});
  ASSERT_EQ(got.numel(), 1);
  EXPECT_EQ(got.as<int64_t>()[0], std::numeric_limits<int64_t>::max());  // 2^63 + 4 - 5, wrapped
}

TEST(CpuReduce, BoolInputs) {
  Dims dims{3, 5};
  for (ReduceOp op : {ReduceOp::kAny, ReduceOp::kAll, ReduceOp::kMax, ReduceOp::kMin,
                      ReduceOp::kArgMax, ReduceOp::kArgMin}) {
    for (int64_t axis : {0, 1, -1}) {
      SCOPED_TRACE(trace(name_of(op) + " axis=" + std::to_string(axis)));
      HostTensor x = random_tensor(DataType::kBool, dims);
      ReduceParams p;
      p.op = op;
      p.axes = {axis};
      check_reduce(x, p, 0.0);
    }
  }
  HostTensor x = make_tensor(DataType::kBool, Dims{2, 3}, {0, 1, 1, 0, 0, 0});
  EXPECT_TRUE(all_close(run_reduce(x, ReduceParams{ReduceOp::kAny, {1}, false, 1}), {1, 0}, 0, 0));
  EXPECT_TRUE(all_close(run_reduce(x, ReduceParams{ReduceOp::kMax, {1}, false, 1}), {1, 0}, 0, 0));
  EXPECT_TRUE(has_type(run_reduce(x, ReduceParams{ReduceOp::kMax, {1}, false, 1}), DataType::kBool,
                       Dims{2}));
  EXPECT_TRUE(
      all_close(run_reduce(x, ReduceParams{ReduceOp::kArgMax, {1}, false, 1}), {1, 0}, 0, 0));
}

TEST(CpuReduce, RankZero) {
  for (DataType dt : {DataType::kFloat32, DataType::kFloat16, DataType::kInt32}) {
    HostTensor x = make_tensor(dt, Dims{}, {3});
    for (ReduceOp op :
         {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kProd, ReduceOp::kArgMax, ReduceOp::kAny}) {
      for (std::vector<int64_t> axes :
           {std::vector<int64_t>{}, std::vector<int64_t>{0}, std::vector<int64_t>{-1}}) {
        if (is_arg(op) && axes.empty()) continue;
        for (bool keep : {false, true}) {
          SCOPED_TRACE(name_of(op) + " " + name_of(dt) + " axes=" + axes_str(axes) +
                       " keep=" + std::to_string(keep));
          ReduceParams p;
          p.op = op;
          p.axes = axes;
          p.keep_dims = keep;
          HostTensor got = run_reduce(x, p);
          EXPECT_TRUE(has_type(got, out_dtype(op, dt), Dims{}));
          double want = is_arg(op) ? 0.0 : is_logical(op) ? 1.0 : 3.0;
          EXPECT_TRUE(all_close(got, {want}, 0, 0));
        }
      }
    }
    if (is_floating(dt)) {
      HostTensor got = run_reduce(x, ReduceParams{ReduceOp::kMean, {}, false, 1});
      EXPECT_TRUE(all_close(got, {3.0}, 0, 0));
      got = run_reduce(x, ReduceParams{ReduceOp::kVar, {}, false, 0});
      EXPECT_TRUE(all_close(got, {0.0}, 0, 0));
    }
  }
}

TEST(CpuReduce, ZeroSizeDims) {
  HostTensor x(TensorType{DataType::kFloat32, Dims{2, 0, 3}});
  auto run = [&](ReduceOp op, std::vector<int64_t> axes, bool keep = false) {
    return run_reduce(x, ReduceParams{op, std::move(axes), keep, 1});
  };
  std::vector<double> zeros(6, 0.0), ones(6, 1.0), nans(6, kNaN);
  EXPECT_TRUE(has_type(run(ReduceOp::kSum, {1}), DataType::kFloat32, Dims{2, 3}));
  EXPECT_TRUE(all_close(run(ReduceOp::kSum, {1}), zeros, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kProd, {1}), ones, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kMean, {1}), nans, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kAny, {1}), zeros, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kAll, {1}), ones, 0, 0));
  EXPECT_TRUE(has_type(run(ReduceOp::kSum, {1}, true), DataType::kFloat32, Dims{2, 1, 3}));
  EXPECT_TRUE(all_close(run(ReduceOp::kSum, {1}, true), zeros, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kSum, {}), {0.0}, 0, 0));
  EXPECT_TRUE(all_close(run(ReduceOp::kSum, {0, 1}), {0.0, 0.0, 0.0}, 0, 0));
  // Output empty, non-empty reduced dim.
  HostTensor e = run(ReduceOp::kMax, {2});
  EXPECT_TRUE(has_type(e, DataType::kFloat32, Dims{2, 0}));
  EXPECT_TRUE(has_type(run(ReduceOp::kVar, {0}), DataType::kFloat32, Dims{0, 3}));
}

TEST(CpuReduce, DynamicShapes) {
  // x [-1, 6] summed over axis 1 and x [3, -1] variance over the dynamic axis: one engine, two
  // shapes.
  for (int variant = 0; variant < 2; ++variant) {
    SCOPED_TRACE(trace("variant " + std::to_string(variant)));
    Network net;
    Dims in_dims = variant == 0 ? Dims{-1, 6} : Dims{3, -1};
    auto in = net.add_input("x", DataType::kFloat32, in_dims);
    ASSERT_TRUE(in.ok()) << in.status().to_string();
    ReduceParams p;
    p.op = variant == 0 ? ReduceOp::kSum : ReduceOp::kVar;
    p.axes = {variant == 0 ? 1 : -1};
    p.keep_dims = variant == 1;
    auto y = net.add_reduce(*in, p);
    ASSERT_TRUE(y.ok()) << y.status().to_string();
    ASSERT_TRUE(net.mark_output(*y, "y").ok());
    BuilderConfig cfg;
    cfg.backend = "cpu";
    OptimizationProfile prof;
    if (variant == 0) {
      prof.set("x", Dims{1, 6}, Dims{4, 6}, Dims{8, 6});
    } else {
      prof.set("x", Dims{3, 2}, Dims{3, 16}, Dims{3, 64});
    }
    cfg.profiles = {prof};
    auto plan = Builder::build(net, cfg);
    ASSERT_TRUE(plan.ok()) << plan.status().to_string();
    auto engine = Runtime::load(plan->bytes);
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    for (int64_t ext : {2, 7, 1, 8}) {
      if (variant == 1) ext = ext * 8;  // 16, 56, 8, 64
      Dims dims = variant == 0 ? Dims{ext, 6} : Dims{3, ext};
      SCOPED_TRACE(dims.to_string());
      HostTensor x = random_tensor(DataType::kFloat32, dims);
      auto outs = testing::run_engine(**engine, {x});
      ASSERT_TRUE(outs.ok()) << outs.status().to_string();
      ASSERT_EQ(outs->size(), 1u);
      Ref ref = ref_reduce(x, p);
      EXPECT_TRUE(has_type((*outs)[0], DataType::kFloat32, ref.dims));
      EXPECT_TRUE(all_close((*outs)[0], ref.values, 1e-5, 1e-6));
    }
  }
}

// ---- cumsum ----

std::vector<double> ref_cumsum(const HostTensor& x, const CumSumParams& p) {
  const Dims& d = x.type.dims;
  int r = d.rank();
  std::vector<double> xv = to_doubles(x), out(xv.size());
  DataType dt = x.type.dtype;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (r == 0) {
      out[0] = p.exclusive ? 0.0 : xv[0];
      break;
    }
    int axis = static_cast<int>(p.axis < 0 ? p.axis + r : p.axis);
    std::vector<int64_t> idx = unflatten(i, d);
    int64_t c = idx[static_cast<size_t>(axis)];
    double fs = 0;
    uint64_t is = 0;
    for (int64_t t = 0; t < d[axis]; ++t) {
      bool take = p.reverse ? (p.exclusive ? t > c : t >= c) : (p.exclusive ? t < c : t <= c);
      if (!take) continue;
      std::vector<int64_t> j = idx;
      j[static_cast<size_t>(axis)] = t;
      double v = xv[static_cast<size_t>(flatten(j, d))];
      fs += v;
      is += static_cast<uint64_t>(static_cast<int64_t>(v));
    }
    out[static_cast<size_t>(i)] = is_floating(dt) ? fs : wrap_to(dt, static_cast<int64_t>(is));
  }
  return out;
}

HostTensor run_cumsum(const HostTensor& x, const CumSumParams& p) {
  Network net;
  auto in = net.add_input("x", x.type.dtype, x.type.dims);
  EXPECT_TRUE(in.ok()) << in.status().to_string();
  if (!in.ok()) return {};
  auto y = net.add_cumsum(*in, p);
  EXPECT_TRUE(y.ok()) << y.status().to_string();
  if (!y.ok()) return {};
  EXPECT_TRUE(net.mark_output(*y, "y").ok());
  auto outs = build_and_run(net, {x});
  if (outs.size() != 1) {
    ADD_FAILURE() << "expected one output, got " << outs.size();
    return {};
  }
  return outs[0];
}

TEST(CpuCumSum, FloatTypesAxesAndFlags) {
  Dims dims{3, 4, 5};
  for (DataType dt : kFloatTypes) {
    for (int64_t axis : {0, 1, 2, -1, -3}) {
      for (bool excl : {false, true}) {
        for (bool rev : {false, true}) {
          SCOPED_TRACE(trace(name_of(dt) + " axis=" + std::to_string(axis) + " exclusive=" +
                             std::to_string(excl) + " reverse=" + std::to_string(rev)));
          CumSumParams p{axis, excl, rev};
          HostTensor x = random_tensor(dt, dims);
          HostTensor got = run_cumsum(x, p);
          EXPECT_TRUE(has_type(got, dt, dims));
          EXPECT_TRUE(
              all_close(got, ref_cumsum(x, p), default_tolerance(dt), default_tolerance(dt)));
        }
      }
    }
  }
}

TEST(CpuCumSum, IntegerTypes) {
  Dims dims{4, 6};
  for (DataType dt : kIntTypes) {
    for (int64_t axis : {0, 1, -1}) {
      for (bool excl : {false, true}) {
        for (bool rev : {false, true}) {
          SCOPED_TRACE(trace(name_of(dt) + " axis=" + std::to_string(axis) + " exclusive=" +
                             std::to_string(excl) + " reverse=" + std::to_string(rev)));
          CumSumParams p{axis, excl, rev};
          // u8/i8 sums wrap: the reference wraps the same way.
          HostTensor x = random_tensor(dt, dims, dt == DataType::kUInt8 ? 0 : -60, 100);
          HostTensor got = run_cumsum(x, p);
          EXPECT_TRUE(has_type(got, dt, dims));
          EXPECT_TRUE(all_close(got, ref_cumsum(x, p), 0, 0));
        }
      }
    }
  }
}

TEST(CpuCumSum, HandComputed) {
  HostTensor x = make_tensor(DataType::kFloat32, Dims{4}, {1, 2, 3, 4});
  EXPECT_TRUE(all_close(run_cumsum(x, {0, false, false}), {1, 3, 6, 10}, 0, 0));
  EXPECT_TRUE(all_close(run_cumsum(x, {0, true, false}), {0, 1, 3, 6}, 0, 0));
  EXPECT_TRUE(all_close(run_cumsum(x, {-1, false, true}), {10, 9, 7, 4}, 0, 0));
  EXPECT_TRUE(all_close(run_cumsum(x, {-1, true, true}), {9, 7, 4, 0}, 0, 0));
  HostTensor m = make_tensor(DataType::kInt32, Dims{2, 3}, {1, 2, 3, 10, 20, 30});
  EXPECT_TRUE(all_close(run_cumsum(m, {0, false, false}), {1, 2, 3, 11, 22, 33}, 0, 0));
  EXPECT_TRUE(all_close(run_cumsum(m, {1, false, false}), {1, 3, 6, 10, 30, 60}, 0, 0));
  HostTensor w = make_tensor(DataType::kInt32, Dims{2}, {2147483647.0, 1});
  EXPECT_TRUE(all_close(run_cumsum(w, {0, false, false}), {2147483647.0, -2147483648.0}, 0, 0));
}

TEST(CpuCumSum, RankZeroAndEmpty) {
  HostTensor s = make_tensor(DataType::kFloat32, Dims{}, {2.5});
  EXPECT_TRUE(all_close(run_cumsum(s, {0, false, false}), {2.5}, 0, 0));
  EXPECT_TRUE(has_type(run_cumsum(s, {-1, false, false}), DataType::kFloat32, Dims{}));
  EXPECT_TRUE(all_close(run_cumsum(s, {0, true, false}), {0.0}, 0, 0));
  HostTensor e(TensorType{DataType::kFloat32, Dims{3, 0}});
  EXPECT_TRUE(has_type(run_cumsum(e, {1, false, false}), DataType::kFloat32, Dims{3, 0}));
}

TEST(CpuCumSum, LongAxis) {
  HostTensor x = random_tensor(DataType::kFloat32, Dims{2, 3000});
  CumSumParams p{1, false, false};
  EXPECT_TRUE(all_close(run_cumsum(x, p), ref_cumsum(x, p), 1e-5, 1e-5));
}

// ---- top-k ----

}  // namespace
}  // namespace kiln
