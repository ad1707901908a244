// CPU reference kernels: transpose, concat, split, slice and expand, through the public API,
// against index-mapping references written here (slice: CPython's slice.indices algorithm) and hand
// cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "test_util.h"

namespace kiln {
namespace {

using testing::flatten;
using testing::unflatten;

using testing::all_close;
using testing::build_and_run;
using testing::has_type;
using testing::make_tensor;
using testing::random_tensor;
using testing::rng_seed;
using testing::to_doubles;

// INT64_MIN itself is the shape-inference sentinel for an unknown value (ir::kUnknownValue), so the
// "to the very start" end bound of a negative-step slice is written INT64_MIN + 1 here.
constexpr int64_t kMin = std::numeric_limits<int64_t>::min() + 1;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

const std::vector<DataType> kSomeTypes = {DataType::kFloat32, DataType::kBFloat16, DataType::kInt64,
                                          DataType::kInt8, DataType::kBool};

std::string trace(const std::string& what) { return what + " seed=" + std::to_string(rng_seed()); }
std::string name_of(DataType dt) { return std::string(dtype_name(dt)); }
std::string vec_str(const std::vector<int64_t>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(v[i]);
  }
  return s + "}";
}

int norm_axis(int64_t axis, int rank) { return static_cast<int>(axis < 0 ? axis + rank : axis); }

template <class F>
std::vector<HostTensor> run_net(const std::vector<HostTensor>& ins, F&& make, size_t n_out = 1) {
  Network net;
  std::vector<Tensor> ts;
  for (size_t i = 0; i < ins.size(); ++i) {
    auto t = net.add_input("in" + std::to_string(i), ins[i].type.dtype, ins[i].type.dims);
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    if (!t.ok()) return {};
    ts.push_back(*t);
  }
  Expected<std::vector<Tensor>> ys = make(net, ts);
  EXPECT_TRUE(ys.ok()) << ys.status().to_string();
  if (!ys.ok()) return {};
  for (size_t i = 0; i < ys->size(); ++i)
    EXPECT_TRUE(net.mark_output((*ys)[i], "y" + std::to_string(i)).ok());
  auto outs = build_and_run(net, ins);
  EXPECT_EQ(outs.size(), n_out);
  return outs;
}

template <class F>
HostTensor run_one(const std::vector<HostTensor>& ins, F&& make) {
  auto outs = run_net(
      ins, [&](Network& net, const std::vector<Tensor>& t) -> Expected<std::vector<Tensor>> {
        Expected<Tensor> y = make(net, t);
        if (!y.ok()) return y.status();
        return std::vector<Tensor>{*y};
      });
  return outs.size() == 1 ? outs[0] : HostTensor{};
}

// ---- transpose ----------------------------------------------------------------------------------

std::vector<double> transpose_ref(const HostTensor& x, const std::vector<int64_t>& perm, Dims& od) {
  od = Dims{};
  for (int64_t p : perm) od.push_back(x.type.dims[static_cast<int>(p)]);
  std::vector<double> xv = to_doubles(x), out;
  for (int64_t i = 0; i < od.volume(); ++i) {
    std::vector<int64_t> oi = unflatten(i, od), ii(perm.size());
    for (size_t k = 0; k < perm.size(); ++k) ii[static_cast<size_t>(perm[k])] = oi[k];
    out.push_back(xv[static_cast<size_t>(flatten(ii, x.type.dims))]);
  }
  return out;
}

TEST(CpuTranspose, AgainstReference) {
  struct Case {
    Dims x;
    std::vector<int64_t> perm;
  };
  for (const Case& c :
       {Case{{2, 3, 4, 5}, {2, 0, 3, 1}}, Case{{3, 4}, {1, 0}}, Case{{2, 3, 4}, {0, 1, 2}},
        Case{{2, 3, 4}, {0, 2, 1}}, Case{{1, 12, 16, 8}, {0, 2, 1, 3}}, Case{{2, 0, 3}, {2, 1, 0}},
        Case{{}, {}}, Case{{2, 1, 3, 1, 2, 3}, {5, 3, 1, 0, 2, 4}}}) {
    for (DataType dt : kSomeTypes) {
      SCOPED_TRACE(trace(name_of(dt) + " x" + c.x.to_string() + " perm " + vec_str(c.perm)));
      HostTensor x = random_tensor(dt, c.x, -100, 100);
      Dims od;
      std::vector<double> ref = transpose_ref(x, c.perm, od);
      HostTensor got = run_one({x}, [&](Network& net, const std::vector<Tensor>& t) {
        return net.add_transpose(t[0], c.perm);
      });
      ASSERT_TRUE(has_type(got, dt, od));
      EXPECT_TRUE(all_close(got, ref, 0, 0));
    }
  }
}

TEST(CpuTranspose, HandComputed) {
  HostTensor x = make_tensor(DataType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6});
  HostTensor got = run_one({x}, [](Network& net, const std::vector<Tensor>& t) {
    return net.add_transpose(t[0], {1, 0});
  });
  EXPECT_TRUE(has_type(got, DataType::kFloat32, Dims{3, 2}));
  EXPECT_TRUE(all_close(got, {1, 4, 2, 5, 3, 6}, 0, 0));
}

