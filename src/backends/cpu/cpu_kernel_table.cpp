// The one table of CPU kernels: one row per OpKind, in OpKind order (checked at compile time).
#include <array>

#include "backends/cpu/cpu_kernels.h"

namespace kiln::cpu {
namespace {

using ir::OpKind;

struct CpuKernelRow {
  OpKind kind;
  CpuKernelFn run;
};

// clang-format off
constexpr std::array<CpuKernelRow, ir::kNumOps> kCpuKernels = {{
  {OpKind::kConstant,        run_constant},
  {OpKind::kConvolution,     run_convolution},
  {OpKind::kMatMul,          run_matmul},
  {OpKind::kLinear,          run_linear},
  {OpKind::kBinary,          run_binary},
  {OpKind::kUnary,           run_unary},
  {OpKind::kPooling,         run_pooling},
  {OpKind::kAdaptivePooling, run_adaptive_pooling},
  {OpKind::kReduce,          run_reduce},
  {OpKind::kSoftmax,         run_softmax},
  {OpKind::kLayerNorm,       run_layer_norm},
  {OpKind::kGroupNorm,       run_group_norm},
  {OpKind::kBatchNorm,       run_batch_norm},
  {OpKind::kRmsNorm,         run_rms_norm},
  {OpKind::kReshape,         run_copy},
  {OpKind::kTranspose,       run_transpose},
  {OpKind::kConcat,          run_concat},
  {OpKind::kSplit,           run_split},
  {OpKind::kSlice,           run_slice},
  {OpKind::kGather,          run_gather},
  {OpKind::kGatherElements,  run_gather_elements},
  {OpKind::kScatter,         run_scatter},
  {OpKind::kPad,             run_pad},
  {OpKind::kExpand,          run_expand},
  {OpKind::kSqueeze,         run_copy},
  {OpKind::kUnsqueeze,       run_copy},
  {OpKind::kFlatten,         run_copy},
  {OpKind::kWhere,           run_where},
  {OpKind::kCast,            run_cast},
  {OpKind::kFill,            run_fill},
  {OpKind::kArange,          run_arange},
  {OpKind::kCumSum,          run_cumsum},
  {OpKind::kTopK,            run_topk},
  {OpKind::kResize,          run_resize},
  {OpKind::kShape,           run_shape},
  {OpKind::kAttention,       run_attention},
  {OpKind::kIdentity,        run_copy},
  {OpKind::kQuantize,        run_quantize},
  {OpKind::kDequantize,      run_dequantize},
  {OpKind::kGridSample,      run_grid_sample},
  {OpKind::kKvCacheWrite,    run_kv_cache_write},
  {OpKind::kQuantizedConvolution, run_quantized_convolution},
  {OpKind::kQuantizedLinear, run_quantized_linear},
  {OpKind::kNonZero,         run_nonzero},
}};
// clang-format on
static_assert(ir::rows_follow_op_kinds(kCpuKernels),
              "kCpuKernels: one row per OpKind, in OpKind order");
#if !KILN_SANITIZED  // GCC's UBSan makes the null checks non-constant (CMakeLists.txt)
static_assert(ir::all_rows(kCpuKernels, [](const CpuKernelRow& r) { return r.run != nullptr; }),
              "kCpuKernels: every op needs a kernel");
#endif

}  // namespace

CpuKernelFn cpu_kernel(ir::OpKind op) { return kCpuKernels[static_cast<size_t>(op)].run; }

}  // namespace kiln::cpu
