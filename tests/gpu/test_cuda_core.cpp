// CUDA backend: pointwise kernels, cuBLASLt GEMMs, cuDNN convolutions, precisions, dynamic shapes,
// CUDA graphs — each against the CPU reference on random inputs.
#include <cuda_runtime.h>

#include "gpu_test_util.h"

namespace kiln {
namespace {

using testing::expect_cuda_matches_cpu;
using testing::random_tensor;

TEST(CudaCore, BinaryAndUnaryEveryDtypeWithBroadcast) {
  KILN_REQUIRE_GPU();
  for (DataType dt : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt32,
                      DataType::kInt64}) {
    for (BinaryOp op : {BinaryOp::kAdd, BinaryOp::kMul, BinaryOp::kSub, BinaryOp::kMax,
                        BinaryOp::kGreater, BinaryOp::kFloorDiv}) {
      for (auto shapes :
           std::vector<std::pair<Dims, Dims>>{{{64, 33}, {64, 33}},
                                              {{4, 1, 33}, {5, 1}},
                                              {{1000}, {1}},
                                              // vector paths: [N,C,H,W] x [N,C,1,1] (SE scale),
                                              // x [1,C,H,W], x [W] and the scalar case
                                              {{2, 3, 4, 8}, {2, 3, 1, 1}},
                                              {{2, 3, 4, 8}, {1, 3, 4, 8}},
                                              {{6, 16}, {16}},
                                              {{1}, {64}}}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + " " +
                     std::string(enum_names(op)[static_cast<size_t>(op)]));
        Network net;
        auto a = net.add_input("a", dt, shapes.first);
        auto b = net.add_input("b", dt, shapes.second);
        ASSERT_TRUE(net.mark_output(*net.add_elementwise(*a, *b, op), "y").ok());
        expect_cuda_matches_cpu(
            net, {random_tensor(dt, shapes.first, -8, 8), random_tensor(dt, shapes.second, 1, 8)});
      }
    }
  }
  for (DataType dt : testing::kFloatTypes) {
    for (UnaryOp op :
         {UnaryOp::kRelu, UnaryOp::kGelu, UnaryOp::kGeluTanh, UnaryOp::kSilu, UnaryOp::kSigmoid,
          UnaryOp::kTanh, UnaryOp::kExp, UnaryOp::kHardSwish, UnaryOp::kErf, UnaryOp::kRsqrt}) {
      Network net;
      auto a = net.add_input("a", dt, {3, 1025});
      ASSERT_TRUE(net.mark_output(*net.add_unary(*a, op), "y").ok());
      double lo = op == UnaryOp::kRsqrt ? 0.1 : -3;
      expect_cuda_matches_cpu(net, {random_tensor(dt, {3, 1025}, lo, 3)});
    }
  }
}

TEST(CudaCore, CastWhereFillArangeShape) {
  KILN_REQUIRE_GPU();
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, 7});
  auto c = net.add_input("c", DataType::kBool, {-1, 7});
  auto h = net.add_cast(*x, DataType::kFloat16);
  auto i = net.add_cast(*x, DataType::kInt32);
  auto w = net.add_where(*c, *x, *net.add_scalar(2.5, DataType::kFloat32));
  auto shp = net.add_shape(*x);
  ArangeParams ap;
  ap.start = 1;
  ap.step = 2;
  auto n = net.add_gather(*shp, *net.add_scalar(0, DataType::kInt64), 0);
  auto ar = net.add_arange(ap, Tensor{}, *n);
  ASSERT_TRUE(ar.ok()) << ar.status().to_string();
  for (auto [t, name] : std::vector<std::pair<Expected<Tensor>, const char*>>{
           {h, "h"}, {i, "i"}, {w, "w"}, {shp, "s"}, {ar, "ar"}})
    ASSERT_TRUE(net.mark_output(*t, name).ok());
  BuilderConfig cfg;
  cfg.profiles = {
      OptimizationProfile().set("x", {1, 7}, {4, 7}, {16, 7}).set("c", {1, 7}, {4, 7}, {16, 7})};
  for (int64_t b : {3, 16}) {
    expect_cuda_matches_cpu(net,
                            {random_tensor(DataType::kFloat32, {b, 7}, -50, 50),
                             random_tensor(DataType::kBool, {b, 7})},
                            cfg);
  }
}

