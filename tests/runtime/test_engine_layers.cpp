// kernel_groups: what a loaded engine runs after fusion, as data (the compile report reads it); the
// same groups describe() prints and a profiled run times.
#include <set>

#include "kiln/engine_layers.h"
#include "test_util.h"

namespace kiln {
namespace {

std::shared_ptr<Engine> mlp_engine(std::vector<Precision> precisions) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, 8});
  auto w = testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {16, 8}));
  auto b = testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {16}));
  auto h = net.add_linear(*x, w, b);
  EXPECT_TRUE(net.set_layer_name(*h, "fc1").ok());
  auto r = net.add_unary(*h, UnaryOp::kRelu);
  EXPECT_TRUE(net.set_layer_name(*r, "act").ok());
  auto y = net.add_softmax(*r, -1);
  EXPECT_TRUE(net.set_layer_name(*y, "probs").ok());
  EXPECT_TRUE(net.mark_output(*y, "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.enabled_precisions = std::move(precisions);
  cfg.profiles = {OptimizationProfile().set("x", {1, 8}, {4, 8}, {8, 8})};
  auto plan = Builder::build(net, cfg);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  auto e = Runtime::load(plan->bytes);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return *e;
}

TEST(EngineLayers, GroupsNameEveryComputedLayerOnceWithOpAndDtype) {
  auto engine = mlp_engine({Precision::kFP32});
  auto groups = kernel_groups(*engine);
  ASSERT_FALSE(groups.empty());
  std::multiset<std::string> names;
  std::set<std::string> ops;
  for (const auto& g : groups) {
    EXPECT_EQ(g.kernel.rfind("cpu.", 0), 0u) << g.kernel;
    EXPECT_FALSE(g.layers.empty()) << g.kernel;
    for (const auto& l : g.layers) {
      names.insert(l.name);
      ops.insert(l.op);
      EXPECT_EQ(l.dtype, "f32") << l.name;
    }
  }
  for (const char* name : {"fc1", "act", "probs"}) EXPECT_EQ(names.count(name), 1u) << name;
  EXPECT_TRUE(ops.count("softmax")) << ::testing::PrintToString(ops);
  // describe() prints the same groups: "[k] kernel : name(op) ...".
  std::string d = engine->describe();
  for (size_t k = 0; k < groups.size(); ++k) {
    std::string line = std::to_string(k);
    line = "[" + line + "] " + groups[k].kernel + " :";
    EXPECT_NE(d.find(line), std::string::npos) << line << "\n" << d;
  }
}

TEST(EngineLayers, ReducedPrecisionIsReported) {
  auto groups = kernel_groups(*mlp_engine({Precision::kFP32, Precision::kFP16}));
  bool fc1_half = false;
  for (const auto& g : groups)
    for (const auto& l : g.layers)
      if (l.name == "fc1") fc1_half = l.precision == "f16";
  EXPECT_TRUE(fc1_half);
}

TEST(EngineLayers, ProfiledRunTimesTheSameGroups) {
  auto engine = mlp_engine({Precision::kFP32});
  auto groups = kernel_groups(*engine);
  auto ctx = *engine->create_context();
  ctx->set_profiling(true);
  auto x = testing::random_tensor(DataType::kFloat32, {4, 8});
  std::vector<float> out(4 * 16);
  ASSERT_TRUE(ctx->bind("x", x.bytes.data(), DataType::kFloat32, {4, 8}).ok());
  ASSERT_TRUE(ctx->bind("y", out.data(), DataType::kFloat32, {4, 16}).ok());
  ASSERT_TRUE(ctx->execute().ok());
  auto timings = ctx->last_timings();
  ASSERT_EQ(timings.size(), groups.size());
  for (size_t k = 0; k < groups.size(); ++k) {
    EXPECT_EQ(timings[k].kernel, groups[k].kernel);
    std::string joined;
    for (const auto& l : groups[k].layers) joined += (joined.empty() ? "" : "+") + l.name;
    EXPECT_EQ(timings[k].name, joined);
    EXPECT_GE(timings[k].milliseconds, 0.0);
  }
}

}  // namespace
}  // namespace kiln
