// The CUDA layer kernels: one launcher per op (kernels/<family>.cu), listed in one table
// (kernel_table.cpp). Launchers run on args.stream, never synchronize, never allocate (scratch
// comes from args.workspace, sized by the op's workspace function) so they can be captured in CUDA
// graphs.
#pragma once

#include "backends/cuda/cuda_common.h"
#include "common/quant_channels.h"

namespace kiln::cuda {

using LaunchFn = Status (*)(const LaunchArgs&);
/// Scratch bytes a layer needs for concrete shapes (nullptr in the table: none).
using WorkspaceFn = size_t (*)(const ir::Layer&, std::span<const TensorView> in,
                               std::span<const TensorView> out);
/// Whether the op's CUDA kernel handles this layer (types, ranks); nullptr: always.
using SupportFn = Status (*)(const ir::Graph&, const ir::Layer&);

struct CudaOpEntry {
  LaunchFn launch;
  WorkspaceFn workspace;
  SupportFn supports;
};

const CudaOpEntry& cuda_op(ir::OpKind op);

// ---- launchers by family file
// ----------------------------------------------------------------------- kernels/pointwise.cu
Status launch_binary(const LaunchArgs&);
Status launch_unary(const LaunchArgs&);
Status launch_where(const LaunchArgs&);
Status launch_cast(const LaunchArgs&);
Status launch_copy(const LaunchArgs&);  // identity and view ops when not aliased
Status launch_fill(const LaunchArgs&);
Status launch_random_fill(
    const LaunchArgs&);  // kernels/random_fill.cu (launch_fill's random modes)
Status launch_arange(const LaunchArgs&);
Status launch_shape(const LaunchArgs&);
// kernels/reduce.cu
Status launch_reduce(const LaunchArgs&);
// kernels/scan_topk.cu
Status launch_cumsum(const LaunchArgs&);
Status launch_topk(const LaunchArgs&);
size_t workspace_topk(const ir::Layer&, std::span<const TensorView>, std::span<const TensorView>);
// kernels/softmax_norm.cu
Status launch_softmax(const LaunchArgs&);
Status launch_layer_norm(const LaunchArgs&);
Status launch_group_norm(const LaunchArgs&);
Status launch_batch_norm(const LaunchArgs&);
Status launch_rms_norm(const LaunchArgs&);
// kernels/pooling.cu (channels-last layers go to kernels/pooling_nhwc.cu)
Status launch_pooling(const LaunchArgs&);
Status launch_adaptive_pooling(const LaunchArgs&);
Status launch_pooling_nhwc(const LaunchArgs&);
Status launch_adaptive_pooling_nhwc(const LaunchArgs&);
// kernels/resize_pad.cu
Status launch_resize(const LaunchArgs&);
Status launch_pad(const LaunchArgs&);
// kernels/grid_sample.cu
Status launch_grid_sample(const LaunchArgs&);
// kernels/kv_cache.cu
Status launch_kv_cache_write(const LaunchArgs&);  // in place: out[0] aliases in[0]
// kernels/nonzero.cu
Status launch_nonzero(const LaunchArgs&);
size_t workspace_nonzero(const ir::Layer&, std::span<const TensorView> in,
                         std::span<const TensorView> out);
Status supports_nonzero(const ir::Graph&, const ir::Layer&);
// kernels/data_movement.cu
Status launch_transpose(const LaunchArgs&);
Status launch_concat(const LaunchArgs&);
Status launch_split(const LaunchArgs&);
Status launch_slice(const LaunchArgs&);
Status launch_expand(const LaunchArgs&);
// kernels/indexing.cu
Status launch_gather(const LaunchArgs&);
Status launch_gather_elements(const LaunchArgs&);
Status launch_scatter(const LaunchArgs&);
// kernels/attention.cu (flash path: kernels/attention_flash.cu)
Status launch_attention(const LaunchArgs&);
/// Element strides of q, k, v and the output (index 0..3) when they are strided views of other
/// tensors (attention_views.cpp): per batch dim, and between rows; the last dim is contiguous.
/// in[0..2] / out[0] data point at each view's first element. Flash-path problems only.
struct AttentionStrides {
  int64_t batch[4][kMaxRank] = {};
  int64_t row[4] = {};
};
Status launch_attention_strided(const LaunchArgs&, const AttentionStrides* strides);
size_t workspace_attention(const ir::Layer&, std::span<const TensorView>,
                           std::span<const TensorView>);
// cublaslt/gemm.cpp (untuned path used when no tactic was recorded)
Status launch_matmul(const LaunchArgs&);
Status launch_linear(const LaunchArgs&);
size_t workspace_gemm(const ir::Layer&, std::span<const TensorView>, std::span<const TensorView>);
// cudnn/convolution.cpp (untuned path)
Status launch_convolution(const LaunchArgs&);
size_t workspace_convolution(const ir::Layer&, std::span<const TensorView>,
                             std::span<const TensorView>);
Status supports_convolution(const ir::Graph&, const ir::Layer&);

// kernels/depthwise_conv.cu (a tactic of the convolution kernel, cudnn/convolution.cpp)
struct DepthwiseConvArgs {
  DataType dtype;
  int n, h, w, c, oh, ow, r, s;  ///< input NHWC [n, h, w, c], output [n, oh, ow, c], filter r x s
  int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  const void* x;
  const void* weight_taps;  ///< [r*s][c], from launch_depthwise_weight_taps
  const void* bias;         ///< [c] or nullptr
  const void* residual;     ///< like y, or nullptr
  void* y;
  UnaryOp activation;  ///< applied last (kIdentity: none)
  float alpha, beta;   ///< the activation's parameters
  cudaStream_t stream;
  int tile_w =
      1;  ///< outputs per thread along the width: 1, or 4 / 8 where depthwise_tile_supported
};
Status launch_depthwise_nhwc(const DepthwiseConvArgs& a);
/// Whether the row-tiled kernel takes a (tile_w 4 or 8, filter width 3/5/7, stride 1/2, no width
/// dilation, C a multiple of the 16-byte vector). Where it does not, launch_depthwise_nhwc runs the
/// one-output-per-thread kernel whatever tile_w says.
bool depthwise_tile_supported(const DepthwiseConvArgs& a);
/// Rearranges depthwise weights [c][taps] (NHWC filter [c, r, s, 1]) to [taps][c].
Status launch_depthwise_weight_taps(const void* w, void* taps, DataType dt, int c,
                                    int taps_per_channel, cudaStream_t stream);

/// Launcher of ops without a CUDA kernel (named in their row): "no CUDA implementation of <op>".
Status launch_unsupported(const LaunchArgs&);
// kernels/quantize.cu
Status launch_quantize(const LaunchArgs&);
Status launch_dequantize(const LaunchArgs&);
Status launch_cast_float8(const LaunchArgs&);  // launch_cast hands float8 casts here

// Quantized convolution / linear (cublaslt/quantized_gemm.cpp: layer launcher, tuned kernel;
// kernels/quantized_layers.cu: device kernels).
/// The layer's geometry with spatial dims right-aligned to 3; a linear layer is a 1x1x1
/// "convolution" with batch M, cin K, cout N and a [M, N] output.
struct QuantizedGeometry {
  int64_t batch = 1, cin = 1, cout = 1, groups = 1;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1}, pad[3] = {0, 0, 0}, dil[3] = {1, 1, 1};
  bool linear = false, fp8 = false, x_unsigned = false;
  int64_t x_zero_point = 0;
  KILN_HOST_DEVICE int64_t in_vol() const { return in[0] * in[1] * in[2]; }
  KILN_HOST_DEVICE int64_t out_vol() const { return out[0] * out[1] * out[2]; }
  KILN_HOST_DEVICE int64_t k_vol() const { return k[0] * k[1] * k[2]; }
};
/// The QuantizedEpilogue with device pointers (scales are read on the device).
struct QuantizedEpilogueArgs {
  const float* x_scale = nullptr;  ///< one element
  const float* w_scale = nullptr;  ///< w_scale_count elements
  int64_t w_scale_count = 1;
  const void* bias = nullptr;  ///< [Cout] or nullptr
  DataType bias_dtype = DataType::kFloat32;
  const void* residual = nullptr;  ///< like the output, or nullptr
  DataType residual_dtype = DataType::kFloat32;
  UnaryOp activation = UnaryOp::kIdentity;
  float activation_alpha = 0, activation_beta = 0;
  void* out = nullptr;
  DataType out_dtype = DataType::kFloat32;
  const float* out_scale = nullptr;  ///< one element; quantized outputs only
  float out_zero_point = 0, quant_min = -128, quant_max = 127;
  int64_t x_zero_point = 0;
};
Status launch_quantized_layer(const LaunchArgs&);  // the direct kernel (untuned path)
Status supports_quantized_layer(const ir::Graph&, const ir::Layer&);
/// Geometry and epilogue of a quantized layer for concrete views.
QuantizedGeometry quantized_geometry(const ir::Layer& layer, std::span<const TensorView> in,
                                     const TensorView& out);
QuantizedEpilogueArgs quantized_epilogue(const ir::Layer& layer, std::span<const TensorView> in,
                                         const TensorView& out);
Status launch_quantized_direct_kernel(const QuantizedGeometry& g, const void* x, const void* w,
                                      const QuantizedEpilogueArgs& e, cudaStream_t stream);
/// Columns [batch * out_vol, kp] of x for the implicit-GEMM convolution (groups 1).
Status launch_quantized_im2col(const QuantizedGeometry& g, const void* x, void* cols, int64_t kp,
                               cudaStream_t stream);
/// Epilogue over GEMM accumulators [batch * out_vol, cout]: int32 (with w_sums, sum_k w[c, k],
/// for the zero-point correction) or float32 (float8).
Status launch_quantized_epilogue(const QuantizedGeometry& g, const void* acc, const int32_t* w_sums,
                                 const QuantizedEpilogueArgs& e, cudaStream_t stream);

}  // namespace kiln::cuda
