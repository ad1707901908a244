// What the CUDA backend's pass pipeline makes of a quantized CNN, without a GPU: quantized
// convolutions run channels-last (the layout the cuDNN int8 graphs and the IMMA GEMM path read),
// each reads the previous one's int8 NHWC output directly (no transpose, quantize or dequantize
// between them), and the cuDNN int8 tactic's preconditions hold for them. Numerics on a GPU:
// tests/gpu/test_cuda_quantized.cpp.
#include <gtest/gtest.h>

#include "backends/cuda/cudnn/quantized_conv_rules.h"
#include "backends/quantized_nets.h"
#include "common/unverified.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using ir::OpKind;

// Quantized convolutions take the NHWC form only when asked for (layout = nhwc) until their NHWC
// kernels have run on a GPU (kQuantizedNhwcEnabled in the layout pass): these tests ask, unless
// they set a layout themselves.
ir::Graph cuda_pipeline(const Network& net, BuilderConfig cfg) {
  cfg.backend = "cuda";
  if (cfg.switches.layout == LayoutChoice::kAuto) cfg.switches.layout = LayoutChoice::kNHWC;
  ir::Graph g = net.graph();
  passes::PassContext ctx{cfg, default_logger(), "cuda"};
  Status s = passes::run_pipeline(g, ctx);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return g;
}

TEST(QuantizedPlan, CudaConvChainStaysInt8Nhwc) {
  SCOPED_TRACE("seed " + std::to_string(testing::rng_seed()));
  Network net = testing::qconv_chain_net(4, 16, 14, 3);
  BuilderConfig cfg = testing::int8_config();
  cfg.enabled_precisions.push_back(Precision::kFP16);
  const ir::Graph g = cuda_pipeline(net, cfg);
  std::vector<const ir::Layer*> convs;
  for (const auto& l : g.layers)
    if (l.op == OpKind::kQuantizedConvolution) convs.push_back(&l);
  ASSERT_EQ(convs.size(), 3u);
  for (size_t i = 0; i < convs.size(); ++i) {
    EXPECT_TRUE(std::get<QuantizedConvolutionParams>(convs[i]->params).channels_last);
    EXPECT_EQ(cuda::quantized_cudnn_refusal(g, *convs[i]), "") << "conv " << i;
    // The weight: a folded constant in KRSC order.
    const auto& w = g.tensors[static_cast<size_t>(convs[i]->inputs[1])];
    ASSERT_GE(w.producer, 0);
    EXPECT_EQ(g.layers[static_cast<size_t>(w.producer)].op, OpKind::kConstant);
    EXPECT_EQ(w.type.dims, (Dims{16, 3, 3, 16}));
    if (i == 0) continue;
    const int32_t p = g.tensors[static_cast<size_t>(convs[i]->inputs[0])].producer;
    ASSERT_GE(p, 0);
    EXPECT_EQ(&g.layers[static_cast<size_t>(p)], convs[i - 1])
        << "conv " << i << " reads " << ir::op_name(g.layers[static_cast<size_t>(p)].op);
  }
  EXPECT_EQ(testing::count_ops(g, OpKind::kQuantize), 1);    // the network input's
  EXPECT_EQ(testing::count_ops(g, OpKind::kDequantize), 1);  // the residual's
}

TEST(QuantizedPlan, NchwSwitchKeepsQuantizedConvsChannelsFirst) {
  Network net = testing::qconv_chain_net(2, 8, 6, 2);
  BuilderConfig cfg = testing::int8_config();
  cfg.switches.layout = LayoutChoice::kNCHW;
  const ir::Graph g = cuda_pipeline(net, cfg);
  int n = 0;
  for (const auto& l : g.layers) {
    if (l.op != OpKind::kQuantizedConvolution) continue;
    ++n;
    EXPECT_FALSE(std::get<QuantizedConvolutionParams>(l.params).channels_last);
    EXPECT_NE(cuda::quantized_cudnn_refusal(g, l), "");  // cuDNN's int8 engines need NHWC
  }
  EXPECT_EQ(n, 2);
  EXPECT_EQ(testing::count_ops(g, OpKind::kTranspose), 0);
}

