// CUDA backend: data movement (transpose, concat, split, slice, expand) and indexing (gather,
// gather_elements, scatter) against the CPU reference on random inputs: every dtype class, odd
// shapes, negative axes and indices, dynamic shapes, run-time slice bounds.
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "gpu_test_util.h"

namespace kiln {
namespace {

using testing::expect_cuda_matches_cpu;
using testing::random_tensor;

constexpr int64_t kMin = std::numeric_limits<int64_t>::min() + 1;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

std::vector<Tensor> as_vector(const Tensor& t) { return {t}; }
std::vector<Tensor> as_vector(const std::vector<Tensor>& t) { return t; }

/// Random values of dtype dt (floats in [-2, 2), integers in [-100, 100), bools).
HostTensor random_values(DataType dt, const Dims& dims) {
  return is_floating(dt) ? random_tensor(dt, dims, -2.0, 2.0) : random_tensor(dt, dims, -100, 100);
}

std::string name(DataType dt) { return std::string(dtype_name(dt)); }

/// "x0", "y3", ... (appending avoids a GCC 12 -Wrestrict false positive on "x" + std::string).
std::string indexed(const char* prefix, size_t i) {
  std::string s(prefix);
  s.append(std::to_string(i));
  return s;
}

/// One network: an input per tensor of `inputs` ("x0", "x1", ...), the layer(s) `make` adds, every
/// tensor it returns marked as an output; cuda is compared with cpu.
template <class Make>
void check(const std::vector<HostTensor>& inputs, Make&& make, BuilderConfig cfg = {},
           testing::GpuCompareOptions opt = {}) {
  Network net;
  std::vector<Tensor> xs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto x = net.add_input(indexed("x", i), inputs[i].type.dtype, inputs[i].type.dims);
    ASSERT_TRUE(x.ok()) << x.status().to_string();
    xs.push_back(*x);
  }
  auto y = make(net, xs);
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  std::vector<Tensor> outs = as_vector(*y);
  for (size_t i = 0; i < outs.size(); ++i)
    ASSERT_TRUE(net.mark_output(outs[i], indexed("y", i)).ok());
  expect_cuda_matches_cpu(net, inputs, cfg, opt);
}

const std::vector<DataType> kMoveTypes = {DataType::kFloat32,  DataType::kFloat16,
                                          DataType::kBFloat16, DataType::kInt64,
                                          DataType::kInt8,     DataType::kBool};

// ---- data movement ----

TEST(CudaDataMovement, TransposeShapesAndDtypes) {
  KILN_REQUIRE_GPU();
  struct Case {
    Dims x;
    std::vector<int64_t> perm;
  };
  const Case cases[] = {
      {{67, 33}, {1, 0}},            // 2-D: tiled
      {{1000, 3}, {1, 0}},           // thin
      {{3, 5, 7, 9}, {0, 1, 3, 2}},  // batched tiles
      {{3, 5, 7, 9}, {3, 2, 1, 0}},  // full reversal
      {{3, 5, 7, 9}, {2, 0, 3, 1}},
      {{4, 33, 5, 6}, {0, 2, 1, 3}},       // innermost rows kept (6 elements)
      {{2, 1, 5, 1, 3}, {4, 3, 2, 1, 0}},  // size-1 dims
      {{2, 300, 257}, {0, 2, 1}},
      {{5, 6, 7}, {0, 1, 2}},                    // identity: a memcpy
      {{2, 3, 4, 5, 3, 2}, {5, 3, 1, 0, 2, 4}},  // rank 6
      {{2, 3, 17, 19}, {0, 2, 3, 1}},  // NCHW image -> NHWC: narrow columns (3), a row per thread
      {{2, 17, 19, 3}, {0, 3, 1, 2}},  // NHWC -> NCHW with 3 channels: a column per thread
      {{3, 8, 9, 40}, {0, 2, 3, 1}},   // 8 channels: still narrow
  };
  for (DataType dt : kMoveTypes) {
    for (const Case& c : cases) {
      SCOPED_TRACE(name(dt) + " " + c.x.to_string());
      check({random_values(dt, c.x)}, [&](Network& net, const std::vector<Tensor>& t) {
        return net.add_transpose(t[0], c.perm);
      });
    }
  }
}

TEST(CudaDataMovement, AttentionTransposesFp16) {
  KILN_REQUIRE_GPU();
  const DataType h = DataType::kFloat16;
  // [B, S, H, D] -> [B, H, S, D] (rows of D), and K^T [B, H, S, D] -> [B, H, D, S] (tiled).
  check({random_values(h, {8, 128, 12, 64})}, [](Network& net, const std::vector<Tensor>& t) {
    return net.add_transpose(t[0], {0, 2, 1, 3});
  });
  check({random_values(h, {8, 12, 128, 64})}, [](Network& net, const std::vector<Tensor>& t) {
    return net.add_transpose(t[0], {0, 1, 3, 2});
  });
  check({random_values(h, {2, 77, 12, 40})}, [](Network& net, const std::vector<Tensor>& t) {
    return net.add_transpose(t[0], {0, 2, 1, 3});
  });
}

TEST(CudaDataMovement, ConcatOfThreeAndMany) {
  KILN_REQUIRE_GPU();
  struct Case {
    std::vector<Dims> x;
    int64_t axis;
  };
  const Case cases[] = {
      {{{2, 3, 5}, {2, 4, 5}, {2, 1, 5}}, 1},
      {{{4, 3}, {4, 5}, {4, 8}}, -1},
      {{{3, 7}, {1, 7}, {5, 7}}, 0},
      {{{4, 64, 8, 8}, {4, 32, 8, 8}, {4, 16, 8, 8}}, -3},  // 16-byte rows
      {{{3, 2, 3}, {3, 2, 5}, {3, 2, 1}}, 2},
  };
  for (DataType dt : kMoveTypes) {
    for (const Case& c : cases) {
      SCOPED_TRACE(name(dt) + " axis " + std::to_string(c.axis));
      std::vector<HostTensor> in;
      for (const Dims& d : c.x) in.push_back(random_values(dt, d));
      check(in,
            [&](Network& net, const std::vector<Tensor>& t) { return net.add_concat(t, c.axis); });
    }
  }
  // More inputs than one launch takes (DenseNet-like).
  std::vector<HostTensor> many;
  for (int i = 0; i < 21; ++i)
    many.push_back(random_values(DataType::kFloat32, {2, 1 + i % 4, 6, 5}));
  check(many, [](Network& net, const std::vector<Tensor>& t) { return net.add_concat(t, 1); });
}

TEST(CudaDataMovement, SplitIntoSeveralOutputs) {
  KILN_REQUIRE_GPU();
  struct Case {
    Dims x;
    int64_t axis;
    std::vector<int64_t> sizes;
  };
  const Case cases[] = {
      {{6, 10, 4}, 1, {3, -1, 2}},   {{6, 10, 4}, -1, {1, 3}}, {{6, 10, 4}, 0, {2, 2, 2}},
      {{2, 96, 7}, 1, {32, 32, 32}}, {{5, 17}, 1, {16, 1}},
  };
  for (DataType dt : kMoveTypes) {
    for (const Case& c : cases) {
      SCOPED_TRACE(name(dt) + " " + c.x.to_string() + " axis " + std::to_string(c.axis));
      check({random_values(dt, c.x)}, [&](Network& net, const std::vector<Tensor>& t) {
        return net.add_split(t[0], SplitParams{c.axis, c.sizes});
      });
    }
  }
}

TEST(CudaDataMovement, SliceStepsBoundsAndAxes) {
  KILN_REQUIRE_GPU();
  const SliceParams cases[] = {
      {{0}, {2}, {9}, {1}},                                        // outer rows
      {{1, 2}, {-8, 1}, {kMax, -1}, {3, 2}},                       // strided, negative bounds
      {{2}, {-1}, {kMin}, {-1}},                                   // reverse the last axis
      {{0, 1, 2}, {9, 10, 11}, {kMin, kMin, kMin}, {-2, -3, -1}},  // everything backwards
      {{-2}, {-100}, {100}, {1}},                                  // clamped: the whole axis
      {{1}, {0}, {kMax}, {100}},                                   // step beyond the extent
      {{0}, {1}, {-1}, {}},                                        // default steps
      {{-1}, {4}, {4}, {1}},                                       // empty
      {{0, 2}, {-3, 5}, {kMax, 1}, {1, -2}},
  };
  for (DataType dt : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kUInt8}) {
    for (size_t i = 0; i < std::size(cases); ++i) {
      SCOPED_TRACE(name(dt) + " case " + std::to_string(i));
      check({random_values(dt, {10, 11, 12})}, [&](Network& net, const std::vector<Tensor>& t) {
        return net.add_slice(t[0], cases[i]);
      });
    }
  }
}

