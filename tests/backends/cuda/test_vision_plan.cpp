// The CUDA plan of mobilenet_v3's blocks without a GPU: the builder passes (channels-last layout
// on), then plan_fusion — how many kernels a block takes and how many memory passes they make over
// full activations ([N, H, W, C] tensors; the squeeze-excitation gate [N, 1, 1, C] is not one).
// Numerics on a GPU: tests/gpu/test_cuda_vision.cpp.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "backends/cuda/cudnn/graph_activation.h"
#include "backends/cuda/fusion.h"
#include "backends/cuda/nvrtc/pointwise_codegen.h"
#include "ir/analysis.h"
#include "ir/op_table.h"
#include "kiln/kiln.h"
#include "passes/pass.h"
#include "test_util.h"

namespace kiln {
namespace {

using testing::add_constant;
using testing::random_tensor;

constexpr DataType kDt = DataType::kFloat16;
constexpr int64_t kN = 4, kCin = 40, kCexp = 120, kCsq = 32, kHw = 14;

Tensor conv(Network& net, Tensor x, int64_t cin, int64_t cout, int64_t k, int64_t groups = 1) {
  auto w = add_constant(net, random_tensor(kDt, {cout, cin / groups, k, k}, -0.2, 0.2));
  auto b = add_constant(net, random_tensor(kDt, {cout}));
  ConvolutionParams p;
  p.pads_begin = {k / 2, k / 2};
  p.pads_end = {k / 2, k / 2};
  p.groups = groups;
  auto y = net.add_convolution(x, w, b, p);
  EXPECT_TRUE(y.ok()) << y.status().to_string();
  return *y;
}

// torchvision's InvertedResidual with use_hs and squeeze-excitation, stride 1 (mobilenet_v3_large
// blocks 12-13 have this form), as the converters emit it (batch norms folded into the convs):
// expand 1x1 + hardswish, depthwise 5x5 + hardswish, SE (adaptive average pool, 1x1 + relu,
// 1x1 + hardsigmoid, gate * x), project 1x1, + residual. Counts below include the stem
// convolution (1 kernel, 2 passes: its input and x).
Network se_block(bool with_se = true) {
  Network net;
  // A stem convolution makes x, as the previous block does in the model (NHWC in the plan).
  auto x = conv(net, *net.add_input("x", kDt, {kN, kCin, kHw, kHw}), kCin, kCin, 3);
  auto e = *net.add_unary(conv(net, x, kCin, kCexp, 1), UnaryOp::kHardSwish);
  auto d = *net.add_unary(conv(net, e, kCexp, kCexp, 5, kCexp), UnaryOp::kHardSwish);
  Tensor s = d;
  if (with_se) {
    auto pooled =
        *net.add_adaptive_pooling(d, AdaptivePoolingParams{PoolingType::kAverage, {1, 1}});
    auto f1 = *net.add_unary(conv(net, pooled, kCexp, kCsq, 1), UnaryOp::kRelu);
    auto gate = *net.add_unary(conv(net, f1, kCsq, kCexp, 1), UnaryOp::kHardSigmoid);
    s = *net.add_elementwise(gate, d, BinaryOp::kMul);
  }
  auto y = *net.add_elementwise(conv(net, s, kCexp, kCin, 1), x, BinaryOp::kAdd);
  EXPECT_TRUE(net.mark_output(y, "y").ok());
  return net;
}

// The graph the CUDA backend plans: the builder's passes for backend "cuda" with fp16 enabled.
ir::Graph cuda_graph(const Network& net) {
  ir::Graph g = net.graph();
  BuilderConfig cfg;
  cfg.enabled_precisions.push_back(Precision::kFP16);
  if (const char* d = std::getenv("VP_IR")) cfg.dump_ir_dir = d;
  passes::PassContext ctx{cfg, default_logger(), "cuda", nullptr, true};
  Status s = passes::run_pipeline(g, ctx);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return g;
}

// A tensor of a full activation: more elements per sample than the widest channel count (a
// linear's [N*H*W, C] view of one counts too).
bool full_activation(const ir::Graph& g, int32_t t) {
  if (g.tensors[static_cast<size_t>(t)].producer >= 0 &&
      g.layers[static_cast<size_t>(g.tensors[static_cast<size_t>(t)].producer)].op ==
          ir::OpKind::kConstant)
    return false;  // weights
  const Dims& d = g.tensors[static_cast<size_t>(t)].type.dims;
  if (d.rank() == 2) return d.volume() > kN * kCexp;
  return d.rank() >= 3 && d.volume() / d[0] > kCexp;
}

struct PlanCount {
  int kernels = 0;
  int full_passes = 0;  ///< full activations read + written, in-place activations counted twice
  int transposes = 0;   ///< inside the network
  int boundary = 0;     ///< transposes of a network input or to a network output (NCHW there)
};

// Kernels and their traffic over full activations. A group reads its external full inputs once
// and writes the full tensors read after it; a dense convolution whose activation the cuDNN graph
// cannot compute runs it afterwards in place (one more read and write).
PlanCount count_plan(const ir::Graph& g) {
  const std::vector<int32_t> device = testing::device_layer_list(g);
  const std::vector<bool> executed = ir::device_layers(g);
  PlanCount c;
  auto at_boundary = [&](const ir::Layer& l) {
    const int32_t in = l.inputs[0];
    return g.tensors[static_cast<size_t>(in)].producer < 0 ||
           g.tensors[static_cast<size_t>(l.outputs[0])].is_output;
  };
  for (const auto& grp : cuda::plan_fusion(g, device, {})) {
    const ir::Layer& first = g.layers[static_cast<size_t>(grp.layers[0])];
    if (grp.layers.size() == 1 && first.op == ir::OpKind::kTranspose) {
      (at_boundary(first) ? c.boundary : c.transposes) += 1;
      if (at_boundary(first)) continue;
    }
    bool views_only = true;
    for (int32_t l : grp.layers)
      views_only &= ir::has_flag(g.layers[static_cast<size_t>(l)].op, ir::kFlagView);
    if (views_only) continue;
    ++c.kernels;
    std::set<int32_t> made, reads;
    for (int32_t l : grp.layers)
      for (int32_t t : g.layers[static_cast<size_t>(l)].outputs) made.insert(t);
    for (int32_t l : grp.layers)
      for (int32_t t : g.layers[static_cast<size_t>(l)].inputs)
        if (t >= 0 && !made.count(t) && full_activation(g, t)) reads.insert(t);
    c.full_passes += static_cast<int>(reads.size());
    const ir::Layer& anchor = g.layers[static_cast<size_t>(grp.layers[0])];
    std::vector<int32_t> writes;
    if (grp.pointwise) {
      writes = cuda::nvrtc::pointwise_group_outputs(g, grp.layers, executed);
    } else {
      writes = {g.layers[static_cast<size_t>(grp.layers.back())].outputs[0]};
    }
    for (int32_t t : writes) c.full_passes += full_activation(g, t);
    cuda::EpilogueSpec spec;
    // Exact GELU after a GEMM runs in place after cuBLASLt below optimization level 4 (fusion.h).
    if (anchor.op == ir::OpKind::kLinear && cuda::decode_epilogue(g, grp.layers, spec) &&
        spec.activation == UnaryOp::kGelu && full_activation(g, spec.output))
      c.full_passes += 2;
    if (anchor.op == ir::OpKind::kConvolution && cuda::decode_epilogue(g, grp.layers, spec) &&
        spec.activation != UnaryOp::kIdentity &&
        std::get<ConvolutionParams>(anchor.params).groups == 1 &&
        cuda::graph_activation_steps(spec.activation).empty() && full_activation(g, spec.output))
      c.full_passes += 2;
  }
  return c;
}

TEST(VisionPlan, HardActivationsRunInTheConvolutionGraph) {
  // cuDNN has no hardswish / hardsigmoid mode: both are composed from pointwise steps; the relu6
  // clip is what makes them hard.
  for (UnaryOp op : {UnaryOp::kHardSwish, UnaryOp::kHardSigmoid}) {
    auto steps = cuda::graph_activation_steps(op);
    ASSERT_FALSE(steps.empty());
    int relu6 = 0;
    for (const auto& s : steps) relu6 += s.step == cuda::GraphActStep::kRelu6;
    EXPECT_EQ(relu6, 1);
    EXPECT_EQ(steps.back().step == cuda::GraphActStep::kMulStart, op == UnaryOp::kHardSwish);
  }
  EXPECT_EQ(cuda::graph_activation_steps(UnaryOp::kRelu).size(), 1u);
  EXPECT_TRUE(cuda::graph_activation_steps(UnaryOp::kErf).empty());
}

TEST(VisionPlan, SqueezeExcitationBlock) {
  Network net = se_block();
  ir::Graph g = cuda_graph(net);
  PlanCount c = count_plan(g);
  // NHWC throughout: the layout pass leaves no transpose of an activation but the network's input
  // and output (NCHW there; in a whole model only the stem's input).
  EXPECT_EQ(c.transposes, 0);
  EXPECT_EQ(c.boundary, 2);
  // Stem; expand(+hardswish), depthwise(+hardswish), pool, fc1(+relu), fc2(+hardsigmoid),
  // gate * x, project(+residual): 1 + 7 kernels (1 + 8 with the hardsigmoid on its own).
  EXPECT_EQ(c.kernels, 1 + 7);
  // x read by expand; expand writes e; depthwise reads e, writes d; pool reads d; the gate
  // multiply reads d, writes s; project reads s and x (residual), writes y: 10 (12 with the
  // hardswish after the expand convolution in a pass of its own).
  EXPECT_EQ(c.full_passes, 2 + 10);
  // The hardsigmoid is the gate convolution's epilogue.
  bool hsig_fused = false;
  for (const auto& grp : cuda::plan_fusion(g, testing::device_layer_list(g), {})) {
    const ir::Layer& last = g.layers[static_cast<size_t>(grp.layers.back())];
    if (grp.layers.size() > 1 && last.op == ir::OpKind::kUnary &&
        std::get<UnaryParams>(last.params).op == UnaryOp::kHardSigmoid)
      hsig_fused = g.layers[static_cast<size_t>(grp.layers[0])].op == ir::OpKind::kConvolution;
  }
  EXPECT_TRUE(hsig_fused);
}

TEST(VisionPlan, BlockWithoutSqueezeExcitation) {
  ir::Graph g = cuda_graph(se_block(false));
  PlanCount c = count_plan(g);
  EXPECT_EQ(c.transposes, 0);
  EXPECT_EQ(c.boundary, 2);
  EXPECT_EQ(c.kernels, 1 + 3);      // stem; expand, depthwise, project
  EXPECT_EQ(c.full_passes, 2 + 7);  // stem; x, e (w + r), d (w + r), x (residual), y
}

// torchvision's CNBlock: depthwise 7x7, permute to NHWC, layer norm over C, linear C -> 4C, GELU,
// linear 4C -> C, permute back, layer scale, + input; after a stem convolution like the plan test
// above. In NHWC the permutes cancel against the layout's transposes: the layer norm runs over
// the channels of the NHWC tensor in place of two transposes.
TEST(VisionPlan, ConvNextBlock) {
  constexpr int64_t c = 32, hw = 14;
  Network net;
  auto x = conv(net, *net.add_input("x", kDt, {kN, c, hw, hw}), c, c, 3);
  auto d = conv(net, x, c, c, 7, c);
  auto t = *net.add_transpose(d, {0, 2, 3, 1});
  LayerNormParams lp;
  lp.epsilon = 1e-6;
  auto ln = *net.add_layer_norm(t, add_constant(net, random_tensor(kDt, {c})),
                                add_constant(net, random_tensor(kDt, {c})), lp);
  auto h = *net.add_unary(*net.add_linear(ln, add_constant(net, random_tensor(kDt, {4 * c, c})),
                                          add_constant(net, random_tensor(kDt, {4 * c}))),
                          UnaryOp::kGelu);
  auto o = *net.add_linear(h, add_constant(net, random_tensor(kDt, {c, 4 * c})),
                           add_constant(net, random_tensor(kDt, {c})));
  auto back = *net.add_transpose(o, {0, 3, 1, 2});
  auto scaled =
      *net.add_elementwise(back, add_constant(net, random_tensor(kDt, {c, 1, 1})), BinaryOp::kMul);
  auto y = *net.add_elementwise(scaled, x, BinaryOp::kAdd);
  ASSERT_TRUE(net.mark_output(y, "y").ok());
  ir::Graph g = cuda_graph(net);
  PlanCount cnt = count_plan(g);
  EXPECT_EQ(cnt.transposes, 0);
  EXPECT_EQ(cnt.boundary, 2);
  EXPECT_EQ(testing::count_ops(g, ir::OpKind::kLayerNorm), 1);
  // Stem; depthwise, layer norm, linear (+GELU), linear (+layer scale folded, +residual).
  EXPECT_EQ(cnt.kernels, 1 + 4);
  // Stem 2; depthwise 2, layer norm 2, linear + GELU 2 (+2 for the GELU in place), linear 3.
  EXPECT_EQ(cnt.full_passes, 2 + 11);
}

}  // namespace
}  // namespace kiln
