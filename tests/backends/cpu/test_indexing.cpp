// CPU reference kernels: gather, gather_elements and scatter (every reduce mode), through the
// public API, against naive references written here and hand-computed cases; bad indices must be
// errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "test_util.h"

namespace kiln {
namespace {

using testing::flatten;
using testing::unflatten;

using testing::all_close;
using testing::build_and_run;
using testing::default_tolerance;
using testing::has_type;
using testing::make_tensor;
using testing::random_tensor;
using testing::rng;
using testing::rng_seed;
using testing::to_doubles;
using testing::try_build_and_run;

std::string trace(const std::string& what) { return what + " seed=" + std::to_string(rng_seed()); }
std::string name_of(DataType dt) { return std::string(dtype_name(dt)); }

int norm_axis(int64_t axis, int rank) { return static_cast<int>(axis < 0 ? axis + rank : axis); }
int64_t wrap(double i, int64_t dim) {
  return i < 0 ? static_cast<int64_t>(i) + dim : static_cast<int64_t>(i);
}

template <class F>
Expected<std::vector<HostTensor>> try_run(const std::vector<HostTensor>& ins, F&& make) {
  Network net;
  std::vector<Tensor> ts;
  for (size_t i = 0; i < ins.size(); ++i) {
    auto t = net.add_input("in" + std::to_string(i), ins[i].type.dtype, ins[i].type.dims);
    if (!t.ok()) return t.status();
    ts.push_back(*t);
  }
  Expected<Tensor> y = make(net, ts);
  if (!y.ok()) return y.status();
  Status s = net.mark_output(*y, "y");
  if (!s.ok()) return s;
  return try_build_and_run(net, ins);
}

template <class F>
HostTensor run_one(const std::vector<HostTensor>& ins, F&& make) {
  auto outs = try_run(ins, make);
  EXPECT_TRUE(outs.ok()) << outs.status().to_string();
  if (!outs.ok() || outs->size() != 1) return {};
  return (*outs)[0];
}

// ---- gather ----

std::vector<double> gather_ref(const HostTensor& data, const HostTensor& idx, int ax) {
  std::vector<double> d = to_doubles(data), iv = to_doubles(idx);
  const Dims& dd = data.type.dims;
  int64_t outer = 1, inner = 1, dim = dd[ax];
  for (int i = 0; i < ax; ++i) outer *= dd[i];
  for (int i = ax + 1; i < dd.rank(); ++i) inner *= dd[i];
  std::vector<double> out;
  for (int64_t o = 0; o < outer; ++o)
    for (double j : iv)
      for (int64_t t = 0; t < inner; ++t)
        out.push_back(d[static_cast<size_t>((o * dim + wrap(j, dim)) * inner + t)]);
  return out;
}

HostTensor run_gather(const HostTensor& data, const HostTensor& idx, int64_t axis) {
  return run_one({data, idx}, [&](Network& net, const std::vector<Tensor>& t) {
    return net.add_gather(t[0], t[1], axis);
  });
}

TEST(CpuGather, EveryAxisWithNegativeIndices) {
  const Dims dd{3, 4, 5};
  for (DataType dt : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt64,
                      DataType::kInt8, DataType::kBool}) {
    for (DataType it : {DataType::kInt64, DataType::kInt32}) {
      for (int64_t axis : {0, 1, 2, -1, -3}) {
        SCOPED_TRACE(
            trace(name_of(dt) + " indices " + name_of(it) + " axis " + std::to_string(axis)));
        int ax = norm_axis(axis, 3);
        int64_t dim = dd[ax];
        HostTensor data = random_tensor(dt, dd, -50, 50);
        HostTensor idx =
            random_tensor(it, {2, 3}, static_cast<double>(-dim), static_cast<double>(dim));
        if (it == DataType::kInt64) {
          idx.as<int64_t>()[0] = -1;
        } else {
          idx.as<int32_t>()[0] = -1;
        }
        Dims od;
        for (int i = 0; i < ax; ++i) od.push_back(dd[i]);
        od.push_back(2);
        od.push_back(3);
        for (int i = ax + 1; i < 3; ++i) od.push_back(dd[i]);
        HostTensor got = run_gather(data, idx, axis);
        ASSERT_TRUE(has_type(got, dt, od));
        EXPECT_TRUE(all_close(got, gather_ref(data, idx, ax), 0, 0));
      }
    }
  }
}

TEST(CpuGather, EmbeddingAndScalarIndex) {
  HostTensor table = random_tensor(DataType::kFloat32, {10, 6});
  HostTensor ids = random_tensor(DataType::kInt64, {2, 7}, 0, 10);
  SCOPED_TRACE(trace("embedding"));
  HostTensor got = run_gather(table, ids, 0);
  ASSERT_TRUE(has_type(got, DataType::kFloat32, Dims{2, 7, 6}));
  EXPECT_TRUE(all_close(got, gather_ref(table, ids, 0), 0, 0));
  HostTensor scalar = make_tensor(DataType::kInt32, Dims{}, {-2});
  HostTensor got2 = run_gather(table, scalar, 1);
  ASSERT_TRUE(has_type(got2, DataType::kFloat32, Dims{10}));
  EXPECT_TRUE(all_close(got2, gather_ref(table, scalar, 1), 0, 0));
  HostTensor none = make_tensor(DataType::kInt64, Dims{0}, {});
  EXPECT_TRUE(has_type(run_gather(table, none, 0), DataType::kFloat32, Dims{0, 6}));
}

TEST(CpuGather, HandComputed) {
  HostTensor data = make_tensor(DataType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6});
  HostTensor idx = make_tensor(DataType::kInt64, {3}, {2, -1, 0});
  EXPECT_TRUE(all_close(run_gather(data, idx, 1), {3, 3, 1, 6, 6, 4}, 0, 0));
  HostTensor rows = make_tensor(DataType::kInt32, {2}, {1, -2});
  EXPECT_TRUE(all_close(run_gather(data, rows, 0), {4, 5, 6, 1, 2, 3}, 0, 0));
}

