// Quantize / dequantize layers and the float8 e4m3 type: hand-computed values, the float8 grid
// (every code decodes to its value by the format's definition and encodes back; midpoints round to
// even), round-trip error bounds on fresh random data, per-channel scales with dynamic dims, and
// the errors bad parameters get.
#include <algorithm>
#include <cmath>

#include "test_util.h"

namespace kiln {
namespace {

using testing::all_close;
using testing::build_and_run;
using testing::make_tensor;
using testing::random_tensor;
using testing::to_doubles;

// The float8 e4m3fn value of a code by the format's definition (OCP FP8: bias 7, no infinities,
// S.1111.111 is NaN).
double fp8_value(int code) {
  int sign = code >> 7, e = (code >> 3) & 15, m = code & 7;
  if (e == 15 && m == 7) return NAN;
  double mag = e == 0 ? m / 8.0 * std::ldexp(1.0, -6) : (1 + m / 8.0) * std::ldexp(1.0, e - 7);
  return sign ? -mag : mag;
}

TEST(Float8, EveryCodeDecodesToItsValueAndEncodesBack) {
  for (int c = 0; c < 256; ++c) {
    double want = fp8_value(c);
    float got = fp8e4m3_to_float(static_cast<uint8_t>(c));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << c;
      EXPECT_EQ(float_to_fp8e4m3(got) & 0x7f, 0x7f) << c;
      continue;
    }
    EXPECT_EQ(static_cast<double>(got), want) << "code " << c;
    EXPECT_EQ(float_to_fp8e4m3(got), c) << "code " << c;
  }
  EXPECT_EQ(fp8e4m3_to_float(0x7e), 448.0f);
  EXPECT_EQ(fp8e4m3_to_float(0x38), 1.0f);
  EXPECT_EQ(fp8e4m3_to_float(0x01), std::ldexp(1.0f, -9));
}

TEST(Float8, MidpointsRoundToEvenAndOverflowIsNaN) {
  // Between each pair of neighbouring positive codes, the midpoint goes to the even code and
  // anything off the midpoint to the nearer one.
  for (int c = 0; c < 0x7e; ++c) {
    double lo = fp8_value(c), hi = fp8_value(c + 1), mid = (lo + hi) / 2;
    int even = (c % 2 == 0) ? c : c + 1;
    EXPECT_EQ(float_to_fp8e4m3(static_cast<float>(mid)), even) << "between " << c;
    EXPECT_EQ(float_to_fp8e4m3(static_cast<float>(mid - (hi - lo) / 8)), c);
    EXPECT_EQ(float_to_fp8e4m3(static_cast<float>(-(mid + (hi - lo) / 8))), (c + 1) | 0x80);
  }
  EXPECT_EQ(float_to_fp8e4m3(464.0f), 0x7e);  // the midpoint to the (absent) 480 rounds to even
  EXPECT_EQ(float_to_fp8e4m3(465.0f), 0x7f);
  EXPECT_EQ(float_to_fp8e4m3(-1e9f), 0xff);
  EXPECT_EQ(float_to_fp8e4m3(INFINITY), 0x7f);
  EXPECT_EQ(float_to_fp8e4m3(-0.0f), 0x80);
}

Network quant_net(DataType xt, const Dims& xd, const HostTensor& scale, const HostTensor* zp,
                  const QuantizeParams& qp, bool dequantize_too) {
  Network net;
  auto x = net.add_input("x", xt, xd);
  Tensor s = testing::add_constant(net, scale);
  Tensor z = zp != nullptr ? testing::add_constant(net, *zp) : Tensor{};
  auto q = net.add_quantize(*x, s, z, qp);
  EXPECT_TRUE(q.ok()) << q.status().to_string();
  if (!q) return net;
  EXPECT_TRUE(net.mark_output(*q, "q").ok());
  if (dequantize_too) {
    DequantizeParams dp;
    dp.to = xt;
    dp.axis = qp.axis;
    auto d = net.add_dequantize(*q, s, z, dp);
    EXPECT_TRUE(d.ok()) << d.status().to_string();
    if (d) EXPECT_TRUE(net.mark_output(*d, "dq").ok());
  }
  return net;
}

TEST(Quantize, HandComputedPerTensorInt8) {
  // scale 0.5, zero point 3: x / 0.5 rounds half to even, then + 3, clamped to [-128, 127].
  auto x = make_tensor(DataType::kFloat32, {8}, {1.25, 0.75, -0.25, 0.0, -100, 100, 1.2, -1.3});
  auto scale = make_tensor(DataType::kFloat32, {}, {0.5});
  auto zp = make_tensor(DataType::kInt32, {}, {3});
  QuantizeParams qp;
  Network net = quant_net(DataType::kFloat32, {8}, scale, &zp, qp, true);
  auto outs = build_and_run(net, {x});
  ASSERT_EQ(outs.size(), 2u);
  ASSERT_TRUE(testing::has_type(outs[0], DataType::kInt8, {8}));
  EXPECT_TRUE(all_close(outs[0], {5, 5, 3, 3, -128, 127, 5, 0}, 0, 0));
  EXPECT_TRUE(all_close(outs[1], {1.0, 1.0, 0.0, 0.0, -65.5, 62.0, 1.0, -1.5}, 0, 0));
}

TEST(Quantize, PerChannelUInt8RoundTripWithinHalfAStepAndDynamicBatch) {
  const int64_t c = 5;
  auto scale = random_tensor(DataType::kFloat32, {c}, 0.01, 0.05);
  auto zp = random_tensor(DataType::kInt64, {c}, 100, 150);
  QuantizeParams qp;
  qp.to = DataType::kUInt8;
  qp.axis = 1;
  qp.quant_min = 0;
  qp.quant_max = 255;
  for (DataType xt : testing::kFloatTypes) {
    SCOPED_TRACE(std::string(dtype_name(xt)));
    Network net = quant_net(xt, {kDynamic, c, 3}, scale, &zp, qp, true);
    for (int64_t batch : {1, 4}) {
      auto x = random_tensor(xt, {batch, c, 3}, -2.0, 2.0);
      BuilderConfig cfg;
      cfg.profiles.push_back(OptimizationProfile().set("x", {1, c, 3}, {2, c, 3}, {8, c, 3}));
      auto outs = build_and_run(net, {x}, cfg);
      ASSERT_EQ(outs.size(), 2u);
      auto xs = to_doubles(x), qs = to_doubles(outs[0]), ds = to_doubles(outs[1]);
      for (size_t i = 0; i < xs.size(); ++i) {
        size_t ch = (i / 3) % c;
        double s = testing::at(scale, static_cast<int64_t>(ch));
        double z = testing::at(zp, static_cast<int64_t>(ch));
        double want_q = std::clamp(std::nearbyint(xs[i] / s) + z, 0.0, 255.0);
        EXPECT_NEAR(qs[i], want_q, 1.0) << i;  // x * (1/s) vs x / s may differ at a tie
        if (want_q > 0 && want_q < 255) {      // inside the range: within half a step
          EXPECT_LE(std::fabs(ds[i] - xs[i]), s * 0.5 * (1 + 1e-3) + std::fabs(xs[i]) * 1e-2) << i;
        }
      }
    }
  }
}

TEST(Quantize, Float8RoundTripRelativeErrorAndSaturation) {
  auto scale = make_tensor(DataType::kFloat32, {}, {0.01});
  QuantizeParams qp;
  qp.to = DataType::kFloat8E4M3;
  qp.quant_min = -448;
  qp.quant_max = 448;
  Network net = quant_net(DataType::kFloat32, {64}, scale, nullptr, qp, true);
  auto x = random_tensor(DataType::kFloat32, {64}, -4.0, 4.0);
  std::vector<double> xs = to_doubles(x);
  xs[0] = 10.0;  // 1000 after scaling: saturates at 448
  xs[1] = -7.0;
  auto xt = make_tensor(DataType::kFloat32, {64}, xs);
  auto outs = build_and_run(net, {xt});
  ASSERT_EQ(outs.size(), 2u);
  ASSERT_TRUE(testing::has_type(outs[0], DataType::kFloat8E4M3, {64}));
  auto ds = to_doubles(outs[1]);
  EXPECT_NEAR(ds[0], 4.48, 1e-6);
  EXPECT_NEAR(ds[1], -4.48, 1e-6);
  for (size_t i = 2; i < xs.size(); ++i) {
    double scaled = std::fabs(xs[i]) / 0.01;
    double bound =
        scaled >= std::ldexp(1.0, -6) ? std::fabs(xs[i]) / 16 : 0.01 * std::ldexp(1, -10);
    EXPECT_LE(std::fabs(ds[i] - xs[i]), bound * (1 + 1e-5)) << xs[i];
  }
}

TEST(Quantize, BadParametersAreRefusedWithTheReason) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {2, 3});
  Tensor s3 = testing::add_constant(net, make_tensor(DataType::kFloat32, {4}, {1, 1, 1, 1}));
  QuantizeParams qp;
  qp.axis = 1;
  auto q = net.add_quantize(*x, s3, {}, qp);
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("per-channel scale has 4 elements but axis 1"),
            std::string::npos)
      << q.status().to_string();

  Tensor s1 = testing::add_constant(net, make_tensor(DataType::kFloat32, {}, {0.1}));
  Tensor z1 = testing::add_constant(net, make_tensor(DataType::kInt32, {}, {0}));
  QuantizeParams f8;
  f8.to = DataType::kFloat8E4M3;
  f8.quant_min = -448;
  f8.quant_max = 448;
  auto q8 = net.add_quantize(*x, s1, z1, f8);
  ASSERT_FALSE(q8.ok());
  EXPECT_NE(q8.status().message().find("no zero point"), std::string::npos);

  QuantizeParams wide;
  wide.quant_max = 300;
  auto qw = net.add_quantize(*x, s1, {}, wide);
  ASSERT_FALSE(qw.ok());
  EXPECT_NE(qw.status().message().find("does not fit i8"), std::string::npos);

  Tensor s16 = testing::add_constant(net, make_tensor(DataType::kFloat16, {}, {0.1}));
  auto qh = net.add_quantize(*x, s16, {}, QuantizeParams{});
  ASSERT_FALSE(qh.ok());
  EXPECT_NE(qh.status().message().find("scale must be f32"), std::string::npos);

  DequantizeParams dp;
  dp.to = DataType::kInt32;
  auto d = net.add_dequantize(*x, s1, {}, dp);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("dequantize input must be"), std::string::npos);
}

}  // namespace
}  // namespace kiln
