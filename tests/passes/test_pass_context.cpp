// The pass context: disabled passes by name, the IR dump, verification after each pass, and the
// switches recorded in the plan so that two builds of one network say why they differ.
#include <filesystem>

#include "passes/pass.h"
#include "serialization/plan_contents.h"
#include "test_util.h"

namespace kiln {
namespace {

using testing::count_ops;

// x -> identity -> relu -> y: remove_identities turns the identity into an alias.
Network identity_network() {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {2, 3});
  auto i = net.add_identity(*x);
  EXPECT_TRUE(net.mark_output(*net.add_unary(*i, UnaryOp::kRelu), "y").ok());
  return net;
}

BuilderConfig cpu_config() {
  BuilderConfig cfg;
  cfg.backend = "cpu";
  return cfg;
}

TEST(PassContext, SameNetworkUnderTwoSettingsRecordsBoth) {
  Network net = identity_network();
  BuilderConfig plain = cpu_config(), skipping = cpu_config();
  skipping.switches.disabled_passes = {"remove_identities"};
  skipping.switches.fuse_pointwise = false;

  serial::PlanContents a = testing::build_contents(net, plain);
  serial::PlanContents b = testing::build_contents(net, skipping);
  EXPECT_EQ(count_ops(a.graph, ir::OpKind::kIdentity), 0);
  EXPECT_EQ(count_ops(b.graph, ir::OpKind::kIdentity), 1);
  EXPECT_TRUE(a.switches.disabled_passes.empty());
  EXPECT_TRUE(a.switches.fuse_pointwise);
  EXPECT_EQ(b.switches.disabled_passes, std::vector<std::string>{"remove_identities"});
  EXPECT_FALSE(b.switches.fuse_pointwise);

  // The loaded engines list them, and compute the same thing.
  auto pb = Builder::build(net, skipping);
  ASSERT_TRUE(pb.ok()) << pb.status().to_string();
  auto eb = Runtime::load(pb->bytes);
  ASSERT_TRUE(eb.ok()) << eb.status().to_string();
  std::string d = (*eb)->describe();
  EXPECT_NE(d.find("fuse_pointwise=off"), std::string::npos) << d;
  EXPECT_NE(d.find("disabled_passes=remove_identities"), std::string::npos) << d;
  auto x = testing::random_tensor(DataType::kFloat32, {2, 3});
  auto ya = testing::build_and_run(net, {x}, plain);
  auto yb = testing::build_and_run(net, {x}, skipping);
  ASSERT_EQ(ya.size(), 1u);
  ASSERT_EQ(yb.size(), 1u);
  EXPECT_TRUE(testing::all_close(yb[0], testing::to_doubles(ya[0]), 0, 0));
}

TEST(PassContext, UnknownDisabledPassIsAClearError) {
  BuilderConfig cfg = cpu_config();
  cfg.switches.disabled_passes = {"remove_identities", "fold_everything"};
  auto plan = Builder::build(identity_network(), cfg);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
  const std::string& m = plan.status().message();
  EXPECT_NE(m.find("unknown pass 'fold_everything'"), std::string::npos) << m;
  EXPECT_NE(m.find("remove_dead_layers, remove_identities, fuse_quantized_layers, fold_constants"),
            std::string::npos)
      << m;
}

TEST(PassContext, BadConvImplIsAClearError) {
  BuilderConfig cfg = cpu_config();
  cfg.switches.conv_impl = "depthwise:3";
  auto plan = Builder::build(identity_network(), cfg);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(plan.status().message().find("conv_impl"), std::string::npos)
      << plan.status().message();
}

TEST(PassContext, IrDumpAfterEachPassSkipsDisabledOnes) {
  auto dir =
      std::filesystem::temp_directory_path() / ("kiln_dump_" + std::to_string(testing::rng_seed()));
  std::filesystem::remove_all(dir);
  BuilderConfig cfg = cpu_config();
  cfg.dump_ir_dir = dir.string();
  cfg.switches.disabled_passes = {"remove_identities"};
  ASSERT_TRUE(Builder::build(identity_network(), cfg).ok());
  EXPECT_TRUE(std::filesystem::exists(dir / "0_input.txt"));
  EXPECT_TRUE(std::filesystem::exists(dir / "1_remove_dead_layers.txt"));
  EXPECT_TRUE(
      std::filesystem::exists(dir / "2_fuse_quantized_layers.txt"));  // remove_identities skipped
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().find("remove_identities"), std::string::npos);
    ++files;
  }
  EXPECT_EQ(static_cast<size_t>(files), passes::pipeline_passes().size());  // input + all but one
  std::filesystem::remove_all(dir);
}

Status break_graph(ir::Graph& g, const passes::PassContext&) {
  g.layers.back().inputs[0] = 999;  // a tensor that does not exist
  return {};
}

TEST(PassContext, VerificationNamesThePassThatBrokeTheGraph) {
  BuilderConfig cfg = cpu_config();
  const passes::PassEntry entries[] = {{"remove_dead_layers", passes::remove_dead_layers},
                                       {"break_graph", break_graph},
                                       {"remove_identities", passes::remove_identities}};
  ir::Graph g = identity_network().graph();
  passes::PassContext ctx{cfg, default_logger(), "cpu", nullptr, true};
  Status s = passes::run_passes(g, ctx, entries);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("graph invalid after pass break_graph"), std::string::npos)
      << s.message();

  // Disabled by name, the same list runs clean.
  cfg.switches.disabled_passes = {"break_graph"};
  ir::Graph g2 = identity_network().graph();
  EXPECT_TRUE(passes::run_passes(g2, ctx, entries).ok());
}

}  // namespace
}  // namespace kiln
