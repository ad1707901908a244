// Builder passes: dead layers, constant folding, precision assignment, shape tensors.
#include "ir/text_printer.h"
#include "serialization/plan_contents.h"
#include "test_util.h"

namespace kiln {
namespace {

// The passes always run for the CPU backend here.
serial::PlanContents built(const Network& net, BuilderConfig cfg) {
  cfg.backend = "cpu";
  return testing::build_contents(net, cfg);
}

using testing::count_ops;

TEST(Passes, DeadLayersAreRemoved) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {4});
  auto used = net.add_unary(*x, UnaryOp::kRelu);
  ASSERT_TRUE(net.add_unary(*x, UnaryOp::kExp).ok());  // nobody reads it
  ASSERT_TRUE(net.mark_output(*used, "y").ok());
  auto plan = built(net, {});
  EXPECT_EQ(count_ops(plan.graph, ir::OpKind::kUnary), 1);
  EXPECT_EQ(plan.kernels.size(), 1u);
}

TEST(Passes, ConstantSubgraphsAreFoldedWithTheReferenceKernels) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {2, 3});
  auto w = testing::random_tensor(DataType::kFloat32, {3, 3});
  auto wc = testing::add_constant(net, w);
  auto wt = net.add_transpose(wc, {1, 0});       // folded
  auto ws = net.add_unary(*wt, UnaryOp::kTanh);  // folded
  auto y = net.add_matmul(*x, *ws);
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  auto plan = built(net, {});
  EXPECT_EQ(count_ops(plan.graph, ir::OpKind::kTranspose), 0);
  EXPECT_EQ(count_ops(plan.graph, ir::OpKind::kUnary), 0);
  EXPECT_EQ(plan.kernels.size(), 1u);
  auto in = testing::random_tensor(DataType::kFloat32, {2, 3});
  auto out = testing::build_and_run(net, {in});
  ASSERT_EQ(out.size(), 1u);
  std::vector<double> want;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int k = 0; k < 3; ++k)
        s += testing::at(in, i * 3 + k) * std::tanh(testing::at(w, j * 3 + k));
      want.push_back(s);
    }
  EXPECT_TRUE(testing::all_close(out[0], want, 1e-5, 1e-5));
}

TEST(Passes, ShapeArithmeticResolvesReshapeFromShapeTensor) {
  // y = x.view(x.size(0), -1): shape-of, gather, concat, reshape from a runtime shape tensor.
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, 3, 4});
  auto shp = net.add_shape(*x);
  auto idx = net.add_int_vector({0});
  auto n = net.add_gather(*shp, *idx, 0);
  auto rest = net.add_int_vector({-1});
  auto target = net.add_concat({*n, *rest}, 0);
  auto y = net.add_reshape_dynamic(*x, *target);
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  auto t = net.tensor_type(*y);
  EXPECT_EQ(t->dims.rank(), 2);  // rank from the shape tensor; extents resolve at run time
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  BuilderConfig cfg;
  cfg.profiles = {OptimizationProfile().set("x", {1, 3, 4}, {2, 3, 4}, {9, 3, 4})};
  auto plan = built(net, cfg);
  // shape/gather/concat run only at shape resolution; only the reshape executes.
  EXPECT_EQ(plan.kernels.size(), 1u);
  for (int64_t b : {1, 7}) {
    auto in = testing::random_tensor(DataType::kFloat32, {b, 3, 4});
    cfg.backend = "cpu";
    auto out = testing::build_and_run(net, {in}, cfg);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(testing::has_type(out[0], DataType::kFloat32, {b, 12}));
    EXPECT_TRUE(testing::all_close(out[0], testing::to_doubles(in), 0, 0));
  }
}

TEST(Passes, Fp16PrecisionCastsAtBoundariesAndKeepsSensitiveLayersFp32) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {4, 8});
  auto w = testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {8, 8}));
  auto h = net.add_linear(*x, w, Tensor{});
  auto sq = net.add_elementwise(*h, *h, BinaryOp::kPow);  // pow keeps fp32
  auto m =
      net.add_reduce(*sq, ReduceParams{ReduceOp::kMean, {1}, true, 1});  // fp32 island continues
  auto y = net.add_elementwise(*h, *m, BinaryOp::kMul);
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  BuilderConfig cfg;
  cfg.enabled_precisions = {Precision::kFP32, Precision::kFP16};
  auto plan = built(net, cfg);
  const ir::Graph& g = plan.graph;
  bool linear_f16 = false, pow_f32 = false, mean_f32 = false;
  for (const auto& l : g.layers) {
    if (l.op == ir::OpKind::kLinear) linear_f16 = l.precision == DataType::kFloat16;
    if (l.op == ir::OpKind::kBinary && std::get<BinaryParams>(l.params).op == BinaryOp::kPow)
      pow_f32 = l.precision == DataType::kFloat32;
    if (l.op == ir::OpKind::kReduce) mean_f32 = l.precision == DataType::kFloat32;
  }
  EXPECT_TRUE(linear_f16) << ir::print_graph(g);
  EXPECT_TRUE(pow_f32) << ir::print_graph(g);
  EXPECT_TRUE(mean_f32) << ir::print_graph(g);
  // The weight was converted at build time (no cast layer on it), the output is f32 again.
  for (const auto& w8 : g.weights) EXPECT_EQ(w8.type.dtype, DataType::kFloat16);
  EXPECT_EQ(g.tensors[static_cast<size_t>(g.outputs[0])].type.dtype, DataType::kFloat32);
  auto in = testing::random_tensor(DataType::kFloat32, {4, 8});
  auto lo = testing::build_and_run(net, {in}, cfg);
  auto hi = testing::build_and_run(net, {in});
  ASSERT_EQ(lo.size(), 1u);
  ASSERT_EQ(hi.size(), 1u);
  EXPECT_TRUE(testing::all_close(lo[0], testing::to_doubles(hi[0]), 2e-2, 2e-2));
}

TEST(Passes, UserPinnedPrecisionIsKept) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {4});
  auto y = net.add_unary(*x, UnaryOp::kSigmoid);
  ASSERT_TRUE(net.set_layer_precision(*y, DataType::kBFloat16).ok());
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  auto plan = built(net, {});
  int bf16_sigmoid = 0;
  for (const auto& l : plan.graph.layers)
    if (l.op == ir::OpKind::kUnary && l.precision == DataType::kBFloat16) ++bf16_sigmoid;
  EXPECT_EQ(bf16_sigmoid, 1) << ir::print_graph(plan.graph);
}

TEST(Passes, OutputsThatFoldToConstantsAreStillWritten) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {2, 5});
  auto s = net.add_shape(*x);  // static: folds to a constant
  ASSERT_TRUE(net.mark_output(*s, "s").ok());
  ASSERT_TRUE(net.mark_output(*net.add_unary(*x, UnaryOp::kNeg), "y").ok());
  auto out = testing::build_and_run(net, {testing::random_tensor(DataType::kFloat32, {2, 5})});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(testing::all_close(out[0], {2, 5}, 0, 0));
}

}  // namespace
}  // namespace kiln
