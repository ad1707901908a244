// Dispatch of per-op inference (the one table) and the helpers the family files share.
#include "ir/shape_inference.h"

#include <array>

#include "ir/dim_math.h"
#include "ir/infer_fns.h"

namespace kiln::ir {
namespace {

struct InferEntry {
  OpKind kind;
  InferFn infer;
  ValueFn value;  ///< nullptr: values not tracked through this op
};

// clang-format off
constexpr std::array<InferEntry, kNumOps> kInferTable = {{
  {OpKind::kConstant,        infer_constant, nullptr},  // typed by its weight
  {OpKind::kConvolution,     infer_convolution, nullptr},
  {OpKind::kMatMul,          infer_matmul, nullptr},
  {OpKind::kLinear,          infer_linear, nullptr},
  {OpKind::kBinary,          infer_binary, value_binary},
  {OpKind::kUnary,           infer_unary, value_unary},
  {OpKind::kPooling,         infer_pooling, nullptr},
  {OpKind::kAdaptivePooling, infer_adaptive_pooling, nullptr},
  {OpKind::kReduce,          infer_reduce, value_reduce},
  {OpKind::kSoftmax,         infer_softmax, nullptr},
  {OpKind::kLayerNorm,       infer_layer_norm, nullptr},
  {OpKind::kGroupNorm,       infer_group_norm, nullptr},
  {OpKind::kBatchNorm,       infer_batch_norm, nullptr},
  {OpKind::kRmsNorm,         infer_rms_norm, nullptr},
  {OpKind::kReshape,         infer_reshape, value_passthrough},
  {OpKind::kTranspose,       infer_transpose, value_passthrough},
  {OpKind::kConcat,          infer_concat, value_concat},
  {OpKind::kSplit,           infer_split, value_split},
  {OpKind::kSlice,           infer_slice, value_slice},
  {OpKind::kGather,          infer_gather, value_gather},
  {OpKind::kGatherElements,  infer_gather_elements, nullptr},
  {OpKind::kScatter,         infer_scatter, nullptr},
  {OpKind::kPad,             infer_pad, nullptr},
  {OpKind::kExpand,          infer_expand, value_expand},
  {OpKind::kSqueeze,         infer_squeeze, value_passthrough},
  {OpKind::kUnsqueeze,       infer_unsqueeze, value_passthrough},
  {OpKind::kFlatten,         infer_flatten, value_passthrough},
  {OpKind::kWhere,           infer_where, value_where},
  {OpKind::kCast,            infer_cast, value_cast},
  {OpKind::kFill,            infer_fill, value_fill},
  {OpKind::kArange,          infer_arange, value_arange},
  {OpKind::kCumSum,          infer_cumsum, nullptr},
  {OpKind::kTopK,            infer_topk, nullptr},
  {OpKind::kResize,          infer_resize, nullptr},
  {OpKind::kShape,           infer_shape, value_shape},
  {OpKind::kAttention,       infer_attention, nullptr},
  {OpKind::kIdentity,        infer_identity, value_passthrough},
  {OpKind::kQuantize,        infer_quantize, nullptr},
  {OpKind::kDequantize,      infer_dequantize, nullptr},
  {OpKind::kGridSample,      infer_grid_sample, nullptr},
  {OpKind::kKvCacheWrite,    infer_kv_cache_write, nullptr},
  {OpKind::kQuantizedConvolution, infer_quantized_convolution, nullptr},
  {OpKind::kQuantizedLinear, infer_quantized_linear, nullptr},
  {OpKind::kNonZero,         infer_nonzero, nullptr},
}};
// clang-format on
static_assert(rows_follow_op_kinds(kInferTable),
              "kInferTable: one row per OpKind, in OpKind order");
#if !KILN_SANITIZED  // GCC's UBSan makes the null checks non-constant (CMakeLists.txt)
static_assert(all_rows(kInferTable, [](const InferEntry& e) { return e.infer != nullptr; }),
              "kInferTable: every op needs an infer function");
#endif

}  // namespace

Status shape_error(std::string msg) { return {StatusCode::kShapeError, std::move(msg)}; }
Status type_error(std::string msg) { return {StatusCode::kTypeError, std::move(msg)}; }

std::string dims_str(const Dims& d) { return d.to_string(); }
std::string s(int64_t v) { return std::to_string(v); }
bool known_and_differ(int64_t a, int64_t b) { return a >= 0 && b >= 0 && a != b; }

Expected<int> normalize_axis(int64_t axis, int rank, const char* what) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    return shape_error(std::string(what) + " " + std::to_string(axis) +
                       " is out of range for rank " + std::to_string(rank));
  }
  return static_cast<int>(a);
}

