// fuse_quantized_layers: DQ -> conv / linear -> (bias, residual, activation) -> Q becomes one
// quantized layer whose results match the unfused network (the CPU reference of quantize,
// dequantize, convolution, ... layer by layer, which computes what PyTorch does) to the element,
// except where the float32 summation order of the unfused convolution tips a value over a rounding
// boundary (one step, rarely). Random int8 data, per-channel scales, negative zero points,
// saturation at both ends, float8; Q/DQ commuting through max pooling and reshapes; near misses
// that must stay float, with the reasons in the precision report.
#include "backends/quantized_nets.h"

namespace kiln {
namespace {

using ir::OpKind;
using testing::int8_config;
using testing::QConvCase;
using testing::unfused_config;

void run_conv_case(const QConvCase& c, bool want_fused) {
  SCOPED_TRACE("seed " + std::to_string(testing::rng_seed()));
  HostTensor w = testing::random_tensor(DataType::kInt8,
                                        {c.cout, c.cin / c.groups, c.kernel, c.kernel}, -127, 128);
  HostTensor ws = testing::random_tensor(DataType::kFloat32, {c.cout}, 0.002, 0.02);
  HostTensor bias = testing::random_tensor(DataType::kFloat32, {c.cout});
  Network net = testing::qconv_net(c, w, ws, bias);
  auto contents = testing::build_contents(net, int8_config());
  EXPECT_EQ(testing::count_ops(contents.graph, OpKind::kQuantizedConvolution), want_fused ? 1 : 0);
  ASSERT_EQ(contents.precision_report.size(), 1u);
  EXPECT_EQ(contents.precision_report[0].precision, want_fused ? "int8" : "float")
      << contents.precision_report[0].reason;
  const bool u8 = c.x_dtype == DataType::kUInt8;
  std::vector<HostTensor> in{
      testing::random_tensor(c.x_dtype, {c.batch, c.cin, c.h, c.w}, u8 ? 0 : -128, u8 ? 256 : 128)};
  if (c.residual) in.push_back(testing::random_tensor(DataType::kFloat32, c.out_dims(), -2, 2));
  auto got = testing::build_and_run(net, in, int8_config());
  auto want = testing::build_and_run(net, in, unfused_config());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (is_floating(want[i].type.dtype)) {
      EXPECT_TRUE(testing::all_close(got[i], testing::to_doubles(want[i]), 1e-5, 1e-5));
    } else {
      testing::expect_int8_close(got[i], want[i]);
    }
  }
  if (c.out_q && c.out_scale < 0.01) {  // the case saturates: both ends of the range appear
    bool hi = false, lo = false;
    for (int64_t i = 0; i < want[0].numel(); ++i) {
      hi |= testing::at(want[0], i) == 127;
      lo |= testing::at(want[0], i) == (c.relu ? c.out_zp : -128);
    }
    EXPECT_TRUE(hi && lo);
  }
}

TEST(FuseQuantizedLayers, ConvBiasResidualReluQuantize) { run_conv_case(QConvCase{}, true); }

TEST(FuseQuantizedLayers, SaturatesAtBothEnds) {
  QConvCase c;
  c.out_scale = 0.004;
  c.relu = false;
  run_conv_case(c, true);
  c.relu = true;
  run_conv_case(c, true);
}

TEST(FuseQuantizedLayers, BatchNormFoldsIntoTheEpilogue) {
  QConvCase c;
  c.batch_norm = true;  // gamma of both signs: negative per-channel scales after folding
  run_conv_case(c, true);
  c.residual = false;
  c.out_q = false;
  run_conv_case(c, true);
}

TEST(FuseQuantizedLayers, GroupedConvUint8InputFloatOutput) {
  QConvCase c;
  c.groups = 2;
  c.out_q = false;
  c.x_dtype = DataType::kUInt8;
  c.x_zp = 131;
  run_conv_case(c, true);
}

TEST(FuseQuantizedLayers, ConvOutputReadTwiceKeepsItsQuantizeSeparate) {
  QConvCase c;
  c.second_reader = true;
  c.residual = false;
  c.relu = false;
  // The convolution fuses (DQ x, DQ w, bias) with a float output; the Q stays its own layer.
  run_conv_case(c, true);
}

TEST(FuseQuantizedLayers, WithoutInt8PrecisionNothingFuses) {
  QConvCase c;
  Network net =
      testing::qconv_net(c, testing::random_tensor(DataType::kInt8, {6, 4, 3, 3}, -127, 128),
                         testing::random_tensor(DataType::kFloat32, {6}, 0.01, 0.02),
                         testing::random_tensor(DataType::kFloat32, {6}));
  auto contents = testing::build_contents(net);
  EXPECT_EQ(testing::count_ops(contents.graph, OpKind::kQuantizedConvolution), 0);
  ASSERT_EQ(contents.precision_report.size(), 1u);
  EXPECT_NE(contents.precision_report[0].reason.find("int8 precision is not enabled"),
            std::string::npos);
}

TEST(FuseQuantizedLayers, LinearGeluQuantizeAndFloatOutput) {
  for (bool out_q : {true, false}) {
    HostTensor w = testing::random_tensor(DataType::kInt8, {12, 40}, -127, 128);
    HostTensor ws = testing::random_tensor(DataType::kFloat32, {12}, 0.002, 0.02);
    Network net = testing::qlinear_net(5, 40, 12, -20, out_q, w, ws,
                                       testing::random_tensor(DataType::kFloat32, {12}));
    auto contents = testing::build_contents(net, int8_config());
    EXPECT_EQ(testing::count_ops(contents.graph, OpKind::kQuantizedLinear), 1);
    EXPECT_EQ(testing::count_ops(contents.graph, OpKind::kQuantize), 0);
    std::vector<HostTensor> in{testing::random_tensor(DataType::kInt8, {5, 40}, -128, 128)};
    auto got = testing::build_and_run(net, in, int8_config());
    auto want = testing::build_and_run(net, in, unfused_config());
    if (out_q) {
      testing::expect_int8_close(got[0], want[0]);
    } else {
      EXPECT_TRUE(testing::all_close(got[0], testing::to_doubles(want[0]), 1e-5, 1e-5));
    }
  }
}

TEST(FuseQuantizedLayers, QdqCommuteThroughPoolingAndReshapeAndCancel) {
  HostTensor w = testing::random_tensor(DataType::kInt8, {5, 36}, -127, 128);
  HostTensor ws = testing::random_tensor(DataType::kFloat32, {5}, 0.002, 0.02);
  Network net = testing::qpool_linear_net(3, w, ws, testing::random_tensor(DataType::kFloat32, {5}),
                                          DataType::kInt8);
  auto contents = testing::build_contents(net, int8_config());
  const ir::Graph& g = contents.graph;
  EXPECT_EQ(testing::count_ops(g, OpKind::kQuantizedLinear), 1);
  EXPECT_EQ(testing::count_ops(g, OpKind::kDequantize), 0);  // all moved into the linear
  EXPECT_EQ(testing::count_ops(g, OpKind::kQuantize), 1);    // the input's
  for (const auto& l : g.layers)
    if (l.op == OpKind::kPooling)
      EXPECT_EQ(g.tensors[static_cast<size_t>(l.inputs[0])].type.dtype, DataType::kInt8);
  std::vector<HostTensor> in{testing::random_tensor(DataType::kFloat32, {3, 4, 6, 6}, -3, 3)};
  auto got = testing::build_and_run(net, in, int8_config());
  auto want = testing::build_and_run(net, in, unfused_config());
  EXPECT_TRUE(testing::all_close(got[0], testing::to_doubles(want[0]), 1e-5, 1e-5));
}

TEST(FuseQuantizedLayers, Float8Linear) {
  // float8 weights: random codes with exponents below 8 (finite).
  HostTensor w(TensorType{DataType::kFloat8E4M3, {5, 36}});
  for (auto& b : w.bytes) b = static_cast<uint8_t>(testing::rng()() & 0xB7u);
  HostTensor ws = testing::make_tensor(DataType::kFloat32, {}, {0.01});
  Network net = testing::qpool_linear_net(3, w, ws, testing::random_tensor(DataType::kFloat32, {5}),
                                          DataType::kFloat8E4M3);
  auto contents = testing::build_contents(net, int8_config(true));
  EXPECT_EQ(testing::count_ops(contents.graph, OpKind::kQuantizedLinear), 1);
  ASSERT_EQ(contents.precision_report.size(), 1u);
  EXPECT_EQ(contents.precision_report[0].precision, "fp8");
  std::vector<HostTensor> in{testing::random_tensor(DataType::kFloat32, {3, 4, 6, 6}, -3, 3)};
  auto got = testing::build_and_run(net, in, int8_config(true));
  auto want = testing::build_and_run(net, in, unfused_config(true));
  EXPECT_TRUE(testing::all_close(got[0], testing::to_doubles(want[0]), 1e-5, 1e-4));
}

TEST(FuseQuantizedLayers, NonzeroWeightZeroPointStaysFloat) {
  Network net;
  auto x = net.add_input("x", DataType::kInt8, {2, 8});
  DequantizeParams dp;
  auto s = testing::add_constant(net, testing::make_tensor(DataType::kFloat32, {}, {0.1}));
  auto xd = net.add_dequantize(*x, s, {}, dp);
  auto wd = net.add_dequantize(
      testing::add_constant(net, testing::random_tensor(DataType::kInt8, {3, 8}, -127, 128)), s,
      testing::add_constant(net, testing::make_tensor(DataType::kInt32, {}, {4})), dp);
  EXPECT_TRUE(net.mark_output(*net.add_linear(*xd, *wd, {}), "y").ok());
  auto contents = testing::build_contents(net, int8_config());
  EXPECT_EQ(testing::count_ops(contents.graph, OpKind::kQuantizedLinear), 0);
  ASSERT_EQ(contents.precision_report.size(), 1u);
  EXPECT_NE(contents.precision_report[0].reason.find("nonzero zero point"), std::string::npos)
      << contents.precision_report[0].reason;
}

}  // namespace
}  // namespace kiln
