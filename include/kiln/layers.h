// Layer kinds and their parameters. Every parameter struct lists its fields once, in `visit`, which
// drives serialization, the text IR, hashing and equality generically.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "kiln/types.h"

namespace kiln {

// ---- enums used by layer parameters (stored in plans: append only) ----

enum class BinaryOp : uint8_t {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kMax,
  kMin,
  kFloorDiv,  ///< floor(a / b)           (torch div rounding_mode="floor")
  kTruncDiv,  ///< trunc(a / b)           (torch div rounding_mode="trunc")
  kMod,       ///< a - floor(a / b) * b  (torch remainder: sign of divisor)
  kFmod,      ///< a - trunc(a / b) * b  (C fmod: sign of dividend)
  kEqual,
  kNotEqual,
  kLess,
  kLessEqual,
  kGreater,
  kGreaterEqual,
  kAnd,  ///< logical (any input dtype; bool output), as kOr and kXor
  kOr,
  kXor,
  kBitAnd,  ///< bitwise on integer or bool inputs (output of the input dtype), as kBitOr, kBitXor
  kBitOr,
  kBitXor,
};
inline constexpr int kNumBinaryOps = 23;

enum class UnaryOp : uint8_t {
  kIdentity,
  kAbs,
  kNeg,
  kExp,
  kLog,
  kSqrt,
  kRsqrt,
  kReciprocal,
  kSin,
  kCos,
  kTan,
  kTanh,
  kErf,
  kFloor,
  kCeil,
  kRound,
  kSign,
  kNot,
  kRelu,
  kLeakyRelu,  ///< alpha = negative slope
  kElu,        ///< alpha
  kSelu,
  kGelu,      ///< exact (erf)
  kGeluTanh,  ///< tanh approximation
  kSilu,
  kSigmoid,
  kHardSigmoid,  ///< relu6(x + 3) / 6 (torch)
  kHardSwish,
  kSoftplus,  ///< alpha = beta, beta = threshold (torch softplus)
  kMish,
  kClamp,  ///< alpha = min, beta = max; NaN means unbounded on that side
  kLog1p,
  kExpm1,
  kAtan,
  kAsin,
  kAcos,
  kSinh,
  kCosh,
  kLog2,
  kIsNan,
};
inline constexpr int kNumUnaryOps = 40;

enum class PoolingType : uint8_t { kMax, kAverage };
inline constexpr int kNumPoolingTypes = 2;

enum class ReduceOp : uint8_t {
  kSum,
  kMean,
  kMax,
  kMin,
  kProd,
  kArgMax,
  kArgMin,
  kVar,
  kStd,
  kAny,
  kAll
};
inline constexpr int kNumReduceOps = 11;

enum class PadMode : uint8_t { kConstant, kReflect, kReplicate, kCircular };
inline constexpr int kNumPadModes = 4;

enum class ResizeMode : uint8_t {
  kNearest,       ///< torch "nearest": src = floor(dst * scale)
  kNearestExact,  ///< torch "nearest-exact": src = floor((dst + 0.5) * scale)
  kLinear,        ///< linear / bilinear / trilinear by spatial rank
  kCubic,         ///< bicubic (A = -0.75, as torch)
};
inline constexpr int kNumResizeModes = 4;

enum class ScatterReduce : uint8_t { kNone, kAdd, kMul, kMax, kMin };
inline constexpr int kNumScatterReduces = 5;

/// grid_sample interpolation (torch's GridSamplerInterpolation order).
enum class GridSampleMode : uint8_t { kBilinear, kNearest, kBicubic };
inline constexpr int kNumGridSampleModes = 3;
/// What a grid point outside the input reads (torch's GridSamplerPadding order).
enum class GridSamplePadding : uint8_t { kZeros, kBorder, kReflection };
inline constexpr int kNumGridSamplePaddings = 3;

/// What a fill layer writes: its constant value, or counter-based pseudo-random numbers (seeded:
/// the same seed gives the same numbers on every run and backend, up to float rounding).
enum class FillMode : uint8_t {
  kConstant,
  kUniform,  ///< uniform in [0, 1) (torch.rand)
  kNormal,   ///< standard normal (torch.randn)
  kInteger,  ///< integers uniform in [value, high) (torch.randint)
};
inline constexpr int kNumFillModes = 4;

/// Names for the enums above (used by the text IR and messages).
std::span<const std::string_view> enum_names(BinaryOp);
std::span<const std::string_view> enum_names(UnaryOp);
std::span<const std::string_view> enum_names(PoolingType);
std::span<const std::string_view> enum_names(ReduceOp);
std::span<const std::string_view> enum_names(PadMode);
std::span<const std::string_view> enum_names(ResizeMode);
std::span<const std::string_view> enum_names(ScatterReduce);
std::span<const std::string_view> enum_names(GridSampleMode);
std::span<const std::string_view> enum_names(GridSamplePadding);
std::span<const std::string_view> enum_names(FillMode);
std::span<const std::string_view> enum_names(DataType);

// ---- layer parameters
// ------------------------------------------------------------------------------- Inputs are listed
// per struct; "?" marks an optional input (pass an invalid Tensor to omit it).

/// Inputs: (none). The layer's data lives in the network's weight table.
struct ConstantParams {
  int64_t weight = -1;  ///< index into the weight table
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("weight", s.weight);
  }
};