TEST(CudaDataMovement, SliceBoundsComputedFromShapesAtRunTime) {
  KILN_REQUIRE_GPU();
  // starts = [B - 3] and ends = [B] along axis 0 (shape -> gather -> binary), and starts = [W - 2]
  // with a negative step along axis 1: values the kernel only gets from the resolved shapes.
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, 12});
  ASSERT_TRUE(x.ok());
  auto shp = net.add_shape(*x);
  auto b = net.add_gather(*shp, *net.add_int_vector({0}), 0);
  auto w = net.add_gather(*shp, *net.add_int_vector({1}), 0);
  ASSERT_TRUE(b.ok() && w.ok());
  auto starts0 = net.add_elementwise(*b, *net.add_int_vector({3}), BinaryOp::kSub);
  auto starts1 = net.add_elementwise(*w, *net.add_int_vector({2}), BinaryOp::kSub);
  ASSERT_TRUE(starts0.ok() && starts1.ok());
  auto y0 = net.add_slice(*x, SliceParams{{0}, {0}, {0}, {1}}, *starts0, *b);
  auto y1 =
      net.add_slice(*x, SliceParams{{1}, {0}, {0}, {-3}}, *starts1, *net.add_int_vector({-100}));
  ASSERT_TRUE(y0.ok()) << y0.status().to_string();
  ASSERT_TRUE(y1.ok()) << y1.status().to_string();
  ASSERT_TRUE(net.mark_output(*y0, "y0").ok());
  ASSERT_TRUE(net.mark_output(*y1, "y1").ok());
  BuilderConfig cfg;
  cfg.profiles = {OptimizationProfile().set("x", {3, 12}, {5, 12}, {16, 12})};
  for (int64_t rows : {5, 11}) {
    SCOPED_TRACE("rows " + std::to_string(rows));
    expect_cuda_matches_cpu(net, {random_values(DataType::kFloat32, {rows, 12})}, cfg);
  }
}

