// Quantized convolution / linear on CUDA (cublaslt/quantized_gemm.cpp, kernels/quantized_layers.cu)
// against the CPU reference of the same fused network: the direct kernel and the cuBLASLt int8
// (IMMA) / float8 GEMM path (im2col for convolutions), with per-channel scales, negative zero
// points, saturation, residuals, uint8 inputs and groups (direct kernel only). Quantized outputs
// may differ by one step where float32 rounding tips (the GEMM sums in another order only for
// float8; int8 accumulates exactly). Quantized convolutions run channels-last on CUDA by default
// (the layout pass; then also as cuDNN int8 graphs, tactic 2000 + i); `layout` = NCHW keeps the
// channels-first kernels under test.
#include "backends/quantized_nets.h"
#include "gpu/gpu_test_util.h"

namespace kiln {
namespace {

using ir::OpKind;
using testing::QConvCase;

// The quantized layers' tactics in a plan.
std::vector<int64_t> quantized_tactics(const serial::PlanContents& contents) {
  std::vector<int64_t> t;
  for (const auto& k : contents.kernels)
    if (k.kernel == "cuda.quantized_gemm") t.push_back(k.tactic);  // tactics.h kQuantizedGemmKernel
  return t;
}

// Runs on cuda and on cpu (both with the fusion pass), compares, and checks the fusion happened
// (`num_quantized` quantized layers). Returns the quantized layers' tactics.
std::vector<int64_t> compare_case(const Network& net, const std::vector<HostTensor>& in,
                                  bool fp8 = false, int optimization_level = 3,
                                  LayoutChoice layout = LayoutChoice::kAuto,
                                  int num_quantized = 1) {
  BuilderConfig cfg = testing::int8_config(fp8);
  cfg.backend = "cuda";
  cfg.optimization_level = optimization_level;
  cfg.switches.layout = layout;
  auto contents = testing::build_contents(net, cfg);
  EXPECT_EQ(testing::count_ops(contents.graph, OpKind::kQuantizedConvolution) +
                testing::count_ops(contents.graph, OpKind::kQuantizedLinear),
            num_quantized);
  for (const auto& r : contents.precision_report)
    EXPECT_NE(r.precision, "float") << r.layer << ": " << r.reason;
  const std::vector<int64_t> tactics = quantized_tactics(contents);
  auto gpu = testing::run_on_cuda(net, in, cfg);
  EXPECT_TRUE(gpu.ok()) << gpu.status().to_string();
  BuilderConfig ccfg = testing::int8_config(fp8);
  auto cpu = testing::try_build_and_run(net, in, ccfg);
  EXPECT_TRUE(cpu.ok()) << cpu.status().to_string();
  if (!gpu.ok() || !cpu.ok()) return tactics;
  EXPECT_EQ(gpu->size(), cpu->size());
  for (size_t i = 0; i < gpu->size(); ++i) {
    const HostTensor &g = (*gpu)[i], &c = (*cpu)[i];
    if (is_floating(c.type.dtype)) {
      EXPECT_TRUE(testing::all_close(g, testing::to_doubles(c), 1e-4, 1e-4)) << "output " << i;
    } else {
      testing::expect_int8_close(g, c);
    }
  }
  return tactics;
}

std::vector<int64_t> conv_case(const QConvCase& c, int optimization_level = 3,
                               LayoutChoice layout = LayoutChoice::kAuto) {
  SCOPED_TRACE("seed " + std::to_string(testing::rng_seed()) + " cin " + std::to_string(c.cin) +
               " cout " + std::to_string(c.cout) + " groups " + std::to_string(c.groups));
  HostTensor w = testing::random_tensor(DataType::kInt8,
                                        {c.cout, c.cin / c.groups, c.kernel, c.kernel}, -127, 128);
  HostTensor ws = testing::random_tensor(DataType::kFloat32, {c.cout}, 0.002, 0.02);
  Network net = testing::qconv_net(c, w, ws, testing::random_tensor(DataType::kFloat32, {c.cout}));
  const bool u8 = c.x_dtype == DataType::kUInt8;
  std::vector<HostTensor> in{
      testing::random_tensor(c.x_dtype, {c.batch, c.cin, c.h, c.w}, u8 ? 0 : -128, u8 ? 256 : 128)};
  if (c.residual) in.push_back(testing::random_tensor(DataType::kFloat32, c.out_dims(), -2, 2));
  return compare_case(net, in, false, optimization_level, layout);
}

TEST(CudaQuantized, SmallConvDirectKernel) {
  KILN_REQUIRE_GPU();
  for (LayoutChoice layout : {LayoutChoice::kNCHW, LayoutChoice::kNHWC}) {
    EXPECT_EQ(conv_case(QConvCase{}, 1, layout), std::vector<int64_t>{0});  // level 1: direct
  }
}

TEST(CudaQuantized, ConvThroughTheInt8Gemm) {
  KILN_REQUIRE_GPU();
  // Big enough that the cuBLASLt path wins the timing (it is checked against the direct kernel at
  // build time either way).
  QConvCase c;
  c.batch = 8;
  c.cin = 64;
  c.cout = 64;
  c.h = c.w = 28;
  c.stride_w = 1;
  for (LayoutChoice layout : {LayoutChoice::kNCHW, LayoutChoice::kNHWC}) {
    SCOPED_TRACE(layout_choice_name(layout));
    QConvCase d = c;
    conv_case(d, 3, layout);
    d.out_scale = 0.004;  // saturates
    d.x_zp = 0;
    conv_case(d, 3, layout);
    d.kernel = 1;  // NHWC: the GEMM reads x itself (1x1, stride 1, no padding)
    d.pad = 0;
    conv_case(d, 3, layout);
  }
}

// ResNet-50's convolution shapes in int8 as a calibrated model has them (zero points 0, int8
// output of the full range, or a float output): cuDNN's int8 graph must be the fastest tactic.
TEST(CudaQuantized, ResNetConvsRunAsCudnnInt8Graphs) {
  KILN_REQUIRE_GPU();
  struct Shape {
    int64_t cin, cout, hw, kernel, stride, pad;
    bool residual, out_q;
  };
  for (const Shape& s :
       {Shape{64, 64, 56, 3, 1, 1, false, true}, Shape{64, 256, 56, 1, 1, 0, true, true},
        Shape{256, 128, 56, 1, 2, 0, false, true}, Shape{512, 512, 7, 3, 1, 1, false, false}}) {
    QConvCase c;
    c.batch = 16;
    c.cin = s.cin;
    c.cout = s.cout;
    c.h = c.w = s.hw;
    c.kernel = s.kernel;
    c.stride_h = c.stride_w = s.stride;
    c.pad = s.pad;
    c.x_zp = c.out_zp = 0;
    c.x_scale = 0.02;
    c.out_scale = 0.05;
    c.residual = s.residual;
    c.out_q = s.out_q;
    SCOPED_TRACE("cin " + std::to_string(s.cin) + " cout " + std::to_string(s.cout) + " k " +
                 std::to_string(s.kernel) + " stride " + std::to_string(s.stride));
    auto tactics = conv_case(c, 3, LayoutChoice::kNHWC);
    ASSERT_EQ(tactics.size(), 1u);
    EXPECT_GE(tactics[0], 2000) << "the cuDNN int8 graph was not chosen (tactic " << tactics[0]
                                << "; KILN_LOG_LEVEL=verbose gives the timings)";
  }
}

// Three quantized 3x3 convolutions in a row (int8 NHWC between them) with a residual.
TEST(CudaQuantized, ConvChainStaysInt8OnTheGpu) {
  KILN_REQUIRE_GPU();
  Network net = testing::qconv_chain_net(8, 64, 28, 3);
  auto tactics =
      compare_case(net, {testing::random_tensor(DataType::kFloat32, {8, 64, 28, 28}, -2, 2)}, false,
                   3, LayoutChoice::kNHWC, 3);
  EXPECT_EQ(tactics.size(), 3u);
}

TEST(CudaQuantized, ConvWithoutQuantizedOutputAndOddChannels) {
  KILN_REQUIRE_GPU();
  QConvCase c;
  c.batch = 4;
  c.cin = 3;
  c.cout = 20;
  c.h = c.w = 32;
  c.kernel = 7;
  c.pad = 3;
  c.stride_h = c.stride_w = 2;
  c.out_q = false;
  c.residual = false;
  conv_case(c);
}

TEST(CudaQuantized, GroupedAndUint8ConvRunDirect) {
  KILN_REQUIRE_GPU();
  QConvCase c;
  c.batch = 4;
  c.cin = c.cout = 32;
  c.groups = 32;  // depthwise
  c.h = c.w = 14;
  conv_case(c);
  c.groups = 1;
  c.x_dtype = DataType::kUInt8;
  c.x_zp = 120;
  conv_case(c);
}

TEST(CudaQuantized, LinearThroughTheInt8Gemm) {
  KILN_REQUIRE_GPU();
  for (int64_t k : {768, 100}) {  // x read directly (K % 16 == 0) / through the padded columns
    for (bool out_q : {true, false}) {
      SCOPED_TRACE("k " + std::to_string(k) + " out_q " + std::to_string(out_q));
      HostTensor w = testing::random_tensor(DataType::kInt8, {256, k}, -127, 128);
      HostTensor ws = testing::random_tensor(DataType::kFloat32, {256}, 0.0005, 0.002);
      Network net = testing::qlinear_net(512, k, 256, -9, out_q, w, ws,
                                         testing::random_tensor(DataType::kFloat32, {256}));
      compare_case(net, {testing::random_tensor(DataType::kInt8, {512, k}, -128, 128)});
    }
  }
}

TEST(CudaQuantized, Float8LinearAndInt8PoolChain) {
  KILN_REQUIRE_GPU();
  HostTensor bias = testing::random_tensor(DataType::kFloat32, {5});
  HostTensor w8(TensorType{DataType::kFloat8E4M3, {5, 36}});
  for (auto& b : w8.bytes) b = static_cast<uint8_t>(testing::rng()() & 0xB7u);
  std::vector<HostTensor> in{testing::random_tensor(DataType::kFloat32, {64, 4, 6, 6}, -3, 3)};
  compare_case(
      testing::qpool_linear_net(64, w8, testing::make_tensor(DataType::kFloat32, {}, {0.01}), bias,
                                DataType::kFloat8E4M3),
      in, true);
  HostTensor wi = testing::random_tensor(DataType::kInt8, {5, 36}, -127, 128);
  compare_case(testing::qpool_linear_net(
                   64, wi, testing::random_tensor(DataType::kFloat32, {5}, 0.002, 0.02), bias,
                   DataType::kInt8),
               in);
}

}  // namespace
}  // namespace kiln
