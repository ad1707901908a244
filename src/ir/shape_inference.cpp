// Dispatch of per-op inference (the one table) and the helpers the family files share.
#include "ir/shape_inference.h"

#include <array>

#include "ir/dim_math.h"
#include "ir/infer_fns.h"

namespace kiln::ir {
namespace {

struct InferEntry {
  InferFn infer;
  ValueFn value;  ///< nullptr: values not tracked through this op
};

// clang-format off
constexpr std::array<InferEntry, kNumOps> kInferTable = {{
  {infer_constant, nullptr},               // kConstant (typed by its weight)
  {infer_convolution, nullptr},
  {infer_matmul, nullptr},
  {infer_linear, nullptr},
  {infer_binary, value_binary},
  {infer_unary, value_unary},
  {infer_pooling, nullptr},
  {infer_adaptive_pooling, nullptr},
  {infer_reduce, value_reduce},
  {infer_softmax, nullptr},
  {infer_layer_norm, nullptr},
  {infer_group_norm, nullptr},
  {infer_batch_norm, nullptr},
  {infer_rms_norm, nullptr},
  {infer_reshape, value_passthrough},
  {infer_transpose, value_passthrough},
  {infer_concat, value_concat},
  {infer_split, value_split},
  {infer_slice, value_slice},
  {infer_gather, value_gather},
  {infer_gather_elements, nullptr},
  {infer_scatter, nullptr},
  {infer_pad, nullptr},
  {infer_expand, value_expand},
  {infer_squeeze, value_passthrough},
  {infer_unsqueeze, value_passthrough},
  {infer_flatten, value_passthrough},
  {infer_where, value_where},
  {infer_cast, value_cast},
  {infer_fill, value_fill},
  {infer_arange, value_arange},
  {infer_cumsum, nullptr},
  {infer_topk, nullptr},
  {infer_resize, nullptr},
  {infer_shape, value_shape},
  {infer_attention, nullptr},
  {infer_identity, value_passthrough},
}};
// clang-format on

}  // namespace

Status shape_error(std::string msg) { return {StatusCode::kShapeError, std::move(msg)}; }
Status type_error(std::string msg) { return {StatusCode::kTypeError, std::move(msg)}; }

std::string dims_str(const Dims& d) { return d.to_string(); }

Expected<int> normalize_axis(int64_t axis, int rank, const char* what) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    return shape_error(std::string(what) + " " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(rank));
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
