// shape_gemm_epilogues: GPT-2's Conv1D spelling (matmul with a [K, N] weight, bias add, view, gelu)
// becomes linear -> gelu_tanh -> reshape, with results equal to a double-precision reference.
#include <cmath>
#include <numbers>

#include "test_util.h"

namespace kiln {
namespace {

TEST(GemmEpilogues, Conv1DBecomesLinearWithActivationNextToIt) {
  const int64_t b = 2, s = 3, k = 8, n = 12;
  auto x = testing::random_tensor(DataType::kFloat32, {b, s, k}, -1, 1);
  auto w = testing::random_tensor(DataType::kFloat32, {k, n}, -0.5, 0.5);
  auto bias = testing::random_tensor(DataType::kFloat32, {n}, -0.5, 0.5);
  Network net;
  auto in = net.add_input("x", DataType::kFloat32, {b, s, k});
  auto flat = *net.add_reshape(*in, {-1, k});
  auto mm = *net.add_matmul(flat, testing::add_constant(net, w));
  auto biased = *net.add_elementwise(mm, testing::add_constant(net, bias), BinaryOp::kAdd);
  auto viewed = *net.add_reshape(biased, {b, s, n});
  ASSERT_TRUE(net.mark_output(*net.add_unary(viewed, UnaryOp::kGeluTanh), "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  const serial::PlanContents contents = testing::build_contents(net, cfg);
  int linears = 0, matmuls = 0, binaries = 0, unary_then_reshape = 0;
  const auto& g = contents.graph;
  for (const auto& l : g.layers) {
    linears += l.op == ir::OpKind::kLinear;
    matmuls += l.op == ir::OpKind::kMatMul;
    binaries += l.op == ir::OpKind::kBinary;
    if (l.op == ir::OpKind::kReshape) {
      int32_t p = g.tensors[static_cast<size_t>(l.inputs[0])].producer;
      unary_then_reshape += p >= 0 && g.layers[static_cast<size_t>(p)].op == ir::OpKind::kUnary;
    }
  }
  EXPECT_EQ(linears, 1);
  EXPECT_EQ(matmuls, 0);
  EXPECT_EQ(binaries, 0);
  EXPECT_EQ(unary_then_reshape, 1);
  auto outs = testing::build_and_run(net, {x}, cfg);
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].type.dims, (Dims{b, s, n}));
  auto xv = testing::to_doubles(x), wv = testing::to_doubles(w), bv = testing::to_doubles(bias);
  std::vector<double> want;
  for (int64_t r = 0; r < b * s; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = bv[static_cast<size_t>(j)];
      for (int64_t t = 0; t < k; ++t)
        acc += xv[static_cast<size_t>(r * k + t)] * wv[static_cast<size_t>(t * n + j)];
      want.push_back(
          0.5 * acc *
          (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (acc + 0.044715 * acc * acc * acc))));
    }
  }
  EXPECT_TRUE(testing::all_close(outs[0], want, 1e-5, 1e-5));
}

