// Quantized convolution / linear on CUDA (cublaslt/quantized_gemm.cpp, kernels/quantized_layers.cu)
// against the CPU reference of the same fused network: the direct kernel and the cuBLASLt int8
// (IMMA) / float8 GEMM path (im2col for convolutions), with per-channel scales, negative zero
// points, saturation, residuals, uint8 inputs and groups (direct kernel only). Quantized outputs
// may differ by one step where float32 rounding tips (the GEMM sums in another order only for
// float8; int8 accumulates exactly).
#include "backends/quantized_nets.h"
#include "gpu/gpu_test_util.h"

namespace kiln {
namespace {

using ir::OpKind;
using testing::QConvCase;

// Runs on cuda and on cpu (both with the fusion pass), compares, and checks the fusion happened.
void compare_case(const Network& net, const std::vector<HostTensor>& in, bool fp8 = false,
                  int optimization_level = 3) {
  BuilderConfig cfg = testing::int8_config(fp8);
  cfg.backend = "cuda";
  cfg.optimization_level = optimization_level;
  auto contents = testing::build_contents(net, cfg);
  EXPECT_EQ(testing::count_ops(contents.graph, OpKind::kQuantizedConvolution) +
                testing::count_ops(contents.graph, OpKind::kQuantizedLinear),
            1);
  for (const auto& r : contents.precision_report)
    EXPECT_NE(r.precision, "float") << r.layer << ": " << r.reason;
  auto gpu = testing::run_on_cuda(net, in, cfg);
  ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
  BuilderConfig ccfg = testing::int8_config(fp8);
  auto cpu = testing::try_build_and_run(net, in, ccfg);
  ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
  ASSERT_EQ(gpu->size(), cpu->size());
  for (size_t i = 0; i < gpu->size(); ++i) {
    const HostTensor &g = (*gpu)[i], &c = (*cpu)[i];
    if (is_floating(c.type.dtype)) {
      EXPECT_TRUE(testing::all_close(g, testing::to_doubles(c), 1e-4, 1e-4)) << "output " << i;
    } else {
      testing::expect_int8_close(g, c);
    }
  }
}

void conv_case(const QConvCase& c, int optimization_level = 3) {
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
  compare_case(net, in, false, optimization_level);
}

TEST(CudaQuantized, SmallConvDirectKernel) {
  KILN_REQUIRE_GPU();
  conv_case(QConvCase{}, 1);  // level 1: no tuning, the direct kernel
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
  conv_case(c);
  c.out_scale = 0.004;  // saturates
  c.x_zp = 0;
  conv_case(c);
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
