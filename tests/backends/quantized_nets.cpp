// Networks with explicit quantize/dequantize (quantized_nets.h).
#include "backends/quantized_nets.h"

#include <cmath>

namespace kiln::testing {
namespace {

Tensor scalar(Network& net, DataType dt, double v) {
  return add_constant(net, make_tensor(dt, {}, {v}));
}

}  // namespace

BuilderConfig int8_config(bool fp8) {
  BuilderConfig cfg;
  cfg.enabled_precisions = {Precision::kFP32, fp8 ? Precision::kFP8 : Precision::kINT8};
  return cfg;
}

BuilderConfig unfused_config(bool fp8) {
  BuilderConfig cfg = int8_config(fp8);
  cfg.switches.disabled_passes = {"fuse_quantized_layers"};
  return cfg;
}

Dims QConvCase::out_dims() const {
  return {batch, cout, (h + 2 * pad - kernel) / stride_h + 1,
          (w + 2 * pad - kernel) / stride_w + 1};
}

Network qconv_net(const QConvCase& c, const HostTensor& w, const HostTensor& w_scale,
                  const HostTensor& bias) {
  Network net;
  auto x = net.add_input("x", c.x_dtype, {c.batch, c.cin, c.h, c.w});
  DequantizeParams dp;
  auto xd = net.add_dequantize(*x, scalar(net, DataType::kFloat32, c.x_scale),
                               scalar(net, DataType::kInt32, static_cast<double>(c.x_zp)), dp);
  dp.axis = 0;
  auto wd = net.add_dequantize(add_constant(net, w), add_constant(net, w_scale), {}, dp);
  ConvolutionParams p;
  p.strides = {c.stride_h, c.stride_w};
  p.pads_begin = p.pads_end = {c.pad, c.pad};
  p.dilations = {1, 1};
  p.groups = c.groups;
  auto y = net.add_convolution(*xd, *wd, add_constant(net, bias), p);
  Tensor out = *y;
  if (c.batch_norm) {
    auto stat = [&](double lo, double hi) {
      return add_constant(net, random_tensor(DataType::kFloat32, {c.cout}, lo, hi));
    };
    out = *net.add_batch_norm(out, stat(-0.5, 0.5), stat(0.5, 2.0), stat(-2.0, 2.0), stat(-1, 1),
                              BatchNormParams{});
  }
  if (c.residual) {
    auto r = net.add_input("r", DataType::kFloat32, c.out_dims());
    out = *net.add_elementwise(out, *r, BinaryOp::kAdd);
  }
  if (c.relu) out = *net.add_unary(out, UnaryOp::kRelu);
  if (c.second_reader) EXPECT_TRUE(net.mark_output(*net.add_unary(*y, UnaryOp::kAbs), "y2").ok());
  if (c.out_q) {
    QuantizeParams qp;
    out = *net.add_quantize(out, scalar(net, DataType::kFloat32, c.out_scale),
                            scalar(net, DataType::kInt64, static_cast<double>(c.out_zp)), qp);
  }
  EXPECT_TRUE(net.mark_output(out, "out").ok());
  return net;
}

Network qpool_linear_net(int64_t n, const HostTensor& w, const HostTensor& w_scale,
                         const HostTensor& bias, DataType storage) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {n, 4, 6, 6});
  const bool fp8 = storage == DataType::kFloat8E4M3;
  QuantizeParams qp;
  qp.to = storage;
  if (fp8) {
    qp.quant_min = -448;
    qp.quant_max = 448;
  }
  DequantizeParams dp;
  auto s = scalar(net, DataType::kFloat32, fp8 ? 0.01 : 0.03);
  Tensor zp = fp8 ? Tensor{} : scalar(net, DataType::kInt32, -11);
  auto xd = net.add_dequantize(*net.add_quantize(*x, s, zp, qp), s, zp, dp);
  PoolingParams pp;
  pp.kernel = pp.strides = {2, 2};
  pp.pads_begin = pp.pads_end = {0, 0};
  pp.dilations = {1, 1};
  auto pool = net.add_pooling(*xd, pp);
  auto pd = net.add_dequantize(*net.add_quantize(*pool, s, zp, qp), s, zp, dp);
  auto flat = net.add_reshape(*pd, {n, 36});
  dp.axis = 0;
  auto wd = net.add_dequantize(add_constant(net, w), add_constant(net, w_scale), {}, dp);
  auto y = net.add_linear(*flat, *wd, add_constant(net, bias));
  EXPECT_TRUE(net.mark_output(*y, "y").ok());
  return net;
}

