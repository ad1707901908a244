// float64 and int16 on the CPU reference: float64 layers compute in float64 (a float32 step would
// lose the 1e-12 terms checked here), int16 arithmetic wraps as torch's; layers whose kernel works
// in float32 refuse float64 at build time instead of narrowing it. References are plain loops here.
#include <cmath>

#include "test_util.h"

namespace kiln {
namespace {

TEST(CpuFloat64, PointwiseReduceAndMatmulKeepFloat64Precision) {
  Network net;
  auto a = net.add_input("a", DataType::kFloat64, {3, 4});
  auto b = net.add_input("b", DataType::kFloat64, {4, 2});
  auto eps = net.add_scalar(1e-12, DataType::kFloat64);
  auto shifted = net.add_elementwise(*a, *eps, BinaryOp::kAdd);
  auto diff = net.add_elementwise(*shifted, *a, BinaryOp::kSub);  // 1e-12 exactly-ish, not 0
  ReduceParams rp;
  rp.op = ReduceOp::kSum;
  rp.axes = {1};
  ASSERT_TRUE(net.mark_output(*net.add_reduce(*diff, rp), "d").ok());
  ASSERT_TRUE(net.mark_output(*net.add_matmul(*a, *b), "m").ok());
  HostTensor x = testing::random_tensor(DataType::kFloat64, {3, 4}, -1, 1);
  HostTensor y = testing::random_tensor(DataType::kFloat64, {4, 2}, -1, 1);
  auto out = testing::build_and_run(net, {x, y});
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(testing::has_type(out[0], DataType::kFloat64, {3}));
  std::vector<double> xs = testing::to_doubles(x), ys = testing::to_doubles(y), d(3), m(6);
  for (int i = 0; i < 3; ++i) {
    for (int k = 0; k < 4; ++k) d[i] += (xs[i * 4 + k] + 1e-12) - xs[i * 4 + k];
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 4; ++k) m[i * 2 + j] += xs[i * 4 + k] * ys[k * 2 + j];
  }
  EXPECT_TRUE(testing::all_close(out[0], d, 0, 1e-20));
  EXPECT_GT(testing::at(out[0], 0), 1e-12);  // float32 would give 0
  EXPECT_TRUE(testing::all_close(out[1], m, 1e-14, 1e-15));
}

TEST(CpuFloat64, Float32KernelsRefuseFloat64AtBuildTime) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat64, {1, 2, 5, 5});
  auto w = testing::add_constant(net, testing::random_tensor(DataType::kFloat64, {3, 2, 3, 3}));
  ConvolutionParams p;
  p.strides = p.dilations = {1, 1};
  p.pads_begin = p.pads_end = {0, 0};
  ASSERT_TRUE(net.mark_output(*net.add_convolution(*x, w, Tensor(), p), "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  auto plan = Builder::build(net, cfg);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("float64 is not computed by this kernel"),
            std::string::npos)
      << plan.status().to_string();
}

TEST(CpuInt16, ArithmeticWrapsAndCastsAreExact) {
  Network net;
  auto a = net.add_input("a", DataType::kInt16, {4});
  auto k = net.add_scalar(300, DataType::kInt16);
  ASSERT_TRUE(net.mark_output(*net.add_elementwise(*a, *k, BinaryOp::kMul), "p").ok());
  ASSERT_TRUE(net.mark_output(*net.add_cast(*a, DataType::kFloat64), "f").ok());
  HostTensor x = testing::make_tensor(DataType::kInt16, {4}, {200, -200, 7, -32768});
  auto out = testing::build_and_run(net, {x});
  ASSERT_EQ(out.size(), 2u);
  std::vector<double> want;
  for (int v : {200, -200, 7, -32768}) want.push_back(static_cast<int16_t>(v * 300));
  EXPECT_TRUE(testing::all_close(out[0], want, 0, 0));
  EXPECT_TRUE(testing::all_close(out[1], {200, -200, 7, -32768}, 0, 0));
}

}  // namespace
}  // namespace kiln
