// CPU reference kernel for top-k through the public API, against a stable-sort reference written
// here and hand-computed cases (ties, NaN).
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

std::string name_of(DataType dt) { return std::string(dtype_name(dt)); }

std::string trace(const std::string& what) { return what + " seed=" + std::to_string(rng_seed()); }

struct TopKRef {
  Dims dims;
  std::vector<double> values, indices;
};

/// Stable sort of each lane: largest first (NaN counts as larger than everything, as torch) or
/// smallest first (NaN last); ties keep the lower index first.
TopKRef ref_topk(const HostTensor& x, const TopKParams& p) {
  const Dims& d = x.type.dims;
  int r = d.rank();
  int axis = static_cast<int>(p.axis < 0 ? p.axis + r : p.axis);
  Dims od = d;
  od[axis] = p.k;
  TopKRef ref{od, std::vector<double>(static_cast<size_t>(od.volume())),
              std::vector<double>(static_cast<size_t>(od.volume()))};
  std::vector<double> xv = to_doubles(x);
  auto before = [&](double a, double b) {  // a strictly before b
    bool an = std::isnan(a), bn = std::isnan(b);
    if (an || bn) return p.largest ? (an && !bn) : (!an && bn);
    return p.largest ? a > b : a < b;
  };
  for (int64_t o = 0; o < od.volume(); ++o) {
    std::vector<int64_t> oi = unflatten(o, od);
    std::vector<int64_t> order(static_cast<size_t>(d[axis]));
    std::iota(order.begin(), order.end(), 0);
    auto val = [&](int64_t t) {
      std::vector<int64_t> j = oi;
      j[static_cast<size_t>(axis)] = t;
      return xv[static_cast<size_t>(flatten(j, d))];
    };
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return before(val(a), val(b)); });
    int64_t rank_k = oi[static_cast<size_t>(axis)];
    ref.indices[static_cast<size_t>(o)] = static_cast<double>(order[static_cast<size_t>(rank_k)]);
    ref.values[static_cast<size_t>(o)] = val(order[static_cast<size_t>(rank_k)]);
  }
  return ref;
}

std::vector<HostTensor> run_topk(const HostTensor& x, const TopKParams& p) {
  Network net;
  auto in = net.add_input("x", x.type.dtype, x.type.dims);
  EXPECT_TRUE(in.ok()) << in.status().to_string();
  if (!in.ok()) return {};
  auto y = net.add_topk(*in, p);
  EXPECT_TRUE(y.ok()) << y.status().to_string();
  if (!y.ok() || y->size() != 2) return {};
  EXPECT_TRUE(net.mark_output((*y)[0], "values").ok());
  EXPECT_TRUE(net.mark_output((*y)[1], "indices").ok());
  auto outs = build_and_run(net, {x});
  if (outs.size() != 2) {
    ADD_FAILURE() << "expected two outputs, got " << outs.size();
    return {};
  }
  return outs;
}

void check_topk(const HostTensor& x, const TopKParams& p) {
  TopKRef ref = ref_topk(x, p);
  auto outs = run_topk(x, p);
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TRUE(has_type(outs[0], x.type.dtype, ref.dims));
  EXPECT_TRUE(has_type(outs[1], DataType::kInt64, ref.dims));
  if (p.sorted) {
    EXPECT_TRUE(all_close(outs[0], ref.values, 0, 0));
    EXPECT_TRUE(all_close(outs[1], ref.indices, 0, 0));
    return;
  }
  // Unsorted: the same (index, value) set per lane, and values consistent with the indices.
  const Dims& d = x.type.dims;
  int r = d.rank();
  int axis = static_cast<int>(p.axis < 0 ? p.axis + r : p.axis);
  std::vector<double> gv = to_doubles(outs[0]), gi = to_doubles(outs[1]), xv = to_doubles(x);
  std::vector<std::vector<double>> lanes_got, lanes_want;
  for (int64_t o = 0; o < ref.dims.volume(); ++o) {
    std::vector<int64_t> oi = unflatten(o, ref.dims);
    std::vector<int64_t> src = oi;
    src[static_cast<size_t>(axis)] = static_cast<int64_t>(gi[static_cast<size_t>(o)]);
    ASSERT_GE(src[static_cast<size_t>(axis)], 0);
    ASSERT_LT(src[static_cast<size_t>(axis)], d[axis]);
    EXPECT_EQ(gv[static_cast<size_t>(o)], xv[static_cast<size_t>(flatten(src, d))]);
  }
  auto lane_sets = [&](const std::vector<double>& idx) {
    std::vector<std::vector<double>> sets;
    Dims lane_dims = ref.dims;
    lane_dims[axis] = 1;
    for (int64_t l = 0; l < lane_dims.volume(); ++l) {
      std::vector<int64_t> li = unflatten(l, lane_dims);
      std::vector<double> s;
      for (int64_t t = 0; t < p.k; ++t) {
        li[static_cast<size_t>(axis)] = t;
        s.push_back(idx[static_cast<size_t>(flatten(li, ref.dims))]);
      }
      std::sort(s.begin(), s.end());
      sets.push_back(s);
    }
    return sets;
  };
  EXPECT_EQ(lane_sets(gi), lane_sets(ref.indices));
}

