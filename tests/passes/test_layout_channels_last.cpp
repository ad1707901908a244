// The channels-last layout pass (run here on the CPU reference via KILN_FORCE_CHANNELS_LAST):
// results are unchanged, and transposes cancel between consecutive convolution blocks.
#include <cstdlib>

#include "passes/pass.h"
#include "serialization/plan_contents.h"
#include "test_util.h"

namespace kiln {
namespace {

// A small residual CNN: conv-relu-conv + skip, relu, max pool, per-channel scale, SE-style gate,
// adaptive average pool, flatten, linear.
Network residual_cnn() {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, 3, 16, 16});
  ConvolutionParams p;
  p.pads_begin = {1, 1};
  auto conv = [&](Tensor in, int64_t cin, int64_t cout) {
    auto w = testing::add_constant(
        net, testing::random_tensor(DataType::kFloat32, {cout, cin, 3, 3}, -0.3, 0.3));
    auto b = testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {cout}));
    return *net.add_convolution(in, w, b, p);
  };
  auto c1 = *net.add_unary(conv(*x, 3, 8), UnaryOp::kRelu);
  auto c2 = *net.add_unary(conv(c1, 8, 8), UnaryOp::kRelu);
  auto c3 = conv(c2, 8, 8);
  auto res = *net.add_unary(*net.add_elementwise(c3, c1, BinaryOp::kAdd), UnaryOp::kRelu);
  PoolingParams pp;
  pp.kernel = {2, 2};
  pp.strides = {2, 2};
  auto pooled = *net.add_pooling(res, pp);
  auto scale =
      testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {8, 1, 1}, 0.5, 1.5));
  auto scaled = *net.add_elementwise(pooled, scale, BinaryOp::kMul);
  auto gate = *net.add_unary(
      *net.add_adaptive_pooling(scaled, AdaptivePoolingParams{PoolingType::kAverage, {1, 1}}),
      UnaryOp::kSigmoid);
  auto gated = *net.add_elementwise(scaled, gate, BinaryOp::kMul);
  auto feat = *net.add_flatten(
      *net.add_adaptive_pooling(gated, AdaptivePoolingParams{PoolingType::kAverage, {1, 1}}), 1);
  auto w = testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {5, 8}));
  EXPECT_TRUE(net.mark_output(*net.add_linear(feat, w, Tensor{}), "logits").ok());
  EXPECT_TRUE(net.mark_output(res, "features").ok());
  return net;
}

TEST(LayoutChannelsLast, AutoRuleFollowsPrecisionBatchAndGroups) {
  // Float32 dense convolutions: NHWC from opt batch 16 (static batch or the profile's opt), NCHW
  // below.
  Network net = residual_cnn();
  auto cfg_at = [](int64_t opt, bool fp16 = false) {
    BuilderConfig cfg;
    cfg.profiles = {
        OptimizationProfile().set("x", {1, 3, 16, 16}, {opt, 3, 16, 16}, {64, 3, 16, 16})};
    if (fp16) cfg.enabled_precisions.push_back(Precision::kFP16);
    return cfg;
  };
  std::string why;
  EXPECT_FALSE(passes::channels_last_profitable(net.graph(), cfg_at(1), &why)) << why;
  EXPECT_NE(why.find("opt batch 1"), std::string::npos) << why;
  EXPECT_FALSE(passes::channels_last_profitable(net.graph(), cfg_at(15), &why)) << why;
  EXPECT_TRUE(passes::channels_last_profitable(net.graph(), cfg_at(16), &why)) << why;
  EXPECT_TRUE(passes::channels_last_profitable(net.graph(), cfg_at(64), &why)) << why;
  // With fp16 enabled: NHWC at any batch.
  EXPECT_TRUE(passes::channels_last_profitable(net.graph(), cfg_at(1, true), &why)) << why;
  EXPECT_NE(why.find("half-precision"), std::string::npos) << why;

  // Half-precision convolutions (the network's own dtype): NHWC, also with depthwise convolutions.
  Network dw;
  auto y = dw.add_input("x", DataType::kFloat16, {2, 8, 8, 8});
  ConvolutionParams dp;
  dp.groups = 8;
  auto dwt = testing::add_constant(dw, testing::random_tensor(DataType::kFloat16, {8, 1, 3, 3}));
  ASSERT_TRUE(dw.mark_output(*dw.add_convolution(*y, dwt, Tensor{}, dp), "y").ok());
  EXPECT_TRUE(passes::channels_last_profitable(dw.graph(), BuilderConfig{}, &why)) << why;

  // A float32 depthwise convolution anywhere keeps the whole network NCHW, at any batch.
  Network dw32;
  auto z = dw32.add_input("x", DataType::kFloat32, {64, 8, 8, 8});
  auto dwt32 =
      testing::add_constant(dw32, testing::random_tensor(DataType::kFloat32, {8, 1, 3, 3}));
  ASSERT_TRUE(dw32.mark_output(*dw32.add_convolution(*z, dwt32, Tensor{}, dp), "y").ok());
  EXPECT_FALSE(passes::channels_last_profitable(dw32.graph(), BuilderConfig{}, &why)) << why;
  EXPECT_NE(why.find("grouped"), std::string::npos) << why;
}

TEST(LayoutChannelsLast, SameResultsAndTransposesCancel) {
  Network net = residual_cnn();
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.profiles = {OptimizationProfile().set("x", {1, 3, 16, 16}, {2, 3, 16, 16}, {4, 3, 16, 16})};
  auto x = testing::random_tensor(DataType::kFloat32, {3, 3, 16, 16});
  auto plain = testing::build_and_run(net, {x}, cfg);
  cfg.switches.layout = LayoutChoice::kNHWC;
  cfg.switches.layout_any_backend = true;  // the CPU reference checks the rewrite
  auto plan = Builder::build(net, cfg);
  auto nhwc = testing::build_and_run(net, {x}, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  ASSERT_EQ(plain.size(), 2u);
  ASSERT_EQ(nhwc.size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_TRUE(testing::all_close(nhwc[i], testing::to_doubles(plain[i]), 1e-5, 1e-5));
  auto contents = serial::read_plan(plan->bytes);
  ASSERT_TRUE(contents.ok());
  EXPECT_TRUE(contents->channels_last_applied);  // the plan says why it differs from the plain one
  EXPECT_EQ(contents->switches.layout, LayoutChoice::kNHWC);
  int transposes = 0, cl_convs = 0;
  for (const auto& l : contents->graph.layers) {
    if (l.op == ir::OpKind::kTranspose) ++transposes;
    if (l.op == ir::OpKind::kConvolution && std::get<ConvolutionParams>(l.params).channels_last)
      ++cl_convs;
  }
  EXPECT_EQ(cl_convs, 3);
  // One transpose into NHWC at the input and one back for the "features" output; everything else
  // cancelled (the gate, scale, residual and pooling all stay NHWC; [N,1,1,C] -> [N,C,1,1] is a
  // view).
  EXPECT_EQ(transposes, 2);
}

}  // namespace
}  // namespace kiln