// The auto layout keeps quantized convolutions channels-first while their NHWC kernels have not
// run on a GPU (kQuantizedNhwcEnabled): the CUDA plan of an int8 CNN is the NCHW one.
TEST(QuantizedPlan, AutoLayoutKeepsQuantizedConvsChannelsFirstUntilVerified) {
  if (kUnverifiedKernelsOn) GTEST_SKIP() << "built with kUnverifiedKernelsOn (common/unverified.h)";
  Network net = testing::qconv_chain_net(2, 8, 6, 2);
  BuilderConfig cfg = testing::int8_config();
  cfg.backend = "cuda";
  ir::Graph g = net.graph();
  passes::PassContext ctx{cfg, default_logger(), "cuda"};
  Status s = passes::run_pipeline(g, ctx);
  ASSERT_TRUE(s.ok()) << s.to_string();
  int n = 0;
  for (const auto& l : g.layers) {
    if (l.op != OpKind::kQuantizedConvolution) continue;
    ++n;
    EXPECT_FALSE(std::get<QuantizedConvolutionParams>(l.params).channels_last);
  }
  EXPECT_EQ(n, 2);
}

// A transformer MLP block as kiln.ptq quantizes it (Q/DQ on every linear's input, int8 weights
// per output channel): x -> Q/DQ -> linear -> gelu -> Q/DQ -> linear + x -> layer norm -> Q/DQ ->
// linear. On CUDA: the first linear's gelu and quantize join it (int8 straight into the second),
// the second absorbs the residual, and only the quantizes of float tensors (the input, the layer
// norm's output) remain as layers.
TEST(QuantizedPlan, CudaMlpBlockQuantizesOnlyWhatNormsAndInputsNeed) {
  const int64_t d = 64, ff = 256;
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {2, 16, d});
  auto scalar = [&](double v) {
    return testing::add_constant(net, testing::make_tensor(DataType::kFloat32, {}, {v}));
  };
  auto qdq = [&](Tensor t, double s) {
    Tensor st = scalar(s);
    return *net.add_dequantize(*net.add_quantize(t, st, {}, QuantizeParams{}), st, {},
                               DequantizeParams{});
  };
  auto linear = [&](Tensor in, int64_t k, int64_t n) {
    DequantizeParams wp;
    wp.axis = 0;
    auto w = testing::add_constant(net, testing::random_tensor(DataType::kInt8, {n, k}, -127, 128));
    auto ws =
        testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {n}, 0.001, 0.01));
    auto b = testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {n}));
    return *net.add_linear(in, *net.add_dequantize(w, ws, {}, wp), b);
  };
  Tensor h = *net.add_unary(linear(qdq(*x, 0.02), d, ff), UnaryOp::kGelu);
  Tensor y = *net.add_elementwise(linear(qdq(h, 0.01), ff, d), *x, BinaryOp::kAdd);
  auto gamma = testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {d}));
  auto beta = testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {d}));
  LayerNormParams lp;
  Tensor n = *net.add_layer_norm(y, gamma, beta, lp);
  ASSERT_TRUE(net.mark_output(linear(qdq(n, 0.05), d, d), "out").ok());

  BuilderConfig cfg = testing::int8_config();
  cfg.enabled_precisions.push_back(Precision::kFP16);
  const ir::Graph g = cuda_pipeline(net, cfg);
  std::vector<const ir::Layer*> lin;
  for (const auto& l : g.layers)
    if (l.op == OpKind::kQuantizedLinear) lin.push_back(&l);
  ASSERT_EQ(lin.size(), 3u);
  const int32_t p = g.tensors[static_cast<size_t>(lin[1]->inputs[0])].producer;
  ASSERT_GE(p, 0);
  EXPECT_EQ(&g.layers[static_cast<size_t>(p)], lin[0]);  // int8 from GEMM to GEMM
  EXPECT_EQ(g.tensors[static_cast<size_t>(lin[0]->outputs[0])].type.dtype, DataType::kInt8);
  EXPECT_TRUE(lin[1]->inputs.size() > 5 && lin[1]->inputs[5] >= 0);  // the residual, fused
  EXPECT_EQ(testing::count_ops(g, OpKind::kQuantize), 2);
  EXPECT_EQ(testing::count_ops(g, OpKind::kDequantize), 0);
  EXPECT_EQ(testing::count_ops(g, OpKind::kUnary), 0);
}

}  // namespace
}  // namespace kiln