void expect_index_error(const Expected<std::vector<HostTensor>>& r, const std::string& needle) {
  ASSERT_FALSE(r.ok()) << "expected an out-of-range error";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().to_string();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().to_string();
}

TEST(CpuGather, OutOfRangeIndexIsAnError) {
  HostTensor data = random_tensor(DataType::kFloat32, {3, 5});
  for (double bad : {7.0, 5.0, -6.0}) {
    for (DataType it : {DataType::kInt64, DataType::kInt32}) {
      HostTensor idx = make_tensor(it, {3}, {0, bad, 1});
      auto r = try_run({data, idx}, [](Network& net, const std::vector<Tensor>& t) {
        return net.add_gather(t[0], t[1], 1);
      });
      std::string v = std::to_string(static_cast<int64_t>(bad));
      expect_index_error(r, "index " + v + " is out of range for dim of size 5");
    }
  }
}

// ---- gather_elements ----

std::vector<double> gather_elements_ref(const HostTensor& data, const HostTensor& idx, int ax) {
  std::vector<double> d = to_doubles(data), iv = to_doubles(idx);
  std::vector<double> out;
  for (int64_t i = 0; i < idx.numel(); ++i) {
    std::vector<int64_t> p = unflatten(i, idx.type.dims);
    p[static_cast<size_t>(ax)] = wrap(iv[static_cast<size_t>(i)], data.type.dims[ax]);
    out.push_back(d[static_cast<size_t>(flatten(p, data.type.dims))]);
  }
  return out;
}

TEST(CpuGatherElements, AgainstReference) {
  struct Case {
    Dims data, idx;
    int64_t axis;
  };
  for (const Case& c :
       {Case{{3, 4, 5}, {3, 2, 5}, 1}, Case{{3, 4, 5}, {2, 3, 4}, -1},
        Case{{3, 4, 5}, {6, 4, 5}, 0}, Case{{7}, {9}, 0}, Case{{3, 4}, {0, 4}, 1}}) {
    for (DataType dt :
         {DataType::kFloat32, DataType::kBFloat16, DataType::kInt32, DataType::kUInt8}) {
      for (DataType it : {DataType::kInt64, DataType::kInt32}) {
        SCOPED_TRACE(
            trace(name_of(dt) + " data " + c.data.to_string() + " idx " + c.idx.to_string()));
        int ax = norm_axis(c.axis, c.data.rank());
        double dim = static_cast<double>(c.data[ax]);
        HostTensor data = random_tensor(dt, c.data, 0, 100);
        HostTensor idx = random_tensor(it, c.idx, -dim, dim);
        HostTensor got = run_one({data, idx}, [&](Network& net, const std::vector<Tensor>& t) {
          return net.add_gather_elements(t[0], t[1], c.axis);
        });
        ASSERT_TRUE(has_type(got, dt, c.idx));
        EXPECT_TRUE(all_close(got, gather_elements_ref(data, idx, ax), 0, 0));
      }
    }
  }
}

