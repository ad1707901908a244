// Networks with explicit quantize/dequantize around convolutions and linears, shared by the Q/DQ
// fusion pass tests (CPU) and the quantized-kernel GPU tests: the unfused DQ -> op -> Q layers are
// what the fused layer must reproduce.
#pragma once

#include "test_util.h"

namespace kiln::testing {

/// enabled precisions f32 + int8 (or f32 + fp8).
BuilderConfig int8_config(bool fp8 = false);
/// int8_config with fuse_quantized_layers disabled: the reference (Q/DQ run as their own layers).
BuilderConfig unfused_config(bool fp8 = false);

struct QConvCase {
  int64_t batch = 2, cin = 4, cout = 6, groups = 1, h = 7, w = 6, kernel = 3;
  int64_t stride_h = 1, stride_w = 2, pad = 1;
  double x_scale = 0.04, out_scale = 0.05;  ///< a small out_scale saturates
  int64_t x_zp = -5, out_zp = -3;
  DataType x_dtype = DataType::kInt8;  ///< kInt8 or kUInt8 (zero point then in 0..255)
  bool residual = true, relu = true, out_q = true, second_reader = false;
  bool batch_norm = false;  ///< an inference batch norm (random statistics) right after the conv
  Dims out_dims() const;
};

/// x (int8 input) -> DQ; DQ(w int8 per channel) -> conv + bias [-> batch norm] [+ residual input
/// "r"] [-> relu]
/// [-> Q int8], output "out" (and "y2" = |conv| when second_reader).
Network qconv_net(const QConvCase& c, const HostTensor& w, const HostTensor& w_scale,
                  const HostTensor& bias);

/// x float [n, 4, 6, 6] -> Q -> DQ -> max pool 2x2 -> Q -> DQ -> reshape [n, 36*4/4]... ->
/// linear(DQ(w per channel or per tensor)) + bias; int8 or float8 storage. w is [5, 36].
Network qpool_linear_net(int64_t n, const HostTensor& w, const HostTensor& w_scale,
                         const HostTensor& bias, DataType storage);

/// x int8 [m, k] (zero point x_zp) -> DQ -> linear(DQ(w int8 [n, k] per channel)) + bias -> gelu
/// -> Q (out_q) or a float output.
Network qlinear_net(int64_t m, int64_t k, int64_t n, int64_t x_zp, bool out_q, const HostTensor& w,
                    const HostTensor& w_scale, const HostTensor& bias);

/// A chain of `convs` quantized 3x3 convolutions as a calibrated CNN has them: x float
/// [n, c, hw, hw] -> Q -> DQ -> {conv (DQ(w int8 per channel)) + bias -> relu -> Q -> DQ} ...;
/// the last convolution adds DQ of the first quantized tensor (a residual) before its relu and
/// ends in Q (int8 output "out"). Random weights, scales and biases.
Network qconv_chain_net(int64_t n, int64_t c, int64_t hw, int convs);

/// got within one quantization step of want everywhere, equal in >= 99% of the elements.
void expect_int8_close(const HostTensor& got, const HostTensor& want);

}  // namespace kiln::testing
