// Text IR: print -> parse round trips; parse errors name the line.
#include "ir/text_printer.h"
#include "test_util.h"

namespace kiln {
namespace {

TEST(TextIr, RoundTripIsExact) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, 3, 8, 8});
  auto w = testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {2, 3, 3, 3}));
  ConvolutionParams cp;
  cp.pads_begin = {1, 1};
  auto c = net.add_convolution(*x, w, Tensor{}, cp);
  auto r = net.add_unary(*c, UnaryOp::kClamp, 0.0, 6.0);
  PoolingParams pp;
  pp.type = PoolingType::kMax;
  pp.kernel = {2, 2};
  pp.strides = {2, 2};
  auto p = net.add_pooling(*r, pp);
  auto parts = net.add_split(*p, SplitParams{1, {1, -1}});
  ASSERT_TRUE(parts.ok()) << parts.status().to_string();
  auto s = net.add_shape(*x);
  auto f = net.add_flatten((*parts)[1], 1);
  ASSERT_TRUE(net.set_layer_precision(*r, DataType::kFloat16).ok());
  ASSERT_TRUE(net.mark_output(*f, "features").ok());
  ASSERT_TRUE(net.mark_output(*s, "shape").ok());
  std::string text = net.to_text();
  auto parsed = parse_network(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string() << "\n" << text;
  EXPECT_EQ(parsed->to_text(), text);
  EXPECT_NE(text.find("layer \"convolution_1\" = convolution(\"x\", \"constant_0\", _)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("precision=f16!"), std::string::npos) << text;
  // The parsed network builds and computes the same thing.
  auto in = testing::random_tensor(DataType::kFloat32, {2, 3, 8, 8});
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.profiles = {OptimizationProfile().set("x", {1, 3, 8, 8}, {2, 3, 8, 8}, {4, 3, 8, 8})};
  auto a = testing::build_and_run(net, {in}, cfg);
  auto b = testing::build_and_run(*parsed, {in}, cfg);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(a[0].bytes, b[0].bytes);
  EXPECT_TRUE(testing::all_close(a[1], {2, 3, 8, 8}, 0, 0));
}

TEST(TextIr, ParseErrorsNameTheLine) {
  const char* bad_op =
      "kiln.network v1\ninput \"x\" : f32[2]\nlayer \"y\" = frobnicate(\"x\") {} -> \"y\" : "
      "f32[2]\n";
  auto a = parse_network(bad_op);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("line 3"), std::string::npos) << a.status().message();
  EXPECT_NE(a.status().message().find("unknown op 'frobnicate'"), std::string::npos)
      << a.status().message();

  const char* bad_type =
      "kiln.network v1\ninput \"x\" : f32[2]\nlayer \"y\" = unary(\"x\") {op=relu, alpha=0, "
      "beta=0} -> \"y\" : f32[3]\n";
  auto b = parse_network(bad_type);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("declared f32[3] but inferred f32[2]"), std::string::npos)
      << b.status().message();

  const char* dangling =
      "kiln.network v1\nlayer \"y\" = unary(\"nope\") {op=relu} -> \"y\" : f32[3]\n";
  auto c = parse_network(dangling);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("unknown tensor \"nope\""), std::string::npos)
      << c.status().message();

  EXPECT_FALSE(parse_network("").ok());
  EXPECT_FALSE(parse_network("kiln.network v2\n").ok());
  EXPECT_FALSE(parse_network("kiln.network v1\ninput \"x : f32[2]\n").ok());
  EXPECT_FALSE(parse_network("kiln.network v1\ninput \"x\" : f32[99999999999999999999]\n").ok());
}

TEST(TextIr, ElidedConstantsNeedOptIn) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {100});
  auto w = testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {100}));
  ASSERT_TRUE(net.mark_output(*net.add_elementwise(*x, w, BinaryOp::kMul), "y").ok());
  std::string text = net.to_text();
  EXPECT_NE(text.find("<400 bytes>"), std::string::npos) << text;
  EXPECT_FALSE(parse_network(text).ok());
  ir::ParseOptions opt;
  opt.fill_elided_constants = true;
  EXPECT_TRUE(ir::parse_graph(text, opt).ok());
}

}  // namespace
}  // namespace kiln