/// Inputs: x [N, C, spatial...], w, bias?. Weight layout as PyTorch: [Cout, Cin/groups, k...] for
/// convolution, [Cin, Cout/groups, k...] when transposed. 1 to 3 spatial dims.
/// channels_last (not transposed): x [N, spatial..., C], w [Cout, k..., Cin/groups], y [N,
/// spatial..., Cout].
struct ConvolutionParams {
  std::vector<int64_t> strides, pads_begin, pads_end, dilations;
  int64_t groups = 1;
  bool transposed = false;
  std::vector<int64_t> output_padding;  ///< transposed only
  bool channels_last = false;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("strides", s.strides);
    v("pads_begin", s.pads_begin);
    v("pads_end", s.pads_end);
    v("dilations", s.dilations);
    v("groups", s.groups);
    v("transposed", s.transposed);
    v("output_padding", s.output_padding);
    v("channels_last", s.channels_last);
  }
};

/// Inputs: a, b. torch.matmul semantics (1-D promotion, broadcast batch dims), optional transposes
/// of the last two dims of operands of rank >= 2.
struct MatMulParams {
  bool transpose_a = false, transpose_b = false;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("transpose_a", s.transpose_a);
    v("transpose_b", s.transpose_b);
  }
};

/// Inputs: x [..., K], w [N, K], bias? [N]. y = x w^T + bias (fully connected).
struct LinearParams {
  template <class S, class V>
  static void visit(S&, V&&) {}
};

/// Inputs: a, b (numpy broadcasting). Comparisons and logical ops produce bool.
struct BinaryParams {
  BinaryOp op = BinaryOp::kAdd;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("op", s.op);
  }
};

/// Inputs: x.
struct UnaryParams {
  UnaryOp op = UnaryOp::kIdentity;
  double alpha = 0.0, beta = 0.0;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("op", s.op);
    v("alpha", s.alpha);
    v("beta", s.beta);
  }
};

/// Inputs: x [N, C, spatial...]. 1 to 3 spatial dims. Outputs: y, and with return_indices (max
/// only, channels-first only) the int64 index of each maximum within its input plane (the flattened
/// spatial dims), as torch's max_poolNd_with_indices.
struct PoolingParams {
  PoolingType type = PoolingType::kMax;
  std::vector<int64_t> kernel, strides, pads_begin, pads_end, dilations;
  bool ceil_mode = false;
  bool count_include_pad = true;
  int64_t divisor_override = 0;  ///< 0: none
  bool channels_last = false;    ///< x [N, spatial..., C]
  bool return_indices = false;   ///< second output: int64 argmax indices (max pooling only)
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("type", s.type);
    v("kernel", s.kernel);
    v("strides", s.strides);
    v("pads_begin", s.pads_begin);
    v("pads_end", s.pads_end);
    v("dilations", s.dilations);
    v("ceil_mode", s.ceil_mode);
    v("count_include_pad", s.count_include_pad);
    v("divisor_override", s.divisor_override);
    v("channels_last", s.channels_last);
    v("return_indices", s.return_indices);
  }
};

