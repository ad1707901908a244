// CUDA backend: pooling (max/average, 1-3 spatial dims, ceil_mode, count_include_pad,
// divisor_override, global), adaptive pooling, resize (every mode, up/down, align_corners, sizes
// and scales) and pad (every mode, negative pads) against the CPU reference on random inputs.
#include <cmath>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "gpu_test_util.h"

namespace kiln {
namespace {

using testing::expect_cuda_matches_cpu;
using testing::random_tensor;

HostTensor random_values(DataType dt, const Dims& dims) {
  return is_floating(dt) ? random_tensor(dt, dims, -2.0, 2.0) : random_tensor(dt, dims, -100, 100);
}

std::string name(DataType dt) { return std::string(dtype_name(dt)); }

/// One network: one input "x" of `in`'s type and the layer `make` adds, compared cuda vs cpu.
template <class Make>
void check(const HostTensor& in, Make&& make, BuilderConfig cfg = {},
           testing::GpuCompareOptions opt = {}) {
  Network net;
  auto x = net.add_input("x", in.type.dtype, in.type.dims);
  ASSERT_TRUE(x.ok()) << x.status().to_string();
  auto y = make(net, *x);
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  expect_cuda_matches_cpu(net, {in}, cfg, opt);
}

PoolingParams pool(PoolingType type, std::vector<int64_t> k, std::vector<int64_t> s,
                   std::vector<int64_t> pb, std::vector<int64_t> pe, std::vector<int64_t> d,
                   bool ceil_mode = false, bool count_include_pad = true,
                   int64_t divisor_override = 0) {
  PoolingParams p;
  p.type = type;
  p.kernel = k;
  p.strides = s;
  p.pads_begin = pb;
  p.pads_end = pe;
  p.dilations = d;
  p.ceil_mode = ceil_mode;
  p.count_include_pad = count_include_pad;
  p.divisor_override = divisor_override;
  return p;
}

const std::vector<DataType> kFloats = testing::kFloatTypes;

// ---- pooling ----

TEST(CudaPooling, MaxWindowsEveryRank) {
  KILN_REQUIRE_GPU();
  const auto M = PoolingType::kMax;
  struct Case {
    Dims x;
    PoolingParams p;
  };
  const Case cases[] = {
      {{2, 3, 13, 11}, pool(M, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1})},
      {{2, 3, 13, 11}, pool(M, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, true)},
      {{2, 3, 13, 11},
       pool(M, {2, 2}, {2, 2}, {0, 0}, {0, 0}, {1, 1}, true)},  // partial last window
      {{2, 3, 13, 11}, pool(M, {3, 3}, {2, 1}, {1, 1}, {1, 1}, {2, 2}, true)},  // dilated
      {{2, 3, 14, 12}, pool(M, {4, 3}, {3, 2}, {1, 0}, {2, 1}, {1, 1}, true)},  // asymmetric pads
      {{2, 4, 17}, pool(M, {3}, {2}, {1}, {1}, {1}, true)},                     // 1-D
      {{1, 2, 7, 8, 9},
       pool(M, {2, 3, 2}, {2, 2, 1}, {1, 1, 0}, {1, 1, 0}, {1, 1, 1}, true)},  // 3-D
  };
  for (DataType dt : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt32,
                      DataType::kInt8}) {
    for (size_t i = 0; i < std::size(cases); ++i) {
      SCOPED_TRACE(name(dt) + " case " + std::to_string(i));
      check(random_values(dt, cases[i].x),
            [&](Network& net, Tensor x) { return net.add_pooling(x, cases[i].p); });
    }
  }
}

