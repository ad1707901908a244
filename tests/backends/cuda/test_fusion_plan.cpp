// Epilogue fusion planning without a GPU (fusion.h): which layers join a GEMM's group. Numerics on
// a GPU: tests/gpu/test_cuda_fusion.cpp.
#include <gtest/gtest.h>

#include "backends/cuda/fusion.h"
#include "ir/analysis.h"
#include "kiln/kiln.h"
#include "test_util.h"

namespace kiln {
namespace {

// linear [B*L, N] -> reshape [B, L, N] -> + residual -> relu, as GPT-2's Conv1D blocks are.
struct GemmViewAdd {
  Network net;
  Tensor y, v, z, r;
};

void build(GemmViewAdd& m, bool view_read_elsewhere) {
  const DataType dt = DataType::kFloat16;
  auto x = m.net.add_input("x", dt, {32, 64});
  auto res = m.net.add_input("res", dt, {2, 16, 48});
  auto w = testing::add_constant(m.net, testing::random_tensor(dt, {48, 64}));
  auto b = testing::add_constant(m.net, testing::random_tensor(dt, {48}));
  m.y = *m.net.add_linear(*x, w, b);
  m.v = *m.net.add_reshape(m.y, {2, 16, 48});
  m.z = *m.net.add_elementwise(m.v, *res, BinaryOp::kAdd);
  m.r = *m.net.add_unary(m.z, UnaryOp::kRelu);
  ASSERT_TRUE(m.net.mark_output(m.r, "out").ok());
  if (view_read_elsewhere) ASSERT_TRUE(m.net.mark_output(m.v, "view").ok());
}

TEST(FusionPlan, ResidualAddAfterAViewJoinsTheGemm) {
  GemmViewAdd m;
  build(m, false);
  const ir::Graph& g = m.net.graph();
  auto groups = cuda::plan_fusion(g, testing::device_layer_list(g), {});
  const cuda::FusedGroup* gemm = nullptr;
  for (const auto& grp : groups)
    if (grp.layers[0] == testing::producer_of(g, m.y)) gemm = &grp;
  ASSERT_NE(gemm, nullptr);
  EXPECT_EQ(gemm->layers,
            (std::vector<int32_t>{testing::producer_of(g, m.y), testing::producer_of(g, m.v),
                                  testing::producer_of(g, m.z), testing::producer_of(g, m.r)}));
  cuda::EpilogueSpec spec;
  ASSERT_TRUE(cuda::decode_epilogue(g, gemm->layers, spec));
  EXPECT_EQ(spec.residual, g.layers[static_cast<size_t>(testing::producer_of(g, m.z))].inputs[1]);
  EXPECT_EQ(spec.activation, UnaryOp::kRelu);
  EXPECT_EQ(spec.output, m.r.id());
}

TEST(FusionPlan, ViewReadElsewhereKeepsTheAddApart) {
  GemmViewAdd m;
  build(m, true);
  const ir::Graph& g = m.net.graph();
  for (const auto& grp : cuda::plan_fusion(g, testing::device_layer_list(g), {})) {
    if (grp.layers[0] != testing::producer_of(g, m.y)) continue;
    EXPECT_EQ(grp.layers.size(), 1u);  // the view's tensor is an output: no epilogue through it
  }
  // A view alone after a GEMM (no add behind it) is no epilogue either.
  cuda::EpilogueSpec spec;
  EXPECT_FALSE(
      cuda::decode_epilogue(g, {testing::producer_of(g, m.y), testing::producer_of(g, m.v)}, spec));
}

}  // namespace
}  // namespace kiln
