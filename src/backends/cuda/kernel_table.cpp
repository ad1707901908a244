// The one table of CUDA layer kernels, indexed by OpKind.
#include <array>

#include "backends/cuda/cuda_kernels.h"

namespace kiln::cuda {
namespace {

// clang-format off
constexpr std::array<CudaOpEntry, ir::kNumOps> kCudaOps = {{
  {launch_unsupported, nullptr, nullptr},                  // kConstant (bound to weights)
  {launch_convolution, workspace_convolution, supports_convolution},  // kConvolution
  {launch_matmul, workspace_gemm, nullptr},                // kMatMul
  {launch_linear, workspace_gemm, nullptr},                // kLinear
  {launch_binary, nullptr, nullptr},                       // kBinary
  {launch_unary, nullptr, nullptr},                        // kUnary
  {launch_pooling, nullptr, nullptr},                      // kPooling
  {launch_adaptive_pooling, nullptr, nullptr},             // kAdaptivePooling
  {launch_reduce, nullptr, nullptr},                       // kReduce
  {launch_softmax, nullptr, nullptr},                      // kSoftmax
  {launch_layer_norm, nullptr, nullptr},                   // kLayerNorm
  {launch_group_norm, nullptr, nullptr},                   // kGroupNorm
  {launch_batch_norm, nullptr, nullptr},                   // kBatchNorm
  {launch_rms_norm, nullptr, nullptr},                     // kRmsNorm
  {launch_copy, nullptr, nullptr},                         // kReshape
  {launch_transpose, nullptr, nullptr},                    // kTranspose
  {launch_concat, nullptr, nullptr},                       // kConcat
  {launch_split, nullptr, nullptr},                        // kSplit
  {launch_slice, nullptr, nullptr},                        // kSlice
  {launch_gather, nullptr, nullptr},                       // kGather
  {launch_gather_elements, nullptr, nullptr},              // kGatherElements
  {launch_scatter, nullptr, nullptr},                      // kScatter
  {launch_pad, nullptr, nullptr},                          // kPad
  {launch_expand, nullptr, nullptr},                       // kExpand
  {launch_copy, nullptr, nullptr},                         // kSqueeze
  {launch_copy, nullptr, nullptr},                         // kUnsqueeze
  {launch_copy, nullptr, nullptr},                         // kFlatten
  {launch_where, nullptr, nullptr},                        // kWhere
  {launch_cast, nullptr, nullptr},                         // kCast
  {launch_fill, nullptr, nullptr},                         // kFill
  {launch_arange, nullptr, nullptr},                       // kArange
  {launch_cumsum, nullptr, nullptr},                       // kCumSum
  {launch_topk, workspace_topk, nullptr},                  // kTopK
  {launch_resize, nullptr, nullptr},                       // kResize
  {launch_shape, nullptr, nullptr},                        // kShape
  {launch_attention, workspace_attention, nullptr},        // kAttention
  {launch_copy, nullptr, nullptr},                         // kIdentity
}};
// clang-format on

}  // namespace

const CudaOpEntry& cuda_op(ir::OpKind op) { return kCudaOps[static_cast<size_t>(op)]; }

Status launch_unsupported(const LaunchArgs& a) {
  return layer_error(a.layer, StatusCode::kUnsupported, "no CUDA kernel for this layer");
}

}  // namespace kiln::cuda