Network qlinear_net(int64_t m, int64_t k, int64_t n, int64_t x_zp, bool out_q, const HostTensor& w,
                    const HostTensor& w_scale, const HostTensor& bias) {
  Network net;
  auto x = net.add_input("x", DataType::kInt8, {m, k});
  DequantizeParams dp;
  auto xd = net.add_dequantize(*x, scalar(net, DataType::kFloat32, 0.02),
                               scalar(net, DataType::kInt32, static_cast<double>(x_zp)), dp);
  dp.axis = 0;
  auto wd = net.add_dequantize(add_constant(net, w), add_constant(net, w_scale), {}, dp);
  Tensor out = *net.add_unary(*net.add_linear(*xd, *wd, add_constant(net, bias)), UnaryOp::kGelu);
  if (out_q) {
    QuantizeParams qp;
    out = *net.add_quantize(out, scalar(net, DataType::kFloat32, 0.1),
                            scalar(net, DataType::kInt32, 7), qp);
  }
  EXPECT_TRUE(net.mark_output(out, "out").ok());
  return net;
}

Network qconv_chain_net(int64_t n, int64_t c, int64_t hw, int convs) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {n, c, hw, hw});
  QuantizeParams qp;
  DequantizeParams dp;
  auto s0 = scalar(net, DataType::kFloat32, 0.02);
  auto q0 = net.add_quantize(*x, s0, {}, qp);
  Tensor cur = *net.add_dequantize(*q0, s0, {}, dp);
  const Tensor first = cur;
  ConvolutionParams p;
  p.strides = p.dilations = {1, 1};
  p.pads_begin = p.pads_end = {1, 1};
  for (int i = 0; i < convs; ++i) {
    DequantizeParams wp;
    wp.axis = 0;
    auto w = add_constant(net, random_tensor(DataType::kInt8, {c, c, 3, 3}, -127, 128));
    auto ws = add_constant(net, random_tensor(DataType::kFloat32, {c}, 0.002, 0.01));
    auto wd = net.add_dequantize(w, ws, {}, wp);
    Tensor y = *net.add_convolution(cur, *wd,
                                    add_constant(net, random_tensor(DataType::kFloat32, {c})), p);
    if (i + 1 == convs) y = *net.add_elementwise(y, first, BinaryOp::kAdd);
    y = *net.add_unary(y, UnaryOp::kRelu);
    auto s = scalar(net, DataType::kFloat32, 0.03 + 0.01 * i);
    auto q = net.add_quantize(y, s, {}, qp);
    if (i + 1 == convs) {
      EXPECT_TRUE(net.mark_output(*q, "out").ok());
      break;
    }
    cur = *net.add_dequantize(*q, s, {}, dp);
  }
  return net;
}

void expect_int8_close(const HostTensor& got, const HostTensor& want) {
  ASSERT_EQ(got.type, want.type);
  int64_t off = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double d = std::fabs(at(got, i) - at(want, i));
    EXPECT_LE(d, 1.0) << "element " << i << " seed " << rng_seed();
    off += d > 0;
  }
  EXPECT_LE(off * 100, got.numel()) << off << " of " << got.numel() << " elements differ";
}

}  // namespace kiln::testing
