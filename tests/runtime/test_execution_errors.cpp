// Run-time misuse: unbound inputs, wrong dtypes, wrong output buffers, unknown names, bad profiles.
#include "test_util.h"

namespace kiln {
namespace {

std::shared_ptr<Engine> relu_engine() {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, 3});
  EXPECT_TRUE(net.mark_output(*net.add_unary(*x, UnaryOp::kRelu), "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.profiles = {OptimizationProfile().set("x", {1, 3}, {2, 3}, {4, 3}),
                  OptimizationProfile().set("x", {5, 3}, {8, 3}, {16, 3})};
  auto plan = Builder::build(net, cfg);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  auto e = Runtime::load(plan->bytes);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return *e;
}

TEST(ExecutionErrors, UnboundAndUnsetInputsAreReported) {
  auto engine = relu_engine();
  auto ctx = *engine->create_context();
  Status s = ctx->execute();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("shape of input 'x' is not set"), std::string::npos) << s.message();
  ASSERT_TRUE(ctx->set_input_shape("x", {2, 3}).ok());
  s = ctx->execute();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("input 'x' is not bound"), std::string::npos) << s.message();
}

TEST(ExecutionErrors, WrongDtypeAndWrongOutputDimsAreRefused) {
  auto engine = relu_engine();
  auto ctx = *engine->create_context();
  std::vector<int32_t> ints(6);
  Status s = ctx->bind("x", ints.data(), DataType::kInt32, {2, 3});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kTypeError);
  EXPECT_NE(s.message().find("dtype f32, got i32"), std::string::npos) << s.message();
  std::vector<float> in(6, 1.0f), out(6);
  ASSERT_TRUE(ctx->bind("x", in.data(), DataType::kFloat32, {2, 3}).ok());
  s = ctx->bind("y", out.data(), DataType::kFloat32, {3, 2});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kShapeError);
  EXPECT_FALSE(ctx->set_input_shape("zz", {1, 3}).ok());
  EXPECT_FALSE(ctx->set_input_shape("x", {2, 4}).ok());
  EXPECT_FALSE(ctx->set_input_shape("x", {2}).ok());
}

TEST(ExecutionErrors, ProfilesSelectRanges) {
  auto engine = relu_engine();
  ASSERT_EQ(engine->num_profiles(), 2);
  auto ctx = *engine->create_context();
  EXPECT_FALSE(ctx->set_input_shape("x", {8, 3}).ok());  // outside profile 0
  ASSERT_TRUE(ctx->set_optimization_profile(1).ok());
  EXPECT_TRUE(ctx->set_input_shape("x", {8, 3}).ok());
  EXPECT_FALSE(ctx->set_input_shape("x", {2, 3}).ok());
  EXPECT_FALSE(ctx->set_optimization_profile(2).ok());
  auto x = testing::random_tensor(DataType::kFloat32, {8, 3}, -1, 1);
  auto out = testing::run_engine(*engine, {x}, 1);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  std::vector<double> want;
  for (double v : testing::to_doubles(x)) want.push_back(v > 0 ? v : 0);
  EXPECT_TRUE(testing::all_close((*out)[0], want, 0, 0));
}

TEST(ExecutionErrors, SharedEngineManyContextsIndependentShapes) {
  auto engine = relu_engine();
  auto a = testing::random_tensor(DataType::kFloat32, {2, 3});
  auto b = testing::random_tensor(DataType::kFloat32, {4, 3});
  auto ra = testing::run_engine(*engine, {a});
  auto rb = testing::run_engine(*engine, {b});
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ((*ra)[0].type.dims, Dims({2, 3}));
  EXPECT_EQ((*rb)[0].type.dims, Dims({4, 3}));
}

TEST(ExecutionErrors, DescribeListsKernelsAndProfiles) {
  auto engine = relu_engine();
  std::string d = engine->describe();
  EXPECT_NE(d.find("cpu.unary#0"), std::string::npos) << d;
  EXPECT_NE(d.find("profile 1 x min [5,3]"), std::string::npos) << d;
}

}  // namespace
}  // namespace kiln