TEST(CpuTranspose, DynamicDimsTwoShapes) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, Dims{-1, 4, -1});
  ASSERT_TRUE(x.ok());
  auto y = net.add_transpose(*x, {2, 0, 1});
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  OptimizationProfile prof;
  prof.set("x", {1, 4, 1}, {2, 4, 3}, {8, 4, 8});
  cfg.profiles.push_back(prof);
  auto plan = Builder::build(net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  for (Dims d : {Dims{2, 4, 3}, Dims{7, 4, 5}}) {
    SCOPED_TRACE(trace("x" + d.to_string()));
    HostTensor xv = random_tensor(DataType::kFloat32, d);
    auto outs = testing::run_engine(**engine, {xv});
    ASSERT_TRUE(outs.ok()) << outs.status().to_string();
    ASSERT_EQ(outs->size(), 1u);
    Dims od;
    std::vector<double> ref = transpose_ref(xv, {2, 0, 1}, od);
    EXPECT_TRUE(has_type((*outs)[0], DataType::kFloat32, od));
    EXPECT_TRUE(all_close((*outs)[0], ref, 0, 0));
  }
}

// ---- concat / split ----

std::vector<double> concat_ref(const std::vector<HostTensor>& xs, int ax, Dims& od) {
  od = xs[0].type.dims;
  od[ax] = 0;
  for (const HostTensor& x : xs) od[ax] += x.type.dims[ax];
  std::vector<double> out;
  for (int64_t i = 0; i < od.volume(); ++i) {
    std::vector<int64_t> oi = unflatten(i, od);
    int64_t c = oi[static_cast<size_t>(ax)];
    for (const HostTensor& x : xs) {
      if (c < x.type.dims[ax]) {
        oi[static_cast<size_t>(ax)] = c;
        out.push_back(testing::at(x, flatten(oi, x.type.dims)));
        break;
      }
      c -= x.type.dims[ax];
    }
  }
  return out;
}

TEST(CpuConcat, ThreeInputsAgainstReference) {
  struct Case {
    std::vector<Dims> xs;
    int64_t axis;
  };
  for (const Case& c : {Case{{{2, 3, 4}, {2, 1, 4}, {2, 5, 4}}, -2},
                        Case{{{1, 3}, {2, 3}, {0, 3}}, 0}, Case{{{2, 2}, {2, 3}, {2, 1}}, -1},
                        Case{{{4}, {3}, {5}}, 0}, Case{{{0, 2}, {0, 3}, {0, 1}}, 1}}) {
    for (DataType dt : kSomeTypes) {
      SCOPED_TRACE(
          trace(name_of(dt) + " axis " + std::to_string(c.axis) + " first " + c.xs[0].to_string()));
      std::vector<HostTensor> xs;
      for (const Dims& d : c.xs) xs.push_back(random_tensor(dt, d, -100, 100));
      Dims od;
      std::vector<double> ref = concat_ref(xs, norm_axis(c.axis, c.xs[0].rank()), od);
      HostTensor got = run_one(xs, [&](Network& net, const std::vector<Tensor>& t) {
        return net.add_concat(t, c.axis);
      });
      ASSERT_TRUE(has_type(got, dt, od));
      EXPECT_TRUE(all_close(got, ref, 0, 0));
    }
  }
}