TEST(CudaPooling, AverageDivisorRules) {
  KILN_REQUIRE_GPU();
  const auto A = PoolingType::kAverage;
  struct Case {
    Dims x;
    PoolingParams p;
  };
  std::vector<Case> cases;
  for (bool ceil_mode : {false, true}) {
    for (bool include : {false, true}) {
      cases.push_back(
          {{2, 3, 13, 11}, pool(A, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, ceil_mode, include)});
      cases.push_back(
          {{2, 3, 14, 12}, pool(A, {4, 3}, {3, 2}, {2, 1}, {1, 1}, {1, 1}, ceil_mode, include)});
      cases.push_back({{2, 4, 17}, pool(A, {3}, {2}, {1}, {1}, {1}, ceil_mode, include)});
      cases.push_back(
          {{1, 2, 7, 8, 9},
           pool(A, {3, 2, 3}, {2, 2, 2}, {1, 1, 1}, {1, 0, 1}, {1, 1, 1}, ceil_mode, include)});
    }
  }
  cases.push_back(
      {{2, 3, 13, 11},
       pool(A, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, false, true, 5)});  // divisor_override
  cases.push_back(
      {{2, 3, 13, 11}, pool(A, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, true, false, 7)});
  for (DataType dt : kFloats) {
    for (size_t i = 0; i < cases.size(); ++i) {
      SCOPED_TRACE(name(dt) + " case " + std::to_string(i));
      check(random_values(dt, cases[i].x),
            [&](Network& net, Tensor x) { return net.add_pooling(x, cases[i].p); });
    }
  }
}

TEST(CudaPooling, GlobalPoolingReductions) {
  KILN_REQUIRE_GPU();
  for (DataType dt : kFloats) {
    SCOPED_TRACE(name(dt));
    // Whole-plane windows through pooling (odd plane: scalar loads) and adaptive pooling (vector
    // loads).
    check(random_values(dt, {2, 64, 7, 7}), [](Network& net, Tensor x) {
      return net.add_pooling(x,
                             pool(PoolingType::kAverage, {7, 7}, {1, 1}, {0, 0}, {0, 0}, {1, 1}));
    });
    check(random_values(dt, {2, 5, 7, 7}), [](Network& net, Tensor x) {
      return net.add_pooling(
          x, pool(PoolingType::kAverage, {7, 7}, {7, 7}, {0, 0}, {0, 0}, {1, 1}, false, true, 10));
    });
    check(random_values(dt, {2, 6, 9, 7}), [](Network& net, Tensor x) {
      return net.add_pooling(x, pool(PoolingType::kMax, {9, 7}, {1, 1}, {0, 0}, {0, 0}, {1, 1}));
    });
    for (PoolingType t : {PoolingType::kAverage, PoolingType::kMax}) {
      check(random_values(dt, {2, 32, 8, 8}),
            [&](Network& net, Tensor x) { return net.add_adaptive_pooling(x, {t, {1, 1}}); });
      check(random_values(dt, {1, 3, 100, 100}), [&](Network& net, Tensor x) {
        return net.add_adaptive_pooling(x, {t, {1, 1}});
      });  // block per plane
      check(random_values(dt, {2, 5, 33}),
            [&](Network& net, Tensor x) { return net.add_adaptive_pooling(x, {t, {1}}); });
      check(random_values(dt, {2, 3, 4, 5, 8}),
            [&](Network& net, Tensor x) { return net.add_adaptive_pooling(x, {t, {1, 1, 1}}); });
    }
  }
}

TEST(CudaPooling, NanPropagates) {
  KILN_REQUIRE_GPU();
  HostTensor x = random_values(DataType::kFloat32, {1, 2, 6, 6});
  x.as<float>()[5] = std::numeric_limits<float>::quiet_NaN();
  x.as<float>()[40] = std::numeric_limits<float>::quiet_NaN();
  check(x, [](Network& net, Tensor t) {
    return net.add_pooling(t, pool(PoolingType::kMax, {2, 2}, {2, 2}, {0, 0}, {0, 0}, {1, 1}));
  });
  check(x, [](Network& net, Tensor t) {
    return net.add_pooling(t, pool(PoolingType::kAverage, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}));
  });
  check(x, [](Network& net, Tensor t) {
    return net.add_adaptive_pooling(t, {PoolingType::kMax, {1, 1}});
  });
  check(x, [](Network& net, Tensor t) {
    return net.add_adaptive_pooling(t, {PoolingType::kAverage, {1, 1}});
  });
}

