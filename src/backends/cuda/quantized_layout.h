// Channels-last forms of the quantized convolution kernels (kernels/quantized_layers.cu): the
// layout pass gives 2-D quantized convolutions x [N, H, W, C], w [K, R, S, C / groups] and
// y [N, OH, OW, K], so int8 activations stay NHWC from one quantized convolution to the next.
// Kept apart from cuda_kernels.h so the flag reaches only the quantized kernels.
#pragma once

#include "backends/cuda/cuda_kernels.h"

namespace kiln::cuda {

/// Whether x / w / y are channels-first (NCHW, OIHW) or channels-last (NHWC, KRSC).
enum class QuantizedLayout : uint8_t { kChannelsFirst, kChannelsLast };

/// The direct kernel (one thread per output, exact accumulation) in either layout.
Status launch_quantized_direct_kernel(const QuantizedGeometry& g, QuantizedLayout layout,
                                      const void* x, const void* w, const QuantizedEpilogueArgs& e,
                                      cudaStream_t stream);
/// Columns [batch * out_vol, kp] for the implicit-GEMM convolution (groups 1); channels-last
/// columns run k = (kz, ky, kx, ic), the order of a KRSC weight row.
Status launch_quantized_im2col(const QuantizedGeometry& g, QuantizedLayout layout, const void* x,
                               void* cols, int64_t kp, cudaStream_t stream);
/// Epilogue over GEMM accumulators [batch * out_vol, cout] into a y of either layout
/// (channels-last y is the accumulators' own order).
Status launch_quantized_epilogue(const QuantizedGeometry& g, QuantizedLayout layout,
                                 const void* acc, const int32_t* w_sums,
                                 const QuantizedEpilogueArgs& e, cudaStream_t stream);

}  // namespace kiln::cuda