/// Inputs: x [N, C, spatial...]. PyTorch adaptive pooling windows.
struct AdaptivePoolingParams {
  PoolingType type = PoolingType::kAverage;
  std::vector<int64_t> output_size;
  bool channels_last = false;  ///< x [N, spatial..., C]
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("type", s.type);
    v("output_size", s.output_size);
    v("channels_last", s.channels_last);
  }
};

/// Inputs: x. Empty axes reduce over all dims. Arg ops take exactly one axis and produce int64.
struct ReduceParams {
  ReduceOp op = ReduceOp::kSum;
  std::vector<int64_t> axes;
  bool keep_dims = false;
  int64_t correction = 1;  ///< var/std: divisor is N - correction
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("op", s.op);
    v("axes", s.axes);
    v("keep_dims", s.keep_dims);
    v("correction", s.correction);
  }
};

/// Inputs: x.
struct SoftmaxParams {
  int64_t axis = -1;
  bool log = false;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("axis", s.axis);
    v("log", s.log);
  }
};

/// Inputs: x, gamma?, beta?. Normalizes over dims [axis, rank); gamma/beta have those dims' shape.
struct LayerNormParams {
  int64_t axis = -1;
  double epsilon = 1e-5;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("axis", s.axis);
    v("epsilon", s.epsilon);
  }
};

/// Inputs: x [N, C, ...], gamma? [C], beta? [C].
struct GroupNormParams {
  int64_t num_groups = 1;
  double epsilon = 1e-5;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("num_groups", s.num_groups);
    v("epsilon", s.epsilon);
  }
};

/// Inputs: x [N, C, ...], mean [C], var [C], gamma? [C], beta? [C]. Inference mode.
struct BatchNormParams {
  double epsilon = 1e-5;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("epsilon", s.epsilon);
  }
};

/// Inputs: x, gamma?. y = x / sqrt(mean(x^2 over [axis, rank)) + eps) * gamma.
struct RmsNormParams {
  int64_t axis = -1;
  double epsilon = 1e-6;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("axis", s.axis);
    v("epsilon", s.epsilon);
  }
};

/// Inputs: x, shape? (int32/int64 1-D shape tensor; replaces `shape`). One -1 is inferred.
struct ReshapeParams {
  std::vector<int64_t> shape;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("shape", s.shape);
  }
};

/// Inputs: x. Output dim i = input dim perm[i].
struct TransposeParams {
  std::vector<int64_t> perm;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("perm", s.perm);
  }
};

/// Inputs: x0, x1, ... (one or more).
struct ConcatParams {
  int64_t axis = 0;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("axis", s.axis);
  }
};

/// Inputs: x. One output per size; one size may be -1 (the rest of the axis).
struct SplitParams {
  int64_t axis = 0;
  std::vector<int64_t> sizes;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("axis", s.axis);
    v("sizes", s.sizes);
  }
};

/// Inputs: x, starts?, ends? (int64 1-D, one entry per axis; replace the params when given).
/// Python slicing: negative indices count from the end, out-of-range bounds clamp, steps may be
/// negative (then start defaults to the end of the axis).
struct SliceParams {
  std::vector<int64_t> axes, starts, ends, steps;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("axes", s.axes);
    v("starts", s.starts);
    v("ends", s.ends);
    v("steps", s.steps);
  }
};

