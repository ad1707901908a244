// The one table of CPU kernels, indexed by OpKind.
#include <array>

#include "backends/cpu/cpu_kernels.h"

namespace kiln::cpu {
namespace {

// clang-format off
constexpr std::array<CpuKernelFn, ir::kNumOps> kCpuKernels = {{
  run_constant,          // kConstant
  run_convolution,       // kConvolution
  run_matmul,            // kMatMul
  run_linear,            // kLinear
  run_binary,            // kBinary
  run_unary,             // kUnary
  run_pooling,           // kPooling
  run_adaptive_pooling,  // kAdaptivePooling
  run_reduce,            // kReduce
  run_softmax,           // kSoftmax
  run_layer_norm,        // kLayerNorm
  run_group_norm,        // kGroupNorm
  run_batch_norm,        // kBatchNorm
  run_rms_norm,          // kRmsNorm
  run_copy,              // kReshape
  run_transpose,         // kTranspose
  run_concat,            // kConcat
  run_split,             // kSplit
  run_slice,             // kSlice
  run_gather,            // kGather
  run_gather_elements,   // kGatherElements
  run_scatter,           // kScatter
  run_pad,               // kPad
  run_expand,            // kExpand
  run_copy,              // kSqueeze
  run_copy,              // kUnsqueeze
  run_copy,              // kFlatten
  run_where,             // kWhere
  run_cast,              // kCast
  run_fill,              // kFill
  run_arange,            // kArange
  run_cumsum,            // kCumSum
  run_topk,              // kTopK
  run_resize,            // kResize
  run_shape,             // kShape
  run_attention,         // kAttention
  run_copy,              // kIdentity
}};
// clang-format on

}  // namespace

CpuKernelFn cpu_kernel(ir::OpKind op) { return kCpuKernels[static_cast<size_t>(op)]; }

}  // namespace kiln::cpu