TEST(CudaPooling, AdaptiveWindows) {
  KILN_REQUIRE_GPU();
  struct Case {
    Dims x;
    std::vector<int64_t> out;
  };
  const Case cases[] = {
      {{2, 3, 7, 7}, {3, 3}},  // 7 -> 3: overlapping windows
      {{2, 3, 10, 11}, {4, 5}},
      {{1, 2, 3, 4}, {7, 5}},        // upsampling
      {{2, 3, 11}, {4}},             // 1-D
      {{1, 2, 5, 6, 7}, {2, 3, 4}},  // 3-D
      {{2, 3, 8, 8}, {8, 8}},        // identity
  };
  for (PoolingType t : {PoolingType::kAverage, PoolingType::kMax}) {
    for (DataType dt :
         {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt32}) {
      if (t == PoolingType::kAverage && dt == DataType::kInt32) continue;
      for (const Case& c : cases) {
        SCOPED_TRACE(name(dt) + " " + c.x.to_string());
        check(random_values(dt, c.x),
              [&](Network& net, Tensor x) { return net.add_adaptive_pooling(x, {t, c.out}); });
      }
    }
  }
}

// ---- resize ----

ResizeParams resize(ResizeMode mode, bool align, std::vector<int64_t> sizes,
                    std::vector<double> scales = {}) {
  ResizeParams p;
  p.mode = mode;
  p.align_corners = align;
  p.sizes = sizes;
  p.scales = scales;
  return p;
}

TEST(CudaResize, EveryModeUpAndDown) {
  KILN_REQUIRE_GPU();
  struct Target {
    std::vector<int64_t> sizes;
    std::vector<double> scales;
  };
  const Target targets2d[] = {
      {{10, 14}, {}},                      // exactly 2x: the 2-d nearest shortcut
      {{9, 16}, {}},                       // up, non-integer
      {{3, 4}, {}},                        // down
      {{5, 7}, {}},                        // same size
      {{1, 1}, {}},     {{}, {2.0, 2.0}},  // scale factors map coordinates
      {{}, {1.7, 0.6}}, {{}, {0.5, 3.0}},
  };
  const ResizeMode modes[] = {ResizeMode::kNearest, ResizeMode::kNearestExact, ResizeMode::kLinear,
                              ResizeMode::kCubic};
  for (DataType dt : kFloats) {
    for (ResizeMode m : modes) {
      for (bool align : {false, true}) {
        if (align && (m == ResizeMode::kNearest || m == ResizeMode::kNearestExact)) continue;
        for (size_t i = 0; i < std::size(targets2d); ++i) {
          SCOPED_TRACE(name(dt) + " " + std::string(enum_names(m)[static_cast<size_t>(m)]) +
                       (align ? " align" : "") + " target " + std::to_string(i));
          check(random_values(dt, {2, 3, 5, 7}), [&](Network& net, Tensor x) {
            return net.add_resize(x, resize(m, align, targets2d[i].sizes, targets2d[i].scales));
          });
        }
      }
    }
  }
  // 1-d and 3-d (no cubic there).
  for (DataType dt : kFloats) {
    for (ResizeMode m : {ResizeMode::kNearest, ResizeMode::kNearestExact, ResizeMode::kLinear}) {
      for (bool align : {false, true}) {
        if (align && m != ResizeMode::kLinear) continue;
        SCOPED_TRACE(name(dt) + " " + std::string(enum_names(m)[static_cast<size_t>(m)]) +
                     (align ? " align" : ""));
        check(random_values(dt, {2, 3, 9}),
              [&](Network& net, Tensor x) { return net.add_resize(x, resize(m, align, {20})); });
        check(random_values(dt, {2, 3, 9}),
              [&](Network& net, Tensor x) { return net.add_resize(x, resize(m, align, {4})); });
        check(random_values(dt, {2, 3, 9}), [&](Network& net, Tensor x) {
          return net.add_resize(x, resize(m, align, {}, {2.5}));
        });
        check(random_values(dt, {1, 2, 4, 5, 6}), [&](Network& net, Tensor x) {
          return net.add_resize(x, resize(m, align, {7, 3, 12}));
        });
        check(random_values(dt, {1, 2, 4, 5, 6}), [&](Network& net, Tensor x) {
          return net.add_resize(x, resize(m, align, {8, 10, 12}));
        });
      }
    }
  }
  // Nearest modes move raw elements of any dtype.
  for (DataType dt : {DataType::kInt32, DataType::kUInt8, DataType::kBool, DataType::kInt64}) {
    for (ResizeMode m : {ResizeMode::kNearest, ResizeMode::kNearestExact}) {
      SCOPED_TRACE(name(dt));
      check(random_values(dt, {2, 3, 5, 7}),
            [&](Network& net, Tensor x) { return net.add_resize(x, resize(m, false, {9, 16})); });
      check(random_values(dt, {2, 3, 5, 7}), [&](Network& net, Tensor x) {
        return net.add_resize(x, resize(m, false, {}, {0.5, 1.5}));
      });
    }
  }
}