TEST(CpuGatherElements, HandComputedAndOutOfRange) {
  // torch.gather(tensor([[1, 2], [3, 4]]), 1, tensor([[0, 0], [1, 0]])) = [[1, 1], [4, 3]]
  HostTensor t = make_tensor(DataType::kFloat32, {2, 2}, {1, 2, 3, 4});
  HostTensor i = make_tensor(DataType::kInt64, {2, 2}, {0, 0, 1, 0});
  auto mk = [](Network& net, const std::vector<Tensor>& x) {
    return net.add_gather_elements(x[0], x[1], 1);
  };
  EXPECT_TRUE(all_close(run_one({t, i}, mk), {1, 1, 4, 3}, 0, 0));
  HostTensor bad = make_tensor(DataType::kInt64, {2, 2}, {0, 0, 1, 7});
  HostTensor t5 = random_tensor(DataType::kFloat32, {2, 5});
  expect_index_error(try_run({t5, bad}, mk), "index 7 is out of range for dim of size 5");
  HostTensor neg = make_tensor(DataType::kInt32, {2, 2}, {0, -3, 1, 0});
  expect_index_error(try_run({t, neg}, mk), "index -3 is out of range for dim of size 2");
}

// ---- scatter ----

std::vector<double> scatter_ref(const HostTensor& data, const HostTensor& idx,
                                const HostTensor& upd, int ax, ScatterReduce op) {
  std::vector<double> out = to_doubles(data), iv = to_doubles(idx), uv = to_doubles(upd);
  for (int64_t i = 0; i < idx.numel(); ++i) {
    std::vector<int64_t> p = unflatten(i, idx.type.dims);
    double u = uv[static_cast<size_t>(flatten(p, upd.type.dims))];
    p[static_cast<size_t>(ax)] = wrap(iv[static_cast<size_t>(i)], data.type.dims[ax]);
    double& o = out[static_cast<size_t>(flatten(p, data.type.dims))];
    switch (op) {
      case ScatterReduce::kNone:
        o = u;
        break;
      case ScatterReduce::kAdd:
        o += u;
        break;
      case ScatterReduce::kMul:
        o *= u;
        break;
      case ScatterReduce::kMax:
        o = std::max(o, u);
        break;
      case ScatterReduce::kMin:
        o = std::min(o, u);
        break;
    }
  }
  return out;
}

// Wraps an exact integer to the value range of dt (two's complement), as the kernel's storage does.
double wrap_to(DataType dt, int64_t v) {
  switch (dt) {
    case DataType::kInt8:
      return static_cast<int8_t>(static_cast<uint8_t>(static_cast<uint64_t>(v) & 0xffu));
    case DataType::kUInt8:
      return static_cast<uint8_t>(static_cast<uint64_t>(v) & 0xffu);
    case DataType::kInt32:
      return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(v) & 0xffffffffu));
    default:
      return static_cast<double>(v);
  }
}

// Indices whose targets along `ax` are distinct within each fiber (deterministic plain scatter);
// about half are given as the equivalent negative index.
HostTensor unique_indices(DataType it, const Dims& id, int ax, int64_t dim) {
  std::vector<double> vals(static_cast<size_t>(id.volume()));
  int64_t n_ax = id[ax], inner = 1;
  for (int i = ax + 1; i < id.rank(); ++i) inner *= id[i];
  for (int64_t f = 0; f < id.volume() / std::max<int64_t>(1, n_ax); ++f) {
    int64_t o = f / inner, in = f % inner;
    std::vector<int64_t> perm(static_cast<size_t>(dim));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng());
    for (int64_t j = 0; j < n_ax; ++j) {
      int64_t v = perm[static_cast<size_t>(j)];
      if (rng()() % 2) v -= dim;
      vals[static_cast<size_t>((o * n_ax + j) * inner + in)] = static_cast<double>(v);
    }
  }
  return make_tensor(it, id, vals);
}

HostTensor run_scatter(const HostTensor& d, const HostTensor& i, const HostTensor& u, int64_t axis,
                       ScatterReduce op) {
  return run_one({d, i, u}, [&](Network& net, const std::vector<Tensor>& t) {
    return net.add_scatter(t[0], t[1], t[2], ScatterParams{axis, op});
  });
}