TEST(CudaDataMovement, ExpandBroadcasts) {
  KILN_REQUIRE_GPU();
  struct Case {
    Dims x;
    std::vector<int64_t> shape;
  };
  const Case cases[] = {
      {{3, 1, 5}, {2, 3, 4, 5}}, {{1}, {7, 9}},
      {{4, 1}, {4, 6}},  // broadcast along the innermost dim
      {{1, 6}, {5, 6}},          {{2, 1, 3, 1}, {2, 5, 3, 7}},
      {{1, 1, 64}, {3, 17, 64}},
  };
  for (DataType dt : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kBool}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(name(dt) + " " + c.x.to_string());
      check({random_values(dt, c.x)}, [&](Network& net, const std::vector<Tensor>& t) {
        return net.add_expand(t[0], c.shape);
      });
    }
  }
}

TEST(CudaDataMovement, DynamicShapesAtTwoSizes) {
  KILN_REQUIRE_GPU();
  Network net;
  auto x = net.add_input("x", DataType::kFloat16, {-1, 12, 64});
  ASSERT_TRUE(x.ok());
  auto t = net.add_transpose(*x, {1, 0, 2});
  auto c = net.add_concat({*x, *x, *x}, 0);
  auto s = net.add_slice(*x, SliceParams{{0}, {1}, {-1}, {1}});
  auto sp = net.add_split(*x, SplitParams{2, {16, -1}});
  auto e = net.add_expand(*net.add_slice(*x, SliceParams{{1}, {0}, {1}, {1}}), {-1, 5, 64});
  ASSERT_TRUE(t.ok() && c.ok() && s.ok() && sp.ok() && e.ok());
  ASSERT_TRUE(net.mark_output(*t, "t").ok());
  ASSERT_TRUE(net.mark_output(*c, "c").ok());
  ASSERT_TRUE(net.mark_output(*s, "s").ok());
  ASSERT_TRUE(net.mark_output((*sp)[0], "sp0").ok());
  ASSERT_TRUE(net.mark_output((*sp)[1], "sp1").ok());
  ASSERT_TRUE(net.mark_output(*e, "e").ok());
  BuilderConfig cfg;
  cfg.profiles = {OptimizationProfile().set("x", {2, 12, 64}, {4, 12, 64}, {16, 12, 64})};
  for (int64_t b : {3, 13}) {
    SCOPED_TRACE("batch " + std::to_string(b));
    expect_cuda_matches_cpu(net, {random_values(DataType::kFloat16, {b, 12, 64})}, cfg);
  }
}