// ---- pad ----

TEST(CudaPad, EveryModeAndDtype) {
  KILN_REQUIRE_GPU();
  struct Case {
    Dims x;
    PadParams p;
  };
  const Case cases[] = {
      {{2, 3, 5, 6},
       {{0, 1, 2, -1}, {1, 0, -2, 3}, PadMode::kConstant, 1.5}},  // negative pads crop
      {{2, 3, 5, 6}, {{0, 0, 1, 1}, {0, 0, 1, 1}, PadMode::kConstant, 0.0}},
      {{2, 3, 5, 6}, {{0, 0, 2, 3}, {0, 0, 4, 5}, PadMode::kReflect, 0.0}},
      {{2, 3, 5, 6}, {{0, 1, 3, 0}, {1, 0, 2, 7}, PadMode::kReplicate, 0.0}},
      {{2, 3, 5, 6}, {{0, 0, 5, 2}, {0, 0, 3, 6}, PadMode::kCircular, 0.0}},
      {{7}, {{3}, {6}, PadMode::kReflect, 0.0}},
      {{4, 9}, {{-1, 2}, {-2, -3}, PadMode::kConstant, -300.0}},  // saturates for int8
  };
  for (DataType dt : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt32,
                      DataType::kInt64, DataType::kInt8, DataType::kBool}) {
    for (size_t i = 0; i < std::size(cases); ++i) {
      SCOPED_TRACE(name(dt) + " case " + std::to_string(i));
      check(random_values(dt, cases[i].x),
            [&](Network& net, Tensor x) { return net.add_pad(x, cases[i].p); });
    }
  }
}

// ---- dynamic shapes ----

TEST(CudaSpatial, DynamicShapesAtTwoSizes) {
  KILN_REQUIRE_GPU();
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, 3, -1, -1});
  ASSERT_TRUE(x.ok());
  auto p =
      net.add_pooling(*x, pool(PoolingType::kMax, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, true));
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  auto r = net.add_resize(*p, resize(ResizeMode::kLinear, false, {}, {2.0, 2.0}));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto d = net.add_pad(*r, PadParams{{0, 0, 2, 1}, {0, 0, 1, 2}, PadMode::kReflect, 0.0});
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  auto g = net.add_adaptive_pooling(*d, {PoolingType::kAverage, {1, 1}});
  auto a = net.add_adaptive_pooling(*d, {PoolingType::kAverage, {3, 3}});
  ASSERT_TRUE(g.ok() && a.ok());
  ASSERT_TRUE(net.mark_output(*d, "d").ok());
  ASSERT_TRUE(net.mark_output(*g, "g").ok());
  ASSERT_TRUE(net.mark_output(*a, "a").ok());
  BuilderConfig cfg;
  cfg.profiles = {OptimizationProfile().set("x", {1, 3, 8, 8}, {2, 3, 16, 16}, {4, 3, 32, 32})};
  for (Dims dims : {Dims{1, 3, 9, 11}, Dims{3, 3, 20, 17}}) {
    SCOPED_TRACE(dims.to_string());
    expect_cuda_matches_cpu(net, {random_values(DataType::kFloat32, dims)}, cfg);
  }
}

}  // namespace
}  // namespace kiln