TEST(CpuScatter, EveryReduceAgainstReference) {
  struct Case {
    Dims data, idx, upd;
    int64_t axis;
  };
  const std::vector<Case> cases = {Case{{4, 5}, {3, 5}, {3, 6}, 0}, Case{{3, 6}, {2, 4}, {3, 4}, 1},
                                   Case{{2, 3, 6}, {2, 2, 4}, {2, 3, 5}, -1},
                                   Case{{5}, {3}, {4}, 0}};
  for (ScatterReduce op : {ScatterReduce::kNone, ScatterReduce::kAdd, ScatterReduce::kMul,
                           ScatterReduce::kMax, ScatterReduce::kMin}) {
    for (DataType dt : {DataType::kFloat32, DataType::kFloat16, DataType::kInt32, DataType::kInt64,
                        DataType::kInt8}) {
      for (const Case& c : cases) {
        SCOPED_TRACE(trace(std::string(enum_names(op)[static_cast<size_t>(op)]) + " " +
                           name_of(dt) + " data " + c.data.to_string() + " axis " +
                           std::to_string(c.axis)));
        int ax = norm_axis(c.axis, c.data.rank());
        int64_t dim = c.data[ax];
        bool is_int = !is_floating(dt);
        HostTensor data =
            is_int ? random_tensor(dt, c.data, -9, 10) : random_tensor(dt, c.data, -2, 2);
        HostTensor upd = is_int ? random_tensor(dt, c.upd, -3, 4) : random_tensor(dt, c.upd, -2, 2);
        DataType it = dt == DataType::kInt32 ? DataType::kInt32 : DataType::kInt64;
        HostTensor idx =
            op == ScatterReduce::kNone
                ? unique_indices(it, c.idx, ax, dim)
                : random_tensor(it, c.idx, static_cast<double>(-dim), static_cast<double>(dim));
        std::vector<double> ref = scatter_ref(data, idx, upd, ax, op);
        if (is_int) {
          for (double& x : ref)
            x = wrap_to(dt, static_cast<int64_t>(x));  // exact, then two's complement
        }
        HostTensor got = run_scatter(data, idx, upd, c.axis, op);
        ASSERT_TRUE(has_type(got, dt, c.data));
        double tol = is_int ? 0.0 : default_tolerance(dt);
        EXPECT_TRUE(all_close(got, ref, tol, tol));
      }
    }
  }
}

TEST(CpuScatter, HandComputed) {
  HostTensor d = make_tensor(DataType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6});
  HostTensor dup = make_tensor(DataType::kInt64, {1, 3}, {0, 0, 2});
  HostTensor u = make_tensor(DataType::kFloat32, {1, 3}, {10, 20, 30});
  EXPECT_TRUE(
      all_close(run_scatter(d, dup, u, 1, ScatterReduce::kAdd), {31, 2, 33, 4, 5, 6}, 0, 0));
  EXPECT_TRUE(
      all_close(run_scatter(d, dup, u, 1, ScatterReduce::kMul), {200, 2, 90, 4, 5, 6}, 0, 0));
  EXPECT_TRUE(
      all_close(run_scatter(d, dup, u, 1, ScatterReduce::kMax), {20, 2, 30, 4, 5, 6}, 0, 0));
  EXPECT_TRUE(all_close(run_scatter(d, dup, u, 1, ScatterReduce::kMin), {1, 2, 3, 4, 5, 6}, 0, 0));
  HostTensor perm = make_tensor(DataType::kInt32, {1, 3}, {2, 0, -2});
  EXPECT_TRUE(
      all_close(run_scatter(d, perm, u, 1, ScatterReduce::kNone), {20, 30, 10, 4, 5, 6}, 0, 0));
  HostTensor rows = make_tensor(DataType::kInt64, {1, 2}, {1, 0});
  EXPECT_TRUE(
      all_close(run_scatter(d, rows, u, 0, ScatterReduce::kNone), {1, 20, 3, 10, 5, 6}, 0, 0));
  // Bool data moves as bytes.
  HostTensor b = make_tensor(DataType::kBool, {4}, {0, 1, 0, 1});
  HostTensor bi = make_tensor(DataType::kInt64, {2}, {0, -1});
  HostTensor bu = make_tensor(DataType::kBool, {2}, {1, 0});
  EXPECT_TRUE(all_close(run_scatter(b, bi, bu, 0, ScatterReduce::kNone), {1, 1, 0, 0}, 0, 0));
}

TEST(CpuScatter, OutOfRangeIndexIsAnError) {
  HostTensor d = random_tensor(DataType::kFloat32, {2, 5});
  HostTensor u = random_tensor(DataType::kFloat32, {2, 2});
  for (ScatterReduce op : {ScatterReduce::kNone, ScatterReduce::kAdd}) {
    HostTensor bad = make_tensor(DataType::kInt64, {2, 2}, {0, 1, 7, 2});
    auto r = try_run({d, bad, u}, [&](Network& net, const std::vector<Tensor>& t) {
      return net.add_scatter(t[0], t[1], t[2], ScatterParams{1, op});
    });
    expect_index_error(r, "index 7 is out of range for dim of size 5");
    HostTensor neg = make_tensor(DataType::kInt32, {2, 2}, {0, -6, 1, 2});
    auto r2 = try_run({d, neg, u}, [&](Network& net, const std::vector<Tensor>& t) {
      return net.add_scatter(t[0], t[1], t[2], ScatterParams{-1, op});
    });
    expect_index_error(r2, "index -6 is out of range for dim of size 5");
  }
}

}  // namespace
}  // namespace kiln