// ---- indexing ----

TEST(CudaIndexing, EmbeddingGather) {
  KILN_REQUIRE_GPU();
  Network net;
  auto table = testing::add_constant(net, random_tensor(DataType::kFloat16, {50000, 768}));
  auto ids = net.add_input("ids", DataType::kInt64, {8, 128});
  auto ids32 = net.add_input("ids32", DataType::kInt32, {3, 5});
  ASSERT_TRUE(ids.ok() && ids32.ok());
  auto y = net.add_gather(table, *ids, 0);
  auto y32 = net.add_gather(table, *ids32, 0);
  ASSERT_TRUE(y.ok() && y32.ok());
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  ASSERT_TRUE(net.mark_output(*y32, "y32").ok());
  // Negative ids wrap (id + 50000).
  expect_cuda_matches_cpu(net, {random_tensor(DataType::kInt64, {8, 128}, -50000, 50000),
                                random_tensor(DataType::kInt32, {3, 5}, -50000, 50000)});
}

TEST(CudaIndexing, GatherAxesIndexShapesAndDtypes) {
  KILN_REQUIRE_GPU();
  struct Case {
    int64_t axis;
    Dims idx;
  };
  const Case cases[] = {{0, {4}}, {1, {2, 3}}, {-1, {9}}, {2, {}}, {-3, {2, 2, 2}}, {1, {1}}};
  const Dims data{5, 6, 7};
  for (DataType dt : kMoveTypes) {
    for (DataType it : {DataType::kInt32, DataType::kInt64}) {
      for (const Case& c : cases) {
        SCOPED_TRACE(name(dt) + " " + name(it) + " axis " + std::to_string(c.axis) + " idx " +
                     c.idx.to_string());
        const int64_t dim = data[static_cast<int>(c.axis < 0 ? c.axis + 3 : c.axis)];
        check({random_values(dt, data),
               random_tensor(it, c.idx, static_cast<double>(-dim), static_cast<double>(dim))},
              [&](Network& net, const std::vector<Tensor>& t) {
                return net.add_gather(t[0], t[1], c.axis);
              });
      }
    }
  }
}