/// Inputs: data, indices (int32/int64; negative wraps). Output = data.shape[:axis] + indices.shape
/// + data.shape[axis+1:] (index_select, embedding, take along one axis).
struct GatherParams {
  int64_t axis = 0;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("axis", s.axis);
  }
};

/// Inputs: data, indices (same rank). torch.gather.
struct GatherElementsParams {
  int64_t axis = 0;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("axis", s.axis);
  }
};

/// Inputs: data, indices, updates. torch.scatter / scatter_reduce along `axis`.
struct ScatterParams {
  int64_t axis = 0;
  ScatterReduce reduce = ScatterReduce::kNone;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("axis", s.axis);
    v("reduce", s.reduce);
  }
};

/// Inputs: x. Per-dim amounts (negative crops, constant mode only).
struct PadParams {
  std::vector<int64_t> pads_begin, pads_end;
  PadMode mode = PadMode::kConstant;
  double value = 0.0;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("pads_begin", s.pads_begin);
    v("pads_end", s.pads_end);
    v("mode", s.mode);
    v("value", s.value);
  }
};

/// Inputs: x, shape? (int64 1-D). Broadcasts x to `shape` (-1 keeps the input's extent).
struct ExpandParams {
  std::vector<int64_t> shape;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("shape", s.shape);
  }
};

/// Inputs: x. Removes the listed size-1 axes.
struct SqueezeParams {
  std::vector<int64_t> axes;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("axes", s.axes);
  }
};

/// Inputs: x. Inserts size-1 axes at the listed output positions.
struct UnsqueezeParams {
  std::vector<int64_t> axes;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("axes", s.axes);
  }
};

/// Inputs: x. Merges dims [start_axis, end_axis].
struct FlattenParams {
  int64_t start_axis = 0, end_axis = -1;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("start_axis", s.start_axis);
    v("end_axis", s.end_axis);
  }
};

/// Inputs: condition (bool), a, b. Broadcasting.
struct WhereParams {
  template <class S, class V>
  static void visit(S&, V&&) {}
};

/// Inputs: x.
struct CastParams {
  DataType to = DataType::kFloat32;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("to", s.to);
  }
};

/// Inputs: shape? (int64 1-D; replaces `shape`). kUniform / kNormal need a float dtype, kInteger
/// a float or integer one.
struct FillParams {
  std::vector<int64_t> shape;
  double value = 0.0;  ///< kConstant: the value; kInteger: the lowest integer drawn
  DataType dtype = DataType::kFloat32;
  FillMode mode = FillMode::kConstant;
  int64_t seed = 0;   ///< random modes: element i is a function of (seed, i) only
  double high = 0.0;  ///< kInteger: one past the highest integer drawn
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("shape", s.shape);
    v("value", s.value);
    v("dtype", s.dtype);
    v("mode", s.mode);
    v("seed", s.seed);
    v("high", s.high);
  }
};

/// Inputs: start?, end?, step? (rank-0 or 1-element tensors; each replaces its param).
/// Output: 1-D, ceil((end - start) / step) elements.
struct ArangeParams {
  double start = 0.0, end = 0.0, step = 1.0;
  DataType dtype = DataType::kInt64;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("start", s.start);
    v("end", s.end);
    v("step", s.step);
    v("dtype", s.dtype);
  }
};

/// Inputs: x.
struct CumSumParams {
  int64_t axis = 0;
  bool exclusive = false, reverse = false;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("axis", s.axis);
    v("exclusive", s.exclusive);
    v("reverse", s.reverse);
  }
};

/// Inputs: x. Outputs: values, indices (int64). k = -1 takes the whole axis (a sort; works on a
/// dynamic axis).
struct TopKParams {
  int64_t k = 1, axis = -1;
  bool largest = true, sorted = true;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("k", s.k);
    v("axis", s.axis);
    v("largest", s.largest);
    v("sorted", s.sorted);
  }
};