// torch's MultiheadAttention out-projection: linear on [S*B, E], a view back to [S, B, E], then the
// residual add. The add moves before the view so it can join the GEMM's epilogue.
TEST(GemmEpilogues, ResidualAddMovesNextToTheGemm) {
  const int64_t s = 5, b = 2, e = 6;
  auto x = testing::random_tensor(DataType::kFloat32, {s * b, e}, -1, 1);
  auto res = testing::random_tensor(DataType::kFloat32, {s, b, e}, -1, 1);
  auto w = testing::random_tensor(DataType::kFloat32, {e, e}, -0.5, 0.5);
  auto bias = testing::random_tensor(DataType::kFloat32, {e}, -0.5, 0.5);
  Network net;
  auto in = net.add_input("x", DataType::kFloat32, {-1, e});
  auto r = net.add_input("r", DataType::kFloat32, {s, -1, e});
  auto lin = *net.add_linear(*in, testing::add_constant(net, w), testing::add_constant(net, bias));
  auto viewed = *net.add_reshape(lin, {s, -1, e});
  ASSERT_TRUE(net.mark_output(*net.add_elementwise(*r, viewed, BinaryOp::kAdd), "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  OptimizationProfile prof;
  prof.set("x", {s, e}, {s * b, e}, {s * 4, e});
  prof.set("r", {s, 1, e}, {s, b, e}, {s, 4, e});
  cfg.profiles = {prof};
  const serial::PlanContents contents = testing::build_contents(net, cfg);
  const auto& g = contents.graph;
  int add_on_gemm = 0;
  for (const auto& l : g.layers) {
    if (l.op != ir::OpKind::kBinary) continue;
    for (int32_t t : l.inputs) {
      int32_t p = g.tensors[static_cast<size_t>(t)].producer;
      add_on_gemm += p >= 0 && g.layers[static_cast<size_t>(p)].op == ir::OpKind::kLinear;
    }
  }
  EXPECT_EQ(add_on_gemm, 1);
  auto outs = testing::build_and_run(net, {x, res}, cfg);
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].type.dims, (Dims{s, b, e}));
  auto xv = testing::to_doubles(x), wv = testing::to_doubles(w), bv = testing::to_doubles(bias),
       rv = testing::to_doubles(res);
  std::vector<double> want;
  for (int64_t row = 0; row < s * b; ++row) {
    for (int64_t j = 0; j < e; ++j) {
      double acc = bv[static_cast<size_t>(j)] + rv[static_cast<size_t>(row * e + j)];
      for (int64_t t = 0; t < e; ++t)
        acc += xv[static_cast<size_t>(row * e + t)] * wv[static_cast<size_t>(j * e + t)];
      want.push_back(acc);
    }
  }
  EXPECT_TRUE(testing::all_close(outs[0], want, 1e-5, 1e-5));
}

TEST(GemmEpilogues, RuntimeWeightsAndSharedViewsStayAsTheyAre) {
  // The weight is an input (not a constant) and the reshape is read twice: nothing changes.
  Network net;
  auto a = net.add_input("a", DataType::kFloat32, {4, 6});
  auto w = net.add_input("w", DataType::kFloat32, {6, 5});
  auto bias = testing::random_tensor(DataType::kFloat32, {5});
  auto y = *net.add_elementwise(*net.add_matmul(*a, *w), testing::add_constant(net, bias),
                                BinaryOp::kAdd);
  auto r = *net.add_reshape(y, {20});
  ASSERT_TRUE(net.mark_output(*net.add_unary(r, UnaryOp::kRelu), "relu").ok());
  ASSERT_TRUE(net.mark_output(r, "flat").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  const serial::PlanContents contents = testing::build_contents(net, cfg);
  int linears = 0, matmuls = 0;
  for (const auto& l : contents.graph.layers) {
    linears += l.op == ir::OpKind::kLinear;
    matmuls += l.op == ir::OpKind::kMatMul;
  }
  EXPECT_EQ(linears, 0);
  EXPECT_EQ(matmuls, 1);
  auto av = testing::random_tensor(DataType::kFloat32, {4, 6}),
       wv = testing::random_tensor(DataType::kFloat32, {6, 5});
  auto outs = testing::build_and_run(net, {av, wv}, cfg);
  ASSERT_EQ(outs.size(), 2u);
  auto ad = testing::to_doubles(av), wd = testing::to_doubles(wv), bd = testing::to_doubles(bias);
  std::vector<double> flat, relu;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 5; ++j) {
      double acc = bd[static_cast<size_t>(j)];
      for (int t = 0; t < 6; ++t)
        acc += ad[static_cast<size_t>(i * 6 + t)] * wd[static_cast<size_t>(t * 5 + j)];
      flat.push_back(acc);
      relu.push_back(std::max(acc, 0.0));
    }
  }
  EXPECT_TRUE(testing::all_close(outs[0], relu, 1e-5, 1e-5));
  EXPECT_TRUE(testing::all_close(outs[1], flat, 1e-5, 1e-5));
}

}  // namespace
}  // namespace kiln
