// Malformed networks give clear errors at add time or build time; nothing crashes.
#include "ir/graph.h"
#include "test_util.h"

namespace kiln {
namespace {

bool mentions(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

TEST(NetworkErrors, TensorFromAnotherNetworkIsRefused) {
  Network a, b;
  auto xa = a.add_input("x", DataType::kFloat32, {2, 2});
  auto xb = b.add_input("x", DataType::kFloat32, {2, 2});
  auto y = b.add_elementwise(*xb, *xa, BinaryOp::kAdd);
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(mentions(y.status(), "belongs to a different network")) << y.status().message();
  auto z = b.add_unary(Tensor{}, UnaryOp::kRelu);
  ASSERT_FALSE(z.ok());
  EXPECT_TRUE(mentions(z.status(), "invalid (empty) tensor handle")) << z.status().message();
}

TEST(NetworkErrors, RankAndShapeMismatchesNameTheLayer) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {2, 3, 8, 8});
  auto w = net.add_input("w", DataType::kFloat32, {4, 5, 3, 3});  // wrong Cin
  auto c = net.add_convolution(*x, *w, Tensor{}, ConvolutionParams{});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kShapeError);
  EXPECT_TRUE(mentions(c.status(), "convolution")) << c.status().message();
  EXPECT_TRUE(mentions(c.status(), "3 channels")) << c.status().message();

  auto a = net.add_input("a", DataType::kFloat32, {2, 3});
  auto b = net.add_input("b", DataType::kFloat32, {4, 5});
  auto m = net.add_matmul(*a, *b);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(mentions(m.status(), "inner dims differ")) << m.status().message();
  auto e = net.add_elementwise(*a, *b, BinaryOp::kAdd);
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(mentions(e.status(), "do not broadcast")) << e.status().message();
  auto r = net.add_reshape(*a, {4, 2});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(mentions(r.status(), "cannot reshape")) << r.status().message();
  auto i = net.add_input("i", DataType::kInt32, {2, 3});
  auto mix = net.add_elementwise(*a, *i, BinaryOp::kAdd);
  ASSERT_FALSE(mix.ok());
  EXPECT_EQ(mix.status().code(), StatusCode::kTypeError);
}

TEST(NetworkErrors, BuildRefusesNetworksWithoutOutputsOrWithDanglingTensors) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {2});
  ASSERT_TRUE(net.add_unary(*x, UnaryOp::kRelu).ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  auto p = Builder::build(net, cfg);
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(mentions(p.status(), "no outputs")) << p.status().message();

  // A graph edited by hand so a layer reads a tensor produced later (dangling/cyclic).
  Network bad;
  auto y = bad.add_input("y", DataType::kFloat32, {2});
  auto r1 = bad.add_unary(*y, UnaryOp::kRelu);
  auto r2 = bad.add_unary(*r1, UnaryOp::kNeg);
  ASSERT_TRUE(bad.mark_output(*r2, "out").ok());
  bad.mutable_graph().layers[0].inputs[0] = r2->id();
  auto q = Builder::build(bad, cfg);
  ASSERT_FALSE(q.ok());
  EXPECT_TRUE(mentions(q.status(), "used before it is produced")) << q.status().message();
}

TEST(NetworkErrors, DuplicateAndInvalidNamesAreRefused) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {2});
  EXPECT_FALSE(net.add_input("x", DataType::kFloat32, {2}).ok());
  EXPECT_FALSE(net.add_input("", DataType::kFloat32, {2}).ok());
  EXPECT_FALSE(net.add_input("bad", DataType::kFloat32, {-2}).ok());
  auto y = net.add_unary(*x, UnaryOp::kRelu);
  EXPECT_FALSE(net.mark_output(*x, "y").ok());  // inputs cannot be outputs directly
  EXPECT_TRUE(net.mark_output(*y, "y").ok());
  EXPECT_FALSE(net.mark_output(*y, "y2").ok());  // already an output
  auto z = net.add_unary(*x, UnaryOp::kNeg);
  EXPECT_FALSE(net.mark_output(*z, "x").ok());  // name taken by an input
}

TEST(NetworkErrors, ShapeOutsideProfileAtBuildTimeNamesLayerAndBound) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, 6});
  auto r = net.add_reshape(*x, {-1, 4});  // valid only when 6n is divisible by 4
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_TRUE(net.set_layer_name(*r, "to_fours").ok());
  ASSERT_TRUE(net.mark_output(*r, "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.profiles.push_back(OptimizationProfile().set("x", {2, 6}, {2, 6}, {3, 6}));
  auto p = Builder::build(net, cfg);
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(mentions(p.status(), "to_fours")) << p.status().message();
  EXPECT_TRUE(mentions(p.status(), "profile 0 max")) << p.status().message();
  EXPECT_TRUE(mentions(p.status(), "x=[3,6]")) << p.status().message();
}

TEST(NetworkErrors, ProfileProblemsAreReported) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, 4});
  ASSERT_TRUE(net.mark_output(*net.add_unary(*x, UnaryOp::kRelu), "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  auto none = Builder::build(net, cfg);
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(mentions(none.status(), "add an optimization profile")) << none.status().message();
  cfg.profiles = {OptimizationProfile().set("x", {4, 4}, {2, 4}, {8, 4})};
  auto order = Builder::build(net, cfg);
  ASSERT_FALSE(order.ok());
  EXPECT_TRUE(mentions(order.status(), "min <= opt <= max")) << order.status().message();
  cfg.profiles = {OptimizationProfile().set("x", {1, 3}, {2, 3}, {8, 3})};
  auto fixed = Builder::build(net, cfg);
  ASSERT_FALSE(fixed.ok());
  EXPECT_TRUE(mentions(fixed.status(), "is static")) << fixed.status().message();
  cfg.profiles = {OptimizationProfile().set("nope", {1}, {1}, {1})};
  auto unknown = Builder::build(net, cfg);
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(mentions(unknown.status(), "not a network input")) << unknown.status().message();
  cfg.profiles = {OptimizationProfile().set("x", {1, 4}, {2, 4}, {8, 4})};
  cfg.backend = "tpu";
  auto backend = Builder::build(net, cfg);
  ASSERT_FALSE(backend.ok());
  EXPECT_TRUE(mentions(backend.status(), "unknown backend 'tpu'")) << backend.status().message();
  cfg.backend = "cpu";
  cfg.enabled_precisions = {Precision::kINT8};
  auto int8 = Builder::build(net, cfg);
  ASSERT_FALSE(int8.ok());
  EXPECT_EQ(int8.status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace kiln