/// Inputs: x [N, C, spatial...], sizes? (int64 1-D spatial output sizes; replaces `sizes`).
/// Either `sizes` or `scales` (per spatial dim) gives the output; when scales are given they also
/// map coordinates (as torch with scale_factor).
struct ResizeParams {
  ResizeMode mode = ResizeMode::kNearest;
  bool align_corners = false;
  std::vector<int64_t> sizes;
  std::vector<double> scales;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("mode", s.mode);
    v("align_corners", s.align_corners);
    v("sizes", s.sizes);
    v("scales", s.scales);
  }
};

/// Inputs: x [N, C, H, W] (float), grid [N, Ho, Wo, 2] (x's dtype; (x, y) in [-1, 1] spans the
/// input). Output [N, C, Ho, Wo]: x sampled at each grid point as torch's grid_sampler_2d does
/// (coordinates unnormalized with or without align_corners, then padded; bicubic pads each tap).
struct GridSampleParams {
  GridSampleMode mode = GridSampleMode::kBilinear;
  GridSamplePadding padding = GridSamplePadding::kZeros;
  bool align_corners = false;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("mode", s.mode);
    v("padding", s.padding);
    v("align_corners", s.align_corners);
  }
};

/// Inputs: x. Output: int64 [rank(x)] holding x's dims.
struct ShapeParams {
  template <class S, class V>
  static void visit(S&, V&&) {}
};

/// Inputs: q [..., Lq, E], k [..., Lk, E], v [..., Lk, Ev], mask? (bool: true = attend; or float:
/// added to the scores; broadcastable to [..., Lq, Lk]). Output [..., Lq, Ev]. A row whose every
/// score is masked out gives NaN (torch's math reference), or zeros with zero_masked_rows (what HF
/// models write as where(mask.any(-1), attention, 0)).
struct AttentionParams {
  bool causal = false;
  double scale = 0.0;  ///< 0: 1/sqrt(E)
  bool zero_masked_rows = false;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("causal", s.causal);
    v("scale", s.scale);
    v("zero_masked_rows", s.zero_masked_rows);
  }
};

/// Inputs: cache (a network input, e.g. [B, H_kv, max_seq, D]), positions (int32/int64 1-D, one
/// entry per slice of `update` along `axis`), update (cache's dims except `axis`). Writes
/// cache[..., positions[s], ...] = update[..., s, ...] IN PLACE into the cache input's memory (no
/// copy of the cache) and returns the cache itself (same bytes). The engine state of language-model
/// decoding (docs/llm.md): the cache input must be read by no other layer, so every reader sees the
/// written cache through this layer's output. A position outside [0, cache.dims[axis]) is an error
/// on the CPU backend; the CUDA kernel skips it.
struct KvCacheWriteParams {
  int64_t axis = 2;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("axis", s.axis);
  }
};

/// Inputs: x. A copy (used to materialize a view or give a tensor a second name).
struct IdentityParams {
  template <class S, class V>
  static void visit(S&, V&&) {}
};

/// Inputs: x (float), scale (f32: one element, or 1-D with x.dims[axis] elements for per-channel),
/// zero_point? (integer, as many elements as scale; absent = 0). Output `to` (int8, uint8, int32 or
/// float8 e4m3) with x's dims, computed in float32 with inv = 1 / scale:
///   integer: q = clamp(round_half_even(x * inv) + zero_point, quant_min, quant_max)
///   float8:  q = fp8(clamp(x * inv, quant_min, quant_max))       (quant range -448..448)
/// As PyTorch's quantize_per_tensor / quantize_per_channel and the quantize half of
/// fake_quantize_per_{tensor,channel}_affine. `axis` is used only by a per-channel scale.
struct QuantizeParams {
  DataType to = DataType::kInt8;
  int64_t axis = 0;
  int64_t quant_min = -128, quant_max = 127;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("to", s.to);
    v("axis", s.axis);
    v("quant_min", s.quant_min);
    v("quant_max", s.quant_max);
  }
};