TEST(CpuConcat, HandComputed) {
  HostTensor a = make_tensor(DataType::kInt32, {2, 1}, {1, 2});
  HostTensor b = make_tensor(DataType::kInt32, {2, 2}, {3, 4, 5, 6});
  HostTensor got = run_one(
      {a, b}, [](Network& net, const std::vector<Tensor>& t) { return net.add_concat(t, 1); });
  EXPECT_TRUE(all_close(got, {1, 3, 4, 2, 5, 6}, 0, 0));
}

TEST(CpuSplit, SizesWithRestAgainstReference) {
  struct Case {
    Dims x;
    int64_t axis;
    std::vector<int64_t> sizes;
    std::vector<int64_t> resolved;
  };
  for (const Case& c :
       {Case{{4, 10, 3}, 1, {2, -1, 3}, {2, 5, 3}}, Case{{2, 3}, -1, {1, 2}, {1, 2}},
        Case{{5, 2}, 0, {0, -1}, {0, 5}}, Case{{6}, 0, {-1, 1, 1}, {4, 1, 1}}}) {
    for (DataType dt : kSomeTypes) {
      SCOPED_TRACE(trace(name_of(dt) + " x" + c.x.to_string() + " sizes " + vec_str(c.sizes)));
      HostTensor x = random_tensor(dt, c.x, -100, 100);
      int ax = norm_axis(c.axis, c.x.rank());
      auto outs = run_net(
          {x},
          [&](Network& net, const std::vector<Tensor>& t) {
            return net.add_split(t[0], SplitParams{c.axis, c.sizes});
          },
          c.sizes.size());
      ASSERT_EQ(outs.size(), c.sizes.size());
      int64_t offset = 0;
      for (size_t k = 0; k < outs.size(); ++k) {
        Dims od = c.x;
        od[ax] = c.resolved[k];
        std::vector<double> ref;
        for (int64_t i = 0; i < od.volume(); ++i) {
          std::vector<int64_t> oi = unflatten(i, od);
          oi[static_cast<size_t>(ax)] += offset;
          ref.push_back(testing::at(x, flatten(oi, c.x)));
        }
        EXPECT_TRUE(has_type(outs[k], dt, od)) << "output " << k;
        EXPECT_TRUE(all_close(outs[k], ref, 0, 0)) << "output " << k;
        offset += c.resolved[k];
      }
    }
  }
}

// ---- slice ----

// CPython's slice.indices(n) followed by range(start, stop, step).
std::vector<int64_t> py_slice(int64_t n, int64_t start, int64_t stop, int64_t step) {
  int64_t lower = step > 0 ? 0 : -1, upper = step > 0 ? n : n - 1;
  auto adjust = [&](int64_t v) {
    if (v < 0) {
      v += n;
      if (v < lower) v = lower;
    } else if (v > upper) {
      v = upper;
    }
    return v;
  };
  start = adjust(start);
  stop = adjust(stop);
  std::vector<int64_t> r;
  if (step > 0) {
    for (int64_t i = start; i < stop; i += step) r.push_back(i);
  } else {
    for (int64_t i = start; i > stop; i += step) r.push_back(i);
  }
  return r;
}

std::vector<double> slice_ref(const HostTensor& x, const SliceParams& p, Dims& od) {
  const Dims& xd = x.type.dims;
  std::vector<std::vector<int64_t>> picks(static_cast<size_t>(xd.rank()));
  for (int d = 0; d < xd.rank(); ++d)
    for (int64_t i = 0; i < xd[d]; ++i) picks[static_cast<size_t>(d)].push_back(i);
  for (size_t i = 0; i < p.axes.size(); ++i) {
    int ax = norm_axis(p.axes[i], xd.rank());
    picks[static_cast<size_t>(ax)] =
        py_slice(xd[ax], p.starts[i], p.ends[i], p.steps.empty() ? 1 : p.steps[i]);
  }
  od = Dims{};
  for (const auto& pk : picks) od.push_back(static_cast<int64_t>(pk.size()));
  std::vector<double> out;
  for (int64_t i = 0; i < od.volume(); ++i) {
    std::vector<int64_t> oi = unflatten(i, od);
    for (size_t d = 0; d < oi.size(); ++d) oi[d] = picks[d][static_cast<size_t>(oi[d])];
    out.push_back(testing::at(x, flatten(oi, xd)));
  }
  return out;
}

