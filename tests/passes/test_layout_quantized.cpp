// layout_channels_last on quantized convolutions (switches.layout_any_backend runs it on the CPU
// reference): a quantized_convolution becomes its channels-last form (x NHWC, w KRSC, residual
// NHWC) and computes what the channels-first layer computes, to the element (both accumulate
// exactly; the epilogue is the same float32 sequence); per-tensor Q/DQ let the transposes through,
// so consecutive quantized convolutions read each other's int8 NHWC output directly.
#include "backends/quantized_nets.h"
#include "ir/analysis.h"

namespace kiln {
namespace {

using ir::OpKind;
using testing::int8_config;
using testing::QConvCase;

BuilderConfig nhwc_config() {
  BuilderConfig cfg = int8_config();
  cfg.switches.layout_any_backend = true;
  return cfg;
}

const ir::Layer* only_quantized_conv(const ir::Graph& g) {
  const ir::Layer* found = nullptr;
  for (const auto& l : g.layers)
    if (l.op == OpKind::kQuantizedConvolution) found = &l;
  return found;
}

void expect_equal(const HostTensor& got, const HostTensor& want) {
  ASSERT_EQ(got.type, want.type);
  EXPECT_EQ(got.bytes, want.bytes);
}

void run_case(const QConvCase& c) {
  SCOPED_TRACE("seed " + std::to_string(testing::rng_seed()) + " groups " +
               std::to_string(c.groups));
  HostTensor w = testing::random_tensor(DataType::kInt8,
                                        {c.cout, c.cin / c.groups, c.kernel, c.kernel}, -127, 128);
  HostTensor ws = testing::random_tensor(DataType::kFloat32, {c.cout}, 0.002, 0.02);
  Network net = testing::qconv_net(c, w, ws, testing::random_tensor(DataType::kFloat32, {c.cout}));
  auto contents = testing::build_contents(net, nhwc_config());
  EXPECT_TRUE(contents.channels_last_applied);
  const ir::Layer* q = only_quantized_conv(contents.graph);
  ASSERT_NE(q, nullptr);
  EXPECT_TRUE(std::get<QuantizedConvolutionParams>(q->params).channels_last);
  const bool u8 = c.x_dtype == DataType::kUInt8;
  std::vector<HostTensor> in{
      testing::random_tensor(c.x_dtype, {c.batch, c.cin, c.h, c.w}, u8 ? 0 : -128, u8 ? 256 : 128)};
  if (c.residual) in.push_back(testing::random_tensor(DataType::kFloat32, c.out_dims(), -2, 2));
  auto got = testing::build_and_run(net, in, nhwc_config());
  auto want = testing::build_and_run(net, in, int8_config());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) expect_equal(got[i], want[i]);
  // And within a step of the unfused Q/DQ network (the independent reference).
  auto ref = testing::build_and_run(net, in, testing::unfused_config());
  if (!is_floating(ref[0].type.dtype)) testing::expect_int8_close(got[0], ref[0]);
}

TEST(LayoutQuantized, ConvResidualReluQuantizeRunsChannelsLast) { run_case(QConvCase{}); }

TEST(LayoutQuantized, GroupedUint8FloatOutputAndBatchNorm) {
  QConvCase c;
  c.cin = 6;
  c.cout = 9;
  c.groups = 3;
  c.x_dtype = DataType::kUInt8;
  c.x_zp = 130;
  c.out_q = false;
  c.batch_norm = true;
  c.residual = false;
  run_case(c);
  c = QConvCase{};
  c.kernel = 1;
  c.pad = 0;
  c.stride_h = 2;
  c.out_scale = 0.004;  // saturates
  run_case(c);
}

// The producer of tensor t, seen through nothing: a layer id or -1.
int32_t producer(const ir::Graph& g, int32_t t) {
  return g.tensors[static_cast<size_t>(t)].producer;
}

TEST(LayoutQuantized, ConsecutiveQuantizedConvsReadEachOthersInt8Nhwc) {
  SCOPED_TRACE("seed " + std::to_string(testing::rng_seed()));
  Network net = testing::qconv_chain_net(2, 8, 9, 3);
  auto contents = testing::build_contents(net, nhwc_config());
  const ir::Graph& g = contents.graph;
  std::vector<const ir::Layer*> convs;
  for (const auto& l : g.layers)
    if (l.op == OpKind::kQuantizedConvolution) convs.push_back(&l);
  ASSERT_EQ(convs.size(), 3u);
  for (size_t i = 1; i < convs.size(); ++i) {
    const int32_t p = producer(g, convs[i]->inputs[0]);
    ASSERT_GE(p, 0);
    EXPECT_EQ(&g.layers[static_cast<size_t>(p)], convs[i - 1])
        << "quantized conv " << i << " reads " << ir::op_name(g.layers[static_cast<size_t>(p)].op);
    EXPECT_EQ(g.tensors[static_cast<size_t>(convs[i]->inputs[0])].type.dtype, DataType::kInt8);
  }
  // Transposes: the first conv's int8 input, the residual (float, read by the last conv) and the
  // int8 output back to NCHW; no dequantize but the residual's, no quantize but the input's.
  EXPECT_EQ(testing::count_ops(g, OpKind::kTranspose), 3);
  EXPECT_EQ(testing::count_ops(g, OpKind::kDequantize), 1);
  EXPECT_EQ(testing::count_ops(g, OpKind::kQuantize), 1);
  auto x = testing::random_tensor(DataType::kFloat32, {2, 8, 9, 9}, -2, 2);
  auto got = testing::build_and_run(net, {x}, nhwc_config());
  auto want = testing::build_and_run(net, {x}, testing::unfused_config());
  testing::expect_int8_close(got[0], want[0]);
}

// A float NHWC tensor quantized for the next convolution: conv1's relu output is also a network
// output, so its quantize stays a layer; the transposes move below it, and conv2 reads the
// quantize's NHWC int8 output.
TEST(LayoutQuantized, QuantizeOfAFloatNhwcTensorRunsNhwc) {
  SCOPED_TRACE("seed " + std::to_string(testing::rng_seed()));
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {2, 8, 7, 7});
  auto s = testing::add_constant(net, testing::make_tensor(DataType::kFloat32, {}, {0.03}));
  auto qdq = [&](Tensor t) {
    return *net.add_dequantize(*net.add_quantize(t, s, {}, QuantizeParams{}), s, {},
                               DequantizeParams{});
  };
  ConvolutionParams p;
  p.strides = p.dilations = {1, 1};
  p.pads_begin = p.pads_end = {1, 1};
  auto conv = [&](Tensor in) {
    DequantizeParams wp;
    wp.axis = 0;
    auto w = testing::add_constant(
        net, testing::random_tensor(DataType::kInt8, {8, 8, 3, 3}, -127, 128));
    auto ws =
        testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {8}, 0.002, 0.01));
    auto b = testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {8}));
    return *net.add_convolution(in, *net.add_dequantize(w, ws, {}, wp), b, p);
  };
  Tensor r = *net.add_unary(conv(qdq(*x)), UnaryOp::kRelu);
  ASSERT_TRUE(net.mark_output(r, "side").ok());
  ASSERT_TRUE(
      net.mark_output(*net.add_quantize(conv(qdq(r)), s, {}, QuantizeParams{}), "out").ok());
  auto contents = testing::build_contents(net, nhwc_config());
  const ir::Graph& g = contents.graph;
  std::vector<const ir::Layer*> convs;
  for (const auto& l : g.layers)
    if (l.op == OpKind::kQuantizedConvolution) convs.push_back(&l);
  ASSERT_EQ(convs.size(), 2u);
  const int32_t q = producer(g, convs[1]->inputs[0]);
  ASSERT_GE(q, 0);
  const ir::Layer& ql = g.layers[static_cast<size_t>(q)];
  EXPECT_EQ(ql.op, OpKind::kQuantize);
  const int32_t before_q = producer(g, ql.inputs[0]);
  ASSERT_GE(before_q, 0);
  EXPECT_EQ(&g.layers[static_cast<size_t>(before_q)], convs[0]);
  // x's int8 to NHWC, "side" and "out" back to NCHW.
  EXPECT_EQ(testing::count_ops(g, OpKind::kTranspose), 3);
  auto in = testing::random_tensor(DataType::kFloat32, {2, 8, 7, 7}, -2, 2);
  auto got = testing::build_and_run(net, {in}, nhwc_config());
  auto want = testing::build_and_run(net, {in}, int8_config());
  ASSERT_EQ(got.size(), 2u);
  for (size_t i = 0; i < got.size(); ++i) expect_equal(got[i], want[i]);
}

}  // namespace
}  // namespace kiln
