// The one op table: every layer kind, its parameter struct and its static properties.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

#include "kiln/layers.h"

namespace kiln::ir {

/// Layer kinds. Values are stored in plans: append only. Order matches LayerParams and kOpTable.
enum class OpKind : uint8_t {
  kConstant,
  kConvolution,
  kMatMul,
  kLinear,
  kBinary,
  kUnary,
  kPooling,
  kAdaptivePooling,
  kReduce,
  kSoftmax,
  kLayerNorm,
  kGroupNorm,
  kBatchNorm,
  kRmsNorm,
  kReshape,
  kTranspose,
  kConcat,
  kSplit,
  kSlice,
  kGather,
  kGatherElements,
  kScatter,
  kPad,
  kExpand,
  kSqueeze,
  kUnsqueeze,
  kFlatten,
  kWhere,
  kCast,
  kFill,
  kArange,
  kCumSum,
  kTopK,
  kResize,
  kShape,
  kAttention,
  kIdentity,
  kQuantize,
  kDequantize,
  kGridSample,
  kKvCacheWrite,
  kQuantizedConvolution,
  kQuantizedLinear,
  kNonZero,
};
inline constexpr int kNumOps = 44;

using LayerParams = std::variant<
    ConstantParams, ConvolutionParams, MatMulParams, LinearParams, BinaryParams, UnaryParams,
    PoolingParams, AdaptivePoolingParams, ReduceParams, SoftmaxParams, LayerNormParams,
    GroupNormParams, BatchNormParams, RmsNormParams, ReshapeParams, TransposeParams, ConcatParams,
    SplitParams, SliceParams, GatherParams, GatherElementsParams, ScatterParams, PadParams,
    ExpandParams, SqueezeParams, UnsqueezeParams, FlattenParams, WhereParams, CastParams,
    FillParams, ArangeParams, CumSumParams, TopKParams, ResizeParams, ShapeParams, AttentionParams,
    IdentityParams, QuantizeParams, DequantizeParams, GridSampleParams, KvCacheWriteParams,
    QuantizedConvolutionParams, QuantizedLinearParams, NonZeroParams>;
static_assert(std::variant_size_v<LayerParams> == kNumOps, "LayerParams must list every OpKind");

enum OpFlag : uint32_t {
  kFlagNone = 0,
  kFlagView = 1u << 0,          ///< output may alias input 0's memory (same bytes, new dims)
  kFlagPointwise = 1u << 1,     ///< elementwise with broadcasting
  kFlagSensitive = 1u << 2,     ///< accumulates: kernels keep float32 accumulation in low precision
  kFlagValueInfer = 1u << 3,    ///< can compute small int outputs at shape-resolution time
  kFlagVariadic = 1u << 4,      ///< any number of inputs >= min_inputs
  kFlagMultiOutput = 1u << 5,   ///< number of outputs comes from the params
  kFlagDataMovement = 1u << 6,  ///< moves, selects or makes data: keeps the float type it gets
  kFlagStridedCopy = 1u << 7,   ///< copies input 0 through a stride pattern (view chains fold it)
  kFlagChannelsLast = 1u << 8,  ///< 2-D spatial op with a channels_last form (the layout pass)
  kFlagGemm = 1u << 9,          ///< matrix product: GEMM epilogues fuse into it
  kFlagQuantization =
      1u << 10,  ///< quantize, dequantize, quantized layers: float sides keep their types
  kFlagInPlace = 1u << 11,  ///< writes into input 0's memory (a network input) and returns it
};

struct OpInfo {
  OpKind kind;
  std::string_view name;  ///< text IR / message name
  int8_t min_inputs;
  int8_t max_inputs;   ///< ignored when kFlagVariadic
  int8_t num_outputs;  ///< ignored when kFlagMultiOutput
  uint32_t flags;
  uint8_t shape_operands;  ///< bitmask of inputs whose *values* define output dims
  uint8_t index_operands;  ///< bitmask of inputs holding indices or a condition, not data
};

// clang-format off
inline constexpr std::array<OpInfo, kNumOps> kOpTable = {{
  {OpKind::kConstant,        "constant",         0, 0, 1,
   kFlagValueInfer | kFlagDataMovement, 0, 0},
  {OpKind::kConvolution,     "convolution",      2, 3, 1, kFlagSensitive | kFlagChannelsLast, 0, 0},
  {OpKind::kMatMul,          "matmul",           2, 2, 1, kFlagSensitive | kFlagGemm, 0, 0},
  {OpKind::kLinear,          "linear",           2, 3, 1, kFlagSensitive | kFlagGemm, 0, 0},
  {OpKind::kBinary,          "binary",           2, 2, 1, kFlagPointwise | kFlagValueInfer, 0, 0},
  {OpKind::kUnary,           "unary",            1, 1, 1, kFlagPointwise | kFlagValueInfer, 0, 0},
  {OpKind::kPooling,         "pooling",          1, 1, 1,
   kFlagSensitive | kFlagChannelsLast | kFlagMultiOutput, 0, 0},  // 2 outputs with return_indices
  {OpKind::kAdaptivePooling, "adaptive_pooling", 1, 1, 1, kFlagSensitive | kFlagChannelsLast, 0, 0},
  {OpKind::kReduce,          "reduce",           1, 1, 1, kFlagSensitive | kFlagValueInfer, 0, 0},
  {OpKind::kSoftmax,         "softmax",          1, 1, 1, kFlagSensitive, 0, 0},
  {OpKind::kLayerNorm,       "layer_norm",       1, 3, 1, kFlagSensitive, 0, 0},
  {OpKind::kGroupNorm,       "group_norm",       1, 3, 1, kFlagSensitive, 0, 0},
  {OpKind::kBatchNorm,       "batch_norm",       3, 5, 1, kFlagSensitive, 0, 0},
  {OpKind::kRmsNorm,         "rms_norm",         1, 2, 1, kFlagSensitive, 0, 0},
  {OpKind::kReshape,         "reshape",          1, 2, 1,
   kFlagView | kFlagValueInfer | kFlagDataMovement, 0b10, 0},
  {OpKind::kTranspose,       "transpose",        1, 1, 1,
   kFlagValueInfer | kFlagDataMovement | kFlagStridedCopy, 0, 0},
  {OpKind::kConcat,          "concat",           1, 1, 1,
   kFlagVariadic | kFlagValueInfer | kFlagDataMovement, 0, 0},
  {OpKind::kSplit,           "split",            1, 1, 1,
   kFlagMultiOutput | kFlagValueInfer | kFlagDataMovement | kFlagStridedCopy, 0, 0},
  {OpKind::kSlice,           "slice",            1, 3, 1,
   kFlagValueInfer | kFlagDataMovement | kFlagStridedCopy, 0b110, 0},
  {OpKind::kGather,          "gather",           2, 2, 1,
   kFlagValueInfer | kFlagDataMovement, 0, 0b10},
  {OpKind::kGatherElements,  "gather_elements",  2, 2, 1, kFlagDataMovement, 0, 0b10},
  {OpKind::kScatter,         "scatter",          3, 3, 1, kFlagDataMovement, 0, 0b10},
  {OpKind::kPad,             "pad",              1, 1, 1, kFlagDataMovement, 0, 0},
  {OpKind::kExpand,          "expand",           1, 2, 1,
   kFlagValueInfer | kFlagDataMovement, 0b10, 0},
  {OpKind::kSqueeze,         "squeeze",          1, 1, 1,
   kFlagView | kFlagValueInfer | kFlagDataMovement, 0, 0},
  {OpKind::kUnsqueeze,       "unsqueeze",        1, 1, 1,
   kFlagView | kFlagValueInfer | kFlagDataMovement, 0, 0},
  {OpKind::kFlatten,         "flatten",          1, 1, 1,
   kFlagView | kFlagValueInfer | kFlagDataMovement, 0, 0},
  {OpKind::kWhere,           "where",            3, 3, 1,
   kFlagPointwise | kFlagValueInfer | kFlagDataMovement, 0, 0b1},
  {OpKind::kCast,            "cast",             1, 1, 1,
   kFlagPointwise | kFlagValueInfer | kFlagDataMovement, 0, 0},
  {OpKind::kFill,            "fill",             0, 1, 1,
   kFlagValueInfer | kFlagDataMovement, 0b1, 0},
  {OpKind::kArange,          "arange",           0, 3, 1,
   kFlagValueInfer | kFlagDataMovement, 0b111, 0},
  {OpKind::kCumSum,          "cumsum",           1, 1, 1, kFlagSensitive, 0, 0},
  {OpKind::kTopK,            "topk",             1, 1, 2, kFlagDataMovement, 0, 0},
  {OpKind::kResize,          "resize",           1, 2, 1, kFlagNone, 0b10, 0},
  {OpKind::kShape,           "shape",            1, 1, 1,
   kFlagValueInfer | kFlagDataMovement, 0, 0},
  {OpKind::kAttention,       "attention",        3, 4, 1, kFlagSensitive, 0, 0},
  {OpKind::kIdentity,        "identity",         1, 1, 1,
   kFlagValueInfer | kFlagDataMovement, 0, 0},
  {OpKind::kQuantize,        "quantize",         2, 3, 1, kFlagQuantization, 0, 0},
  {OpKind::kDequantize,      "dequantize",       2, 3, 1, kFlagQuantization, 0, 0},
  {OpKind::kGridSample,      "grid_sample",      2, 2, 1, kFlagNone, 0, 0},
  {OpKind::kKvCacheWrite,    "kv_cache_write",   3, 3, 1,
   kFlagInPlace | kFlagDataMovement, 0, 0b10},
  {OpKind::kQuantizedConvolution, "quantized_convolution", 4, 7, 1,
   kFlagSensitive | kFlagQuantization, 0, 0},
  {OpKind::kQuantizedLinear, "quantized_linear",  4, 7, 1,
   kFlagSensitive | kFlagQuantization, 0, 0},
  // outputs: indices (data-dependent rows), count; data movement: compares the type it gets
  {OpKind::kNonZero,         "nonzero",          1, 1, 2, kFlagDataMovement, 0, 0},
}};
// clang-format on

/// Per-op tables (this one, shape inference, kernel tables) name each row's OpKind; a table passes
/// when it has one row per kind in OpKind order. A missing row shifts the rest or leaves a zeroed
/// row (kind 0) at the end, so either way the static_assert beside the table fails.
template <class Row, size_t N>
constexpr bool rows_follow_op_kinds(const std::array<Row, N>& rows) {
  if (N != static_cast<size_t>(kNumOps)) return false;
  for (size_t i = 0; i < N; ++i)
    if (static_cast<size_t>(rows[i].kind) != i) return false;
  return true;
}
/// Whether `check` holds for every row (used to refuse null entries).
template <class Row, size_t N, class Check>
constexpr bool all_rows(const std::array<Row, N>& rows, Check check) {
  for (const Row& r : rows)
    if (!check(r)) return false;
  return true;
}
static_assert(rows_follow_op_kinds(kOpTable), "kOpTable: one row per OpKind, in OpKind order");

inline const OpInfo& op_info(OpKind k) { return kOpTable[static_cast<size_t>(k)]; }
inline std::string_view op_name(OpKind k) { return op_info(k).name; }
inline bool has_flag(OpKind k, OpFlag f) { return (op_info(k).flags & f) != 0; }
inline bool is_shape_operand(OpKind k, int input) {
  return input < 8 && ((op_info(k).shape_operands >> input) & 1u) != 0;
}
inline bool is_index_operand(OpKind k, int input) {
  return input < 8 && ((op_info(k).index_operands >> input) & 1u) != 0;
}
std::optional<OpKind> parse_op_name(std::string_view name);

/// The OpKind whose params alternative `params` holds.
inline OpKind params_kind(const LayerParams& params) { return static_cast<OpKind>(params.index()); }

}  // namespace kiln::ir