const std::vector<SliceParams> kSlices = {
    {{0, 1, 2}, {-4, 1, 7}, {-1, kMax, -9}, {1, 3, -2}},  // negative start/end/step together
    {{-1}, {-1}, {kMin}, {-1}},                           // x[..., ::-1]
    {{1}, {10}, {20}, {1}},                               // empty
    {{0, 2}, {-100, 2}, {100, -2}, {2, 1}},               // clamping
    {{1}, {5}, {1}, {-3}},
    {{0}, {0}, {6}, {100}},                   // step beyond the extent
    {{2, 0}, {kMax, 3}, {kMin, 4}, {-3, 1}},  // start beyond the end with a negative step
    {{1}, {2}, {5}, {}},                      // default steps
};

TEST(CpuSlice, PythonSemanticsAgainstReference) {
  for (const SliceParams& p : kSlices) {
    for (DataType dt : kSomeTypes) {
      SCOPED_TRACE(trace(name_of(dt) + " axes " + vec_str(p.axes) + " starts " + vec_str(p.starts) +
                         " ends " + vec_str(p.ends) + " steps " + vec_str(p.steps)));
      HostTensor x = random_tensor(dt, {6, 7, 8}, -100, 100);
      Dims od;
      std::vector<double> ref = slice_ref(x, p, od);
      HostTensor got = run_one(
          {x}, [&](Network& net, const std::vector<Tensor>& t) { return net.add_slice(t[0], p); });
      ASSERT_TRUE(has_type(got, dt, od));
      EXPECT_TRUE(all_close(got, ref, 0, 0));
    }
  }
}

TEST(CpuSlice, HandComputed) {
  HostTensor x = make_tensor(DataType::kFloat32, {6}, {0, 1, 2, 3, 4, 5});
  auto run = [&](SliceParams p) {
    return run_one(
        {x}, [&](Network& net, const std::vector<Tensor>& t) { return net.add_slice(t[0], p); });
  };
  EXPECT_TRUE(all_close(run({{0}, {-1}, {kMin}, {-2}}), {5, 3, 1}, 0, 0));  // x[::-2]
  EXPECT_TRUE(all_close(run({{0}, {-5}, {-2}, {1}}), {1, 2, 3}, 0, 0));     // x[-5:-2]
  EXPECT_TRUE(all_close(run({{0}, {4}, {0}, {-1}}), {4, 3, 2, 1}, 0, 0));   // x[4:0:-1]
  EXPECT_TRUE(has_type(run({{0}, {3}, {3}, {1}}), DataType::kFloat32, Dims{0}));
}

TEST(CpuSlice, StartsEndsFromConstantTensors) {
  HostTensor x = random_tensor(DataType::kFloat32, {6, 7, 8});
  SliceParams p{{0, -1}, {0, 0}, {0, 0}, {2, -1}};
  SliceParams want{{0, -1}, {-5, 6}, {kMax, -8}, {2, -1}};
  SCOPED_TRACE(trace("constant starts/ends"));
  Dims od;
  std::vector<double> ref = slice_ref(x, want, od);
  HostTensor got =
      run_one({x}, [&](Network& net, const std::vector<Tensor>& t) -> Expected<Tensor> {
        auto st = net.add_int_vector({-5, 6}, DataType::kInt64);
        auto en = net.add_int_vector({kMax, -8}, DataType::kInt64);
        if (!st.ok()) return st.status();
        if (!en.ok()) return en.status();
        return net.add_slice(t[0], p, *st, *en);
      });
  ASSERT_TRUE(has_type(got, DataType::kFloat32, od));
  EXPECT_TRUE(all_close(got, ref, 0, 0));
}