/// Inputs: q (int8, uint8, int32 or float8 e4m3), scale, zero_point? as for QuantizeParams.
/// Output `to` (a float type): (float(q) - zero_point) * scale, in float32.
struct DequantizeParams {
  DataType to = DataType::kFloat32;
  int64_t axis = 0;
  template <class S, class V>
  static void visit(S& s, V&& v) {
    v("to", s.to);
    v("axis", s.axis);
  }
};

/// The requantizing epilogue shared by the quantized convolution and linear layers, which the Q/DQ
/// fusion pass (src/passes/fuse_quantized_layers.cpp) makes of DQ -> conv/linear -> (bias,
/// residual, activation) -> Q. With integer x and w the product accumulates exactly in int32,
/// with float8 in float32; per output channel c:
///   acc = sum((x - x_zero_point) * w)           (w's zero point is 0)
///   y   = f32(acc) * f32(x_scale * w_scale[c])  (float32 from here on)
///   y   = activation(y + bias[c] + residual)
/// and the output, with inv = 1 / out_scale:
///   a float `to`:  y rounded to `to`
///   int8 / uint8:  clamp(round_half_even(y * inv) + out_zero_point, quant_min, quant_max)
///   float8:        fp8(clamp(y * inv, quant_min, quant_max))
/// which is what quantize(activation(conv(dequantize(x), dequantize(w)) + bias + residual))
/// computes, up to the float32 summation order of the unfused convolution.
struct QuantizedEpilogue {
  int64_t x_zero_point = 0;
  UnaryOp activation = UnaryOp::kIdentity;               ///< kIdentity: none
  double activation_alpha = 0.0, activation_beta = 0.0;  ///< as UnaryParams
  DataType to = DataType::kFloat32;  ///< int8, uint8, float8 e4m3 (with out_scale) or a float type
  int64_t out_zero_point = 0;
  int64_t quant_min = -128, quant_max = 127;
  template <class S, class V>
  static void visit_epilogue(S& s, V&& v) {
    v("x_zero_point", s.x_zero_point);
    v("activation", s.activation);
    v("activation_alpha", s.activation_alpha);
    v("activation_beta", s.activation_beta);
    v("to", s.to);
    v("out_zero_point", s.out_zero_point);
    v("quant_min", s.quant_min);
    v("quant_max", s.quant_max);
  }
};

/// Inputs: x (int8, uint8 or float8 e4m3) [N, Cin, spatial...], w (int8 or float8 e4m3, constant)
/// [Cout, Cin / groups, kernel...], x_scale (f32, one element), w_scale (f32, one element or
/// Cout), bias? [Cout] (float), residual? (float, the output's dims), out_scale? (f32, one element;
/// present exactly when `to` is quantized). A convolution (the ConvolutionParams geometry; not
/// transposed, not channels-last) with the QuantizedEpilogue.
struct QuantizedConvolutionParams : ConvolutionParams, QuantizedEpilogue {
  template <class S, class V>
  static void visit(S& s, V&& v) {
    ConvolutionParams::visit(s, v);
    visit_epilogue(s, v);
  }
};

/// Inputs as QuantizedConvolutionParams with x [..., K] and w [N, K]: a linear layer (y = x w^T)
/// with the QuantizedEpilogue.
struct QuantizedLinearParams : QuantizedEpilogue {
  template <class S, class V>
  static void visit(S& s, V&& v) {
    visit_epilogue(s, v);
  }
};

/// Inputs: x (any dtype but float8). Outputs: indices int64 [volume(x), rank(x)] whose first
/// `count` rows are the coordinates of x's non-zero elements in row-major order (the other rows
/// are unspecified), and count (int64 rank-0). As torch.nonzero, whose row count is known only
/// once the layer has run: indices may only be a network output, which the engine reports as
/// data-dependent (IOTensorInfo::data_dependent; ExecutionContext::output_shape gives its rows
/// after the run).
struct NonZeroParams {
  template <class S, class V>
  static void visit(S&, V&&) {}
};

}  // namespace kiln