TEST(CudaCore, MatmulLinearShapesAndPrecisions) {
  KILN_REQUIRE_GPU();
  struct Case {
    Dims a, b;
    bool ta, tb;
  };
  const Case cases[] = {
      {{64, 32}, {32, 48}, false, false},    {{8, 64, 32}, {8, 32, 16}, false, false},
      {{2, 3, 17, 9}, {9, 5}, false, false}, {{4, 1, 6, 8}, {3, 8, 5}, false, false},
      {{32, 64}, {48, 64}, false, true},     {{64, 32}, {64, 48}, true, false},
      {{33}, {33, 7}, false, false},         {{5, 33}, {33}, false, false}};
  for (DataType dt : testing::kFloatTypes) {
    for (const auto& c : cases) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + c.a.to_string() + "x" + c.b.to_string());
      Network net;
      auto a = net.add_input("a", dt, c.a);
      auto b = net.add_input("b", dt, c.b);
      auto y = net.add_matmul(*a, *b, MatMulParams{c.ta, c.tb});
      ASSERT_TRUE(y.ok()) << y.status().to_string();
      ASSERT_TRUE(net.mark_output(*y, "y").ok());
      expect_cuda_matches_cpu(net, {random_tensor(dt, c.a), random_tensor(dt, c.b)});
    }
    Network net;
    auto x = net.add_input("x", dt, {-1, 10, 64});
    auto w = testing::add_constant(net, random_tensor(dt, {96, 64}, -0.2, 0.2));
    auto bias = testing::add_constant(net, random_tensor(dt, {96}));
    ASSERT_TRUE(net.mark_output(*net.add_linear(*x, w, bias), "y").ok());
    BuilderConfig cfg;
    cfg.profiles = {OptimizationProfile().set("x", {1, 10, 64}, {4, 10, 64}, {8, 10, 64})};
    expect_cuda_matches_cpu(net, {random_tensor(dt, {4, 10, 64})}, cfg);
    expect_cuda_matches_cpu(net, {random_tensor(dt, {7, 10, 64})}, cfg);  // not the tuned shape
  }
}

TEST(CudaCore, IntegerMatmulIsExact) {
  KILN_REQUIRE_GPU();
  Network net;
  auto a = net.add_input("a", DataType::kInt64, {3, 5, 7});
  auto b = net.add_input("b", DataType::kInt64, {7, 4});
  ASSERT_TRUE(net.mark_output(*net.add_matmul(*a, *b), "y").ok());
  expect_cuda_matches_cpu(net, {random_tensor(DataType::kInt64, {3, 5, 7}, -100, 100),
                                random_tensor(DataType::kInt64, {7, 4}, -100, 100)});
}

TEST(CudaCore, ConvolutionVariants) {
  KILN_REQUIRE_GPU();
  struct Case {
    Dims x, w;
    ConvolutionParams p;
  };
  auto cp = [](std::vector<int64_t> s, std::vector<int64_t> pad, std::vector<int64_t> d, int64_t g,
               bool t = false, std::vector<int64_t> op = {}) {
    ConvolutionParams p;
    p.strides = s;
    p.pads_begin = pad;
    p.pads_end = pad;
    p.dilations = d;
    p.groups = g;
    p.transposed = t;
    p.output_padding = op;
    return p;
  };
  const Case cases[] = {
      {{2, 3, 17, 17}, {8, 3, 3, 3}, cp({1, 1}, {1, 1}, {1, 1}, 1)},
      {{2, 8, 16, 16}, {16, 8, 3, 3}, cp({2, 2}, {1, 1}, {1, 1}, 1)},
      {{1, 8, 15, 15}, {8, 1, 3, 3}, cp({1, 1}, {2, 2}, {2, 2}, 8)},  // depthwise, dilated
      {{2, 4, 9, 9}, {6, 2, 1, 1}, cp({1, 1}, {0, 0}, {1, 1}, 2)},
      {{2, 4, 20}, {5, 4, 5}, cp({2}, {2}, {1}, 1)},                               // 1-D
      {{1, 2, 5, 6, 7}, {3, 2, 3, 3, 3}, cp({1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1)},  // 3-D
      {{2, 6, 7, 7}, {6, 4, 3, 3}, cp({2, 2}, {1, 1}, {1, 1}, 1, true, {1, 1})},   // transposed
  };
  for (DataType dt : testing::kFloatTypes) {
    for (const auto& c : cases) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " x" + c.x.to_string() + " w" + c.w.to_string());
      Network net;
      auto x = net.add_input("x", dt, c.x);
      auto w = testing::add_constant(net, random_tensor(dt, c.w, -0.5, 0.5));
      int64_t cout = c.p.transposed ? c.w[1] * c.p.groups : c.w[0];
      auto b = testing::add_constant(net, random_tensor(dt, {cout}));
      auto y = net.add_convolution(*x, w, b, c.p);
      ASSERT_TRUE(y.ok()) << y.status().to_string();
      ASSERT_TRUE(net.mark_output(*y, "y").ok());
      expect_cuda_matches_cpu(net, {random_tensor(dt, c.x)});
    }
  }
}