TEST(CpuSlice, StartsEndsComputedAtRunTime) {
  // ends = -len(n) and starts = len(n) - 1 for a dynamic input n: tensors whose values are only
  // known at run time (from input shapes), read by the kernel from its starts/ends inputs.
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, Dims{7, 8});
  auto n = net.add_input("n", DataType::kFloat32, Dims{-1});
  ASSERT_TRUE(x.ok() && n.ok());
  auto len = net.add_shape(*n);
  ASSERT_TRUE(len.ok()) << len.status().to_string();
  auto one = net.add_int_vector({1});
  auto minus = net.add_int_vector({-1});
  ASSERT_TRUE(one.ok() && minus.ok());
  auto ends = net.add_elementwise(*len, *minus, BinaryOp::kMul);
  auto starts = net.add_elementwise(*len, *one, BinaryOp::kSub);
  ASSERT_TRUE(ends.ok() && starts.ok());
  SliceParams p{{1}, {0}, {0}, {-2}};
  auto y = net.add_slice(*x, p, *starts, *ends);
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  OptimizationProfile prof;
  prof.set("n", {1}, {3}, {8});
  cfg.profiles.push_back(prof);
  auto plan = Builder::build(net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  HostTensor xv = random_tensor(DataType::kFloat32, {7, 8});
  for (int64_t l : {2, 7, 1}) {
    SCOPED_TRACE(trace("len=" + std::to_string(l)));
    HostTensor nv = random_tensor(DataType::kFloat32, {l});
    auto outs = testing::run_engine(**engine, {xv, nv});
    ASSERT_TRUE(outs.ok()) << outs.status().to_string();
    ASSERT_EQ(outs->size(), 1u);
    Dims od;
    std::vector<double> ref = slice_ref(xv, SliceParams{{1}, {l - 1}, {-l}, {-2}}, od);
    EXPECT_TRUE(has_type((*outs)[0], DataType::kFloat32, od));
    EXPECT_TRUE(all_close((*outs)[0], ref, 0, 0));
  }
}

// ---- expand ----

std::vector<double> expand_ref(const HostTensor& x, const Dims& od) {
  std::vector<double> out;
  const Dims& xd = x.type.dims;
  int lead = od.rank() - xd.rank();
  for (int64_t i = 0; i < od.volume(); ++i) {
    std::vector<int64_t> oi = unflatten(i, od), ii;
    for (int k = 0; k < xd.rank(); ++k)
      ii.push_back(xd[k] == 1 ? 0 : oi[static_cast<size_t>(k + lead)]);
    out.push_back(testing::at(x, flatten(ii, xd)));
  }
  return out;
}

TEST(CpuExpand, NewLeadingDimsAgainstReference) {
  struct Case {
    Dims x;
    std::vector<int64_t> shape;
    Dims out;
  };
  for (const Case& c :
       {Case{{3, 1, 4}, {2, 3, 5, 4}, {2, 3, 5, 4}}, Case{{3, 1, 4}, {2, -1, 5, -1}, {2, 3, 5, 4}},
        Case{{}, {2, 3}, {2, 3}}, Case{{1}, {0}, {0}}, Case{{1, 1}, {1, 1}, {1, 1}},
        Case{{4, 1}, {2, 1, 4, 6}, {2, 1, 4, 6}}}) {
    for (DataType dt : kSomeTypes) {
      SCOPED_TRACE(trace(name_of(dt) + " x" + c.x.to_string() + " shape " + vec_str(c.shape)));
      HostTensor x = random_tensor(dt, c.x, -100, 100);
      HostTensor got = run_one({x}, [&](Network& net, const std::vector<Tensor>& t) {
        return net.add_expand(t[0], c.shape);
      });
      ASSERT_TRUE(has_type(got, dt, c.out));
      EXPECT_TRUE(all_close(got, expand_ref(x, c.out), 0, 0));
    }
  }
}

TEST(CpuExpand, ShapeTensorAndHandComputed) {
  HostTensor x = make_tensor(DataType::kFloat32, {2, 1}, {1, 2});
  HostTensor got = run_one({x}, [](Network& net, const std::vector<Tensor>& t) -> Expected<Tensor> {
    auto shape = net.add_int_vector({2, 2, 3});
    if (!shape.ok()) return shape.status();
    return net.add_expand_dynamic(t[0], *shape);
  });
  EXPECT_TRUE(has_type(got, DataType::kFloat32, Dims{2, 2, 3}));
  EXPECT_TRUE(all_close(got, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2}, 0, 0));
}

}  // namespace
}  // namespace kiln
