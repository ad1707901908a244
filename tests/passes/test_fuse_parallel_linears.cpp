// fuse_parallel_linears: linears reading one static input become one GEMM plus slices (with and
// without biases, different widths); results equal the unfused network (weights fed as inputs, so
// nothing fuses there). Dynamic inputs and linears of different inputs stay apart.
#include "test_util.h"

namespace kiln {
namespace {

struct Spec {
  int64_t n;
  bool bias;
};

struct Weights {
  std::vector<HostTensor> w, b;
};

Network make(const Weights& wt, const std::vector<Spec>& specs, const Dims& x_dims,
             bool weights_as_inputs) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, x_dims);
  for (size_t i = 0; i < specs.size(); ++i) {
    Tensor w = weights_as_inputs
                   ? *net.add_input("w" + std::to_string(i), DataType::kFloat32, wt.w[i].type.dims)
                   : testing::add_constant(net, wt.w[i]);
    Tensor b;
    if (specs[i].bias)
      b = weights_as_inputs
              ? *net.add_input("b" + std::to_string(i), DataType::kFloat32, wt.b[i].type.dims)
              : testing::add_constant(net, wt.b[i]);
    auto y = net.add_linear(*x, w, b);
    EXPECT_TRUE(net.mark_output(*net.add_unary(*y, UnaryOp::kTanh), "y" + std::to_string(i)).ok());
  }
  return net;
}

int count_linears(const Network& net, BuilderConfig cfg = {}) {
  return testing::count_ops(testing::build_contents(net, cfg).graph, ir::OpKind::kLinear);
}

TEST(FuseParallelLinears, SharedInputBecomesOneGemm) {
  const std::vector<Spec> specs = {{24, true}, {16, false}, {24, true}};
  const int64_t k = 20;
  Weights wt;
  for (const Spec& s : specs) {
    wt.w.push_back(testing::random_tensor(DataType::kFloat32, {s.n, k}));
    wt.b.push_back(testing::random_tensor(DataType::kFloat32, {s.n}));
  }
  Network fused = make(wt, specs, {2, 5, k}, false);
  EXPECT_EQ(count_linears(fused), 1);
  HostTensor x = testing::random_tensor(DataType::kFloat32, {2, 5, k});
  auto got = testing::build_and_run(fused, {x});
  std::vector<HostTensor> in{x};
  for (size_t i = 0; i < specs.size(); ++i) {
    in.push_back(wt.w[i]);
    if (specs[i].bias) in.push_back(wt.b[i]);
  }
  auto want = testing::build_and_run(make(wt, specs, {2, 5, k}, true), in);
  ASSERT_EQ(got.size(), specs.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_TRUE(testing::all_close(got[i], testing::to_doubles(want[i]), 1e-5, 1e-6)) << i;
}

TEST(FuseParallelLinears, DynamicInputsStayApart) {
  const std::vector<Spec> specs = {{8, true}, {8, true}};
  Weights wt;
  for (const Spec& s : specs) {
    wt.w.push_back(testing::random_tensor(DataType::kFloat32, {s.n, 6}));
    wt.b.push_back(testing::random_tensor(DataType::kFloat32, {s.n}));
  }
  BuilderConfig cfg;
  cfg.profiles = {OptimizationProfile().set("x", {1, 6}, {2, 6}, {4, 6})};
  EXPECT_EQ(count_linears(make(wt, specs, {-1, 6}, false), cfg), 2);
}

}  // namespace
}  // namespace kiln
