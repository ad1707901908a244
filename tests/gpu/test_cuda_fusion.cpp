// Epilogue fusion on CUDA: conv(+add)(+relu) and linear/matmul(+add)(+relu|gelu_tanh) run as one kernel
// and match the CPU reference (which runs every layer separately).
#include "gpu_test_util.h"

namespace kiln {
namespace {

using testing::expect_cuda_matches_cpu;
using testing::random_tensor;

std::string describe_cuda(const Network& net) {
  BuilderConfig cfg;
  cfg.backend = "cuda";
  auto plan = Builder::build(net, cfg);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  if (!plan.ok()) return {};
  auto e = Runtime::load(plan->bytes);
  EXPECT_TRUE(e.ok());
  return e.ok() ? (*e)->describe() : std::string();
}

TEST(CudaFusion, ConvAddReluVariants) {
  KILN_REQUIRE_GPU();
  for (DataType dt : testing::kFloatTypes) {
    for (int variant = 0; variant < 4; ++variant) {  // relu | add | add+relu | no-bias add+relu
      SCOPED_TRACE(std::string(dtype_name(dt)) + " variant " + std::to_string(variant));
      Network net;
      auto x = net.add_input("x", dt, {2, 8, 12, 12});
      auto r = net.add_input("r", dt, {2, 16, 12, 12});
      auto w = testing::add_constant(net, random_tensor(dt, {16, 8, 3, 3}, -0.3, 0.3));
      Tensor b = variant == 3 ? Tensor{} : testing::add_constant(net, random_tensor(dt, {16}));
      ConvolutionParams p;
      p.pads_begin = {1, 1};
      auto c = net.add_convolution(*x, w, b, p);
      Expected<Tensor> y = c;
      if (variant >= 1) y = net.add_elementwise(*r, *y, BinaryOp::kAdd);
      if (variant != 1) y = net.add_unary(*y, UnaryOp::kRelu);
      ASSERT_TRUE(net.mark_output(*y, "y").ok());
      expect_cuda_matches_cpu(net, {random_tensor(dt, {2, 8, 12, 12}), random_tensor(dt, {2, 16, 12, 12})});
      std::string d = describe_cuda(net);
      EXPECT_NE(d.find(variant == 1 ? "cudnn_conv#" : "+relu"), std::string::npos) << d;
      if (variant >= 1) EXPECT_NE(d.find("+add"), std::string::npos) << d;
    }
  }
}

TEST(CudaFusion, LinearAndMatmulEpilogues) {
  KILN_REQUIRE_GPU();
  for (DataType dt : testing::kFloatTypes) {
    for (int variant = 0; variant < 4; ++variant) {  // add | add+relu | gelu_tanh | matmul+add
      SCOPED_TRACE(std::string(dtype_name(dt)) + " variant " + std::to_string(variant));
      Network net;
      auto x = net.add_input("x", dt, {-1, 24, 64});
      auto res = net.add_input("res", dt, {-1, 24, 48});
      Expected<Tensor> y = Tensor{};
      if (variant < 3) {
        auto w = testing::add_constant(net, random_tensor(dt, {48, 64}, -0.2, 0.2));
        auto b = testing::add_constant(net, random_tensor(dt, {48}));
        y = net.add_linear(*x, w, b);
      } else {
        auto w = testing::add_constant(net, random_tensor(dt, {64, 48}, -0.2, 0.2));
        y = net.add_matmul(*x, w);
      }
      if (variant != 2) y = net.add_elementwise(*y, *res, BinaryOp::kAdd);
      if (variant == 1) y = net.add_unary(*y, UnaryOp::kRelu);
      if (variant == 2) y = net.add_unary(*y, UnaryOp::kGeluTanh);
      ASSERT_TRUE(net.mark_output(*y, "y").ok());
      BuilderConfig cfg;
      cfg.profiles = {OptimizationProfile().set("x", {1, 24, 64}, {2, 24, 64}, {4, 24, 64}).set("res", {1, 24, 48}, {2, 24, 48}, {4, 24, 48})};
      for (int64_t n : {2, 3}) expect_cuda_matches_cpu(net, {random_tensor(dt, {n, 24, 64}), random_tensor(dt, {n, 24, 48})}, cfg);
    }
  }
}

TEST(CudaFusion, IntermediateUsedElsewhereIsNotFused) {
  KILN_REQUIRE_GPU();
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {1, 4, 8, 8});
  auto w = testing::add_constant(net, random_tensor(DataType::kFloat32, {4, 4, 3, 3}, -0.3, 0.3));
  ConvolutionParams p;
  p.pads_begin = {1, 1};
  auto c = net.add_convolution(*x, w, Tensor{}, p);
  auto r = net.add_unary(*c, UnaryOp::kRelu);
  auto s = net.add_elementwise(*c, *r, BinaryOp::kMul);  // the conv output is read twice
  ASSERT_TRUE(net.mark_output(*s, "y").ok());
  expect_cuda_matches_cpu(net, {random_tensor(DataType::kFloat32, {1, 4, 8, 8})});
  EXPECT_EQ(describe_cuda(net).find("+relu"), std::string::npos);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// With a 2-D convolution present the CUDA build runs the channels-last layout pass: convolutions,
// pooling and adaptive pooling then use their NHWC kernels.
TEST(CudaChannelsLast, ConvPoolingChainsMatchTheReference) {
  KILN_REQUIRE_GPU();
  for (DataType dt : testing::kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    Network net;
    auto x = net.add_input("x", dt, {-1, 6, 19, 17});
    auto w = testing::add_constant(net, testing::random_tensor(dt, {8, 3, 3, 3}, -0.3, 0.3));
    ConvolutionParams cp;
    cp.pads_begin = {1, 1};
    cp.groups = 2;
    auto c = net.add_unary(*net.add_convolution(*x, w, Tensor{}, cp), UnaryOp::kRelu);
    PoolingParams mp;
    mp.kernel = {3, 3};
    mp.strides = {2, 2};
    mp.pads_begin = {1, 1};
    mp.ceil_mode = true;
    auto m = net.add_pooling(*c, mp);
    PoolingParams ap;
    ap.type = PoolingType::kAverage;
    ap.kernel = {2, 3};
    ap.strides = {1, 2};
    ap.pads_begin = {1, 1};
    ap.count_include_pad = false;
    auto a = net.add_pooling(*m, ap);
    auto g = net.add_adaptive_pooling(*a, AdaptivePoolingParams{PoolingType::kAverage, {3, 2}});
    auto h = net.add_adaptive_pooling(*m, AdaptivePoolingParams{PoolingType::kMax, {4, 3}});
    ASSERT_TRUE(g.ok() && h.ok()) << g.status().to_string() << h.status().to_string();
    ASSERT_TRUE(net.mark_output(*g, "g").ok());
    ASSERT_TRUE(net.mark_output(*h, "h").ok());
    BuilderConfig cfg;
    cfg.profiles = {OptimizationProfile().set("x", {1, 6, 19, 17}, {2, 6, 19, 17}, {3, 6, 19, 17})};
    testing::expect_cuda_matches_cpu(net, {testing::random_tensor(dt, {3, 6, 19, 17})}, cfg);
    testing::expect_cuda_matches_cpu(net, {testing::random_tensor(dt, {1, 6, 19, 17})}, cfg);
  }
}

}  // namespace
}  // namespace kiln
