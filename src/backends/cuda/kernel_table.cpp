// The one table of CUDA layer kernels: one row per OpKind, in OpKind order (compile-time checked).
// An op without a CUDA kernel names launch_unsupported in its row; no row is left null.
#include <array>

#include "backends/cuda/cuda_kernels.h"

namespace kiln::cuda {
namespace {

using ir::OpKind;

struct CudaOpRow {
  OpKind kind;
  CudaOpEntry entry;
};

// clang-format off
constexpr std::array<CudaOpRow, ir::kNumOps> kCudaOps = {{
  {OpKind::kConstant,        {launch_unsupported, nullptr, nullptr}},  // bound to its weights
  {OpKind::kConvolution,     {launch_convolution, workspace_convolution, supports_convolution}},
  {OpKind::kMatMul,          {launch_matmul, workspace_gemm, nullptr}},
  {OpKind::kLinear,          {launch_linear, workspace_gemm, nullptr}},
  {OpKind::kBinary,          {launch_binary, nullptr, nullptr}},
  {OpKind::kUnary,           {launch_unary, nullptr, nullptr}},
  {OpKind::kPooling,         {launch_pooling, nullptr, nullptr}},
  {OpKind::kAdaptivePooling, {launch_adaptive_pooling, nullptr, nullptr}},
  {OpKind::kReduce,          {launch_reduce, nullptr, nullptr}},
  {OpKind::kSoftmax,         {launch_softmax, nullptr, nullptr}},
  {OpKind::kLayerNorm,       {launch_layer_norm, nullptr, nullptr}},
  {OpKind::kGroupNorm,       {launch_group_norm, nullptr, nullptr}},
  {OpKind::kBatchNorm,       {launch_batch_norm, nullptr, nullptr}},
  {OpKind::kRmsNorm,         {launch_rms_norm, nullptr, nullptr}},
  {OpKind::kReshape,         {launch_copy, nullptr, nullptr}},
  {OpKind::kTranspose,       {launch_transpose, nullptr, nullptr}},
  {OpKind::kConcat,          {launch_concat, nullptr, nullptr}},
  {OpKind::kSplit,           {launch_split, nullptr, nullptr}},
  {OpKind::kSlice,           {launch_slice, nullptr, nullptr}},
  {OpKind::kGather,          {launch_gather, nullptr, nullptr}},
  {OpKind::kGatherElements,  {launch_gather_elements, nullptr, nullptr}},
  {OpKind::kScatter,         {launch_scatter, nullptr, nullptr}},
  {OpKind::kPad,             {launch_pad, nullptr, nullptr}},
  {OpKind::kExpand,          {launch_expand, nullptr, nullptr}},
  {OpKind::kSqueeze,         {launch_copy, nullptr, nullptr}},
  {OpKind::kUnsqueeze,       {launch_copy, nullptr, nullptr}},
  {OpKind::kFlatten,         {launch_copy, nullptr, nullptr}},
  {OpKind::kWhere,           {launch_where, nullptr, nullptr}},
  {OpKind::kCast,            {launch_cast, nullptr, nullptr}},
  {OpKind::kFill,            {launch_fill, nullptr, nullptr}},
  {OpKind::kArange,          {launch_arange, nullptr, nullptr}},
  {OpKind::kCumSum,          {launch_cumsum, nullptr, nullptr}},
  {OpKind::kTopK,            {launch_topk, workspace_topk, nullptr}},
  {OpKind::kResize,          {launch_resize, nullptr, nullptr}},
  {OpKind::kShape,           {launch_shape, nullptr, nullptr}},
  {OpKind::kAttention,       {launch_attention, workspace_attention, nullptr}},
  {OpKind::kIdentity,        {launch_copy, nullptr, nullptr}},
  {OpKind::kQuantize,        {launch_quantize, nullptr, nullptr}},
  {OpKind::kDequantize,      {launch_dequantize, nullptr, nullptr}},
  {OpKind::kGridSample,      {launch_grid_sample, nullptr, nullptr}},
  {OpKind::kKvCacheWrite,    {launch_kv_cache_write, nullptr, nullptr}},
  {OpKind::kQuantizedConvolution, {launch_quantized_layer, nullptr, supports_quantized_layer}},
  {OpKind::kQuantizedLinear, {launch_quantized_layer, nullptr, supports_quantized_layer}},
  {OpKind::kNonZero,         {launch_nonzero, workspace_nonzero, supports_nonzero}},
}};
// clang-format on
static_assert(ir::rows_follow_op_kinds(kCudaOps), "kCudaOps: one row per OpKind, in OpKind order");
#if !KILN_SANITIZED  // GCC's UBSan makes the null checks non-constant (CMakeLists.txt)
static_assert(ir::all_rows(kCudaOps, [](const CudaOpRow& r) { return r.entry.launch != nullptr; }),
              "kCudaOps: every op needs a launcher (launch_unsupported where there is none)");
#endif

}  // namespace

const CudaOpEntry& cuda_op(ir::OpKind op) { return kCudaOps[static_cast<size_t>(op)].entry; }

Status launch_unsupported(const LaunchArgs& a) {
  return layer_error(a.layer, StatusCode::kUnsupported,
                     "no CUDA implementation of " + std::string(ir::op_name(a.layer.op)));
}

}  // namespace kiln::cuda