TEST(CudaIndexing, GatherElementsAlongEachAxis) {
  KILN_REQUIRE_GPU();
  struct Case {
    int64_t axis;
    Dims idx;
  };
  const Dims data{5, 6, 7};
  const Case cases[] = {{0, {3, 4, 5}}, {1, {5, 9, 7}}, {-1, {2, 3, 10}}, {-3, {8, 6, 7}}};
  for (DataType dt : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kInt8}) {
    for (DataType it : {DataType::kInt32, DataType::kInt64}) {
      for (const Case& c : cases) {
        SCOPED_TRACE(name(dt) + " " + name(it) + " axis " + std::to_string(c.axis));
        const int64_t dim = data[static_cast<int>(c.axis < 0 ? c.axis + 3 : c.axis)];
        check({random_values(dt, data),
               random_tensor(it, c.idx, static_cast<double>(-dim), static_cast<double>(dim))},
              [&](Network& net, const std::vector<Tensor>& t) {
                return net.add_gather_elements(t[0], t[1], c.axis);
              });
      }
    }
  }
}

TEST(CudaIndexing, ScatterEveryReduction) {
  KILN_REQUIRE_GPU();
  struct Case {
    Dims data, idx, upd;
    int64_t axis;
  };
  const Case cases[] = {
      {{6, 9}, {4, 9}, {5, 9}, 0},  // duplicates along the axis, updates larger than indices
      {{4, 5, 6}, {3, 7, 6}, {3, 7, 6}, 1},
      {{4, 5, 6}, {4, 5, 3}, {4, 5, 4}, -1},
      {{3, 50}, {3, 200}, {3, 200}, 1},  // few long lines: atomics for add/max/min on f32/i32/i64
  };
  const ScatterReduce reduces[] = {ScatterReduce::kNone, ScatterReduce::kAdd, ScatterReduce::kMul,
                                   ScatterReduce::kMax, ScatterReduce::kMin};
  for (DataType dt : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt32,
                      DataType::kInt64}) {
    for (ScatterReduce r : reduces) {
      for (const Case& c : cases) {
        SCOPED_TRACE(name(dt) + " " + std::string(enum_names(r)[static_cast<size_t>(r)]) +
                     " data " + c.data.to_string());
        const int ax = static_cast<int>(c.axis < 0 ? c.axis + c.data.rank() : c.axis);
        const auto dim = static_cast<double>(c.data[ax]);
        // Products stay moderate: values near 1 for floats, small integers (wrap-around agrees
        // anyway).
        HostTensor data = is_floating(dt) ? random_tensor(dt, c.data, 0.5, 1.5)
                                          : random_tensor(dt, c.data, -5, 6);
        HostTensor upd =
            is_floating(dt) ? random_tensor(dt, c.upd, 0.5, 1.5) : random_tensor(dt, c.upd, -5, 6);
        HostTensor idx = random_tensor(DataType::kInt64, c.idx, -dim, dim);
        testing::GpuCompareOptions opt;
        if (dt == DataType::kFloat16 || dt == DataType::kBFloat16)
          opt.rtol = opt.atol = 0.1;  // per-update rounding
        check(
            {data, idx, upd},
            [&](Network& net, const std::vector<Tensor>& t) {
              return net.add_scatter(t[0], t[1], t[2], ScatterParams{c.axis, r});
            },
            {}, opt);
      }
    }
  }
  // Plain scatter of raw bytes: bool and int8, int32 indices.
  for (DataType dt : {DataType::kBool, DataType::kInt8}) {
    SCOPED_TRACE(name(dt));
    check({random_values(dt, {7, 8}), random_tensor(DataType::kInt32, {5, 8}, -7, 7),
           random_values(dt, {5, 8})},
          [&](Network& net, const std::vector<Tensor>& t) {
            return net.add_scatter(t[0], t[1], t[2], ScatterParams{0, ScatterReduce::kNone});
          });
  }
}

}  // namespace
}  // namespace kiln
