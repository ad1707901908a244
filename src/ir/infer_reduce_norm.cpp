// Inference for reductions, softmax, normalizations, cumsum and top-k.
#include <algorithm>
#include <string>

#include "ir/dim_math.h"
#include "ir/infer_fns.h"

namespace kiln::ir {
namespace {

// Checks that an optional per-channel/per-feature parameter has dims `want` and x's dtype.
Status check_param(std::span<const InferInput> in, size_t i, const TensorType& x, const Dims& want,
                   const char* what) {
  if (in.size() <= i || !in[i].present()) return {};
  const TensorType& t = *in[i].type;
  if (t.dtype != x.dtype) {
    return type_error(std::string(what) + " dtype " + std::string(dtype_name(t.dtype)) +
                      " differs from input dtype " + std::string(dtype_name(x.dtype)));
  }
  bool ok = t.dims.rank() == want.rank();
  for (int d = 0; ok && d < want.rank(); ++d) ok = !known_and_differ(t.dims[d], want[d]);
  if (!ok)
    return shape_error(std::string(what) + " must be " + want.to_string() + ", got " +
                       t.dims.to_string());
  return {};
}

Status need_float(const TensorType& x, const char* op) {
  if (!is_floating(x.dtype))
    return type_error(std::string(op) + " needs a float input, got " +
                      std::string(dtype_name(x.dtype)));
  return {};
}

Dims tail_dims(const Dims& d, int from) {
  return Dims(std::span<const int64_t>(d.begin() + from, static_cast<size_t>(d.rank() - from)));
}

}  // namespace

Status infer_reduce(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<ReduceParams>(layer.params);
  const TensorType& x = *in[0].type;
  int r = x.dims.rank();
  bool arg = p.op == ReduceOp::kArgMax || p.op == ReduceOp::kArgMin;
  bool logical = p.op == ReduceOp::kAny || p.op == ReduceOp::kAll;
  if ((p.op == ReduceOp::kMean || p.op == ReduceOp::kVar || p.op == ReduceOp::kStd))
    KILN_RETURN_IF_ERROR(need_float(x, "mean/var/std"));
  if (x.dtype == DataType::kBool && !logical && !arg && p.op != ReduceOp::kMax &&
      p.op != ReduceOp::kMin)
    return type_error("sum/prod of bool: cast first");
  if (arg && p.axes.size() != 1) return shape_error("argmax/argmin take exactly one axis");
  std::vector<bool> reduced(static_cast<size_t>(r), p.axes.empty());
  for (int64_t a : p.axes) {
    KILN_ASSIGN_OR_RETURN(auto ax, normalize_axis(a, std::max(r, 1), "axis"));
    if (r == 0) continue;
    if (reduced[static_cast<size_t>(ax)] && !p.axes.empty())
      return shape_error("axis " + s(a) + " listed twice");
    reduced[static_cast<size_t>(ax)] = true;
  }
  Dims o;
  for (int i = 0; i < r; ++i) {
    if (!reduced[static_cast<size_t>(i)]) {
      o.push_back(x.dims[i]);
    } else {
      if (x.dims[i] == 0 && (p.op == ReduceOp::kMax || p.op == ReduceOp::kMin || arg))
        return shape_error("max/min/arg reduction over an empty dim " + s(i));
      if (p.keep_dims) o.push_back(1);
    }
  }
  DataType dt = arg ? DataType::kInt64 : logical ? DataType::kBool : x.dtype;
  out.types = {TensorType{dt, o}};
  return {};
}

void value_reduce(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<ReduceParams>(layer.params);
  if (!in[0].value || in[0].type->dims.rank() > 1) return;
  if (p.op != ReduceOp::kSum && p.op != ReduceOp::kProd && p.op != ReduceOp::kMax &&
      p.op != ReduceOp::kMin)
    return;
  const ShapeValue& v = *in[0].value;
  if (std::find(v.begin(), v.end(), kUnknownValue) != v.end()) {
    out.values[0] = ShapeValue{kUnknownValue};
    return;
  }
  int64_t acc = p.op == ReduceOp::kProd ? 1 : 0;
  if (p.op == ReduceOp::kMax) acc = v.empty() ? 0 : *std::max_element(v.begin(), v.end());
  if (p.op == ReduceOp::kMin) acc = v.empty() ? 0 : *std::min_element(v.begin(), v.end());
  if (p.op == ReduceOp::kSum)
    for (int64_t e : v) acc = wrap_add(acc, e);
  if (p.op == ReduceOp::kProd)
    for (int64_t e : v) acc = wrap_mul(acc, e);
  out.values[0] = ShapeValue{acc};
}

Status infer_softmax(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const TensorType& x = *in[0].type;
  KILN_RETURN_IF_ERROR(need_float(x, "softmax"));
  KILN_RETURN_IF_ERROR(
      normalize_axis(std::get<SoftmaxParams>(layer.params).axis, std::max(x.dims.rank(), 1), "axis")
          .status());
  out.types = {x};
  return {};
}

Status infer_layer_norm(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const TensorType& x = *in[0].type;
  KILN_RETURN_IF_ERROR(need_float(x, "layer_norm"));
  KILN_ASSIGN_OR_RETURN(
      auto ax, normalize_axis(std::get<LayerNormParams>(layer.params).axis, x.dims.rank(), "axis"));
  Dims want = tail_dims(x.dims, ax);
  KILN_RETURN_IF_ERROR(check_param(in, 1, x, want, "gamma"));
  KILN_RETURN_IF_ERROR(check_param(in, 2, x, want, "beta"));
  out.types = {x};
  return {};
}

Status infer_group_norm(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<GroupNormParams>(layer.params);
  const TensorType& x = *in[0].type;
  KILN_RETURN_IF_ERROR(need_float(x, "group_norm"));
  if (x.dims.rank() < 2) return shape_error("input must be [N, C, ...]");
  if (p.num_groups < 1) return shape_error("num_groups must be >= 1");
  int64_t c = x.dims[1];
  if (c >= 0 && c % p.num_groups != 0)
    return shape_error("channels " + s(c) + " not divisible by num_groups " + s(p.num_groups));
  KILN_RETURN_IF_ERROR(check_param(in, 1, x, Dims{c}, "gamma"));
  KILN_RETURN_IF_ERROR(check_param(in, 2, x, Dims{c}, "beta"));
  out.types = {x};
  return {};
}

Status infer_batch_norm(const Layer&, std::span<const InferInput> in, InferResult& out) {
  const TensorType& x = *in[0].type;
  KILN_RETURN_IF_ERROR(need_float(x, "batch_norm"));
  if (x.dims.rank() < 2) return shape_error("input must be [N, C, ...]");
  Dims c{x.dims[1]};
  KILN_RETURN_IF_ERROR(check_param(in, 1, x, c, "mean"));
  KILN_RETURN_IF_ERROR(check_param(in, 2, x, c, "var"));
  KILN_RETURN_IF_ERROR(check_param(in, 3, x, c, "gamma"));
  KILN_RETURN_IF_ERROR(check_param(in, 4, x, c, "beta"));
  out.types = {x};
  return {};
}

Status infer_rms_norm(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const TensorType& x = *in[0].type;
  KILN_RETURN_IF_ERROR(need_float(x, "rms_norm"));
  KILN_ASSIGN_OR_RETURN(
      auto ax, normalize_axis(std::get<RmsNormParams>(layer.params).axis, x.dims.rank(), "axis"));
  KILN_RETURN_IF_ERROR(check_param(in, 1, x, tail_dims(x.dims, ax), "gamma"));
  out.types = {x};
  return {};
}

Status infer_cumsum(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const TensorType& x = *in[0].type;
  if (x.dtype == DataType::kBool) return type_error("cumsum of bool: cast first");
  KILN_RETURN_IF_ERROR(
      normalize_axis(std::get<CumSumParams>(layer.params).axis, std::max(x.dims.rank(), 1), "axis")
          .status());
  out.types = {x};
  return {};
}

Status infer_topk(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<TopKParams>(layer.params);
  const TensorType& x = *in[0].type;
  if (x.dtype == DataType::kBool) return type_error("topk of bool");
  if (x.dims.rank() < 1) return shape_error("topk needs rank >= 1");
  KILN_ASSIGN_OR_RETURN(auto ax, normalize_axis(p.axis, x.dims.rank(), "axis"));
  if (p.k < -1) return shape_error("k must be >= 0, or -1 for the whole axis (a sort)");
  int64_t d = x.dims[ax];
  if (d >= 0 && p.k > d) return shape_error("k=" + s(p.k) + " exceeds axis extent " + s(d));
  Dims o = x.dims;
  o[ax] = p.k < 0 ? d : p.k;
  out.types = {TensorType{x.dtype, o}, TensorType{DataType::kInt64, o}};
  return {};
}

}  // namespace kiln::ir