TEST(CpuTopK, FloatTypes) {
  Dims dims{3, 6, 5};
  for (DataType dt : kFloatTypes) {
    for (int64_t axis : {0, 1, 2, -1, -2}) {
      for (bool largest : {true, false}) {
        for (bool sorted : {true, false}) {
          int64_t n = dims[static_cast<int>(axis < 0 ? axis + 3 : axis)];
          for (int64_t k : {int64_t(1), int64_t(2), n}) {
            SCOPED_TRACE(trace(name_of(dt) + " axis=" + std::to_string(axis) +
                               " k=" + std::to_string(k) + " largest=" + std::to_string(largest) +
                               " sorted=" + std::to_string(sorted)));
            check_topk(random_tensor(dt, dims), TopKParams{k, axis, largest, sorted});
          }
        }
      }
    }
  }
}

TEST(CpuTopK, IntegerTypesWithTies) {
  Dims dims{4, 9};
  for (DataType dt : kIntTypes) {
    for (int64_t axis : {1, 0}) {
      for (bool largest : {true, false}) {
        SCOPED_TRACE(trace(name_of(dt) + " axis=" + std::to_string(axis) +
                           " largest=" + std::to_string(largest)));
        // Few distinct values: many ties, which must come out lower index first.
        HostTensor x = random_tensor(dt, dims, dt == DataType::kUInt8 ? 0 : -2, 3);
        check_topk(x, TopKParams{3, axis, largest, true});
      }
    }
  }
}

TEST(CpuTopK, HandComputedTiesAndNaN) {
  HostTensor x = make_tensor(DataType::kFloat32, Dims{5}, {3, 1, 3, 2, 3});
  auto o = run_topk(x, TopKParams{2, -1, true, true});
  ASSERT_EQ(o.size(), 2u);
  EXPECT_TRUE(all_close(o[0], {3, 3}, 0, 0));
  EXPECT_TRUE(all_close(o[1], {0, 2}, 0, 0));
  o = run_topk(x, TopKParams{4, 0, true, true});
  ASSERT_EQ(o.size(), 2u);
  EXPECT_TRUE(all_close(o[0], {3, 3, 3, 2}, 0, 0));
  EXPECT_TRUE(all_close(o[1], {0, 2, 4, 3}, 0, 0));
  o = run_topk(x, TopKParams{2, 0, false, true});
  ASSERT_EQ(o.size(), 2u);
  EXPECT_TRUE(all_close(o[0], {1, 2}, 0, 0));
  EXPECT_TRUE(all_close(o[1], {1, 3}, 0, 0));
  // k = 0: empty outputs.
  o = run_topk(x, TopKParams{0, 0, true, true});
  ASSERT_EQ(o.size(), 2u);
  EXPECT_TRUE(has_type(o[0], DataType::kFloat32, Dims{0}));
  EXPECT_TRUE(has_type(o[1], DataType::kInt64, Dims{0}));
  // NaN ranks above +inf for largest and is never picked first for smallest (torch).
  HostTensor n = make_tensor(DataType::kFloat32, Dims{5}, {1, kNaN, kInf, -kInf, 0});
  o = run_topk(n, TopKParams{3, 0, true, true});
  ASSERT_EQ(o.size(), 2u);
  EXPECT_TRUE(all_close(o[0], {kNaN, kInf, 1}, 0, 0));
  EXPECT_TRUE(all_close(o[1], {1, 2, 0}, 0, 0));
  o = run_topk(n, TopKParams{3, 0, false, true});
  ASSERT_EQ(o.size(), 2u);
  EXPECT_TRUE(all_close(o[0], {-kInf, 0, 1}, 0, 0));
  EXPECT_TRUE(all_close(o[1], {3, 4, 0}, 0, 0));
  // 2-D along axis 0.
  HostTensor m = make_tensor(DataType::kInt64, Dims{3, 2}, {5, -1, 7, -1, 6, 4});
  o = run_topk(m, TopKParams{2, 0, true, true});
  ASSERT_EQ(o.size(), 2u);
  EXPECT_TRUE(all_close(o[0], {7, 4, 6, -1}, 0, 0));
  EXPECT_TRUE(all_close(o[1], {1, 2, 2, 0}, 0, 0));
}

TEST(CpuTopK, LargeLane) {
  HostTensor x = random_tensor(DataType::kFloat32, Dims{3, 1000});
  check_topk(x, TopKParams{10, -1, true, true});
  check_topk(x, TopKParams{10, -1, false, true});
}

}  // namespace
}  // namespace kiln