Expected<Dims> broadcast_dims(const Dims& a, const Dims& b) {
  int rank = std::max(a.rank(), b.rank());
  Dims out;
  for (int i = 0; i < rank; ++i) {
    int ia = i - (rank - a.rank());
    int ib = i - (rank - b.rank());
    int64_t da = ia >= 0 ? a[ia] : 1;
    int64_t db = ib >= 0 ? b[ib] : 1;
    int64_t d;
    if (da == db) {
      d = da;
    } else if (da == 1) {
      d = db;
    } else if (db == 1) {
      d = da;
    } else if (da == kDynamic) {
      d = db;
    } else if (db == kDynamic) {
      d = da;
    } else {
      return shape_error("shapes " + a.to_string() + " and " + b.to_string() +
                         " do not broadcast (dim " + std::to_string(i) + ": " + std::to_string(da) +
                         " vs " + std::to_string(db) + ")");
    }
    out.push_back(d);
  }
  return out;
}

int64_t dim_product(const Dims& d, int begin, int end) {
  int64_t p = 1;
  for (int i = begin; i < end; ++i) {
    if (d[i] < 0) return kDynamic;
    p = sat_mul(p, d[i]);
  }
  return p;
}

bool is_trackable(const TensorType& t) {
  if (t.dtype != DataType::kInt64 && t.dtype != DataType::kInt32 && t.dtype != DataType::kBool)
    return false;
  if (t.dims.rank() > 1 || !t.dims.is_static()) return false;
  return t.dims.volume() <= kMaxTrackedValues;
}

Expected<InferResult> infer_layer(const Layer& layer, std::span<const InferInput> inputs,
                                  const std::string& label) {
  const OpInfo& info = op_info(layer.op);
  auto fail = [&](const Status& s) {
    return Status(s.code(), "[ir.shape] layer '" + label + "': " + s.message());
  };
  int n = static_cast<int>(inputs.size());
  bool variadic = (info.flags & kFlagVariadic) != 0;
  if (n < info.min_inputs || (!variadic && n > info.max_inputs)) {
    return fail(shape_error("expects " + std::to_string(info.min_inputs) +
                            (variadic ? "+" : ".." + std::to_string(info.max_inputs)) +
                            " inputs, got " + std::to_string(n)));
  }
  for (int i = 0; i < info.min_inputs; ++i) {
    if (!inputs[static_cast<size_t>(i)].present())
      return fail(shape_error("required input " + std::to_string(i) + " is missing"));
  }
  if (params_kind(layer.params) != layer.op)
    return fail(Status(StatusCode::kInternal, "parameters do not match the op kind"));

  InferResult result;
  const InferEntry& entry = kInferTable[static_cast<size_t>(layer.op)];
  Status s = entry.infer(layer, inputs, result);
  if (!s.ok()) return fail(s);
  for (const TensorType& t : result.types) {
    for (int64_t d : t.dims)
      if (d < kDynamic) return fail(shape_error("inferred a negative dim " + t.dims.to_string()));
  }
  result.values.resize(result.types.size());
  if (entry.value != nullptr) {
    bool any_trackable = false;
    for (const TensorType& t : result.types) any_trackable |= is_trackable(t);
    if (any_trackable) entry.value(layer, inputs, result);
    for (size_t i = 0; i < result.types.size(); ++i) {
      auto& v = result.values[i];
      if (v && (!is_trackable(result.types[i]) ||
                static_cast<int64_t>(v->size()) != result.types[i].dims.volume())) {
        v.reset();
      }
    }
  }
  return result;
}

}  // namespace kiln::ir