TEST(CudaCore, Fp16BuildOfFp32NetworkAndTf32) {
  KILN_REQUIRE_GPU();
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {4, 3, 16, 16});
  auto w = testing::add_constant(net, random_tensor(DataType::kFloat32, {8, 3, 3, 3}, -0.3, 0.3));
  ConvolutionParams p;
  p.pads_begin = {1, 1};
  auto c = net.add_unary(*net.add_convolution(*x, w, Tensor{}, p), UnaryOp::kRelu);
  auto f = net.add_flatten(*c, 1);
  auto lw =
      testing::add_constant(net, random_tensor(DataType::kFloat32, {10, 8 * 16 * 16}, -0.02, 0.02));
  auto y = net.add_softmax(*net.add_linear(*f, lw, Tensor{}), -1);
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  auto in = random_tensor(DataType::kFloat32, {4, 3, 16, 16});
  for (Precision prec : {Precision::kFP16, Precision::kBF16, Precision::kTF32}) {
    BuilderConfig cfg;
    cfg.enabled_precisions = {Precision::kFP32, prec};
    testing::GpuCompareOptions o;
    o.rtol = o.atol = prec == Precision::kBF16 ? 3e-2 : 1e-2;
    expect_cuda_matches_cpu(net, {in}, cfg, o);
  }
}

TEST(CudaCore, GraphsOnAndOffAgreeAndNewBindingsAreUsed) {
  KILN_REQUIRE_GPU();
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, 64});
  auto w = testing::add_constant(net, random_tensor(DataType::kFloat32, {64, 64}, -0.1, 0.1));
  auto y = net.add_unary(*net.add_linear(*x, w, Tensor{}), UnaryOp::kGelu);
  auto z = net.add_reshape(*y, {-1, 8, 8});
  ASSERT_TRUE(net.mark_output(*z, "z").ok());
  BuilderConfig cfg;
  cfg.backend = "cuda";
  cfg.profiles = {OptimizationProfile().set("x", {1, 64}, {8, 64}, {32, 64})};
  auto plan = Builder::build(net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  for (int64_t b : {8, 3, 8, 32}) {  // revisits shape 8: its graph is replayed with new buffers
    auto in = random_tensor(DataType::kFloat32, {b, 64});
    auto g = testing::run_cuda_engine(**engine, {in}, 0, true, 3);
    auto e = testing::run_cuda_engine(**engine, {in}, 0, false, 1);
    ASSERT_TRUE(g.ok() && e.ok()) << g.status().to_string() << e.status().to_string();
    auto cpu = testing::try_build_and_run(
        net, {in}, BuilderConfig{"cpu", 0, {Precision::kFP32}, cfg.profiles});
    ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
    EXPECT_TRUE(testing::all_close((*g)[0], testing::to_doubles((*cpu)[0]), 1e-3, 1e-3));
    EXPECT_TRUE(testing::all_close((*e)[0], testing::to_doubles((*g)[0]), 0, 0));
  }
}

TEST(CudaCore, OutOfMemoryIsAnErrorAndEngineStillWorks) {
  KILN_REQUIRE_GPU();
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, 1024});
  auto y = net.add_unary(*net.add_unary(*x, UnaryOp::kExp), UnaryOp::kNeg);
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cuda";
  const int64_t huge = int64_t{1} << 29;  // 2 TiB of activations at max
  cfg.profiles = {OptimizationProfile().set("x", {1, 1024}, {2, 1024}, {huge, 1024})};
  auto plan = Builder::build(net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok());
  auto ctx = (*engine)->create_context();
  ASSERT_TRUE(ctx.ok());
  ASSERT_TRUE((*ctx)->set_input_shape("x", {huge, 1024}).ok());
  auto shape = (*ctx)->tensor_shape("y");  // the shape is fine; memory is not
  ASSERT_TRUE(shape.ok());
  float* dummy = nullptr;
  cudaMalloc(&dummy, 256);
  ASSERT_TRUE((*ctx)->set_tensor_address("x", dummy).ok());
  ASSERT_TRUE((*ctx)->set_tensor_address("y", dummy).ok());
  Status s = (*ctx)->execute();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOutOfMemory) << s.to_string();
  cudaFree(dummy);
  auto in = random_tensor(DataType::kFloat32, {2, 1024});
  auto ok = testing::run_cuda_engine(**engine, {in});
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
}

}  // namespace
}  // namespace kiln
