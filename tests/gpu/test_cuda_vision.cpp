// mobilenet_v3's convolutions on CUDA against the CPU reference: hardswish / hardsigmoid composed
// in the cuDNN graph's epilogue (cudnn/graph_activation.h) and run after it, and a whole
// squeeze-excitation block (plan structure: tests/backends/cuda/test_vision_plan.cpp).
#include "gpu_test_util.h"

namespace kiln {
namespace {

using testing::expect_cuda_matches_cpu;
using testing::random_tensor;

// Dense convolutions (1x1 and a strided 3x3; even and odd channel counts) with bias, an optional
// residual and a hard activation, channels-last, dynamic batch; each cuDNN graph variant.
TEST(CudaVision, HardActivationsInConvolutionGraphs) {
  KILN_REQUIRE_GPU();
  struct Case {
    int64_t cin, cout, k, stride;
    bool residual;
  };
  const Case cases[] = {
      {24, 40, 1, 1, false}, {16, 24, 3, 2, false}, {24, 24, 1, 1, true}, {13, 21, 3, 1, false}};
  for (const char* impl : {"graph:fused", "graph:act_after", ""}) {
    for (UnaryOp act : {UnaryOp::kHardSwish, UnaryOp::kHardSigmoid}) {
      for (DataType dt : testing::kFloatTypes) {
        for (const auto& c : cases) {
          SCOPED_TRACE(std::string(impl) + " " + std::string(dtype_name(dt)) + " act " +
                       std::to_string(static_cast<int>(act)) + " " + std::to_string(c.cin) + "->" +
                       std::to_string(c.cout) + " k" + std::to_string(c.k));
          const int64_t h = 11, oh = (h + 2 * (c.k / 2) - c.k) / c.stride + 1;
          Network net;
          auto x = net.add_input("x", dt, {-1, c.cin, h, h});
          auto w =
              testing::add_constant(net, random_tensor(dt, {c.cout, c.cin, c.k, c.k}, -0.3, 0.3));
          auto b = testing::add_constant(net, random_tensor(dt, {c.cout}, -2.0, 2.0));
          ConvolutionParams p;
          p.strides = {c.stride, c.stride};
          p.pads_begin = {c.k / 2, c.k / 2};
          p.pads_end = {c.k / 2, c.k / 2};
          Expected<Tensor> y = net.add_convolution(*x, w, b, p);
          ASSERT_TRUE(y.ok()) << y.status().to_string();
          OptimizationProfile prof;
          prof.set("x", {1, c.cin, h, h}, {4, c.cin, h, h}, {5, c.cin, h, h});
          if (c.residual) {
            auto r = net.add_input("r", dt, {-1, c.cout, oh, oh});
            y = net.add_elementwise(*y, *r, BinaryOp::kAdd);
            prof.set("r", {1, c.cout, oh, oh}, {4, c.cout, oh, oh}, {5, c.cout, oh, oh});
          }
          y = net.add_unary(*y, act);
          ASSERT_TRUE(net.mark_output(*y, "y").ok());
          BuilderConfig cfg;
          cfg.profiles = {prof};
          cfg.switches.layout = LayoutChoice::kNHWC;
          cfg.switches.conv_impl = impl;
          for (int64_t n : {4, 3, 5}) {
            // Values around the hard activations' corners (-3, 3) on both sides.
            std::vector<HostTensor> inputs{random_tensor(dt, {n, c.cin, h, h}, -2.0, 2.0)};
            if (c.residual) inputs.push_back(random_tensor(dt, {n, c.cout, oh, oh}, -3.0, 3.0));
            expect_cuda_matches_cpu(net, inputs, cfg);
          }
          std::string d = testing::describe_on_cuda(net, cfg);
          EXPECT_NE(d.find(act == UnaryOp::kHardSwish ? "+hardswish" : "+hardsigmoid"),
                    std::string::npos)
              << d;
          // Half precision with 8-aligned channels runs as a cuDNN graph; graph:act_after keeps the
          // activation out of it, graph:fused in it. The build times the graph without the
          // activation only where cuDNN has an engine for the composed one, so "/act_after" also
          // says that cuDNN took the composed hardswish / hardsigmoid.
          if (dt != DataType::kFloat32 && c.cin % 8 == 0 && c.cout % 8 == 0) {
            EXPECT_NE(d.find("cudnn_graph#"), std::string::npos) << d;
            if (std::string(impl) == "graph:act_after") {
              EXPECT_NE(d.find("/act_after"), std::string::npos) << d;
            }
            if (std::string(impl) == "graph:fused") {
              EXPECT_EQ(d.find("/act_after"), std::string::npos) << d;
            }
          }
        }
      }
    }
  }
}

// torchvision's InvertedResidual with squeeze-excitation (the plan test's block), dynamic batch.
TEST(CudaVision, SqueezeExcitationBlock) {
  KILN_REQUIRE_GPU();
  for (DataType dt : testing::kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    const int64_t cin = 40, cexp = 120, csq = 32, hw = 13;
    Network net;
    auto conv = [&](Tensor x, int64_t ci, int64_t co, int64_t k, int64_t groups) {
      auto w = testing::add_constant(net, random_tensor(dt, {co, ci / groups, k, k}, -0.2, 0.2));
      auto b = testing::add_constant(net, random_tensor(dt, {co}));
      ConvolutionParams p;
      p.pads_begin = {k / 2, k / 2};
      p.pads_end = {k / 2, k / 2};
      p.groups = groups;
      return *net.add_convolution(x, w, b, p);
    };
    auto x = conv(*net.add_input("x", dt, {-1, cin, hw, hw}), cin, cin, 3, 1);
    auto e = *net.add_unary(conv(x, cin, cexp, 1, 1), UnaryOp::kHardSwish);
    auto d = *net.add_unary(conv(e, cexp, cexp, 5, cexp), UnaryOp::kHardSwish);
    auto pooled =
        *net.add_adaptive_pooling(d, AdaptivePoolingParams{PoolingType::kAverage, {1, 1}});
    auto f1 = *net.add_unary(conv(pooled, cexp, csq, 1, 1), UnaryOp::kRelu);
    auto gate = *net.add_unary(conv(f1, csq, cexp, 1, 1), UnaryOp::kHardSigmoid);
    auto s = *net.add_elementwise(gate, d, BinaryOp::kMul);
    auto y = *net.add_elementwise(conv(s, cexp, cin, 1, 1), x, BinaryOp::kAdd);
    ASSERT_TRUE(net.mark_output(y, "y").ok());
    BuilderConfig cfg;
    cfg.profiles = {
        OptimizationProfile().set("x", {1, cin, hw, hw}, {8, cin, hw, hw}, {9, cin, hw, hw})};
    for (int64_t n : {8, 1, 9})
      expect_cuda_matches_cpu(net, {random_tensor(dt, {n, cin, hw, hw})}, cfg);
    if (dt != DataType::kFloat32) {
      std::string desc = testing::describe_on_cuda(net, cfg);
      EXPECT_NE(desc.find("+hardsigmoid"), std::string::npos) << desc;
    }
  }
}

// Kiln's shared-memory tiled depthwise kernel (tile 16: stride 1, 3x3 / 5x5 / 7x7) with bias,
// residual and activations fused: tiles cut at every edge (odd and non-square maps, a map
// narrower than a tile), 4 and 8 channel vectors a block, channel counts it cannot take (another
// kernel then), dynamic batch.
TEST(CudaVision, DepthwiseSharedMemoryTiles) {
  KILN_REQUIRE_GPU();
  struct Case {
    int64_t c, k, h, w;
    bool bias, residual;
    UnaryOp act;
  };
  const Case cases[] = {
      {96, 7, 14, 14, true, true, UnaryOp::kIdentity},   // convnext stage 3 (12 vectors: 4 a block)
      {64, 7, 9, 17, true, false, UnaryOp::kGelu},       // 8 vectors a block, non-square
      {16, 7, 30, 5, false, false, UnaryOp::kIdentity},  // map narrower than the tile
      {24, 3, 13, 13, true, true, UnaryOp::kHardSwish}, {40, 5, 7, 7, true, false, UnaryOp::kRelu},
      {12, 7, 10, 10, true, false, UnaryOp::kIdentity},  // C % 8 != 0: not this kernel
  };
  for (DataType dt : testing::kFloatTypes) {
    for (const auto& c : cases) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " c" + std::to_string(c.c) + " k" +
                   std::to_string(c.k) + " " + std::to_string(c.h) + "x" + std::to_string(c.w));
      Network net;
      auto x = net.add_input("x", dt, {-1, c.c, c.h, c.w});
      auto w = testing::add_constant(net, random_tensor(dt, {c.c, 1, c.k, c.k}, -0.3, 0.3));
      Tensor b = c.bias ? testing::add_constant(net, random_tensor(dt, {c.c})) : Tensor{};
      ConvolutionParams p;
      p.pads_begin = {c.k / 2, c.k / 2};
      p.pads_end = {c.k / 2, c.k / 2};
      p.groups = c.c;
      Expected<Tensor> y = net.add_convolution(*x, w, b, p);
      ASSERT_TRUE(y.ok()) << y.status().to_string();
      OptimizationProfile prof;
      prof.set("x", {1, c.c, c.h, c.w}, {2, c.c, c.h, c.w}, {3, c.c, c.h, c.w});
      if (c.residual) {
        auto r = net.add_input("r", dt, {-1, c.c, c.h, c.w});
        y = net.add_elementwise(*y, *r, BinaryOp::kAdd);
        prof.set("r", {1, c.c, c.h, c.w}, {2, c.c, c.h, c.w}, {3, c.c, c.h, c.w});
      }
      if (c.act != UnaryOp::kIdentity) y = net.add_unary(*y, c.act);
      ASSERT_TRUE(net.mark_output(*y, "y").ok());
      BuilderConfig cfg;
      cfg.profiles = {prof};
      cfg.switches.layout = LayoutChoice::kNHWC;
      cfg.switches.conv_impl = "depthwise:16";
      for (int64_t n : {2, 3, 1}) {
        std::vector<HostTensor> inputs{random_tensor(dt, {n, c.c, c.h, c.w})};
        if (c.residual) inputs.push_back(random_tensor(dt, {n, c.c, c.h, c.w}));
        expect_cuda_matches_cpu(net, inputs, cfg);
      }
      if (dt != DataType::kFloat32 && c.c % 8 == 0) {
        std::string d = testing::describe_on_cuda(net, cfg);
        EXPECT_NE(d.find("depthwise_nhwc_tile16"), std::string::npos) << d;
      }
    }
  }
}

}  // namespace
}  // namespace kiln
